//! Checked arithmetic: overflow is an error that changes nothing, and prices.

use super::tests::{kp, unchanged, Net, NOW};
use super::*;

#[test]
fn overflow_is_an_error_not_a_panic() {
    let huge = FaucetLimits {
        per_request: u64::MAX,
        per_account_per_window: u64::MAX,
        window_ms: 0,
    };
    let mut net = Net::with_limits(4, huge);
    let (alice, bob) = (kp(1), kp(2));
    net.mint(alice.public(), u64::MAX);
    let before = net.ledger().clone();
    assert_eq!(
        net.mint_at(bob.public(), 1, NOW).err(),
        Some(CreditError::Overflow("total supply"))
    );
    assert!(unchanged(&before, net.ledger()));
    // The whole supply moves without overflow.
    assert!(net
        .transfer(&alice, Payee::Account(bob.public()), u64::MAX)
        .is_ok());
    net.assert_conserved();
    // A shard payment whose total does not fit.
    let order = EscrowOrder::new(
        EscrowId {
            job: crate::job::JobId([1; 32]),
            creator: alice.public(),
        },
        0,
        &net.set,
        EscrowAction::PayShard {
            shard: crate::job::ShardId {
                job: crate::job::JobId([1; 32]),
                frame: 1,
                tile: 0,
            },
            worker: bob.public(),
            worker_amount: u64::MAX,
            checker_fee: 1,
        },
    );
    assert_eq!(order.check(), Err(CreditError::Overflow("shard payment")));
    assert_eq!(
        price_for(u64::MAX, u32::MAX, u64::MAX),
        Err(CreditError::Overflow("price"))
    );
    assert_eq!(price_for(u64::MAX, 1000, 1000), Ok(u64::MAX));
    assert_eq!(
        price_for(u64::MAX, 1000, 1001),
        Err(CreditError::Overflow("price"))
    );
}

#[test]
fn prices_follow_normalised_seconds() {
    // 10 s on the reference machine at 5 credits per normalised second.
    assert_eq!(price_for(10_000, 1000, 5), Ok(50));
    // Twice as fast, half the time: the same price.
    assert_eq!(price_for(5_000, 2000, 5), Ok(50));
    // Any work at a price earns at least one credit; no work or no price, nothing.
    assert_eq!(price_for(1, 1, 1), Ok(1));
    assert_eq!(price_for(1_500, 1000, 1), Ok(2));
    assert_eq!(price_for(0, 1000, 5), Ok(0));
    assert_eq!(price_for(10_000, 1000, 0), Ok(0));
    assert!(worker_within_cap(50, 50));
    assert!(worker_within_cap(0, 1));
    assert!(!worker_within_cap(51, 50));
    // A cap of 0 is no cap.
    assert!(worker_within_cap(u64::MAX, 0));
}
