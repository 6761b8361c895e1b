//! UnixFS files: import bytes into a DAG of blocks, and read a DAG back into bytes.
//!
//! A file that fits one chunk is a single raw block. A larger file is a balanced DAG: raw
//! leaves (CIDv1, raw codec, blake3) under dag-pb nodes (CIDv1, dag-pb codec, blake3) of
//! at most [`MAX_LINKS`] links, each carrying UnixFS `Data { Type: File, filesize,
//! blocksizes }`. The reader also accepts other importers' files (sha2-256, CIDv0,
//! inline data, `Raw` leaves).

mod export;
mod import;
mod pb;

use bytes::Bytes;
use cid::Cid;
use prost::Message as _;

pub(crate) use export::export_with_window;
pub use export::{export, BlockSource};
pub use import::import;

use crate::IpfsError;
use pb::{data_type, PbNode, UnixfsData};

/// Default chunk size of [`import`]: 1 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 1024 * 1024;

/// Most links in one dag-pb node (the width go-ipfs and js-ipfs use).
pub const MAX_LINKS: usize = 174;

/// A dag-pb node of a UnixFS file, checked for shape.
#[derive(Debug)]
pub(crate) struct FileNode {
    /// File bytes held in the node itself, before the children's.
    pub(crate) data: Bytes,
    /// Each child and the number of file bytes under it.
    pub(crate) children: Vec<(Cid, u64)>,
    /// File bytes under this node: `data.len()` plus the children's.
    pub(crate) filesize: u64,
}

/// Decodes a dag-pb block as a UnixFS file node and checks its shape: a `File` (or legacy
/// `Raw`) type, as many blocksizes as links, non-empty unnamed links with valid CIDs, and
/// a `filesize` equal to its inline data plus its blocksizes.
pub(crate) fn parse_file_node(cid: &Cid, block: &Bytes) -> Result<FileNode, IpfsError> {
    let malformed = |reason: String| IpfsError::Malformed {
        cid: Box::new(*cid),
        reason,
    };
    let node =
        PbNode::decode(block.clone()).map_err(|e| malformed(format!("not a dag-pb node: {e}")))?;
    let data = node
        .data
        .ok_or_else(|| malformed("no UnixFS data".into()))?;
    let unixfs =
        UnixfsData::decode(data).map_err(|e| malformed(format!("bad UnixFS data: {e}")))?;
    let kind = unixfs
        .r#type
        .ok_or_else(|| malformed("UnixFS Type is missing".into()))?;
    if kind != data_type::FILE && kind != data_type::RAW {
        return Err(malformed(format!(
            "a UnixFS {} node, not a file",
            data_type::name(kind)
        )));
    }
    if unixfs.blocksizes.len() != node.links.len() {
        return Err(malformed(format!(
            "{} links but {} blocksizes",
            node.links.len(),
            unixfs.blocksizes.len()
        )));
    }
    let inline = unixfs.data.unwrap_or_default();
    let mut total = inline.len() as u64;
    let mut children = Vec::with_capacity(node.links.len());
    for (i, (link, &size)) in node.links.iter().zip(&unixfs.blocksizes).enumerate() {
        let hash = link
            .hash
            .as_ref()
            .ok_or_else(|| malformed(format!("link {i} has no hash")))?;
        let child = Cid::try_from(hash.as_ref())
            .map_err(|e| malformed(format!("link {i} has an invalid CID: {e}")))?;
        if link.name.as_deref().is_some_and(|name| !name.is_empty()) {
            return Err(malformed(format!("link {i} of a file node has a name")));
        }
        if size == 0 {
            return Err(malformed(format!("link {i} declares an empty chunk")));
        }
        total = total
            .checked_add(size)
            .ok_or_else(|| malformed("blocksizes overflow".into()))?;
        children.push((child, size));
    }
    let filesize = unixfs.filesize.unwrap_or(0);
    if filesize != total {
        return Err(malformed(format!(
            "filesize {filesize} but data and blocksizes sum to {total}"
        )));
    }
    Ok(FileNode {
        data: inline,
        children,
        filesize,
    })
}

#[cfg(test)]
mod tests;
