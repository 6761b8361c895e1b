use std::time::Duration;

use super::*;
use crate::identity;

fn key() -> PublicKey {
    identity::generate().public()
}

fn bootnode_addr(key: &PublicKey) -> Multiaddr {
    let peer = identity::peer_id(key).unwrap();
    format!("/ip4/127.0.0.1/tcp/4001/p2p/{peer}")
        .parse()
        .unwrap()
}

/// One line, naming `line`, `column` and `key`.
fn assert_place(e: NodeError, line: usize, column: usize, key: &str) -> String {
    let text = e.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    let place = format!("line {line}, column {column}, key `{key}`");
    assert!(text.contains(&place), "{text:?} should name {place:?}");
    text
}

#[test]
fn reads_a_whole_spec() {
    let (a, b) = (key(), key());
    let boot = bootnode_addr(&a);
    let text = format!(
        r#"
[network]
id = "pictor-testnet"
protocol_version = 1
genesis_checkers = ["{a}", "{b}"]
bootnodes = ["{boot}"]

[params]
committee_size = 2
max_outstanding = 3
shard_timeout = "5m"
claim_timeout = "90s"
leader_timeout = "20s"
heartbeat_interval = "2s"
max_message_age = "10m"
gossip_heartbeat = "250ms"

[requirements]
min_memory_bytes = 8589934592
engines = ["blender"]
min_benchmark_score = 1.5
"#
    );
    let spec = NetworkSpec::from_toml(&text).unwrap();
    assert_eq!(spec.id.as_deref(), Some("pictor-testnet"));
    assert_eq!(spec.genesis_checkers, vec![a, b]);
    assert_eq!(spec.bootnodes, vec![boot]);
    assert_eq!(spec.requirements.engines, vec!["blender".to_owned()]);
    let params = spec.params().unwrap();
    assert_eq!(params.id, "pictor-testnet");
    assert_eq!(params.checkers, vec![a, b]);
    assert_eq!(params.committee_size, 2);
    assert_eq!(params.max_outstanding, 3);
    assert_eq!(params.shard_timeout, Duration::from_secs(300));
    assert_eq!(params.claim_timeout, Duration::from_secs(90));
    assert_eq!(params.leader_timeout, Duration::from_secs(20));
    assert_eq!(params.heartbeat_interval, Duration::from_secs(2));
    assert_eq!(params.max_message_age, Duration::from_secs(600));
    assert_eq!(params.gossip_heartbeat, Duration::from_millis(250));
    assert_eq!(params.requirements.min_memory_bytes, Some(8 << 30));
}

#[test]
fn absent_parameters_take_the_defaults() {
    let a = key();
    let spec = NetworkSpec::from_toml(&format!(
        "[network]\nid = \"n\"\ngenesis_checkers = [\"{a}\"]\n"
    ))
    .unwrap();
    let params = spec.params().unwrap();
    let defaults = NetworkParams::new("n", vec![a]);
    assert_eq!(SpecParams::of(&params), SpecParams::of(&defaults));
    assert_eq!(spec.protocol_version, PROTOCOL_VERSION);
    assert!(spec.requirements.is_empty());
}

#[test]
fn a_spec_of_requirements_alone_parses_but_starts_no_node() {
    let spec = NetworkSpec::from_toml("[requirements]\ngpu_required = true\n").unwrap();
    assert!(spec.requirements.gpu_required);
    assert_eq!(spec.id, None);
    let no_id = spec.params().unwrap_err().to_string();
    assert!(no_id.contains("id"), "{no_id}");
    assert_eq!(NetworkSpec::from_toml("").unwrap(), NetworkSpec::default());
    let no_checkers = NetworkSpec::from_toml("[network]\nid = \"lonely\"\n")
        .unwrap()
        .params()
        .unwrap_err()
        .to_string();
    assert!(no_checkers.contains("genesis_checkers"), "{no_checkers}");
}

#[test]
fn unknown_keys_are_named_with_their_place() {
    let typo = NetworkSpec::from_toml("[requirements]\nmin_memory = 8\n").unwrap_err();
    assert_place(typo, 2, 1, "requirements.min_memory");
    let top = NetworkSpec::from_toml("network_id = \"x\"\n").unwrap_err();
    assert_place(top, 1, 1, "network_id");
    let param = NetworkSpec::from_toml("[params]\n\ncommitee_size = 3\n").unwrap_err();
    let text = assert_place(param, 3, 1, "params.commitee_size");
    assert!(text.contains("committee_size"), "the keys it knows: {text}");
    let broken = NetworkSpec::from_toml("[requirements\n").unwrap_err();
    assert!(broken.to_string().contains("line 1"), "{broken}");
    assert!(!broken.to_string().contains('\n'));
}

#[test]
fn bad_values_are_named_with_their_place() {
    let a = key();
    let cases: Vec<(String, usize, usize, &str, &str)> = vec![
        (
            "[params]\ncommittee_size = 0\n".into(),
            2,
            18,
            "params.committee_size",
            "at least 1",
        ),
        (
            "[params]\nmax_outstanding = -2\n".into(),
            2,
            19,
            "params.max_outstanding",
            "at least 1",
        ),
        (
            "[params]\nshard_timeout = \"0s\"\n".into(),
            2,
            17,
            "params.shard_timeout",
            "longer than zero",
        ),
        (
            "[params]\nclaim_timeout = \"soon\"\n".into(),
            2,
            17,
            "params.claim_timeout",
            "not a duration",
        ),
        (
            "[params]\ngossip_heartbeat = 200\n".into(),
            2,
            20,
            "params.gossip_heartbeat",
            "string",
        ),
        (
            "[network]\nprotocol_version = 2\n".into(),
            2,
            20,
            "network.protocol_version",
            "speaks version 1",
        ),
        (
            "[network]\nid = \"Main Net\"\n".into(),
            2,
            6,
            "network.id",
            "invalid network id",
        ),
        (
            format!("[network]\ngenesis_checkers = [\n  \"{a}\",\n  \"abcd\",\n]\n"),
            4,
            3,
            "network.genesis_checkers[1]",
            "public key",
        ),
        (
            format!("[network]\ngenesis_checkers = [\"{a}\", \"{a}\"]\n"),
            2,
            ("genesis_checkers = [\"\", ".len() + 64 + 1),
            "network.genesis_checkers[1]",
            "twice",
        ),
        (
            "[network]\nbootnodes = [\"/ip4/127.0.0.1/tcp/1\"]\n".into(),
            2,
            14,
            "network.bootnodes[0]",
            "/p2p/",
        ),
        (
            "[network]\nbootnodes = [\"nowhere\"]\n".into(),
            2,
            14,
            "network.bootnodes[0]",
            "multiaddr",
        ),
        (
            "[requirements]\nmin_benchmark_score = -1.0\n".into(),
            2,
            23,
            "requirements.min_benchmark_score",
            ">= 0",
        ),
    ];
    for (text, line, column, key, says) in cases {
        let e = NetworkSpec::from_toml(&text).unwrap_err();
        let shown = assert_place(e, line, column, key);
        assert!(shown.contains(says), "{shown:?} should say {says:?}");
    }
}

#[test]
fn a_spec_round_trips_through_toml() {
    let (a, b) = (key(), key());
    let mut params = NetworkParams::devnet(vec![a, b]);
    params.requirements.engines = vec!["builtin".into()];
    params.max_message_age = Duration::from_millis(1500);
    let spec = NetworkSpec::from_params(&params, vec![bootnode_addr(&a)]);
    let text = spec.to_toml().unwrap();
    let back = NetworkSpec::from_toml(&text).unwrap();
    assert_eq!(back, spec, "{text}");
    assert_eq!(
        SpecParams::of(&back.params().unwrap()),
        SpecParams::of(&params)
    );
    // A spec of requirements alone writes no [network] table and reads back the same.
    let bare = NetworkSpec::default();
    assert_eq!(
        NetworkSpec::from_toml(&bare.to_toml().unwrap()).unwrap(),
        bare
    );
}

#[test]
fn a_missing_or_huge_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = NetworkSpec::load(&dir.path().join("none.toml")).unwrap_err();
    assert!(missing.to_string().contains("none.toml"), "{missing}");
    let huge = dir.path().join("huge.toml");
    std::fs::write(&huge, vec![b'#'; (MAX_SPEC_BYTES + 1) as usize]).unwrap();
    assert!(NetworkSpec::load(&huge)
        .unwrap_err()
        .to_string()
        .contains("at most"));
    let good = dir.path().join("net.toml");
    std::fs::write(&good, "[requirements]\ngpu_required = true\n").unwrap();
    assert!(NetworkSpec::load(&good).unwrap().requirements.gpu_required);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[params]\ncommittee_size = 0\n").unwrap();
    let e = NetworkSpec::load(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.toml, line 2, column 18"), "{e}");
}

#[test]
fn the_documented_example_is_a_valid_spec() {
    let doc = include_str!("../../../docs/network-spec.md");
    let example = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let spec = NetworkSpec::from_toml(example).unwrap();
    assert_eq!(
        spec.params,
        SpecParams::default(),
        "the example shows the defaults"
    );
    assert_eq!(spec.genesis_checkers.len(), 2);
    assert!(spec.params().is_ok());
}
