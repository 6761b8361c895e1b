use super::tests::{faucet, kp, limits, Net, NET, NOW};
use super::*;

#[test]
fn a_mint_is_limited_per_request() {
    let mut net = Net::new(4);
    let alice = kp(1);
    assert_eq!(
        net.mint_at(alice.public(), 1_001, NOW).err(),
        Some(CreditError::OverRequestLimit {
            amount: 1_001,
            limit: 1_000
        })
    );
    assert_eq!(
        net.mint_at(alice.public(), 0, NOW).err(),
        Some(CreditError::ZeroAmount)
    );
    assert!(net.mint_at(alice.public(), 1_000, NOW).is_ok());
    assert_eq!(net.ledger().balance(&alice.public()), 1_000);
    assert_eq!(net.ledger().total_minted(), 1_000);
    net.assert_conserved();
}

#[test]
fn a_mint_is_limited_per_account_and_window() {
    let mut net = Net::new(4);
    let (alice, bob) = (kp(1), kp(2));
    let window = limits().window_ms;
    let start = NOW - NOW % window;
    assert!(net.mint_at(alice.public(), 1_000, start).is_ok());
    assert_eq!(
        net.ledger().faucet_allowance(&alice.public(), start + 1),
        500
    );
    assert_eq!(
        net.mint_at(alice.public(), 501, start + 10).err(),
        Some(CreditError::OverWindowLimit {
            account: alice.public(),
            minted: 1_000,
            amount: 501,
            limit: 1_500
        })
    );
    assert!(net.mint_at(alice.public(), 500, start + 10).is_ok());
    assert_eq!(
        net.ledger().faucet_allowance(&alice.public(), start + 20),
        0
    );
    // Another account has its own allowance.
    assert!(net.mint_at(bob.public(), 1_000, start + 20).is_ok());
    // The next window starts afresh.
    assert_eq!(
        net.ledger()
            .faucet_allowance(&alice.public(), start + window),
        1_000
    );
    assert!(net.mint_at(alice.public(), 1_000, start + window).is_ok());
    assert_eq!(net.ledger().balance(&alice.public()), 2_500);
    assert_eq!(net.ledger().total_minted(), 3_500);
    net.assert_conserved();
}

#[test]
fn a_zero_window_is_a_lifetime_limit() {
    let mut net = Net::with_limits(
        4,
        FaucetLimits {
            per_request: 100,
            per_account_per_window: 150,
            window_ms: 0,
        },
    );
    let alice = kp(1);
    assert!(net.mint_at(alice.public(), 100, NOW).is_ok());
    assert!(net.mint_at(alice.public(), 50, NOW + 86_400_000).is_ok());
    assert!(matches!(
        net.mint_at(alice.public(), 1, NOW + 365 * 86_400_000),
        Err(CreditError::OverWindowLimit { .. })
    ));
}

#[test]
fn checkers_vote_only_for_mints_dated_near_their_clock() {
    let mut net = Net::new(4);
    let alice = kp(1);
    let mint = Mint {
        to: alice.public(),
        amount: 10,
        sequence: 0,
        issued_ms: NOW,
        request_ms: 1,
    }
    .sign(&faucet(), NET);
    let (ledger, checker) = (&mut net.ledgers[0], &net.checkers[0]);
    let late = NOW + MINT_CLOCK_SKEW_MS + 1;
    assert_eq!(
        ledger.vote_mint(checker, &mint, late),
        Err(CreditError::MintClock {
            issued_ms: NOW,
            now_ms: late
        })
    );
    assert!(ledger
        .vote_mint(checker, &mint, NOW + MINT_CLOCK_SKEW_MS)
        .is_ok());
}

#[test]
fn only_the_faucet_mints_and_once_per_sequence() {
    let mut net = Net::new(4);
    let alice = kp(1);
    let mint = Mint {
        to: alice.public(),
        amount: 10,
        sequence: 0,
        issued_ms: NOW,
        request_ms: 1,
    };
    // Signed by another key.
    let forged = mint.sign(&alice, NET);
    assert_eq!(
        net.ledgers[0].vote_mint(&net.checkers[0], &forged, NOW),
        Err(CreditError::BadSignature {
            signer: faucet().public(),
            error: crate::identity::SignatureError::Invalid
        })
    );
    let votes: Vec<_> = net
        .checkers
        .iter()
        .map(|k| MintVote::new(k, NET, mint))
        .collect();
    let cert = MintCertificate::assemble(NET, forged, &net.set, &votes).expect("votes");
    assert!(matches!(
        net.ledgers[0].apply_mint(&cert, &net.set),
        Err(CreditError::BadSignature { .. })
    ));
    assert_eq!(net.ledger().total_minted(), 0);
    // The faucet signs two mints at one sequence: a checker votes for one.
    let one = mint.sign(&faucet(), NET);
    let two = Mint { amount: 20, ..mint }.sign(&faucet(), NET);
    assert!(net.ledgers[0]
        .vote_mint(&net.checkers[0], &one, NOW)
        .is_ok());
    assert_eq!(
        net.ledgers[0].vote_mint(&net.checkers[0], &two, NOW),
        Err(CreditError::Conflict { sequence: 0 })
    );
    // A replayed mint certificate mints nothing more.
    let mut net = Net::new(4);
    let cert = net.mint(alice.public(), 10);
    assert_eq!(
        net.ledgers[0].apply_mint(&cert, &net.set),
        Ok(AppliedMint::Replay)
    );
    assert_eq!(net.ledger().total_minted(), 10);
    assert_eq!(net.ledger().balance(&alice.public()), 10);
    net.assert_conserved();
}
