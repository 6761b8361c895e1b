//! Many attestations checked at once: both signatures of every attestation in one ed25519
//! batch equation, with the answers of [`Attestation::verify`] one by one.
//!
//! Both apply the protocol's one signature rule (`identity/msm.rs`): `s` and `R`
//! canonical, neither `R` nor the key of small order, and the cofactored equation
//! `[8](R + [k]A - [s]B) = identity`. Signatures that fail one of the first checks never
//! enter the batch: they are checked one by one, and refused there. For the others the
//! batch checks the equation for all of them at once, as a linear combination with
//! 128-bit weights drawn from a hash of every signature, key and message in it; when that
//! fails, every attestation of the batch is checked one by one. A batch holding a bad
//! signature passes only if the weights cancel it: a chance of at most 2^-128.
//!
//! One point per signature (its `R`) and one per distinct key enter the multiscalar
//! multiplication, not one per signature for the key: a batch holds many votes of few
//! checkers.

use super::{Attestation, AttestationError};
use crate::identity::msm::{Candidate, Equation};
use crate::identity::{signing_message, MessageKind, SignatureError};

/// Checks every attestation as [`Attestation::verify`] does, with the signatures of all
/// of them verified in one batch; results are in input order. When the batch fails, the
/// attestations are checked one by one to find the bad ones, so a forged signature costs
/// its sender the batch's speed-up, never an honest attestation its acceptance.
///
/// Signatures the rule refuses before any arithmetic (weak keys, non-canonical or
/// small-order `R`, non-canonical `s`) never enter the batch: they are checked one by
/// one, and refused there.
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
    // What `signing_message` puts before the body, for either kind.
    let vote_prefix = signing_message(MessageKind::Vote, network, &[]);
    let seed_prefix = signing_message(MessageKind::SampleSeed, network, &[]);
    let mut equation = Equation::with_capacity(attestations.len() * 2);
    let mut batched = vec![false; attestations.len()];
    for (i, a) in attestations.iter().enumerate() {
        if results[i].is_err() {
            continue;
        }
        // A batch holds many votes of few checkers: each key is decoded once.
        let Some(key) = equation.key(&a.checker) else {
            continue;
        };
        let Some(vote) = Candidate::parse(&a.vote_signature) else {
            continue;
        };
        let Some(seed) = Candidate::parse(&a.seed_signature) else {
            continue;
        };
        equation.push(key, &vote, &[&vote_prefix, &a.vote.signing_bytes()]);
        equation.push(key, &seed, &[&seed_prefix, &a.vote.claim.0]);
        batched[i] = true;
    }
    let batch_ok = !equation.is_empty() && equation.holds();
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
    use curve25519_dalek::{constants::EIGHT_TORSION, edwards::EdwardsPoint, scalar::Scalar};
    use sha2::{Digest, Sha512};

    use super::*;
    use crate::{
        attestation::tests::claim,
        identity::{Keypair, Signature},
        PixelSample,
    };

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

    /// `n` attestations on distinct claims by `checkers` checkers, taking turns.
    fn committee(checkers: u8, n: u32) -> (Vec<Keypair>, Vec<Attestation>) {
        let keys: Vec<Keypair> = (0..checkers)
            .map(|i| Keypair::from_seed([i.wrapping_add(100); 32]))
            .collect();
        let all = (0..n)
            .map(|i| {
                let mut c = claim();
                c.shard.tile = i;
                let k = &keys[i as usize % keys.len()];
                Attestation::create(k, "devnet", &c, vec![sample()])
            })
            .collect();
        (keys, all)
    }

    fn sample() -> PixelSample {
        PixelSample {
            x: 1,
            y: 2,
            expected: [3, 4, 5],
            claimed: [3, 4, 5],
        }
    }

    /// Batches `all`, checks that every answer is that of [`Attestation::verify`], and
    /// returns the indices of the refused ones.
    fn refused(all: &[Attestation]) -> Vec<usize> {
        let refs: Vec<&Attestation> = all.iter().collect();
        let batch = verify_batch(&refs, "devnet");
        assert_eq!(batch.len(), all.len());
        for (i, (b, a)) in batch.iter().zip(all).enumerate() {
            assert_eq!(b, &a.verify("devnet"), "attestation {i}");
        }
        (0..all.len()).filter(|i| batch[*i].is_err()).collect()
    }

    const INVALID_VOTE: AttestationError =
        AttestationError::BadVoteSignature(SignatureError::Invalid);
    const INVALID_SEED: AttestationError =
        AttestationError::BadSeedSignature(SignatureError::Invalid);

    /// The secret scalar of a keypair (RFC 8032: the clamped first half of SHA-512(seed)).
    fn secret_scalar(keypair: &Keypair) -> Scalar {
        let h = Sha512::digest(keypair.seed());
        let mut a = [0u8; 32];
        a.copy_from_slice(&h[..32]);
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a);
        assert_eq!(
            EdwardsPoint::mul_base(&a).compress().as_bytes(),
            keypair.public().as_bytes()
        );
        a
    }

    /// A signature with nonce point `r_point` = `[r]B + T` on `body` for `kind`: `s = r + k a`,
    /// the signature an honest signer makes when `T` is the identity.
    fn sign_with_nonce(
        keypair: &Keypair,
        r: Scalar,
        r_point: EdwardsPoint,
        kind: MessageKind,
        body: &[u8],
    ) -> Signature {
        let r_bytes = r_point.compress().to_bytes();
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(keypair.public().as_bytes());
        h.update(signing_message(kind, "devnet", body));
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = r + k * secret_scalar(keypair);
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&r_bytes);
        bytes[32..].copy_from_slice(s.as_bytes());
        Signature::from_bytes(bytes)
    }

    #[test]
    fn a_forged_vote_signature_among_many_good_ones() {
        let (keys, mut all) = committee(16, 64);
        assert!(refused(&all).is_empty());
        // A valid signature of the same checker, on another vote.
        let other = all[38].vote;
        all[37].vote_signature = other.sign(&keys[37 % 16], "devnet");
        // One bit of s flipped.
        let mut bytes = *all[50].vote_signature.as_bytes();
        bytes[40] ^= 4;
        all[50].vote_signature = Signature::from_bytes(bytes);
        assert_eq!(refused(&all), [37, 50]);
        assert_eq!(verify_batch(&[&all[37]], "devnet"), [Err(INVALID_VOTE)]);
    }

    #[test]
    fn a_forged_seed_signature_among_many_good_ones() {
        let (keys, mut all) = committee(16, 64);
        // The same checker's seed signature over another claim.
        let other = all[9].vote.claim;
        all[25].seed_signature = crate::seed_signature(&keys[25 % 16], "devnet", &other).0;
        assert_eq!(refused(&all), [25]);
        let refs: Vec<&Attestation> = all.iter().collect();
        assert_eq!(verify_batch(&refs, "devnet")[25], Err(INVALID_SEED));
    }

    #[test]
    fn two_checkers_signatures_swapped() {
        // Two checkers vote the same way on the same claim: the same bytes are signed.
        let (a, b) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
        let (_, mut all) = committee(16, 32);
        all.push(Attestation::create(&a, "devnet", &claim(), vec![sample()]));
        all.push(Attestation::create(&b, "devnet", &claim(), vec![sample()]));
        assert!(refused(&all).is_empty());
        let (x, y) = (all.len() - 2, all.len() - 1);
        let mut votes = all.clone();
        votes[x].vote_signature = all[y].vote_signature;
        votes[y].vote_signature = all[x].vote_signature;
        assert_eq!(refused(&votes), [x, y]);
        let mut seeds = all.clone();
        seeds[x].seed_signature = all[y].seed_signature;
        seeds[y].seed_signature = all[x].seed_signature;
        assert_eq!(refused(&seeds), [x, y]);
        // The attestations themselves swapped between the checkers.
        let mut checkers = all;
        checkers[x].checker = b.public();
        checkers[y].checker = a.public();
        assert_eq!(refused(&checkers), [x, y]);
    }

    #[test]
    fn a_non_canonical_s_is_refused() {
        let (_, mut all) = committee(16, 48);
        // s + l: the same s modulo l, so the batch equation would hold if s were reduced.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        for (i, vote) in [(7, true), (30, false)] {
            let a = &mut all[i];
            let signature = if vote {
                &mut a.vote_signature
            } else {
                &mut a.seed_signature
            };
            let mut bytes = *signature.as_bytes();
            let mut carry = 0u16;
            for (b, l) in bytes[32..].iter_mut().zip(L) {
                let sum = u16::from(*b) + u16::from(l) + carry;
                *b = sum as u8;
                carry = sum >> 8;
            }
            assert_eq!(carry, 0);
            *signature = Signature::from_bytes(bytes);
        }
        assert_eq!(refused(&all), [7, 30]);
        let refs: Vec<&Attestation> = all.iter().collect();
        let batch = verify_batch(&refs, "devnet");
        assert_eq!(
            (&batch[7], &batch[30]),
            (&Err(INVALID_VOTE), &Err(INVALID_SEED))
        );
    }

    #[test]
    fn a_small_order_r_that_satisfies_the_batch_equation_is_refused() {
        // R of small order and s = k a: [8]([s]B - [k]A - R) is the identity, so the
        // cofactored equation holds; the rule refuses a small-order R, in a batch too.
        let (keys, mut all) = committee(4, 16);
        for (i, t) in EIGHT_TORSION.iter().enumerate() {
            let a = &mut all[i];
            let body = a.vote.signing_bytes();
            a.vote_signature =
                sign_with_nonce(&keys[i % 4], Scalar::ZERO, *t, MessageKind::Vote, &body);
        }
        assert_eq!(refused(&all), (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn mixed_keys_and_faults_are_answered_one_by_one() {
        let (keys, mut all) = committee(40, 200);
        all[3].vote_signature = all[43].vote_signature; // same checker, another vote
        all[10].seed_signature = all[11].seed_signature; // another checker's
        all[20].samples = vec![sample(); crate::rules::MAX_SAMPLES + 1]; // bounds
        all[21].samples[0].claimed = [0, 0, 0]; // verdict
        all[22].checker = keys[0].public(); // another checker's key
        all[23].vote.attempt = 9; // the vote changed after signing
        let mut bytes = *all[24].seed_signature.as_bytes();
        bytes[3] ^= 0x80; // R changed
        all[24].seed_signature = Signature::from_bytes(bytes);
        assert_eq!(refused(&all), [3, 10, 20, 21, 22, 23, 24]);
    }

    #[test]
    fn a_mixed_order_r_gets_the_same_answer_alone_and_in_a_batch() {
        // R = [r]B + T with T of order 2, s = r + k a: the prime-order parts verify, so
        // the cofactored equation holds, though [s]B - [k]A = [r]B is not R: valid under
        // the protocol's rule (`msm.rs`), alone as in a batch.
        let (keys, mut all) = committee(4, 8);
        let r = Scalar::from(12345u64);
        let nonce = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[4];
        assert!(!nonce.is_small_order() && !nonce.is_torsion_free());
        let body = all[5].vote.signing_bytes();
        all[5].vote_signature = sign_with_nonce(&keys[1], r, nonce, MessageKind::Vote, &body);
        let refs: Vec<&Attestation> = all.iter().collect();
        let batch = verify_batch(&refs, "devnet");
        assert_eq!(all[5].verify("devnet"), Ok(()));
        assert_eq!(batch[5], Ok(()));
        // With a forged signature beside it, the batch fails and the one-by-one answers
        // decide: the same.
        all[6].vote_signature = all[7].vote_signature;
        assert_eq!(refused(&all), [6]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        #[test]
        fn any_corrupted_signature_gets_the_one_by_one_answer(
            target in 0usize..12,
            seed_signature: bool,
            byte in 0usize..64,
            mask in 1u8..=255,
        ) {
            let (_, mut all) = committee(4, 12);
            let a = &mut all[target];
            let signature = if seed_signature { &mut a.seed_signature } else { &mut a.vote_signature };
            let mut bytes = *signature.as_bytes();
            bytes[byte] ^= mask;
            *signature = Signature::from_bytes(bytes);
            // A changed signature never verifies (its message is unchanged).
            proptest::prop_assert_eq!(refused(&all), [target]);
        }
    }

    #[test]
    fn a_small_order_r_never_enters_the_batch() {
        let k = Keypair::from_seed([42; 32]);
        let mut a = attestation(&k, "devnet");
        // R = the identity point (small order), s = 0.
        let mut forged = [0u8; 64];
        forged[0] = 1;
        a.vote_signature = Signature::from_bytes(forged);
        assert!(crate::identity::msm::Candidate::parse(&a.vote_signature).is_none());
        assert!(verify_batch(&[&a], "devnet")[0].is_err());
    }
}
