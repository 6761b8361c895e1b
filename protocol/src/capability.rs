//! Capability records: a worker's signed statement of what it can render with — its
//! devices, its engines and their versions, and its start-up benchmark score.
//!
//! A worker gossips its record (as [`crate::Message::Capability`] in a signed envelope) when
//! it joins and whenever its hardware changes; checkers keep the newest record per node
//! (by `issued_ms`) and match it against the network's hardware requirements before they
//! assign work. Every number is an integer so the CBOR encoding stays canonical.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::job::Engine;
use crate::PublicKey;

/// Most devices in one record.
pub const MAX_DEVICES: usize = 16;
/// Most engines in one record.
pub const MAX_ENGINES: usize = 8;
/// Longest device name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Longest engine version, in bytes.
pub const MAX_VERSION_LEN: usize = 64;
/// Longest compute capability (`"12.0"`), in bytes.
pub const MAX_COMPUTE_CAPABILITY_LEN: usize = 8;
/// Most render threads a record may state.
pub const MAX_THREADS: u32 = 65_536;
/// Largest encoded record, in bytes (a full record is well under half of this).
pub const MAX_RECORD_SIZE: usize = 8 * 1024;

/// Why a capability record is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapabilityError {
    /// Not a canonical record, or too large.
    #[error("capability record: {0}")]
    Codec(#[from] CodecError),
    /// A list longer than its bound.
    #[error("capability record lists {len} {field}, more than {max}")]
    TooMany {
        /// The list.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A text longer than its bound.
    #[error("capability record {field} is {len} bytes, more than {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A text that is empty or holds control characters.
    #[error("capability record {field} is empty or holds control characters")]
    BadText {
        /// The field.
        field: &'static str,
    },
    /// No device at all.
    #[error("capability record lists no device")]
    NoDevices,
    /// The same engine twice.
    #[error("capability record lists engine {0} twice")]
    DuplicateEngine(Engine),
    /// A compute capability that is not `major.minor`.
    #[error("capability record compute capability {0:?} is not MAJOR.MINOR")]
    BadComputeCapability(String),
    /// Threads outside `1..=MAX_THREADS`.
    #[error("capability record states {0} threads, expected 1..={MAX_THREADS}")]
    BadThreads(u32),
}

/// What kind of device renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A CPU.
    Cpu,
    /// A GPU.
    Gpu,
}

/// One rendering device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// CPU or GPU.
    pub kind: DeviceKind,
    /// Model name, 1..=[`MAX_NAME_LEN`] bytes, no control characters.
    pub name: String,
    /// Its memory (system memory for a CPU), bytes; 0 when unknown.
    pub memory_bytes: u64,
    /// CUDA compute capability of an NVIDIA GPU, `"major.minor"`.
    pub compute_capability: Option<String>,
}

/// An engine the worker runs, and its version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineVersion {
    /// The engine.
    pub engine: Engine,
    /// Its version (`"0.1.0"`, `"3.4.1"`), 1..=[`MAX_VERSION_LEN`] bytes.
    pub version: String,
}

/// A worker's signed statement of its hardware, engines and benchmark score.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRecord {
    /// The worker (must be the envelope's signer).
    pub node: PublicKey,
    /// Its devices, 1..=[`MAX_DEVICES`].
    pub devices: Vec<Device>,
    /// Its engines, at most [`MAX_ENGINES`], each once.
    pub engines: Vec<EngineVersion>,
    /// Start-up benchmark score in thousandths of Msamples/s (that is, ksamples/s).
    pub benchmark_ksamples_per_s: u32,
    /// Render threads the benchmark (and the worker's renders) use.
    pub threads: u32,
    /// When the worker measured this (ms since the Unix epoch); the newest record wins.
    pub issued_ms: u64,
    /// blake3 of the node's admission render ([`crate::AdmissionRender::of`] its key):
    /// checkers render the same window and give shards only to a worker whose digest
    /// they get (absent: a worker only open networks, without requirements, accept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_digest: Option<[u8; 32]>,
    /// Its price, in credits per benchmark-normalised render-second
    /// ([`crate::credits::price_for`]); 0, free, is left out of the encoding. Only jobs
    /// whose cap it is within give it shards.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub price: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A score in Msamples/s as the integer a record carries (rounded; NaN and negative
/// scores are 0, huge ones saturate).
pub fn ksamples_from_msamples(msamples_per_s: f64) -> u32 {
    let k = (msamples_per_s * 1000.0).round();
    if k.is_nan() || k <= 0.0 {
        0
    } else if k >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        k as u32
    }
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), CapabilityError> {
    if text.len() > max {
        return Err(CapabilityError::TooLong {
            field,
            len: text.len(),
            max,
        });
    }
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(CapabilityError::BadText { field });
    }
    Ok(())
}

fn check_compute_capability(cc: &str) -> Result<(), CapabilityError> {
    let bad = || CapabilityError::BadComputeCapability(cc.chars().take(16).collect());
    if cc.len() > MAX_COMPUTE_CAPABILITY_LEN {
        return Err(bad());
    }
    let (major, minor) = cc.split_once('.').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(major) && digits(minor) {
        Ok(())
    } else {
        Err(bad())
    }
}

impl CapabilityRecord {
    /// Checks every bound: list lengths, text lengths and contents, no duplicate engine,
    /// a sane thread count.
    pub fn validate(&self) -> Result<(), CapabilityError> {
        if self.devices.is_empty() {
            return Err(CapabilityError::NoDevices);
        }
        if self.devices.len() > MAX_DEVICES {
            return Err(CapabilityError::TooMany {
                field: "devices",
                len: self.devices.len(),
                max: MAX_DEVICES,
            });
        }
        if self.engines.len() > MAX_ENGINES {
            return Err(CapabilityError::TooMany {
                field: "engines",
                len: self.engines.len(),
                max: MAX_ENGINES,
            });
        }
        for d in &self.devices {
            check_text("device name", &d.name, MAX_NAME_LEN)?;
            if let Some(cc) = &d.compute_capability {
                check_compute_capability(cc)?;
            }
        }
        for (i, e) in self.engines.iter().enumerate() {
            check_text("engine version", &e.version, MAX_VERSION_LEN)?;
            if self.engines[..i].iter().any(|o| o.engine == e.engine) {
                return Err(CapabilityError::DuplicateEngine(e.engine));
            }
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(CapabilityError::BadThreads(self.threads));
        }
        Ok(())
    }

    /// The canonical CBOR of the record.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes (at most [`MAX_RECORD_SIZE`] bytes, canonical only) and validates a record.
    pub fn decode(bytes: &[u8]) -> Result<CapabilityRecord, CapabilityError> {
        let record: CapabilityRecord = codec::decode(bytes, MAX_RECORD_SIZE)?;
        record.validate()?;
        Ok(record)
    }

    /// The benchmark score in Msamples/s.
    pub fn benchmark_msamples_per_s(&self) -> f64 {
        f64::from(self.benchmark_ksamples_per_s) / 1000.0
    }

    /// The version of `engine` this worker runs, if it runs it.
    pub fn engine_version(&self, engine: Engine) -> Option<&str> {
        self.engines
            .iter()
            .find(|e| e.engine == engine)
            .map(|e| e.version.as_str())
    }

    /// Whether the worker has a GPU.
    pub fn has_gpu(&self) -> bool {
        self.devices.iter().any(|d| d.kind == DeviceKind::Gpu)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::envelope::{EnvelopeError, Message, SignedEnvelope};
    use crate::identity::{Keypair, MessageKind, Signature};

    const NET: &str = "devnet";
    const NOW: u64 = 1_700_000_000_000;
    const AGE: u64 = 300_000;

    fn worker() -> Keypair {
        Keypair::from_seed([21; 32])
    }

    fn sample_record() -> CapabilityRecord {
        CapabilityRecord {
            node: worker().public(),
            devices: vec![
                Device {
                    kind: DeviceKind::Gpu,
                    name: "NVIDIA GeForce RTX 4090".into(),
                    memory_bytes: 24 << 30,
                    compute_capability: Some("8.9".into()),
                },
                Device {
                    kind: DeviceKind::Cpu,
                    name: "AMD EPYC 7B13".into(),
                    memory_bytes: 64 << 30,
                    compute_capability: None,
                },
            ],
            engines: vec![
                EngineVersion {
                    engine: Engine::Builtin,
                    version: "0.1.0".into(),
                },
                EngineVersion {
                    engine: Engine::Blender,
                    version: "3.4.1".into(),
                },
            ],
            benchmark_ksamples_per_s: ksamples_from_msamples(1.834),
            threads: 2,
            issued_ms: NOW,
            render_digest: Some([3; 32]),
            price: 7,
        }
    }

    fn seal(record: &CapabilityRecord, by: &Keypair) -> SignedEnvelope {
        SignedEnvelope::seal(by, NET, NOW, &Message::Capability(record.clone()))
    }

    #[test]
    fn record_round_trips_and_through_an_envelope() {
        let r = sample_record();
        assert_eq!(r.validate(), Ok(()));
        assert_eq!(CapabilityRecord::decode(&r.to_bytes()), Ok(r.clone()));
        assert!(r.to_bytes().len() < MAX_RECORD_SIZE / 4);
        assert_eq!(r.benchmark_ksamples_per_s, 1834);
        assert_eq!(r.benchmark_msamples_per_s(), 1.834);
        assert_eq!(r.engine_version(Engine::Blender), Some("3.4.1"));
        assert!(r.has_gpu());
        let env = seal(&r, &worker());
        assert_eq!(env.kind, MessageKind::Capability);
        let (signer, msg) = SignedEnvelope::open(&env.to_bytes(), NET, NOW + 1, AGE).unwrap();
        assert_eq!(signer, worker().public());
        assert_eq!(msg, Message::Capability(r.clone()));
        assert_eq!(msg.author(), Some(r.node));
    }

    #[test]
    fn forged_records_rejected() {
        let r = sample_record();
        let env = seal(&r, &worker());
        let mut sig = env.clone();
        let mut b = *sig.signature.as_bytes();
        b[0] ^= 1;
        sig.signature = Signature::from_bytes(b);
        assert!(matches!(
            SignedEnvelope::open(&sig.to_bytes(), NET, NOW, AGE),
            Err(EnvelopeError::BadSignature(_))
        ));
        // A better score under the worker's old signature.
        let mut inflated = env.clone();
        let mut better = r.clone();
        better.benchmark_ksamples_per_s *= 10;
        inflated.body = codec::encode(&Message::Capability(better));
        assert!(matches!(
            SignedEnvelope::open(&inflated.to_bytes(), NET, NOW, AGE),
            Err(EnvelopeError::BadSignature(_))
        ));
        // Someone else's record, signed by an impostor.
        let impostor = seal(&r, &Keypair::from_seed([22; 32]));
        assert!(matches!(
            SignedEnvelope::open(&impostor.to_bytes(), NET, NOW, AGE),
            Err(EnvelopeError::SignerMismatch { .. })
        ));
        // A heartbeat signature does not make a capability record.
        let mut relabelled = env;
        relabelled.kind = MessageKind::Heartbeat;
        assert!(SignedEnvelope::open(&relabelled.to_bytes(), NET, NOW, AGE).is_err());
    }

    #[test]
    fn oversized_lists_and_texts_rejected() {
        let mut many = sample_record();
        many.devices = vec![many.devices[1].clone(); MAX_DEVICES + 1];
        assert!(matches!(
            many.validate(),
            Err(CapabilityError::TooMany {
                field: "devices",
                ..
            })
        ));
        assert!(CapabilityRecord::decode(&many.to_bytes()).is_err());
        // The envelope refuses it too, after the signature.
        assert!(matches!(
            SignedEnvelope::open(&seal(&many, &worker()).to_bytes(), NET, NOW, AGE),
            Err(EnvelopeError::InvalidCapability(
                CapabilityError::TooMany { .. }
            ))
        ));
        let mut engines = sample_record();
        engines.engines = (0..=MAX_ENGINES)
            .map(|i| EngineVersion {
                engine: Engine::Builtin,
                version: format!("0.{i}"),
            })
            .collect();
        assert!(matches!(
            engines.validate(),
            Err(CapabilityError::TooMany {
                field: "engines",
                ..
            })
        ));
        let mut long = sample_record();
        long.devices[0].name = "x".repeat(MAX_NAME_LEN + 1);
        assert!(matches!(
            long.validate(),
            Err(CapabilityError::TooLong { .. })
        ));
        let mut huge = sample_record();
        huge.devices[0].name = "x".repeat(MAX_RECORD_SIZE);
        assert!(matches!(
            CapabilityRecord::decode(&huge.to_bytes()),
            Err(CapabilityError::Codec(CodecError::TooLarge { .. }))
        ));
    }

    #[test]
    fn bad_fields_rejected() {
        type Mutation = fn(&mut CapabilityRecord);
        let cases: Vec<(Mutation, &str)> = vec![
            (|r| r.devices.clear(), "no device"),
            (|r| r.devices[0].name = "GPU\n0".into(), "control"),
            (|r| r.devices[0].name.clear(), "empty"),
            (|r| r.engines[1].version.clear(), "empty"),
            (|r| r.engines[1].engine = Engine::Builtin, "twice"),
            (
                |r| r.devices[0].compute_capability = Some("8".into()),
                "MAJOR.MINOR",
            ),
            (
                |r| r.devices[0].compute_capability = Some("8.x".into()),
                "MAJOR.MINOR",
            ),
            (|r| r.threads = 0, "threads"),
            (|r| r.threads = MAX_THREADS + 1, "threads"),
        ];
        for (mutate, says) in cases {
            let mut r = sample_record();
            mutate(&mut r);
            let e = r.validate().unwrap_err();
            assert!(e.to_string().contains(says), "{e} should say {says:?}");
        }
    }

    #[test]
    fn scores_convert_to_integers() {
        assert_eq!(ksamples_from_msamples(1.2345), 1235);
        assert_eq!(ksamples_from_msamples(0.0), 0);
        assert_eq!(ksamples_from_msamples(-3.0), 0);
        assert_eq!(ksamples_from_msamples(f64::NAN), 0);
        assert_eq!(ksamples_from_msamples(f64::INFINITY), u32::MAX);
        assert_eq!(ksamples_from_msamples(1e12), u32::MAX);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = CapabilityRecord::decode(&bytes);
        }

        #[test]
        fn mutated_records_never_panic(i in any::<usize>(), x in 1u8..=255) {
            let mut bytes = sample_record().to_bytes();
            let n = bytes.len();
            bytes[i % n] ^= x;
            if let Ok(r) = CapabilityRecord::decode(&bytes) {
                prop_assert_eq!(r.validate(), Ok(()));
            }
        }
    }
}
