//! Point-to-point requests and responses (request-response protocol, CBOR).

use serde::{Deserialize, Serialize};

use crate::certificate::{Evidence, QuorumCertificate};
use crate::codec::{self, CodecError, MAX_GOSSIP_SIZE, MAX_RESPONSE_SIZE};
use crate::content::ContentId;
use crate::job::JobId;
use crate::proof::RowsProof;

/// A direct request to a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Request {
    /// A whole block by content id.
    GetBlock {
        /// The block.
        id: ContentId,
    },
    /// Some rows of a tile block with bao proofs.
    GetRows {
        /// The tile block.
        output: ContentId,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The rows (at most [`crate::proof::MAX_PROOF_ROWS`]).
        rows: Vec<u32>,
    },
    /// The quorum certificates a peer holds for one job (a creator catching up after it
    /// was offline).
    GetCertificates {
        /// The job.
        job: JobId,
    },
    /// The decision certificates of the checker set a peer holds (a node that starts
    /// late learns which checkers were admitted and banned).
    GetDecisions,
    /// The equivocation evidence a peer holds (a node that starts late learns which
    /// checkers were banned by their own conflicting votes, which is gossiped only once).
    GetEvidence,
    /// A job's spec, by id (a worker assigned a shard of a job it joined too late to hear
    /// of). The answer is checked against the id: a job's id is the hash of its spec.
    GetJob {
        /// The job.
        job: JobId,
    },
    /// Render this window of the benchmark scene now and answer with the blake3 of its
    /// pixels (a checker's challenge to a worker whose ban ended).
    Render {
        /// The window.
        render: crate::governance::AdmissionRender,
    },
    /// A checker's vote on a transfer of the account this peer's node owns: the owner
    /// gathers its votes itself (as in FastPay), so they do not cross the whole network.
    CreditVote(crate::credits::TransferVote),
    /// The credits certificates a peer holds (transfers, mints, escrow orders), from the
    /// `skip`-th on in [`credits_page`]'s order: a node that starts late, or comes back,
    /// rebuilds the ledger from them, verifying each, and asks for the next page while the
    /// answer says there is `more`.
    GetCredits {
        /// Certificates already received from this peer in this pass.
        skip: u32,
    },
}

/// The most certificates in one answer; a job with more shards is asked again later.
pub const MAX_CERTIFICATES_PER_RESPONSE: usize = 4096;
/// The most decision certificates in one answer.
pub const MAX_DECISIONS_PER_RESPONSE: usize = 1024;
/// The most credits certificates in one answer.
pub const MAX_CREDITS_PER_RESPONSE: usize = 2048;
/// The most pieces of equivocation evidence in one answer (each about 400 bytes, and
/// checked with two signatures on the receiver's event loop).
pub const MAX_EVIDENCE_PER_RESPONSE: usize = 256;

/// The first of `items` that fit in one list answer: at most `max` of them, and together
/// at most half of [`MAX_RESPONSE_SIZE`] encoded (the rest of the answer is framing).
pub fn bounded_answer<T: Serialize>(mut items: Vec<T>, max: usize) -> Vec<T> {
    items.truncate(max);
    let mut bytes = 0usize;
    items.retain(|item| {
        bytes = bytes.saturating_add(codec::encode(item).len());
        bytes <= MAX_RESPONSE_SIZE / 2
    });
    items
}

/// The page of `certificates` (credits certificates a node holds) that starts at the
/// `skip`-th, in the order they apply: mints by the faucet's sequence, then transfers by
/// account and sequence, then escrow orders by escrow and sequence (a job's budget reaches
/// its escrow before the escrow pays). At most [`MAX_CREDITS_PER_RESPONSE`] of them and
/// half an answer's size; `true` if more follow.
pub fn credits_page(
    mut certificates: Vec<crate::credits::CreditMessage>,
    skip: usize,
) -> (Vec<crate::credits::CreditMessage>, bool) {
    use crate::credits::CreditMessage as C;
    certificates.retain(|m| {
        matches!(
            m,
            C::MintCertificate(_) | C::TransferCertificate(_) | C::EscrowCertificate(_)
        )
    });
    let key = |m: &C| match m {
        C::MintCertificate(c) => (0, Vec::new(), c.mint.mint.sequence),
        C::TransferCertificate(c) => (
            1,
            c.transfer.transfer.from.as_bytes().to_vec(),
            c.transfer.transfer.sequence,
        ),
        C::EscrowCertificate(c) => (2, codec::encode(&c.order.escrow), c.order.sequence),
        _ => (3, Vec::new(), 0),
    };
    certificates.sort_by_cached_key(key);
    let total = certificates.len();
    let page = bounded_answer(
        certificates.into_iter().skip(skip).collect(),
        MAX_CREDITS_PER_RESPONSE,
    );
    let more = skip.saturating_add(page.len()) < total;
    (page, more)
}

/// A peer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The block's bytes (check them against the id).
    Block(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The proven rows.
    Rows(RowsProof),
    /// Certificates of the job asked for (each to be checked against its committee).
    Certificates(Vec<QuorumCertificate>),
    /// Decision certificates (each to be verified, in [`crate::Action::apply_order`]).
    Decisions(Vec<crate::governance::DecisionCertificate>),
    /// Equivocation evidence (each piece to be verified like gossiped evidence).
    Evidence(Vec<Evidence>),
    /// A page of credits certificates (each to be verified like a gossiped one), and
    /// whether the peer holds more after it.
    Credits {
        /// The certificates.
        certificates: Vec<crate::credits::CreditMessage>,
        /// More follow: ask again, skipping those received so far.
        more: bool,
    },
    /// The spec of the job asked for.
    Job(crate::job::JobSpec),
    /// The blake3 of a rendered window's pixels (32 bytes).
    Digest(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Taken in (a credit vote).
    Received,
    /// The peer does not hold it.
    NotFound,
    /// The peer failed; a short reason.
    Error(String),
}

impl Request {
    /// Canonical CBOR.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Strict decode, at most [`MAX_GOSSIP_SIZE`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Request, CodecError> {
        codec::decode(bytes, MAX_GOSSIP_SIZE)
    }
}

impl Response {
    /// Canonical CBOR.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Strict decode, at most [`MAX_RESPONSE_SIZE`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Response, CodecError> {
        codec::decode(bytes, MAX_RESPONSE_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let reqs = [
            Request::GetBlock {
                id: ContentId::of(b"a"),
            },
            Request::GetRows {
                output: ContentId::of(b"b"),
                width: 64,
                height: 64,
                rows: vec![1, 9],
            },
        ];
        for r in reqs {
            assert_eq!(Request::from_bytes(&r.to_bytes()), Ok(r));
        }
        let resps = [
            Response::Block(vec![1, 2, 3]),
            Response::Rows(RowsProof {
                header: vec![1],
                rows: vec![],
            }),
            Response::NotFound,
            Response::Error("busy".into()),
        ];
        for r in resps {
            assert_eq!(Response::from_bytes(&r.to_bytes()), Ok(r));
        }
    }

    #[test]
    fn size_bounds() {
        let big = Response::Block(vec![0; MAX_RESPONSE_SIZE]);
        assert!(matches!(
            Response::from_bytes(&big.to_bytes()),
            Err(CodecError::TooLarge { .. })
        ));
        let ok = Response::Block(vec![0; MAX_GOSSIP_SIZE * 2]);
        assert!(Response::from_bytes(&ok.to_bytes()).is_ok());
        let req = Request::GetRows {
            output: ContentId::of(b"b"),
            width: 1,
            height: 1,
            rows: vec![u32::MAX; 20_000],
        };
        assert!(Request::from_bytes(&req.to_bytes()).is_err());
    }

    #[test]
    fn a_list_answer_holds_at_most_its_count_and_half_a_response() {
        let many: Vec<u32> = (0..1000).collect();
        assert_eq!(bounded_answer(many, 300), (0..300).collect::<Vec<u32>>());
        // Items of 1 MiB: three fit in half of 8 MiB (with their CBOR headers), not four.
        let big = vec![serde_bytes::ByteBuf::from(vec![7u8; 1 << 20]); 10];
        let kept = bounded_answer(big, MAX_EVIDENCE_PER_RESPONSE);
        assert_eq!(kept.len(), 3);
        let answer = codec::encode(&kept);
        assert!(answer.len() <= MAX_RESPONSE_SIZE / 2);
        assert!(Response::from_bytes(&Response::Evidence(Vec::new()).to_bytes()).is_ok());
    }
}
