//! Bytes into a balanced UnixFS DAG.

use std::collections::HashSet;

use bytes::Bytes;
use cid::Cid;
use prost::Message as _;

use super::{
    pb::{data_type, PbLink, PbNode, UnixfsData},
    MAX_LINKS,
};
use crate::{Block, IpfsError, DAG_PB_CODEC, MAX_BLOCK_SIZE};

/// A finished subtree: its root, the file bytes under it and its cumulative encoded size.
struct Subtree {
    cid: Cid,
    filesize: u64,
    tsize: u64,
}

/// Imports `data` as a UnixFS file cut in `chunk_size` chunks (`1..=MAX_BLOCK_SIZE`; see
/// [`DEFAULT_CHUNK_SIZE`](super::DEFAULT_CHUNK_SIZE)).
///
/// Returns the root CID and every block of the DAG, each once (leaves are slices of
/// `data`, not copies). A file of at most one chunk is a single raw block whose CID is the
/// root.
pub fn import(data: Bytes, chunk_size: usize) -> Result<(Cid, Vec<Block>), IpfsError> {
    if chunk_size == 0 || chunk_size > MAX_BLOCK_SIZE {
        return Err(IpfsError::InvalidChunkSize(chunk_size));
    }
    if data.len() <= chunk_size {
        let block = Block::raw(data)?;
        return Ok((*block.cid(), vec![block]));
    }
    let mut blocks = Vec::new();
    let mut seen = HashSet::new();
    let mut level = Vec::with_capacity(data.len().div_ceil(chunk_size));
    let mut offset = 0;
    while offset < data.len() {
        let end = data.len().min(offset + chunk_size);
        let block = Block::raw(data.slice(offset..end))?;
        level.push(Subtree {
            cid: *block.cid(),
            filesize: (end - offset) as u64,
            tsize: (end - offset) as u64,
        });
        if seen.insert(*block.cid()) {
            blocks.push(block);
        }
        offset = end;
    }
    while level.len() > 1 {
        let mut parents = Vec::with_capacity(level.len().div_ceil(MAX_LINKS));
        for group in level.chunks(MAX_LINKS) {
            let (block, subtree) = file_node(group)?;
            if seen.insert(*block.cid()) {
                blocks.push(block);
            }
            parents.push(subtree);
        }
        level = parents;
    }
    let root = level
        .first()
        .map(|s| s.cid)
        .ok_or(IpfsError::InvalidChunkSize(chunk_size))?;
    Ok((root, blocks))
}

/// The dag-pb node over `children`.
fn file_node(children: &[Subtree]) -> Result<(Block, Subtree), IpfsError> {
    let filesize = children.iter().map(|c| c.filesize).sum();
    let unixfs = UnixfsData {
        r#type: Some(data_type::FILE),
        data: None,
        filesize: Some(filesize),
        blocksizes: children.iter().map(|c| c.filesize).collect(),
    };
    let node = PbNode {
        links: children
            .iter()
            .map(|c| PbLink {
                hash: Some(c.cid.to_bytes().into()),
                name: None,
                tsize: Some(c.tsize),
            })
            .collect(),
        data: Some(unixfs.encode_to_vec().into()),
    };
    let bytes = node.encode_canonical();
    let tsize = bytes.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
    let block = Block::blake3(DAG_PB_CODEC, bytes)?;
    let subtree = Subtree {
        cid: *block.cid(),
        filesize,
        tsize,
    };
    Ok((block, subtree))
}
