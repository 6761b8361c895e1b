//! Credits, the loop's side: the credits role's inputs (gossip, callers, ticks, the
//! store at start), what it asks for (gossip, answers), and what is kept on disk: every
//! certificate, and this node's own orders and votes, so that a restarted checker never
//! votes twice at one sequence and a restarted owner finishes the transfer it signed.

use libp2p::request_response::ResponseChannel;
use pictor_protocol::{
    credits::{CreditMessage, TransferVote},
    Message, Request, Response,
};
use tracing::{debug, warn};

use super::{EventLoop, Work};
use crate::{
    requests::Pending,
    roles::credits::{Credits, CreditsInput, CreditsOutput},
    wallet::{Balance, CreditsCommand},
    NodeError,
};

/// The most credits certificates one pass of catching up takes from a peer.
const MAX_CREDITS_SYNCED: u32 = 4_000_000;

/// Whether a credits message is kept on disk (the rest is ephemeral).
pub(super) fn kept(
    credits: Option<&Credits>,
    me: &pictor_protocol::PublicKey,
    m: &CreditMessage,
) -> bool {
    match m {
        CreditMessage::TransferCertificate(_)
        | CreditMessage::MintCertificate(_)
        | CreditMessage::EscrowCertificate(_)
        | CreditMessage::EscrowClose(_) => true,
        CreditMessage::Transfer(t) => t.transfer.from == *me,
        CreditMessage::TransferVote(v) => v.checker == *me,
        CreditMessage::MintVote(v) => v.checker == *me,
        CreditMessage::EscrowVote(v) => v.checker == *me,
        CreditMessage::Mint(_) => credits.is_some_and(Credits::is_faucet),
        CreditMessage::FaucetRequest { .. } => false,
    }
}

impl EventLoop {
    /// Feeds the stored credits messages to the role at start: certificates first (the
    /// ledger), then this node's own votes and orders.
    pub(super) fn restore_credits(&mut self) {
        if self.credits.is_none() {
            return;
        }
        let stored = match self.store.credits() {
            Ok(stored) => stored,
            Err(e) => return warn!(error = %e, "cannot read the stored credits"),
        };
        let (certificates, own): (Vec<_>, Vec<_>) = stored.into_iter().partition(|m| {
            matches!(
                m,
                CreditMessage::TransferCertificate(_)
                    | CreditMessage::MintCertificate(_)
                    | CreditMessage::EscrowCertificate(_)
                    | CreditMessage::EscrowClose(_)
            )
        });
        let mut inputs = Vec::new();
        for m in certificates {
            inputs.extend(self.track_input(&m));
            inputs.push(CreditsInput::Message(m));
        }
        inputs.extend(own.into_iter().map(CreditsInput::Restored));
        let (set, sets) = {
            let ledger = self.ledger.lock();
            (ledger.set().to_vec(), ledger.sets())
        };
        let Some(credits) = &mut self.credits else {
            return;
        };
        credits.set_checkers(set);
        credits.set_history(sets);
        let now = crate::now_ms();
        for input in inputs {
            // Applying stored certificates answers no caller and publishes nothing.
            let _ = credits.handle(now, input);
        }
    }

    /// What a credits message from gossip gives the role: a cancelled job this checker
    /// pays for is followed first (even with no shard accepted yet), then the message.
    pub(super) fn credits_work(&self, m: CreditMessage) -> Vec<Work> {
        let track = self.track_input(&m).map(Work::Credits);
        track
            .into_iter()
            .chain([Work::Credits(CreditsInput::Message(m))])
            .collect()
    }

    /// For a cancel (`EscrowClose`) of a job this checker knows: the role follows the
    /// job's escrow even with no shard accepted yet.
    fn track_input(&self, m: &CreditMessage) -> Option<CreditsInput> {
        let CreditMessage::EscrowClose(escrow) = m else {
            return None;
        };
        let spec = self
            .jobs
            .get(&escrow.job)
            .filter(|_| self.checker.is_some())?;
        Some(CreditsInput::Track {
            spec: Box::new(spec.clone()),
            committee: self.ledger.lock().committee(&escrow.job),
        })
    }

    /// Asks a peer (one that answered its decisions and evidence) for its credits
    /// certificates: a node that starts late, or comes back, rebuilds the ledger.
    pub(super) fn sync_credits(&mut self, peer: libp2p::PeerId) {
        self.ask_credits(peer, 0);
    }

    /// Asks `peer` for its credits certificates from the `skip`-th on (pages of
    /// [`pictor_protocol::wire::MAX_CREDITS_PER_RESPONSE`], up to [`MAX_CREDITS_SYNCED`] in
    /// one pass).
    fn ask_credits(&mut self, peer: libp2p::PeerId, skip: u32) {
        if self.credits.is_some() && self.requests.has_room() {
            self.send_request(
                &peer,
                Request::GetCredits { skip },
                Pending::Credits { skip },
            );
        }
    }

    /// A page of a peer's credits certificates: each that passes the checks of a gossiped
    /// one is taken in like it (the role holds what it cannot apply yet), and the next page
    /// is asked for while there is more; a forged one ends what this node takes from that
    /// peer.
    pub(super) fn on_credits_answer(
        &mut self,
        peer: libp2p::PeerId,
        skip: u32,
        response: Result<Response, String>,
    ) {
        let (certificates, more) = match response {
            Ok(Response::Credits { certificates, more }) => (certificates, more),
            Ok(other) => return debug!(%peer, ?other, "unexpected answer to a credits request"),
            Err(reason) => return debug!(%peer, %reason, "credits request failed"),
        };
        let Some(faucet) = self.params.credits.as_ref().map(|c| c.faucet) else {
            return;
        };
        let mut taken = 0usize;
        let page = certificates
            .len()
            .min(pictor_protocol::wire::MAX_CREDITS_PER_RESPONSE);
        for m in certificates.into_iter().take(page) {
            match crate::validation::check_credit_certificate(
                &self.params.id,
                &self.ledger,
                &faucet,
                &m,
            ) {
                Ok(()) => {
                    taken += 1;
                    self.ingest(Message::Credits(m));
                }
                Err(refusal) if refusal.penalise => {
                    return self
                        .distrust(peer, &format!("a credits certificate: {}", refusal.reason));
                }
                Err(refusal) => {
                    debug!(%peer, reason = %refusal.reason, "credits certificate from a peer dropped")
                }
            }
        }
        if taken > 0 {
            tracing::info!(%peer, certificates = taken, skipped = skip, more, "caught up on the credits ledger");
        }
        // An empty page with more after it would ask for the same page again; and a peer
        // that always has more is not followed for ever.
        if more && page > 0 && skip < MAX_CREDITS_SYNCED {
            self.ask_credits(peer, skip.saturating_add(page as u32));
        }
    }

    /// Every tick: the checker set as governance has it now, and the role's timers.
    pub(super) fn credits_tick(&mut self) {
        if let Some(credits) = &mut self.credits {
            let ledger = self.ledger.lock();
            credits.set_checkers(ledger.set().to_vec());
            credits.set_history(ledger.sets());
            drop(ledger);
            // A cancelled job's rest is refunded once no shard given out before the cancel
            // can still land.
            if let Some(checker) = &self.checker {
                for job in credits.unsettled_cancels() {
                    if checker.shards_out(&job) == Some(0) {
                        self.queue
                            .push_back(Work::Credits(CreditsInput::Settled(job)));
                    }
                }
            }
            self.queue.push_back(Work::Credits(CreditsInput::Tick));
        }
        if self.checker.is_some() {
            for job in self.jobs.ids() {
                self.tell_funding(job);
            }
        }
    }

    /// Hands the credits role one input; a job whose escrow it changes is given out by its
    /// new standing at once (a budget runs out between two ticks on a small job).
    pub(super) fn run_credits(&mut self, now: u64, input: CreditsInput) {
        let job = match &input {
            CreditsInput::Accepted { shard, .. } => Some(shard.job),
            CreditsInput::Message(CreditMessage::EscrowCertificate(c)) => Some(c.order.escrow.job),
            CreditsInput::Message(CreditMessage::EscrowVote(v)) => Some(v.order.escrow.job),
            CreditsInput::Message(CreditMessage::EscrowClose(e)) => Some(e.job),
            CreditsInput::Message(CreditMessage::TransferCertificate(c)) => {
                c.transfer.transfer.escrow().map(|e| e.job)
            }
            _ => None,
        };
        let Some(credits) = &mut self.credits else {
            return;
        };
        for output in credits.handle(now, input) {
            self.on_credits_output(output);
        }
        if let (Some(job), true) = (job, self.checker.is_some()) {
            self.tell_funding(job);
        }
    }

    pub(super) fn on_credits_output(&mut self, output: CreditsOutput) {
        match output {
            CreditsOutput::Publish(m) => {
                let message = Message::Credits(m);
                if let Err(e) = self.persist(&message) {
                    return warn!(error = %e, "cannot store a credits message; not published");
                }
                self.send(message, 0);
            }
            CreditsOutput::Vote(vote) => {
                let owner = vote.transfer.from;
                let message = Message::Credits(CreditMessage::TransferVote(vote));
                if let Err(e) = self.persist(&message) {
                    return warn!(error = %e, "cannot store a credits vote; not sent");
                }
                // This node's own transfer counted it already.
                if owner == self.me {
                    return;
                }
                match self.peer_of(&owner) {
                    Some(peer) => {
                        let pending = Pending::CreditVote(Box::new(vote));
                        self.send_request(&peer, Request::CreditVote(vote), pending);
                    }
                    None => self.send(message, 0),
                }
            }
            CreditsOutput::SyncJob(job) => self.sync_certificates(job),
            CreditsOutput::Reply { reply, result } => {
                if let Some(job) = self.fundings.remove(&reply) {
                    return self.escrow_funded(job, result);
                }
                if let Some(tx) = self.credit_replies.remove(&reply) {
                    let _ = tx.send(result.map_err(NodeError::Credits));
                }
            }
        }
    }

    /// A checker's vote on one of this node's transfers, sent to it directly: checked by
    /// the validator's rule for a gossiped one, then counted.
    pub(super) fn on_credit_vote(
        &mut self,
        channel: ResponseChannel<Response>,
        vote: TransferVote,
    ) {
        let set = self.ledger.lock().set().to_vec();
        let response = if self.credits.is_none() {
            Response::Error("this network has no credits".into())
        } else if vote.transfer.from != self.me {
            Response::Error("a vote on another account's transfer".into())
        } else if let Err(refusal) =
            crate::validation::check_transfer_vote(&self.params.id, &set, &vote)
        {
            Response::Error(refusal.reason)
        } else {
            self.queue.push_back(Work::Credits(CreditsInput::Message(
                CreditMessage::TransferVote(vote),
            )));
            Response::Received
        };
        if let Response::Error(reason) = &response {
            debug!(%reason, "credit vote refused");
        }
        let _ = self
            .swarm
            .behaviour_mut()
            .fetch
            .send_response(channel, response);
    }

    /// The owner's answer to a vote sent to it: one it could not be sent (the owner is not
    /// reachable from here) goes out on gossip instead, where the owner reads it too.
    pub(super) fn credit_vote_answered(
        &mut self,
        peer: libp2p::PeerId,
        vote: TransferVote,
        response: Result<Response, String>,
    ) {
        match response {
            Ok(Response::Received) => {}
            Ok(other) => debug!(%peer, ?other, "credit vote refused by its owner"),
            Err(reason) => {
                debug!(%peer, %reason, "credit vote not delivered; gossiped instead");
                self.send(Message::Credits(CreditMessage::TransferVote(vote)), 0);
            }
        }
    }

    pub(super) fn on_credits_command(&mut self, command: CreditsCommand) {
        let none = || {
            NodeError::Credits(
                "this network has no credits (its spec has no [credits] table)".into(),
            )
        };
        match command {
            CreditsCommand::Balance { account, reply } => {
                let answer = self.credits.as_ref().ok_or_else(none).map(|c| {
                    let ledger = c.ledger();
                    let account = account.unwrap_or(self.me);
                    let saturate = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
                    Balance {
                        account: account.to_string(),
                        balance: ledger.balance(&account),
                        escrowed: saturate(ledger.escrowed_by(&account)),
                        next_sequence: ledger.next_sequence(&account),
                        total_minted: ledger.total_minted(),
                        circulating: saturate(ledger.circulating()),
                        faucet: c.is_faucet(),
                        earned: if account == self.me {
                            c.earnings().map(|(job, e)| (job.to_string(), e)).collect()
                        } else {
                            Default::default()
                        },
                    }
                });
                let _ = reply.send(answer);
            }
            CreditsCommand::Pay { to, amount, reply } => {
                if self.credits.is_none() {
                    let _ = reply.send(Err(none()));
                    return;
                }
                let id = self.credit_reply(reply);
                self.queue.push_back(Work::Credits(CreditsInput::Pay {
                    to,
                    amount,
                    reply: id,
                }));
            }
            CreditsCommand::Faucet { amount, reply } => {
                if self.credits.is_none() {
                    let _ = reply.send(Err(none()));
                    return;
                }
                if amount == 0 {
                    let _ = reply.send(Err(NodeError::Credits("ask for at least 1 credit".into())));
                    return;
                }
                let id = self.credit_reply(reply);
                self.queue
                    .push_back(Work::Credits(CreditsInput::Faucet { amount, reply: id }));
            }
        }
    }

    fn credit_reply(
        &mut self,
        reply: tokio::sync::oneshot::Sender<Result<crate::roles::credits::Receipt, NodeError>>,
    ) -> u64 {
        let id = self.next_reply();
        self.credit_replies.insert(id, reply);
        id
    }

    /// A new number for an answer the credits role gives.
    pub(super) fn next_reply(&mut self) -> u64 {
        self.next_credit_reply += 1;
        self.next_credit_reply
    }
}
