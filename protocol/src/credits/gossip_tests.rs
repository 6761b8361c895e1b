use super::tests::{kp, Net, NOW};
use super::*;
use crate::{codec, Message};

#[test]
fn a_restarted_checker_keeps_its_vote_lock() {
    let mut net = Net::new(4);
    let owner = kp(1);
    net.mint(owner.public(), 500);
    let first = net.signed(&owner, Payee::Account(kp(2).public()), 100);
    let other = net.signed(&owner, Payee::Account(kp(3).public()), 100);
    let vote = net.ledgers[0]
        .vote_transfer(&net.checkers[0], &first)
        .expect("vote");
    // The checker restarts: its ledger is rebuilt from certificates, without locks.
    let mut fresh = net.ledgers[1].clone();
    fresh.relock_transfer(&vote).expect("relock");
    assert!(matches!(
        fresh.vote_transfer(&net.checkers[0], &other),
        Err(CreditError::Conflict { sequence: 0 })
    ));
    // The same transfer gets the same vote again.
    assert_eq!(
        fresh
            .vote_transfer(&net.checkers[0], &first)
            .expect("again"),
        vote
    );
}

#[test]
fn a_relock_below_the_next_sequence_takes_no_lock() {
    let mut net = Net::new(4);
    let owner = kp(1);
    net.mint(owner.public(), 500);
    let first = net.signed(&owner, Payee::Account(kp(2).public()), 100);
    let vote = net.ledgers[0]
        .vote_transfer(&net.checkers[0], &first)
        .expect("vote");
    net.transfer(&owner, Payee::Account(kp(2).public()), 100)
        .expect("certified");
    let mut ledger = net.ledgers[0].clone();
    let locks = ledger.pending_locks();
    ledger.relock_transfer(&vote).expect("relock");
    assert_eq!(ledger.pending_locks(), locks);
}

#[test]
fn credit_messages_round_trip_and_name_their_author() {
    let mut net = Net::new(4);
    let owner = kp(1);
    let cert = net.mint_at(owner.public(), 500, NOW).expect("mint");
    let transfer = net.signed(&owner, Payee::Account(kp(2).public()), 10);
    let messages = [
        CreditMessage::MintCertificate(cert.clone()),
        CreditMessage::Transfer(transfer),
        CreditMessage::FaucetRequest {
            account: owner.public(),
            amount: 5,
            requested_ms: NOW,
        },
        CreditMessage::EscrowClose(EscrowId {
            job: crate::JobId([3; 32]),
            creator: owner.public(),
        }),
    ];
    for m in messages {
        let wrapped = Message::Credits(m.clone());
        let back: Message = codec::decode(&codec::encode(&wrapped), 1 << 20).expect("decode");
        assert_eq!(back, wrapped);
        assert!(wrapped.validate().is_ok());
    }
    assert_eq!(
        Message::Credits(CreditMessage::Transfer(transfer)).author(),
        Some(owner.public())
    );
    assert_eq!(
        Message::Credits(CreditMessage::MintCertificate(cert.clone())).author(),
        None
    );
    // A certificate with more signatures than any set may hold is out of bounds.
    let mut big = cert;
    let pair = big.signatures[0];
    big.signatures = vec![pair; crate::governance::MAX_CHECKERS + 1];
    assert!(Message::Credits(CreditMessage::MintCertificate(big))
        .validate()
        .is_err());
}
