use std::time::Duration;

use super::*;

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for name in [identity::KEY_FILE, CONFIG_FILE, NETWORK_FILE] {
        let path = dir.join(name);
        out.push((path.clone(), std::fs::read(&path).unwrap()));
    }
    out
}

#[test]
fn init_makes_a_whole_home_for_a_network_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let home_dir = dir.path().join("home");
    let outcome = Home::init(&home_dir, &InitNetwork::Devnet).unwrap();
    assert!(!outcome.already_initialised);
    assert_eq!(outcome.created.len(), 4);
    for path in &outcome.created {
        assert!(path.exists(), "{}", path.display());
    }
    let home = Home::new(&home_dir);
    assert!(home.path(DB_DIR).is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path(identity::KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = home.public_key().unwrap();
    assert_eq!(outcome.public_key, Some(key));
    let config = home.config().unwrap();
    assert_eq!(
        config.role,
        Role::All,
        "a network of one checks and renders"
    );
    let node = home.node_config(&Overrides::default()).unwrap();
    assert_eq!(node.network.id, "devnet");
    assert_eq!(node.network.checkers, vec![key]);
    assert_eq!(node.network.committee_size, 1);
    assert!(node.roles.checker && node.roles.worker.is_some());
    assert_eq!(node.job_retention, crate::DEFAULT_JOB_RETENTION);
    assert_eq!(node.keypair.map(|k| k.public()), Some(key));

    // A second init changes nothing and says so.
    let before = files(&home_dir);
    let again = Home::init(&home_dir, &InitNetwork::Devnet).unwrap();
    assert!(again.already_initialised);
    assert!(again.created.is_empty());
    assert_eq!(again.public_key, Some(key));
    assert_eq!(files(&home_dir), before);
}

#[test]
fn init_copies_a_checked_spec_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = identity::generate().public();
    let spec = dir.path().join("net.toml");
    let text = format!("# ours\n[network]\nid = \"team-net\"\ngenesis_checkers = [\"{key}\"]\n");
    std::fs::write(&spec, &text).unwrap();
    let home_dir = dir.path().join("home");
    Home::init(&home_dir, &InitNetwork::File(spec.clone())).unwrap();
    let home = Home::new(&home_dir);
    assert_eq!(
        std::fs::read_to_string(home.path(NETWORK_FILE)).unwrap(),
        text
    );
    assert_eq!(home.config().unwrap().role, Role::Creator);

    let incomplete = dir.path().join("bare.toml");
    std::fs::write(&incomplete, "[requirements]\n").unwrap();
    let other = dir.path().join("other");
    let e = Home::init(&other, &InitNetwork::File(incomplete))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bare.toml") && e.contains("id"), "{e}");
    assert!(!other.exists(), "nothing written");
}

#[test]
fn an_uninitialised_home_says_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let e = Home::new(dir.path().join("none"))
        .node_config(&Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("pictor init"), "{e}");
}

#[test]
fn config_round_trips_and_overrides_apply() {
    let config = HomeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        http: None,
        role: Role::Relay,
        bootnodes: vec!["/ip4/127.0.0.1/tcp/9".parse().unwrap()],
        job_retention: Duration::from_secs(3600),
        log: "debug".into(),
        http_limits: crate::http::HttpLimits {
            rate_per_client: 5,
            burst_per_client: 10,
            local_rate_per_client: 100,
            local_burst_per_client: 1_000,
            connections_per_client: 4,
            uploads_per_client: 1,
        },
        price: 12,
        upnp: true,
    };
    let text = config.to_toml();
    assert_eq!(HomeConfig::from_toml(&text, "config.toml").unwrap(), config);
    assert_eq!(
        HomeConfig::from_toml("", "c").unwrap(),
        HomeConfig::default()
    );
    // The written default file reads back as the defaults.
    let defaults = HomeConfig::default();
    assert_eq!(
        HomeConfig::from_toml(&defaults.to_toml(), "c").unwrap(),
        defaults
    );

    let dir = tempfile::tempdir().unwrap();
    Home::init(dir.path(), &InitNetwork::Devnet).unwrap();
    let home = Home::new(dir.path());
    let me = identity::peer_id(&home.public_key().unwrap()).unwrap();
    let mine: Multiaddr = format!("/ip4/127.0.0.1/tcp/5/p2p/{me}").parse().unwrap();
    let other: Multiaddr = "/ip4/127.0.0.1/tcp/6".parse().unwrap();
    let node = home
        .node_config(&Overrides {
            role: Some(Role::Creator),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            bootnodes: vec![mine, other.clone(), other.clone()],
            http: Some(None),
            ..Overrides::default()
        })
        .unwrap();
    assert!(!node.roles.checker && node.roles.worker.is_none());
    assert_eq!(
        node.listen,
        vec!["/ip4/127.0.0.1/tcp/0".parse::<Multiaddr>().unwrap()]
    );
    assert_eq!(
        node.bootnodes,
        vec![other],
        "no dial to itself, no duplicate"
    );
    assert_eq!(node.http, None);
    assert_eq!(node.http_limits, crate::http::HttpLimits::default());

    // One limit changed, the others keep their defaults, and the node takes them.
    std::fs::write(
        home.path(CONFIG_FILE),
        "role = \"creator\"\n[http_limits]\nrate_per_client = 7\n",
    )
    .unwrap();
    let node = home.node_config(&Overrides::default()).unwrap();
    assert_eq!(
        node.http_limits,
        crate::http::HttpLimits {
            rate_per_client: 7,
            ..crate::http::HttpLimits::default()
        }
    );
}

#[test]
fn config_mistakes_are_one_line_with_their_place() {
    for (text, place) in [
        ("role = \"boss\"\n", "line 1, column 8, key `role`"),
        (
            "\nlisten = [\"/ip4/1.2.3.4/tcp/1\", \"nowhere\"]\n",
            "line 2, column 33, key `listen[1]`",
        ),
        ("http = \"localhost\"\n", "line 1, column 8, key `http`"),
        (
            "job_retention = \"forever\"\n",
            "line 1, column 17, key `job_retention`",
        ),
        (
            "log_level = \"info\"\n",
            "line 1, column 1, key `log_level`",
        ),
        ("bootnodes = \"x\"\n", "line 1, column 13, key `bootnodes`"),
        (
            "[http_limits]\nrate_per_client = 0\n",
            "line 2, column 19, key `http_limits.rate_per_client`",
        ),
        (
            "[http_limits]\nrate = 5\n",
            "line 2, column 1, key `http_limits.rate`",
        ),
        (
            "[http_limits]\nuploads_per_client = -1\n",
            "line 2, column 22, key `http_limits.uploads_per_client`",
        ),
    ] {
        let e = HomeConfig::from_toml(text, "home/config.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("home/config.toml, {place}")),
            "{e:?} should name {place:?}"
        );
        assert!(!e.contains('\n'));
    }
}
