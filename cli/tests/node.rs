//! `pictor init` and `pictor node` as a user runs them: real processes on loopback.

mod common;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::{pictor, running::Running};

fn one_line_error(code: i32, stderr: &str, mentions: &[&str]) {
    assert_ne!(code, 0, "non-zero exit: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr:?}");
    for m in mentions {
        assert!(lines[0].contains(m), "{:?} should mention {m:?}", lines[0]);
    }
}

fn init(home: &Path) -> String {
    let (code, out, err) = pictor(&["init", "--home", home.to_str().expect("a UTF-8 path")]);
    assert_eq!(code, 0, "{err}");
    out
}

/// The node's runtime file, once it is written.
fn runtime(home: &Path) -> serde_json::Value {
    let path = home.join("node.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return serde_json::from_str(&text).expect("node.json is JSON");
        }
        assert!(
            Instant::now() < deadline,
            "no node.json in {}",
            home.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn node_args(home: &Path) -> Vec<String> {
    [
        "node",
        "--home",
        home.to_str().expect("a UTF-8 path"),
        "--role",
        "checker",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--http",
        "127.0.0.1:0",
    ]
    .map(String::from)
    .to_vec()
}

fn start_node(home: &Path) -> Running {
    let args = node_args(home);
    Running::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn init_makes_a_home_and_a_second_init_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let out = init(&home);
    let secret = std::fs::read_to_string(home.join("node.key")).unwrap();
    assert!(!out.contains(secret.trim()), "the secret is never printed");
    assert!(
        out.contains("peer id") && out.contains("public key"),
        "{out}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.join("node.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(home.join("db").is_dir());
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    for key in [
        "listen",
        "http",
        "role",
        "bootnodes",
        "job_retention",
        "log",
    ] {
        assert!(config.contains(&format!("\n{key} = ")), "{key} in {config}");
    }
    let spec = std::fs::read_to_string(home.join("network.toml")).unwrap();
    assert!(spec.contains("id = \"devnet\""), "{spec}");

    let files: Vec<PathBuf> = ["node.key", "config.toml", "network.toml"]
        .iter()
        .map(|f| home.join(f))
        .collect();
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let again = init(&home);
    assert!(
        again.contains("already") && again.contains("nothing changed"),
        "{again}"
    );
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(before, after, "byte-identical");
}

#[test]
fn node_without_init_is_one_line_telling_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("never");
    let (code, _, err) = pictor(&["node", "--home", home.to_str().expect("a UTF-8 path")]);
    one_line_error(code, &err, &["pictor init", "never"]);
    assert!(!home.exists(), "nothing made");
}

#[test]
fn node_runs_until_sigterm_and_keeps_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    init(&home);
    let mut node = start_node(&home);
    let info = runtime(&home);
    assert_eq!(info["pid"], node.0.id());
    let peer = info["peer_id"].as_str().unwrap().to_owned();
    let listen = info["listen"][0].as_str().unwrap();
    assert!(
        listen.starts_with("/ip4/127.0.0.1/tcp/") && listen.ends_with(&peer),
        "{info}"
    );
    assert!(
        info["http"]
            .as_str()
            .is_some_and(|h| h.starts_with("127.0.0.1:")),
        "{info}"
    );
    assert_eq!(info["roles"], serde_json::json!(["checker"]));

    // A second node on the same home is refused in one line, and leaves the first alone.
    let args = node_args(&home);
    let (code, _, err) = pictor(&args.iter().map(String::as_str).collect::<Vec<_>>());
    one_line_error(code, &err, &["in use"]);
    assert!(home.join("node.json").exists());

    assert_eq!(node.terminate(), 0, "exit 0 on SIGTERM");
    assert!(!home.join("node.json").exists(), "node.json removed");

    let mut again = start_node(&home);
    assert_eq!(
        runtime(&home)["peer_id"],
        peer,
        "same identity after a restart"
    );
    assert_eq!(again.terminate(), 0);
}

#[test]
fn bad_spec_or_config_is_one_line_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    init(&home);
    let spec = dir.path().join("bad.toml");
    std::fs::write(&spec, "[params]\ncommittee_size = 0\n").unwrap();
    let mut args = node_args(&home);
    args.extend([
        "--network".into(),
        spec.to_str().expect("a UTF-8 path").into(),
    ]);
    let (code, _, err) = pictor(&args.iter().map(String::as_str).collect::<Vec<_>>());
    one_line_error(
        code,
        &err,
        &[
            "bad.toml, line 2, column 18, key `params.committee_size`",
            "at least 1",
        ],
    );

    let other = dir.path().join("other");
    let (code, _, err) = pictor(&[
        "init",
        "--home",
        other.to_str().expect("a UTF-8 path"),
        "--network",
        spec.to_str().expect("a UTF-8 path"),
    ]);
    one_line_error(code, &err, &["bad.toml, line 2"]);
    assert!(!other.exists(), "nothing made");

    let config = home.join("config.toml");
    std::fs::write(&config, "role = \"boss\"\n").unwrap();
    let (code, _, err) = pictor(&["node", "--home", home.to_str().expect("a UTF-8 path")]);
    one_line_error(
        code,
        &err,
        &["config.toml, line 1, column 8, key `role`", "unknown role"],
    );
}

#[test]
fn a_worker_below_the_requirements_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    init(&home);
    let spec = std::fs::read_to_string(home.join("network.toml")).unwrap();
    let strict = dir.path().join("strict.toml");
    let (head, _) = spec
        .split_once("[requirements]")
        .expect("a requirements table");
    std::fs::write(
        &strict,
        format!("{head}[requirements]\nengines = [\"no-such-engine\"]\n"),
    )
    .unwrap();
    let mut args = node_args(&home);
    args[4] = "worker".into();
    args.extend([
        "--network".into(),
        strict.to_str().expect("a UTF-8 path").into(),
    ]);
    let (code, _, err) = pictor(&args.iter().map(String::as_str).collect::<Vec<_>>());
    one_line_error(code, &err, &["does not meet", "no-such-engine"]);
    assert!(!home.join("node.json").exists());
}

/// Everything a running node writes on stderr, read as it comes (a full pipe would stall
/// the node).
fn stderr_of(node: &mut Running) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead;
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let pipe = node.0.stderr.take().expect("stderr is piped");
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut text = sink.lock().expect("the log is readable");
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

#[test]
fn a_node_of_another_network_is_told_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    init(&ours);
    init(&theirs);
    let spec_path = theirs.join("network.toml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    assert!(spec.contains("id = \"devnet\""), "{spec}");
    std::fs::write(
        &spec_path,
        spec.replace("id = \"devnet\"", "id = \"othernet\""),
    )
    .unwrap();

    let mut first = start_node(&ours);
    let first_log = stderr_of(&mut first);
    let bootnode = runtime(&ours)["listen"][0].as_str().unwrap().to_owned();
    let mut args = node_args(&theirs);
    args.extend(["--bootnode".to_owned(), bootnode]);
    let mut second = Running::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let second_log = stderr_of(&mut second);

    let told = |log: &std::sync::Arc<std::sync::Mutex<String>>| -> Option<String> {
        let text = log.lock().unwrap();
        text.lines()
            .find(|l| l.contains("is not a node of this network"))
            .map(str::to_owned)
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let (line_first, line_second) = loop {
        if let (Some(a), Some(b)) = (told(&first_log), told(&second_log)) {
            break (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "not told:\n{}\n---\n{}",
            first_log.lock().unwrap(),
            second_log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Each side names both networks and what to check.
    for line in [&line_first, &line_second] {
        assert!(
            line.contains("`devnet`") && line.contains("`othernet`") && line.contains("--network"),
            "{line}"
        );
    }
    assert!(
        line_second.contains("this node on `othernet`"),
        "{line_second}"
    );
    // Told once, however often the bootnode is dialled again.
    std::thread::sleep(Duration::from_secs(2));
    let count = second_log
        .lock()
        .unwrap()
        .matches("is not a node of this network")
        .count();
    assert_eq!(count, 1, "{}", second_log.lock().unwrap());
    assert_eq!(first.terminate(), 0);
    assert_eq!(second.terminate(), 0);
}

#[test]
fn a_bootnode_that_comes_up_later_is_dialled_again() {
    let dir = tempfile::tempdir().unwrap();
    let (boot, late) = (dir.path().join("boot"), dir.path().join("late"));
    let printed = init(&boot);
    init(&late);
    let peer = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("peer id"))
        .map(|p| p.trim().to_owned())
        .expect("init prints the peer id");
    // A port nobody listens on yet: the bootnode is down when the node starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut args = node_args(&late);
    args.extend([
        "--bootnode".to_owned(),
        format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}"),
    ]);
    let mut node = Running::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(runtime(&late)["connected_peers"], 0);
    std::thread::sleep(Duration::from_secs(2));

    let mut args = node_args(&boot);
    let listen = args.iter().position(|a| a == "--listen").unwrap() + 1;
    args[listen] = format!("/ip4/127.0.0.1/tcp/{port}");
    let mut bootnode = Running::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(60);
    while runtime(&late)["connected_peers"].as_u64().unwrap_or(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "the node never dialled its bootnode again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(bootnode.terminate(), 0);
    assert_eq!(node.terminate(), 0);
}

#[test]
fn init_for_the_testnet_copies_the_shipped_spec() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (code, out, err) = pictor(&[
        "init",
        "--home",
        home.to_str().unwrap(),
        "--network",
        "testnet",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("testnet: the spec shipped in this binary"),
        "{out}"
    );
    let spec = std::fs::read_to_string(home.join("network.toml")).unwrap();
    assert!(spec.contains("id = \"pictor-testnet-1\""), "{spec}");
    assert!(spec.contains("/dns4/"), "bootnodes by DNS name: {spec}");
    assert!(spec.contains("[credits]"), "the faucet: {spec}");
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    assert!(config.contains("upnp = true"), "{config}");
    // `--network` of a node takes the name too; a file that is not there is one line.
    let (code, _, err) = pictor(&[
        "node",
        "--home",
        home.to_str().unwrap(),
        "--network",
        "no-such-spec.toml",
    ]);
    one_line_error(code, &err, &["no-such-spec.toml"]);
}
