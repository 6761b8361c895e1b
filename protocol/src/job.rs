//! Jobs and shards: what a creator asks for and how checkers split it (frame × tile).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::content::ContentId;
use crate::identity::PublicKey;

/// Bounds a valid job respects.
pub mod limits {
    /// Largest width or height, in pixels.
    pub const MAX_DIMENSION: u32 = 16_384;
    /// Largest samples per pixel.
    pub const MAX_SAMPLES: u32 = 65_536;
    /// Smallest tile edge.
    pub const MIN_TILE: u32 = 16;
    /// Largest tile edge: a tile's output block (RGB8 rows and a 16-byte header) must fit
    /// one Bitswap block of 2 MiB, so any IPFS peer can fetch it (832² × 3 + 16 bytes).
    pub const MAX_TILE: u32 = 832;
    /// Most frames in one job.
    pub const MAX_FRAMES: u32 = 100_000;
    /// Most shards in one job.
    pub const MAX_SHARDS: u64 = 1_000_000;
    /// Longest scene name, in bytes.
    pub const MAX_SCENE_NAME: usize = 256;
}

/// Why a job is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// A numeric field is out of range.
    #[error("{field} = {value} is out of range {min}..={max}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A text field is too long.
    #[error("{field} is {len} bytes, longer than {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A frame range that is not `first[-last]` with `1 <= first <= last`.
    #[error("invalid frame range {0:?}: expected N or FIRST-LAST with 1 <= FIRST <= LAST")]
    InvalidFrames(String),
}

/// The renderer a job needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Our deterministic CPU path tracer (bit-exact verification).
    Builtin,
    /// Blender with Cycles, as a subprocess (perceptual verification).
    Blender,
    /// Blender with EEVEE, as a subprocess (perceptual verification).
    #[serde(rename = "blender-eevee")]
    BlenderEevee,
}

impl Engine {
    /// Whether outputs are bit-exact across machines (verified pixel by pixel) rather than
    /// compared perceptually.
    pub fn is_bit_exact(&self) -> bool {
        matches!(self, Engine::Builtin)
    }

    /// Whether the engine is Blender (either render engine).
    pub fn is_blender(&self) -> bool {
        matches!(self, Engine::Blender | Engine::BlenderEevee)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Builtin => "builtin",
            Engine::Blender => "blender",
            Engine::BlenderEevee => "blender-eevee",
        })
    }
}

impl FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "builtin" => Ok(Engine::Builtin),
            "blender" | "blender-cycles" => Ok(Engine::Blender),
            "blender-eevee" => Ok(Engine::BlenderEevee),
            other => Err(format!(
                "unknown engine {other:?} (builtin, blender, blender-eevee)"
            )),
        }
    }
}

/// An inclusive range of frames, `first..=last`, `1 <= first <= last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameRange {
    /// First frame (1-based).
    pub first: u32,
    /// Last frame, inclusive.
    pub last: u32,
}

impl FrameRange {
    /// A checked range.
    pub fn new(first: u32, last: u32) -> Result<FrameRange, JobError> {
        let r = FrameRange { first, last };
        if r.is_valid() {
            Ok(r)
        } else {
            Err(JobError::InvalidFrames(format!("{first}-{last}")))
        }
    }

    /// Whether `1 <= first <= last`.
    pub fn is_valid(&self) -> bool {
        self.first >= 1 && self.first <= self.last
    }

    /// Number of frames (0 for an invalid range).
    pub fn len(&self) -> u32 {
        if self.is_valid() {
            self.last - self.first + 1
        } else {
            0
        }
    }

    /// True for an invalid range (a valid one holds at least one frame).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frames, in order (nothing for an invalid range).
    pub fn iter(&self) -> std::ops::RangeInclusive<u32> {
        if self.is_valid() {
            self.first..=self.last
        } else {
            // Empty.
            std::ops::RangeInclusive::new(1, 0)
        }
    }

    /// Whether `frame` is in the range.
    pub fn contains(&self, frame: u32) -> bool {
        self.is_valid() && (self.first..=self.last).contains(&frame)
    }
}

impl IntoIterator for FrameRange {
    type Item = u32;
    type IntoIter = std::ops::RangeInclusive<u32>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Display for FrameRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl FromStr for FrameRange {
    type Err = JobError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || JobError::InvalidFrames(s.chars().take(40).collect());
        let parse = |t: &str| t.trim().parse::<u32>().map_err(|_| bad());
        let (first, last) = match s.split_once('-') {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let n = parse(s)?;
                (n, n)
            }
        };
        FrameRange::new(first, last).map_err(|_| bad())
    }
}

/// The id of a job: blake3 of its canonical CBOR.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobId(#[serde(with = "serde_bytes")] pub [u8; 32]);

impl JobId {
    /// The first 8 hex characters.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({})", self.short())
    }
}

impl FromStr for JobId {
    type Err = hex::FromHexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(JobId(out))
    }
}

/// One unit of work: a tile of a frame of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardId {
    /// The job.
    pub job: JobId,
    /// The frame number.
    pub frame: u32,
    /// The tile index within the frame (row-major).
    pub tile: u32,
}

impl ShardId {
    /// Stable bytes for hashing: `job || frame LE || tile LE`.
    pub fn to_key(&self) -> [u8; 40] {
        let mut k = [0u8; 40];
        k[..32].copy_from_slice(&self.job.0);
        k[32..36].copy_from_slice(&self.frame.to_le_bytes());
        k[36..].copy_from_slice(&self.tile.to_le_bytes());
        k
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/f{:04}/t{:04}",
            self.job.short(),
            self.frame,
            self.tile
        )
    }
}

/// A tile's rectangle in frame pixels (origin top-left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileRect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (edge tiles are clipped).
    pub w: u32,
    /// Height (edge tiles are clipped).
    pub h: u32,
}

/// A render job as signed by its creator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Who pays; signs the job.
    pub creator: PublicKey,
    /// The scene block.
    pub scene: ContentId,
    /// The scene's file name (e.g. `scene.gltf`), for engines that need one.
    pub scene_name: String,
    /// The renderer.
    pub engine: Engine,
    /// Frames to render.
    pub frames: FrameRange,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Samples per pixel.
    pub samples: u32,
    /// Tile edge in pixels.
    pub tile: u32,
    /// The highest worker price the creator accepts, in credits per benchmark-normalised
    /// render-second (a worker's capability record states its price in the same unit;
    /// [`crate::credits::worker_within_cap`]); 0: no cap.
    pub price_cap: u64,
    /// Makes otherwise equal jobs distinct.
    pub nonce: u64,
    /// The epoch whose checker set draws the job's committee (the creator's current one;
    /// 0, the genesis set's, is left out of the encoding).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), JobError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(JobError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

impl JobSpec {
    /// blake3 of the canonical CBOR.
    pub fn id(&self) -> JobId {
        JobId(*blake3::hash(&codec::encode(self)).as_bytes())
    }

    /// Checks every bound; errors name the field and the bound.
    pub fn validate(&self) -> Result<(), JobError> {
        use limits::*;
        range("width", self.width.into(), 1, MAX_DIMENSION.into())?;
        range("height", self.height.into(), 1, MAX_DIMENSION.into())?;
        range("samples", self.samples.into(), 1, MAX_SAMPLES.into())?;
        range("tile", self.tile.into(), MIN_TILE.into(), MAX_TILE.into())?;
        if !self.frames.is_valid() {
            return Err(JobError::InvalidFrames(format!(
                "{}-{}",
                self.frames.first, self.frames.last
            )));
        }
        range("frames", self.frames.len().into(), 1, MAX_FRAMES.into())?;
        range("shards", self.shard_count(), 1, MAX_SHARDS)?;
        if self.scene_name.len() > MAX_SCENE_NAME {
            return Err(JobError::TooLong {
                field: "scene_name",
                len: self.scene_name.len(),
                max: MAX_SCENE_NAME,
            });
        }
        Ok(())
    }

    /// Tiles across (0 if `tile` is 0).
    pub fn tiles_x(&self) -> u32 {
        self.width.checked_div_ceil_or_zero(self.tile)
    }

    /// Tiles down (0 if `tile` is 0).
    pub fn tiles_y(&self) -> u32 {
        self.height.checked_div_ceil_or_zero(self.tile)
    }

    /// Tiles in one frame.
    pub fn tiles_per_frame(&self) -> u32 {
        self.tiles_x().saturating_mul(self.tiles_y())
    }

    /// The rectangle of tile `tile` (row-major; edge tiles clipped), or None if out of range.
    pub fn tile_rect(&self, tile: u32) -> Option<TileRect> {
        let tx = self.tiles_x();
        if tile >= self.tiles_per_frame() || tx == 0 {
            return None;
        }
        let x = (tile % tx).checked_mul(self.tile)?;
        let y = (tile / tx).checked_mul(self.tile)?;
        Some(TileRect {
            x,
            y,
            w: self.tile.min(self.width - x),
            h: self.tile.min(self.height - y),
        })
    }

    /// Total shards (frames × tiles per frame).
    pub fn shard_count(&self) -> u64 {
        u64::from(self.frames.len()) * u64::from(self.tiles_per_frame())
    }

    /// Every shard, frame-major then tile. Empty if the job has more than
    /// [`limits::MAX_SHARDS`] shards (validate first).
    pub fn shards(&self) -> Vec<ShardId> {
        if self.shard_count() > limits::MAX_SHARDS {
            return Vec::new();
        }
        let job = self.id();
        let tiles = self.tiles_per_frame();
        self.frames
            .iter()
            .flat_map(|frame| (0..tiles).map(move |tile| ShardId { job, frame, tile }))
            .collect()
    }

    /// Whether `shard` belongs to this job.
    pub fn contains(&self, shard: &ShardId) -> bool {
        shard.job == self.id()
            && self.frames.contains(shard.frame)
            && shard.tile < self.tiles_per_frame()
    }
}

trait DivCeil {
    fn checked_div_ceil_or_zero(self, d: Self) -> Self;
}

impl DivCeil for u32 {
    fn checked_div_ceil_or_zero(self, d: u32) -> u32 {
        if d == 0 {
            0
        } else {
            self.div_ceil(d)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
