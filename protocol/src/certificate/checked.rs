//! Vote signatures a node has already checked, so that a certificate made of votes the
//! node verified one by one (as attestations) costs one signature check, not a quorum's.
//!
//! Signature verification is deterministic: the same key, message and signature always get the
//! same verdict, so skipping a triple that passed before changes no verdict. An entry
//! binds all three (a digest of network, signer, signature and the vote's signing bytes).

use std::collections::{HashSet, VecDeque};

use crate::attestation::Vote;
use crate::identity::{PublicKey, Signature};

/// A bounded set of vote signatures that passed verification; the oldest entry leaves
/// first when it is full.
#[derive(Debug, Clone)]
pub struct CheckedVotes {
    capacity: usize,
    order: VecDeque<[u8; 32]>,
    set: HashSet<[u8; 32]>,
}

impl CheckedVotes {
    /// A set that remembers at most `capacity` signatures (32 bytes each, twice).
    pub fn new(capacity: usize) -> CheckedVotes {
        CheckedVotes {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    fn entry(network: &str, vote: &[u8], signer: &PublicKey, signature: &Signature) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key("pictor checked vote signature v1");
        h.update(&(network.len() as u64).to_le_bytes());
        h.update(network.as_bytes());
        h.update(signer.as_bytes());
        h.update(signature.as_bytes());
        h.update(vote);
        *h.finalize().as_bytes()
    }

    /// Records that `signature` by `signer` on `vote` passed verification on `network`.
    /// Call only after it did.
    pub fn insert(
        &mut self,
        network: &str,
        vote: &Vote,
        signer: &PublicKey,
        signature: &Signature,
    ) {
        self.insert_signed(network, &vote.signing_bytes(), signer, signature);
    }

    /// Whether this exact signature passed verification before.
    pub fn contains(
        &self,
        network: &str,
        vote: &Vote,
        signer: &PublicKey,
        signature: &Signature,
    ) -> bool {
        self.contains_signed(network, &vote.signing_bytes(), signer, signature)
    }

    /// [`CheckedVotes::insert`] for a vote already encoded ([`Vote::signing_bytes`]).
    pub(crate) fn insert_signed(
        &mut self,
        network: &str,
        vote: &[u8],
        signer: &PublicKey,
        signature: &Signature,
    ) {
        if self.capacity == 0 {
            return;
        }
        let entry = CheckedVotes::entry(network, vote, signer, signature);
        if !self.set.insert(entry) {
            return;
        }
        self.order.push_back(entry);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    /// [`CheckedVotes::contains`] for a vote already encoded.
    pub(crate) fn contains_signed(
        &self,
        network: &str,
        vote: &[u8],
        signer: &PublicKey,
        signature: &Signature,
    ) -> bool {
        !self.set.is_empty()
            && self
                .set
                .contains(&CheckedVotes::entry(network, vote, signer, signature))
    }

    /// Signatures remembered.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}
