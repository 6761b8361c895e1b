//! What each fuzz target checks, as plain functions of the input bytes.
//!
//! Every decoder that reads input from outside has a target here: gossip envelopes and
//! every message kind, the request-response codec, capability records, Bitswap frames,
//! UnixFS DAGs, uploads, the scene loader (glTF, GLB, bundles), textures, Blender's result
//! images, the network spec, a home's config and the RPC. A check panics when a property
//! fails (that is what libFuzzer reports); an input the decoder refuses is fine, as long as
//! the refusal is an error.
//!
//! Two callers: the libFuzzer targets in `fuzz/targets/` (nightly, `scripts/fuzz.sh`), and
//! `tests/corpus.rs`, which runs every seed and every saved crash through the same
//! function on stable.

use std::sync::Arc;

use bytes::Bytes;
use pictor_protocol::{
    codec, open_batch, CapabilityRecord, ContentId, Ledger, Message, Request, Response,
    SignedEnvelope, MAX_GOSSIP_SIZE, MAX_RESPONSE_SIZE,
};

mod scene;

pub use scene::{blender_png, scene_bundle, scene_gltf, texture};

/// A target's check of one input.
pub type Check = fn(&[u8]);

/// Every target: its name (the folder of its corpus) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("envelope", envelope),
    ("message", message),
    ("request", request),
    ("response", response),
    ("capability", capability),
    ("bitswap", bitswap),
    ("unixfs", unixfs),
    ("upload", upload),
    ("scene_gltf", scene_gltf),
    ("scene_bundle", scene_bundle),
    ("texture", texture),
    ("blender_png", blender_png),
    ("network_spec", network_spec),
    ("home_config", home_config),
    ("rpc", rpc),
];

/// How old an envelope may be when opened (as a node's default).
const MAX_AGE_MS: u64 = 10 * 60 * 1000;

/// A gossip message as it arrives: the envelope decodes strictly (a decoded envelope
/// re-encodes to the same bytes), and opening it alone or in a batch gives the same answer,
/// at the time it says it was issued (so that the signature is what decides).
pub fn envelope(data: &[u8]) {
    let Ok(env) = SignedEnvelope::decode(data) else {
        return;
    };
    assert_eq!(
        env.to_bytes(),
        data,
        "a decoded envelope re-encodes differently"
    );
    let now = env.issued_ms;
    let one = SignedEnvelope::open(data, &env.network, now, MAX_AGE_MS);
    let batch = open_batch(&[data, data], &env.network, now, MAX_AGE_MS);
    for b in &batch {
        assert_eq!(b, &one, "open and open_batch disagree");
    }
    let opened = one.is_ok();
    if let Ok((signer, message)) = one {
        assert_eq!(signer, env.signer);
        assert_eq!(message.kind(), env.kind);
        check_message(&message);
    }
    // The node's own rules come after the envelope's: nothing the envelope refuses passes.
    let node = pictor_node::fuzzing::gossip(data);
    assert!(
        opened || node.is_err(),
        "the node took an envelope that does not open"
    );
}

/// An envelope's body: any message kind, strictly decoded, re-encoding to the same bytes,
/// with its own bounds checked and its signatures verified where it carries some.
pub fn message(data: &[u8]) {
    let Ok(decoded) = codec::decode::<Message>(data, MAX_GOSSIP_SIZE) else {
        return;
    };
    assert_eq!(
        codec::encode(&decoded),
        data,
        "a message re-encodes differently"
    );
    if decoded.validate().is_ok() {
        check_message(&decoded);
    }
}

/// What a node does next with an opened message that carries signatures of its own.
fn check_message(message: &Message) {
    const NETWORK: &str = "devnet";
    match message {
        Message::Attestation(a) => {
            let _ = a.verify(NETWORK);
        }
        Message::Certificate(qc) => {
            let committee: Vec<_> = qc.signers().copied().collect();
            let _ = qc.verify(NETWORK, &committee);
        }
        Message::Decision(d) => {
            // A ledger whose genesis set is exactly the signers: the certificate's own
            // signatures decide.
            let set: Vec<_> = d.signatures.iter().map(|(k, _)| *k).collect();
            let mut ledger = Ledger::new(NETWORK, set, 4);
            let _ = ledger.apply(d);
        }
        Message::Evidence(e) => {
            let mut ledger = Ledger::new(NETWORK, Vec::new(), 4);
            let _ = ledger.apply_evidence(e);
        }
        Message::Application(a) => {
            let _ = a.verify(NETWORK);
        }
        Message::Credits(c) => credits(c),
        _ => {}
    }
}

/// The signature checks of a credits message, against a set made of its own signers.
fn credits(c: &pictor_protocol::credits::CreditMessage) {
    const NETWORK: &str = "devnet";
    use pictor_protocol::credits::CreditMessage as C;
    match c {
        C::Transfer(t) => {
            let _ = t.verify(NETWORK);
        }
        C::TransferVote(v) => {
            let _ = v.verify(NETWORK);
        }
        C::TransferCertificate(cert) => {
            let set: Vec<_> = cert.signatures.iter().map(|(k, _)| *k).collect();
            let _ = cert.verify(NETWORK, &set);
        }
        C::Mint(m) => {
            let _ = m.verify(NETWORK, &m.mint.to);
        }
        C::MintVote(v) => {
            let _ = v.verify(NETWORK);
        }
        C::MintCertificate(cert) => {
            let set: Vec<_> = cert.signatures.iter().map(|(k, _)| *k).collect();
            let _ = cert.verify(NETWORK, &cert.mint.mint.to, &set);
        }
        C::EscrowVote(v) => {
            let _ = v.verify(NETWORK);
        }
        C::EscrowCertificate(cert) => {
            let _ = cert.verify(NETWORK, &cert.order.committee);
        }
        C::FaucetRequest { .. } | C::EscrowClose(_) => {}
    }
}

/// A point-to-point request: strict, and re-encodes to the same bytes.
pub fn request(data: &[u8]) {
    if let Ok(r) = Request::from_bytes(data) {
        assert_eq!(r.to_bytes(), data, "a request re-encodes differently");
    }
}

/// A point-to-point response: strict, re-encodes to the same bytes, and a rows proof is
/// checked as a checker checks it.
pub fn response(data: &[u8]) {
    let Ok(r) = codec::decode::<Response>(data, MAX_RESPONSE_SIZE) else {
        return;
    };
    assert_eq!(codec::encode(&r), data, "a response re-encodes differently");
    if let Response::Rows(proof) = &r {
        let rows: Vec<u32> = proof.rows.iter().map(|p| p.row).collect();
        let root = ContentId::of(&proof.header);
        for (width, height) in [(64, 64), (1, 1), (u32::MAX, u32::MAX)] {
            let _ = pictor_protocol::verify_rows(&root, width, height, &rows, proof);
        }
    }
}

/// A worker's capability record: strict, re-encodes to the same bytes, validated.
pub fn capability(data: &[u8]) {
    if let Ok(record) = CapabilityRecord::decode(data) {
        assert_eq!(
            record.to_bytes(),
            data,
            "a capability record re-encodes differently"
        );
        let _ = record.validate();
        let _ = record.benchmark_msamples_per_s();
    }
}

/// One Bitswap frame from a peer, applied to a node serving a few blocks: the message
/// reads back after encoding, and the peer's queued wants stay within their limit.
pub fn bitswap(data: &[u8]) {
    let store = pictor_ipfs::MemoryBlockstore::new();
    for block in [&b"a block"[..], &[0u8; 1000][..]] {
        if let Ok(b) = pictor_ipfs::Block::raw(Bytes::copy_from_slice(block)) {
            let _ = pictor_ipfs::Blockstore::put(&store, &b);
        }
    }
    if let Ok(outcome) = pictor_ipfs::fuzzing::bitswap_frame(data, Arc::new(store)) {
        assert!(
            outcome.peer_wants <= outcome.max_peer_wants as u64,
            "a peer queued {} wants, over the limit of {}",
            outcome.peer_wants,
            outcome.max_peer_wants
        );
    }
}

/// The largest file the UnixFS targets export.
const EXPORT_LIMIT: u64 = 1 << 20;

/// A UnixFS file's blocks (each a 2-byte little-endian length, then the block; the first
/// is the root, dag-pb unless the input starts with an odd byte) exported with a size
/// limit: the result never exceeds it and every fault is an error.
pub fn unixfs(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut blocks = Vec::new();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let take = len.min(body.len());
        blocks.push(Bytes::copy_from_slice(&body[..take]));
        rest = &body[take..];
    }
    let Some(first) = blocks.first() else {
        return;
    };
    let codec = if mode % 2 == 1 {
        pictor_ipfs::RAW_CODEC
    } else {
        pictor_ipfs::DAG_PB_CODEC
    };
    let root = pictor_ipfs::blake3_cid(codec, first);
    if let Ok(file) = pictor_ipfs::fuzzing::unixfs_export(root, blocks, EXPORT_LIMIT) {
        assert!(
            file.len() as u64 <= EXPORT_LIMIT,
            "an export over its limit"
        );
    }
}

/// An upload: any bytes imported as a UnixFS file read back the same.
pub fn upload(data: &[u8]) {
    // Small chunks (16 to 1 024 bytes), so that small inputs make trees of two levels or
    // more (174 links a node).
    let chunk = 16 * (1 + usize::from(data.first().copied().unwrap_or(0) % 64));
    let (root, blocks) = match pictor_ipfs::unixfs::import(Bytes::copy_from_slice(data), chunk) {
        Ok(imported) => imported,
        Err(e) => panic!("importing {} bytes failed: {e}", data.len()),
    };
    let store = pictor_ipfs::MemoryBlockstore::new();
    for b in &blocks {
        let _ = pictor_ipfs::Blockstore::put(&store, b);
    }
    let back = futures_block_on(pictor_ipfs::unixfs::export(&store, root, u64::MAX));
    match back {
        Ok(bytes) => assert_eq!(&bytes[..], data, "an upload reads back differently"),
        Err(e) => panic!("an imported file does not export: {e}"),
    }
}

fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    pictor_ipfs::fuzzing::block_on(f)
}

/// A network spec file: one-line errors, and a spec that parses writes back to a file that
/// parses to the same spec.
pub fn network_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match pictor_node::NetworkSpec::from_toml(text) {
        Ok(spec) => {
            let written = match spec.to_toml() {
                Ok(t) => t,
                Err(e) => panic!("a parsed spec does not write: {e}"),
            };
            match pictor_node::NetworkSpec::from_toml(&written) {
                Ok(again) => assert_eq!(again, spec, "a spec changes when written and read"),
                Err(e) => panic!("a written spec does not parse: {e}\n{written}"),
            }
            let _ = spec.params();
        }
        Err(e) => one_line(&e.to_string()),
    }
}

/// A home's `config.toml`: one-line errors, and a config that parses writes back the same.
pub fn home_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match pictor_node::home::HomeConfig::from_toml(text, "config.toml") {
        Ok(config) => {
            let written = config.to_toml();
            match pictor_node::home::HomeConfig::from_toml(&written, "config.toml") {
                Ok(again) => assert_eq!(again, config, "a config changes when written and read"),
                Err(e) => panic!("a written config does not parse: {e}\n{written}"),
            }
        }
        Err(e) => one_line(&e.to_string()),
    }
}

/// A JSON-RPC request to every method of the node: always a JSON-RPC 2.0 answer.
pub fn rpc(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(answer) = pictor_node::fuzzing::rpc_call(text) {
        let value: serde_json::Value = match serde_json::from_str(&answer) {
            Ok(v) => v,
            Err(e) => panic!("an RPC answer is not JSON ({e}): {answer}"),
        };
        assert_eq!(value["jsonrpc"], "2.0", "not a JSON-RPC answer: {answer}");
        assert!(
            value.get("result").is_some() != value.get("error").is_some(),
            "an answer has both or neither of result and error: {answer}"
        );
    }
}

/// An error a user reads is one line.
fn one_line(message: &str) {
    assert!(
        !message.trim_end().contains('\n'),
        "an error spans lines: {message:?}"
    );
}
