//! Quality Assurance: a committee member's check of a claim. It seeds its sample with its
//! own signature over the claim id, fetches the sampled rows (or, for engines verified
//! perceptually, the whole output), re-renders the sampled pixels or regions and publishes
//! its attestation, which it then counts like anyone else's (`votes.rs`).

use std::collections::BTreeMap;

use pictor_protocol::{
    rules, seed_signature, verdict_of, Attestation, ClaimId, Engine, Message, PixelSample,
    RegionScore, ResultClaim, Verdict,
};

use super::{perceptual, Behaviour, Checker, CheckerOutput};

/// A claim this checker verifies, from its sample to its attestation.
#[derive(Debug)]
pub(super) struct ClaimState {
    pub(super) claim: ResultClaim,
    positions: Vec<(u32, u32)>,
    claimed: Vec<[u8; 3]>,
    /// Tile-local regions, for engines verified perceptually (then `positions` is empty).
    regions: Vec<(u32, u32, u32, u32)>,
    claimed_regions: Vec<Vec<u8>>,
    attested: bool,
}

impl Checker {
    pub(super) fn on_claim(
        &mut self,
        now_ms: u64,
        claim: ResultClaim,
        out: &mut Vec<CheckerOutput>,
    ) {
        let id = claim.id();
        if self.is_banned(&claim.worker, now_ms) {
            // Held, not dropped, when it answers the shard's assignment: the ban may be a
            // canary's, lifted by its reveal in a moment (`canary.rs` looks again).
            let assigned = self
                .jobs
                .get(&claim.shard.job)
                .and_then(|job| job.shards.get(&claim.shard))
                .and_then(|shard| shard.assignment.as_ref())
                .is_some_and(|a| a.worker == claim.worker && a.attempt == claim.attempt);
            if assigned {
                self.hold_claim(claim);
            }
            return;
        }
        let Some(job) = self.jobs.get_mut(&claim.shard.job) else {
            // Its job (and assignment) may still be on their way.
            return self.hold_claim(claim);
        };
        let Some(rect) = job.spec.tile_rect(claim.shard.tile) else {
            return;
        };
        let Some(shard) = job.shards.get_mut(&claim.shard) else {
            return;
        };
        let matches = shard
            .assignment
            .as_ref()
            .is_some_and(|a| a.worker == claim.worker && a.attempt == claim.attempt);
        if shard.done || claim.width != rect.w || claim.height != rect.h {
            return;
        }
        if !matches {
            // Its assignment may still be on its way; look again when one arrives.
            if claim.attempt >= shard.attempt {
                self.hold_claim(claim);
            }
            return;
        }
        let freed_a_slot = shard.claim.is_none();
        if freed_a_slot {
            let samples =
                (u64::from(rect.w) * u64::from(rect.h)).saturating_mul(u64::from(job.spec.samples));
            if let Some(worker) = self.workers.get_mut(&claim.worker) {
                worker.observe_render(samples, now_ms.saturating_sub(shard.assigned_ms));
            }
            shard.claim = Some((id, now_ms));
            shard.claim_msg = Some(claim.clone());
            job.last_progress_ms = now_ms;
        }
        let verify = job.committee.contains(&self.me) && !self.claims.contains_key(&id);
        if freed_a_slot {
            // The worker has room for another shard: refill its queue now, not at the
            // next tick, so that it never waits with shards left to render.
            self.assign_all(now_ms, out);
        }
        if verify {
            self.start_verify(claim, out);
        }
    }

    /// Starts this committee member's check of a claim: its sample, then the rows.
    pub(super) fn start_verify(&mut self, claim: ResultClaim, out: &mut Vec<CheckerOutput>) {
        let id = claim.id();
        let Some(job) = self.jobs.get(&claim.shard.job) else {
            return;
        };
        let Some(rect) = job.spec.tile_rect(claim.shard.tile) else {
            return;
        };
        let samples = job.samples;
        let bit_exact = job.spec.engine.is_bit_exact();
        let (_, seed) = seed_signature(&self.keypair, &self.params.network, &id);
        let (positions, regions, rows) = if bit_exact {
            let positions = rules::sample_pixels(&seed, rect.w, rect.h, samples);
            let rows = rules::sample_rows(&positions);
            (positions, Vec::new(), rows)
        } else {
            let regions = rules::sample_regions(&seed, rect.w, rect.h, samples, rules::REGION_SIDE);
            let rows = rules::region_rows(&regions);
            (Vec::new(), regions, rows)
        };
        out.push(CheckerOutput::FetchRows {
            claim: id,
            worker: claim.worker,
            output: claim.output,
            width: rect.w,
            height: rect.h,
            rows,
            whole_output: !bit_exact,
        });
        self.claims.insert(
            id,
            ClaimState {
                claim,
                positions,
                claimed: Vec::new(),
                regions,
                claimed_regions: Vec::new(),
                attested: false,
            },
        );
    }

    pub(super) fn on_rows(
        &mut self,
        now_ms: u64,
        id: ClaimId,
        rows: Result<Vec<(u32, Vec<u8>)>, String>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(state) = self.claims.get_mut(&id) else {
            return;
        };
        // A worker that cannot show its rows is left to the claim timeout.
        let Ok(rows) = rows else {
            return;
        };
        let rows: BTreeMap<u32, Vec<u8>> = rows.into_iter().collect();
        let Some(job) = self.jobs.get(&state.claim.shard.job) else {
            return;
        };
        let Some(rect) = job.spec.tile_rect(state.claim.shard.tile) else {
            return;
        };
        if !state.regions.is_empty() {
            let mut claimed = Vec::with_capacity(state.regions.len());
            for &(x, y, w, h) in &state.regions {
                // Regions of `rules::sample_regions`, inside the tile; sized in `usize`
                // all the same.
                let (xs, ws) = (x as usize, w as usize);
                let mut pixels = Vec::with_capacity(ws * h as usize * 3);
                for row in y..y.saturating_add(h) {
                    let span = xs * 3..(xs + ws) * 3;
                    match rows.get(&row).and_then(|r| r.get(span)) {
                        Some(p) => pixels.extend_from_slice(p),
                        None => return,
                    }
                }
                claimed.push(pixels);
            }
            state.claimed_regions = claimed;
            out.push(CheckerOutput::RerenderRegions {
                claim: id,
                job: state.claim.shard.job,
                frame: state.claim.shard.frame,
                regions: state
                    .regions
                    .iter()
                    .map(|&(x, y, w, h)| (rect.x + x, rect.y + y, w, h))
                    .collect(),
            });
            return;
        }
        let mut claimed = Vec::with_capacity(state.positions.len());
        for &(x, y) in &state.positions {
            let at = x as usize * 3;
            match rows.get(&y).and_then(|r| r.get(at..at + 3)) {
                Some(p) => claimed.push([p[0], p[1], p[2]]),
                None => return,
            }
        }
        state.claimed = claimed;
        if self.params.behaviour == Behaviour::Lazy {
            // A lazy checker renders nothing: it states the claimed values as its own.
            let copied = state.claimed.clone();
            return self.on_rerendered(now_ms, id, Ok(copied), out);
        }
        out.push(CheckerOutput::Rerender {
            claim: id,
            job: state.claim.shard.job,
            frame: state.claim.shard.frame,
            pixels: state
                .positions
                .iter()
                .map(|&(x, y)| (rect.x + x, rect.y + y))
                .collect(),
        });
    }

    pub(super) fn on_rerendered(
        &mut self,
        now_ms: u64,
        id: ClaimId,
        pixels: Result<Vec<[u8; 3]>, String>,
        out: &mut Vec<CheckerOutput>,
    ) {
        if self.on_peer_rerendered(now_ms, id, &pixels, out) {
            return;
        }
        let Some(state) = self.claims.get_mut(&id) else {
            return;
        };
        let Ok(expected) = pixels else {
            return;
        };
        if state.attested || expected.len() != state.positions.len() {
            return;
        }
        let samples: Vec<PixelSample> = state
            .positions
            .iter()
            .zip(expected.iter().zip(&state.claimed))
            .map(|(&(x, y), (&expected, &claimed))| PixelSample {
                x,
                y,
                expected,
                claimed,
            })
            .collect();
        let claim = state.claim.clone();
        state.attested = true;
        if self.params.behaviour == Behaviour::Equivocating {
            // A second vote with the other verdict, on doctored values.
            let mut other = samples.clone();
            if verdict_of(&samples) == Verdict::Valid {
                if let Some(s) = other.first_mut() {
                    s.expected[0] ^= 0xff;
                }
            } else {
                for s in other.iter_mut() {
                    s.expected = s.claimed;
                }
            }
            let second = Attestation::create(&self.keypair, &self.params.network, &claim, other);
            out.push(CheckerOutput::Publish(Message::Attestation(second)));
        }
        let attestation = Attestation::create(&self.keypair, &self.params.network, &claim, samples);
        self.publish_attestation(now_ms, attestation, out);
    }

    pub(super) fn on_rerendered_regions(
        &mut self,
        now_ms: u64,
        id: ClaimId,
        regions: Result<Vec<Vec<u8>>, String>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(state) = self.claims.get_mut(&id) else {
            return;
        };
        let Ok(expected) = regions else {
            return;
        };
        if state.attested
            || expected.len() != state.regions.len()
            || state.claimed_regions.len() != state.regions.len()
        {
            return;
        }
        let engine = self
            .jobs
            .get(&state.claim.shard.job)
            .map_or(Engine::Blender, |j| j.spec.engine);
        let class = if self.workers.get(&state.claim.worker).is_some_and(|w| w.gpu) {
            pictor_gpu::DeviceClass::Gpu
        } else {
            pictor_gpu::DeviceClass::Cpu
        };
        let scores: Vec<RegionScore> = perceptual::score_regions(
            &state.regions,
            &expected,
            &state.claimed_regions,
            class,
            engine,
        );
        let attestation = Attestation::create_perceptual(
            &self.keypair,
            &self.params.network,
            &state.claim,
            scores,
        );
        state.attested = true;
        self.publish_attestation(now_ms, attestation, out);
    }

    /// Publishes this checker's attestation and counts it.
    fn publish_attestation(
        &mut self,
        now_ms: u64,
        attestation: Attestation,
        out: &mut Vec<CheckerOutput>,
    ) {
        out.push(CheckerOutput::Publish(Message::Attestation(
            attestation.clone(),
        )));
        // Its own: never re-checked, so no proof needed.
        self.on_attestation(now_ms, attestation, None, out);
    }
}
