//! The job commands' way to a running node: its address and token from its home (or
//! `--rpc URL`), JSON-RPC calls over HTTP, subscriptions over WebSocket, uploads and
//! file downloads on the same port.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _, Result};
use bytes::Bytes;
use clap::Args;
use http_body_util::{combinators::BoxBody, BodyExt as _, Full, StreamBody};
use hyper::{body::Frame, header, Method, Request, StatusCode};
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};
use pictor_node::{http::auth::TOKEN_FILE, Home};
use serde_json::{json, Value};

/// Prints a line to stdout; a reader that went away (`pictor job watch | head`) ends the
/// command quietly, as it does for other Unix tools.
macro_rules! emit {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if writeln!(out, $($arg)*).and_then(|()| out.flush()).is_err() {
            std::process::exit(0);
        }
    }};
}
pub(crate) use emit;

/// Exit codes scripts can rely on.
pub(crate) mod exit {
    /// The node could not be reached (not running, wrong address).
    pub(crate) const UNREACHABLE: u8 = 3;
    /// The node answered with an error (bad params, unknown job, no token).
    pub(crate) const REFUSED: u8 = 4;
    /// The job failed or was cancelled.
    pub(crate) const JOB_FAILED: u8 = 5;
}

/// An error that ends the command with a given exit code.
#[derive(Debug)]
pub(crate) struct Exit {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

pub(crate) fn exit_with(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit {
        code,
        message: message.into(),
    })
}

/// How to find the node: flags shared by every command that talks to one.
#[derive(Debug, Args, Clone)]
pub(crate) struct Connect {
    /// The node's home (its address and token are read from it; default: $PICTOR_HOME,
    /// else ~/.pictor).
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) home: Option<PathBuf>,
    /// The node's HTTP address instead (`http://127.0.0.1:7401`); the token then comes
    /// from --token-file, $PICTOR_RPC_TOKEN or the home.
    #[arg(long, value_name = "URL", global = true)]
    pub(crate) rpc: Option<String>,
    /// A file holding the RPC token.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) token_file: Option<PathBuf>,
    /// Print JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// A subscription, with the WebSocket client that carries it.
pub(crate) struct Watch {
    _client: jsonrpsee_ws_client::WsClient,
    pub(crate) events: jsonrpsee_core::client::Subscription<Value>,
}

/// A node to talk to.
pub(crate) struct Node {
    /// `http://host:port`, no trailing slash.
    pub(crate) url: String,
    token: Option<String>,
    http: HttpClient<
        hyper_util::client::legacy::connect::HttpConnector,
        BoxBody<Bytes, std::io::Error>,
    >,
}

impl Connect {
    /// Finds the node.
    pub(crate) fn node(&self) -> Result<Node> {
        let home_dir = match &self.home {
            Some(dir) => Some(dir.clone()),
            None => Home::default_dir().ok(),
        };
        let read_token = |path: &std::path::Path| -> Result<String> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the RPC token {}", path.display()))?;
            Ok(text.trim().to_owned())
        };
        let home_for_token = home_dir.clone();
        let token_from_home = || {
            home_for_token
                .as_ref()
                .map(|d| d.join(TOKEN_FILE))
                .filter(|p| p.exists())
                .map(|p| read_token(&p))
                .transpose()
        };
        let (url, token) = match &self.rpc {
            Some(url) => {
                let token = match (&self.token_file, std::env::var("PICTOR_RPC_TOKEN")) {
                    (Some(file), _) => Some(read_token(file)?),
                    (None, Ok(t)) if !t.trim().is_empty() => Some(t.trim().to_owned()),
                    _ if self.home.is_some() => token_from_home()?,
                    _ => None,
                };
                (url.trim_end_matches('/').to_owned(), token)
            }
            None => {
                let dir = home_dir.ok_or_else(|| {
                    exit_with(
                        exit::UNREACHABLE,
                        "no node given: pass --home DIR or --rpc URL",
                    )
                })?;
                let home = Home::new(dir.clone());
                let runtime = home.runtime().ok_or_else(|| {
                    exit_with(
                        exit::UNREACHABLE,
                        format!(
                            "no node is running on {} (start one with `pictor node --home {}`), or pass --rpc URL",
                            dir.display(),
                            dir.display()
                        ),
                    )
                })?;
                let http = runtime.http.ok_or_else(|| {
                    exit_with(
                        exit::UNREACHABLE,
                        format!(
                            "the node on {} has its HTTP port off (config.toml `http`)",
                            dir.display()
                        ),
                    )
                })?;
                let token = match &self.token_file {
                    Some(file) => Some(read_token(file)?),
                    None => token_from_home()?,
                };
                (format!("http://{http}"), token)
            }
        };
        if !url.starts_with("http://") {
            bail!("--rpc {url:?}: give an http:// URL (the node's HTTP port)");
        }
        let http = HttpClient::builder(TokioExecutor::new()).build_http();
        Ok(Node { url, token, http })
    }
}

fn full(bytes: Bytes) -> BoxBody<Bytes, std::io::Error> {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

impl Node {
    fn request(&self, method: Method, path: &str) -> hyper::http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        if let Some(token) = &self.token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder
    }

    async fn send(
        &self,
        request: Request<BoxBody<Bytes, std::io::Error>>,
    ) -> Result<(StatusCode, Bytes)> {
        let response = self.http.request(request).await.map_err(|e| {
            exit_with(
                exit::UNREACHABLE,
                format!("cannot reach the node at {}: {e}", self.url),
            )
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| {
                exit_with(
                    exit::UNREACHABLE,
                    format!("the node's answer broke off: {e}"),
                )
            })?
            .to_bytes();
        Ok((status, body))
    }

    /// Calls a method; a JSON-RPC error ends the command (exit 4) with its message.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let request = self
            .request(Method::POST, "/")
            .header(header::CONTENT_TYPE, "application/json")
            .body(full(Bytes::from(body.to_string())))?;
        let (status, bytes) = self.send(request).await?;
        let answer: Value = serde_json::from_slice(&bytes).map_err(|_| {
            exit_with(
                exit::UNREACHABLE,
                format!(
                    "{} did not answer JSON-RPC (HTTP {status}): is it a Pictor node's HTTP port?",
                    self.url
                ),
            )
        })?;
        if let Some(error) = answer.get("error") {
            let message = error["message"].as_str().unwrap_or("error");
            let code = error["code"].as_i64().unwrap_or(0);
            return Err(exit_with(
                exit::REFUSED,
                format!("{method}: {message} (code {code})"),
            ));
        }
        Ok(answer.get("result").cloned().unwrap_or(Value::Null))
    }

    /// Uploads a file in 1 MiB chunks; answers its CID.
    pub(crate) async fn upload(&self, bytes: Vec<u8>) -> Result<String> {
        let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = Bytes::from(bytes)
            .chunks(1 << 20)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        let body = StreamBody::new(futures::stream::iter(chunks)).boxed();
        let request = self.request(Method::POST, "/upload").body(body)?;
        let (status, bytes) = self.send(request).await?;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = answer["error"]["message"]
                .as_str()
                .unwrap_or("upload refused");
            return Err(exit_with(
                exit::REFUSED,
                format!("upload: {message} (HTTP {status})"),
            ));
        }
        answer["cid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the upload's answer names no CID"))
    }

    /// Downloads a whole UnixFS file by CID.
    pub(crate) async fn file(&self, cid: &str) -> Result<Bytes> {
        let request = self
            .request(Method::GET, &format!("/file/{cid}"))
            .body(full(Bytes::new()))?;
        let (status, bytes) = self.send(request).await?;
        if !status.is_success() {
            return Err(exit_with(
                exit::REFUSED,
                format!("file {cid}: {}", String::from_utf8_lossy(&bytes).trim()),
            ));
        }
        Ok(bytes)
    }

    /// Subscribes over WebSocket; answers the subscription.
    pub(crate) async fn subscribe(
        &self,
        method: &str,
        params: Value,
        unsubscribe: &str,
    ) -> Result<Watch> {
        use jsonrpsee_core::client::SubscriptionClientT as _;
        let ws = format!("ws://{}/", self.url.trim_start_matches("http://"));
        let mut headers = hyper::HeaderMap::new();
        if let Some(token) = &self.token {
            headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse()?);
        }
        let client = jsonrpsee_ws_client::WsClientBuilder::default()
            .set_headers(headers)
            .max_buffer_capacity_per_subscription(1 << 16)
            .build(&ws)
            .await
            .map_err(|e| {
                exit_with(
                    exit::UNREACHABLE,
                    format!("cannot open a WebSocket to {ws}: {e}"),
                )
            })?;
        let mut object = jsonrpsee_core::params::ObjectParams::new();
        if let Value::Object(map) = params {
            for (k, v) in map {
                object.insert(&k, v)?;
            }
        }
        let sub = client
            .subscribe(method, object, unsubscribe)
            .await
            .map_err(|e| exit_with(exit::REFUSED, format!("{method}: {e}")))?;
        Ok(Watch {
            _client: client,
            events: sub,
        })
    }
}
