//! The node's JSON-RPC over real sockets: every method, the subscription, uploads and
//! their limits, bad requests and the token rules, against a devnet of processes.

mod common;

use std::time::{Duration, Instant};

use common::http::{call, request, result, Devnet};
use jsonrpsee_core::client::SubscriptionClientT as _;
use serde_json::{json, Value};

fn scene_bundle() -> Vec<u8> {
    let scene = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/scenes/cornell-box.gltf");
    pictor_gpu::SceneBundle::from_path(&scene)
        .expect("bundle")
        .to_bytes()
}

fn error_code(answer: &common::http::Answer) -> i64 {
    answer.json()["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("an error: {}", answer.json()))
}

fn upload(addr: &str, token: &str, bytes: &[u8]) -> String {
    let bearer = format!("Bearer {token}");
    let answer = request(
        addr,
        "POST",
        "/upload",
        &[("Authorization", &bearer)],
        bytes,
    );
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()["cid"].as_str().expect("cid").to_owned()
}

#[test]
fn every_method_over_http_and_websocket_with_the_token_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Devnet::up(&tmp.path().join("net"), 4, 2);
    let (addr, token) = net.creator();

    // What the node is and sees.
    let info = result(&addr, None, "node_info", json!({}));
    assert_eq!(info["network"], "devnet");
    assert_eq!(info["roles"], json!(["creator"]));
    assert!(info["listen"][0].as_str().unwrap().contains("/p2p/"));
    let peers = result(&addr, None, "node_peers", json!([]));
    let checkers = peers
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] == "checker")
        .count();
    assert_eq!(checkers, 4, "{peers}");
    let listed = result(&addr, None, "net_checkers", json!({}));
    assert_eq!(listed.as_array().unwrap().len(), 4);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["genesis"] == true && c["status"] != "offline"),
        "{listed}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let workers = loop {
        let w = result(&addr, None, "net_workers", json!({}));
        if w.as_array().unwrap().len() == 2
            && w.as_array()
                .unwrap()
                .iter()
                .all(|w| w["benchmark_msamples_per_s"].is_number())
        {
            break w;
        }
        assert!(
            Instant::now() < deadline,
            "two workers with their benchmark: {w}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(workers[0]["status"] == "idle", "{workers}");
    let gpu = result(&addr, None, "gpu_info", json!({}));
    assert!(gpu["cpu"]["logical_cores"].as_u64().unwrap() >= 1, "{gpu}");
    let diagnosis = result(&addr, None, "node_diagnose", json!({}));
    assert!(
        diagnosis["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["topic"] == "connection" && f["level"] == "ok"),
        "{diagnosis}"
    );
    let discover = result(&addr, None, "rpc.discover", json!({}));
    let names: Vec<&str> = discover["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for m in [
        "node_info",
        "job_submit",
        "job_subscribe",
        "net_workers",
        "gpu_info",
        "rpc.discover",
    ] {
        assert!(names.contains(&m), "{m} in {names:?}");
    }

    // Writes need the token; refused ones change nothing.
    let bundle = scene_bundle();
    let refused = request(&addr, "POST", "/upload", &[], &bundle);
    assert_eq!(refused.status, 401);
    let cid = upload(&addr, &token, &bundle);
    let job = json!({"scene_cid": cid, "frames": "1-2", "samples": 8});
    for bad in [None, Some("0000"), Some(&token[1..])] {
        let answer = call(&addr, bad, "job_submit", job.clone());
        assert_eq!(answer.status, 401, "token {bad:?}");
        assert_eq!(error_code(&answer), -32001);
    }
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "node_info"}, {"jsonrpc": "2.0", "id": 2, "method": "job_submit", "params": job}]).to_string();
    let answer = request(
        &addr,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        batch.as_bytes(),
    );
    assert_eq!(answer.status, 401, "a batch with a write needs the token");
    assert_eq!(
        result(&addr, None, "job_list", json!({})),
        json!([]),
        "nothing was submitted"
    );

    // Bad requests: an error each, the node unchanged.
    let garbage = request(
        &addr,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        b"{not json",
    );
    assert_eq!(error_code(&garbage), -32700);
    assert_eq!(
        error_code(&call(&addr, None, "job_nope", json!({}))),
        -32601
    );
    assert_eq!(
        error_code(&call(&addr, None, "job_status", json!({"job_id": 5}))),
        -32602
    );
    assert_eq!(
        error_code(&call(&addr, None, "job_status", json!({"job_id": "ab"}))),
        -32602
    );
    assert_eq!(
        error_code(&call(
            &addr,
            None,
            "job_status",
            json!({"job_id": "00".repeat(32)})
        )),
        -32002
    );
    assert_eq!(
        error_code(&call(
            &addr,
            Some(&token),
            "job_submit",
            json!({"frames": "1"})
        )),
        -32602,
        "no scene"
    );
    let missing = call(
        &addr,
        Some(&token),
        "job_submit",
        json!({"scene_path": "/nonexistent/scene.gltf"}),
    );
    assert_eq!(error_code(&missing), -32003);
    assert!(missing.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/scene.gltf"));
    let not_stored = call(
        &addr,
        Some(&token),
        "job_submit",
        json!({"scene_cid": "bafkr4ifm2j7bc622ufvc4fjs2a2o6pzr3oiuephqyiouqbjp6qxsevq32i"}),
    );
    assert!(
        not_stored.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upload"),
        "{}",
        not_stored.json()
    );
    assert_eq!(
        error_code(&call(
            &addr,
            Some(&token),
            "job_submit",
            json!({"scene_cid": cid, "frames": "4-1"})
        )),
        -32602
    );
    let huge = vec![b' '; 2 * 1024 * 1024];
    assert_eq!(
        request(
            &addr,
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            &huge
        )
        .status,
        413
    );
    let bearer = format!("Bearer {token}");
    let empty = request(&addr, "POST", "/upload", &[("Authorization", &bearer)], &[]);
    assert_eq!(empty.status, 400, "an empty upload is refused");
    let declared = (pictor_node::http::MAX_UPLOAD + 1).to_string();
    let over = request(
        &addr,
        "POST",
        "/upload",
        &[("Authorization", &bearer), ("Content-Length", &declared)],
        b"x",
    );
    assert_eq!(
        (over.status, error_code(&over)),
        (413, -32005),
        "an upload over the limit is refused before it is read"
    );
    assert_eq!(
        result(&addr, None, "job_list", json!({})),
        json!([]),
        "still nothing submitted"
    );

    // A job, followed over the WebSocket from submit to its end.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let events: Vec<Value> = runtime.block_on(async {
        let ws = jsonrpsee_ws_client::WsClientBuilder::default()
            .build(format!("ws://{addr}/"))
            .await
            .expect("ws");
        let mut all = ws
            .subscribe::<Value, _>(
                "job_subscribe",
                jsonrpsee_core::rpc_params![],
                "job_unsubscribe",
            )
            .await
            .expect("subscribe to every job");
        let id = result(&addr, Some(&token), "job_submit", job.clone())["job_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, all.next()).await {
            let event = event.expect("event");
            assert_eq!(event["job_id"], id);
            let end = event["kind"] == "finished";
            seen.push(event);
            if end {
                break;
            }
        }
        // A subscription to a finished job answers its status and ends.
        let mut one = ws
            .subscribe::<Value, _>(
                "job_subscribe",
                jsonrpsee_core::rpc_params![id.clone()],
                "job_unsubscribe",
            )
            .await
            .expect("subscribe to the job");
        let first = one.next().await.expect("an event").expect("ok");
        assert_eq!(
            (first["kind"].as_str(), first["state"].as_str()),
            (Some("status"), Some("complete"))
        );
        one.unsubscribe().await.expect("job_unsubscribe");
        let bad = ws
            .subscribe::<Value, _>(
                "job_subscribe",
                jsonrpsee_core::rpc_params!["00".repeat(32)],
                "job_unsubscribe",
            )
            .await;
        assert!(bad.is_err(), "an unknown job is refused");
        seen
    });
    let kinds = |k: &str| events.iter().filter(|e| e["kind"] == k).count();
    assert_eq!(kinds("finished"), 1, "{events:?}");
    assert_eq!(events.last().unwrap()["state"], "complete");
    assert_eq!(kinds("frame"), 2);
    assert!(kinds("assigned") >= 24 && kinds("rendered") >= 24 && kinds("attested") >= 24);
    assert_eq!(kinds("verified"), 24);
    let id = events[0]["job_id"].as_str().unwrap().to_owned();

    let status = result(&addr, None, "job_status", json!([id]));
    assert_eq!(
        (status["state"].as_str(), status["verified"].as_u64()),
        (Some("complete"), Some(24))
    );
    let frames = result(&addr, None, "job_frames", json!({"job_id": id}));
    let frames = frames["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 2);
    for f in frames {
        let cid = f["cid"].as_str().unwrap();
        let png = request(&addr, "GET", &format!("/file/{cid}?as=png"), &[], &[]);
        assert_eq!(
            (png.status, png.header("content-type")),
            (200, Some("image/png"))
        );
        assert!(png.body.starts_with(b"\x89PNG\r\n\x1a\n"));
        let (root, _) = pictor_ipfs::unixfs::import(
            png.body.clone().into(),
            pictor_ipfs::unixfs::DEFAULT_CHUNK_SIZE,
        )
        .unwrap();
        assert_eq!(
            root.to_string(),
            cid,
            "the file served is the one its CID names"
        );
        assert!(f["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/file/{cid}?as=png")));
    }
    assert_eq!(
        error_code(&call(
            &addr,
            Some(&token),
            "job_cancel",
            json!({"job_id": id})
        )),
        -32003,
        "a finished job cannot be cancelled"
    );
    let second = result(
        &addr,
        Some(&token),
        "job_submit",
        json!({"scene_cid": cid, "frames": "1-8", "samples": 64}),
    );
    let second = second["job_id"].as_str().unwrap();
    assert_eq!(
        error_code(&call(&addr, None, "job_cancel", json!({"job_id": second}))),
        -32001
    );
    let cancelled = result(&addr, Some(&token), "job_cancel", json!({"job_id": second}));
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(
        result(&addr, None, "job_status", json!({"job_id": second}))["state"],
        "cancelled"
    );
    assert_eq!(
        result(&addr, None, "job_list", json!({"state": "complete"}))
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Metrics: Prometheus text with Pictor's counters and libp2p's.
    let metrics = request(&addr, "GET", "/metrics", &[], &[]);
    let text = String::from_utf8_lossy(&metrics.body);
    assert_eq!(metrics.status, 200);
    assert!(text.contains("pictor_shards_verified_total"), "{text}");
    assert!(text.contains("pictor_claim_to_certificate_seconds_count"));
    assert!(text.contains("libp2p_"));
    let verified: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("pictor_shards_verified_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a count");
    assert!(verified >= 24.0, "{verified}");
}
