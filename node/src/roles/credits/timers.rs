//! The credits role across time: what this node stored before it restarted (its votes'
//! locks, its orders in flight) and its timers (orders sent again, callers answered).

use pictor_protocol::credits::{CreditMessage, Payee};
use tracing::debug;

use super::{in_flight, Credits, CreditsOutput, ANSWER_MS, RESEND_MS};

impl Credits {
    pub(super) fn on_restored(&mut self, now_ms: u64, m: CreditMessage) {
        match m {
            CreditMessage::TransferVote(v) => {
                if let Err(e) = self.ledger.relock_transfer(&v) {
                    debug!(error = %e, "stored vote not relocked");
                }
            }
            CreditMessage::MintVote(v) => {
                if let Err(e) = self.ledger.relock_mint(&v) {
                    debug!(error = %e, "stored vote not relocked");
                }
            }
            CreditMessage::EscrowVote(v) if v.checker == self.me => {
                self.restore_escrow_vote(now_ms, v)
            }
            // An order of this node's that was not certified before it stopped: it is
            // finished first (checkers hold their votes for it at its sequence).
            CreditMessage::Transfer(signed) => {
                let t = signed.transfer;
                if t.from == self.me && t.sequence >= self.ledger.next_sequence(&self.me) {
                    self.transfer = Some(in_flight(signed, now_ms, None));
                }
            }
            CreditMessage::Mint(signed)
                if self.faucet.is_some()
                    && signed.mint.sequence >= self.ledger.faucet_sequence() =>
            {
                self.mint = Some(in_flight(signed, now_ms, None));
            }
            _ => {}
        }
    }

    pub(super) fn on_tick(&mut self, now_ms: u64, out: &mut Vec<CreditsOutput>) {
        if let Some(t) = &mut self.transfer {
            // A job's budget waits for its certificate however long it takes: the job is
            // published once it is escrowed, so that credits never sit in the escrow of a
            // job nobody knows.
            let funding = matches!(t.order.transfer.to, Payee::Escrow(_));
            if let (Some(reply), false) = (t.reply, funding) {
                if now_ms >= t.started_ms + ANSWER_MS {
                    t.reply = None;
                    out.push(CreditsOutput::Reply {
                        reply,
                        result: Err(format!(
                            "the payment has {} of the {} checkers' votes it needs after {} s; \
                             it is sent again until it is certified",
                            t.votes.len(),
                            pictor_protocol::rules::quorum_threshold(self.set.len()),
                            ANSWER_MS / 1000
                        )),
                    });
                }
            }
            if now_ms >= t.sent_ms + RESEND_MS {
                t.sent_ms = now_ms;
                out.push(CreditsOutput::Publish(CreditMessage::Transfer(t.order)));
            }
        }
        if let Some(m) = &mut self.mint {
            if now_ms >= m.sent_ms + RESEND_MS {
                m.sent_ms = now_ms;
                out.push(CreditsOutput::Publish(CreditMessage::Mint(m.order)));
            }
        }
        self.resend_proposals(now_ms, out);
        self.retry_waiting(now_ms, out);
        self.sync_missing(now_ms, out);
        let (late, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.asked)
            .into_iter()
            .partition(|(_, _, at)| now_ms >= at + ANSWER_MS);
        self.asked = waiting;
        for (reply, _, _) in late {
            out.push(CreditsOutput::Reply {
                reply,
                result: Err(format!(
                    "the faucet did not answer in {} s (is the node that holds the faucet's \
                     key up, and has this account asked for more than its limit?)",
                    ANSWER_MS / 1000
                )),
            });
        }
    }
}
