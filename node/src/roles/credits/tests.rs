//! The credits role driven directly: four checkers, an owner and the faucet's node, with
//! every published message handed to every other node (a perfect gossip network).

use pictor_protocol::credits::{CreditMessage, FaucetLimits, Payee, Transfer};
use pictor_protocol::{Keypair, PublicKey};

use super::{Credits, CreditsInput, CreditsOutput, Receipt};

pub(super) const NET: &str = "devnet";
pub(super) const NOW: u64 = 1_700_000_000_000;

fn limits() -> FaucetLimits {
    FaucetLimits {
        per_request: 1_000,
        per_account_per_window: 1_500,
        window_ms: 60_000,
    }
}

pub(super) struct Net {
    pub(super) nodes: Vec<Credits>,
    pub(super) replies: Vec<(usize, u64, Result<Receipt, String>)>,
    /// Every message published, in order.
    pub(super) published: Vec<CreditMessage>,
}

/// Nodes 0–3 are the checkers (node 0 runs the faucet), 4 and 5 are accounts.
pub(super) fn net() -> Net {
    let faucet = Keypair::from_seed([99; 32]);
    let keys: Vec<Keypair> = (0..6).map(|i| Keypair::from_seed([i + 1; 32])).collect();
    let set: Vec<PublicKey> = keys[..4].iter().map(Keypair::public).collect();
    let nodes = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let key = (i == 0).then(|| faucet.clone());
            let mut c = Credits::new(k.clone(), NET, faucet.public(), limits(), key);
            c.set_checkers(set.clone());
            c
        })
        .collect();
    Net {
        nodes,
        replies: Vec::new(),
        published: Vec::new(),
    }
}

/// [`net`] where account 4 got `amount` from the faucet (request 1).
pub(super) fn holding(amount: u64) -> Net {
    let mut n = net();
    n.run(4, CreditsInput::Faucet { amount, reply: 1 });
    n
}

impl Net {
    /// Hands `input` to node `i` and delivers everything published, until quiet.
    pub(super) fn run(&mut self, i: usize, input: CreditsInput) {
        self.run_at(i, NOW, input);
    }

    /// Node `from` pays `amount` to `to`; `reply` names the caller.
    pub(super) fn pay(&mut self, from: usize, to: Payee, amount: u64, reply: u64) {
        self.run(from, CreditsInput::Pay { to, amount, reply });
    }

    /// [`Net::run`] at `now`.
    pub(super) fn run_at(&mut self, i: usize, now: u64, input: CreditsInput) {
        let mut queue = vec![(i, self.nodes[i].handle(now, input))];
        while let Some((from, outputs)) = queue.pop() {
            for output in outputs {
                match output {
                    CreditsOutput::Publish(m) => {
                        self.published.push(m.clone());
                        for to in (0..self.nodes.len()).filter(|&to| to != from) {
                            let out = self.nodes[to].handle(now, CreditsInput::Message(m.clone()));
                            queue.push((to, out));
                        }
                    }
                    CreditsOutput::Vote(v) => {
                        // Point to point, to the transfer's owner.
                        if let Some(to) =
                            (0..self.nodes.len()).find(|&to| self.key(to) == v.transfer.from)
                        {
                            let out = self.nodes[to]
                                .handle(now, CreditsInput::Message(CreditMessage::TransferVote(v)));
                            queue.push((to, out));
                        }
                    }
                    CreditsOutput::SyncJob(_) => {}
                    CreditsOutput::Reply { reply, result } => {
                        self.replies.push((from, reply, result));
                    }
                }
            }
        }
    }

    /// Node `i` started again from nothing but the certificates published so far.
    pub(super) fn restarted(&self, i: usize) -> Credits {
        let faucet = Keypair::from_seed([99; 32]);
        let mut fresh = Credits::new(
            self.nodes[i].keypair.clone(),
            NET,
            faucet.public(),
            limits(),
            None,
        );
        fresh.set_checkers((0..4).map(|c| self.key(c)).collect());
        for m in &self.published {
            if matches!(
                m,
                CreditMessage::MintCertificate(_) | CreditMessage::TransferCertificate(_)
            ) {
                let _ = fresh.handle(NOW, CreditsInput::Message(m.clone()));
            }
        }
        fresh
    }

    pub(super) fn key(&self, i: usize) -> PublicKey {
        self.nodes[i].me
    }

    pub(super) fn balance(&self, at: usize, of: usize) -> u64 {
        self.nodes[at].ledger().balance(&self.key(of))
    }
}

#[test]
fn faucet_then_payment_settle_on_every_node() {
    let mut n = holding(700);
    assert_eq!(
        n.replies.pop().map(|r| r.2),
        Some(Ok(Receipt {
            amount: 700,
            sequence: 0,
            balance: 700
        }))
    );
    let to = Payee::Account(n.key(5));
    n.pay(4, to, 300, 2);
    let (node, reply, result) = n.replies.pop().expect("an answer");
    assert_eq!((node, reply), (4, 2));
    assert_eq!(result.map(|r| r.balance), Ok(400));
    for at in 0..6 {
        assert_eq!(n.balance(at, 4), 400, "node {at}");
        assert_eq!(n.balance(at, 5), 300, "node {at}");
        assert!(n.nodes[at].ledger().is_conserved());
        assert_eq!(n.nodes[at].ledger().total_minted(), 700);
    }
}

#[test]
fn an_overspend_is_refused_at_once_and_changes_nothing() {
    let mut n = holding(100);
    let to = Payee::Account(n.key(5));
    n.pay(4, to, 101, 2);
    let (_, _, result) = n.replies.pop().expect("an answer");
    assert!(result
        .expect_err("refused")
        .contains("insufficient balance"));
    assert_eq!(n.balance(1, 4), 100);
    assert_eq!(n.nodes[1].ledger().next_sequence(&n.key(4)), 0);
}

#[test]
fn two_transfers_signed_at_one_sequence_never_both_certify() {
    let mut n = holding(100);
    // A cheating owner signs two transfers at sequence 0 and shows each to half the set.
    let owner = Keypair::from_seed([5; 32]);
    let signed = |to: usize| {
        Transfer {
            from: owner.public(),
            to: Payee::Account(n.key(to)),
            amount: 100,
            sequence: 0,
        }
        .sign(&owner, NET)
    };
    let (a, b) = (signed(5), signed(0));
    let mut votes_a = Vec::new();
    let mut votes_b = Vec::new();
    for c in 0..4 {
        let (first, second) = if c < 2 { (a, b) } else { (b, a) };
        for order in [first, second] {
            let out = n.nodes[c].handle(NOW, CreditsInput::Message(CreditMessage::Transfer(order)));
            for o in out {
                if let CreditsOutput::Vote(v) = o {
                    if v.transfer == a.transfer {
                        votes_a.push(v);
                    } else if v.transfer == b.transfer {
                        votes_b.push(v);
                    }
                }
            }
        }
    }
    // Each checker voted for the first it saw only: two votes each, no quorum (3 of 4).
    assert_eq!((votes_a.len(), votes_b.len()), (2, 2));
    let set: Vec<PublicKey> = (0..4).map(|i| n.key(i)).collect();
    assert!(
        pictor_protocol::credits::TransferCertificate::assemble(NET, a, &set, &votes_a).is_err()
    );
    assert!(
        pictor_protocol::credits::TransferCertificate::assemble(NET, b, &set, &votes_b).is_err()
    );
}

#[test]
fn a_replayed_or_forged_certificate_changes_nothing() {
    let mut n = holding(500);
    let to = Payee::Account(n.key(5));
    n.pay(4, to, 200, 2);
    let cert = n
        .published
        .iter()
        .rev()
        .find(|m| matches!(m, CreditMessage::TransferCertificate(_)))
        .cloned()
        .expect("certified");
    let before = n.nodes[2].ledger().clone();
    n.run(2, CreditsInput::Message(cert.clone()));
    assert_eq!(
        n.nodes[2].ledger().balance(&n.key(5)),
        before.balance(&n.key(5))
    );
    // Votes by keys outside the set: not a certificate.
    let CreditMessage::TransferCertificate(mut forged) = cert else {
        unreachable!()
    };
    let outsider = Keypair::from_seed([77; 32]);
    let transfer = Transfer {
        from: n.key(5),
        to: Payee::Account(outsider.public()),
        amount: 200,
        sequence: 0,
    };
    forged.transfer = transfer.sign(&Keypair::from_seed([6; 32]), NET);
    n.run(
        2,
        CreditsInput::Message(CreditMessage::TransferCertificate(forged)),
    );
    assert_eq!(n.nodes[2].ledger().balance(&outsider.public()), 0);
    assert_eq!(n.nodes[2].ledger().balance(&n.key(5)), 200);
}

#[test]
fn a_restarted_checker_does_not_vote_for_a_second_transfer_at_a_sequence() {
    let mut n = holding(100);
    let owner = Keypair::from_seed([5; 32]);
    let order = |to: PublicKey| {
        Transfer {
            from: owner.public(),
            to: Payee::Account(to),
            amount: 50,
            sequence: 0,
        }
        .sign(&owner, NET)
    };
    let first = order(n.key(5));
    let out = n.nodes[1].handle(NOW, CreditsInput::Message(CreditMessage::Transfer(first)));
    let Some(CreditsOutput::Vote(vote)) = out.into_iter().next() else {
        panic!("a vote")
    };
    let vote = CreditMessage::TransferVote(vote);
    // Restart: a fresh role, its certificates and its own vote restored.
    let mut fresh = n.restarted(1);
    assert_eq!(fresh.ledger().balance(&owner.public()), 100);
    let _ = fresh.handle(NOW, CreditsInput::Restored(vote));
    let second = order(n.key(0));
    let out = fresh.handle(NOW, CreditsInput::Message(CreditMessage::Transfer(second)));
    assert!(out.is_empty(), "no second vote: {out:?}");
    // Without its stored vote it would have voted (the lock is what stops it).
    let mut forgetful = n.restarted(1);
    let out = forgetful.handle(NOW, CreditsInput::Message(CreditMessage::Transfer(second)));
    assert_eq!(out.len(), 1);
}

#[test]
fn a_replayed_faucet_request_is_answered_once() {
    let mut n = holding(700);
    assert_eq!(n.balance(0, 4), 700);
    let request = n
        .published
        .iter()
        .find(|m| matches!(m, CreditMessage::FaucetRequest { .. }))
        .cloned()
        .expect("the request was gossiped");
    // Relayed again (a peer that kept it, the faucet's node restarted from its store).
    n.run(0, CreditsInput::Message(request.clone()));
    let mut restarted = n.restarted(0);
    restarted.faucet = Some(Keypair::from_seed([99; 32]));
    n.nodes[0] = restarted;
    n.run(0, CreditsInput::Message(request));
    n.run(0, CreditsInput::Tick);
    for at in 0..6 {
        assert_eq!(n.balance(at, 4), 700, "node {at}");
        assert_eq!(n.nodes[at].ledger().total_minted(), 700);
    }
    // A new request of the account is answered.
    n.run_at(
        4,
        NOW + 1,
        CreditsInput::Faucet {
            amount: 100,
            reply: 2,
        },
    );
    assert_eq!(n.balance(0, 4), 800);
}

#[test]
fn certificates_of_an_earlier_set_apply_after_the_set_grew() {
    let mut n = holding(600);
    let to = Payee::Account(n.key(5));
    n.pay(4, to, 200, 2);
    // A node that catches up after a fifth checker joined the set: the four's quorums
    // are short of the five's, so they count only as the earlier set's.
    let four: Vec<PublicKey> = (0..4).map(|c| n.key(c)).collect();
    let mut five = four.clone();
    five.push(Keypair::from_seed([50; 32]).public());
    let certificates: Vec<CreditMessage> = n
        .published
        .iter()
        .filter(|m| {
            matches!(
                m,
                CreditMessage::MintCertificate(_) | CreditMessage::TransferCertificate(_)
            )
        })
        .cloned()
        .collect();
    let catch_up = |history: Vec<Vec<PublicKey>>| {
        let faucet = Keypair::from_seed([99; 32]).public();
        let mut late = Credits::new(Keypair::from_seed([60; 32]), NET, faucet, limits(), None);
        late.set_checkers(five.clone());
        late.set_history(history);
        for m in &certificates {
            let _ = late.handle(NOW, CreditsInput::Message(m.clone()));
        }
        (
            late.ledger().balance(&n.key(4)),
            late.ledger().total_minted(),
        )
    };
    assert_eq!(
        catch_up(vec![five.clone()]),
        (0, 0),
        "the five's quorum is not met"
    );
    assert_eq!(catch_up(vec![five.clone(), four.clone()]), (400, 600));
}

#[test]
fn a_jobs_budget_waits_for_its_certificate_where_a_payment_times_out() {
    let later = NOW + 31_000;
    let replies = |to: Payee| {
        let mut n = net();
        n.run(
            4,
            CreditsInput::Faucet {
                amount: 700,
                reply: 1,
            },
        );
        // The checkers hear nothing of it (their network is down).
        let node = &mut n.nodes[4];
        let _ = node.handle(
            NOW,
            CreditsInput::Pay {
                to,
                amount: 100,
                reply: 7,
            },
        );
        node.handle(later, CreditsInput::Tick)
            .into_iter()
            .filter(|o| matches!(o, CreditsOutput::Reply { reply: 7, .. }))
            .count()
    };
    let other = Keypair::from_seed([6; 32]).public();
    assert_eq!(
        replies(Payee::Account(other)),
        1,
        "a payment's caller is told"
    );
    let job = pictor_protocol::JobId([9; 32]);
    assert_eq!(replies(Payee::Escrow(job)), 0, "a budget waits");
}
