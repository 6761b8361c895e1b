//! A UnixFS DAG back into bytes, fetching many blocks at once.

use std::{collections::VecDeque, future::Future};

use bytes::Bytes;
use cid::Cid;
use futures::{stream::FuturesUnordered, StreamExt as _};

use super::{parse_file_node, FileNode};
use crate::{Block, Blockstore, IpfsError, DAG_PB_CODEC, RAW_CODEC};

/// Blocks fetched at once by [`export`].
const DEFAULT_WINDOW: usize = 32;

/// Deepest DAG [`export`] walks (a balanced 174-wide DAG of 2 MiB leaves needs 6 levels
/// for 2^64 bytes).
const MAX_DEPTH: u32 = 32;

/// Where [`export`] gets blocks: a local store, or the network.
pub trait BlockSource: Sync {
    /// What a failed fetch reports; the DAG's own faults convert into it.
    type Error: From<IpfsError> + Send;

    /// The block named `cid`, checked against it (or read from a trusted store).
    fn fetch(&self, cid: Cid) -> impl Future<Output = Result<Block, Self::Error>> + Send;
}

impl<T: Blockstore + ?Sized> BlockSource for T {
    type Error = IpfsError;

    fn fetch(&self, cid: Cid) -> impl Future<Output = Result<Block, IpfsError>> + Send {
        let result = match self.get(&cid) {
            Ok(Some(data)) => Ok(Block::trusted(cid, data)),
            Ok(None) => Err(IpfsError::MissingBlock(Box::new(cid))),
            Err(e) => Err(e.into()),
        };
        std::future::ready(result)
    }
}

/// Reads the UnixFS file `root` from `source`, checking its structure: block types,
/// blocksizes against the children, the total against `limit` (bytes) before anything is
/// allocated. A malformed node is an error.
///
/// Up to 32 blocks are fetched at once; each lands at its offset in the output, so the
/// order they arrive in does not matter.
pub async fn export<S>(source: &S, root: Cid, limit: u64) -> Result<Bytes, S::Error>
where
    S: BlockSource + ?Sized,
{
    export_with_window(source, root, limit, DEFAULT_WINDOW).await
}

/// A block still to fetch, and where its bytes go.
#[derive(Debug, Clone, Copy)]
struct Pending {
    cid: Cid,
    offset: u64,
    size: u64,
    depth: u32,
}

/// [`export`] with `window` blocks in flight.
pub(crate) async fn export_with_window<S>(
    source: &S,
    root: Cid,
    limit: u64,
    window: usize,
) -> Result<Bytes, S::Error>
where
    S: BlockSource + ?Sized,
{
    let block = source.fetch(root).await?;
    let node = match root.codec() {
        RAW_CODEC => {
            let size = block.data().len() as u64;
            if size > limit {
                return Err(IpfsError::FileTooLarge { size, limit }.into());
            }
            return Ok(block.into_data());
        }
        DAG_PB_CODEC => parse_file_node(&root, block.data())?,
        codec => {
            return Err(IpfsError::UnsupportedCodec {
                cid: Box::new(root),
                codec,
            }
            .into())
        }
    };
    let too_large = IpfsError::FileTooLarge {
        size: node.filesize,
        limit,
    };
    if node.filesize > limit {
        return Err(too_large.into());
    }
    if node.children.is_empty() {
        return Ok(node.data);
    }
    let size = usize::try_from(node.filesize).map_err(|_| too_large)?;
    let mut out = vec![0u8; size];
    let mut pending = VecDeque::new();
    place(&mut out, &mut pending, &root, node, 0, 0)?;

    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < window.max(1) {
            let Some(next) = pending.pop_front() else {
                break;
            };
            in_flight.push(async move { (next, source.fetch(next.cid).await) });
        }
        let Some((item, fetched)) = in_flight.next().await else {
            break;
        };
        let block = fetched?;
        let cid = item.cid;
        match cid.codec() {
            RAW_CODEC => {
                let data = block.data();
                if data.len() as u64 != item.size {
                    return Err(malformed(
                        &cid,
                        format!(
                            "raw leaf of {} bytes where its parent declares {}",
                            data.len(),
                            item.size
                        ),
                    )
                    .into());
                }
                write_at(&mut out, &cid, item.offset, data)?;
            }
            DAG_PB_CODEC => {
                let node = parse_file_node(&cid, block.data())?;
                if node.filesize != item.size {
                    return Err(malformed(
                        &cid,
                        format!(
                            "node of {} bytes where its parent declares {}",
                            node.filesize, item.size
                        ),
                    )
                    .into());
                }
                place(&mut out, &mut pending, &cid, node, item.offset, item.depth)?;
            }
            codec => {
                return Err(IpfsError::UnsupportedCodec {
                    cid: Box::new(cid),
                    codec,
                }
                .into())
            }
        }
    }
    Ok(Bytes::from(out))
}

/// Writes a node's inline data at `offset` and queues its children (first child first,
/// ahead of what was queued before, so the queue stays short).
fn place(
    out: &mut [u8],
    pending: &mut VecDeque<Pending>,
    cid: &Cid,
    node: FileNode,
    offset: u64,
    depth: u32,
) -> Result<(), IpfsError> {
    if !node.children.is_empty() && depth >= MAX_DEPTH {
        return Err(malformed(
            cid,
            format!("DAG deeper than {MAX_DEPTH} levels"),
        ));
    }
    write_at(out, cid, offset, &node.data)?;
    // Sums were checked against the node's filesize, which fits in `out`.
    let mut child_offset = offset.saturating_add(node.data.len() as u64);
    let mut children = Vec::with_capacity(node.children.len());
    for (child, size) in node.children {
        children.push(Pending {
            cid: child,
            offset: child_offset,
            size,
            depth: depth + 1,
        });
        child_offset = child_offset.saturating_add(size);
    }
    for child in children.into_iter().rev() {
        pending.push_front(child);
    }
    Ok(())
}

fn write_at(out: &mut [u8], cid: &Cid, offset: u64, data: &[u8]) -> Result<(), IpfsError> {
    let range = usize::try_from(offset)
        .ok()
        .and_then(|start| Some(start..start.checked_add(data.len())?));
    match range.and_then(|range| out.get_mut(range)) {
        Some(slot) => {
            slot.copy_from_slice(data);
            Ok(())
        }
        None => Err(malformed(cid, "data past the end of the file".into())),
    }
}

fn malformed(cid: &Cid, reason: String) -> IpfsError {
    IpfsError::Malformed {
        cid: Box::new(*cid),
        reason,
    }
}
