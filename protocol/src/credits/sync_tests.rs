//! A node that catches up asks a peer for its credits certificates page by page.

use super::tests::{faucet, kp, limits, unchanged, Net, NET};
use super::*;
use crate::identity::Keypair;

#[test]
fn a_peer_answers_its_certificates_page_by_page_in_the_order_they_apply() {
    use crate::wire::{credits_page, MAX_CREDITS_PER_RESPONSE};
    let mut net = Net::new(4);
    let faucet_limits = limits();
    let accounts: Vec<Keypair> = (1..=3).map(kp).collect();
    let mut all = Vec::new();
    for a in &accounts {
        all.push(CreditMessage::MintCertificate(
            net.mint(a.public(), faucet_limits.per_request),
        ));
    }
    // More transfers than one answer holds.
    let transfers = MAX_CREDITS_PER_RESPONSE + 300;
    for i in 0..transfers {
        let from = &accounts[i % 3];
        let to = accounts[(i + 1) % 3].public();
        let cert = net.transfer(from, Payee::Account(to), 1).expect("transfer");
        all.push(CreditMessage::TransferCertificate(cert));
    }
    // The store holds them in no useful order.
    all.reverse();
    let total = all.len();
    let mut received = Vec::new();
    let mut pages = 0;
    loop {
        let (page, more) = credits_page(all.clone(), received.len());
        // Each page is as full as an answer may be, but the last.
        assert!(!more || page.len() == MAX_CREDITS_PER_RESPONSE);
        assert!(page.len() <= MAX_CREDITS_PER_RESPONSE);
        assert!(!page.is_empty());
        received.extend(page);
        pages += 1;
        if !more {
            break;
        }
    }
    assert_eq!(received.len(), total);
    assert!(pages >= 2, "{pages} page(s)");
    // Page by page, a node that knows nothing applies every one at once, in order.
    let mut late = CreditLedger::new(NET, faucet().public(), faucet_limits);
    for m in &received {
        let applied = match m {
            CreditMessage::MintCertificate(c) => late.apply_mint(c, &net.set).map(|_| ()),
            CreditMessage::TransferCertificate(c) => late.apply_transfer(c, &net.set).map(|_| ()),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(applied, Ok(()));
    }
    assert!(unchanged(&late, net.ledger()));
    // Past the end: nothing, and no more.
    assert_eq!(credits_page(all, total), (Vec::new(), false));
}
