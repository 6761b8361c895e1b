//! Canary claims: forced errors, after Truebit.
//!
//! A lazy checker that attests without checking is caught when it vouches for a claim
//! known to be wrong. Honest workers make such claims on purpose, now and then, where no
//! one can predict them: a worker signs each shard attempt it is handed (a deterministic
//! ed25519 signature, so it cannot choose), and when the signature's hash falls under the
//! network's canary rate, that attempt is a canary. The worker renders it, falsifies
//! every pixel (so every honest checker's sample sees it), and claims it. Honest checkers
//! reject it; a checker that vouched for it dissents from the rejecting certificate, is
//! re-checked by its peers and loses its standing. Once the rejection is certified the
//! worker reveals the signature ([`CanaryReveal`]), which anyone verifies with the
//! worker's key: the rejection is then no offence of the worker's.
//!
//! Before the reveal nobody but the worker knows which attempts are canaries: a checker
//! cannot check only those.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::identity::{Keypair, MessageKind, PublicKey, Signature, SignatureError};
use crate::job::ShardId;

/// The canary rate is given in parts per million of shard attempts.
pub const PPM: u32 = 1_000_000;

/// Most reveals one heartbeat carries.
pub const MAX_REVEALS: usize = 16;

/// Why a reveal is refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CanaryError {
    /// The signature is not the worker's over this shard attempt.
    #[error("canary reveal: {0}")]
    BadSignature(#[from] SignatureError),
    /// The signature is the worker's, but the attempt is no canary at this rate.
    #[error("canary reveal: shard {shard} attempt {attempt} is not a canary at {rate_ppm} ppm")]
    NotACanary {
        /// The shard.
        shard: ShardId,
        /// The attempt.
        attempt: u32,
        /// The network's rate.
        rate_ppm: u32,
    },
}

/// A worker's proof that its claim on a shard attempt was a canary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryReveal {
    /// The shard.
    pub shard: ShardId,
    /// The attempt it was assigned at.
    pub attempt: u32,
    /// The worker's signature over the shard attempt ([`MessageKind::Canary`]).
    pub signature: Signature,
}

/// The bytes a worker signs for a shard attempt.
fn signed_bytes(shard: &ShardId, attempt: u32) -> [u8; 44] {
    let mut bytes = [0u8; 44];
    bytes[..40].copy_from_slice(&shard.to_key());
    bytes[40..].copy_from_slice(&attempt.to_le_bytes());
    bytes
}

/// Whether `signature` makes its attempt a canary at `rate_ppm`: the first eight bytes of
/// its blake3 hash, read as a fraction of 2^64, fall under the rate.
pub fn is_canary(signature: &Signature, rate_ppm: u32) -> bool {
    let hash = blake3::hash(signature.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash.as_bytes()[..8]);
    let draw = u128::from(u64::from_le_bytes(head));
    draw * u128::from(PPM) < u128::from(rate_ppm.min(PPM)) << 64
}

impl CanaryReveal {
    /// The worker's draw for a shard attempt: `Some(reveal)` when it is a canary.
    pub fn draw(
        keypair: &Keypair,
        network: &str,
        shard: &ShardId,
        attempt: u32,
        rate_ppm: u32,
    ) -> Option<CanaryReveal> {
        if rate_ppm == 0 {
            return None;
        }
        let signature = keypair.sign(MessageKind::Canary, network, &signed_bytes(shard, attempt));
        is_canary(&signature, rate_ppm).then_some(CanaryReveal {
            shard: *shard,
            attempt,
            signature,
        })
    }

    /// Checks that `worker` signed this shard attempt and that it is a canary at
    /// `rate_ppm`.
    pub fn verify(
        &self,
        network: &str,
        worker: &PublicKey,
        rate_ppm: u32,
    ) -> Result<(), CanaryError> {
        worker.verify(
            MessageKind::Canary,
            network,
            &signed_bytes(&self.shard, self.attempt),
            &self.signature,
        )?;
        if !is_canary(&self.signature, rate_ppm) {
            return Err(CanaryError::NotACanary {
                shard: self.shard,
                attempt: self.attempt,
                rate_ppm,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobId;

    fn shard(tile: u32) -> ShardId {
        ShardId {
            job: JobId([7; 32]),
            frame: 1,
            tile,
        }
    }

    #[test]
    fn the_rate_decides_how_many_attempts_are_canaries() {
        let k = Keypair::from_seed([3; 32]);
        let count = |rate| {
            (0..2000)
                .filter(|t| CanaryReveal::draw(&k, "devnet", &shard(*t), 0, rate).is_some())
                .count()
        };
        assert_eq!(count(0), 0);
        assert_eq!(count(PPM), 2000);
        // 10 %: 200 expected; far outside 140..260 only with negligible probability.
        let tenth = count(PPM / 10);
        assert!((140..260).contains(&tenth), "{tenth}");
    }

    #[test]
    fn a_reveal_verifies_only_for_its_worker_attempt_network_and_rate() {
        let k = Keypair::from_seed([4; 32]);
        let other = Keypair::from_seed([5; 32]);
        let rate = PPM / 2;
        let reveal = (0..64)
            .find_map(|t| CanaryReveal::draw(&k, "devnet", &shard(t), 3, rate))
            .expect("a canary among 64 draws at one half");
        assert_eq!(reveal.verify("devnet", &k.public(), rate), Ok(()));
        assert!(matches!(
            reveal.verify("devnet", &other.public(), rate),
            Err(CanaryError::BadSignature(_))
        ));
        assert!(reveal.verify("testnet", &k.public(), rate).is_err());
        let mut moved = reveal.clone();
        moved.attempt = 4;
        assert!(moved.verify("devnet", &k.public(), rate).is_err());
        // At a rate of zero nothing is a canary, whatever the signature.
        assert!(matches!(
            reveal.verify("devnet", &k.public(), 0),
            Err(CanaryError::NotACanary { .. })
        ));
        // A worker cannot pass off an attempt the rule did not pick.
        let plain = (0..64)
            .map(|t| {
                let sig = k.sign(MessageKind::Canary, "devnet", &signed_bytes(&shard(t), 3));
                CanaryReveal {
                    shard: shard(t),
                    attempt: 3,
                    signature: sig,
                }
            })
            .find(|r| !is_canary(&r.signature, rate))
            .expect("a plain attempt among 64 at one half");
        assert!(matches!(
            plain.verify("devnet", &k.public(), rate),
            Err(CanaryError::NotACanary { .. })
        ));
    }
}
