//! Typed records: jobs, assignments, claims, attestations and certificates.
//!
//! Values are canonical CBOR (the protocol's codec); keys start with the record's job id and
//! end with the record's own id, so writing the same record twice is a no-op, a replay of
//! the database yields each record once, and a job's records are found (and pruned) by
//! prefix.

use pictor_protocol::{
    codec, credits::CreditMessage, Assignment, Attestation, ClaimId, DecisionCertificate, Evidence,
    JobId, JobSpec, QuorumCertificate, ResultClaim, ShardId,
};
use serde::{de::DeserializeOwned, Serialize};

use crate::{space::Tree, StorageError, Store};

/// Records are our own encodings; this bounds what a corrupt database can make us allocate.
const MAX_RECORD_SIZE: usize = 16 * 1024 * 1024;

fn shard_key(shard: &ShardId) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(&shard.job.0);
    key.extend_from_slice(&shard.frame.to_be_bytes());
    key.extend_from_slice(&shard.tile.to_be_bytes());
    key
}

fn claim_key(job: &JobId, claim: &ClaimId) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(&job.0);
    key.extend_from_slice(&claim.0);
    key
}

fn put<T: Serialize>(tree: &Tree, key: &[u8], value: &T) -> Result<bool, StorageError> {
    let bytes = codec::encode(value);
    let previous = tree.insert(key, bytes)?;
    Ok(previous.is_none())
}

fn decode_record<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, StorageError> {
    codec::decode::<T>(bytes, MAX_RECORD_SIZE).map_err(|e| StorageError::Corrupt {
        what,
        reason: e.to_string(),
    })
}

fn get<T: DeserializeOwned + Serialize>(
    tree: &Tree,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, StorageError> {
    tree.get(key)?
        .map(|bytes| decode_record(&bytes, what))
        .transpose()
}

fn scan<T: DeserializeOwned + Serialize>(
    tree: &Tree,
    prefix: &[u8],
    what: &'static str,
) -> Result<Vec<T>, StorageError> {
    tree.scan_prefix(prefix)
        .map(|entry| {
            let (_, value) = entry?;
            decode_record(&value, what)
        })
        .collect()
}

impl Store {
    /// Stores a job. Returns whether it was new.
    pub fn put_job(&self, spec: &JobSpec) -> Result<bool, StorageError> {
        put(&self.jobs, &spec.id().0, spec)
    }

    /// Reads one job.
    pub fn job(&self, id: &JobId) -> Result<Option<JobSpec>, StorageError> {
        get(&self.jobs, &id.0, "job")
    }

    /// Every stored job.
    pub fn jobs(&self) -> Result<Vec<JobSpec>, StorageError> {
        scan(&self.jobs, &[], "job")
    }

    /// Stores a shard assignment. Returns whether it was new.
    pub fn put_assignment(&self, assignment: &Assignment) -> Result<bool, StorageError> {
        let mut key = shard_key(&assignment.shard);
        key.extend_from_slice(&assignment.attempt.to_be_bytes());
        put(&self.assignments, &key, assignment)
    }

    /// Every stored assignment of one job.
    pub fn assignments(&self, job: &JobId) -> Result<Vec<Assignment>, StorageError> {
        scan(&self.assignments, &job.0, "assignment")
    }

    /// Stores a result claim. Returns whether it was new.
    pub fn put_claim(&self, claim: &ResultClaim) -> Result<bool, StorageError> {
        put(
            &self.claims,
            &claim_key(&claim.shard.job, &claim.id()),
            claim,
        )
    }

    /// Reads one claim.
    pub fn claim(&self, job: &JobId, id: &ClaimId) -> Result<Option<ResultClaim>, StorageError> {
        get(&self.claims, &claim_key(job, id), "claim")
    }

    /// Every stored claim of one job.
    pub fn claims_of(&self, job: &JobId) -> Result<Vec<ResultClaim>, StorageError> {
        scan(&self.claims, &job.0, "claim")
    }

    /// Every stored claim.
    pub fn claims(&self) -> Result<Vec<ResultClaim>, StorageError> {
        scan(&self.claims, &[], "claim")
    }

    /// Stores an attestation. Returns whether it was new.
    pub fn put_attestation(&self, attestation: &Attestation) -> Result<bool, StorageError> {
        let mut key = claim_key(&attestation.vote.shard.job, &attestation.vote.claim);
        key.extend_from_slice(attestation.checker.as_bytes());
        // Keyed by verdict too: a checker's second, conflicting vote is stored and acted
        // on (it is the evidence of its equivocation), not dropped as a duplicate.
        key.push(attestation.vote.verdict as u8);
        put(&self.attestations, &key, attestation)
    }

    /// Every stored attestation.
    pub fn attestations(&self) -> Result<Vec<Attestation>, StorageError> {
        scan(&self.attestations, &[], "attestation")
    }

    /// Stores a quorum certificate. Returns whether it was new.
    pub fn put_certificate(&self, qc: &QuorumCertificate) -> Result<bool, StorageError> {
        let mut key = shard_key(&qc.vote.shard);
        key.extend_from_slice(&qc.vote.claim.0);
        put(&self.certificates, &key, qc)
    }

    /// Every stored certificate of one job.
    pub fn certificates(&self, job: &JobId) -> Result<Vec<QuorumCertificate>, StorageError> {
        scan(&self.certificates, &job.0, "certificate")
    }

    /// Every stored certificate.
    pub fn all_certificates(&self) -> Result<Vec<QuorumCertificate>, StorageError> {
        scan(&self.certificates, &[], "certificate")
    }

    /// Stores a decision of the checker set. Returns whether it was new. A job's moves
    /// are kept after the job is pruned (a few hundred bytes each).
    pub fn put_decision(&self, cert: &DecisionCertificate) -> Result<bool, StorageError> {
        let mut key = vec![b'd'];
        key.extend_from_slice(&cert.action.id().0);
        put(&self.governance, &key, cert)
    }

    /// Every stored decision.
    pub fn decisions(&self) -> Result<Vec<DecisionCertificate>, StorageError> {
        scan(&self.governance, b"d", "decision")
    }

    /// Stores equivocation evidence. Returns whether it was new.
    pub fn put_evidence(&self, evidence: &Evidence) -> Result<bool, StorageError> {
        let mut key = vec![b'e'];
        key.extend_from_slice(blake3::hash(&codec::encode(evidence)).as_bytes());
        put(&self.governance, &key, evidence)
    }

    /// Every stored piece of evidence.
    pub fn evidence(&self) -> Result<Vec<Evidence>, StorageError> {
        scan(&self.governance, b"e", "evidence")
    }

    /// Stores a credits message (a certificate, or this node's own order or vote).
    /// Returns whether it was new.
    pub fn put_credit(&self, message: &CreditMessage) -> Result<bool, StorageError> {
        let mut key = vec![b'c'];
        key.extend_from_slice(blake3::hash(&codec::encode(message)).as_bytes());
        put(&self.governance, &key, message)
    }

    /// Every stored credits message.
    pub fn credits(&self) -> Result<Vec<CreditMessage>, StorageError> {
        scan(&self.governance, b"c", "credits message")
    }

    /// Stores a node's own record of a job (its lifecycle, as the node encodes it) and
    /// flushes it.
    pub fn put_job_record(&self, job: &JobId, record: &[u8]) -> Result<(), StorageError> {
        self.job_records.insert(job.0, record)?;
        self.flush()
    }

    /// Every job record, with its job.
    pub fn job_records(&self) -> Result<Vec<(JobId, Vec<u8>)>, StorageError> {
        self.job_records
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let id: [u8; 32] = key.as_ref().try_into().map_err(|_| StorageError::Corrupt {
                    what: "job record",
                    reason: format!("key of {} bytes", key.len()),
                })?;
                Ok((JobId(id), value.to_vec()))
            })
            .collect()
    }

    /// The number of jobs stored.
    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    /// Removes a job and every record of it (assignments, claims, attestations,
    /// certificates, its job record), and flushes. Blocks are left to
    /// [`Store::remove_block`]: several jobs may share one.
    pub fn remove_job(&self, job: &JobId) -> Result<(), StorageError> {
        for tree in [
            &self.assignments,
            &self.claims,
            &self.attestations,
            &self.certificates,
        ] {
            let keys: Vec<sled::IVec> = tree.scan_prefix(job.0).keys().collect::<Result<_, _>>()?;
            for key in keys {
                tree.remove(key)?;
            }
        }
        self.jobs.remove(job.0)?;
        self.job_records.remove(job.0)?;
        self.flush()
    }

    /// Rewrites claims and attestations of databases written before their keys started
    /// with the job id (schema 1), once.
    pub(crate) fn migrated(self) -> Result<Store, StorageError> {
        const SCHEMA: &str = "schema";
        if self.meta(SCHEMA)?.as_deref() == Some(b"2".as_slice()) {
            return Ok(self);
        }
        for claim in scan::<ResultClaim>(&self.claims, &[], "claim")? {
            let old = claim.id().0;
            if self.claims.remove(old)?.is_some() {
                put(
                    &self.claims,
                    &claim_key(&claim.shard.job, &claim.id()),
                    &claim,
                )?;
            }
        }
        for a in scan::<Attestation>(&self.attestations, &[], "attestation")? {
            let mut old = a.vote.claim.0.to_vec();
            old.extend_from_slice(a.checker.as_bytes());
            if self.attestations.remove(old)?.is_some() {
                self.put_attestation(&a)?;
            }
        }
        self.set_meta(SCHEMA, b"2")?;
        Ok(self)
    }
}
