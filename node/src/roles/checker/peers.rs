//! Checking the checkers: a checker re-renders part of what its peers say they computed.
//! Every vote against a certified verdict is re-checked, and a random share of the rest;
//! an attestation whose computed values are not what the scene renders is a fault, and
//! this checker votes to ban its author. A fault another checker found is confirmed by
//! re-rendering the same pixels before this checker co-signs the ban.
//!
//! Only the built-in engine's attestations are re-checked: its output is bit-exact, so
//! every honest re-render gives the same values. And only those that came with the proof of
//! their checker's envelope: a fault must show that the checker stated those values itself.

use pictor_protocol::{
    governance::MAX_RECOMPUTED, Action, Attestation, ClaimId, EnvelopeProof, Fault,
    QuorumCertificate, Recomputed,
};

use super::{Checker, CheckerOutput};

/// Peer checks (re-renders) in flight at once.
const MAX_PEER_CHECKS: usize = 1_000;
/// Pixels of a peer's sample re-rendered per random check (a dissent is re-checked whole).
const RECHECK_PIXELS: usize = 8;
/// The share of agreeing attestations re-checked at random, out of 256 (about 5 %).
const RANDOM_SHARE: u8 = 13;
/// Claims whose attestations are held for the certificate's re-checks.
const MAX_HELD: usize = 25_000;

/// A re-render this checker runs on a peer's word.
#[derive(Debug)]
pub(super) enum PeerCheck {
    /// Re-checking a peer's attestation at these tile-local positions.
    Attestation {
        attestation: Attestation,
        proof: EnvelopeProof,
        positions: Vec<(u32, u32)>,
    },
    /// Confirming a fault before co-signing its ban.
    Confirm {
        action: Action,
        recomputed: Vec<Recomputed>,
    },
}

/// The re-render id of a peer check: never a claim id (a different hash input).
fn check_id(me: &[u8], subject: &[u8]) -> ClaimId {
    let mut h = blake3::Hasher::new();
    h.update(b"peer-check");
    h.update(me);
    h.update(subject);
    ClaimId(*h.finalize().as_bytes())
}

impl Checker {
    /// A peer's attestation was counted: re-check a random share now, hold the rest
    /// until the certificate says whether they dissent.
    pub(super) fn hold_attestation(
        &mut self,
        a: &Attestation,
        proof: Option<EnvelopeProof>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let Some(proof) = proof else {
            return;
        };
        if a.checker == self.me || a.samples.is_empty() {
            return;
        }
        let bit_exact = self
            .jobs
            .get(&a.vote.shard.job)
            .is_some_and(|j| j.spec.engine.is_bit_exact());
        if !bit_exact {
            return;
        }
        let draw = check_id(self.me.as_bytes(), a.vote_signature.as_bytes()).0[0];
        if draw < RANDOM_SHARE {
            return self.recheck(a.clone(), proof, RECHECK_PIXELS, out);
        }
        if !self.held_attestations.contains_key(&a.vote.claim)
            && self.held_attestations.len() >= MAX_HELD
        {
            return;
        }
        self.held_attestations
            .entry(a.vote.claim)
            .or_default()
            .push((a.clone(), proof));
    }

    /// A claim is certified: every held vote against the certified verdict is re-checked.
    pub(super) fn check_dissenters(
        &mut self,
        qc: &QuorumCertificate,
        out: &mut Vec<CheckerOutput>,
    ) {
        let held = self
            .held_attestations
            .remove(&qc.vote.claim)
            .unwrap_or_default();
        for (a, proof) in held {
            if a.vote.verdict != qc.vote.verdict {
                self.recheck(a, proof, usize::MAX, out);
            }
        }
    }

    /// A vote against a verdict already certified: re-checked, once its sampled positions
    /// are shown to be the ones its seed draws.
    pub(super) fn recheck_late(
        &mut self,
        a: Attestation,
        proof: Option<EnvelopeProof>,
        out: &mut Vec<CheckerOutput>,
    ) {
        let (Some(job), Some(proof)) = (self.jobs.get(&a.vote.shard.job), proof) else {
            return;
        };
        let sound = job.spec.engine.is_bit_exact()
            && !a.samples.is_empty()
            && job
                .spec
                .tile_rect(a.vote.shard.tile)
                .is_some_and(|r| a.check_samples(r.w, r.h, job.samples).is_ok());
        if sound && a.checker != self.me {
            self.recheck(a, proof, usize::MAX, out);
        }
    }

    /// Re-renders up to `pixels` of a peer's sampled positions. A dissent is re-checked in
    /// full: a falsified output may differ from the scene at only a few of the positions a
    /// lazy checker copied, and the first few alone would miss them.
    fn recheck(
        &mut self,
        attestation: Attestation,
        proof: EnvelopeProof,
        pixels: usize,
        out: &mut Vec<CheckerOutput>,
    ) {
        if self.peer_checks.len() >= MAX_PEER_CHECKS {
            return;
        }
        let positions: Vec<(u32, u32)> = attestation
            .samples
            .iter()
            .take(pixels)
            .map(|s| (s.x, s.y))
            .collect();
        // A full re-check is its own check, even while a random one of the same vote runs.
        let whole = pixels >= attestation.samples.len();
        let subject = [
            attestation.vote_signature.as_bytes().as_slice(),
            &[u8::from(whole)],
        ]
        .concat();
        let id = check_id(self.me.as_bytes(), &subject);
        if self.peer_checks.contains_key(&id) {
            return;
        }
        let shard = attestation.vote.shard;
        if self.rerender_for(id, shard, &positions, out) {
            self.peer_checks.insert(
                id,
                PeerCheck::Attestation {
                    attestation,
                    proof,
                    positions,
                },
            );
        }
    }

    /// Re-renders the fault's pixels before co-signing the ban it asks for.
    pub(super) fn confirm_fault(&mut self, action: Action, out: &mut Vec<CheckerOutput>) {
        let Action::BanChecker {
            fault:
                Fault::FalseAttestation {
                    attestation,
                    recomputed,
                    ..
                },
            ..
        } = &action
        else {
            return;
        };
        if self.peer_checks.len() >= MAX_PEER_CHECKS {
            return;
        }
        let id = check_id(self.me.as_bytes(), &action.id().0);
        if self.peer_checks.contains_key(&id) {
            return;
        }
        let positions: Vec<(u32, u32)> = recomputed.iter().map(|r| (r.x, r.y)).collect();
        let recomputed = recomputed.clone();
        if self.rerender_for(id, attestation.vote.shard, &positions, out) {
            self.peer_checks
                .insert(id, PeerCheck::Confirm { action, recomputed });
        }
    }

    /// Asks for a re-render of tile-local `positions` of `shard`; false if the job is not
    /// known here or is not bit-exact.
    fn rerender_for(
        &self,
        id: ClaimId,
        shard: pictor_protocol::ShardId,
        positions: &[(u32, u32)],
        out: &mut Vec<CheckerOutput>,
    ) -> bool {
        let Some(job) = self.jobs.get(&shard.job) else {
            return false;
        };
        if !job.spec.engine.is_bit_exact() || positions.is_empty() {
            return false;
        }
        let Some(rect) = job.spec.tile_rect(shard.tile) else {
            return false;
        };
        if positions.iter().any(|&(x, y)| x >= rect.w || y >= rect.h) {
            return false;
        }
        out.push(CheckerOutput::Rerender {
            claim: id,
            job: shard.job,
            frame: shard.frame,
            pixels: positions
                .iter()
                .map(|&(x, y)| (rect.x + x, rect.y + y))
                .collect(),
        });
        true
    }

    /// A peer check's re-render came back. Returns false if `id` is not a peer check.
    pub(super) fn on_peer_rerendered(
        &mut self,
        now_ms: u64,
        id: ClaimId,
        pixels: &Result<Vec<[u8; 3]>, String>,
        out: &mut Vec<CheckerOutput>,
    ) -> bool {
        let Some(check) = self.peer_checks.remove(&id) else {
            return false;
        };
        let Ok(pixels) = pixels else {
            return true;
        };
        match check {
            PeerCheck::Attestation {
                attestation,
                proof,
                positions,
            } => {
                if pixels.len() != positions.len() {
                    return true;
                }
                let recomputed: Vec<Recomputed> = attestation
                    .samples
                    .iter()
                    .zip(pixels)
                    .filter(|(s, value)| s.expected != **value)
                    .map(|(s, value)| Recomputed {
                        x: s.x,
                        y: s.y,
                        value: *value,
                    })
                    // One wrong value proves the fault; a fault naming more than a
                    // decision may carry would be refused by every node (a blatant lie,
                    // every sampled value wrong, would then go unpunished).
                    .take(MAX_RECOMPUTED)
                    .collect();
                if recomputed.is_empty() {
                    return true;
                }
                let action = Action::BanChecker {
                    checker: attestation.checker,
                    fault: Fault::FalseAttestation {
                        attestation,
                        proof,
                        recomputed,
                    },
                };
                self.vote(now_ms, action, out);
            }
            PeerCheck::Confirm { action, recomputed } => {
                let confirmed = pixels.len() == recomputed.len()
                    && recomputed.iter().zip(pixels).all(|(r, v)| r.value == *v);
                if confirmed {
                    self.vote(now_ms, action, out);
                }
            }
        }
        true
    }
}
