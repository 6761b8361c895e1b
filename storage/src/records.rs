//! Typed records: jobs, assignments, claims, attestations and certificates.
//!
//! Values are canonical CBOR (the protocol's codec); keys are the records' ids, so writing
//! the same record twice is a no-op and a replay of the database yields each record once.

use pictor_protocol::{
    codec, Assignment, Attestation, ClaimId, JobId, JobSpec, QuorumCertificate, ResultClaim,
    ShardId,
};
use serde::{de::DeserializeOwned, Serialize};

use crate::{StorageError, Store};

/// Records are our own encodings; this bounds what a corrupt database can make us allocate.
const MAX_RECORD_SIZE: usize = 16 * 1024 * 1024;

fn shard_key(shard: &ShardId) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(&shard.job.0);
    key.extend_from_slice(&shard.frame.to_be_bytes());
    key.extend_from_slice(&shard.tile.to_be_bytes());
    key
}

fn put<T: Serialize>(tree: &sled::Tree, key: &[u8], value: &T) -> Result<bool, StorageError> {
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
    tree: &sled::Tree,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, StorageError> {
    tree.get(key)?
        .map(|bytes| decode_record(&bytes, what))
        .transpose()
}

fn scan<T: DeserializeOwned + Serialize>(
    tree: &sled::Tree,
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
        put(&self.claims, &claim.id().0, claim)
    }

    /// Reads one claim.
    pub fn claim(&self, id: &ClaimId) -> Result<Option<ResultClaim>, StorageError> {
        get(&self.claims, &id.0, "claim")
    }

    /// Every stored claim.
    pub fn claims(&self) -> Result<Vec<ResultClaim>, StorageError> {
        scan(&self.claims, &[], "claim")
    }

    /// Stores an attestation. Returns whether it was new.
    pub fn put_attestation(&self, attestation: &Attestation) -> Result<bool, StorageError> {
        let mut key = attestation.vote.claim.0.to_vec();
        key.extend_from_slice(attestation.checker.as_bytes());
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
}
