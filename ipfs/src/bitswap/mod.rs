//! Bitswap 1.2.0 (and 1.1.0 inbound) over `libp2p-stream`.
//!
//! As in go and js Bitswap, each side *sends* on one outbound stream it opens to the peer
//! and *receives* on the streams the peer opens: a want goes out on our stream, the
//! block comes back on the peer's.
//!
//! The node adds `libp2p_stream::Behaviour` to its `NetworkBehaviour`, hands a `Control`
//! to [`Bitswap::new`] and spawns the returned service future; the [`Bitswap`] handle
//! (cheap to clone) fetches blocks and files.
//!
//! Everything a peer can make us hold is bounded: message size, want entries per message,
//! wants held per peer, inbound streams in total and per peer, time a write may take.
//! Blocks are stored only if we asked for them and they hash to what we asked.

mod service;
pub(crate) mod state;
pub(crate) mod wire;

use std::{fmt, future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use cid::Cid;
use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::Control;

use crate::{
    block::multihash_with,
    unixfs::{export_with_window, BlockSource},
    Block, Blockstore, IpfsError, StoreError,
};
use state::Shared;

/// Bitswap 1.2.0, what we open and accept.
pub const PROTOCOL_1_2: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.2.0");
/// Bitswap 1.1.0, accepted inbound and opened to peers without 1.2.0.
pub const PROTOCOL_1_1: StreamProtocol = StreamProtocol::new("/ipfs/bitswap/1.1.0");

/// A want not answered this long is sent again ([`Bitswap::get`]), then after twice as
/// long each time, up to [`RESEND_MAX`].
const RESEND_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between two sendings of one want.
const RESEND_MAX: Duration = Duration::from_secs(8);

/// Limits and timings of the Bitswap service.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BitswapConfig {
    /// Largest message read or written (the spec's 4 MiB); a bigger one drops the stream.
    pub max_message_size: usize,
    /// Want entries read from one message; the rest are ignored.
    pub max_entries_per_message: usize,
    /// Wants held for one peer; new wants beyond are ignored until some are served.
    pub max_peer_wants: usize,
    /// Our own want entries per message. Some peers (helia 7) answer every want of one
    /// message in one reply and fail to send a reply over 4 MiB; with blocks up to
    /// 2 MiB, one want per message keeps each of their replies within the limit.
    pub max_wants_per_message: usize,
    /// Inbound streams read at once, from all peers.
    pub max_inbound_streams: usize,
    /// Inbound streams read at once from one peer.
    pub max_inbound_streams_per_peer: usize,
    /// Blocks fetched at once by [`Bitswap::get_file`].
    pub fetch_window: usize,
    /// How long [`Bitswap::get_file`] waits for each block.
    pub block_timeout: Duration,
    /// An outbound stream with nothing to send for this long is closed.
    pub idle_timeout: Duration,
    /// Longest a stream may take to open, to take one message we write, or to deliver
    /// the rest of a message once its length has arrived.
    pub io_timeout: Duration,
}

impl Default for BitswapConfig {
    fn default() -> Self {
        Self {
            max_message_size: 4 * 1024 * 1024,
            max_entries_per_message: 1024,
            max_peer_wants: 4096,
            max_wants_per_message: 1,
            max_inbound_streams: 256,
            max_inbound_streams_per_peer: 8,
            fetch_window: 32,
            block_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            io_timeout: Duration::from_secs(30),
        }
    }
}

/// A fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BitswapError {
    /// No peer was given to ask.
    #[error("no peer to ask for {0}")]
    NoPeers(Box<Cid>),
    /// Every peer asked said it does not have the block, or could not be reached.
    #[error("{cid} not found: all {peers} peer(s) asked lack it or could not be reached")]
    NotFound {
        /// The block.
        cid: Box<Cid>,
        /// Peers asked.
        peers: usize,
    },
    /// No valid block arrived in time.
    #[error(
        "timed out after {timeout:?} waiting for {cid} from {peers} peer(s); \
         {rejected_blocks} invalid or unrequested block(s) from them were dropped"
    )]
    Timeout {
        /// The block.
        cid: Box<Cid>,
        /// How long we waited.
        timeout: Duration,
        /// Peers asked.
        peers: usize,
        /// Blocks those peers sent meanwhile that matched nothing we asked for (data
        /// that does not hash to the CID we asked for lands here).
        rejected_blocks: u64,
    },
    /// The service future was dropped.
    #[error("the bitswap service is not running")]
    Shutdown,
    /// The `Control` already accepts a Bitswap protocol.
    #[error("a bitswap protocol is already registered on this libp2p-stream control")]
    AlreadyRegistered,
    /// The block or the file's DAG was refused.
    #[error(transparent)]
    Block(#[from] IpfsError),
    /// The local block store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counters since the service started, and what it holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BitswapStats {
    /// Blocks sent to peers.
    pub blocks_sent: u64,
    /// Block bytes sent to peers.
    pub bytes_sent: u64,
    /// Blocks received that we wanted (verified and stored).
    pub blocks_received: u64,
    /// Block bytes received that we wanted.
    pub bytes_received: u64,
    /// Blocks dropped: not asked for, data not matching the CID, unusable prefix, too big.
    pub blocks_rejected: u64,
    /// Inbound streams dropped for a bad message (oversized, malformed).
    pub messages_dropped: u64,
    /// Want entries ignored (over the per-message or per-peer limits, invalid CIDs).
    pub wants_ignored: u64,
    /// Inbound streams refused over the stream limits.
    pub streams_refused: u64,
    /// Wants held now for all peers.
    pub peer_wants: u64,
    /// Most wants ever held for one peer.
    pub peak_peer_wants: u64,
    /// Our own wants in flight.
    pub pending_gets: u64,
    /// Peers with state now.
    pub peers: u64,
}

/// What the service holds for one peer now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStats {
    /// Its wants waiting to be served.
    pub pending_wants: usize,
    /// Blocks it sent that we dropped.
    pub rejected_blocks: u64,
    /// Its inbound streams being read.
    pub inbound_streams: usize,
}

/// A handle to the Bitswap service: fetch blocks and files, read counters.
#[derive(Clone)]
pub struct Bitswap {
    shared: Arc<Shared>,
}

impl fmt::Debug for Bitswap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bitswap")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Bitswap {
    /// Registers the Bitswap protocols on `control` and returns the handle and the service
    /// future, which the caller spawns (`tokio::spawn`). The service serves `store`'s
    /// blocks to peers and stores the blocks fetched; dropping the future stops all of
    /// Bitswap and fails pending gets with [`BitswapError::Shutdown`].
    pub fn new(
        mut control: Control,
        store: Arc<dyn Blockstore>,
        config: BitswapConfig,
    ) -> Result<(Self, impl Future<Output = ()> + Send + 'static), BitswapError> {
        let v1_2 = control
            .accept(PROTOCOL_1_2)
            .map_err(|_| BitswapError::AlreadyRegistered)?;
        let v1_1 = control
            .accept(PROTOCOL_1_1)
            .map_err(|_| BitswapError::AlreadyRegistered)?;
        let incoming = futures::stream::select(v1_2, v1_1);
        let shared = Arc::new(Shared::new(store, config));
        let service = service::run(shared.clone(), control, incoming);
        Ok((Self { shared }, service))
    }

    /// Fetches a block: from the local store if there, else by sending want-block (with
    /// send-dont-have) to `peers`. Resolves with the first block that hashes to `cid`
    /// (and stores it); blocks that do not match are dropped and counted against their
    /// sender. Fails with [`BitswapError::NotFound`] when every peer said it lacks the
    /// block, [`BitswapError::Timeout`] after `timeout`.
    ///
    /// Concurrent gets pipeline: their wants share each peer's stream and messages.
    pub async fn get(
        &self,
        cid: &Cid,
        peers: &[PeerId],
        timeout: Duration,
    ) -> Result<Block, BitswapError> {
        if let Some(data) = self.shared.store.get(cid)? {
            return Ok(Block::trusted(*cid, data));
        }
        // Refuse at once what we could never verify.
        let hash = cid.hash();
        multihash_with(hash.code(), usize::from(hash.size()), &[]).map_err(|_| {
            BitswapError::Block(IpfsError::UnsupportedHash {
                cid: Box::new(*cid),
                code: hash.code(),
            })
        })?;
        if peers.is_empty() {
            return Err(BitswapError::NoPeers(Box::new(*cid)));
        }
        let (_guard, mut receiver) = self.shared.begin_get(*cid, peers)?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut resend_after = RESEND_FIRST;
        let outcome = loop {
            let wait = (tokio::time::Instant::now() + resend_after).min(deadline);
            match tokio::time::timeout_at(wait, &mut receiver).await {
                Ok(outcome) => break Ok(outcome),
                Err(_) if wait >= deadline => break Err(()),
                Err(_) => {
                    self.shared.resend(cid);
                    resend_after = (resend_after * 2).min(RESEND_MAX);
                }
            }
        };
        match outcome {
            Ok(Ok(Ok(block))) => Ok(block),
            Ok(Ok(Err(peers))) => Err(BitswapError::NotFound {
                cid: Box::new(*cid),
                peers,
            }),
            Ok(Err(_)) => Err(BitswapError::Shutdown),
            Err(()) => {
                let (peers, rejected_blocks) = self.shared.want_report(cid);
                Err(BitswapError::Timeout {
                    cid: Box::new(*cid),
                    timeout,
                    peers,
                    rejected_blocks,
                })
            }
        }
    }

    /// Fetches the UnixFS file `root` from `peers` and returns its bytes, checking the
    /// DAG as [`unixfs::export`](crate::unixfs::export) does (`limit` bounds the file's
    /// size). The children of a node are fetched concurrently, `fetch_window` at a time,
    /// each with the configured `block_timeout`.
    pub async fn get_file(
        &self,
        root: &Cid,
        peers: &[PeerId],
        limit: u64,
    ) -> Result<Bytes, BitswapError> {
        let source = NetworkSource {
            bitswap: self,
            peers,
            timeout: self.shared.config.block_timeout,
        };
        export_with_window(&source, *root, limit, self.shared.config.fetch_window).await
    }

    /// Counters and current totals.
    pub fn stats(&self) -> BitswapStats {
        self.shared.stats()
    }

    /// What the service holds for `peer`, if anything.
    pub fn peer_stats(&self, peer: &PeerId) -> Option<PeerStats> {
        self.shared.peer_stats(peer)
    }
}

/// Blocks from the network, for the UnixFS reader.
struct NetworkSource<'a> {
    bitswap: &'a Bitswap,
    peers: &'a [PeerId],
    timeout: Duration,
}

impl BlockSource for NetworkSource<'_> {
    type Error = BitswapError;

    async fn fetch(&self, cid: Cid) -> Result<Block, BitswapError> {
        self.bitswap.get(&cid, self.peers, self.timeout).await
    }
}
