use super::*;
use crate::attestation::tests::{claim, samples_for};
use crate::attestation::{Attestation, Verdict, Vote};
use crate::certificate::Evidence;
use crate::envelope::{EnvelopeProof, Message, SignedEnvelope};
use crate::identity::Keypair;
use crate::job::JobId;
use crate::rules;

const NET: &str = "devnet";

pub(super) fn members(n: u8) -> Vec<Keypair> {
    (0..n).map(|i| Keypair::from_seed([100 + i; 32])).collect()
}

fn keys(kps: &[Keypair]) -> Vec<PublicKey> {
    kps.iter().map(Keypair::public).collect()
}

pub(super) fn certify(action: &Action, signers: &[Keypair]) -> DecisionCertificate {
    let mut signatures: Vec<_> = signers
        .iter()
        .map(|k| {
            let v = DecisionVote::new(k, NET, action.clone());
            (v.checker, v.signature)
        })
        .collect();
    signatures.sort_by_key(|(k, _)| *k);
    DecisionCertificate {
        action: action.clone(),
        signatures,
    }
}

fn equivocation(kp: &Keypair) -> Evidence {
    let c = claim();
    let a = Vote::on(&c, Verdict::Valid);
    let b = Vote::on(&c, Verdict::Invalid);
    Evidence::new(kp.public(), (a, a.sign(kp, NET)), (b, b.sign(kp, NET)))
}

#[test]
fn a_decision_needs_more_than_two_thirds_of_the_set() {
    let kps = members(7);
    let set = keys(&kps);
    let mut ledger = Ledger::new(NET, set.clone(), 4);
    let job = JobId([9; 32]);
    let action = ledger
        .next_committee(&job, |k| *k != ledger.committee(&job)[0])
        .expect("a lost member moves the job");
    // 4 of 7 is not enough; 5 of 7 is.
    let short = certify(&action, &kps[..4]);
    assert!(matches!(
        ledger.apply(&short),
        Err(GovernanceError::NoQuorum {
            got: 4,
            needed: 5,
            set: 7
        })
    ));
    assert_eq!(ledger.generation(&job), 0);
    let cert = certify(&action, &kps[..5]);
    assert_eq!(
        ledger.apply(&cert),
        Ok(Applied::Moved { job, generation: 1 })
    );
    assert_eq!(ledger.generation(&job), 1);
    // The same certificate again changes nothing.
    assert_eq!(ledger.apply(&cert), Ok(Applied::Nothing));
    // Another network's signatures never verify here.
    let mut other = Ledger::new("testnet", set, 4);
    assert!(other.apply(&cert).is_err());
}

#[test]
fn forged_or_outside_signatures_are_refused() {
    let kps = members(4);
    let set = keys(&kps);
    let mut ledger = Ledger::new(NET, set, 4);
    let action = Action::BanChecker {
        checker: kps[3].public(),
        fault: Fault::Equivocation(equivocation(&kps[3])),
    };
    let outsider = Keypair::from_seed([7; 32]);
    let with_outsider = certify(&action, &[kps[0].clone(), kps[1].clone(), outsider.clone()]);
    assert_eq!(
        ledger.apply(&with_outsider),
        Err(GovernanceError::NotChecker(outsider.public()))
    );
    let mut forged = certify(&action, &kps[..3]);
    forged.signatures[0].1 = forged.signatures[1].1;
    assert!(matches!(
        ledger.apply(&forged),
        Err(GovernanceError::BadSignature { .. })
    ));
    let mut dup = certify(&action, &kps[..3]);
    dup.signatures[2] = dup.signatures[1];
    assert!(matches!(
        ledger.apply(&dup),
        Err(GovernanceError::DuplicateOrUnsorted(_))
    ));
    assert!(!ledger.is_banned(&kps[3].public()));
    assert_eq!(
        ledger.apply(&certify(&action, &kps[..3])),
        Ok(Applied::Banned(kps[3].public()))
    );
    assert_eq!(
        ledger.status(&kps[3].public(), true, true),
        Some(CheckerStatus::Banned)
    );
}

#[test]
fn equivocation_bans_at_once_and_a_banned_signer_no_longer_counts() {
    let kps = members(4);
    let mut ledger = Ledger::new(NET, keys(&kps), 4);
    let evidence = equivocation(&kps[0]);
    assert_eq!(
        ledger.apply_evidence(&evidence),
        Ok(Applied::Banned(kps[0].public()))
    );
    // Evidence that does not conflict is no evidence.
    let c = claim();
    let v = Vote::on(&c, Verdict::Valid);
    let same = Evidence::new(
        kps[1].public(),
        (v, v.sign(&kps[1], NET)),
        (v, v.sign(&kps[1], NET)),
    );
    assert!(ledger.apply_evidence(&same).is_err());
    assert!(!ledger.is_banned(&kps[1].public()));
    // A decision signed with the banned checker's help does not verify.
    let job = JobId([3; 32]);
    let action = ledger
        .next_committee(&job, |_| true)
        .expect("a banned member is lost");
    assert!(matches!(
        ledger.apply(&certify(&action, &kps[..3])),
        Err(GovernanceError::NotChecker(_))
    ));
}

#[test]
fn a_moved_committee_keeps_its_live_members_and_fills_from_live_checkers() {
    let kps = members(10);
    let set = keys(&kps);
    let ledger = Ledger::new(NET, set.clone(), 4);
    let job = JobId([1; 32]);
    let first = ledger.committee(&job);
    assert_eq!(first, rules::committee(&job, &set, 4));
    let down = [first[1], first[2]];
    let live = |k: &PublicKey| !down.contains(k);
    let Some(Action::Recommittee {
        generation,
        committee,
        ..
    }) = ledger.next_committee(&job, live)
    else {
        panic!("two lost members move the job");
    };
    assert_eq!(generation, 1);
    assert_eq!(committee.len(), 4);
    assert_eq!(&committee[..2], &[first[0], first[3]]);
    assert!(committee.iter().all(live));
    // Every node with the same view proposes the same move.
    assert_eq!(
        ledger.next_committee(&job, live),
        ledger.clone().next_committee(&job, live)
    );
    // Nothing lost: no move.
    assert_eq!(ledger.next_committee(&job, |_| true), None);
}

#[test]
fn committees_of_every_generation_are_kept() {
    let kps = members(7);
    let mut ledger = Ledger::new(NET, keys(&kps), 4);
    let job = JobId([2; 32]);
    let g0 = ledger.committee(&job);
    let action = ledger.next_committee(&job, |k| *k != g0[0]).expect("move");
    ledger.apply(&certify(&action, &kps[..5])).expect("applies");
    let all = ledger.committees(&job);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], g0);
    assert_ne!(all[1], g0);
    // An older generation arriving late changes nothing.
    let mut stale = action.clone();
    if let Action::Recommittee { generation, .. } = &mut stale {
        *generation = 1;
    }
    assert_eq!(ledger.apply_verified(&stale), Applied::Nothing);
    ledger.forget(&job);
    assert_eq!(ledger.committee(&job), g0);
}

#[test]
fn a_false_attestation_must_name_its_own_wrong_values() {
    let kp = Keypair::from_seed([100; 32]);
    let c = claim();
    let samples = samples_for(&kp, NET, &c, false);
    let attestation = Attestation::create(&kp, NET, &c, samples.clone());
    let proof = sent(&kp, &attestation);
    let s = samples[0];
    let wrong = Recomputed {
        x: s.x,
        y: s.y,
        value: [s.expected[0] ^ 1, s.expected[1], s.expected[2]],
    };
    let fault = Fault::FalseAttestation {
        attestation: attestation.clone(),
        proof,
        recomputed: vec![wrong],
    };
    assert_eq!(fault.check(NET), Ok(()));
    assert_eq!(fault.accused(), kp.public());
    // The value it states is no fault.
    let same = Fault::FalseAttestation {
        attestation: attestation.clone(),
        proof,
        recomputed: vec![Recomputed {
            value: s.expected,
            ..wrong
        }],
    };
    assert!(same.check(NET).is_err());
    // A position it did not sample is no fault.
    let elsewhere = Fault::FalseAttestation {
        attestation: attestation.clone(),
        proof,
        recomputed: vec![Recomputed { x: 1000, ..wrong }],
    };
    assert!(elsewhere.check(NET).is_err());
    // Nothing named, or too much.
    for recomputed in [vec![], vec![wrong; MAX_RECOMPUTED + 1]] {
        let f = Fault::FalseAttestation {
            attestation: attestation.clone(),
            proof,
            recomputed,
        };
        assert!(f.check(NET).is_err());
    }
    // A ban names the accused.
    let set = vec![kp.public(), Keypair::from_seed([101; 32]).public()];
    let wrong_target = Action::BanChecker {
        checker: set[1],
        fault,
    };
    assert!(wrong_target.check(NET, &set, 4).is_err());
}

/// The proof of the envelope `kp` gossips `attestation` in.
fn sent(kp: &Keypair, attestation: &Attestation) -> EnvelopeProof {
    SignedEnvelope::seal(kp, NET, 1_000, &Message::Attestation(attestation.clone())).proof()
}

#[test]
fn a_false_attestation_cannot_be_made_of_an_honest_one() {
    // An honest checker's attestation: every value it states is what the scene renders.
    let kp = Keypair::from_seed([102; 32]);
    let c = claim();
    let attestation = Attestation::create(&kp, NET, &c, samples_for(&kp, NET, &c, false));
    let proof = sent(&kp, &attestation);
    // An accuser changes one sampled value (both sides, so that the verdict still follows)
    // and names the true value as the one it rendered: the votes' signatures still hold,
    // but the envelope's no longer does.
    let mut altered = attestation.clone();
    let truth = altered.samples[0].expected;
    let lie = [truth[0] ^ 0x40, truth[1], truth[2]];
    altered.samples[0].expected = lie;
    altered.samples[0].claimed = lie;
    assert_eq!(
        altered.verify(NET),
        Ok(()),
        "no signature of its own covers the values"
    );
    let s = altered.samples[0];
    let forged = Fault::FalseAttestation {
        attestation: altered.clone(),
        proof,
        recomputed: vec![Recomputed {
            x: s.x,
            y: s.y,
            value: truth,
        }],
    };
    let Err(GovernanceError::Fault(why)) = forged.check(NET) else {
        panic!("a forged fault must be refused");
    };
    assert!(why.contains("not what its checker sent"), "{why}");
    // Nor does another checker's envelope, or another date, make it hold.
    let other = Keypair::from_seed([103; 32]);
    let theirs = Fault::FalseAttestation {
        attestation: altered.clone(),
        proof: SignedEnvelope::seal(&other, NET, 1_000, &Message::Attestation(altered.clone()))
            .proof(),
        recomputed: vec![Recomputed {
            x: s.x,
            y: s.y,
            value: truth,
        }],
    };
    assert!(theirs.check(NET).is_err());
    let redated = Fault::FalseAttestation {
        attestation: attestation.clone(),
        proof: EnvelopeProof {
            issued_ms: proof.issued_ms + 1,
            ..proof
        },
        recomputed: vec![Recomputed {
            x: s.x,
            y: s.y,
            value: [truth[0], truth[1] ^ 1, truth[2]],
        }],
    };
    assert!(redated.check(NET).is_err());
}

#[test]
fn ban_cooldowns_double_with_each_offence() {
    assert_eq!(ban_cooldown_ms(1000, 1), 1000);
    assert_eq!(ban_cooldown_ms(1000, 2), 2000);
    assert_eq!(ban_cooldown_ms(1000, 4), 8000);
    assert_eq!(ban_cooldown_ms(1000, 0), 1000);
    assert_eq!(ban_cooldown_ms(u64::MAX / 2, 40), u64::MAX);
}

#[test]
fn a_collector_certifies_once_and_stays_bounded() {
    let kps = members(4);
    let action = Action::Recommittee {
        job: JobId([4; 32]),
        generation: 1,
        committee: keys(&kps[..2]),
    };
    let mut c = DecisionCollector::new(4, 1);
    assert!(c
        .add_verified(DecisionVote::new(&kps[0], NET, action.clone()))
        .is_none());
    // A second open action does not fit.
    let other = Action::Recommittee {
        job: JobId([5; 32]),
        generation: 1,
        committee: keys(&kps[..2]),
    };
    assert!(c
        .add_verified(DecisionVote::new(&kps[0], NET, other))
        .is_none());
    assert_eq!(c.open(), 1);
    assert!(c
        .add_verified(DecisionVote::new(&kps[1], NET, action.clone()))
        .is_none());
    let cert = c
        .add_verified(DecisionVote::new(&kps[2], NET, action.clone()))
        .expect("three of four");
    assert_eq!(cert.signatures.len(), 3);
    assert!(c
        .add_verified(DecisionVote::new(&kps[3], NET, action))
        .is_none());
    let ledger = Ledger::new(NET, keys(&kps), 4);
    assert!(cert.verify(NET, ledger.set(), |_| true).is_ok());
}
