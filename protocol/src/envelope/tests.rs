use proptest::prelude::*;

use super::*;
use crate::attestation::tests::claim;
use crate::attestation::{PixelSample, Verdict, Vote};
use crate::claim::ClaimId;
use crate::content::ContentId;
use crate::heartbeat::{Heartbeat, NodeRole};
use crate::job::tests::sample_job;
use crate::job::{Engine, FrameRange, JobId, ShardId};

const NET: &str = "devnet";
const NOW: u64 = 1_700_000_000_000;
const AGE: u64 = 300_000;

fn creator() -> Keypair {
    Keypair::from_seed([7; 32])
}

fn sealed_job() -> Vec<u8> {
    SignedEnvelope::seal(&creator(), NET, NOW, &Message::Job(sample_job())).to_bytes()
}

#[test]
fn good_envelope_opens() {
    let (signer, msg) =
        SignedEnvelope::open(&sealed_job(), NET, NOW + 1000, AGE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(signer, creator().public());
    assert_eq!(msg, Message::Job(sample_job()));
}

#[test]
fn forgeries_rejected() {
    let env = SignedEnvelope::seal(&creator(), NET, NOW, &Message::Job(sample_job()));
    let mut sig = env.clone();
    let mut b = *sig.signature.as_bytes();
    b[3] ^= 1;
    sig.signature = Signature::from_bytes(b);
    assert!(matches!(
        SignedEnvelope::open(&sig.to_bytes(), NET, NOW, AGE),
        Err(EnvelopeError::BadSignature(_))
    ));
    let mut body = env.clone();
    let mut job = sample_job();
    job.price_cap += 1;
    body.body = codec::encode(&Message::Job(job));
    assert!(matches!(
        SignedEnvelope::open(&body.to_bytes(), NET, NOW, AGE),
        Err(EnvelopeError::BadSignature(_))
    ));
    let mut signer = env.clone();
    signer.signer = Keypair::from_seed([8; 32]).public();
    assert!(matches!(
        SignedEnvelope::open(&signer.to_bytes(), NET, NOW, AGE),
        Err(EnvelopeError::BadSignature(_))
    ));
    let mut time = env.clone();
    time.issued_ms += 1;
    assert!(matches!(
        SignedEnvelope::open(&time.to_bytes(), NET, NOW, AGE),
        Err(EnvelopeError::BadSignature(_))
    ));
    // Same body, kind relabelled: the signature's domain no longer matches.
    let mut kind = env;
    kind.kind = MessageKind::Claim;
    assert!(matches!(
        SignedEnvelope::open(&kind.to_bytes(), NET, NOW, AGE),
        Err(EnvelopeError::BadSignature(_))
    ));
}

#[test]
fn replays_rejected() {
    let bytes = sealed_job();
    assert!(matches!(
        SignedEnvelope::open(&bytes, "testnet", NOW, AGE),
        Err(EnvelopeError::WrongNetwork { ref expected, ref got }) if expected == "testnet" && got == NET
    ));
    assert!(matches!(
        SignedEnvelope::open(&bytes, NET, NOW + AGE + 1, AGE),
        Err(EnvelopeError::Stale { .. })
    ));
    assert!(SignedEnvelope::open(&bytes, NET, NOW + AGE, AGE).is_ok());
    assert!(matches!(
        SignedEnvelope::open(&bytes, NET, NOW - MAX_FUTURE_SKEW_MS - 1, AGE),
        Err(EnvelopeError::FromFuture { .. })
    ));
    assert!(SignedEnvelope::open(&bytes, NET, NOW - MAX_FUTURE_SKEW_MS, AGE).is_ok());
}

#[test]
fn signer_and_kind_mismatch() {
    // Someone else seals the creator's job.
    let other = Keypair::from_seed([8; 32]);
    let env = SignedEnvelope::seal(&other, NET, NOW, &Message::Job(sample_job()));
    assert!(matches!(
        SignedEnvelope::open(&env.to_bytes(), NET, NOW, AGE),
        Err(EnvelopeError::SignerMismatch { .. })
    ));
    // A correctly signed envelope whose kind says Claim but whose body is a Job.
    let mut env = SignedEnvelope::seal(&creator(), NET, NOW, &Message::Job(sample_job()));
    env.kind = MessageKind::Claim;
    env.signature = creator().sign(MessageKind::Claim, NET, &signed_body(NOW, &env.body));
    assert!(matches!(
        SignedEnvelope::open(&env.to_bytes(), NET, NOW, AGE),
        Err(EnvelopeError::KindMismatch {
            envelope: MessageKind::Claim,
            body: MessageKind::Job
        })
    ));
    // Certificates may be relayed by anyone.
    let kps: Vec<Keypair> = (0..4).map(|i| Keypair::from_seed([100 + i; 32])).collect();
    let vote = Vote::on(&claim(), Verdict::Valid);
    let mut signatures: Vec<_> = kps[..3]
        .iter()
        .map(|k| (k.public(), vote.sign(k, NET)))
        .collect();
    signatures.sort_by_key(|(k, _)| *k);
    let qc = QuorumCertificate { vote, signatures };
    let env = SignedEnvelope::seal(&other, NET, NOW, &Message::Certificate(qc));
    assert!(SignedEnvelope::open(&env.to_bytes(), NET, NOW, AGE).is_ok());
}

#[test]
fn invalid_job_and_bad_bytes_rejected() {
    let mut job = sample_job();
    job.width = 0;
    let env = SignedEnvelope::seal(&creator(), NET, NOW, &Message::Job(job));
    assert!(matches!(
        SignedEnvelope::open(&env.to_bytes(), NET, NOW, AGE),
        Err(EnvelopeError::InvalidJob(_))
    ));
    let bytes = sealed_job();
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        SignedEnvelope::open(&trailing, NET, NOW, AGE),
        Err(EnvelopeError::Codec(CodecError::NonCanonical))
    ));
    assert!(SignedEnvelope::open(&bytes[..bytes.len() - 3], NET, NOW, AGE).is_err());
    let huge = vec![0u8; MAX_GOSSIP_SIZE + 1];
    assert!(matches!(
        SignedEnvelope::open(&huge, NET, NOW, AGE),
        Err(EnvelopeError::Codec(CodecError::TooLarge { .. }))
    ));
}

#[test]
fn oversized_fields_rejected() {
    let w = Keypair::from_seed([50; 32]);
    let mut c = claim();
    c.device = "x".repeat(crate::claim::MAX_DEVICE_LEN + 1);
    let env = SignedEnvelope::seal(&w, NET, NOW, &Message::Claim(c));
    assert!(matches!(
        SignedEnvelope::open(&env.to_bytes(), NET, NOW, AGE),
        Err(EnvelopeError::TooLong {
            field: "claim.device",
            ..
        })
    ));
}

#[test]
fn huge_declared_lengths_fail_cleanly() {
    // Byte string, text string, array and map headers claiming 2^64-1 items.
    for major in [0x5bu8, 0x7b, 0x9b, 0xbb] {
        let mut bytes = vec![major];
        bytes.extend_from_slice(&[0xff; 8]);
        assert!(codec::decode::<Message>(&bytes, MAX_GOSSIP_SIZE).is_err());
        assert!(crate::wire::Response::from_bytes(&bytes).is_err());
        let mut env = vec![0xa6, 0x67];
        env.extend_from_slice(b"network");
        env.extend_from_slice(&bytes);
        assert!(SignedEnvelope::open(&env, NET, NOW, AGE).is_err());
    }
}

#[test]
fn batch_matches_single() {
    let good = sealed_job();
    let mut env = SignedEnvelope::decode(&good).unwrap_or_else(|e| panic!("{e}"));
    env.issued_ms += 5;
    let bad = env.to_bytes();
    let w = Keypair::from_seed([50; 32]);
    let c = SignedEnvelope::seal(&w, NET, NOW, &Message::Claim(claim())).to_bytes();
    let all: Vec<&[u8]> = vec![&good, &c, &good];
    assert!(open_batch(&all, NET, NOW, AGE).iter().all(Result::is_ok));
    let mixed: Vec<&[u8]> = vec![&good, &bad, &c, b"junk"];
    let r = open_batch(&mixed, NET, NOW, AGE);
    assert!(r[0].is_ok() && r[2].is_ok());
    assert!(matches!(r[1], Err(EnvelopeError::BadSignature(_))));
    assert!(matches!(r[3], Err(EnvelopeError::Codec(_))));
    assert!(open_batch(&[], NET, NOW, AGE).is_empty());
}

// ---- property tests over every message type ----

fn key() -> impl Strategy<Value = PublicKey> {
    any::<u8>().prop_map(|i| Keypair::from_seed([i; 32]).public())
}

fn shard() -> impl Strategy<Value = ShardId> {
    (any::<[u8; 32]>(), any::<u32>(), any::<u32>()).prop_map(|(j, frame, tile)| ShardId {
        job: JobId(j),
        frame,
        tile,
    })
}

fn sig() -> impl Strategy<Value = Signature> {
    proptest::collection::vec(any::<u8>(), 64).prop_map(|v| {
        let mut b = [0u8; 64];
        b.copy_from_slice(&v);
        Signature::from_bytes(b)
    })
}

fn vote() -> impl Strategy<Value = Vote> {
    (
        shard(),
        any::<[u8; 32]>(),
        key(),
        any::<u32>(),
        any::<[u8; 32]>(),
        any::<bool>(),
    )
        .prop_map(|(shard, c, worker, attempt, o, v)| Vote {
            shard,
            claim: ClaimId(c),
            worker,
            attempt,
            output: ContentId::from_digest(o),
            verdict: if v { Verdict::Valid } else { Verdict::Invalid },
        })
}

fn message() -> impl Strategy<Value = Message> {
    let job = (
        key(),
        any::<[u8; 32]>(),
        ".{0,20}",
        any::<bool>(),
        any::<(u32, u32, u32, u32, u32, u32, u64, u64)>(),
    )
        .prop_map(
            |(
                creator,
                scene,
                scene_name,
                e,
                (first, last, width, height, samples, tile, price_cap, nonce),
            )| {
                Message::Job(JobSpec {
                    creator,
                    scene: ContentId::from_digest(scene),
                    scene_name,
                    engine: if e { Engine::Builtin } else { Engine::Blender },
                    frames: FrameRange { first, last },
                    width,
                    height,
                    samples,
                    tile,
                    price_cap,
                    nonce,
                    epoch: 0,
                })
            },
        );
    let assignment = (shard(), key(), any::<u32>(), key(), any::<u64>()).prop_map(
        |(shard, worker, attempt, assigned_by, deadline_ms)| {
            Message::Assignment(Assignment {
                shard,
                worker,
                attempt,
                assigned_by,
                deadline_ms,
            })
        },
    );
    let claim = (
        shard(),
        key(),
        any::<u32>(),
        any::<[u8; 32]>(),
        any::<(u32, u32, u64)>(),
        ".{0,12}",
    )
        .prop_map(
            |(shard, worker, attempt, o, (width, height, render_ms), device)| {
                Message::Claim(ResultClaim {
                    shard,
                    worker,
                    attempt,
                    output: ContentId::from_digest(o),
                    width,
                    height,
                    render_ms,
                    device,
                })
            },
        );
    let sample =
        any::<(u32, u32, [u8; 3], [u8; 3])>().prop_map(|(x, y, expected, claimed)| PixelSample {
            x,
            y,
            expected,
            claimed,
        });
    let attestation = (
        vote(),
        key(),
        sig(),
        sig(),
        proptest::collection::vec(sample, 0..8),
    )
        .prop_map(|(vote, checker, vote_signature, seed_signature, samples)| {
            Message::Attestation(Attestation {
                vote,
                checker,
                vote_signature,
                seed_signature,
                samples,
                regions: Vec::new(),
            })
        });
    let cert =
        (vote(), proptest::collection::vec((key(), sig()), 0..6)).prop_map(|(vote, signatures)| {
            Message::Certificate(QuorumCertificate { vote, signatures })
        });
    let heartbeat = (key(), 0u8..3, ".{0,12}").prop_map(|(node, r, device)| {
        let role = [NodeRole::Checker, NodeRole::Worker, NodeRole::Creator][r as usize];
        Message::Heartbeat(Heartbeat {
            node,
            role,
            device,
            canaries: Vec::new(),
        })
    });
    prop_oneof![job, assignment, claim, attestation, cert, heartbeat]
}

proptest! {
    #[test]
    fn every_message_round_trips(m in message()) {
        let bytes = codec::encode(&m);
        prop_assert_eq!(codec::decode::<Message>(&bytes, MAX_GOSSIP_SIZE), Ok(m.clone()));
        let mut trailing = bytes.clone();
        trailing.push(0);
        prop_assert!(codec::decode::<Message>(&trailing, MAX_GOSSIP_SIZE).is_err());
        prop_assert!(codec::decode::<Message>(&bytes[..bytes.len() - 1], MAX_GOSSIP_SIZE).is_err());
        prop_assert!(codec::decode::<Message>(&bytes, bytes.len() - 1).is_err());
        let env = SignedEnvelope::seal(&Keypair::from_seed([1; 32]), NET, NOW, &m);
        prop_assert_eq!(SignedEnvelope::decode(&env.to_bytes()), Ok(env));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::decode::<Message>(&bytes, MAX_GOSSIP_SIZE);
        let _ = SignedEnvelope::open(&bytes, NET, NOW, AGE);
        let _ = crate::wire::Request::from_bytes(&bytes);
        let _ = crate::wire::Response::from_bytes(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(m in message(), i in any::<usize>(), x in 1u8..=255) {
        let mut bytes = codec::encode(&m);
        let n = bytes.len();
        bytes[i % n] ^= x;
        let _ = codec::decode::<Message>(&bytes, MAX_GOSSIP_SIZE);
    }
}

#[test]
fn an_attempt_past_the_last_is_refused_in_every_message_that_names_one() {
    let job = JobId([3; 32]);
    let shard = ShardId {
        job,
        frame: 1,
        tile: 0,
    };
    let assignment = |attempt| {
        Message::Assignment(Assignment {
            shard,
            worker: creator().public(),
            attempt,
            assigned_by: creator().public(),
            deadline_ms: u64::MAX,
        })
    };
    let claimed = |attempt| {
        let mut c = claim();
        c.attempt = attempt;
        Message::Claim(c)
    };
    let certificate = |attempt: u32| {
        let mut c = claim();
        c.attempt = attempt;
        Message::Certificate(QuorumCertificate {
            vote: Vote {
                claim: c.id(),
                shard: c.shard,
                worker: c.worker,
                attempt,
                output: c.output,
                verdict: Verdict::Valid,
            },
            signatures: Vec::new(),
        })
    };
    for make in [
        &assignment as &dyn Fn(u32) -> Message,
        &claimed,
        &certificate,
    ] {
        assert_eq!(make(rules::MAX_ATTEMPT).validate(), Ok(()));
        for attempt in [rules::MAX_ATTEMPT + 1, u32::MAX] {
            let message = make(attempt);
            assert!(
                matches!(
                    message.validate(),
                    Err(EnvelopeError::TooLarge { value, .. }) if value == u64::from(attempt)
                ),
                "{message:?}"
            );
            let sealed = SignedEnvelope::seal(&creator(), NET, NOW, &message).to_bytes();
            assert!(SignedEnvelope::open(&sealed, NET, NOW, AGE).is_err());
        }
    }
}
