//! Attestations: a checker's signed verdict on a claim, with the pixels it sampled, so any
//! peer can re-check the checker cheaply.

use serde::{Deserialize, Serialize};

use crate::claim::{ClaimId, ResultClaim};
use crate::codec;
use crate::content::ContentId;
use crate::identity::{Keypair, MessageKind, PublicKey, Signature, SignatureError};
use crate::job::ShardId;
use crate::rules;

/// Why an attestation was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The vote signature does not verify.
    #[error("vote signature: {0}")]
    BadVoteSignature(SignatureError),
    /// The sample-seed signature does not verify.
    #[error("sample seed signature: {0}")]
    BadSeedSignature(SignatureError),
    /// The verdict does not follow from the samples.
    #[error("verdict {verdict:?} does not follow from the samples")]
    VerdictMismatch {
        /// The stated verdict.
        verdict: Verdict,
    },
    /// More samples than [`rules::MAX_SAMPLES`].
    #[error("{0} samples, more than allowed")]
    TooManySamples(usize),
    /// The sampled positions are not the ones the seed signature selects.
    #[error("sampled positions are not those derived from the seed signature")]
    WrongSamplePositions,
    /// Both pixel samples and perceptual regions; an attestation carries one kind.
    #[error("attestation carries both pixel samples and regions")]
    MixedEvidence,
    /// The vote does not match the claim it is about.
    #[error("vote does not match the claim (shard, id or output differ)")]
    ClaimMismatch,
}

/// A checker's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The output matches the re-render.
    Valid,
    /// The output is wrong, or the worker did not serve provable rows.
    Invalid,
}

/// What a quorum certifies: a verdict on one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// The shard.
    pub shard: ShardId,
    /// The claim judged.
    pub claim: ClaimId,
    /// The worker that made the claim (who is banned if it is rejected).
    pub worker: PublicKey,
    /// The claim's attempt (a rejection moves the shard past it).
    pub attempt: u32,
    /// The claim's output.
    pub output: ContentId,
    /// The verdict.
    pub verdict: Verdict,
}

impl Vote {
    /// A vote on `claim`.
    pub fn on(claim: &ResultClaim, verdict: Verdict) -> Vote {
        Vote {
            shard: claim.shard,
            claim: claim.id(),
            worker: claim.worker,
            attempt: claim.attempt,
            output: claim.output,
            verdict,
        }
    }

    /// The bytes a checker signs (with [`MessageKind::Vote`]): the canonical CBOR.
    pub fn signing_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Signs the vote.
    pub fn sign(&self, keypair: &Keypair, network: &str) -> Signature {
        keypair.sign(MessageKind::Vote, network, &self.signing_bytes())
    }

    /// Verifies `signer`'s signature on this vote.
    pub fn verify(
        &self,
        network: &str,
        signer: &PublicKey,
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        signer.verify(MessageKind::Vote, network, &self.signing_bytes(), signature)
    }
}

/// One sampled pixel: what the checker rendered and what the verified rows hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelSample {
    /// Tile-local x.
    pub x: u32,
    /// Tile-local y.
    pub y: u32,
    /// The checker's re-render.
    pub expected: [u8; 3],
    /// The worker's output, from rows verified against the claim's content id.
    pub claimed: [u8; 3],
}

/// The checker's seed signature over a claim id ([`MessageKind::SampleSeed`]) and the
/// sample seed it yields. Deterministic, unpredictable without the checker's key.
pub fn seed_signature(keypair: &Keypair, network: &str, claim: &ClaimId) -> (Signature, [u8; 32]) {
    let sig = keypair.sign(MessageKind::SampleSeed, network, &claim.0);
    (sig, rules::sample_seed(&sig))
}

/// A checker's signed verdict on a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// The vote.
    pub vote: Vote,
    /// The checker.
    pub checker: PublicKey,
    /// The checker's signature on the vote ([`MessageKind::Vote`]).
    pub vote_signature: Signature,
    /// The checker's signature on the claim id ([`MessageKind::SampleSeed`]); its blake3 seeds
    /// the sample.
    pub seed_signature: Signature,
    /// The sampled pixels, in [`rules::sample_pixels`] order. Empty only for an `Invalid`
    /// verdict where the worker did not serve provable rows, and for engines verified
    /// perceptually (then `regions` holds the evidence).
    pub samples: Vec<PixelSample>,
    /// For engines verified perceptually (Blender): the re-rendered regions, in
    /// [`rules::sample_regions`] order, with their scores. Empty for the built-in engine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionScore>,
}

/// One region a checker re-rendered and compared perceptually with the worker's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionScore {
    /// Tile-local x of the region's top-left pixel.
    pub x: u32,
    /// Tile-local y of the region's top-left pixel.
    pub y: u32,
    /// Region width in pixels.
    pub w: u32,
    /// Region height in pixels.
    pub h: u32,
    /// PSNR in hundredths of a decibel; `u32::MAX` for identical pixels.
    pub psnr_cdb: u32,
    /// SSIM in millionths (1 000 000 = identical structure).
    pub ssim_ppm: u32,
    /// The checker's judgement of this region under the engine's thresholds for the
    /// worker's device class: on its own and as part of the claim's whole sample (CPU), or
    /// as part of the whole sample only (GPU). The verdict is Valid iff every flag is set.
    pub pass: bool,
}

impl RegionScore {
    /// The region's pixels, `w × h`, in 64 bits: a signed attestation may name any sizes,
    /// and the product of two `u32` never overflows a `u64`.
    pub fn pixel_count(&self) -> u64 {
        u64::from(self.w) * u64::from(self.h)
    }
}

impl Attestation {
    /// Makes an attestation on `claim`. The verdict is `Valid` iff `samples` is non-empty and
    /// every sample matches exactly; empty samples mean the output could not be obtained.
    pub fn create(
        keypair: &Keypair,
        network: &str,
        claim: &ResultClaim,
        samples: Vec<PixelSample>,
    ) -> Attestation {
        let verdict = verdict_of(&samples);
        Attestation::signed(keypair, network, claim, verdict, samples, Vec::new())
    }

    /// Makes an attestation from perceptually compared regions (engines without bit-exact
    /// output). The verdict is `Valid` iff `regions` is non-empty and every region passed.
    pub fn create_perceptual(
        keypair: &Keypair,
        network: &str,
        claim: &ResultClaim,
        regions: Vec<RegionScore>,
    ) -> Attestation {
        let verdict = verdict_of_regions(&regions);
        Attestation::signed(keypair, network, claim, verdict, Vec::new(), regions)
    }

    fn signed(
        keypair: &Keypair,
        network: &str,
        claim: &ResultClaim,
        verdict: Verdict,
        samples: Vec<PixelSample>,
        regions: Vec<RegionScore>,
    ) -> Attestation {
        let vote = Vote::on(claim, verdict);
        let (seed_signature, _) = seed_signature(keypair, network, &vote.claim);
        Attestation {
            vote,
            checker: keypair.public(),
            vote_signature: vote.sign(keypair, network),
            seed_signature,
            samples,
            regions,
        }
    }

    /// The sample seed.
    pub fn sample_seed(&self) -> [u8; 32] {
        rules::sample_seed(&self.seed_signature)
    }

    /// Checks both signatures and that the verdict follows from the samples.
    pub fn verify(&self, network: &str) -> Result<(), AttestationError> {
        self.check_bounds()?;
        self.vote
            .verify(network, &self.checker, &self.vote_signature)
            .map_err(AttestationError::BadVoteSignature)?;
        self.checker
            .verify(
                MessageKind::SampleSeed,
                network,
                &self.vote.claim.0,
                &self.seed_signature,
            )
            .map_err(AttestationError::BadSeedSignature)?;
        self.check_verdict()
    }

    /// Bounded evidence (checked before any signature work).
    pub(crate) fn check_bounds(&self) -> Result<(), AttestationError> {
        if self.samples.len() > rules::MAX_SAMPLES {
            return Err(AttestationError::TooManySamples(self.samples.len()));
        }
        if self.regions.len() > rules::MAX_REGIONS {
            return Err(AttestationError::TooManySamples(self.regions.len()));
        }
        Ok(())
    }

    /// Evidence of one kind, from which the stated verdict follows.
    pub(crate) fn check_verdict(&self) -> Result<(), AttestationError> {
        let verdict = match (self.samples.is_empty(), self.regions.is_empty()) {
            (_, true) => verdict_of(&self.samples),
            (true, false) => verdict_of_regions(&self.regions),
            // One kind of evidence per attestation.
            (false, false) => return Err(AttestationError::MixedEvidence),
        };
        if verdict != self.vote.verdict {
            return Err(AttestationError::VerdictMismatch {
                verdict: self.vote.verdict,
            });
        }
        Ok(())
    }

    /// Checks that the samples sit exactly at
    /// `sample_pixels(sample_seed(seed_signature), w, h, k)`. An `Invalid` attestation with
    /// no samples (output unavailable) passes.
    pub fn check_samples(&self, w: u32, h: u32, k: usize) -> Result<(), AttestationError> {
        if self.samples.is_empty() && self.vote.verdict == Verdict::Invalid {
            return Ok(());
        }
        let want = rules::sample_pixels(&self.sample_seed(), w, h, k);
        let got = self.samples.iter().map(|s| (s.x, s.y));
        if want.len() == self.samples.len() && want.iter().copied().eq(got) {
            Ok(())
        } else {
            Err(AttestationError::WrongSamplePositions)
        }
    }

    /// Checks that the regions sit exactly at
    /// `sample_regions(sample_seed(seed_signature), w, h, k, side)` and have the clamped
    /// sizes. An `Invalid` attestation with no regions (output unavailable) passes.
    pub fn check_regions(
        &self,
        w: u32,
        h: u32,
        k: usize,
        side: u32,
    ) -> Result<(), AttestationError> {
        if self.regions.is_empty() && self.vote.verdict == Verdict::Invalid {
            return Ok(());
        }
        let want = rules::sample_regions(&self.sample_seed(), w, h, k, side);
        let got = self.regions.iter().map(|r| (r.x, r.y, r.w, r.h));
        if self.samples.is_empty()
            && want.len() == self.regions.len()
            && want.iter().copied().eq(got)
        {
            Ok(())
        } else {
            Err(AttestationError::WrongSamplePositions)
        }
    }

    /// Checks that the vote is about `claim` (shard, claim id and output agree).
    pub fn check_claim(&self, claim: &ResultClaim) -> Result<(), AttestationError> {
        let v = &self.vote;
        if v.shard == claim.shard
            && v.output == claim.output
            && v.claim == claim.id()
            && v.worker == claim.worker
            && v.attempt == claim.attempt
        {
            Ok(())
        } else {
            Err(AttestationError::ClaimMismatch)
        }
    }
}

/// `Valid` iff there is at least one region and every region passed.
pub fn verdict_of_regions(regions: &[RegionScore]) -> Verdict {
    if !regions.is_empty() && regions.iter().all(|r| r.pass) {
        Verdict::Valid
    } else {
        Verdict::Invalid
    }
}

/// `Valid` iff there is at least one sample and all match exactly.
pub fn verdict_of(samples: &[PixelSample]) -> Verdict {
    if !samples.is_empty() && samples.iter().all(|s| s.expected == s.claimed) {
        Verdict::Valid
    } else {
        Verdict::Invalid
    }
}

mod batch;

pub use batch::verify_batch;

#[cfg(test)]
pub(crate) mod tests;
