//! The HTTP port's limits per client, over real sockets against a `pictor node` process:
//! a client over its rate, over its uploads in flight, over its connections, and the cap
//! on uploads from all clients. Each client is another loopback address (127.0.0.0/8 all
//! reaches the node's port on 127.0.0.1), so the tests run the loopback limits, set low
//! in the node's `config.toml`.

mod common;

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    path::PathBuf,
    time::{Duration, Instant},
};

use common::http::{connect_from, parse, request_from, Answer, NodeProcess};
use serde_json::{json, Value};

/// A creator node with these loopback limits; the guard stops it.
struct Node {
    _process: NodeProcess,
    _dir: tempfile::TempDir,
    addr: String,
    token: String,
}

fn start(limits: &str) -> Node {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let home: PathBuf = dir.path().join("home");
    let h = home.to_str().expect("a UTF-8 path");
    let (code, _, err) = common::pictor(&["init", "--home", h]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(
        home.join("config.toml"),
        format!(
            "role = \"creator\"\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nhttp = \"127.0.0.1:0\"\n\n[http_limits]\n{limits}"
        ),
    )
    .expect("config.toml");
    let process = NodeProcess::start(&home, &["--home", h, "-q"]);
    let runtime: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("node.json")).expect("node.json"))
            .expect("JSON");
    let token = std::fs::read_to_string(home.join("rpc.token")).expect("rpc.token");
    Node {
        _process: process,
        _dir: dir,
        addr: runtime["http"].as_str().expect("http").to_owned(),
        token: token.trim().to_owned(),
    }
}

fn node_info(from: [u8; 4], addr: &str) -> Answer {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "node_info", "params": {}});
    request_from(
        from,
        addr,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
}

/// A 429 as documented: `Retry-After` in whole seconds, the JSON-RPC error -32029 and a
/// message that says which limit; returns the seconds to wait.
fn assert_refused(answer: &Answer, says: &str) -> u64 {
    assert_eq!(
        answer.status,
        429,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let wait: u64 = answer
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(wait >= 1, "{wait}");
    let error = &answer.json()["error"];
    assert_eq!(error["code"], -32029, "{error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{message:?} should say {says:?}");
    wait
}

/// Starts an upload of `len` bytes from `from` and waits until the node has taken it on
/// (it answers `100 Continue` when it starts reading the body), leaving it open.
fn hold_upload(from: [u8; 4], node: &Node, len: usize) -> TcpStream {
    let mut stream = connect_from(from, &node.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Length: {len}\r\nExpect: 100-continue\r\n\r\n",
        node.addr, node.token
    );
    stream.write_all(head.as_bytes()).expect("write");
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("an interim answer");
        interim.push(byte[0]);
    }
    let interim = String::from_utf8_lossy(&interim);
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream
}

/// Sends the body of a held upload and reads the answer.
fn finish_upload(mut stream: TcpStream, body: &[u8]) -> Answer {
    stream.write_all(body).expect("write the body");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse(&raw)
}

fn upload_from(from: [u8; 4], node: &Node, body: &[u8]) -> Answer {
    let bearer = format!("Bearer {}", node.token);
    request_from(
        from,
        &node.addr,
        "POST",
        "/upload",
        &[("Authorization", &bearer)],
        body,
    )
}

#[test]
fn a_client_over_its_rate_is_told_to_wait_while_another_is_served() {
    let node = start("local_rate_per_client = 1\nlocal_burst_per_client = 10\n");
    let (a, b) = ([127, 0, 0, 2], [127, 0, 0, 3]);

    // The burst is served, then the client is refused (a token a second comes back
    // meanwhile, so a few more may pass).
    let mut served = 0;
    let refused = loop {
        let answer = node_info(a, &node.addr);
        if answer.status != 200 {
            break answer;
        }
        served += 1;
        assert!(served < 100, "never refused");
    };
    assert!(served >= 10, "the burst of 10 is served, got {served}");
    let wait = assert_refused(
        &refused,
        "too many requests: a client may make 1 per second",
    );

    // Every path counts, a WebSocket's upgrade request too.
    let metrics = request_from(a, &node.addr, "GET", "/metrics", &[], &[]);
    assert_refused(&metrics, "too many requests");
    let upgrade = request_from(
        a,
        &node.addr,
        "GET",
        "/",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
        &[],
    );
    assert_refused(&upgrade, "too many requests");

    // Another client has a bucket of its own.
    let other = node_info(b, &node.addr);
    assert_eq!(other.status, 200);
    assert_eq!(other.json()["result"]["roles"], json!(["creator"]));

    // After the wait it was told, the first client is served again.
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(100));
    assert_eq!(node_info(a, &node.addr).status, 200);
}

#[test]
fn a_client_holding_its_uploads_open_is_refused_the_next_and_all_uploads_are_bounded() {
    let node = start("uploads_per_client = 2\n");
    let (c, d, e) = ([127, 0, 0, 4], [127, 0, 0, 5], [127, 0, 0, 6]);
    let file = b"a file of twenty-four b";

    // Two uploads in flight from one client: a third is refused.
    let first = hold_upload(c, &node, file.len());
    let _second = hold_upload(c, &node, file.len());
    let third = upload_from(c, &node, file);
    assert_refused(&third, "a client may have 2 in flight at once");

    // Two more from another client fill the node's 4; a third client is refused too.
    let _others = [hold_upload(d, &node, 10), hold_upload(d, &node, 10)];
    let all = upload_from(e, &node, file);
    assert_refused(&all, "this node takes 4 at once from all clients");

    // The first upload completes; its place is free again.
    let done = finish_upload(first, file);
    assert_eq!(done.status, 200, "{}", String::from_utf8_lossy(&done.body));
    assert!(done.json()["cid"]
        .as_str()
        .is_some_and(|c| c.starts_with("baf")));
    let again = upload_from(c, &node, file);
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    assert_eq!(again.json()["cid"], done.json()["cid"]);
}

#[test]
fn a_client_over_its_connections_is_refused_until_it_closes_one() {
    let node = start("connections_per_client = 3\n");
    let f = [127, 0, 0, 7];
    let mut open: Vec<TcpStream> = (0..3).map(|_| connect_from(f, &node.addr)).collect();
    let refused = node_info(f, &node.addr);
    assert_refused(&refused, "a client may hold 3 open at once");
    assert_eq!(node_info([127, 0, 0, 8], &node.addr).status, 200);

    // Once the client closes one (the node sees it go), it is served again.
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = node_info(f, &node.addr);
        if answer.status == 200 {
            break;
        }
        assert_refused(&answer, "open at once");
        assert!(
            Instant::now() < deadline,
            "still refused after a closed connection"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_call_over_a_websocket_counts_against_its_client() {
    use jsonrpsee_core::client::ClientT as _;
    let node = start("local_rate_per_client = 1\nlocal_burst_per_client = 10\n");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (served, error, later) = runtime.block_on(async {
        let ws = jsonrpsee_ws_client::WsClientBuilder::default()
            .build(format!("ws://{}/", node.addr))
            .await
            .expect("a WebSocket");
        let info = || ws.request::<Value, _>("node_info", jsonrpsee_core::rpc_params![]);
        let mut served = 0;
        let error = loop {
            match info().await {
                Ok(_) => served += 1,
                Err(e) => break e.to_string(),
            }
            assert!(served < 100, "never refused");
        };
        // The same client over HTTP shares the bucket.
        let http = common::http::call(&node.addr, None, "node_info", json!({}));
        assert_refused(&http, "too many requests");
        // The connection stays open: after a second (a token), its calls go on.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        (served, error, info().await)
    });
    // The upgrade request took one of the burst of 10.
    assert!(served >= 9, "the burst is served, got {served}");
    assert!(
        error.contains("-32029") && error.contains("too many requests"),
        "{error}"
    );
    assert_eq!(
        later.map(|info| info["roles"].clone()).ok(),
        Some(json!(["creator"]))
    );
}

#[test]
fn each_call_of_a_batch_counts_against_its_client() {
    let node = start("local_rate_per_client = 1\nlocal_burst_per_client = 10\n");
    let (a, b) = ([127, 0, 0, 4], [127, 0, 0, 5]);
    let batch: Vec<Value> = (0..30)
        .map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "node_info", "params": {}}))
        .collect();
    let answer = request_from(
        a,
        &node.addr,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        Value::Array(batch).to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200);
    let answers = answer.json();
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 30, "every call is answered");
    let served = answers.iter().filter(|a| a["result"].is_object()).count();
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|a| a["error"]["code"] == -32029)
        .collect();
    // The burst of 10 (a token a second may come back meanwhile), then refusals.
    assert!((10..=12).contains(&served), "served {served} of 30");
    assert_eq!(served + refused.len(), 30);
    let message = refused[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("too many requests"), "{message}");

    // The batch spent the client's burst: its next request waits; another client does not.
    assert_refused(&node_info(a, &node.addr), "too many requests");
    assert_eq!(node_info(b, &node.addr).status, 200);
}
