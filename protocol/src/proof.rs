//! Tile output blocks and bao row proofs: a checker verifies just the pixel rows it samples
//! against the block's content id (whose blake3 digest is the bao root).

use std::io::{Cursor, Read};
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::content::ContentId;

/// Magic at the start of a tile block.
pub const TILE_MAGIC: [u8; 4] = *b"PXT1";
/// Header length of a tile block.
pub const TILE_HEADER_LEN: u64 = 16;
/// Pixel format 1: RGB, 8 bits per channel.
pub const FORMAT_RGB8: u32 = 1;
/// Most rows one proof may carry.
pub const MAX_PROOF_ROWS: usize = 4096;
/// Largest tile edge a block may have.
pub const MAX_TILE_EDGE: u32 = 16_384;

/// Why a block or a proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The block header is not `PXT1`, sane dimensions, RGB8.
    #[error("bad tile header: {0}")]
    BadHeader(String),
    /// The block length does not match its header.
    #[error("tile block is {actual} bytes, expected {expected}")]
    BadLength {
        /// From the header.
        expected: u64,
        /// Actual length.
        actual: u64,
    },
    /// The pixel buffer does not match width × height × 3.
    #[error("pixel buffer is {actual} bytes, expected {expected}")]
    BadPixels {
        /// width × height × 3.
        expected: u64,
        /// Actual length.
        actual: u64,
    },
    /// A stored outboard does not have the length the block's hash tree has.
    #[error("outboard is {actual} bytes, the block's hash tree is {expected}")]
    BadOutboard {
        /// For the block's length.
        expected: u64,
        /// Actual length.
        actual: u64,
    },
    /// A requested row is outside the tile.
    #[error("row {row} out of range (height {height})")]
    RowOutOfRange {
        /// The row.
        row: u32,
        /// Tile height.
        height: u32,
    },
    /// More rows than a proof may carry.
    #[error("{count} rows requested, at most {max}")]
    TooManyRows {
        /// Requested.
        count: usize,
        /// Bound.
        max: usize,
    },
    /// The proof does not cover exactly the requested rows, in order.
    #[error("proof covers rows {got:?}, expected {expected:?}")]
    WrongRows {
        /// Requested rows.
        expected: Vec<u32>,
        /// Rows in the proof.
        got: Vec<u32>,
    },
    /// A slice did not verify against the root (tampered, truncated or wrong root).
    #[error("slice for {what} does not verify: {reason}")]
    BadSlice {
        /// `header` or `row N`.
        what: String,
        /// The decoder's reason.
        reason: String,
    },
    /// The verified header does not describe the expected tile.
    #[error("verified header says {width}x{height} format {format}, expected {expected_width}x{expected_height} RGB8")]
    HeaderMismatch {
        /// Proven width.
        width: u32,
        /// Proven height.
        height: u32,
        /// Proven format.
        format: u32,
        /// Expected width.
        expected_width: u32,
        /// Expected height.
        expected_height: u32,
    },
}

/// A tile's pixels, RGB8, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

fn header(width: u32, height: u32, format: u32) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&TILE_MAGIC);
    h[4..8].copy_from_slice(&width.to_le_bytes());
    h[8..12].copy_from_slice(&height.to_le_bytes());
    h[12..].copy_from_slice(&format.to_le_bytes());
    h
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Parses a block header: (width, height, format), dimensions checked.
fn parse_header(h: &[u8]) -> Result<(u32, u32, u32), ProofError> {
    if h.len() < TILE_HEADER_LEN as usize {
        return Err(ProofError::BadHeader(format!("{} bytes", h.len())));
    }
    if h[..4] != TILE_MAGIC {
        return Err(ProofError::BadHeader("magic is not PXT1".into()));
    }
    let (w, hh, f) = (le_u32(&h[4..8]), le_u32(&h[8..12]), le_u32(&h[12..16]));
    if f != FORMAT_RGB8 {
        return Err(ProofError::BadHeader(format!("format {f} is not RGB8 (1)")));
    }
    if !(1..=MAX_TILE_EDGE).contains(&w) || !(1..=MAX_TILE_EDGE).contains(&hh) {
        return Err(ProofError::BadHeader(format!("dimensions {w}x{hh}")));
    }
    Ok((w, hh, f))
}

/// The byte length of a tile block (saturating: no block is that long).
pub fn block_len(width: u32, height: u32) -> u64 {
    (u64::from(width) * u64::from(height))
        .saturating_mul(3)
        .saturating_add(TILE_HEADER_LEN)
}

/// The byte range of `row` in a tile block of this width.
pub fn row_range(width: u32, row: u32) -> Range<u64> {
    let len = u64::from(width) * 3;
    let start = TILE_HEADER_LEN.saturating_add(u64::from(row).saturating_mul(len));
    start..start.saturating_add(len)
}

impl TileImage {
    /// Checks the pixel buffer length.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<TileImage, ProofError> {
        let expected = u64::from(width) * u64::from(height) * 3;
        if pixels.len() as u64 != expected {
            return Err(ProofError::BadPixels {
                expected,
                actual: pixels.len() as u64,
            });
        }
        Ok(TileImage {
            width,
            height,
            pixels,
        })
    }

    /// The block: 16-byte header, then the rows.
    pub fn to_block(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.pixels.len());
        out.extend_from_slice(&header(self.width, self.height, FORMAT_RGB8));
        out.extend_from_slice(&self.pixels);
        out
    }

    /// The block's content id (also the bao root).
    pub fn content_id(&self) -> ContentId {
        ContentId::of(&self.to_block())
    }

    /// Parses a block; the length must match the header exactly.
    pub fn from_block(block: &[u8]) -> Result<TileImage, ProofError> {
        let (width, height, _) = parse_header(block)?;
        let expected = block_len(width, height);
        if block.len() as u64 != expected {
            return Err(ProofError::BadLength {
                expected,
                actual: block.len() as u64,
            });
        }
        Ok(TileImage {
            width,
            height,
            pixels: block[TILE_HEADER_LEN as usize..].to_vec(),
        })
    }

    /// RGB of pixel (x, y), if in range.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        let p = self.pixels.get(i..i + 3)?;
        Some([p[0], p[1], p[2]])
    }
}

/// A verified slice of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowProof {
    /// The row.
    pub row: u32,
    /// A bao slice of the row's byte range.
    #[serde(with = "serde_bytes")]
    pub slice: Vec<u8>,
}

/// Proof of some rows of a tile block against its content id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowsProof {
    /// A bao slice of bytes 0..16 (the header).
    #[serde(with = "serde_bytes")]
    pub header: Vec<u8>,
    /// One slice per requested row, in request order.
    pub rows: Vec<RowProof>,
}

fn extract(block: &[u8], outboard: &[u8], range: Range<u64>) -> Result<Vec<u8>, ProofError> {
    let mut ex = bao::encode::SliceExtractor::new_outboard(
        Cursor::new(block),
        Cursor::new(outboard),
        range.start,
        range.end - range.start,
    );
    let mut out = Vec::new();
    ex.read_to_end(&mut out).map_err(|e| ProofError::BadSlice {
        what: format!("bytes {range:?}"),
        reason: e.to_string(),
    })?;
    Ok(out)
}

/// Checks that `block` is a whole tile block `width` wide and that `rows` may be proven
/// from it: the cheap checks, made before any hashing.
fn check_rows(block: &[u8], width: u32, rows: &[u32]) -> Result<(), ProofError> {
    let (w, h, _) = parse_header(block)?;
    if w != width {
        return Err(ProofError::BadHeader(format!(
            "width {w}, expected {width}"
        )));
    }
    let expected = block_len(w, h);
    if block.len() as u64 != expected {
        return Err(ProofError::BadLength {
            expected,
            actual: block.len() as u64,
        });
    }
    if rows.len() > MAX_PROOF_ROWS {
        return Err(ProofError::TooManyRows {
            count: rows.len(),
            max: MAX_PROOF_ROWS,
        });
    }
    if let Some(&row) = rows.iter().find(|&&r| r >= h) {
        return Err(ProofError::RowOutOfRange { row, height: h });
    }
    Ok(())
}

/// The bao outboard of a tile block (its hash tree without the content): what
/// [`prove_rows_with`] cuts proofs from. A node computes it once, when it stores the block,
/// instead of on every request. The block must be a whole tile block.
pub fn tile_outboard(block: &[u8]) -> Result<Vec<u8>, ProofError> {
    let (w, h, _) = parse_header(block)?;
    let expected = block_len(w, h);
    if block.len() as u64 != expected {
        return Err(ProofError::BadLength {
            expected,
            actual: block.len() as u64,
        });
    }
    Ok(bao::encode::outboard(block).0)
}

/// Proves `rows` of a tile block (of width `width`), computing its outboard.
pub fn prove_rows(block: &[u8], width: u32, rows: &[u32]) -> Result<RowsProof, ProofError> {
    check_rows(block, width, rows)?;
    let (outboard, _) = bao::encode::outboard(block);
    prove_rows_with(block, &outboard, width, rows)
}

/// Proves `rows` of a tile block (of width `width`) from its stored outboard
/// ([`tile_outboard`]); the same proof as [`prove_rows`] makes, without hashing the block.
/// An outboard of the wrong length is refused; one with the right length but wrong
/// hashes makes a proof that [`verify_rows`] rejects.
pub fn prove_rows_with(
    block: &[u8],
    outboard: &[u8],
    width: u32,
    rows: &[u32],
) -> Result<RowsProof, ProofError> {
    check_rows(block, width, rows)?;
    let expected = bao::encode::outboard_size(block.len() as u64);
    if outboard.len() as u128 != expected {
        return Err(ProofError::BadOutboard {
            expected: expected as u64,
            actual: outboard.len() as u64,
        });
    }
    let header = extract(block, outboard, 0..TILE_HEADER_LEN)?;
    let rows = rows
        .iter()
        .map(|&row| {
            Ok(RowProof {
                row,
                slice: extract(block, outboard, row_range(width, row))?,
            })
        })
        .collect::<Result<Vec<_>, ProofError>>()?;
    Ok(RowsProof { header, rows })
}

/// Decodes one slice against the root; the slice must yield exactly `range` and be fully used.
///
/// bao authenticates the content bytes but not the slice's 8-byte length prefix when the
/// slice does not reach the last chunk, so the prefix must equal the known block length.
fn decode_slice(
    root: &bao::Hash,
    slice: &[u8],
    total_len: u64,
    range: Range<u64>,
    what: impl Fn() -> String,
) -> Result<Vec<u8>, ProofError> {
    let want = range.end - range.start;
    let bad = |reason: String| ProofError::BadSlice {
        what: what(),
        reason,
    };
    let prefix = slice.get(..8).map(le_u64);
    if prefix != Some(total_len) {
        return Err(bad(format!(
            "length prefix {prefix:?}, block is {total_len} bytes"
        )));
    }
    let mut dec = bao::decode::SliceDecoder::new(slice, root, range.start, want);
    let mut out = Vec::new();
    // Reads at most `want` bytes of content; bounded by the slice's own length.
    (&mut dec)
        .take(want)
        .read_to_end(&mut out)
        .map_err(|e| bad(e.to_string()))?;
    if out.len() as u64 != want {
        return Err(bad(format!("yielded {} bytes, expected {want}", out.len())));
    }
    if !dec.into_inner().is_empty() {
        return Err(bad("trailing bytes".into()));
    }
    Ok(out)
}

/// Verifies a rows proof against `root` and returns each requested row's RGB8 bytes.
pub fn verify_rows(
    root: &ContentId,
    expected_width: u32,
    expected_height: u32,
    rows: &[u32],
    proof: &RowsProof,
) -> Result<Vec<(u32, Vec<u8>)>, ProofError> {
    if rows.len() > MAX_PROOF_ROWS || proof.rows.len() > MAX_PROOF_ROWS {
        return Err(ProofError::TooManyRows {
            count: rows.len().max(proof.rows.len()),
            max: MAX_PROOF_ROWS,
        });
    }
    if let Some(&row) = rows.iter().find(|&&r| r >= expected_height) {
        return Err(ProofError::RowOutOfRange {
            row,
            height: expected_height,
        });
    }
    let got: Vec<u32> = proof.rows.iter().map(|r| r.row).collect();
    if got != rows {
        return Err(ProofError::WrongRows {
            expected: rows.to_vec(),
            got,
        });
    }
    let hash = bao::Hash::from(root.digest());
    let total = block_len(expected_width, expected_height);
    let h = decode_slice(&hash, &proof.header, total, 0..TILE_HEADER_LEN, || {
        "header".into()
    })?;
    let (w, hh, f) = parse_header(&h)?;
    if (w, hh, f) != (expected_width, expected_height, FORMAT_RGB8) {
        return Err(ProofError::HeaderMismatch {
            width: w,
            height: hh,
            format: f,
            expected_width,
            expected_height,
        });
    }
    proof
        .rows
        .iter()
        .map(|rp| {
            let bytes = decode_slice(&hash, &rp.slice, total, row_range(w, rp.row), || {
                format!("row {}", rp.row)
            })?;
            Ok((rp.row, bytes))
        })
        .collect()
}

#[cfg(test)]
mod tests;
