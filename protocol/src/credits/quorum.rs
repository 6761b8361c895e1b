//! Checkers' votes on credits orders and the certificates that more than two thirds of
//! the certifying set make of them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::order::{EscrowOrder, Mint, SignedMint, SignedTransfer, Transfer};
use super::{
    signing_body, CreditError, CREDITS_KIND, ESCROW_VOTE_TAG, MINT_VOTE_TAG, TRANSFER_VOTE_TAG,
};
use crate::identity::{Keypair, PublicKey, Signature};
use crate::rules;

/// A checker's vote for a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferVote {
    /// What it votes for.
    pub transfer: Transfer,
    /// The voter.
    pub checker: PublicKey,
    /// Its signature (tag `transfer-vote`).
    pub signature: Signature,
}

/// A checker's vote for a mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintVote {
    /// What it votes for.
    pub mint: Mint,
    /// The voter.
    pub checker: PublicKey,
    /// Its signature (tag `mint-vote`).
    pub signature: Signature,
}

/// A committee member's vote for an escrow order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscrowVote {
    /// What it votes for.
    pub order: EscrowOrder,
    /// The voter.
    pub checker: PublicKey,
    /// Its signature (tag `escrow-vote`).
    pub signature: Signature,
}

fn transfer_vote_body(transfer: &Transfer) -> Vec<u8> {
    signing_body(TRANSFER_VOTE_TAG, transfer)
}

fn mint_vote_body(mint: &Mint) -> Vec<u8> {
    signing_body(MINT_VOTE_TAG, mint)
}

fn escrow_vote_body(order: &EscrowOrder) -> Vec<u8> {
    signing_body(ESCROW_VOTE_TAG, order)
}

fn verify_one(
    network: &str,
    body: &[u8],
    signer: &PublicKey,
    signature: &Signature,
) -> Result<(), CreditError> {
    signer
        .verify(CREDITS_KIND, network, body, signature)
        .map_err(|error| CreditError::BadSignature {
            signer: *signer,
            error,
        })
}

impl TransferVote {
    /// `keypair`'s vote for `transfer` (see [`CreditLedger::vote_transfer`](super::CreditLedger::vote_transfer)
    /// for when a checker casts one).
    pub fn new(keypair: &Keypair, network: &str, transfer: Transfer) -> TransferVote {
        TransferVote {
            transfer,
            checker: keypair.public(),
            signature: keypair.sign(CREDITS_KIND, network, &transfer_vote_body(&transfer)),
        }
    }

    /// Checks the signature.
    pub fn verify(&self, network: &str) -> Result<(), CreditError> {
        verify_one(
            network,
            &transfer_vote_body(&self.transfer),
            &self.checker,
            &self.signature,
        )
    }
}

impl MintVote {
    /// `keypair`'s vote for `mint`.
    pub fn new(keypair: &Keypair, network: &str, mint: Mint) -> MintVote {
        MintVote {
            mint,
            checker: keypair.public(),
            signature: keypair.sign(CREDITS_KIND, network, &mint_vote_body(&mint)),
        }
    }

    /// Checks the signature.
    pub fn verify(&self, network: &str) -> Result<(), CreditError> {
        verify_one(
            network,
            &mint_vote_body(&self.mint),
            &self.checker,
            &self.signature,
        )
    }
}

impl EscrowVote {
    /// `keypair`'s vote for `order`.
    pub fn new(keypair: &Keypair, network: &str, order: EscrowOrder) -> EscrowVote {
        let signature = keypair.sign(CREDITS_KIND, network, &escrow_vote_body(&order));
        EscrowVote {
            order,
            checker: keypair.public(),
            signature,
        }
    }

    /// Checks the signature.
    pub fn verify(&self, network: &str) -> Result<(), CreditError> {
        verify_one(
            network,
            &escrow_vote_body(&self.order),
            &self.checker,
            &self.signature,
        )
    }
}

/// Verifies `(signer, signature)` pairs over `body` against `set` (duplicates in `set`
/// count once): sorted, unique signers, every one a member, every signature valid, and at
/// least [`rules::quorum_threshold`] of the set among them. Cheap checks come first.
fn verify_quorum(
    network: &str,
    body: &[u8],
    signatures: &[(PublicKey, Signature)],
    set: &[PublicKey],
) -> Result<(), CreditError> {
    let members: BTreeSet<&PublicKey> = set.iter().collect();
    if signatures.len() > members.len() {
        return Err(CreditError::NoQuorum {
            got: signatures.len(),
            needed: rules::quorum_threshold(members.len()),
            set: members.len(),
        });
    }
    rules::check_signers(signatures.iter().map(|(s, _)| s), &members)?;
    for (signer, signature) in signatures {
        verify_one(network, body, signer, signature)?;
    }
    Ok(())
}

/// The valid votes of members of `set` among `votes` (pairs of voter and signature over
/// `body`), sorted by voter, one each; an error unless they are a quorum.
fn gather<'a>(
    network: &str,
    body: &[u8],
    set: &[PublicKey],
    votes: impl Iterator<Item = (&'a PublicKey, &'a Signature)>,
) -> Result<Vec<(PublicKey, Signature)>, CreditError> {
    let members: BTreeSet<&PublicKey> = set.iter().collect();
    let mut valid: BTreeMap<PublicKey, Signature> = BTreeMap::new();
    for (checker, signature) in votes {
        if members.contains(checker)
            && !valid.contains_key(checker)
            && verify_one(network, body, checker, signature).is_ok()
        {
            valid.insert(*checker, *signature);
        }
    }
    let needed = rules::quorum_threshold(members.len());
    if valid.len() < needed {
        return Err(CreditError::NoQuorum {
            got: valid.len(),
            needed,
            set: members.len(),
        });
    }
    Ok(valid.into_iter().collect())
}

/// A signed transfer with the votes of more than two thirds of the checker set: final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferCertificate {
    /// The transfer, with its owner's signature.
    pub transfer: SignedTransfer,
    /// `(checker, vote signature)`, sorted by checker, unique.
    pub signatures: Vec<(PublicKey, Signature)>,
}

impl TransferCertificate {
    /// The certificate that the valid votes for `transfer` by members of `checkers` among
    /// `votes` make (others are left out); [`CreditError::NoQuorum`] when they are too few.
    pub fn assemble<'a>(
        network: &str,
        transfer: SignedTransfer,
        checkers: &[PublicKey],
        votes: impl IntoIterator<Item = &'a TransferVote>,
    ) -> Result<TransferCertificate, CreditError> {
        let body = transfer_vote_body(&transfer.transfer);
        let votes = votes
            .into_iter()
            .filter(|v| v.transfer == transfer.transfer)
            .map(|v| (&v.checker, &v.signature));
        Ok(TransferCertificate {
            transfer,
            signatures: gather(network, &body, checkers, votes)?,
        })
    }

    /// Verifies the transfer (on its own, and its owner's signature) and the votes against
    /// the checker set.
    pub fn verify(&self, network: &str, checkers: &[PublicKey]) -> Result<(), CreditError> {
        self.transfer.transfer.check()?;
        let body = transfer_vote_body(&self.transfer.transfer);
        verify_quorum(network, &body, &self.signatures, checkers)?;
        self.transfer.verify(network)
    }
}

/// A faucet mint with the votes of more than two thirds of the checker set: final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintCertificate {
    /// The mint, with the faucet's signature.
    pub mint: SignedMint,
    /// `(checker, vote signature)`, sorted by checker, unique.
    pub signatures: Vec<(PublicKey, Signature)>,
}

impl MintCertificate {
    /// The certificate that the valid votes for `mint` by members of `checkers` among
    /// `votes` make; [`CreditError::NoQuorum`] when they are too few.
    pub fn assemble<'a>(
        network: &str,
        mint: SignedMint,
        checkers: &[PublicKey],
        votes: impl IntoIterator<Item = &'a MintVote>,
    ) -> Result<MintCertificate, CreditError> {
        let body = mint_vote_body(&mint.mint);
        let votes = votes
            .into_iter()
            .filter(|v| v.mint == mint.mint)
            .map(|v| (&v.checker, &v.signature));
        Ok(MintCertificate {
            mint,
            signatures: gather(network, &body, checkers, votes)?,
        })
    }

    /// Verifies the votes against the checker set and the faucet's signature.
    pub fn verify(
        &self,
        network: &str,
        faucet: &PublicKey,
        checkers: &[PublicKey],
    ) -> Result<(), CreditError> {
        if self.mint.mint.amount == 0 {
            return Err(CreditError::ZeroAmount);
        }
        let body = mint_vote_body(&self.mint.mint);
        verify_quorum(network, &body, &self.signatures, checkers)?;
        self.mint.verify(network, faucet)
    }
}

/// An escrow order with the votes of more than two thirds of the job's committee: final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscrowCertificate {
    /// The order.
    pub order: EscrowOrder,
    /// `(member, vote signature)`, sorted by member, unique.
    pub signatures: Vec<(PublicKey, Signature)>,
}

impl EscrowCertificate {
    /// The certificate that the valid votes for `order` by members of its committee among
    /// `votes` make; [`CreditError::NoQuorum`] when they are too few.
    pub fn assemble<'a>(
        network: &str,
        order: EscrowOrder,
        votes: impl IntoIterator<Item = &'a EscrowVote>,
    ) -> Result<EscrowCertificate, CreditError> {
        order.check()?;
        let body = escrow_vote_body(&order);
        let votes = votes
            .into_iter()
            .filter(|v| v.order == order)
            .map(|v| (&v.checker, &v.signature));
        let signatures = gather(network, &body, &order.committee, votes)?;
        Ok(EscrowCertificate { order, signatures })
    }

    /// Verifies the order on its own, that it names `committee` (the committee that holds
    /// the job, by the caller's governance ledger), and the votes of more than two thirds
    /// of it.
    pub fn verify(&self, network: &str, committee: &[PublicKey]) -> Result<(), CreditError> {
        self.order.check()?;
        self.order.check_committee(committee)?;
        let body = escrow_vote_body(&self.order);
        verify_quorum(network, &body, &self.signatures, &self.order.committee)
    }
}
