//! Votes: equivocation, and votes that arrive before their job.

use super::*;

/// `kp`'s attestation on `claim`: Valid with the samples its seed selects (all matching),
/// or Invalid with none (the output could not be obtained).
fn attestation(kp: &Keypair, claim: &ResultClaim, verdict: Verdict) -> Attestation {
    let samples = match verdict {
        Verdict::Valid => {
            let (_, seed) = seed_signature(kp, NET, &claim.id());
            let k = rules::samples_per_checker(4, rules::FRAUD_FRACTION, rules::DETECTION_TARGET);
            rules::sample_pixels(&seed, claim.width, claim.height, k)
                .into_iter()
                .map(|(x, y)| PixelSample {
                    x,
                    y,
                    expected: [7; 3],
                    claimed: [7; 3],
                })
                .collect()
        }
        Verdict::Invalid => Vec::new(),
    };
    let att = Attestation::create(kp, NET, claim, samples);
    assert_eq!(att.vote.verdict, verdict);
    att
}

#[test]
fn a_member_that_votes_both_ways_yields_evidence_and_its_second_vote_does_not_count() {
    let mut rig = Rig::started(2);
    let a: Assignment = rig.assignments()[0].clone();
    let claim = claim_on(a.shard, a.worker);
    let committee = rig.checkers[0]
        .committee(&rig.job.id())
        .expect("the job is known")
        .to_vec();
    // Checker 0 (key 1) hears the other members' votes; key 2 signs both verdicts.
    let liar = key(2);
    let c = &mut rig.checkers[0];
    let first = attestation(&liar, &claim, Verdict::Invalid);
    assert_eq!(c.handle(10, sent(&liar, first)), vec![]);
    let second = attestation(&liar, &claim, Verdict::Valid);
    let outs = c.handle(11, sent(&liar, second));
    let Some(CheckerOutput::Equivocation(evidence)) = outs
        .iter()
        .find(|o| matches!(o, CheckerOutput::Equivocation(_)))
    else {
        panic!("expected evidence, got {outs:?}");
    };
    assert_eq!(evidence.checker, liar.public());
    assert_eq!(evidence.verify(NET), Ok(()));
    // The evidence goes out on its own, and bans the liar here at once.
    assert!(outs.iter().any(
        |o| matches!(o, CheckerOutput::Publish(Message::Evidence(e)) if e == evidence.as_ref())
    ));
    assert!(c.ledger().is_banned(&liar.public()));
    // Two honest Valid votes and the liar's uncounted one are no quorum of four.
    for k in [key(3), key(4)] {
        let outs = c.handle(12, sent(&k, attestation(&k, &claim, Verdict::Valid)));
        assert!(
            !outs
                .iter()
                .any(|o| matches!(o, CheckerOutput::Finalized { .. })),
            "no quorum yet: {outs:?}"
        );
    }
    // The fourth member's vote makes the quorum, without the liar.
    let own = attestation(&key(1), &claim, Verdict::Valid);
    let mut outs = c.handle(13, sent(&key(1), own));
    assert!(
        outs.iter().any(|o| matches!(
            o,
            CheckerOutput::Finalized { shard, verdict: Verdict::Valid, .. } if *shard == a.shard
        )),
        "{outs:?}"
    );
    // Published at once by the leader, after the grace period by anyone else.
    outs.extend(c.handle(13 + 1_000, CheckerInput::Tick));
    let certificate = outs
        .iter()
        .find_map(|o| match o {
            CheckerOutput::Publish(Message::Certificate(qc)) => Some(qc.clone()),
            _ => None,
        })
        .expect("a certificate");
    let signers: Vec<PublicKey> = certificate.signers().copied().collect();
    assert_eq!(signers.len(), 3);
    assert!(!signers.contains(&liar.public()));
    assert_eq!(certificate.verify(NET, &committee), Ok(()));
}

#[test]
fn votes_that_arrive_before_their_job_are_counted_when_it_arrives() {
    let mut rig = Rig::new(1);
    let job = rig.job.clone();
    let shards = job.shards();
    let (quorate, short) = (shards[0], shards[1]);
    let c = &mut rig.checkers[0];
    // Before the job is known: three members vote on one claim, two members and an
    // outsider on the other. Nothing can be decided without the committee.
    let early = [
        (quorate, [key(2), key(3), key(4)]),
        (short, [key(2), key(3), key(9)]),
    ];
    for (shard, voters) in early {
        let claim = claim_on(shard, rig.workers[0]);
        for k in voters {
            let vote = attestation(&k, &claim, Verdict::Valid);
            assert_eq!(c.handle(5, sent(&k, vote)), vec![]);
        }
    }
    // With the job comes the committee: the first claim is certified, the outsider's
    // vote does not count for the second.
    let outs = c.handle(6, CheckerInput::Job(job.clone()));
    let decided: Vec<(ShardId, Verdict)> = outs
        .iter()
        .filter_map(|o| match o {
            CheckerOutput::Finalized { shard, verdict, .. } => Some((*shard, *verdict)),
            _ => None,
        })
        .collect();
    assert_eq!(decided, vec![(quorate, Verdict::Valid)], "{outs:?}");
    assert_eq!(c.open_shards(&job.id()), Some(1));
}

#[test]
fn a_vote_that_arrives_after_the_certificate_and_contradicts_it_is_rechecked() {
    let mut rig = Rig::started(2);
    let a: Assignment = rig.assignments()[0].clone();
    let claim = claim_on(a.shard, a.worker);
    let c = &mut rig.checkers[0];
    // Three members reject the claim: a quorum of four.
    let mut outs = Vec::new();
    for k in [key(1), key(3), key(4)] {
        outs.extend(c.handle(10, sent(&k, attestation(&k, &claim, Verdict::Invalid))));
    }
    assert!(
        outs.iter().any(|o| matches!(
            o,
            CheckerOutput::Finalized {
                verdict: Verdict::Invalid,
                ..
            }
        )),
        "{outs:?}"
    );
    // The fourth member vouches for the claim afterwards (a lazy checker's late vote):
    // its sampled pixels are re-rendered to check what it stated, once.
    let late = attestation(&key(2), &claim, Verdict::Valid);
    let outs = c.handle(20, sent(&key(2), late.clone()));
    let rerenders = |outs: &[CheckerOutput]| {
        outs.iter()
            .filter(|o| matches!(o, CheckerOutput::Rerender { .. }))
            .count()
    };
    assert_eq!(rerenders(&outs), 1, "{outs:?}");
    assert_eq!(rerenders(&c.handle(21, sent(&key(2), late))), 0);
    // A late vote that agrees with the certificate is not.
    let agreeing = attestation(&key(3), &claim, Verdict::Invalid);
    assert_eq!(rerenders(&c.handle(22, sent(&key(3), agreeing))), 0);
}

#[test]
fn a_dissent_is_rechecked_at_every_sampled_pixel_and_a_late_false_value_bans_its_author() {
    let mut rig = Rig::started(2);
    let a: Assignment = rig.assignments()[0].clone();
    let claim = claim_on(a.shard, a.worker);
    let c = &mut rig.checkers[0];
    for k in [key(1), key(3), key(4)] {
        c.handle(10, sent(&k, attestation(&k, &claim, Verdict::Invalid)));
    }
    // A lazy member copied the claimed values; the output was falsified at only one of
    // its sampled pixels, the last.
    let late = attestation(&key(2), &claim, Verdict::Valid);
    let outs = c.handle(20, sent(&key(2), late.clone()));
    let Some((id, pixels)) = outs.iter().find_map(|o| match o {
        CheckerOutput::Rerender { claim, pixels, .. } => Some((*claim, pixels.clone())),
        _ => None,
    }) else {
        panic!("the dissent is re-rendered: {outs:?}");
    };
    assert_eq!(pixels.len(), late.samples.len(), "every sampled pixel");
    let mut truth = vec![[7u8; 3]; pixels.len()];
    if let Some(last) = truth.last_mut() {
        *last = [8; 3];
    }
    let outs = c.handle(
        21,
        CheckerInput::Rerendered {
            claim: id,
            pixels: Ok(truth),
        },
    );
    let banning = outs.iter().any(|o| {
        matches!(o, CheckerOutput::Publish(Message::DecisionVote(v))
            if matches!(&v.action, pictor_protocol::Action::BanChecker { checker, .. }
                if *checker == late.checker))
    });
    assert!(banning, "a vote to ban the lazy member: {outs:?}");
}

#[test]
fn a_vote_after_the_certificate_that_contradicts_its_authors_earlier_vote_is_equivocation() {
    let mut rig = Rig::started(2);
    let a: Assignment = rig.assignments()[0].clone();
    let claim = claim_on(a.shard, a.worker);
    let c = &mut rig.checkers[0];
    // Member 2 votes Invalid, then three members certify the claim Valid.
    let liar = key(2);
    c.handle(
        10,
        sent(&liar, attestation(&liar, &claim, Verdict::Invalid)),
    );
    for k in [key(1), key(3), key(4)] {
        c.handle(11, sent(&k, attestation(&k, &claim, Verdict::Valid)));
    }
    // Its second vote, the other way, comes after the certificate.
    let outs = c.handle(20, sent(&liar, attestation(&liar, &claim, Verdict::Valid)));
    let evidence = outs.iter().find_map(|o| match o {
        CheckerOutput::Equivocation(e) => Some(e.clone()),
        _ => None,
    });
    let evidence = evidence.expect("equivocation found after the certificate");
    assert_eq!(evidence.checker, liar.public());
    assert!(evidence.verify(NET).is_ok());
    assert!(
        outs.iter()
            .any(|o| matches!(o, CheckerOutput::Publish(Message::Evidence(_)))),
        "{outs:?}"
    );
}

#[test]
fn a_flood_of_early_messages_from_one_key_does_not_crowd_out_the_others() {
    use pictor_protocol::JobId;
    // The assignment the job gets (the same in every rig: same keys, same job).
    let a = Rig::started(2).assignments()[0].clone();
    let mut rig = Rig::new(2);
    let job = rig.job.clone();
    let i = (0..4)
        .find(|&i| rig.checkers[i].key() != a.assigned_by)
        .expect("a member that does not lead");
    let flooder = key(77).public();
    let stranger = key(78);
    // Before the job: 20 000 claims of one key on jobs nobody knows (twice the bound on
    // what is held), and votes signed by a key outside the checker set.
    for n in 0..20_000u32 {
        let shard = ShardId {
            job: JobId([(n % 251) as u8; 32]),
            frame: 1,
            tile: n,
        };
        rig.checkers[i].handle(1, CheckerInput::Claim(claim_on(shard, flooder)));
        if n < 2_000 {
            let on_job = ShardId {
                job: job.id(),
                ..shard
            };
            let vote = Attestation::create(&stranger, NET, &claim_on(on_job, flooder), vec![]);
            rig.checkers[i].handle(1, sent(&stranger, vote));
        }
    }
    // The assigned worker's claim comes early too: still held, and checked once its job
    // and assignment come.
    let claim = claim_at(a.shard, a.worker, a.attempt, b"output");
    assert!(rig.checkers[i]
        .handle(2, CheckerInput::Claim(claim))
        .is_empty());
    for w in rig.workers.clone() {
        rig.checkers[i].handle(3, CheckerInput::WorkerSeen(w));
    }
    rig.checkers[i].handle(3, CheckerInput::Job(job));
    let outs = rig.checkers[i].handle(4, CheckerInput::Assignment(a.clone()));
    assert!(
        outs.iter()
            .any(|o| matches!(o, CheckerOutput::FetchRows { worker, .. } if *worker == a.worker)),
        "{outs:?}"
    );
}

#[test]
fn late_votes_that_contradict_each_other_are_evidence_even_when_the_certificate_came_first() {
    let mut rig = Rig::started(2);
    let a: Assignment = rig.assignments()[0].clone();
    let claim = claim_on(a.shard, a.worker);
    // Checker 0 (key 1) hears the certificate of three other members before any vote:
    // gossip topics are not ordered, and a loaded node may take them in either order.
    let vote = pictor_protocol::Vote::on(&claim, Verdict::Valid);
    let mut signatures: Vec<_> = [2, 3, 4]
        .iter()
        .map(|&i| (key(i).public(), vote.sign(&key(i), NET)))
        .collect();
    signatures.sort_by_key(|(k, _)| *k);
    let c = &mut rig.checkers[0];
    c.handle(
        10,
        CheckerInput::Certificate(pictor_protocol::QuorumCertificate { vote, signatures }),
    );
    // Then a member's two votes, one each way.
    let liar = key(2);
    let equivocation = |outs: &[CheckerOutput]| {
        outs.iter()
            .any(|o| matches!(o, CheckerOutput::Equivocation(_)))
    };
    let first = c.handle(11, sent(&liar, attestation(&liar, &claim, Verdict::Valid)));
    assert!(!equivocation(&first), "{first:?}");
    let second = c.handle(
        12,
        sent(&liar, attestation(&liar, &claim, Verdict::Invalid)),
    );
    assert!(equivocation(&second), "{second:?}");
    assert!(c.ledger().is_banned(&liar.public()));
}
