use super::tests::{kp, Net, NET};
use super::*;
use crate::identity::Keypair;
use crate::job::{JobId, ShardId};

const JOB: JobId = JobId([7; 32]);

fn shard(tile: u32) -> ShardId {
    ShardId {
        job: JOB,
        frame: 1,
        tile,
    }
}

fn pay(tile: u32, worker: &Keypair, worker_amount: u64, checker_fee: u64) -> EscrowAction {
    EscrowAction::PayShard {
        shard: shard(tile),
        worker: worker.public(),
        worker_amount,
        checker_fee,
    }
}

/// A network where `creator` funded the job's escrow with `budget` of its 1000 credits.
fn funded(budget: u64) -> (Net, Keypair, EscrowId) {
    let mut net = Net::new(4);
    let creator = kp(1);
    net.mint(creator.public(), 1000);
    assert!(net.transfer(&creator, Payee::Escrow(JOB), budget).is_ok());
    let id = EscrowId {
        job: JOB,
        creator: creator.public(),
    };
    (net, creator, id)
}

/// An escrow certificate the committee signs directly, whatever its ledgers would say.
fn force(net: &Net, order: EscrowOrder) -> EscrowCertificate {
    let votes: Vec<_> = net
        .checkers
        .iter()
        .map(|k| EscrowVote::new(k, NET, order.clone()))
        .collect();
    EscrowCertificate::assemble(NET, order, &votes).expect("committee votes")
}

#[test]
fn funding_creates_the_escrow_from_the_creators_balance() {
    let (net, creator, id) = funded(400);
    let l = net.ledger();
    assert_eq!(l.balance(&creator.public()), 600);
    let escrow = l.escrow(&id).expect("escrow");
    assert_eq!(escrow.remaining(), 400);
    assert_eq!(escrow.funded(), 400);
    assert!(!escrow.is_closed());
    assert_eq!(l.escrowed_by(&creator.public()), 400);
    net.assert_conserved();
}

#[test]
fn a_shard_is_paid_exactly_once() {
    let (mut net, _, id) = funded(400);
    let worker = kp(2);
    let cert = net.escrow(id, pay(0, &worker, 50, 8)).expect("pay");
    assert_eq!(net.ledger().balance(&worker.public()), 50);
    assert_eq!(net.ledger().escrow(&id).map(Escrow::remaining), Some(342));
    // The same certificate again: a replay.
    for l in &mut net.ledgers {
        assert_eq!(l.apply_escrow(&cert, &net.set), Ok(AppliedEscrow::Replay));
    }
    // The same shard at the next sequence: no honest member votes for it…
    assert_eq!(
        net.escrow(id, pay(0, &worker, 50, 8)).err(),
        Some(CreditError::ShardAlreadyPaid { shard: shard(0) })
    );
    // …and a certificate made anyway is refused and changes nothing.
    let again = force(
        &net,
        EscrowOrder::new(id, 1, &net.set, pay(0, &worker, 50, 8)),
    );
    let before = net.ledger().clone();
    assert_eq!(
        net.ledgers[0].apply_escrow(&again, &net.set),
        Err(CreditError::ShardAlreadyPaid { shard: shard(0) })
    );
    assert_eq!(net.ledger().balance(&worker.public()), 50);
    assert_eq!(net.ledger().escrow(&id), before.escrow(&id));
    // Another shard is paid.
    assert!(net.escrow(id, pay(1, &worker, 50, 8)).is_ok());
    assert_eq!(net.ledger().balance(&worker.public()), 100);
    let escrow = net.ledger().escrow(&id).expect("escrow");
    assert_eq!(escrow.paid_shards().count(), 2);
    assert_eq!(escrow.paid_to_workers(), 100);
    assert_eq!(escrow.paid_in_fees(), 16);
    net.assert_conserved();
}

#[test]
fn checker_fees_are_split_with_a_rotating_remainder() {
    let keys: Vec<PublicKey> = (0..4).map(|i| kp(100 + i).public()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    // 10 among 4: 2 each, 2 left over for positions 0 and 1 at sequence 0…
    let shares = split_fee(10, &keys, 0);
    assert_eq!(
        shares,
        vec![
            (sorted[0], 3),
            (sorted[1], 3),
            (sorted[2], 2),
            (sorted[3], 2)
        ]
    );
    // …for positions 3 and 0 at sequence 3.
    let shares = split_fee(10, &keys, 3);
    assert_eq!(
        shares,
        vec![
            (sorted[0], 3),
            (sorted[1], 2),
            (sorted[2], 2),
            (sorted[3], 3)
        ]
    );
    for seq in 0..8 {
        for fee in [0, 1, 3, 4, 5, 1001, u64::MAX] {
            let shares = split_fee(fee, &keys, seq);
            let total: u128 = shares.iter().map(|(_, a)| u128::from(*a)).sum();
            assert_eq!(total, u128::from(fee));
        }
    }
    assert!(split_fee(10, &[], 0).is_empty());

    // Applied: each member is credited its share; a worker on the committee gets both.
    let (mut net, _, id) = funded(400);
    let worker = net.checkers[2].clone();
    assert!(net.escrow(id, pay(0, &worker, 20, 10)).is_ok());
    for (k, share) in split_fee(10, &net.set, 0) {
        let expected = share + if k == worker.public() { 20 } else { 0 };
        assert_eq!(net.ledger().balance(&k), expected);
    }
    net.assert_conserved();
}

#[test]
fn an_exhausted_budget_is_an_error_that_names_it() {
    let (mut net, creator, id) = funded(100);
    let worker = kp(2);
    assert!(net.escrow(id, pay(0, &worker, 80, 10)).is_ok());
    let err = net.escrow(id, pay(1, &worker, 80, 10)).err();
    assert_eq!(
        err,
        Some(CreditError::BudgetExhausted {
            job: JOB,
            remaining: 10,
            needed: 90
        })
    );
    assert!(err.is_some_and(
        |e| e.to_string().contains("budget of job") && e.to_string().contains("exhausted")
    ));
    // A certificate made anyway is refused too, and changes nothing.
    let forced = force(
        &net,
        EscrowOrder::new(id, 1, &net.set, pay(1, &worker, 80, 10)),
    );
    let before = net.ledger().clone();
    assert!(matches!(
        net.ledgers[0].apply_escrow(&forced, &net.set),
        Err(CreditError::BudgetExhausted { .. })
    ));
    assert_eq!(net.ledger().escrow(&id), before.escrow(&id));
    // The creator tops the budget up; the job goes on, and the same certificate applies.
    assert!(net.transfer(&creator, Payee::Escrow(JOB), 100).is_ok());
    assert!(matches!(
        net.ledgers[0].apply_escrow(&forced, &net.set),
        Ok(AppliedEscrow::Paid { remaining: 20, .. })
    ));
}

#[test]
fn a_refund_returns_exactly_the_rest_and_closes_the_escrow() {
    let (mut net, creator, id) = funded(400);
    let worker = kp(2);
    assert!(net.escrow(id, pay(0, &worker, 100, 20)).is_ok());
    let cert = net.escrow(id, EscrowAction::Refund).expect("refund");
    assert_eq!(net.ledger().balance(&creator.public()), 600 + 280);
    let escrow = net.ledger().escrow(&id).expect("escrow");
    assert!(escrow.is_closed());
    assert_eq!(escrow.remaining(), 0);
    assert_eq!(escrow.refunded(), 280);
    assert_eq!(net.ledger().escrowed_by(&creator.public()), 0);
    net.assert_conserved();
    // Replayed, nothing more comes back.
    assert_eq!(
        net.ledgers[0].apply_escrow(&cert, &net.set),
        Ok(AppliedEscrow::Replay)
    );
    assert_eq!(net.ledger().balance(&creator.public()), 880);
    // Nothing more is paid or refunded from a closed escrow.
    assert_eq!(
        net.escrow(id, pay(1, &worker, 1, 0)).err(),
        Some(CreditError::EscrowClosed { job: JOB })
    );
    let forced = force(
        &net,
        EscrowOrder::new(id, 2, &net.set, EscrowAction::Refund),
    );
    assert_eq!(
        net.ledgers[0].apply_escrow(&forced, &net.set),
        Err(CreditError::EscrowClosed { job: JOB })
    );
    // Checkers refuse to fund a closed escrow; a funding certified before the refund
    // and applied after it leaves the credits with the creator.
    assert_eq!(
        net.transfer(&creator, Payee::Escrow(JOB), 10).err(),
        Some(CreditError::EscrowClosed { job: JOB })
    );
    let late =
        super::tests::force_transfer(net.signed(&creator, Payee::Escrow(JOB), 10), &net.checkers);
    assert_eq!(
        net.ledgers[0].apply_transfer(&late, &net.set),
        Ok(AppliedTransfer::ReturnedToCreator {
            escrow: id,
            amount: 10
        })
    );
    let l = net.ledger();
    assert_eq!(l.balance(&creator.public()), 880);
    assert_eq!(l.next_sequence(&creator.public()), 2);
    assert!(l.is_conserved());
}

#[test]
fn escrow_certificates_need_the_jobs_committee() {
    let (mut net, _, id) = funded(400);
    let worker = kp(2);
    let order = EscrowOrder::new(id, 0, &net.set, pay(0, &worker, 10, 0));
    let cert = force(&net, order.clone());
    let before = net.ledger().clone();
    // Another committee holds the job.
    let other: Vec<PublicKey> = (0..4).map(|i| kp(150 + i).public()).collect();
    assert!(matches!(
        net.ledgers[0].apply_escrow(&cert, &other),
        Err(CreditError::BadCommittee(_))
    ));
    // Too few members signed.
    let mut short = cert.clone();
    short.signatures.truncate(2);
    assert_eq!(
        net.ledgers[0].apply_escrow(&short, &net.set),
        Err(CreditError::NoQuorum {
            got: 2,
            needed: 3,
            set: 4
        })
    );
    // A forged signature.
    let mut forged = cert.clone();
    forged.signatures[0].1 = forged.signatures[3].1;
    assert!(matches!(
        net.ledgers[0].apply_escrow(&forged, &net.set),
        Err(CreditError::BadSignature { .. })
    ));
    // A non-member cannot vote.
    assert_eq!(
        net.ledgers[0].vote_escrow(&worker, &order, &net.set),
        Err(CreditError::NotMember(worker.public()))
    );
    // A shard of another job.
    let mut foreign = order.clone();
    foreign.action = EscrowAction::PayShard {
        shard: ShardId {
            job: JobId([8; 32]),
            frame: 1,
            tile: 0,
        },
        worker: worker.public(),
        worker_amount: 10,
        checker_fee: 0,
    };
    assert!(matches!(
        net.ledgers[0].vote_escrow(&net.checkers[0], &foreign, &net.set),
        Err(CreditError::WrongJob { .. })
    ));
    assert_eq!(net.ledger().escrow(&id), before.escrow(&id));
    assert!(net.ledgers[0].apply_escrow(&cert, &net.set).is_ok());
}

#[test]
fn escrow_orders_apply_in_sequence_and_after_their_funding() {
    let mut net = Net::new(4);
    let creator = kp(1);
    let worker = kp(2);
    net.mint(creator.public(), 1000);
    let id = EscrowId {
        job: JOB,
        creator: creator.public(),
    };
    let mut late = net.ledger().clone();
    // No escrow until its funding is applied.
    assert_eq!(
        net.escrow(id, pay(0, &worker, 1, 0)).err(),
        Some(CreditError::UnknownEscrow {
            job: JOB,
            creator: creator.public()
        })
    );
    let fund = net
        .transfer(&creator, Payee::Escrow(JOB), 100)
        .expect("fund");
    let first = net.escrow(id, pay(0, &worker, 10, 2)).expect("first");
    let second = net.escrow(id, pay(1, &worker, 10, 2)).expect("second");
    assert!(matches!(
        late.apply_escrow(&second, &net.set),
        Err(CreditError::UnknownEscrow { .. })
    ));
    assert!(late.apply_transfer(&fund, &net.set).is_ok());
    assert_eq!(
        late.apply_escrow(&second, &net.set),
        Err(CreditError::SequenceAhead {
            expected: 0,
            got: 1
        })
    );
    assert!(late.apply_escrow(&first, &net.set).is_ok());
    assert!(late.apply_escrow(&second, &net.set).is_ok());
    assert_eq!(late.escrow(&id), net.ledger().escrow(&id));
    assert!(late.is_conserved());
}

#[test]
fn only_the_creator_funds_its_escrow() {
    // Someone else's transfer to the job funds an escrow of its own, which is refunded
    // to it: it cannot make itself the one the creator's budget returns to.
    let (mut net, creator, id) = funded(400);
    let other = kp(3);
    net.mint(other.public(), 50);
    assert!(net.transfer(&other, Payee::Escrow(JOB), 50).is_ok());
    let theirs = EscrowId {
        job: JOB,
        creator: other.public(),
    };
    assert_eq!(net.ledger().escrow(&id).map(Escrow::remaining), Some(400));
    assert_eq!(
        net.ledger().escrow(&theirs).map(Escrow::remaining),
        Some(50)
    );
    assert!(net.escrow(id, EscrowAction::Refund).is_ok());
    assert_eq!(net.ledger().balance(&creator.public()), 1000);
    assert_eq!(net.ledger().balance(&other.public()), 0);
    net.assert_conserved();
}

#[test]
fn a_restarted_member_keeps_its_escrow_vote_lock() {
    let (mut net, _, id) = funded(400);
    let worker = kp(2);
    let first = EscrowOrder::new(id, 0, &net.set, pay(0, &worker, 50, 8));
    let other = EscrowOrder::new(id, 0, &net.set, pay(1, &worker, 50, 8));
    let set = net.set.clone();
    let vote = net.ledgers[0]
        .vote_escrow(&net.checkers[0], &first, &set)
        .expect("vote");
    // Rebuilt from certificates alone, the ledger would vote for another order at 0…
    let mut fresh = net.ledgers[1].clone();
    assert!(fresh
        .clone()
        .vote_escrow(&net.checkers[0], &other, &set)
        .is_ok());
    // …but with its stored vote relocked it does not, and still votes for its own.
    fresh.relock_escrow(&vote).expect("relock");
    assert_eq!(
        fresh.vote_escrow(&net.checkers[0], &other, &set).err(),
        Some(CreditError::Conflict { sequence: 0 })
    );
    assert_eq!(fresh.vote_escrow(&net.checkers[0], &first, &set), Ok(vote));
}

#[test]
fn an_escrow_vote_binds_its_action_whichever_committee_orders_it() {
    let (mut net, _, id) = funded(400);
    let worker = kp(2);
    let set = net.set.clone();
    // The job moves (its payer died with this order half voted): the same sequence under
    // the new committee, of the three that are left.
    let moved: Vec<PublicKey> = set[1..].to_vec();
    let first = EscrowOrder::new(id, 0, &set, pay(0, &worker, 50, 8));
    let again = EscrowOrder::new(id, 0, &moved, pay(0, &worker, 50, 8));
    let other = EscrowOrder::new(id, 0, &moved, pay(1, &worker, 50, 8));
    let member = net.checkers[1].clone();
    assert!(net.ledgers[1].vote_escrow(&member, &first, &set).is_ok());
    // Bound to its action, not to the committee: the same payment under the new committee
    // gets its vote, another payment at that sequence does not.
    assert_eq!(
        net.ledgers[1].vote_escrow(&member, &other, &moved).err(),
        Some(CreditError::Conflict { sequence: 0 })
    );
    assert!(net.ledgers[1].vote_escrow(&member, &again, &moved).is_ok());
    // Either certificate pays the same shard: a node that applies one, then the other,
    // ends where a node that applies only the other does.
    let (old, new) = (force(&net, first), force(&net, again));
    let mut both = net.ledgers[2].clone();
    let mut one = net.ledgers[2].clone();
    assert!(both.apply_escrow(&old, &set).is_ok());
    let _ = both.apply_escrow(&new, &moved);
    assert!(one.apply_escrow(&new, &moved).is_ok());
    assert_eq!(both.escrow(&id), one.escrow(&id));
    assert_eq!(both.balance(&worker.public()), 50);
    assert_eq!(one.balance(&worker.public()), 50);
}

#[test]
fn a_shards_price_follows_its_work_and_the_workers_price() {
    use crate::{ContentId, Engine, FrameRange, JobSpec};
    let spec = JobSpec {
        creator: kp(1).public(),
        scene: ContentId::of(b"scene"),
        scene_name: "scene.gltf".into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 2 },
        width: 100,
        height: 64,
        samples: 10,
        tile: 64,
        epoch: 0,
        nonce: 0,
        price_cap: 3,
    };
    let job = spec.id();
    let full = ShardId {
        job,
        frame: 1,
        tile: 0,
    };
    let edge = ShardId {
        job,
        frame: 2,
        tile: 1,
    };
    // 64 × 64 × 10 samples = 40 960 µs at the reference rate: 0.041 s × 100 = 4.1 → 5.
    assert_eq!(shard_price(&spec, &full, 100), Ok(5));
    // The edge tile is 36 wide: 23 040 samples, 0.023 s × 100 → 3.
    assert_eq!(shard_price(&spec, &edge, 100), Ok(3));
    assert_eq!(shard_price(&spec, &full, 0), Ok(0));
    // Any non-zero price earns at least a credit.
    assert_eq!(shard_price(&spec, &edge, 1), Ok(1));
    for stranger in [
        ShardId {
            job: JOB,
            frame: 1,
            tile: 0,
        },
        ShardId {
            job,
            frame: 3,
            tile: 0,
        },
        ShardId {
            job,
            frame: 1,
            tile: 2,
        },
    ] {
        assert!(matches!(
            shard_price(&spec, &stranger, 100),
            Err(CreditError::WrongJob { .. })
        ));
    }
    // At the cap of 3 each of the 4 shards costs a credit, plus a fee of 2.
    assert_eq!(max_job_cost(&spec, 2), Ok(Some(12)));
    // A worker is paid at its price, never above the cap (it may raise its price after it
    // was given a shard): the cost above is a bound.
    assert_eq!(pay_rate(2, &spec), 2);
    assert_eq!(pay_rate(100, &spec), 3);
    let uncapped = JobSpec {
        price_cap: 0,
        ..spec
    };
    assert_eq!(max_job_cost(&uncapped, 2), Ok(None));
    assert_eq!(pay_rate(100, &uncapped), 100);
}
