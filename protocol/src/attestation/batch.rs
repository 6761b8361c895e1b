//! Many attestations checked at once: both signatures of every attestation in one ed25519
//! batch verification, with the same answers as [`Attestation::verify`] one by one.

use curve25519_dalek::edwards::CompressedEdwardsY;

use super::{Attestation, AttestationError};
use crate::identity::{signing_message, MessageKind, Signature, SignatureError};

/// Whether strict verification refuses this signature before any arithmetic: its `R`
/// does not decode to a point, or is of small order. Batch verification does not look
/// for small-order components, so such signatures never enter a batch.
pub(crate) fn strictly_refused(signature: &Signature) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature.as_bytes()[..32]);
    CompressedEdwardsY(r)
        .decompress()
        .is_none_or(|point| point.is_small_order())
}

/// Checks every attestation as [`Attestation::verify`] does, with the signatures of all
/// of them verified in one batch; results are in input order. When the batch fails, the
/// attestations are checked one by one to find the bad ones, so a forged signature costs
/// its sender the batch's speed-up, never an honest attestation its acceptance.
///
/// Signatures that strict verification refuses outright (weak keys, small-order `R`)
/// never enter the batch: they are checked one by one, and refused there.
pub fn verify_batch(
    attestations: &[&Attestation],
    network: &str,
) -> Vec<Result<(), AttestationError>> {
    let mut results: Vec<Result<(), AttestationError>> =
        attestations.iter().map(|a| a.check_bounds()).collect();
    if crate::identity::validate_network_id(network).is_err() {
        return results
            .into_iter()
            .map(|r| {
                r.and(Err(AttestationError::BadVoteSignature(
                    SignatureError::InvalidNetworkId,
                )))
            })
            .collect();
    }
    let mut messages = Vec::with_capacity(attestations.len() * 2);
    let mut signatures = Vec::with_capacity(attestations.len() * 2);
    let mut keys = Vec::with_capacity(attestations.len() * 2);
    let mut batched = vec![false; attestations.len()];
    let mut keys_seen = std::collections::HashMap::new();
    for (i, a) in attestations.iter().enumerate() {
        if results[i].is_err() {
            continue;
        }
        // A batch holds many votes of few checkers: decode each key once.
        let key = match keys_seen.get(&a.checker) {
            Some(k) => *k,
            None => match a.checker.verifying_key() {
                Ok(k) => *keys_seen.entry(a.checker).or_insert(k),
                Err(_) => continue,
            },
        };
        if key.is_weak()
            || strictly_refused(&a.vote_signature)
            || strictly_refused(&a.seed_signature)
        {
            continue;
        }
        batched[i] = true;
        messages.push(signing_message(
            MessageKind::Vote,
            network,
            &a.vote.signing_bytes(),
        ));
        signatures.push(a.vote_signature.to_dalek());
        keys.push(key);
        messages.push(signing_message(
            MessageKind::SampleSeed,
            network,
            &a.vote.claim.0,
        ));
        signatures.push(a.seed_signature.to_dalek());
        keys.push(key);
    }
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let batch_ok =
        !refs.is_empty() && ed25519_dalek::verify_batch(&refs, &signatures, &keys).is_ok();
    for (i, a) in attestations.iter().enumerate() {
        if results[i].is_ok() {
            results[i] = if batched[i] && batch_ok {
                a.check_verdict()
            } else {
                a.verify(network)
            };
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{attestation::tests::claim, identity::Keypair, PixelSample};

    fn attestation(keypair: &Keypair, network: &str) -> Attestation {
        let sample = PixelSample {
            x: 1,
            y: 2,
            expected: [3, 4, 5],
            claimed: [3, 4, 5],
        };
        Attestation::create(keypair, network, &claim(), vec![sample])
    }

    #[test]
    fn a_batch_gives_the_answers_of_one_by_one_checks() {
        let keys: Vec<Keypair> = (0..8u8).map(|i| Keypair::from_seed([i + 1; 32])).collect();
        let mut all: Vec<Attestation> = keys.iter().map(|k| attestation(k, "devnet")).collect();
        let good = verify_batch(&all.iter().collect::<Vec<_>>(), "devnet");
        assert!(good.iter().all(Result::is_ok), "{good:?}");
        // One forged vote signature, one seed signature from another key, one attestation
        // whose verdict does not follow from its samples.
        all[2].vote_signature = all[3].vote_signature;
        all[5].seed_signature = all[6].seed_signature;
        all[7].samples[0].claimed = [0, 0, 0];
        let refs: Vec<&Attestation> = all.iter().collect();
        let batch = verify_batch(&refs, "devnet");
        for (i, (b, a)) in batch.iter().zip(&all).enumerate() {
            assert_eq!(b, &a.verify("devnet"), "attestation {i}");
        }
        assert!(batch[2].is_err() && batch[5].is_err() && batch[7].is_err());
        assert_eq!(batch.iter().filter(|r| r.is_ok()).count(), 5);
        // Another network's signatures fail, all of them.
        assert!(verify_batch(&refs[..2], "other").iter().all(Result::is_err));
        assert!(verify_batch(&[], "devnet").is_empty());
    }

    #[test]
    fn a_small_order_r_never_enters_the_batch() {
        let k = Keypair::from_seed([42; 32]);
        let mut a = attestation(&k, "devnet");
        // R = the identity point (small order), s = 0.
        let mut forged = [0u8; 64];
        forged[0] = 1;
        a.vote_signature = Signature::from_bytes(forged);
        assert!(strictly_refused(&a.vote_signature));
        assert!(verify_batch(&[&a], "devnet")[0].is_err());
    }
}
