//! Identities: ed25519 keypairs made from 32-byte seeds, public keys, signatures and the
//! domain separation that binds every signature to a network and a message kind.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

mod keys;
pub(crate) mod msm;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The prefix of every signed byte string.
pub const SIGNING_DOMAIN: &[u8] = b"pictor/v1\0";

/// Longest network id, in bytes.
pub const MAX_NETWORK_ID_LEN: usize = 64;

/// Errors about keys and network ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A public key must be exactly 32 bytes.
    #[error("public key must be 32 bytes, got {len}")]
    InvalidLength {
        /// The length that was given.
        len: usize,
    },
    /// The bytes are not the encoding of a curve point.
    #[error("public key is not a valid ed25519 point")]
    InvalidPoint,
    /// The key is a small-order point, which no honest key is.
    #[error("public key is a weak (small-order) point")]
    WeakKey,
    /// A network id is 1 to 64 bytes of `[a-z0-9-]`.
    #[error("invalid network id {id:?}: expected 1..=64 bytes of [a-z0-9-]")]
    InvalidNetworkId {
        /// The id that was given (lossily).
        id: String,
    },
    /// A message kind byte that names no kind.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The network id given to verify is not a valid network id.
    #[error("invalid network id")]
    InvalidNetworkId,
    /// The signature does not verify (strictly) for this key, kind, network and body.
    #[error("signature does not verify")]
    Invalid,
}

/// Checks that `id` is a valid network id: 1..=64 bytes of `[a-z0-9-]`.
pub fn validate_network_id(id: &str) -> Result<(), IdentityError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_NETWORK_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidNetworkId {
            id: id.chars().take(80).collect(),
        })
    }
}

/// What a signature is about; part of the signed domain so a signature for one kind is
/// never valid for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum MessageKind {
    /// A creator's job.
    Job = 1,
    /// A shard assignment by a checker.
    Assignment = 2,
    /// A worker's result claim.
    Claim = 3,
    /// A checker's attestation.
    Attestation = 4,
    /// A relayed quorum certificate.
    Certificate = 5,
    /// A checker's vote (what a quorum certificate collects).
    Vote = 6,
    /// A checker's signature over a claim id that seeds its pixel sample.
    SampleSeed = 7,
    /// A point-to-point request.
    Request = 8,
    /// A point-to-point response.
    Response = 9,
    /// A node's periodic announcement of itself.
    Heartbeat = 10,
    /// A worker's statement of its hardware, engines and benchmark score.
    Capability = 11,
    /// A checker's signature on a governance action (what a decision certificate collects).
    Decision = 12,
    /// A gossiped vote on a governance action.
    DecisionVote = 13,
    /// A relayed decision certificate.
    DecisionCertificate = 14,
    /// Relayed equivocation evidence.
    Evidence = 15,
    /// A worker's signature over a shard attempt that decides whether it is a canary.
    Canary = 16,
    /// A node's application to join the checker set.
    Application = 17,
    /// A credits order or a checker's vote on one (`credits`: transfers, mints, escrows).
    Credits = 18,
}

impl TryFrom<u8> for MessageKind {
    type Error = IdentityError;
    fn try_from(b: u8) -> Result<Self, Self::Error> {
        Ok(match b {
            1 => Self::Job,
            2 => Self::Assignment,
            3 => Self::Claim,
            4 => Self::Attestation,
            5 => Self::Certificate,
            6 => Self::Vote,
            7 => Self::SampleSeed,
            8 => Self::Request,
            9 => Self::Response,
            10 => Self::Heartbeat,
            11 => Self::Capability,
            12 => Self::Decision,
            13 => Self::DecisionVote,
            14 => Self::DecisionCertificate,
            15 => Self::Evidence,
            16 => Self::Canary,
            17 => Self::Application,
            18 => Self::Credits,
            other => return Err(IdentityError::UnknownKind(other)),
        })
    }
}

impl Serialize for MessageKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

impl<'de> Deserialize<'de> for MessageKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = u8::deserialize(d)?;
        MessageKind::try_from(b).map_err(serde::de::Error::custom)
    }
}

/// The exact bytes that are signed: `SIGNING_DOMAIN || u8(len) || network || u8(kind) || body`.
///
/// An invalid network id is encoded with the length byte `0xff` (which no valid id has) and
/// no id bytes, so such a signature can never verify under a valid network.
pub fn signing_message(kind: MessageKind, network: &str, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNING_DOMAIN.len() + 2 + network.len() + body.len());
    msg.extend_from_slice(SIGNING_DOMAIN);
    if validate_network_id(network).is_ok() {
        msg.push(network.len() as u8);
        msg.extend_from_slice(network.as_bytes());
    } else {
        msg.push(0xff);
    }
    msg.push(kind as u8);
    msg.extend_from_slice(body);
    msg
}

/// A node's signing key, made from a 32-byte seed. Debug prints only the public key.
#[derive(Clone)]
pub struct Keypair {
    secret: SigningKey,
}

impl Keypair {
    /// The keypair for this seed (the ed25519 secret key).
    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair {
            secret: SigningKey::from_bytes(&seed),
        }
    }

    /// The seed this keypair was made from.
    pub fn seed(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.secret.verifying_key().to_bytes())
    }

    /// Signs `body` for `kind` on `network` (domain-separated, see [`signing_message`]).
    pub fn sign(&self, kind: MessageKind, network: &str, body: &[u8]) -> Signature {
        let msg = signing_message(kind, network, body);
        Signature(self.secret.sign(&msg).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// An ed25519 public key; always a valid, non-weak curve point.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses a public key: exactly 32 bytes that decode to a non-small-order point.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, IdentityError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| IdentityError::InvalidLength { len: bytes.len() })?;
        match keys::decode(&arr) {
            Ok(_) => Ok(PublicKey(arr)),
            Err(keys::KeyError::Invalid) => Err(IdentityError::InvalidPoint),
            Err(keys::KeyError::Weak) => Err(IdentityError::WeakKey),
        }
    }

    /// The 32 bytes of the key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 8 hex characters.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// Verifies that `signature` signs `body` for `kind` on `network`: `s` and `R`
    /// canonical, neither `R` nor the key of small order, and the cofactored equation
    /// (the rule of every signature check here, one by one or in a batch; see `msm.rs`).
    pub fn verify(
        &self,
        kind: MessageKind,
        network: &str,
        body: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        validate_network_id(network).map_err(|_| SignatureError::InvalidNetworkId)?;
        let msg = signing_message(kind, network, body);
        if msm::verify_one(self, signature, &msg) {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }

    pub(crate) fn verifying_key(&self) -> Result<VerifyingKey, SignatureError> {
        keys::decode(&self.0).map_err(|_| SignatureError::Invalid)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s).map_err(|_| IdentityError::InvalidLength { len: s.len() })?;
        PublicKey::from_bytes(&bytes)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde_bytes::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let arr: [u8; 32] = serde_bytes::deserialize(d)?;
        PublicKey::from_bytes(&arr).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature (64 bytes; a CBOR byte string on the wire).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "serde_bytes")] [u8; 64]);

impl Signature {
    /// Wraps 64 signature bytes (no validation; verification does that).
    pub fn from_bytes(bytes: [u8; 64]) -> Signature {
        Signature(bytes)
    }

    /// The 64 bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp(n: u8) -> Keypair {
        Keypair::from_seed([n; 32])
    }

    #[test]
    fn sign_verify_round_trip() {
        let k = kp(1);
        let sig = k.sign(MessageKind::Claim, "devnet", b"hello");
        assert_eq!(
            k.public()
                .verify(MessageKind::Claim, "devnet", b"hello", &sig),
            Ok(())
        );
        assert_eq!(Keypair::from_seed(k.seed()).public(), k.public());
    }

    #[test]
    fn domain_separation() {
        let k = kp(2);
        let sig = k.sign(MessageKind::Claim, "devnet", b"hello");
        let p = k.public();
        assert!(p
            .verify(MessageKind::Vote, "devnet", b"hello", &sig)
            .is_err());
        assert!(p
            .verify(MessageKind::Claim, "testnet", b"hello", &sig)
            .is_err());
        assert!(p
            .verify(MessageKind::Claim, "devnet", b"hellp", &sig)
            .is_err());
        assert!(kp(3)
            .public()
            .verify(MessageKind::Claim, "devnet", b"hello", &sig)
            .is_err());
        assert_eq!(
            p.verify(MessageKind::Claim, "Dev Net", b"hello", &sig),
            Err(SignatureError::InvalidNetworkId)
        );
        let mut bad = *sig.as_bytes();
        bad[10] ^= 1;
        assert!(p
            .verify(
                MessageKind::Claim,
                "devnet",
                b"hello",
                &Signature::from_bytes(bad)
            )
            .is_err());
    }

    #[test]
    fn public_key_parsing() {
        let p = kp(4).public();
        assert_eq!(PublicKey::from_bytes(p.as_bytes()), Ok(p));
        assert_eq!(
            PublicKey::from_bytes(&[0; 31]),
            Err(IdentityError::InvalidLength { len: 31 })
        );
        // The identity point is small order.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert_eq!(PublicKey::from_bytes(&id), Err(IdentityError::WeakKey));
        assert_eq!(p.to_string().len(), 64);
        assert_eq!(p.short().len(), 8);
        assert_eq!(p.to_string().parse::<PublicKey>(), Ok(p));
        assert!(format!("{:?}", kp(4)).contains(&p.short()));
    }

    #[test]
    fn network_ids() {
        assert!(validate_network_id("testnet").is_ok());
        assert!(validate_network_id("dev-01").is_ok());
        assert!(validate_network_id("").is_err());
        assert!(validate_network_id("Test").is_err());
        assert!(validate_network_id(&"a".repeat(65)).is_err());
        assert!(validate_network_id(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn message_kind_bytes() {
        for b in 1..=18u8 {
            assert_eq!(MessageKind::try_from(b).map(|k| k as u8), Ok(b));
        }
        assert!(MessageKind::try_from(0).is_err());
        assert!(MessageKind::try_from(19).is_err());
    }
}
