use proptest::prelude::*;

use super::*;
use crate::attestation::tests::{claim, samples_for};
use crate::attestation::Verdict;
use crate::identity::Keypair;

const NET: &str = "devnet";

fn members(n: u8) -> Vec<Keypair> {
    (0..n).map(|i| Keypair::from_seed([100 + i; 32])).collect()
}

fn keys(kps: &[Keypair]) -> Vec<PublicKey> {
    kps.iter().map(Keypair::public).collect()
}

fn qc(vote: Vote, signers: &[Keypair]) -> QuorumCertificate {
    let mut signatures: Vec<_> = signers
        .iter()
        .map(|k| (k.public(), vote.sign(k, NET)))
        .collect();
    signatures.sort_by_key(|(k, _)| *k);
    QuorumCertificate { vote, signatures }
}

#[test]
fn three_of_four_verifies() {
    let kps = members(4);
    let committee = keys(&kps);
    let vote = Vote::on(&claim(), Verdict::Valid);
    let cert = qc(vote, &kps[..3]);
    assert_eq!(cert.verify(NET, &committee), Ok(()));
    assert!(cert.verify("testnet", &committee).is_err());
}

#[test]
fn bad_certificates_rejected() {
    let kps = members(4);
    let committee = keys(&kps);
    let vote = Vote::on(&claim(), Verdict::Valid);
    // Too few.
    assert!(matches!(
        qc(vote, &kps[..2]).verify(NET, &committee),
        Err(CertificateError::NoQuorum {
            got: 2,
            needed: 3,
            ..
        })
    ));
    // A non-member.
    let outsider = Keypair::from_seed([1; 32]);
    let with_outsider = qc(vote, &[kps[0].clone(), kps[1].clone(), outsider.clone()]);
    assert_eq!(
        with_outsider.verify(NET, &committee),
        Err(CertificateError::NotMember(outsider.public()))
    );
    // A duplicate.
    let mut dup = qc(vote, &kps[..2]);
    dup.signatures.push(dup.signatures[1]);
    assert!(matches!(
        dup.verify(NET, &committee),
        Err(CertificateError::DuplicateOrUnsorted(_))
    ));
    // Unsorted.
    let mut unsorted = qc(vote, &kps[..3]);
    unsorted.signatures.swap(0, 2);
    assert!(matches!(
        unsorted.verify(NET, &committee),
        Err(CertificateError::DuplicateOrUnsorted(_))
    ));
    // A bad signature.
    let mut bad = qc(vote, &kps[..3]);
    let mut b = *bad.signatures[1].1.as_bytes();
    b[0] ^= 1;
    bad.signatures[1].1 = Signature::from_bytes(b);
    assert!(matches!(
        bad.verify(NET, &committee),
        Err(CertificateError::BadSignature { .. })
    ));
    // Signatures on another vote.
    let mut other = qc(Vote::on(&claim(), Verdict::Invalid), &kps[..3]);
    other.vote = vote;
    assert!(matches!(
        other.verify(NET, &committee),
        Err(CertificateError::BadSignature { .. })
    ));
    // Empty committee never certifies.
    assert!(QuorumCertificate {
        vote,
        signatures: vec![]
    }
    .verify(NET, &[])
    .is_err());
}

#[test]
fn collector_certifies_on_quorum_and_spots_equivocation() {
    let kps = members(4);
    let committee = keys(&kps);
    let c = claim();
    let mut col = VoteCollector::new(NET, c.id(), &committee);
    let att =
        |k: &Keypair, bad: bool| Attestation::create(k, NET, &c, samples_for(k, NET, &c, bad));
    assert_eq!(col.add(&att(&kps[0], false)), Ok(Collected::Pending));
    assert_eq!(col.add(&att(&kps[0], false)), Ok(Collected::Duplicate));
    assert_eq!(col.add(&att(&kps[1], true)), Ok(Collected::Pending));
    assert_eq!(col.add(&att(&kps[2], false)), Ok(Collected::Pending));
    let done = col.add(&att(&kps[3], false));
    let Ok(Collected::Certified(cert)) = done else {
        panic!("expected a certificate, got {done:?}");
    };
    assert_eq!(cert.signatures.len(), 3);
    assert_eq!(cert.verify(NET, &committee), Ok(()));
    assert_eq!(col.certificate(), Some(&cert));
    // kps[1] now votes Valid too: equivocation.
    let eq = col.add(&att(&kps[1], false));
    let Ok(Collected::Equivocation(ev)) = eq else {
        panic!("expected evidence, got {eq:?}");
    };
    assert_eq!(ev.verify(NET), Ok(()));
    assert_eq!(ev.checker, kps[1].public());
    // Outsiders and other claims are refused.
    let outsider = Keypair::from_seed([1; 32]);
    assert!(matches!(
        col.add(&att(&outsider, false)),
        Err(CertificateError::NotMember(_))
    ));
    let mut other = c.clone();
    other.attempt = 7;
    let foreign = Attestation::create(&kps[0], NET, &other, Vec::new());
    assert!(matches!(
        col.add(&foreign),
        Err(CertificateError::WrongClaim { .. })
    ));
}

#[test]
fn add_verified_applies_the_same_quorum_rule_without_signature_work() {
    let kps = members(4);
    let committee = keys(&kps);
    let c = claim();
    let att =
        |k: &Keypair, bad: bool| Attestation::create(k, NET, &c, samples_for(k, NET, &c, bad));
    // A broken signature: `add` refuses it, `add_verified` trusts the caller's check.
    let mut forged = att(&kps[0], false);
    let mut b = *forged.vote_signature.as_bytes();
    b[0] ^= 1;
    forged.vote_signature = Signature::from_bytes(b);
    let mut checked = VoteCollector::new(NET, c.id(), &committee);
    assert!(matches!(
        checked.add(&forged),
        Err(CertificateError::Attestation(_))
    ));
    assert_eq!(checked.votes(), 0);
    let mut trusted = VoteCollector::new(NET, c.id(), &committee);
    assert_eq!(trusted.add_verified(&forged), Ok(Collected::Pending));
    assert_eq!(trusted.votes(), 1);

    // Same answers as `add` for the same sequence of verified attestations.
    let mut col = VoteCollector::new(NET, c.id(), &committee);
    assert_eq!(
        col.add_verified(&att(&kps[0], true)),
        Ok(Collected::Pending)
    );
    assert_eq!(
        col.add_verified(&att(&kps[0], true)),
        Ok(Collected::Duplicate)
    );
    // kps[0] changes its mind before the quorum: evidence, and the second vote is not
    // counted (kps[1] and kps[2] alone are no quorum of four).
    let eq = col.add_verified(&att(&kps[0], false));
    let Ok(Collected::Equivocation(ev)) = eq else {
        panic!("expected evidence, got {eq:?}");
    };
    assert_eq!(ev.verify(NET), Ok(()));
    assert_eq!(
        col.add_verified(&att(&kps[1], false)),
        Ok(Collected::Pending)
    );
    assert_eq!(
        col.add_verified(&att(&kps[2], false)),
        Ok(Collected::Pending)
    );
    assert_eq!(col.certificate(), None);
    let done = col.add_verified(&att(&kps[3], false));
    let Ok(Collected::Certified(cert)) = done else {
        panic!("expected a certificate, got {done:?}");
    };
    assert!(!cert.signers().any(|k| *k == kps[0].public()));
    assert_eq!(cert.verify(NET, &committee), Ok(()));
    // Outsiders and other claims are still refused.
    let outsider = Keypair::from_seed([1; 32]);
    assert_eq!(
        col.add_verified(&att(&outsider, false)),
        Err(CertificateError::NotMember(outsider.public()))
    );
    let mut other = c.clone();
    other.attempt = 7;
    let foreign = Attestation::create(&kps[0], NET, &other, Vec::new());
    assert!(matches!(
        col.add_verified(&foreign),
        Err(CertificateError::WrongClaim { .. })
    ));
}

#[test]
fn evidence_rules() {
    let k = Keypair::from_seed([3; 32]);
    let c = claim();
    let valid = Vote::on(&c, Verdict::Valid);
    let invalid = Vote::on(&c, Verdict::Invalid);
    let ev = Evidence::new(
        k.public(),
        (valid, valid.sign(&k, NET)),
        (invalid, invalid.sign(&k, NET)),
    );
    assert_eq!(ev.verify(NET), Ok(()));
    let same = Evidence::new(
        k.public(),
        (valid, valid.sign(&k, NET)),
        (valid, valid.sign(&k, NET)),
    );
    assert_eq!(same.verify(NET), Err(CertificateError::NotConflicting));
    let mut other_claim = c.clone();
    other_claim.attempt = 2;
    let v2 = Vote::on(&other_claim, Verdict::Invalid);
    let unrelated = Evidence::new(
        k.public(),
        (valid, valid.sign(&k, NET)),
        (v2, v2.sign(&k, NET)),
    );
    assert_eq!(unrelated.verify(NET), Err(CertificateError::NotConflicting));
    let forged = Evidence::new(
        k.public(),
        (valid, valid.sign(&k, NET)),
        (invalid, invalid.sign(&Keypair::from_seed([4; 32]), NET)),
    );
    assert!(matches!(
        forged.verify(NET),
        Err(CertificateError::BadSignature { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Any two quorums of one committee overlap in at least f + 1 members, so two
    /// certificates on conflicting votes share a signer (who equivocated).
    #[test]
    fn conflicting_certificates_share_a_signer(n in 1u8..12, rot in any::<u8>(), split in any::<u8>()) {
        let kps = members(n);
        let committee = keys(&kps);
        let q = rules::quorum_threshold(n as usize);
        let c = claim();
        let valid = Vote::on(&c, Verdict::Valid);
        let invalid = Vote::on(&c, Verdict::Invalid);
        // Two arbitrary quorum-sized subsets: a prefix and a rotated window.
        let start = rot as usize % n as usize;
        let a: Vec<Keypair> = kps.iter().take(q).cloned().collect();
        let b: Vec<Keypair> = (0..q).map(|i| kps[(start + i + split as usize) % n as usize].clone()).collect();
        let qa = qc(valid, &a);
        let qb = qc(invalid, &b);
        prop_assert!(qa.verify(NET, &committee).is_ok());
        prop_assert!(qb.verify(NET, &committee).is_ok());
        let sa: BTreeSet<_> = qa.signers().collect();
        let overlap = qb.signers().filter(|k| sa.contains(k)).count();
        prop_assert!(overlap > rules::max_faulty(n as usize), "overlap {} n {}", overlap, n);
        prop_assert!(overlap >= 1);
    }
}

#[test]
fn checked_votes_skip_only_the_exact_signature_that_passed() {
    let kps = members(4);
    let committee = keys(&kps);
    let vote = Vote::on(&claim(), Verdict::Valid);
    let cert = qc(vote, &kps[..3]);
    let mut checked = CheckedVotes::new(16);
    // The votes came one by one as attestations and passed.
    for (signer, sig) in &cert.signatures[..2] {
        checked.insert(NET, &vote, signer, sig);
    }
    assert_eq!(cert.verify_checked(NET, &committee, &mut checked), Ok(()));
    assert_eq!(
        checked.len(),
        3,
        "the signature it checked is remembered too"
    );

    // A forged signature is checked, whatever else is known.
    let mut forged = cert.clone();
    let mut b = *forged.signatures[2].1.as_bytes();
    b[0] ^= 1;
    forged.signatures[2].1 = Signature::from_bytes(b);
    let mut fresh = CheckedVotes::new(16);
    for (signer, sig) in &cert.signatures[..2] {
        fresh.insert(NET, &vote, signer, sig);
    }
    assert!(matches!(
        forged.verify_checked(NET, &committee, &mut fresh),
        Err(CertificateError::BadSignature { .. })
    ));

    // A known signature moved onto another vote, or another network, is checked again.
    let other = Vote::on(&claim(), Verdict::Invalid);
    let mut moved = qc(other, &kps[..3]);
    moved.signatures = cert.signatures.clone();
    assert!(matches!(
        moved.verify_checked(NET, &committee, &mut checked),
        Err(CertificateError::BadSignature { .. })
    ));
    let (signer, sig) = cert.signatures[0];
    assert!(checked.contains(NET, &vote, &signer, &sig));
    assert!(!checked.contains("testnet", &vote, &signer, &sig));
}

#[test]
fn checked_votes_are_bounded() {
    let kps = members(4);
    let mut checked = CheckedVotes::new(3);
    let votes: Vec<Vote> = (0..5u8)
        .map(|i| {
            let mut c = claim();
            c.render_ms = u64::from(i);
            Vote::on(&c, Verdict::Valid)
        })
        .collect();
    for vote in &votes {
        checked.insert(NET, vote, &kps[0].public(), &vote.sign(&kps[0], NET));
    }
    assert_eq!(checked.len(), 3);
    let first = &votes[0];
    assert!(
        !checked.contains(NET, first, &kps[0].public(), &first.sign(&kps[0], NET)),
        "the oldest left first"
    );
    let last = &votes[4];
    assert!(checked.contains(NET, last, &kps[0].public(), &last.sign(&kps[0], NET)));
}
