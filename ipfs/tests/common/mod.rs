//! Real libp2p swarms on loopback TCP (noise, yamux) for the Bitswap tests and benchmark,
//! plus an independent encoding of Bitswap messages for raw (hostile) peers.
#![allow(dead_code)] // each test binary uses part of this

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::{multiaddr::Protocol, noise, swarm::SwarmEvent, tcp, yamux, Multiaddr, PeerId};
use pictor_ipfs::{Bitswap, BitswapConfig, MemoryBlockstore};
use tokio::{sync::mpsc, task::JoinHandle};

/// A running swarm: its identity, address and stream control.
pub(crate) struct Node {
    pub(crate) peer_id: PeerId,
    pub(crate) addr: Multiaddr,
    pub(crate) control: libp2p_stream::Control,
    dial: mpsc::Sender<Multiaddr>,
    connected: mpsc::Receiver<PeerId>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Node {
    /// A new swarm listening on 127.0.0.1, its event loop spawned.
    pub(crate) async fn start() -> Self {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .expect("tcp transport")
            .with_behaviour(|_| libp2p_stream::Behaviour::new())
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr"))
            .expect("listen");
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address;
            }
        };
        let peer_id = *swarm.local_peer_id();
        let control = swarm.behaviour().new_control();
        let (dial, mut dials) = mpsc::channel::<Multiaddr>(8);
        let (connected_tx, connected) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(addr) = dials.recv() => {
                        if let Err(e) = swarm.dial(addr) {
                            eprintln!("dial failed: {e}");
                        }
                    }
                    event = swarm.select_next_some() => {
                        if let SwarmEvent::ConnectionEstablished { peer_id, .. } = event {
                            let _ = connected_tx.try_send(peer_id);
                        }
                    }
                }
            }
        });
        Self {
            peer_id,
            addr: addr.with(Protocol::P2p(peer_id)),
            control,
            dial,
            connected,
            tasks: vec![task],
        }
    }

    /// Dials `other` and waits until both sides see the connection.
    pub(crate) async fn connect(&mut self, other: &mut Node) {
        self.dial
            .send(other.addr.clone())
            .await
            .expect("swarm task");
        let wait = async {
            while self.connected.recv().await != Some(other.peer_id) {}
            while other.connected.recv().await != Some(self.peer_id) {}
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("connection within 10 s");
    }

    /// Dials `addr` (ending in `/p2p/{peer}`) and waits for the connection.
    pub(crate) async fn connect_to(&mut self, addr: Multiaddr) {
        self.dial.send(addr).await.expect("swarm task");
        tokio::time::timeout(Duration::from_secs(10), self.connected.recv())
            .await
            .expect("connection within 10 s");
    }

    /// Starts Bitswap on this node's swarm over `store`.
    pub(crate) fn bitswap(
        &mut self,
        store: Arc<MemoryBlockstore>,
        config: BitswapConfig,
    ) -> Bitswap {
        let (bitswap, service) =
            Bitswap::new(self.control.clone(), store, config).expect("protocols free");
        self.tasks.push(tokio::spawn(service));
        bitswap
    }
}

/// `n` deterministic pseudo-random bytes.
pub(crate) fn random_bytes(n: usize, seed: &[u8]) -> Bytes {
    let mut out = vec![0u8; n];
    blake3::Hasher::new()
        .update(seed)
        .finalize_xof()
        .fill(&mut out);
    out.into()
}

/// Bitswap's wire message, written again here (not taken from the crate) so the tests
/// check the crate against an independent encoding.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireMessage {
    #[prost(message, optional, tag = "1")]
    pub(crate) wantlist: Option<WireWantlist>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) payload: Vec<WirePayload>,
    #[prost(message, repeated, tag = "4")]
    pub(crate) block_presences: Vec<WirePresence>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireWantlist {
    #[prost(message, repeated, tag = "1")]
    pub(crate) entries: Vec<WireEntry>,
    #[prost(bool, tag = "2")]
    pub(crate) full: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireEntry {
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) block: Vec<u8>,
    #[prost(int32, tag = "2")]
    pub(crate) priority: i32,
    #[prost(bool, tag = "3")]
    pub(crate) cancel: bool,
    #[prost(int32, tag = "4")]
    pub(crate) want_type: i32,
    #[prost(bool, tag = "5")]
    pub(crate) send_dont_have: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WirePayload {
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) prefix: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WirePresence {
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) cid: Vec<u8>,
    #[prost(int32, tag = "2")]
    pub(crate) r#type: i32,
}

pub(crate) const WANT_BLOCK: i32 = 0;
pub(crate) const WANT_HAVE: i32 = 1;
pub(crate) const HAVE: i32 = 0;
pub(crate) const DONT_HAVE: i32 = 1;

/// A want entry for `cid`.
pub(crate) fn want(cid: &pictor_ipfs::Cid, want_type: i32, send_dont_have: bool) -> WireEntry {
    WireEntry {
        block: cid.to_bytes(),
        priority: 1,
        cancel: false,
        want_type,
        send_dont_have,
    }
}

/// A message carrying only `entries`.
pub(crate) fn wants(entries: Vec<WireEntry>) -> WireMessage {
    WireMessage {
        wantlist: Some(WireWantlist {
            entries,
            full: false,
        }),
        payload: vec![],
        block_presences: vec![],
    }
}

/// Writes a length-prefixed message.
pub(crate) async fn send(stream: &mut libp2p::Stream, message: &WireMessage) {
    let frame = prost::Message::encode_length_delimited_to_vec(message);
    stream.write_all(&frame).await.expect("write");
    stream.flush().await.expect("flush");
}

/// Reads a length-prefixed message.
pub(crate) async fn receive(stream: &mut libp2p::Stream) -> WireMessage {
    let mut len: usize = 0;
    for shift in (0..).step_by(7) {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.expect("read length");
        len |= usize::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).await.expect("read message");
    prost::Message::decode(buf.as_slice()).expect("valid message")
}
