//! Free loopback ports for a local network of processes.

use std::net::{Ipv4Addr, TcpListener};

use crate::NodeError;

/// A devnet's ports: below the kernel's usual ephemeral range (32768–60999), so that no
/// port it hands out meanwhile (to a connection or a listener on port 0) takes one first.
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// Distinct free loopback ports, two per member (peers, HTTP): at random from [`PORTS`],
/// each checked by binding it, else from the kernel.
pub(super) fn free_ports(n: usize) -> Result<Vec<u16>, NodeError> {
    let mut state = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32)
        | 1;
    let mut ports: Vec<u16> = Vec::with_capacity(n);
    let span = u64::from(PORTS.end - PORTS.start);
    for _ in 0..n * 64 {
        if ports.len() == n {
            break;
        }
        state ^= state << 13; // xorshift64
        state ^= state >> 7;
        state ^= state << 17;
        let port = PORTS.start + (state % span) as u16;
        if !ports.contains(&port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            ports.push(port);
        }
    }
    while ports.len() < n {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| NodeError::Config(format!("cannot find a free loopback port: {e}")))?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    Ok(ports)
}
