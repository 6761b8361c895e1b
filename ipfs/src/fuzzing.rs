//! Entry points for the fuzz targets in `fuzz/`: the decoders this crate keeps private,
//! public only for them (hidden from the docs). Each returns what a peer's bytes came to, or
//! the error a peer would see; none of them is used by a node.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use bytes::Bytes;
use cid::Cid;
use libp2p::PeerId;

use crate::{
    bitswap::{
        state::Shared,
        wire::{self, Message},
    },
    unixfs::BlockSource,
    BitswapConfig, Block, Blockstore, IpfsError,
};

/// What one Bitswap frame did to a serving node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameOutcome {
    /// Wants the peer now has queued with us.
    pub peer_wants: u64,
    /// The most a peer may have queued.
    pub max_peer_wants: usize,
    /// Entries the serving side would send now.
    pub outbox: usize,
}

/// Reads one length-prefixed Bitswap frame as a stream reader does, checks that its
/// message re-encodes to a frame that reads back the same, and applies it to a fresh
/// Bitswap state serving `store`.
pub fn bitswap_frame(bytes: &[u8], store: Arc<dyn Blockstore>) -> Result<FrameOutcome, String> {
    let config = BitswapConfig::default();
    let message = read_frame(bytes, config.max_message_size)?;
    let again = write_frame(message.clone());
    match read_frame(&again, usize::MAX) {
        Ok(back) if back == message => {}
        other => panic!("a decoded message does not read back after encoding: {other:?}"),
    }
    let max_peer_wants = config.max_peer_wants;
    let shared = Shared::new(store, config);
    let peer = PeerId::from_bytes(&[0, 2, 8, 1]).unwrap_or_else(|_| PeerId::random());
    shared.handle_message(&peer, message);
    let outbox = shared.take_outbox(&peer, usize::MAX).len();
    Ok(FrameOutcome {
        peer_wants: shared.stats().peer_wants,
        max_peer_wants,
        outbox,
    })
}

/// The frame of a message, as a peer would send it.
fn write_frame(message: Message) -> Vec<u8> {
    wire::encode_frame(message).concat()
}

fn read_frame(bytes: &[u8], max: usize) -> Result<Message, String> {
    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok();
    }
    RUNTIME.with(|runtime| {
        let runtime = runtime.as_ref().ok_or("no runtime")?;
        let mut reader = bytes;
        let mut scratch = vec![0u8; 64 * 1024];
        let read = runtime.block_on(wire::read_message(
            &mut reader,
            max,
            std::time::Duration::from_secs(5),
            &mut scratch,
        ));
        match read {
            Ok(Some(message)) => Ok(message),
            Ok(None) => Err("empty stream".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// Exports a UnixFS file whose blocks are served in the order they are asked for,
/// whatever CID they are asked by: the DAG's structure (sizes, links, depth, cycles) is
/// what is under test, not the hashes, which [`Block::new_verified`] checks elsewhere.
pub fn unixfs_export(root: Cid, blocks: Vec<Bytes>, limit: u64) -> Result<Bytes, IpfsError> {
    let source = InOrder {
        blocks,
        next: AtomicUsize::new(0),
    };
    futures::executor::block_on(crate::unixfs::export(&source, root, limit))
}

struct InOrder {
    blocks: Vec<Bytes>,
    next: AtomicUsize,
}

impl BlockSource for InOrder {
    type Error = IpfsError;

    fn fetch(
        &self,
        cid: Cid,
    ) -> impl std::future::Future<Output = Result<Block, IpfsError>> + Send {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let result = match self.blocks.get(n) {
            Some(data) => Ok(Block::trusted(cid, data.clone())),
            None => Err(IpfsError::MissingBlock(Box::new(cid))),
        };
        std::future::ready(result)
    }
}

/// Runs a future of this crate to its end on the calling thread.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// A seed input of the `unixfs` target: `data` imported in chunks of `chunk` bytes, its
/// blocks written (a 2-byte little-endian length, then the block) in the order an export
/// asks for them, the root first, after a 0 byte (a dag-pb root).
pub fn unixfs_seed(data: &[u8], chunk: usize) -> Result<Vec<u8>, IpfsError> {
    let (root, blocks) = crate::unixfs::import(Bytes::copy_from_slice(data), chunk)?;
    let store = crate::MemoryBlockstore::new();
    for block in &blocks {
        store.put(block)?;
    }
    let source = Logged {
        store,
        order: std::sync::Mutex::new(Vec::new()),
    };
    block_on(crate::unixfs::export(&source, root, u64::MAX))?;
    let order = source.order.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut seed = vec![u8::from(root.codec() == crate::RAW_CODEC)];
    for data in order {
        let Ok(len) = u16::try_from(data.len()) else {
            return Err(IpfsError::InvalidChunkSize(data.len()));
        };
        seed.extend_from_slice(&len.to_le_bytes());
        seed.extend_from_slice(&data);
    }
    Ok(seed)
}

struct Logged {
    store: crate::MemoryBlockstore,
    order: std::sync::Mutex<Vec<Bytes>>,
}

impl BlockSource for Logged {
    type Error = IpfsError;

    fn fetch(
        &self,
        cid: Cid,
    ) -> impl std::future::Future<Output = Result<Block, IpfsError>> + Send {
        let result = match self.store.get(&cid) {
            Ok(Some(data)) => {
                self.order
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(data.clone());
                Ok(Block::trusted(cid, data))
            }
            Ok(None) => Err(IpfsError::MissingBlock(Box::new(cid))),
            Err(e) => Err(e.into()),
        };
        std::future::ready(result)
    }
}
