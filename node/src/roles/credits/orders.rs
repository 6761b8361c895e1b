//! This node's own orders: its account's payments, one at a time in sequence order, and,
//! on the faucet's node, its mints; each gossiped, its votes gathered, then certified.

use pictor_protocol::credits::{
    CreditMessage, Mint, MintCertificate, Transfer, TransferCertificate,
};
use tracing::debug;

use super::{in_flight, refused, Credits, CreditsOutput};

impl Credits {
    /// Starts the next queued payment when none is in flight.
    pub(super) fn next_payment(&mut self, now_ms: u64, out: &mut Vec<CreditsOutput>) {
        // An order settled by a certificate this node had applied already (restored).
        let next = self.ledger.next_sequence(&self.me);
        if self
            .transfer
            .as_ref()
            .is_some_and(|t| t.order.transfer.sequence < next)
        {
            self.transfer = None;
        }
        while self.transfer.is_none() {
            let Some((to, amount, reply)) = self.payments.pop_front() else {
                return;
            };
            let transfer = Transfer {
                from: self.me,
                to,
                amount,
                sequence: self.ledger.next_sequence(&self.me),
            };
            let balance = self.ledger.balance(&self.me);
            if let Err(e) = transfer.check() {
                out.extend(reply.map(|r| refused(r, e.to_string())));
                continue;
            }
            if balance < amount {
                let why =
                    format!("insufficient balance: {balance} credits, the payment is {amount}");
                out.extend(reply.map(|r| refused(r, why)));
                continue;
            }
            let signed = transfer.sign(&self.keypair, self.ledger.network());
            self.transfer = Some(in_flight(signed, now_ms, reply));
            out.push(CreditsOutput::Publish(CreditMessage::Transfer(signed)));
            // A checker's own vote never comes back over gossip.
            self.on_message(now_ms, CreditMessage::Transfer(signed), out);
        }
    }

    /// On the faucet's node: mints for the next request when no mint is in flight.
    pub(super) fn next_mint(&mut self, now_ms: u64, out: &mut Vec<CreditsOutput>) {
        while self.mint.is_none() {
            let Some(faucet) = self.faucet.clone() else {
                return;
            };
            let Some((to, asked, request_ms)) = self.requests.pop_front() else {
                return;
            };
            // A request answered already (relayed again, or replayed): never minted twice.
            if !self.ledger.is_new_request(&to, request_ms) {
                debug!(account = %to.short(), "faucet request answered already");
                continue;
            }
            let limits = self.ledger.limits();
            let amount = asked
                .min(limits.per_request)
                .min(self.ledger.faucet_allowance(&to, now_ms));
            if amount == 0 {
                debug!(account = %to.short(), "faucet request over the account's limit");
                continue;
            }
            let mint = Mint {
                to,
                amount,
                sequence: self.ledger.faucet_sequence(),
                issued_ms: now_ms,
                request_ms,
            };
            let signed = mint.sign(&faucet, self.ledger.network());
            self.mint = Some(in_flight(signed, now_ms, None));
            out.push(CreditsOutput::Publish(CreditMessage::Mint(signed)));
            self.on_message(now_ms, CreditMessage::Mint(signed), out);
        }
    }

    pub(super) fn try_certify_transfer(&mut self, out: &mut Vec<CreditsOutput>) {
        let Some(t) = &self.transfer else { return };
        let network = self.ledger.network().to_owned();
        if let Ok(cert) =
            TransferCertificate::assemble(&network, t.order, &self.set, t.votes.values())
        {
            let cert = CreditMessage::TransferCertificate(cert);
            out.push(CreditsOutput::Publish(cert.clone()));
            self.apply(cert, out);
        }
    }

    pub(super) fn try_certify_mint(&mut self, out: &mut Vec<CreditsOutput>) {
        let Some(m) = &self.mint else { return };
        let network = self.ledger.network().to_owned();
        if let Ok(cert) = MintCertificate::assemble(&network, m.order, &self.set, m.votes.values())
        {
            let cert = CreditMessage::MintCertificate(cert);
            out.push(CreditsOutput::Publish(cert.clone()));
            self.apply(cert, out);
        }
    }
}
