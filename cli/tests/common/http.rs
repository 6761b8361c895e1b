//! Plain HTTP/1.1 over a real socket, and a devnet of processes for the RPC tests.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::{json, Value};

use super::pictor;

/// An HTTP answer: status, headers (lower-case names), body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`).
pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let stream = TcpStream::connect(addr).expect("connect to the node's HTTP port");
    send(stream, addr, method, path, headers, body)
}

/// A connection to `addr` from the local address `from`: any address of 127.0.0.0/8
/// reaches a port on loopback, and each is another client to the node.
pub(crate) fn connect_from(from: [u8; 4], addr: &str) -> TcpStream {
    let addr: std::net::SocketAddr = addr.parse().expect("an IP:PORT address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind((from, 0).into())?;
            let stream = socket.connect(addr).await?.into_std()?;
            stream.set_nonblocking(false)?;
            Ok::<_, std::io::Error>(stream)
        })
        .unwrap_or_else(|e| panic!("connect to {addr} from {from:?}: {e}"))
}

/// One request on a fresh connection from the local address `from` (see
/// [`connect_from`]).
pub(crate) fn request_from(
    from: [u8; 4],
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    send(connect_from(from, addr), addr, method, path, headers, body)
}

/// One request on `stream`, then its answer (`Connection: close`).
fn send(
    mut stream: TcpStream,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    // The server may answer (413, 401) before reading all of a large body.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse(&raw)
}

/// Parses a whole answer (head and body) as read from a connection.
pub(crate) fn parse(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// A JSON-RPC call over HTTP; `token` goes in `Authorization`.
pub(crate) fn call(addr: &str, token: Option<&str>, method: &str, params: Value) -> Answer {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string();
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b.as_str()));
    }
    request(addr, "POST", "/", &headers, body.as_bytes())
}

/// A call's `result`, asserting there was no error.
pub(crate) fn result(addr: &str, token: Option<&str>, method: &str, params: Value) -> Value {
    let answer = call(addr, token, method, params);
    let v = answer.json();
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

/// A devnet of processes, stopped when the test ends however it ends.
pub(crate) struct Devnet {
    pub(crate) dir: PathBuf,
}

impl Devnet {
    /// Starts one; the guard exists before `up` runs, so whatever `up` started is stopped
    /// however the test ends.
    pub(crate) fn up(dir: &Path, checkers: usize, workers: usize) -> Devnet {
        let devnet = Devnet {
            dir: dir.to_owned(),
        };
        super::devnet::up(dir, checkers, workers);
        devnet
    }

    /// The creator's HTTP address and RPC token.
    pub(crate) fn creator(&self) -> (String, String) {
        let home = self.dir.join("creator");
        let runtime = super::devnet::runtime(&home);
        let token = std::fs::read_to_string(home.join("rpc.token")).expect("rpc.token");
        (
            runtime["http"].as_str().expect("http").to_owned(),
            token.trim().to_owned(),
        )
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = pictor(&[
            "devnet",
            "down",
            "--dir",
            self.dir.to_str().unwrap_or(""),
            "--grace",
            "5",
        ]);
    }
}

/// A `pictor node` process, killed when the test ends however it ends.
pub(crate) struct NodeProcess(std::process::Child);

impl NodeProcess {
    /// Runs `pictor node ARGS` on `home` and waits until it has written its runtime file.
    pub(crate) fn start(home: &Path, args: &[&str]) -> NodeProcess {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_pictor"))
            .arg("node")
            .args(args)
            .spawn()
            .expect("node starts");
        let node = NodeProcess(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !home.join("node.json").exists() {
            assert!(std::time::Instant::now() < deadline, "the node starts");
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
