//! The RPC token and who may do what.
//!
//! A node writes a new random token to `HOME/rpc.token` (mode 0600) each time it starts.
//! On a port bound to loopback, reads are open and anything that changes or spends
//! something needs `Authorization: Bearer <token>`; on any other address everything does.
//! A browser cannot set headers on a WebSocket, so the explorer page also accepts the
//! token once as `?token=` and keeps it in a same-site cookie.

use std::{io::Read as _, net::SocketAddr, path::Path};

use hyper::header::{HeaderMap, AUTHORIZATION, COOKIE};
use subtle::ConstantTimeEq as _;

use crate::NodeError;

/// The token file's name in a node's home.
pub const TOKEN_FILE: &str = "rpc.token";
/// The cookie the explorer keeps the token in.
pub(crate) const COOKIE_NAME: &str = "pictor_token";

/// What one request may do, put into its extensions for the RPC methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Access {
    /// It carried the right token.
    pub(crate) token: bool,
}

/// The token and the rule of the bound address.
#[derive(Clone)]
pub(crate) struct Auth {
    token: String,
    /// Whether the port is bound to loopback only (reads need no token).
    loopback: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("loopback", &self.loopback)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Makes a new token and writes it to `home/rpc.token`, readable by its owner only.
    pub(crate) fn create(home: &Path, bound: SocketAddr) -> Result<Auth, NodeError> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|e| {
                NodeError::Config(format!("cannot read random bytes for the RPC token: {e}"))
            })?;
        let token = hex::encode(bytes);
        let path = home.join(TOKEN_FILE);
        write_private(&path, &token).map_err(|e| NodeError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Auth {
            token,
            loopback: bound.ip().is_loopback(),
        })
    }

    /// Whether requests need the token even to read.
    pub(crate) fn closed(&self) -> bool {
        !self.loopback
    }

    /// Whether the request carries the token (header, or the explorer's cookie).
    pub(crate) fn check(&self, headers: &HeaderMap) -> Access {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let cookie = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
            .next();
        let token = bearer.or(cookie).is_some_and(|t| self.matches(t));
        Access { token }
    }

    /// Compares in constant time (for tokens of the right length).
    pub(crate) fn matches(&self, candidate: &str) -> bool {
        candidate.len() == self.token.len()
            && bool::from(candidate.as_bytes().ct_eq(self.token.as_bytes()))
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("token.partial");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(text.as_bytes())?;
    // Not synced: a new token is made at every start, so one lost to a crash is no loss.
    file.write_all(b"\n")?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_token_file_is_private_and_only_the_token_passes() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::create(dir.path(), "127.0.0.1:1".parse().unwrap()).unwrap();
        let file = dir.path().join(TOKEN_FILE);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let token = std::fs::read_to_string(&file).unwrap();
        let token = token.trim();
        assert!(!auth.closed());
        let mut headers = HeaderMap::new();
        assert!(!auth.check(&headers).token);
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        assert!(auth.check(&headers).token);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer 00"));
        assert!(!auth.check(&headers).token);
        let mut cookie = HeaderMap::new();
        cookie.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE_NAME}={token}")).unwrap(),
        );
        assert!(auth.check(&cookie).token);
        let open = Auth::create(dir.path(), "0.0.0.0:1".parse().unwrap()).unwrap();
        assert!(open.closed());
        assert!(!open.matches(token), "each start makes a new token");
    }
}
