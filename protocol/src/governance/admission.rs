//! Admission of new checkers, and the epochs at whose boundaries the checker set changes.
//!
//! A node that wants to check applies with a [`SignedApplication`]: its capability record
//! (what it states it runs on) and the digest of its admission render, a small window of
//! the benchmark scene whose size and place are drawn from its key ([`AdmissionRender`]),
//! so that no applicant can copy another's. Each checker of the current set that finds
//! the record meets the network's requirements and renders the same digest itself votes
//! [`Action::AdmitChecker`](super::Action::AdmitChecker) for the epoch it is in; more than
//! two thirds of that epoch's set make the certificate. The applicant joins the set
//! [`JOIN_DELAY_EPOCHS`] epochs later: every change of the set happens at an epoch
//! boundary, and the epoch between gives the certificate time to reach every node.
//!
//! Epochs are fixed spans of wall-clock time (`epoch_ms` in the network spec): epoch `e`
//! covers `[e · epoch_ms, (e + 1) · epoch_ms)` since the Unix epoch. The set of epoch `e`
//! is the genesis set of the network spec plus every checker admitted by a certificate of
//! an epoch at most `e - JOIN_DELAY_EPOCHS`, each certificate verified against the set of
//! its own epoch: any node verifies the whole chain from the genesis set.

use serde::{Deserialize, Serialize};

use super::GovernanceError;
use crate::capability::CapabilityRecord;
use crate::codec;
use crate::identity::{Keypair, MessageKind, PublicKey, Signature};

/// Epochs from an admission certificate's epoch to the first epoch whose set holds the
/// applicant.
pub const JOIN_DELAY_EPOCHS: u64 = 2;

/// The epoch `now_ms` falls in (epochs of `epoch_ms`; 0 when `epoch_ms` is 0).
pub fn epoch_at(now_ms: u64, epoch_ms: u64) -> u64 {
    now_ms.checked_div(epoch_ms).unwrap_or(0)
}

/// The admission render of an applicant: a `w`×`h` window at (`x`, `y`) of the benchmark
/// scene rendered at `width`×`height` with `samples` per pixel, every number drawn from the
/// applicant's key. The built-in engine is bit-exact: every honest renderer gets the same
/// bytes, and an applicant whose engine is wrong cannot state their digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionRender {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Samples per pixel.
    pub samples: u32,
    /// Window left edge.
    pub x: u32,
    /// Window top edge.
    pub y: u32,
    /// Window width.
    pub w: u32,
    /// Window height.
    pub h: u32,
}

/// Largest admission render a node answers for: image side, window side, samples.
const MAX_RENDER_SIDE: u32 = 1024;
const MAX_WINDOW_SIDE: u32 = 64;
const MAX_RENDER_SAMPLES: u32 = 16;

impl AdmissionRender {
    /// The render `applicant` must show.
    pub fn of(applicant: &PublicKey) -> AdmissionRender {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"pictor admission render");
        hasher.update(applicant.as_bytes());
        Self::drawn(hasher.finalize())
    }

    /// The render a worker banned for its `round`-th time must show, live, before it gets
    /// shards again: a window no earlier render covered.
    pub fn challenge(worker: &PublicKey, round: u32) -> AdmissionRender {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"pictor readmission challenge");
        hasher.update(worker.as_bytes());
        hasher.update(&round.to_le_bytes());
        Self::drawn(hasher.finalize())
    }

    /// Whether a node should render this when asked: within the bounds that the renders
    /// drawn here keep (an answer costs the asked node a few milliseconds, never more).
    pub fn check(&self) -> Result<(), GovernanceError> {
        let inside = self.x.checked_add(self.w).is_some_and(|r| r <= self.width)
            && self.y.checked_add(self.h).is_some_and(|b| b <= self.height);
        if self.width == 0
            || self.height == 0
            || self.width > MAX_RENDER_SIDE
            || self.height > MAX_RENDER_SIDE
            || self.w == 0
            || self.h == 0
            || self.w > MAX_WINDOW_SIDE
            || self.h > MAX_WINDOW_SIDE
            || self.samples == 0
            || self.samples > MAX_RENDER_SAMPLES
            || !inside
        {
            return Err(GovernanceError::Application(format!(
                "admission render out of bounds: {self:?}"
            )));
        }
        Ok(())
    }

    fn drawn(h: blake3::Hash) -> AdmissionRender {
        let b = h.as_bytes();
        let n = |i: usize| u32::from(u16::from_le_bytes([b[i], b[i + 1]]));
        let (w, h) = (32, 32);
        let width = 192 + n(0) % 128;
        let height = 144 + n(2) % 96;
        AdmissionRender {
            width,
            height,
            samples: 4,
            x: n(4) % (width - w + 1),
            y: n(6) % (height - h + 1),
            w,
            h,
        }
    }

    /// The digest an applicant states: blake3 of the window's RGB8 bytes, row-major.
    pub fn digest(pixels: &[u8]) -> [u8; 32] {
        *blake3::hash(pixels).as_bytes()
    }
}

/// What an applicant states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// The applicant's key (it signs the application).
    pub checker: PublicKey,
    /// What it runs on, checked against the network's requirements.
    pub capability: CapabilityRecord,
    /// blake3 of its admission render ([`AdmissionRender::of`] its key).
    #[serde(with = "serde_bytes")]
    pub render_digest: [u8; 32],
    /// When it applied (ms since the Unix epoch); the newest application of a key wins.
    pub issued_ms: u64,
}

/// An application signed by its applicant ([`MessageKind::Application`]): it proves itself
/// wherever it travels, inside a certificate too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedApplication {
    /// The application.
    pub application: Application,
    /// The applicant's signature over its canonical CBOR.
    pub signature: Signature,
}

impl SignedApplication {
    /// `keypair`'s application.
    pub fn new(keypair: &Keypair, network: &str, application: Application) -> SignedApplication {
        let signature = keypair.sign(
            MessageKind::Application,
            network,
            &codec::encode(&application),
        );
        SignedApplication {
            application,
            signature,
        }
    }

    /// The applicant.
    pub fn checker(&self) -> PublicKey {
        self.application.checker
    }

    /// Checks what holds without rendering: the signature is the applicant's, and its
    /// capability record is its own and well formed.
    pub fn verify(&self, network: &str) -> Result<(), GovernanceError> {
        let a = &self.application;
        if a.capability.node != a.checker {
            return Err(GovernanceError::Application(
                "its capability record is another node's".into(),
            ));
        }
        a.capability
            .validate()
            .map_err(|e| GovernanceError::Application(format!("capability record: {e}")))?;
        a.checker
            .verify(
                MessageKind::Application,
                network,
                &codec::encode(a),
                &self.signature,
            )
            .map_err(|error| GovernanceError::BadSignature {
                signer: a.checker,
                error,
            })
    }
}
