//! The trustless gateway over real HTTP/1.1 on loopback, requests written by hand.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use pictor_ipfs::{gateway, raw_cid, Block, Blockstore, MemoryBlockstore};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

async fn start(blocks: &[Block]) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let store = Arc::new(MemoryBlockstore::new());
    for block in blocks {
        store.put(block).expect("memory store");
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    (addr, tokio::spawn(gateway::serve(listener, store)))
}

async fn request(addr: SocketAddr, method: &str, target: &str, headers: &[&str]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut text =
        format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8(raw[..end].to_vec()).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}

fn sample() -> Block {
    Block::raw(bytes::Bytes::from_static(b"a block served by CID")).expect("small")
}

#[tokio::test]
async fn serves_a_raw_block_with_the_trustless_headers() {
    let block = sample();
    let (addr, _server) = start(std::slice::from_ref(&block)).await;
    let cid = block.cid().to_string();
    for (target, headers) in [
        (
            format!("/ipfs/{cid}"),
            vec!["Accept: application/vnd.ipld.raw"],
        ),
        (format!("/ipfs/{cid}?format=raw"), vec![]),
        (
            format!("/ipfs/{cid}"),
            vec!["Accept: application/vnd.ipld.car;q=0.9, application/vnd.ipld.raw"],
        ),
    ] {
        let reply = request(addr, "GET", &target, &headers).await;
        assert_eq!(reply.status, 200, "{target}");
        assert_eq!(reply.body, block.data().as_ref());
        let h = &reply.headers;
        assert_eq!(h["content-type"], "application/vnd.ipld.raw");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "public, max-age=29030400, immutable");
        assert_eq!(h["etag"], format!("\"{cid}.raw\""));
        assert_eq!(h["content-length"], block.data().len().to_string());
        assert_eq!(
            h["content-disposition"],
            format!("attachment; filename=\"{cid}.bin\"")
        );
    }
}

#[tokio::test]
async fn head_has_the_headers_and_no_body() {
    let block = sample();
    let (addr, _server) = start(std::slice::from_ref(&block)).await;
    let reply = request(
        addr,
        "HEAD",
        &format!("/ipfs/{}?format=raw", block.cid()),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
    assert_eq!(
        reply.headers["content-length"],
        block.data().len().to_string()
    );
    assert_eq!(reply.headers["content-type"], "application/vnd.ipld.raw");
    assert_eq!(reply.headers["etag"], format!("\"{}.raw\"", block.cid()));
}

#[tokio::test]
async fn error_statuses() {
    let block = sample();
    let (addr, _server) = start(std::slice::from_ref(&block)).await;
    let cid = block.cid().to_string();
    let unknown = raw_cid(b"not stored").to_string();
    let cases: Vec<(&str, String, Vec<&str>, u16)> = vec![
        ("GET", format!("/ipfs/{unknown}?format=raw"), vec![], 404),
        ("HEAD", format!("/ipfs/{unknown}?format=raw"), vec![], 404),
        ("GET", "/ipfs/not-a-cid?format=raw".into(), vec![], 400),
        ("GET", format!("/ipfs/{cid}"), vec![], 406),
        ("GET", format!("/ipfs/{cid}?format=car"), vec![], 406),
        (
            "GET",
            format!("/ipfs/{cid}?format=car"),
            vec!["Accept: application/vnd.ipld.raw"],
            406,
        ),
        ("GET", format!("/ipfs/{cid}"), vec!["Accept: */*"], 406),
        (
            "GET",
            format!("/ipfs/{cid}/some/path?format=raw"),
            vec![],
            400,
        ),
        ("GET", "/".into(), vec![], 404),
        ("GET", format!("/ipns/{cid}"), vec![], 404),
        ("POST", format!("/ipfs/{cid}?format=raw"), vec![], 405),
        ("DELETE", format!("/ipfs/{cid}"), vec![], 405),
    ];
    for (method, target, headers, status) in cases {
        let reply = request(addr, method, &target, &headers).await;
        assert_eq!(reply.status, status, "{method} {target} {headers:?}");
        if method != "HEAD" {
            let body = String::from_utf8(reply.body).expect("text body");
            assert_eq!(body.lines().count(), 1, "one-line body: {body:?}");
        }
        if status == 406 {
            let body = request(addr, method, &target, &headers).await.body;
            let body = String::from_utf8(body).expect("text body");
            assert!(body.contains("application/vnd.ipld.raw"), "{body}");
        }
        if status == 405 {
            assert_eq!(reply.headers["allow"], "GET, HEAD");
        }
    }
}

#[tokio::test]
async fn the_probe_cid_and_conditional_requests() {
    let block = sample();
    let (addr, _server) = start(std::slice::from_ref(&block)).await;
    let probe = request(addr, "GET", "/ipfs/bafkqaaa?format=raw", &[]).await;
    assert_eq!(probe.status, 200);
    assert!(probe.body.is_empty());
    let etag = format!("If-None-Match: \"{}.raw\"", block.cid());
    let cached = request(
        addr,
        "GET",
        &format!("/ipfs/{}?format=raw", block.cid()),
        &[&etag],
    )
    .await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
}
