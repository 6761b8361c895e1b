use super::*;
use crate::codec;
use crate::identity::{Keypair, Signature};

pub(super) const NET: &str = "devnet";
pub(super) const NOW: u64 = 1_700_000_000_000;

pub(super) fn kp(n: u8) -> Keypair {
    Keypair::from_seed([n; 32])
}

pub(super) fn faucet() -> Keypair {
    kp(200)
}

pub(super) fn limits() -> FaucetLimits {
    FaucetLimits {
        per_request: 1_000,
        per_account_per_window: 1_500,
        window_ms: 60_000,
    }
}

/// `n` checkers, each with its own ledger (all honest unless a test says otherwise).
#[derive(Debug)]
pub(super) struct Net {
    pub(super) checkers: Vec<Keypair>,
    pub(super) set: Vec<PublicKey>,
    pub(super) ledgers: Vec<CreditLedger>,
}

impl Net {
    pub(super) fn new(n: u8) -> Net {
        Net::with_limits(n, limits())
    }

    pub(super) fn with_limits(n: u8, limits: FaucetLimits) -> Net {
        let checkers: Vec<Keypair> = (0..n).map(|i| kp(100 + i)).collect();
        let set = checkers.iter().map(Keypair::public).collect();
        let ledgers = (0..n)
            .map(|_| CreditLedger::new(NET, faucet().public(), limits))
            .collect();
        Net {
            checkers,
            set,
            ledgers,
        }
    }

    pub(super) fn ledger(&self) -> &CreditLedger {
        &self.ledgers[0]
    }

    /// Every checker votes; the certificate is made and applied everywhere.
    pub(super) fn mint_at(
        &mut self,
        to: PublicKey,
        amount: u64,
        now: u64,
    ) -> Result<MintCertificate, CreditError> {
        let mint = Mint {
            to,
            amount,
            sequence: self.ledger().faucet_sequence(),
            issued_ms: now,
            request_ms: self.ledger().faucet_sequence() + 1,
        }
        .sign(&faucet(), NET);
        let votes = self
            .ledgers
            .iter_mut()
            .zip(&self.checkers)
            .map(|(l, k)| l.vote_mint(k, &mint, now))
            .collect::<Result<Vec<_>, _>>()?;
        let cert = MintCertificate::assemble(NET, mint, &self.set, &votes)?;
        for l in &mut self.ledgers {
            l.apply_mint(&cert, &self.set)?;
        }
        Ok(cert)
    }

    pub(super) fn mint(&mut self, to: PublicKey, amount: u64) -> MintCertificate {
        self.mint_at(to, amount, NOW).expect("mint")
    }

    pub(super) fn signed(&self, from: &Keypair, to: Payee, amount: u64) -> SignedTransfer {
        Transfer {
            from: from.public(),
            to,
            amount,
            sequence: self.ledger().next_sequence(&from.public()),
        }
        .sign(from, NET)
    }

    pub(super) fn transfer(
        &mut self,
        from: &Keypair,
        to: Payee,
        amount: u64,
    ) -> Result<TransferCertificate, CreditError> {
        let signed = self.signed(from, to, amount);
        let votes = self
            .ledgers
            .iter_mut()
            .zip(&self.checkers)
            .map(|(l, k)| l.vote_transfer(k, &signed))
            .collect::<Result<Vec<_>, _>>()?;
        let cert = TransferCertificate::assemble(NET, signed, &self.set, &votes)?;
        for l in &mut self.ledgers {
            l.apply_transfer(&cert, &self.set)?;
        }
        Ok(cert)
    }

    /// The committee (all checkers) votes for `action` at the escrow's next sequence.
    pub(super) fn escrow(
        &mut self,
        escrow: EscrowId,
        action: EscrowAction,
    ) -> Result<EscrowCertificate, CreditError> {
        let sequence = self
            .ledger()
            .escrow(&escrow)
            .map_or(0, Escrow::next_sequence);
        let order = EscrowOrder::new(escrow, sequence, &self.set, action);
        let votes = self
            .ledgers
            .iter_mut()
            .zip(&self.checkers)
            .map(|(l, k)| l.vote_escrow(k, &order, &self.set))
            .collect::<Result<Vec<_>, _>>()?;
        let cert = EscrowCertificate::assemble(NET, order, &votes)?;
        for l in &mut self.ledgers {
            l.apply_escrow(&cert, &self.set)?;
        }
        Ok(cert)
    }

    pub(super) fn assert_conserved(&self) {
        for l in &self.ledgers {
            assert!(
                l.is_conserved(),
                "{} != {}",
                l.circulating(),
                l.total_minted()
            );
        }
    }
}

/// A certificate signed by `signers` directly, whatever their ledgers would say.
pub(super) fn force_transfer(signed: SignedTransfer, signers: &[Keypair]) -> TransferCertificate {
    let votes: Vec<_> = signers
        .iter()
        .map(|k| TransferVote::new(k, NET, signed.transfer))
        .collect();
    let set: Vec<PublicKey> = signers.iter().map(Keypair::public).collect();
    TransferCertificate::assemble(NET, signed, &set, &votes).expect("all signers vote")
}

pub(super) fn unchanged(a: &CreditLedger, b: &CreditLedger) -> bool {
    a.accounts().eq(b.accounts())
        && a.escrows().eq(b.escrows())
        && a.total_minted() == b.total_minted()
        && a.faucet_sequence() == b.faucet_sequence()
}

#[test]
fn a_transfer_moves_credits_and_the_sequence() {
    let mut net = Net::new(4);
    let (alice, bob) = (kp(1), kp(2));
    net.mint(alice.public(), 500);
    let cert = net.transfer(&alice, Payee::Account(bob.public()), 200);
    assert!(cert.is_ok());
    for l in &net.ledgers {
        assert_eq!(l.balance(&alice.public()), 300);
        assert_eq!(l.balance(&bob.public()), 200);
        assert_eq!(l.next_sequence(&alice.public()), 1);
        assert_eq!(l.next_sequence(&bob.public()), 0);
        assert_eq!(l.pending_locks(), 0);
    }
    net.assert_conserved();
    // A certificate needs 3 of 4 checkers.
    assert_eq!(cert.map(|c| c.signatures.len()), Ok(4));
}

#[test]
fn an_honest_checker_votes_for_one_transfer_per_sequence() {
    let mut net = Net::new(4);
    let (alice, bob, carol) = (kp(1), kp(2), kp(3));
    net.mint(alice.public(), 500);
    let to_bob = net.signed(&alice, Payee::Account(bob.public()), 400);
    let to_carol = net.signed(&alice, Payee::Account(carol.public()), 400);
    let checker = &net.checkers[0];
    let ledger = &mut net.ledgers[0];
    let vote = ledger.vote_transfer(checker, &to_bob);
    assert!(vote.is_ok());
    assert_eq!(
        ledger.vote_transfer(checker, &to_carol),
        Err(CreditError::Conflict { sequence: 0 })
    );
    // Asked again for the same transfer, it gives the same vote.
    assert_eq!(ledger.vote_transfer(checker, &to_bob), vote);
    assert_eq!(ledger.pending_locks(), 1);
}

/// With `f` faulty checkers of `3f + 1` voting for both transfers and every way the honest
/// ones can see them first, at most one certificate forms at one sequence.
#[test]
fn two_certificates_never_form_at_one_sequence() {
    for f in 1..=2u8 {
        let n = 3 * f + 1;
        let honest = usize::from(n - f);
        for split in 0..(1u32 << honest) {
            let mut net = Net::new(n);
            let (alice, bob, carol) = (kp(1), kp(2), kp(3));
            net.mint(alice.public(), 500);
            let t1 = net.signed(&alice, Payee::Account(bob.public()), 300);
            let t2 = net.signed(&alice, Payee::Account(carol.public()), 300);
            let mut votes = Vec::new();
            for (i, (ledger, k)) in net.ledgers.iter_mut().zip(&net.checkers).enumerate() {
                let order = if i < honest && split & (1 << i) != 0 {
                    [t2, t1]
                } else {
                    [t1, t2]
                };
                for t in order {
                    match ledger.vote_transfer(k, &t) {
                        Ok(v) => votes.push(v),
                        Err(e) => assert_eq!(e, CreditError::Conflict { sequence: 0 }),
                    }
                }
                if i >= honest {
                    // A faulty checker signs both.
                    votes.push(TransferVote::new(k, NET, t1.transfer));
                    votes.push(TransferVote::new(k, NET, t2.transfer));
                }
            }
            let c1 = TransferCertificate::assemble(NET, t1, &net.set, &votes);
            let c2 = TransferCertificate::assemble(NET, t2, &net.set, &votes);
            assert!(
                c1.is_err() || c2.is_err(),
                "f = {f}, split {split:b}: both formed"
            );
            if split == 0 {
                // Every honest checker saw the first: it is certified.
                assert!(c1.is_ok());
            }
        }
    }
}

#[test]
fn a_replayed_transfer_certificate_changes_nothing() {
    let mut net = Net::new(4);
    let (alice, bob) = (kp(1), kp(2));
    net.mint(alice.public(), 500);
    let cert = net
        .transfer(&alice, Payee::Account(bob.public()), 200)
        .expect("transfer");
    let before = net.ledger().clone();
    for l in &mut net.ledgers {
        assert_eq!(
            l.apply_transfer(&cert, &net.set),
            Ok(AppliedTransfer::Replay)
        );
    }
    assert!(unchanged(&before, net.ledger()));
    assert_eq!(net.ledger().balance(&bob.public()), 200);
    // Its transfer signed again is refused as a used sequence.
    let again = cert.transfer;
    assert_eq!(
        net.ledgers[0].vote_transfer(&net.checkers[0], &again),
        Err(CreditError::SequenceUsed {
            expected: 1,
            got: 0
        })
    );
}

#[test]
fn forged_certificates_are_refused_and_change_nothing() {
    let mut net = Net::new(4);
    let (alice, bob) = (kp(1), kp(2));
    net.mint(alice.public(), 500);
    let signed = net.signed(&alice, Payee::Account(bob.public()), 200);
    let good = force_transfer(signed, &net.checkers[..3]);
    let before = net.ledger().clone();
    let ledger = &mut net.ledgers[0];
    let set = net.set.clone();

    let mut bad_sig = good.clone();
    bad_sig.signatures[1].1 = bad_sig.signatures[0].1;
    assert!(matches!(
        ledger.apply_transfer(&bad_sig, &set),
        Err(CreditError::BadSignature { .. })
    ));

    let outsider = kp(99);
    let with_outsider = force_transfer(
        signed,
        &[
            net.checkers[0].clone(),
            net.checkers[1].clone(),
            outsider.clone(),
        ],
    );
    assert_eq!(
        ledger.apply_transfer(&with_outsider, &set),
        Err(CreditError::NotMember(outsider.public()))
    );

    let too_few = force_transfer(signed, &net.checkers[..2]);
    assert_eq!(
        ledger.apply_transfer(&too_few, &set),
        Err(CreditError::NoQuorum {
            got: 2,
            needed: 3,
            set: 4
        })
    );

    let mut duplicate = good.clone();
    duplicate.signatures[2] = duplicate.signatures[1];
    assert!(matches!(
        ledger.apply_transfer(&duplicate, &set),
        Err(CreditError::DuplicateOrUnsorted(_))
    ));

    // The amount raised after the votes: no vote signs the new transfer.
    let mut raised = good.clone();
    raised.transfer.transfer.amount = 400;
    assert!(matches!(
        ledger.apply_transfer(&raised, &set),
        Err(CreditError::BadSignature { .. })
    ));

    // Votes for a transfer its owner never signed.
    let mut unsigned = good.clone();
    unsigned.transfer.signature = Signature::from_bytes([7; 64]);
    assert_eq!(
        ledger.apply_transfer(&unsigned, &set),
        Err(CreditError::BadSignature {
            signer: alice.public(),
            error: crate::identity::SignatureError::Invalid
        })
    );

    // Another network's certificate.
    let mut other = CreditLedger::new("testnet", faucet().public(), limits());
    assert!(other.apply_transfer(&good, &set).is_err());

    assert!(unchanged(&before, ledger));
    assert!(matches!(
        ledger.apply_transfer(&good, &set),
        Ok(AppliedTransfer::Paid { amount: 200, .. })
    ));
}

#[test]
fn an_owner_signature_is_never_a_vote() {
    // A checker that owns an account: its signature on its own transfer does not count
    // as its vote for it.
    let mut net = Net::new(4);
    let owner = net.checkers[0].clone();
    net.mint(owner.public(), 500);
    let signed = net.signed(&owner, Payee::Account(kp(2).public()), 100);
    let mut cert = force_transfer(signed, &net.checkers[..3]);
    let i = cert
        .signatures
        .iter()
        .position(|(k, _)| *k == owner.public())
        .expect("owner signs");
    cert.signatures[i].1 = signed.signature;
    assert!(matches!(
        net.ledgers[1].apply_transfer(&cert, &net.set),
        Err(CreditError::BadSignature { .. })
    ));
}

#[test]
fn certificates_ahead_wait_and_credits_arrive_in_any_order() {
    let mut net = Net::new(4);
    let (alice, bob, carol) = (kp(1), kp(2), kp(3));
    net.mint(alice.public(), 500);
    let mut late = net.ledger().clone();
    let first = net
        .transfer(&alice, Payee::Account(bob.public()), 100)
        .expect("1");
    let second = net
        .transfer(&alice, Payee::Account(bob.public()), 100)
        .expect("2");
    let onward = net
        .transfer(&bob, Payee::Account(carol.public()), 150)
        .expect("3");
    // A node that hears them backwards applies each once what it needs has arrived.
    assert_eq!(
        late.apply_transfer(&onward, &net.set),
        Err(CreditError::InsufficientBalance {
            account: bob.public(),
            balance: 0,
            amount: 150
        })
    );
    assert_eq!(
        late.apply_transfer(&second, &net.set),
        Err(CreditError::SequenceAhead {
            expected: 0,
            got: 1
        })
    );
    assert!(late.apply_transfer(&first, &net.set).is_ok());
    assert!(late.apply_transfer(&second, &net.set).is_ok());
    assert!(late.apply_transfer(&onward, &net.set).is_ok());
    assert!(unchanged(&late, net.ledger()));
    assert!(late.is_conserved());
}

#[test]
fn checkers_refuse_what_the_account_cannot_pay() {
    let mut net = Net::new(4);
    let (alice, bob) = (kp(1), kp(2));
    net.mint(alice.public(), 100);
    assert_eq!(
        net.transfer(&alice, Payee::Account(bob.public()), 101)
            .err(),
        Some(CreditError::InsufficientBalance {
            account: alice.public(),
            balance: 100,
            amount: 101
        })
    );
    assert_eq!(
        net.transfer(&alice, Payee::Account(bob.public()), 0).err(),
        Some(CreditError::ZeroAmount)
    );
    assert_eq!(
        net.transfer(&alice, Payee::Account(alice.public()), 10)
            .err(),
        Some(CreditError::SelfTransfer(alice.public()))
    );
    // A refused vote takes no lock.
    assert_eq!(net.ledger().pending_locks(), 0);
    assert!(net
        .transfer(&alice, Payee::Account(bob.public()), 100)
        .is_ok());
}

#[test]
fn certificates_round_trip_through_the_codec() {
    let mut net = Net::new(4);
    let (alice, bob) = (kp(1), kp(2));
    let mint = net.mint(alice.public(), 500);
    let job = crate::job::JobId([4; 32]);
    let transfer = net.transfer(&alice, Payee::Escrow(job), 300).expect("fund");
    let escrow = EscrowId {
        job,
        creator: alice.public(),
    };
    let shard = crate::job::ShardId {
        job,
        frame: 1,
        tile: 2,
    };
    let pay = net
        .escrow(
            escrow,
            EscrowAction::PayShard {
                shard,
                worker: bob.public(),
                worker_amount: 10,
                checker_fee: 3,
            },
        )
        .expect("pay");
    let max = codec::MAX_GOSSIP_SIZE;
    assert_eq!(codec::decode(&codec::encode(&mint), max), Ok(mint));
    assert_eq!(codec::decode(&codec::encode(&transfer), max), Ok(transfer));
    assert_eq!(codec::decode(&codec::encode(&pay), max), Ok(pay));
}
