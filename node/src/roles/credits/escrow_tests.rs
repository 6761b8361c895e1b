//! A job's escrow paid out by the credits roles of its committee, driven directly: the
//! four checkers (0–3) are the committee, node 4 the creator and node 5 the worker.

use pictor_protocol::credits::{shard_price, CreditMessage, EscrowId, Payee};
use pictor_protocol::{ContentId, Engine, FrameRange, JobSpec, ShardId};

use super::tests::{net, Net};
use super::{CreditsInput, Funding};

const PRICE: u64 = 40;
const FEE: u64 = 2;

/// A job of node 4's: one 128 × 64 frame in tiles of 32 (8 shards), 16 samples.
fn job(n: &Net) -> JobSpec {
    JobSpec {
        creator: n.key(4),
        scene: ContentId::of(b"scene"),
        scene_name: "scene.gltf".into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 1 },
        width: 128,
        height: 64,
        samples: 16,
        tile: 32,
        price_cap: 0,
        nonce: 1,
        epoch: 0,
    }
}

/// The creator holds 1 000 credits and escrows `budget` of them for `spec`; every node
/// knows the worker's price and the committee's fee.
fn funded(spec: &JobSpec, budget: u64) -> Net {
    let mut n = net();
    for node in &mut n.nodes {
        node.checker_fee = FEE;
    }
    n.run(
        4,
        CreditsInput::Faucet {
            amount: 1_000,
            reply: 1,
        },
    );
    let worker = n.key(5);
    for i in 0..6 {
        n.run(
            i,
            CreditsInput::Price {
                worker,
                price: PRICE,
                issued_ms: 1,
            },
        );
    }
    if budget > 0 {
        let to = Payee::Escrow(spec.id());
        n.pay(4, to, budget, 2);
        assert!(
            matches!(n.replies.last(), Some((4, 2, Ok(_)))),
            "{:?}",
            n.replies
        );
    }
    n
}

/// Every committee member (and the creator) hears that `shard` was accepted.
fn accept(n: &mut Net, spec: &JobSpec, shard: ShardId) {
    for i in [3, 2, 1, 0, 4] {
        accept_at(n, i, spec, shard);
    }
}

/// Node `i` hears that its committee (nodes 0–3) accepted `shard`, rendered by node 5.
fn accept_at(n: &mut Net, i: usize, spec: &JobSpec, shard: ShardId) {
    let committee: Vec<_> = (0..4).map(|c| n.key(c)).collect();
    let worker = n.key(5);
    n.run(
        i,
        CreditsInput::Accepted {
            spec: Box::new(spec.clone()),
            shard,
            worker,
            committee,
        },
    );
}

fn escrow_id(n: &Net, spec: &JobSpec) -> EscrowId {
    EscrowId {
        job: spec.id(),
        creator: n.key(4),
    }
}

fn certificates(n: &Net) -> usize {
    n.published
        .iter()
        .filter(|m| matches!(m, CreditMessage::EscrowCertificate(_)))
        .count()
}

#[test]
fn each_accepted_shard_is_paid_once_and_the_rest_refunded() {
    let spec = job(&net());
    let mut n = funded(&spec, 600);
    let shards = spec.shards();
    // 32 × 32 × 16 samples: 16.4 ms at the reference rate, 0.66 credits at 40 → 1.
    let each = shard_price(&spec, &shards[0], PRICE).expect("price");
    assert_eq!(each, 1);
    for (i, shard) in shards.iter().enumerate() {
        accept(&mut n, &spec, *shard);
        // Heard again (a replayed certificate, a restarted checker): paid once.
        accept(&mut n, &spec, *shard);
        let paid = (i as u64 + 1) * each;
        for at in 0..6 {
            assert_eq!(n.balance(at, 5), paid, "node {at} after shard {i}");
        }
    }
    let total = shards.len() as u64 * (each + FEE);
    for at in 0..6 {
        let ledger = n.nodes[at].ledger();
        let escrow = ledger.escrow(&escrow_id(&n, &spec)).expect("escrow");
        assert!(
            escrow.is_closed(),
            "node {at}: refunded once every shard is paid"
        );
        assert_eq!(escrow.paid_to_workers() + escrow.paid_in_fees(), total);
        assert_eq!(escrow.refunded(), 600 - total);
        assert_eq!(n.balance(at, 4), 1_000 - total);
        assert_eq!(ledger.escrowed_by(&n.key(4)), 0);
        // The fees went to the committee: 8 shards × 2 credits among 4 members.
        let fees: u64 = (0..4).map(|c| n.balance(at, c)).sum();
        assert_eq!(fees, shards.len() as u64 * FEE);
        assert!(ledger.is_conserved(), "node {at}");
    }
    // One certificate per shard and one refund.
    assert_eq!(certificates(&n), shards.len() + 1);
    assert_eq!(
        n.nodes[5].earned(&spec.id()).shards,
        shards.len() as u64 * each
    );
}

#[test]
fn a_job_whose_budget_is_out_is_paused_until_its_creator_adds_credits() {
    let spec = job(&net());
    let cost = shard_price(&spec, &spec.shards()[0], PRICE).expect("price") + FEE;
    // Enough for two shards and part of a third.
    let mut n = funded(&spec, 2 * cost + 1);
    let shards = spec.shards();
    for shard in &shards[..3] {
        accept(&mut n, &spec, *shard);
    }
    assert_eq!(n.balance(0, 5), 2 * (cost - FEE), "two shards paid");
    for at in 0..5 {
        assert_eq!(
            n.nodes[at].funding(&spec.id(), &n.key(4)),
            Funding::Paused {
                remaining: 1,
                needed: cost
            },
            "node {at}"
        );
    }
    // The creator adds credits: the third shard is paid and the job goes on.
    let to = Payee::Escrow(spec.id());
    n.pay(4, to, 50, 3);
    assert_eq!(n.balance(0, 5), 3 * (cost - FEE));
    for at in 0..5 {
        assert_eq!(n.nodes[at].funding(&spec.id(), &n.key(4)), Funding::Funded);
        assert!(n.nodes[at].ledger().is_conserved());
    }
}

#[test]
fn a_job_without_an_escrow_is_free() {
    let spec = job(&net());
    let mut n = funded(&spec, 0);
    assert_eq!(n.nodes[0].funding(&spec.id(), &n.key(4)), Funding::Free);
    accept(&mut n, &spec, spec.shards()[0]);
    assert_eq!(n.balance(0, 5), 0);
    assert_eq!(certificates(&n), 0);
}

#[test]
fn a_cancelled_job_pays_what_was_accepted_and_refunds_the_rest() {
    let spec = job(&net());
    let mut n = funded(&spec, 600);
    let shards = spec.shards();
    let each = shard_price(&spec, &shards[0], PRICE).expect("price");
    accept(&mut n, &spec, shards[0]);
    accept(&mut n, &spec, shards[1]);
    // The creator cancels the job; every node hears it.
    let close = CreditMessage::EscrowClose(escrow_id(&n, &spec));
    for i in 0..6 {
        n.run(i, CreditsInput::Message(close.clone()));
    }
    // A shard in a worker's hands before the cancel lands after it: it is paid too, and
    // nothing is refunded while the checkers still have shards out.
    accept(&mut n, &spec, shards[2]);
    for at in 0..6 {
        let escrow = n.nodes[at].ledger().escrow(&escrow_id(&n, &spec)).cloned();
        assert!(!escrow.expect("escrow").is_closed(), "node {at}");
        assert_eq!(n.balance(at, 5), 3 * each, "node {at}");
        assert_eq!(n.nodes[at].funding(&spec.id(), &n.key(4)), Funding::Closed);
        assert_eq!(n.nodes[at].unsettled_cancels(), vec![spec.id()]);
    }
    // The committee's checkers have no shard out any more: the rest is refunded.
    for i in 0..4 {
        n.run(i, CreditsInput::Settled(spec.id()));
    }
    let spent = 3 * (each + FEE);
    for at in 0..6 {
        let escrow = n.nodes[at].ledger().escrow(&escrow_id(&n, &spec)).cloned();
        let escrow = escrow.expect("escrow");
        assert!(escrow.is_closed(), "node {at}");
        assert_eq!(escrow.refunded(), 600 - spent, "node {at}");
        assert_eq!(n.balance(at, 4), 1_000 - spent);
        assert_eq!(n.balance(at, 5), 3 * each);
        assert_eq!(n.nodes[at].funding(&spec.id(), &n.key(4)), Funding::Closed);
        assert!(n.nodes[at].ledger().is_conserved());
    }
    // A shard accepted after the refund (no checker had it out) moves nothing.
    accept(&mut n, &spec, shards[3]);
    assert_eq!(n.balance(0, 5), 3 * each);
}

#[test]
fn a_job_cancelled_before_any_shard_is_accepted_is_refunded_whole() {
    let spec = job(&net());
    let mut n = funded(&spec, 600);
    let committee: Vec<_> = (0..4).map(|i| n.key(i)).collect();
    for i in 0..4 {
        n.run(
            i,
            CreditsInput::Track {
                spec: Box::new(spec.clone()),
                committee: committee.clone(),
            },
        );
    }
    let close = CreditMessage::EscrowClose(escrow_id(&n, &spec));
    for i in 0..6 {
        n.run(i, CreditsInput::Message(close.clone()));
    }
    for i in 0..4 {
        n.run(i, CreditsInput::Settled(spec.id()));
    }
    for at in 0..6 {
        assert_eq!(
            n.balance(at, 4),
            1_000,
            "node {at}: the whole budget came back"
        );
        assert_eq!(n.nodes[at].ledger().escrowed_by(&n.key(4)), 0);
    }
}

#[test]
fn a_worker_that_raises_its_price_mid_job_is_paid_at_most_the_jobs_cap() {
    let mut spec = job(&net());
    spec.price_cap = PRICE;
    let mut n = funded(&spec, 600);
    let shards = spec.shards();
    let each = shard_price(&spec, &shards[0], PRICE).expect("price");
    accept(&mut n, &spec, shards[0]);
    // The worker asks ten times more; only some of the committee have heard of it when its
    // next shard is accepted.
    let worker = n.key(5);
    for i in [0, 1, 5] {
        n.run(
            i,
            CreditsInput::Price {
                worker,
                price: PRICE * 10,
                issued_ms: 2,
            },
        );
    }
    accept(&mut n, &spec, shards[1]);
    for at in 0..6 {
        assert_eq!(
            n.balance(at, 5),
            2 * each,
            "node {at}: paid at the cap the creator accepted"
        );
    }
}

#[test]
fn a_restarted_payer_proposes_again_the_order_it_voted_for() {
    let spec = job(&net());
    let mut n = funded(&spec, 600);
    let shards = spec.shards();
    let each = shard_price(&spec, &shards[0], PRICE).expect("price");
    let committee: Vec<_> = (0..4).map(|i| n.key(i)).collect();
    let payer_key = pictor_protocol::rules::job_leader(&committee, 0).expect("a payer");
    let payer = (0..4)
        .find(|&i| n.key(i) == payer_key)
        .expect("in the committee");
    // Only the payer has seen the second shard accepted: it proposes its payment, and the
    // others wait for it.
    accept_at(&mut n, payer, &spec, shards[1]);
    let proposal = n
        .published
        .iter()
        .rev()
        .find_map(|m| match m {
            CreditMessage::EscrowVote(v) if v.checker == payer_key => Some(v.clone()),
            _ => None,
        })
        .expect("the payer proposed");
    assert_eq!(n.balance(0, 5), 0);
    // The payer restarts from its store: the certificates, then its own vote; it follows
    // the job again only as its committee's certificates are replayed, and by then the
    // first shard was accepted too, which it would pay first.
    let mut fresh = n.restarted(payer);
    fresh.checker_fee = FEE;
    let _ = fresh.handle(
        1,
        CreditsInput::Price {
            worker: n.key(5),
            price: PRICE,
            issued_ms: 1,
        },
    );
    let _ = fresh.handle(
        1,
        CreditsInput::Restored(CreditMessage::EscrowVote(proposal)),
    );
    n.nodes[payer] = fresh;
    accept(&mut n, &spec, shards[0]);
    accept(&mut n, &spec, shards[1]);
    for at in 0..6 {
        assert_eq!(n.balance(at, 5), 2 * each, "node {at}: both shards paid");
    }
}
