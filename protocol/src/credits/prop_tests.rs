//! Any sequence of operations keeps credits conserved, keeps every checker's ledger the
//! same, and a node that receives the same certificates in another order ends in the same
//! state.

use proptest::prelude::*;

use super::tests::{faucet, kp, unchanged, Net, NET, NOW};
use super::*;
use crate::identity::Keypair;
use crate::job::{JobId, ShardId};

const USERS: usize = 3;

/// One step; `escrow` picks among the escrows that exist (any id when none does).
#[derive(Debug, Clone)]
enum Op {
    Mint {
        to: usize,
        amount: u64,
        dt: u64,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    Fund {
        from: usize,
        job: u8,
        amount: u64,
    },
    Pay {
        escrow: usize,
        tile: u32,
        worker: usize,
        worker_amount: u64,
        fee: u64,
    },
    Refund {
        escrow: usize,
    },
    Replay(usize),
}

#[derive(Debug, Clone)]
enum Cert {
    Mint(MintCertificate),
    Transfer(TransferCertificate),
    Escrow(EscrowCertificate),
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    prop_oneof![
        3 => (user.clone(), 0..1_000u64, 0..40_000u64)
            .prop_map(|(to, amount, dt)| Op::Mint { to, amount, dt }),
        2 => (user.clone(), user.clone(), 0..300u64)
            .prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        3 => (user, 0..2u8, 0..300u64)
            .prop_map(|(from, job, amount)| Op::Fund { from, job, amount }),
        5 => (0..8usize, 0..6u32, 0..USERS + 4, 0..60u64, 0..10u64).prop_map(
            |(escrow, tile, worker, worker_amount, fee)| Op::Pay {
                escrow,
                tile,
                worker,
                worker_amount,
                fee,
            }
        ),
        1 => (0..8usize).prop_map(|escrow| Op::Refund { escrow }),
        1 => (0..64usize).prop_map(Op::Replay),
    ]
}

/// The `i`-th escrow of the ledger (modulo their count), or one that does not exist.
fn pick(ledger: &CreditLedger, i: usize) -> EscrowId {
    let ids: Vec<EscrowId> = ledger.escrows().map(|(id, _)| *id).collect();
    ids.get(i % ids.len().max(1)).copied().unwrap_or(EscrowId {
        job: job(0),
        creator: user(0).public(),
    })
}

fn job(n: u8) -> JobId {
    JobId([n + 1; 32])
}

fn user(i: usize) -> Keypair {
    kp(u8::try_from(i + 1).expect("few users"))
}

fn apply(ledger: &mut CreditLedger, cert: &Cert, set: &[PublicKey]) -> bool {
    match cert {
        Cert::Mint(c) => matches!(ledger.apply_mint(c, set), Ok(AppliedMint::Minted { .. })),
        Cert::Transfer(c) => matches!(
            ledger.apply_transfer(c, set),
            Ok(r) if r != AppliedTransfer::Replay
        ),
        Cert::Escrow(c) => matches!(
            ledger.apply_escrow(c, set),
            Ok(r) if r != AppliedEscrow::Replay
        ),
    }
}

fn check_escrows(ledger: &CreditLedger) {
    for (_, e) in ledger.escrows() {
        let out = u128::from(e.remaining())
            + u128::from(e.paid_to_workers())
            + u128::from(e.paid_in_fees())
            + u128::from(e.refunded());
        assert_eq!(out, u128::from(e.funded()));
    }
}

/// splitmix64: a seeded shuffle without another dependency.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let j = usize::try_from(z % (i as u64 + 1)).expect("small");
        items.swap(i, j);
    }
}

fn run(ops: &[Op], seed: u64) {
    let mut net = Net::with_limits(
        4,
        FaucetLimits {
            per_request: 1_000,
            per_account_per_window: 5_000,
            window_ms: 60_000,
        },
    );
    let mut now = NOW;
    let mut certs: Vec<Cert> = Vec::new();
    for op in ops {
        let made = match *op {
            Op::Mint { to, amount, dt } => {
                now += dt;
                net.mint_at(user(to).public(), amount, now).map(Cert::Mint)
            }
            Op::Transfer { from, to, amount } => net
                .transfer(&user(from), Payee::Account(user(to).public()), amount)
                .map(Cert::Transfer),
            Op::Fund {
                from,
                job: j,
                amount,
            } => net
                .transfer(&user(from), Payee::Escrow(job(j)), amount)
                .map(Cert::Transfer),
            Op::Pay {
                escrow,
                tile,
                worker,
                worker_amount,
                fee,
            } => {
                let worker = if worker < USERS {
                    user(worker).public()
                } else {
                    net.set[worker - USERS]
                };
                let id = pick(net.ledger(), escrow);
                let shard = ShardId {
                    job: id.job,
                    frame: 1,
                    tile,
                };
                let action = EscrowAction::PayShard {
                    shard,
                    worker,
                    worker_amount,
                    checker_fee: fee,
                };
                net.escrow(id, action).map(Cert::Escrow)
            }
            Op::Refund { escrow } => {
                let id = pick(net.ledger(), escrow);
                net.escrow(id, EscrowAction::Refund).map(Cert::Escrow)
            }
            Op::Replay(i) => {
                if let Some(cert) = certs.get(i % certs.len().max(1)) {
                    let before = net.ledger().clone();
                    for l in &mut net.ledgers {
                        assert!(!apply(l, cert, &net.set), "a replay changed the ledger");
                    }
                    assert!(unchanged(&before, net.ledger()));
                }
                continue;
            }
        };
        if let Ok(cert) = made {
            certs.push(cert);
        }
        net.assert_conserved();
        for l in &net.ledgers {
            assert!(unchanged(l, net.ledger()), "checkers disagree");
            check_escrows(l);
        }
    }

    // Another node hears the same certificates in another order and applies each once
    // what it relies on has arrived.
    let mut late = CreditLedger::new(NET, faucet().public(), net.ledger().limits());
    shuffle(&mut certs, seed);
    let mut pending = certs;
    loop {
        let before = pending.len();
        pending.retain(|c| {
            let applied = apply(&mut late, c, &net.set);
            assert!(late.is_conserved());
            !applied
        });
        if pending.len() == before {
            break;
        }
    }
    assert!(
        pending.is_empty(),
        "{} certificates never applied",
        pending.len()
    );
    assert!(
        unchanged(&late, net.ledger()),
        "another order, another state"
    );
    check_escrows(&late);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn credits_are_conserved_and_every_order_agrees(
        ops in proptest::collection::vec(op(), 1..60),
        seed in any::<u64>(),
    ) {
        run(&ops, seed);
    }
}
