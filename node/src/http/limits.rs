//! Limits per client of the HTTP port: connections open at once, a rate of requests (a
//! token bucket, [`Quota`]) and uploads in flight, and a cap on uploads in flight from
//! all clients together (an upload holds up to [`super::MAX_UPLOAD`] bytes in memory).
//!
//! Every JSON-RPC call counts ([`PerCall`]): an HTTP request counts once when it arrives
//! (whatever path it asks for), and a batch's calls after its first one more each (a batch
//! holds at most [`super::MAX_BATCH_CALLS`] calls); a WebSocket's upgrade request counts
//! once, and each call over it one more.
//!
//! A client is the remote IP address of its connection (an IPv6 client: its /64, which
//! one host usually holds whole). Loopback clients (this machine's scripts, `pictor
//! bench --rpc`) are limited too, with a rate of their own. Behind a reverse proxy every
//! client is the proxy: limit per client there (forwarded headers are not trusted).

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use jsonrpsee::{
    server::middleware::rpc::{
        Batch, BatchEntry, BatchEntryErr, MethodResponse, Notification, RpcServiceT,
    },
    types::{ErrorObject, Request},
};

use crate::quota::Quota;

/// Requests per second a client may make, sustained, by default.
pub const DEFAULT_RATE_PER_CLIENT: u32 = 50;
/// Requests a client may make at once after a quiet spell, by default.
pub const DEFAULT_BURST_PER_CLIENT: u32 = 200;
/// Requests per second a loopback client may make, sustained, by default: far above what
/// `pictor bench --rpc` drives (about 11 000 calls per second on 2 cores).
pub const DEFAULT_LOCAL_RATE_PER_CLIENT: u32 = 50_000;
/// Requests a loopback client may make at once, by default.
pub const DEFAULT_LOCAL_BURST_PER_CLIENT: u32 = 50_000;
/// Connections a client may hold open at once, by default.
pub const DEFAULT_CONNECTIONS_PER_CLIENT: u32 = 32;
/// Uploads a client may have in flight at once, by default.
pub const DEFAULT_UPLOADS_PER_CLIENT: u32 = 2;
/// Uploads in flight at once from all clients together: each may hold up to
/// [`super::MAX_UPLOAD`] bytes in memory, so this bounds what uploads take (1 GiB).
pub const MAX_UPLOADS: u32 = 4;
/// What a refused connection is told to wait, in seconds.
const CONNECTION_RETRY_S: u64 = 1;
/// What a refused upload is told to wait, in seconds.
const UPLOAD_RETRY_S: u64 = 2;

/// The HTTP port's limits per client (`[http_limits]` in `config.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Requests per second a client may make, sustained.
    pub rate_per_client: u32,
    /// Requests a client may make at once after a quiet spell.
    pub burst_per_client: u32,
    /// The same two for loopback clients (127.0.0.0/8, ::1).
    pub local_rate_per_client: u32,
    /// See `local_rate_per_client`.
    pub local_burst_per_client: u32,
    /// Connections a client may hold open at once.
    pub connections_per_client: u32,
    /// Uploads a client may have in flight at once (within [`MAX_UPLOADS`] for all).
    pub uploads_per_client: u32,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            rate_per_client: DEFAULT_RATE_PER_CLIENT,
            burst_per_client: DEFAULT_BURST_PER_CLIENT,
            local_rate_per_client: DEFAULT_LOCAL_RATE_PER_CLIENT,
            local_burst_per_client: DEFAULT_LOCAL_BURST_PER_CLIENT,
            connections_per_client: DEFAULT_CONNECTIONS_PER_CLIENT,
            uploads_per_client: DEFAULT_UPLOADS_PER_CLIENT,
        }
    }
}

/// A request refused for a limit: what to tell the client, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) message: String,
    pub(crate) retry_after_s: u64,
}

/// One client: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientId(IpAddr);

impl ClientId {
    pub(crate) fn of(ip: IpAddr) -> ClientId {
        match ip.to_canonical() {
            IpAddr::V6(v6) if !v6.is_loopback() => {
                ClientId(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (!0u128 << 64))))
            }
            other => ClientId(other),
        }
    }

    fn is_local(self) -> bool {
        self.0.is_loopback()
    }
}

#[derive(Debug)]
struct State {
    remote: Quota<ClientId>,
    local: Quota<ClientId>,
    /// Connections open per client (at most the port's connections: no other bound needed).
    connections: HashMap<ClientId, u32>,
    /// Uploads in flight per client (at most [`MAX_UPLOADS`] entries).
    uploads: HashMap<ClientId, u32>,
}

/// The limits' state, shared by every connection of the port.
#[derive(Debug, Clone)]
pub(crate) struct Limiter {
    limits: HttpLimits,
    state: Arc<Mutex<State>>,
}

/// A connection counted against its client until dropped.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    state: Arc<Mutex<State>>,
    client: ClientId,
}

/// An upload counted against its client and the port until dropped.
#[derive(Debug)]
pub(crate) struct UploadSlot {
    state: Arc<Mutex<State>>,
    client: ClientId,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes one from a client's count (removing it at zero).
fn release(counts: &mut HashMap<ClientId, u32>, client: ClientId) {
    if let Some(n) = counts.get_mut(&client) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(&client);
        }
    }
}

impl Limiter {
    pub(crate) fn new(limits: HttpLimits) -> Limiter {
        let quota = |rate: u32, burst: u32| Quota::new(f64::from(rate), f64::from(burst));
        Limiter {
            limits,
            state: Arc::new(Mutex::new(State {
                remote: quota(limits.rate_per_client, limits.burst_per_client),
                local: quota(limits.local_rate_per_client, limits.local_burst_per_client),
                connections: HashMap::new(),
                uploads: HashMap::new(),
            })),
        }
    }

    /// Counts a new connection of `client`, if it holds fewer than its limit.
    pub(crate) fn connect(&self, client: ClientId) -> Result<ConnectionSlot, Refusal> {
        let max = self.limits.connections_per_client;
        let mut state = lock(&self.state);
        let open = state.connections.entry(client).or_insert(0);
        if *open >= max {
            return Err(Refusal {
                message: format!(
                    "too many connections: a client may hold {max} open at once; close one or reuse it (keep-alive)"
                ),
                retry_after_s: CONNECTION_RETRY_S,
            });
        }
        *open += 1;
        Ok(ConnectionSlot {
            state: self.state.clone(),
            client,
        })
    }

    /// Counts one request of `client` at `now_ms`, if its rate allows it.
    pub(crate) fn request(&self, client: ClientId, now_ms: u64) -> Result<(), Refusal> {
        let (rate, burst) = if client.is_local() {
            (
                self.limits.local_rate_per_client,
                self.limits.local_burst_per_client,
            )
        } else {
            (self.limits.rate_per_client, self.limits.burst_per_client)
        };
        let mut state = lock(&self.state);
        let quota = if client.is_local() {
            &mut state.local
        } else {
            &mut state.remote
        };
        quota.take(client, now_ms).map_err(|wait_ms| Refusal {
            message: format!(
                "too many requests: a client may make {rate} per second ({burst} at once after a quiet spell); wait and retry"
            ),
            retry_after_s: wait_ms.div_ceil(1_000).max(1),
        })
    }

    /// Counts an upload of `client`, if it and the port have room for one more.
    pub(crate) fn upload(&self, client: ClientId) -> Result<UploadSlot, Refusal> {
        let max = self.limits.uploads_per_client;
        let mut state = lock(&self.state);
        let total: u32 = state.uploads.values().sum();
        let mine = state.uploads.get(&client).copied().unwrap_or(0);
        let message = if mine >= max {
            format!("too many uploads: a client may have {max} in flight at once; wait for one to finish")
        } else if total >= MAX_UPLOADS {
            format!("too many uploads: this node takes {MAX_UPLOADS} at once from all clients; retry shortly")
        } else {
            *state.uploads.entry(client).or_insert(0) += 1;
            return Ok(UploadSlot {
                state: self.state.clone(),
                client,
            });
        };
        Err(Refusal {
            message,
            retry_after_s: UPLOAD_RETRY_S,
        })
    }
}

/// The client of a JSON-RPC request, in its extensions (jsonrpsee hands those of a
/// WebSocket's upgrade request to every call of the connection): its calls are counted by
/// [`PerCall`].
#[derive(Debug, Clone)]
pub(crate) struct RpcClient {
    pub(crate) limiter: Limiter,
    pub(crate) client: ClientId,
    /// Over HTTP: the router counted the request, which stands for its first call.
    pub(crate) over_http: bool,
}

/// JSON-RPC middleware: each call counts against its client's rate (over HTTP, the
/// request itself was counted as the first call); past it the call is answered with the
/// error [`crate::rpc::RATE_LIMITED`], the batch's other calls are answered, and a
/// WebSocket stays open.
#[derive(Debug, Clone)]
pub(crate) struct PerCall<S> {
    pub(crate) inner: S,
}

/// Whether a call with these extensions may go on (a refusal if not); `counted`: the
/// router has counted it already (a lone call over HTTP, or a batch's first).
fn refusal(extensions: &jsonrpsee::Extensions, counted: bool) -> Option<ErrorObject<'static>> {
    let caller = extensions.get::<RpcClient>()?;
    if counted && caller.over_http {
        return None;
    }
    let refused = caller
        .limiter
        .request(caller.client, crate::now_ms())
        .err()?;
    Some(ErrorObject::owned(
        crate::rpc::RATE_LIMITED,
        format!("{} (retry in {} s)", refused.message, refused.retry_after_s),
        None::<()>,
    ))
}

impl<S> RpcServiceT for PerCall<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl std::future::Future<Output = MethodResponse> + Send + 'a {
        let refused = refusal(request.extensions(), true);
        let inner = self.inner.clone();
        async move {
            match refused {
                Some(error) => MethodResponse::error(request.id, error),
                None => inner.call(request).await,
            }
        }
    }

    fn batch<'a>(
        &self,
        batch: Batch<'a>,
    ) -> impl std::future::Future<Output = MethodResponse> + Send + 'a {
        let mut first = true;
        let entries = batch
            .into_iter()
            .filter_map(|entry| {
                let counted = std::mem::replace(&mut first, false);
                match entry {
                    Ok(BatchEntry::Call(call)) => match refusal(call.extensions(), counted) {
                        Some(error) => Some(Err(BatchEntryErr::new(call.id.clone(), error))),
                        None => Some(Ok(BatchEntry::Call(call))),
                    },
                    // A notification has no answer to carry a refusal: a refused one is
                    // dropped.
                    Ok(BatchEntry::Notification(n)) => refusal(n.extensions(), counted)
                        .is_none()
                        .then_some(Ok(BatchEntry::Notification(n))),
                    Err(e) => Some(Err(e)),
                }
            })
            .collect();
        self.inner.batch(Batch::from(entries))
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl std::future::Future<Output = MethodResponse> + Send + 'a {
        let refused = refusal(n.extensions(), true).is_some();
        let inner = self.inner.clone();
        async move {
            if refused {
                MethodResponse::notification()
            } else {
                inner.notification(n).await
            }
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        release(&mut lock(&self.state).connections, self.client);
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        release(&mut lock(&self.state).uploads, self.client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: &str) -> ClientId {
        ClientId::of(
            ip.parse()
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        )
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_the_ipv4() {
        assert_eq!(client("2001:db8::1"), client("2001:db8::ffff:2"));
        assert_ne!(client("2001:db8::1"), client("2001:db8:0:1::1"));
        assert_eq!(client("::ffff:192.0.2.7"), client("192.0.2.7"));
        assert_ne!(client("192.0.2.7"), client("192.0.2.8"));
        assert!(client("::1").is_local() && client("127.0.0.2").is_local());
    }

    #[test]
    fn connections_and_uploads_are_counted_until_their_slots_drop() {
        let limits = HttpLimits {
            connections_per_client: 2,
            uploads_per_client: 2,
            ..HttpLimits::default()
        };
        let limiter = Limiter::new(limits);
        let a = client("192.0.2.1");
        let first = limiter.connect(a);
        let second = limiter.connect(a);
        assert!(first.is_ok() && second.is_ok());
        let refused = limiter.connect(a).err().map(|r| r.message);
        assert!(refused.is_some_and(|m| m.contains("2 open at once")));
        assert!(
            limiter.connect(client("192.0.2.2")).is_ok(),
            "another client"
        );
        drop(first);
        assert!(limiter.connect(a).is_ok(), "room again");

        let uploads: Vec<_> = ["192.0.2.1", "192.0.2.1", "192.0.2.3", "192.0.2.4"]
            .into_iter()
            .map(|ip| limiter.upload(client(ip)))
            .collect();
        assert!(uploads.iter().all(Result::is_ok));
        let mine = limiter.upload(a).err().map(|r| r.message);
        assert!(mine.is_some_and(|m| m.contains("a client may have 2")));
        let all = limiter.upload(client("192.0.2.5")).err().map(|r| r.message);
        assert!(all.is_some_and(|m| m.contains("4 at once from all clients")));
        drop(uploads);
        assert!(limiter.upload(client("192.0.2.5")).is_ok());
    }

    #[test]
    fn loopback_clients_have_their_own_rate() {
        let limits = HttpLimits {
            rate_per_client: 1,
            burst_per_client: 2,
            local_rate_per_client: 1,
            local_burst_per_client: 5,
            ..HttpLimits::default()
        };
        let limiter = Limiter::new(limits);
        let remote = client("192.0.2.1");
        let local = client("127.0.0.1");
        let served = |c| (0..10).filter(|_| limiter.request(c, 0).is_ok()).count();
        assert_eq!(served(remote), 2);
        assert_eq!(served(local), 5);
        let refusal = limiter.request(remote, 0).err();
        assert_eq!(refusal.as_ref().map(|r| r.retry_after_s), Some(1));
        assert!(refusal.is_some_and(|r| r.message.contains("1 per second (2 at once")));
        assert!(limiter.request(remote, 1_000).is_ok(), "a token a second");
    }
}
