//! Entry points for the fuzz targets in `fuzz/`, public only for them (hidden from the
//! docs); a node never calls them.

use std::{sync::Arc, time::Instant};

use crate::{rpc, Client};

/// Answers one JSON-RPC request text with every method of the node's RPC, as a caller
/// without the token: parameters are parsed and checked as for a running node, and a call
/// that reaches the node is answered "shutting down" (there is no node behind it). `None`
/// where the text is not a JSON-RPC request at all (the server answers a parse error).
pub fn rpc_call(body: &str) -> Option<String> {
    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok();
    }
    RUNTIME.with(|runtime| {
        let runtime = runtime.as_ref()?;
        runtime.block_on(async {
            let (commands, _) = tokio::sync::mpsc::channel(1);
            let (events, _) = tokio::sync::broadcast::channel(1);
            let client = Client { commands, events };
            let info = rpc::NodeInfo {
                network: "fuzz".into(),
                roles: vec!["creator".into()],
                home: std::env::temp_dir().join("pictor-fuzz-home"),
                http: "http://127.0.0.1:0".into(),
                started: Instant::now(),
                started_ms: 0,
            };
            let store = Arc::new(pictor_ipfs::MemoryBlockstore::default());
            let module = rpc::module(client, info, store);
            let (answer, _) = module.raw_json_request(body, 1).await.ok()?;
            Some(answer.get().to_owned())
        })
    })
}

/// Checks one gossip message as a node's validator does: the envelope opened at the time it
/// says it was issued (so that the signature decides), then every rule that needs the
/// node's ledger, with a genesis set of the keys the message itself names (its signer, the
/// signers of a certificate it carries), so that their signatures are what is checked.
/// The refusal's reason where it is refused.
pub fn gossip(data: &[u8]) -> Result<(), String> {
    use pictor_protocol::{Ledger, Message, SignedEnvelope};

    use crate::validation::{Checked, Rules, SharedLedger};

    let envelope = SignedEnvelope::decode(data).map_err(|e| e.to_string())?;
    let mut set = vec![envelope.signer];
    if let Ok(message) =
        pictor_protocol::decode::<Message>(&envelope.body, pictor_protocol::MAX_GOSSIP_SIZE)
    {
        match message {
            Message::Certificate(qc) => set.extend(qc.signers().copied()),
            Message::Decision(d) => set.extend(d.signatures.iter().map(|(k, _)| *k)),
            _ => {}
        }
    }
    set.sort();
    set.dedup();
    set.truncate(pictor_protocol::governance::MAX_CHECKERS);
    let rules = Rules {
        network: envelope.network.clone(),
        ledger: SharedLedger::new(Ledger::new(&envelope.network, set, 4)),
        max_age_ms: 10 * 60 * 1000,
        checked: Checked::new(),
        canary_rate_ppm: 100_000,
        faucet: None,
    };
    let mut results = rules.check_batch(&[data], envelope.issued_ms);
    match results.pop() {
        Some((Ok(_), _)) => Ok(()),
        Some((Err(refusal), _)) => Err(refusal.reason),
        None => Err("no answer".into()),
    }
}
