//! Credits, the node's side (the rules are `pictor_protocol::credits`): the ledger this
//! node derives from the certificates it verified, its own account's transfers (FastPay:
//! sign, gather the checkers' votes, certify), a checker's votes, and the faucet, on the
//! node that holds the faucet's key. A deterministic state machine: no I/O, no clock (time
//! comes with each input).

use std::collections::{BTreeMap, VecDeque};

use pictor_protocol::{
    credits::{
        CreditLedger, CreditMessage, EscrowId, EscrowOrder, EscrowVote, FaucetLimits, MintVote,
        Payee, SignedMint, SignedTransfer, TransferVote,
    },
    JobId, JobSpec, Keypair, PublicKey, ShardId,
};
use tracing::debug;

/// Certificates that cannot apply yet (their sequence is ahead, or they spend credits
/// that have not arrived), tried again after every certificate that applies.
const MAX_HELD: usize = 10_000;
/// Payments and faucet requests queued behind the one in flight.
const MAX_QUEUED: usize = 256;
/// How long an order waits for its votes before it is gossiped again.
const RESEND_MS: u64 = 3_000;
/// How long a caller waits for its payment's certificate (or the faucet's mint).
const ANSWER_MS: u64 = 30_000;

/// What the credits role is given.
#[derive(Debug)]
pub enum CreditsInput {
    /// A credits message from gossip (validated), or from this node's store at start.
    Message(CreditMessage),
    /// A vote or order this node made before it restarted (from its store).
    Restored(CreditMessage),
    /// Pay `amount` credits from this node's account to `to`; `reply` names the caller.
    Pay { to: Payee, amount: u64, reply: u64 },
    /// Ask the faucet for `amount` credits for this node's account.
    Faucet { amount: u64, reply: u64 },
    /// This node's committee accepted `shard` of `spec`, rendered by `worker`; `committee`
    /// holds the job now. Its worker is paid from the job's escrow.
    Accepted {
        spec: Box<JobSpec>,
        shard: ShardId,
        worker: PublicKey,
        committee: Vec<PublicKey>,
    },
    /// This checker's committee holds `spec` (a job cancelled before any of its shards was
    /// accepted): its escrow is followed here.
    Track {
        spec: Box<JobSpec>,
        committee: Vec<PublicKey>,
    },
    /// A worker's price, from its capability record issued at `issued_ms`.
    Price {
        worker: PublicKey,
        price: u64,
        issued_ms: u64,
    },
    /// This node's checker has no shard of the cancelled `job` in a worker's hands (every
    /// shard given out before the cancel is decided or timed out): what was accepted is all
    /// that will be, and the rest of its escrow can be refunded.
    Settled(JobId),
    /// A job is pruned.
    Forget(JobId),
    /// Time passes.
    Tick,
}

/// What the credits role asks the node to do.
#[derive(Debug, PartialEq, Eq)]
pub enum CreditsOutput {
    /// Gossip this (the node stores certificates and its own orders and votes first).
    Publish(CreditMessage),
    /// Send this checker's vote to the owner of the transfer (stored first, like a vote
    /// gossiped); the owner alone gathers it.
    Vote(TransferVote),
    /// Ask peers for the certificates of this job's shards: this node pays for them or
    /// votes on their payment, and may have missed some (it was down when they came).
    SyncJob(JobId),
    /// A caller's answer.
    Reply {
        reply: u64,
        result: Result<Receipt, String>,
    },
}

/// What a finished payment or faucet request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Receipt {
    /// Credits moved.
    pub amount: u64,
    /// The sequence number the order used (the account's, or the faucet's).
    pub sequence: u64,
    /// This node's balance after it.
    pub balance: u64,
}

/// This node's order in flight: its transfer (or, on the faucet's node, its mint) and the
/// votes gathered so far.
#[derive(Debug)]
struct InFlight<O, V> {
    order: O,
    votes: BTreeMap<PublicKey, V>,
    sent_ms: u64,
    started_ms: u64,
    reply: Option<u64>,
}

/// The credits state machine.
#[derive(Debug)]
pub struct Credits {
    keypair: Keypair,
    me: PublicKey,
    ledger: CreditLedger,
    /// The checker set that votes and certifies (given by the node, from governance).
    set: Vec<PublicKey>,
    /// The sets before it.
    sets: Vec<Vec<PublicKey>>,
    /// Whether this node votes (it is a checker of the set).
    votes: bool,
    /// The faucet's key, on the node that runs the faucet.
    faucet: Option<Keypair>,
    transfer: Option<InFlight<SignedTransfer, TransferVote>>,
    payments: VecDeque<(Payee, u64, Option<u64>)>,
    mint: Option<InFlight<SignedMint, MintVote>>,
    /// Faucet requests to mint for, on the faucet's node: account, amount, request time.
    requests: VecDeque<(PublicKey, u64, u64)>,
    /// This node's own faucet requests waiting for a mint: reply, amount asked, when.
    asked: Vec<(u64, u64, u64)>,
    held: Vec<CreditMessage>,
    /// The credits a committee earns per accepted shard (the spec's checker fee).
    checker_fee: u64,
    /// Jobs this node's committee pays, and the workers' prices it pays at.
    pay_jobs: BTreeMap<JobId, escrow::PayJob>,
    prices: BTreeMap<PublicKey, (u64, u64)>,
    /// As a job's payer: its escrow order in flight.
    proposals: BTreeMap<EscrowId, InFlight<EscrowOrder, EscrowVote>>,
    /// Payers' proposals this member could not vote for yet, and since when.
    waiting: BTreeMap<EscrowId, (EscrowVote, u64)>,
    /// This node's newest vote on each escrow (restored after a restart too): its vote at
    /// that sequence is locked to that action, so as payer it proposes it there, never
    /// another.
    locked: BTreeMap<EscrowId, EscrowVote>,
    /// What this node earned per job.
    earned: BTreeMap<JobId, Earned>,
    /// Escrows whose creator cancelled the job, and whether this node's checker has none
    /// of its shards out any more.
    closing: BTreeMap<EscrowId, bool>,
}

impl Credits {
    /// The credits of `network`, whose faucet is `faucet` within `limits`; `faucet_key`
    /// is the faucet's keypair where this node runs the faucet.
    pub fn new(
        keypair: Keypair,
        network: &str,
        faucet: PublicKey,
        limits: FaucetLimits,
        faucet_key: Option<Keypair>,
    ) -> Credits {
        let me = keypair.public();
        Credits {
            keypair,
            me,
            ledger: CreditLedger::new(network, faucet, limits),
            set: Vec::new(),
            sets: Vec::new(),
            votes: false,
            faucet: faucet_key.filter(|k| k.public() == faucet),
            transfer: None,
            payments: VecDeque::new(),
            mint: None,
            requests: VecDeque::new(),
            asked: Vec::new(),
            held: Vec::new(),
            checker_fee: 0,
            pay_jobs: BTreeMap::new(),
            prices: BTreeMap::new(),
            proposals: BTreeMap::new(),
            waiting: BTreeMap::new(),
            locked: BTreeMap::new(),
            earned: BTreeMap::new(),
            closing: Default::default(),
        }
    }

    /// The credits a committee earns per accepted shard (the spec's checker fee).
    pub fn with_checker_fee(mut self, fee: u64) -> Credits {
        self.checker_fee = fee;
        self
    }

    /// The ledger as this node derived it.
    pub fn ledger(&self) -> &CreditLedger {
        &self.ledger
    }

    /// Whether this node runs the faucet.
    pub fn is_faucet(&self) -> bool {
        self.faucet.is_some()
    }

    /// The checker set now; whether this node is one of it.
    pub fn set_checkers(&mut self, set: Vec<PublicKey>) {
        self.votes = set.contains(&self.me);
        self.set = set;
    }

    /// Every set the network has had (governance's `sets`, the current one first): a
    /// certificate an earlier set made before an admission still applies here.
    pub fn set_history(&mut self, sets: Vec<Vec<PublicKey>>) {
        self.sets = sets;
    }

    /// Hands the role one input; returns what the node must do.
    pub fn handle(&mut self, now_ms: u64, input: CreditsInput) -> Vec<CreditsOutput> {
        let mut out = Vec::new();
        match input {
            CreditsInput::Message(m) => self.on_message(now_ms, m, &mut out),
            CreditsInput::Restored(m) => self.on_restored(now_ms, m),
            CreditsInput::Pay { to, amount, reply } => {
                if self.payments.len() >= MAX_QUEUED {
                    return refuse(reply, "too many payments waiting; try again later");
                }
                self.payments.push_back((to, amount, Some(reply)));
            }
            CreditsInput::Faucet { amount, reply } => {
                if self.asked.len() >= MAX_QUEUED {
                    return refuse(reply, "too many faucet requests waiting");
                }
                self.asked.push((reply, amount, now_ms));
                if self.faucet.is_some() {
                    self.requests.push_back((self.me, amount, now_ms));
                } else {
                    out.push(CreditsOutput::Publish(CreditMessage::FaucetRequest {
                        account: self.me,
                        amount,
                        requested_ms: now_ms,
                    }));
                }
            }
            CreditsInput::Accepted {
                spec,
                shard,
                worker,
                committee,
            } => {
                self.on_accepted(*spec, shard, worker, committee);
                self.retry_waiting(now_ms, &mut out);
            }
            CreditsInput::Price {
                worker,
                price,
                issued_ms,
            } => self.on_price(worker, price, issued_ms),
            CreditsInput::Track { spec, committee } => {
                let _ = self.track(*spec, committee);
            }
            CreditsInput::Settled(job) => {
                if let Some(settled) = self
                    .closing
                    .iter_mut()
                    .find_map(|(e, settled)| (e.job == job).then_some(settled))
                {
                    *settled = true;
                }
                self.retry_waiting(now_ms, &mut out);
            }
            CreditsInput::Forget(job) => self.forget(&job),
            CreditsInput::Tick => self.on_tick(now_ms, &mut out),
        }
        self.next_payment(now_ms, &mut out);
        self.next_mint(now_ms, &mut out);
        self.pay_next(now_ms, &mut out);
        out
    }

    fn on_message(&mut self, now_ms: u64, m: CreditMessage, out: &mut Vec<CreditsOutput>) {
        match m {
            CreditMessage::Transfer(signed) => {
                if self.votes {
                    match self.ledger.vote_transfer(&self.keypair, &signed) {
                        Ok(vote) => self.cast(now_ms, CreditMessage::TransferVote(vote), out),
                        Err(e) => debug!(error = %e, "no vote for a transfer"),
                    }
                }
            }
            CreditMessage::TransferVote(vote) => {
                if let Some(t) = &mut self.transfer {
                    if vote.transfer == t.order.transfer && self.set.contains(&vote.checker) {
                        t.votes.insert(vote.checker, vote);
                        self.try_certify_transfer(out);
                    }
                }
            }
            CreditMessage::Mint(signed) => {
                if self.votes {
                    match self.ledger.vote_mint(&self.keypair, &signed, now_ms) {
                        Ok(vote) => self.cast(now_ms, CreditMessage::MintVote(vote), out),
                        Err(e) => debug!(error = %e, "no vote for a mint"),
                    }
                }
            }
            CreditMessage::MintVote(vote) => {
                if let Some(m) = &mut self.mint {
                    if vote.mint == m.order.mint && self.set.contains(&vote.checker) {
                        m.votes.insert(vote.checker, vote);
                        self.try_certify_mint(out);
                    }
                }
            }
            CreditMessage::FaucetRequest {
                account,
                amount,
                requested_ms,
            } => {
                let fresh = self.ledger.is_new_request(&account, requested_ms)
                    && !self
                        .requests
                        .iter()
                        .any(|(a, _, at)| *a == account && *at == requested_ms);
                if self.faucet.is_some() && fresh && self.requests.len() < MAX_QUEUED {
                    self.requests.push_back((account, amount, requested_ms));
                }
            }
            CreditMessage::EscrowVote(vote) => self.on_escrow_vote(now_ms, vote, out),
            CreditMessage::EscrowClose(escrow) => {
                if self.closing.len() < escrow::MAX_PAY_JOBS {
                    self.closing.entry(escrow).or_insert(false);
                }
                self.retry_waiting(now_ms, out);
            }
            cert @ (CreditMessage::TransferCertificate(_)
            | CreditMessage::MintCertificate(_)
            | CreditMessage::EscrowCertificate(_)) => self.apply(cert, out),
        }
    }

    /// A vote this checker casts: sent to the transfer's owner (a mint's, gossiped to the
    /// faucet's node), and counted here like any other (it is one of the votes its own
    /// order needs, and nothing brings it back).
    fn cast(&mut self, now_ms: u64, vote: CreditMessage, out: &mut Vec<CreditsOutput>) {
        out.push(match &vote {
            CreditMessage::TransferVote(v) => CreditsOutput::Vote(*v),
            other => CreditsOutput::Publish(other.clone()),
        });
        self.on_message(now_ms, vote, out);
    }
}

fn in_flight<O, V>(order: O, now_ms: u64, reply: Option<u64>) -> InFlight<O, V> {
    InFlight {
        order,
        votes: BTreeMap::new(),
        sent_ms: now_ms,
        started_ms: now_ms,
        reply,
    }
}

fn answer(reply: u64, amount: u64, sequence: u64, balance: u64) -> CreditsOutput {
    CreditsOutput::Reply {
        reply,
        result: Ok(Receipt {
            amount,
            sequence,
            balance,
        }),
    }
}

fn refused(reply: u64, why: String) -> CreditsOutput {
    CreditsOutput::Reply {
        reply,
        result: Err(why),
    }
}

fn refuse(reply: u64, why: &str) -> Vec<CreditsOutput> {
    vec![refused(reply, why.to_owned())]
}

mod certificates;
mod escrow;
mod locks;
mod members;
mod orders;
mod timers;

pub use escrow::{Earned, Funding};
#[cfg(test)]
mod escrow_tests;
#[cfg(test)]
mod tests;
