//! Frame buffers: certified tiles placed into their frames until a frame is whole.

use std::collections::{BTreeMap, BTreeSet};

use pictor_protocol::{JobSpec, ShardId, TileImage};

#[derive(Debug)]
struct Buffer {
    rgb: Vec<u8>,
    tiles: BTreeSet<u32>,
}

/// The frames of one job being assembled.
#[derive(Debug)]
pub(super) struct Frames {
    tiles_per_frame: u32,
    buffers: BTreeMap<u32, Buffer>,
    stored: BTreeSet<u32>,
    /// Whole frames the disk had no room for: their pixels, and when to try again.
    waiting: BTreeMap<u32, (Vec<u8>, u64)>,
}

impl Frames {
    /// Frames of `spec`, those in `stored` already done.
    pub(super) fn new<V>(spec: &JobSpec, stored: &BTreeMap<u32, V>) -> Frames {
        Frames {
            tiles_per_frame: spec.tiles_per_frame(),
            buffers: BTreeMap::new(),
            stored: stored.keys().copied().collect(),
            waiting: BTreeMap::new(),
        }
    }

    /// Whether `frame` is stored.
    pub(super) fn is_stored(&self, frame: u32) -> bool {
        self.stored.contains(&frame)
    }

    /// Marks `frame` stored.
    pub(super) fn stored(&mut self, frame: u32) {
        self.stored.insert(frame);
    }

    /// Drops every buffer (the job ended).
    pub(super) fn clear(&mut self) {
        self.buffers.clear();
        self.waiting.clear();
    }

    /// Keeps a whole frame that could not be stored, to store again at `retry_at_ms`.
    pub(super) fn wait(&mut self, frame: u32, rgb: Vec<u8>, retry_at_ms: u64) {
        self.waiting.insert(frame, (rgb, retry_at_ms));
    }

    /// Bytes of frames waiting for room.
    pub(super) fn waiting_bytes(&self) -> usize {
        self.waiting.values().map(|(rgb, _)| rgb.len()).sum()
    }

    /// The waiting frames due for another try at `now_ms`, taken out.
    pub(super) fn due(&mut self, now_ms: u64) -> Vec<(u32, Vec<u8>)> {
        let due: Vec<u32> = self
            .waiting
            .iter()
            .filter(|(_, (_, at))| now_ms >= *at)
            .map(|(frame, _)| *frame)
            .collect();
        due.into_iter()
            .filter_map(|frame| self.waiting.remove(&frame).map(|(rgb, _)| (frame, rgb)))
            .collect()
    }

    /// Places a certified tile. Returns the whole frame's RGB8 pixels once its last tile is
    /// in; an error when the tile does not fit the job.
    pub(super) fn place(
        &mut self,
        spec: &JobSpec,
        shard: &ShardId,
        tile: &TileImage,
    ) -> Result<Option<Vec<u8>>, String> {
        let rect = spec
            .tile_rect(shard.tile)
            .filter(|_| spec.frames.contains(shard.frame))
            .ok_or_else(|| format!("the job has no shard {shard}"))?;
        if (tile.width, tile.height) != (rect.w, rect.h)
            || tile.pixels.len() != rect.w as usize * rect.h as usize * 3
        {
            return Err(format!(
                "the tile is {}x{}, the job's tile {} is {}x{}",
                tile.width, tile.height, shard.tile, rect.w, rect.h
            ));
        }
        if self.stored.contains(&shard.frame) {
            return Ok(None);
        }
        let (width, height) = (spec.width as usize, spec.height as usize);
        let buffer = self.buffers.entry(shard.frame).or_insert_with(|| Buffer {
            rgb: vec![0; width * height * 3],
            tiles: BTreeSet::new(),
        });
        if !buffer.tiles.insert(shard.tile) {
            return Ok(None);
        }
        let row_len = rect.w as usize * 3;
        for row in 0..rect.h as usize {
            let src = &tile.pixels[row * row_len..(row + 1) * row_len];
            let start = ((rect.y as usize + row) * width + rect.x as usize) * 3;
            buffer.rgb[start..start + row_len].copy_from_slice(src);
        }
        if buffer.tiles.len() as u32 == self.tiles_per_frame {
            return Ok(self.buffers.remove(&shard.frame).map(|b| b.rgb));
        }
        Ok(None)
    }
}
