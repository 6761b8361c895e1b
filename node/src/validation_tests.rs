//! Which refusals cost a forwarder its standing: a message wrong in itself does, one that
//! is refused only for what this node learnt since (a signer banned, an envelope aged in
//! transit) does not.

use pictor_protocol::{
    Action, ClaimId, ContentId, DecisionCertificate, DecisionVote, Evidence, JobId, Keypair,
    Ledger, Message, ShardId, SignedEnvelope, Verdict, Vote,
};

use super::{check_evidence, Checked, Rules, SharedLedger};

const NET: &str = "pictor-validation-test";
const NOW: u64 = 1_000_000;

fn key(i: u8) -> Keypair {
    Keypair::from_seed([i; 32])
}

fn rules() -> Rules {
    let set = (1..=4).map(|i| key(i).public()).collect();
    Rules {
        network: NET.into(),
        ledger: SharedLedger::new(Ledger::new(NET, set, 4)),
        max_age_ms: 60_000,
        checked: Checked::new(),
        canary_rate_ppm: pictor_protocol::canary::PPM / 2,
        faucet: None,
    }
}

fn sealed(by: &Keypair, at: u64, message: &Message) -> Vec<u8> {
    SignedEnvelope::seal(by, NET, at, message).to_bytes()
}

/// Two conflicting votes signed by `kp`.
fn equivocation(kp: &Keypair) -> Evidence {
    let vote = |verdict| Vote {
        shard: ShardId {
            job: JobId([3; 32]),
            frame: 1,
            tile: 0,
        },
        claim: ClaimId([4; 32]),
        worker: key(9).public(),
        attempt: 0,
        output: ContentId::of(b"output"),
        verdict,
    };
    let (a, b) = (vote(Verdict::Valid), vote(Verdict::Invalid));
    Evidence::new(kp.public(), (a, a.sign(kp, NET)), (b, b.sign(kp, NET)))
}

/// A decision signed by checkers 1, 2 and 3 of four.
fn decision() -> Message {
    let action = Action::BanChecker {
        checker: key(4).public(),
        fault: pictor_protocol::Fault::Equivocation(equivocation(&key(4))),
    };
    let mut signatures: Vec<_> = (1..=3)
        .map(|i| {
            let v = DecisionVote::new(&key(i), NET, action.clone());
            (v.checker, v.signature)
        })
        .collect();
    signatures.sort_by_key(|(k, _)| *k);
    Message::Decision(DecisionCertificate { action, signatures })
}

#[test]
fn a_decision_whose_signer_was_banned_since_is_dropped_without_blame() {
    let rules = rules();
    let cert = decision();
    assert!(rules.check(&sealed(&key(1), NOW, &cert), NOW).is_ok());
    // This node learns that checker 2, one of the signers, equivocated.
    rules
        .ledger
        .lock()
        .apply_evidence(&equivocation(&key(2)))
        .expect("evidence applies");
    let refusal = rules
        .check(&sealed(&key(1), NOW, &cert), NOW)
        .expect_err("a banned signer no longer counts");
    assert!(!refusal.penalise, "{refusal:?}");
}

#[test]
fn a_forged_signature_is_blamed_on_its_forwarder() {
    let rules = rules();
    let Message::Decision(mut cert) = decision() else {
        unreachable!("decision() is a decision");
    };
    // Checker 3's signature replaced by checker 2's: a quorum on paper only.
    cert.signatures[2].1 = cert.signatures[1].1;
    let refusal = rules
        .check(&sealed(&key(1), NOW, &Message::Decision(cert)), NOW)
        .expect_err("forged");
    assert!(refusal.penalise, "{refusal:?}");
    let mut bytes = sealed(&key(1), NOW, &decision());
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let refusal = rules.check(&bytes, NOW).expect_err("a flipped bit");
    assert!(refusal.penalise, "{refusal:?}");
}

/// Evidence in a peer's answer gets the verdicts of the same evidence gossiped: true
/// evidence against a checker is taken, a forged signature and a key outside the set are
/// not.
#[test]
fn evidence_in_an_answer_gets_the_checks_of_gossiped_evidence() {
    let rules = rules();
    let mut forged = equivocation(&key(2));
    forged.second.1 = forged.first.1;
    let cases = [
        (equivocation(&key(2)), None),
        (forged, Some(true)),
        (equivocation(&key(9)), Some(false)),
    ];
    for (evidence, refused) in cases {
        let answered = check_evidence(NET, &rules.ledger, &evidence);
        let gossiped = rules.check(&sealed(&key(1), NOW, &Message::Evidence(evidence)), NOW);
        assert_eq!(answered.as_ref().err(), gossiped.as_ref().err());
        assert_eq!(answered.err().map(|r| r.penalise), refused);
    }
}

/// A worker's heartbeat revealing `reveals`.
fn heartbeat(worker: &Keypair, reveals: Vec<pictor_protocol::CanaryReveal>) -> Vec<u8> {
    let message = Message::Heartbeat(pictor_protocol::Heartbeat {
        node: worker.public(),
        role: pictor_protocol::NodeRole::Worker,
        device: "cpu".into(),
        canaries: reveals,
    });
    sealed(worker, NOW, &message)
}

#[test]
fn a_heartbeat_passes_only_with_true_canary_reveals() {
    let rules = rules();
    let worker = key(9);
    let shard = |tile| ShardId {
        job: JobId([3; 32]),
        frame: 1,
        tile,
    };
    let reveal = (0..64)
        .find_map(|t| {
            pictor_protocol::CanaryReveal::draw(&worker, NET, &shard(t), 0, rules.canary_rate_ppm)
        })
        .expect("a canary among 64 draws at one half");
    rules
        .check(&heartbeat(&worker, vec![reveal.clone()]), NOW)
        .expect("a true reveal");
    // Another worker's canary, or one moved to another attempt, is a forgery.
    let other = key(10);
    let refusal = rules
        .check(&heartbeat(&other, vec![reveal.clone()]), NOW)
        .expect_err("someone else's canary");
    assert!(refusal.penalise, "{refusal:?}");
    let mut moved = reveal;
    moved.attempt += 1;
    assert!(rules.check(&heartbeat(&worker, vec![moved]), NOW).is_err());
    // More reveals than a heartbeat may carry.
    let many = vec![
        pictor_protocol::CanaryReveal {
            shard: shard(0),
            attempt: 0,
            signature: pictor_protocol::Signature::from_bytes([0; 64]),
        };
        pictor_protocol::canary::MAX_REVEALS + 1
    ];
    assert!(rules.check(&heartbeat(&worker, many), NOW).is_err());
}

#[test]
fn an_envelope_that_aged_in_transit_is_dropped_without_blame() {
    let rules = rules();
    let old = sealed(&key(1), NOW - 120_000, &decision());
    let refusal = rules.check(&old, NOW).expect_err("too old");
    assert!(!refusal.penalise, "{refusal:?}");
}

/// `kp`'s valid attestation on a claim of tile `tile`.
fn attestation(kp: &Keypair, tile: u32) -> pictor_protocol::Attestation {
    let claim = pictor_protocol::ResultClaim {
        shard: ShardId {
            job: JobId([3; 32]),
            frame: 1,
            tile,
        },
        worker: key(9).public(),
        attempt: 0,
        output: ContentId::of(b"output"),
        width: 8,
        height: 8,
        render_ms: 1,
        device: "test".into(),
    };
    let sample = pictor_protocol::PixelSample {
        x: 1,
        y: 2,
        expected: [3, 4, 5],
        claimed: [3, 4, 5],
    };
    pictor_protocol::Attestation::create(kp, NET, &claim, vec![sample])
}

#[test]
fn a_batch_gets_the_answers_of_one_by_one_checks() {
    let rules = rules();
    let mut forged = attestation(&key(2), 1);
    forged.vote_signature = attestation(&key(3), 1).vote_signature;
    let mut flipped = sealed(&key(1), NOW, &decision());
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let items: Vec<Vec<u8>> = vec![
        sealed(&key(1), NOW, &Message::Attestation(attestation(&key(1), 0))),
        sealed(&key(2), NOW, &Message::Attestation(forged)),
        sealed(&key(1), NOW, &decision()),
        flipped,
        sealed(&key(3), NOW - 120_000, &decision()),
        b"not an envelope".to_vec(),
        sealed(&key(4), NOW, &Message::Attestation(attestation(&key(4), 2))),
    ];
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let batch: Vec<_> = rules
        .check_batch(&refs, NOW)
        .into_iter()
        .map(|(result, _)| result)
        .collect();
    assert_eq!(batch.len(), items.len());
    for (i, (b, item)) in batch.iter().zip(&items).enumerate() {
        let one = rules.check(item, NOW);
        assert_eq!(b.is_ok(), one.is_ok(), "message {i}: {b:?} vs {one:?}");
        if let (Err(b), Err(one)) = (b, &one) {
            assert_eq!(b.penalise, one.penalise, "message {i}");
        }
    }
    let accepted: Vec<bool> = batch.iter().map(Result::is_ok).collect();
    assert_eq!(
        accepted,
        vec![true, false, true, false, false, false, true],
        "{batch:?}"
    );
}

#[test]
fn credits_messages_are_checked_against_the_set_and_refused_without_credits() {
    use pictor_protocol::credits::{CreditMessage, Payee, Transfer, TransferVote};
    let transfer = Transfer {
        from: key(7).public(),
        to: Payee::Account(key(8).public()),
        amount: 5,
        sequence: 0,
    };
    let set: Vec<_> = (1..=4).map(|i| key(i).public()).collect();
    let vote = TransferVote::new(&key(1), NET, transfer);
    assert!(super::check_transfer_vote(NET, &set, &vote).is_ok());
    // A key outside the set: refused, but not its forwarder's fault (the set may move).
    let outsider = TransferVote::new(&key(9), NET, transfer);
    let refusal = super::check_transfer_vote(NET, &set, &outsider).expect_err("outsider");
    assert!(!refusal.penalise, "{refusal:?}");
    // A member's key with a signature over another transfer: a forgery.
    let mut forged = vote;
    forged.transfer.amount = 500;
    let refusal = super::check_transfer_vote(NET, &set, &forged).expect_err("forged");
    assert!(refusal.penalise, "{refusal:?}");
    // A network without credits takes none in.
    let message = Message::Credits(CreditMessage::TransferVote(vote));
    let refusal = rules()
        .check(&sealed(&key(1), NOW, &message), NOW)
        .expect_err("no credits here");
    assert!(
        !refusal.penalise && refusal.reason.contains("no credits"),
        "{refusal:?}"
    );
}

/// A vote to ban checker 4 for the attestation it sent, with one sampled value changed to
/// `changed` (the same value also as the worker's, so that its verdict still follows) and
/// the true value named as the one the accuser rendered.
fn ban_for_sampled_value(changed: Option<[u8; 3]>) -> Message {
    let accused = key(4);
    let claim = pictor_protocol::ResultClaim {
        shard: ShardId {
            job: JobId([3; 32]),
            frame: 1,
            tile: 0,
        },
        worker: key(9).public(),
        attempt: 0,
        output: ContentId::of(b"output"),
        width: 32,
        height: 32,
        render_ms: 5,
        device: "test".into(),
    };
    let truth = [90, 91, 92];
    let samples = (0..4)
        .map(|i| pictor_protocol::PixelSample {
            x: i,
            y: i,
            expected: truth,
            claimed: truth,
        })
        .collect();
    let sent = pictor_protocol::Attestation::create(&accused, NET, &claim, samples);
    let proof =
        SignedEnvelope::seal(&accused, NET, NOW, &Message::Attestation(sent.clone())).proof();
    let mut attestation = sent;
    let stated = changed.unwrap_or(truth);
    attestation.samples[0].expected = stated;
    attestation.samples[0].claimed = stated;
    let action = Action::BanChecker {
        checker: accused.public(),
        fault: pictor_protocol::Fault::FalseAttestation {
            attestation,
            proof,
            recomputed: vec![pictor_protocol::Recomputed {
                x: 0,
                y: 0,
                value: [truth[0] ^ 1, truth[1], truth[2]],
            }],
        },
    };
    Message::DecisionVote(DecisionVote::new(&key(1), NET, action))
}

/// A fault's evidence is what the accused sent, signed: a checker that changes the values
/// of an honest attestation to accuse its checker is refused, and blamed.
#[test]
fn a_ban_on_values_the_accused_never_sent_is_refused() {
    let rules = rules();
    // As sent (the accuser says the scene renders something else there): a fault that the
    // other checkers go on to confirm by rendering.
    let genuine = ban_for_sampled_value(None);
    assert!(rules.check(&sealed(&key(1), NOW, &genuine), NOW).is_ok());
    // Changed after it was sent: its checker's envelope no longer covers it.
    let forged = ban_for_sampled_value(Some([10, 20, 30]));
    let refusal = rules
        .check(&sealed(&key(1), NOW, &forged), NOW)
        .expect_err("a forged fault");
    assert!(refusal.penalise, "{refusal:?}");
    assert!(
        refusal.reason.contains("not what its checker sent"),
        "{refusal:?}"
    );
}
