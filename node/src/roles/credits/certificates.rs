//! Certificates taken in: a transfer's or a mint's verified against the checker set, or
//! an earlier one; applied now, or held until what they need has been applied; an order of
//! this node's they settle answered.

use pictor_protocol::{
    credits::{AppliedEscrow, AppliedMint, AppliedTransfer, CreditError, CreditMessage},
    PublicKey,
};
use tracing::{debug, info};

use super::{answer, Credits, CreditsOutput, MAX_HELD};

/// What trying a certificate did.
enum Outcome {
    /// Applied: credits moved.
    Moved,
    /// A replay, or refused for good.
    Nothing,
    /// Not yet: it needs certificates this node has not applied (held until then).
    NotYet,
}

impl Credits {
    /// The set whose quorum signed a certificate (`verifies`), the current set first; the
    /// current set when none does (its error is the one reported).
    fn signers(&self, verifies: impl Fn(&[PublicKey]) -> bool) -> Vec<PublicKey> {
        std::iter::once(&self.set)
            .chain(self.sets.iter())
            .find(|s| verifies(s))
            .unwrap_or(&self.set)
            .clone()
    }

    /// A certificate, applied now or held until what it needs has been applied.
    pub(super) fn apply(&mut self, cert: CreditMessage, out: &mut Vec<CreditsOutput>) {
        match self.try_apply(&cert, out) {
            Outcome::Moved => {
                // Something moved: the held certificates may apply now.
                let mut progress = true;
                while progress {
                    progress = false;
                    for held in std::mem::take(&mut self.held) {
                        match self.try_apply(&held, out) {
                            Outcome::Moved => progress = true,
                            Outcome::Nothing => {}
                            Outcome::NotYet => self.held.push(held),
                        }
                    }
                }
            }
            Outcome::Nothing => {}
            Outcome::NotYet => {
                if self.held.len() < MAX_HELD && !self.held.contains(&cert) {
                    self.held.push(cert);
                }
            }
        }
    }

    fn try_apply(&mut self, cert: &CreditMessage, out: &mut Vec<CreditsOutput>) -> Outcome {
        let result = match cert {
            CreditMessage::TransferCertificate(c) => {
                let network = self.ledger.network().to_owned();
                let set = self.signers(|s| c.verify(&network, s).is_ok());
                self.ledger
                    .apply_transfer(c, &set)
                    .map(|a| a != AppliedTransfer::Replay)
            }
            CreditMessage::MintCertificate(c) => {
                let (network, faucet) = (self.ledger.network().to_owned(), self.ledger.faucet());
                let set = self.signers(|s| c.verify(&network, &faucet, s).is_ok());
                self.ledger
                    .apply_mint(c, &set)
                    .map(|a| a != AppliedMint::Replay)
            }
            // The validator checked that the order names a committee the job has had.
            CreditMessage::EscrowCertificate(c) => {
                match self.ledger.apply_escrow(c, &c.order.committee) {
                    Ok(AppliedEscrow::Replay) => Ok(false),
                    Ok(applied) => {
                        self.escrow_settled(c, &applied);
                        Ok(true)
                    }
                    Err(e) => Err(e),
                }
            }
            _ => return Outcome::Nothing,
        };
        match result {
            Ok(true) => {
                self.settled(cert, out);
                Outcome::Moved
            }
            Ok(false) => Outcome::Nothing,
            Err(
                CreditError::SequenceAhead { .. }
                | CreditError::InsufficientBalance { .. }
                | CreditError::UnknownEscrow { .. }
                | CreditError::BudgetExhausted { .. },
            ) => Outcome::NotYet,
            Err(e) => {
                debug!(error = %e, "credits certificate refused");
                Outcome::Nothing
            }
        }
    }

    /// A certificate applied: the order of this node it settles is answered.
    fn settled(&mut self, cert: &CreditMessage, out: &mut Vec<CreditsOutput>) {
        let balance = self.ledger.balance(&self.me);
        match cert {
            CreditMessage::TransferCertificate(c) => {
                let t = c.transfer.transfer;
                if self
                    .transfer
                    .as_ref()
                    .is_some_and(|f| f.order.transfer == t)
                {
                    let done = self.transfer.take();
                    info!(
                        amount = t.amount,
                        sequence = t.sequence,
                        "payment certified"
                    );
                    if let Some(reply) = done.and_then(|d| d.reply) {
                        out.push(answer(reply, t.amount, t.sequence, balance));
                    }
                }
            }
            CreditMessage::MintCertificate(c) => {
                let m = c.mint.mint;
                if self.mint.as_ref().is_some_and(|f| f.order.mint == m) {
                    self.mint = None;
                    info!(to = %m.to.short(), amount = m.amount, "faucet mint certified");
                }
                if m.to == self.me {
                    // The oldest request of this node is answered by the first mint to it.
                    if !self.asked.is_empty() {
                        let (reply, _, _) = self.asked.remove(0);
                        out.push(answer(reply, m.amount, m.sequence, balance));
                    }
                }
            }
            _ => {}
        }
    }
}
