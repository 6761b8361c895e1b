use super::*;

#[test]
fn the_shipped_testnet_spec_starts_a_node() {
    let spec = NetworkSpec::load_named(Path::new("testnet")).expect("the testnet spec parses");
    assert_eq!(spec.id.as_deref(), Some("pictor-testnet-1"));
    let params = spec.params().expect("a node can start on it");
    assert_eq!(params.checkers.len(), 4);
    assert!(!spec.bootnodes.is_empty());
    for b in &spec.bootnodes {
        assert!(
            b.iter().any(|p| matches!(p, Protocol::Dns4(_))),
            "bootnodes by DNS name: {b}"
        );
    }
    let credits = spec.credits.as_ref().expect("the testnet has a faucet");
    assert!(credits.limits.per_request >= 1 && credits.limits.window_ms > 0);
    // A path that names no shipped network is a file, with its name in the error.
    let e = NetworkSpec::load_named(Path::new("no-such-net.toml")).unwrap_err();
    assert!(e.to_string().contains("no-such-net.toml"), "{e}");
}

#[test]
fn a_credits_table_round_trips_and_its_mistakes_name_their_place() {
    let faucet = crate::identity::generate().public();
    let good = format!(
        "[credits]\nfaucet = \"{faucet}\"\nfaucet_per_request = 10\nfaucet_per_account = 50\nfaucet_window = \"1d\"\nchecker_fee = 2\n"
    );
    let spec = NetworkSpec::from_toml(&good).expect("parses");
    let credits = spec.credits.clone().expect("credits");
    assert_eq!(credits.faucet, faucet);
    assert_eq!(credits.limits.per_request, 10);
    assert_eq!(credits.limits.per_account_per_window, 50);
    assert_eq!(credits.limits.window_ms, 86_400_000);
    assert_eq!(credits.checker_fee, 2);
    let again = NetworkSpec::from_toml(&spec.to_toml().expect("toml")).expect("reads back");
    assert_eq!(again.credits, spec.credits);

    for (text, key, says) in [
        (
            good.replace(&faucet.to_string(), "nope"),
            "faucet",
            "not a public key",
        ),
        (
            good.replace("faucet_per_request = 10", "faucet_per_request = 0"),
            "faucet_per_request",
            "at least 1",
        ),
        (
            good.replace("faucet_per_account = 50", "faucet_per_account = 5"),
            "faucet_per_account",
            "at least faucet_per_request",
        ),
        (
            good.replace("\"1d\"", "\"0s\""),
            "faucet_window",
            "longer than zero",
        ),
        (good.replace("checker_fee = 2", "fee = 2"), "fee", "unknown"),
    ] {
        let e = NetworkSpec::from_toml(&text).unwrap_err().to_string();
        assert!(
            !e.contains('\n') && e.contains(key) && e.contains(says),
            "{key}: {e}"
        );
    }
    let missing = NetworkSpec::from_toml("[credits]\nfaucet_per_request = 1\n").unwrap_err();
    assert!(missing.to_string().contains("faucet"), "{missing}");
}
