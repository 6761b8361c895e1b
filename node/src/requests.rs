//! Point-to-point requests: what each outbound request was for, the checks on its answer,
//! and the answers to inbound requests from the block store. No I/O of its own but reads
//! of the store; the loop sends and receives.

use std::collections::HashMap;

use libp2p::{request_response::OutboundRequestId, PeerId};
use pictor_protocol::{
    proof, wire, ClaimId, ContentId, Engine, Request, Response, MAX_RESPONSE_SIZE,
};
use pictor_storage::Store;

/// Outbound requests in flight at once; past it a new request fails at once.
pub(crate) const MAX_IN_FLIGHT: usize = 4096;

/// What an outstanding request was for.
#[derive(Debug)]
pub(crate) enum Pending {
    /// A scene block, and the peers left to ask after this one; `look_up`: if this peer
    /// (the job's creator) cannot be reached, find its addresses in the DHT and ask again.
    Scene {
        id: ContentId,
        engine: Engine,
        others: Vec<PeerId>,
        look_up: bool,
    },
    /// The certificates of one of this node's jobs (catching up).
    Certificates { job: pictor_protocol::JobId },
    /// A peer's decision certificates (this node catching up on the checker set).
    Decisions,
    /// A peer's equivocation evidence (asked after its decisions).
    Evidence,
    /// A peer's credits certificates (asked after its evidence, on a network with credits).
    Credits {
        /// The certificates skipped (received before, in this pass).
        skip: u32,
    },
    /// The spec of a job this worker holds assignments of.
    Job { job: pictor_protocol::JobId },
    /// A returning worker's answer to its challenge render.
    Challenge { worker: pictor_protocol::PublicKey },
    /// A credit vote sent to the owner of the transfer it is on (gossiped instead if the
    /// owner cannot be reached).
    CreditVote(Box<pictor_protocol::credits::TransferVote>),
    /// The sampled rows of a claim's output, with proofs.
    Rows {
        claim: ClaimId,
        output: ContentId,
        width: u32,
        height: u32,
        rows: Vec<u32>,
    },
}

/// The requests this node has sent and not yet had answered.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    pending: HashMap<OutboundRequestId, Pending>,
}

impl Requests {
    /// Whether another request may be sent.
    pub(crate) fn has_room(&self) -> bool {
        self.pending.len() < MAX_IN_FLIGHT
    }

    /// Requests sent and not yet answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Records a request sent.
    pub(crate) fn sent(&mut self, id: OutboundRequestId, pending: Pending) {
        self.pending.insert(id, pending);
    }

    /// What an answered (or failed) request was for.
    pub(crate) fn answered(&mut self, id: &OutboundRequestId) -> Option<Pending> {
        self.pending.remove(id)
    }
}

/// The answer to an inbound request, from the block store.
pub(crate) fn answer(store: &Store, request: Request) -> Response {
    match request {
        Request::GetBlock { id } => match store.get_block(&id) {
            Ok(Some(bytes)) if bytes.len() + 64 <= MAX_RESPONSE_SIZE => Response::Block(bytes),
            Ok(Some(_)) => Response::Error(format!("block {id} is too large for one response")),
            Ok(None) => Response::NotFound,
            Err(e) => Response::Error(e.to_string()),
        },
        Request::GetRows {
            output,
            width,
            height: _,
            rows,
        } => match store.tile_block(&output) {
            // The outboard was stored with the output (an output stored before outboards
            // were kept gets it here, once).
            Ok(Some(tile)) => {
                match proof::prove_rows_with(&tile.bytes, &tile.outboard, width, &rows) {
                    Ok(p) => Response::Rows(p),
                    Err(e) => Response::Error(e.to_string()),
                }
            }
            Ok(None) => Response::NotFound,
            Err(e) => Response::Error(e.to_string()),
        },
        Request::GetCertificates { job } => match store.certificates(&job) {
            Ok(mut qcs) => {
                qcs.truncate(pictor_protocol::wire::MAX_CERTIFICATES_PER_RESPONSE);
                Response::Certificates(qcs)
            }
            Err(e) => Response::Error(e.to_string()),
        },
        Request::GetDecisions => match store.decisions() {
            Ok(mut decisions) => {
                // Admissions first, in epoch order: the ones a late node needs first.
                decisions.sort_by_key(|d| d.action.apply_order());
                Response::Decisions(wire::bounded_answer(
                    decisions,
                    wire::MAX_DECISIONS_PER_RESPONSE,
                ))
            }
            Err(e) => Response::Error(e.to_string()),
        },
        Request::GetCredits { skip } => match store.credits() {
            Ok(all) => {
                let (certificates, more) = wire::credits_page(all, skip as usize);
                Response::Credits { certificates, more }
            }
            Err(e) => Response::Error(e.to_string()),
        },
        Request::GetEvidence => match store.evidence() {
            Ok(evidence) => Response::Evidence(wire::bounded_answer(
                evidence,
                wire::MAX_EVIDENCE_PER_RESPONSE,
            )),
            Err(e) => Response::Error(e.to_string()),
        },
        Request::GetJob { job } => match store.job(&job) {
            Ok(Some(spec)) => Response::Job(spec),
            Ok(None) => Response::NotFound,
            Err(e) => Response::Error(e.to_string()),
        },
        // Rendered off the loop (`EventLoop::answer_render`), never from the store.
        Request::Render { .. } | Request::CreditVote(_) => {
            Response::Error("not answered here".into())
        }
    }
}

/// The bytes of a block answer, checked against the id that was asked for.
pub(crate) fn checked_block(
    id: &ContentId,
    response: Result<Response, String>,
) -> Result<Vec<u8>, String> {
    match response? {
        Response::Block(bytes) => {
            id.verify(&bytes).map_err(|e| e.to_string())?;
            Ok(bytes)
        }
        Response::NotFound => Err(format!("{id} not found")),
        Response::Error(e) => Err(e),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// The sampled rows of a rows answer, checked against the claimed output's id.
pub(crate) fn checked_rows(
    peer: &PeerId,
    output: &ContentId,
    width: u32,
    height: u32,
    rows: &[u32],
    response: Result<Response, String>,
) -> Result<Vec<(u32, Vec<u8>)>, String> {
    match response {
        Ok(Response::Rows(p)) => proof::verify_rows(output, width, height, rows, &p)
            .map_err(|e| format!("bad row proof from {peer}: {e}")),
        Ok(other) => Err(format!("unexpected answer from {peer}: {other:?}")),
        Err(e) => Err(e),
    }
}

/// The rows a checker asked for, cut from a whole output block (engines verified by
/// regions fetch the whole output by CID).
pub(crate) fn rows_of_output(
    bytes: &[u8],
    width: u32,
    rows: &[u32],
) -> Result<Vec<(u32, Vec<u8>)>, String> {
    let tile = pictor_protocol::TileImage::from_block(bytes).map_err(|e| e.to_string())?;
    if tile.width != width {
        return Err(format!(
            "output is {} wide, the claim says {width}",
            tile.width
        ));
    }
    let len = width as usize * 3;
    rows.iter()
        .map(|&r| {
            let at = r as usize * len;
            tile.pixels
                .get(at..at + len)
                .map(|row| (r, row.to_vec()))
                .ok_or_else(|| format!("output has no row {r}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use pictor_protocol::{ClaimId, Evidence, JobId, Keypair, ShardId, Verdict, Vote};

    use super::*;

    const NET: &str = "requests-test";

    /// Two conflicting votes of one checker on claim `n`.
    fn equivocation(kp: &Keypair, n: u32) -> Evidence {
        let vote = |verdict| Vote {
            shard: ShardId {
                job: JobId([3; 32]),
                frame: n,
                tile: 0,
            },
            claim: ClaimId(*blake3::hash(&n.to_le_bytes()).as_bytes()),
            worker: kp.public(),
            attempt: 0,
            output: ContentId::of(b"output"),
            verdict,
        };
        let (a, b) = (vote(Verdict::Valid), vote(Verdict::Invalid));
        Evidence::new(kp.public(), (a, a.sign(kp, NET)), (b, b.sign(kp, NET)))
    }

    #[test]
    fn an_evidence_answer_holds_what_the_store_has_up_to_its_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_unsynced(&dir.path().join("db")).expect("store");
        let kp = Keypair::from_seed([1; 32]);
        assert_eq!(
            answer(&store, Request::GetEvidence),
            Response::Evidence(Vec::new())
        );
        let extra = 10;
        let total = wire::MAX_EVIDENCE_PER_RESPONSE + extra;
        for n in 0..total {
            let n = u32::try_from(n).expect("small");
            assert!(store.put_evidence(&equivocation(&kp, n)).expect("put"));
        }
        let Response::Evidence(evidence) = answer(&store, Request::GetEvidence) else {
            panic!("not an evidence answer");
        };
        assert_eq!(evidence.len(), wire::MAX_EVIDENCE_PER_RESPONSE);
        let stored = store.evidence().expect("evidence");
        assert_eq!(stored.len(), total);
        assert!(evidence.iter().all(|e| stored.contains(e)));
        let bytes = Response::Evidence(evidence).to_bytes();
        assert!(bytes.len() <= MAX_RESPONSE_SIZE / 2);
        assert!(Response::from_bytes(&bytes).is_ok());
    }
}
