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
