//! Credits on a network of real `pictor node` processes: the faucet (run by the first
//! checker) gives an account credits, the account pays another, every node's ledger agrees
//! and adds up to what the faucet issued, overspending is refused, and a checker killed
//! with SIGKILL comes back with the same ledger.

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::{
    devnet::{kill, path, runtime, up, Network},
    pictor,
};
use serde_json::Value;

fn balance(home: &Path, account: Option<&str>) -> Value {
    let mut args = vec!["balance", "--home", path(home), "--json"];
    if let Some(a) = account {
        args.extend(["--account", a]);
    }
    let (code, out, err) = pictor(&args);
    assert_eq!(code, 0, "balance: {err}");
    serde_json::from_str(&out).expect("JSON balance")
}

/// Waits until `home`'s ledger shows `account` holding `expected`.
fn wait_for(home: &Path, account: &str, expected: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = balance(home, Some(account));
        if b["balance"] == expected || Instant::now() > deadline {
            return b;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn credits_are_issued_paid_and_kept_across_a_kill() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("net");
    let _network = Network::new(dir.clone());
    up(&dir, 4, 1);
    let spec = std::fs::read_to_string(dir.join("network.toml")).expect("spec");
    assert!(
        spec.contains("[credits]"),
        "the devnet's spec has credits:\n{spec}"
    );
    let creator = dir.join("creator");
    let worker = dir.join("worker-1");
    let checker = dir.join("checker-2");
    assert_eq!(balance(&dir.join("checker-1"), None)["faucet"], true);

    let start = balance(&creator, None);
    assert_eq!(start["balance"], 0);
    let me = start["account"].as_str().expect("account").to_owned();
    let (code, out, err) = pictor(&["faucet", "500", "--home", path(&creator), "--json"]);
    assert_eq!(code, 0, "faucet: {err}");
    let got: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(got["amount"], 500);
    assert_eq!(got["balance"], 500);
    // `pictor status` shows it too.
    let (code, out, err) = pictor(&["status", "--home", path(&creator)]);
    assert_eq!(code, 0, "status: {err}");
    assert!(out.contains("credits   500 (escrowed 0"), "{out}");

    let to = balance(&worker, None)["account"]
        .as_str()
        .expect("account")
        .to_owned();
    let (code, out, err) = pictor(&["pay", &to, "200", "--home", path(&creator), "--json"]);
    assert_eq!(code, 0, "pay: {err}");
    let paid: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(paid["balance"], 300);
    assert_eq!(paid["sequence"], 0);

    // Every node applies the certificates: the worker sees its credits, a checker that
    // took no part in the faucet sees both accounts, and the sums agree.
    assert_eq!(wait_for(&worker, &to, 200)["balance"], 200);
    let seen = wait_for(&checker, &me, 300);
    assert_eq!(seen["balance"], 300);
    assert_eq!(seen["next_sequence"], 1);
    assert_eq!(seen["total_minted"], 500);
    assert_eq!(seen["circulating"], 500, "credits are conserved");

    // More than the account holds: refused, and nothing moves.
    let (code, _, err) = pictor(&["pay", &to, "1000", "--home", path(&creator)]);
    assert_ne!(code, 0);
    assert!(err.contains("insufficient balance"), "{err}");
    let (code, _, err) = pictor(&["pay", "not-a-key", "5", "--home", path(&creator)]);
    assert_ne!(code, 0);
    assert!(err.contains("not an account"), "{err}");
    assert_eq!(balance(&creator, None)["balance"], 300);

    // One request gets at most the faucet's per-request limit (1 000 on a devnet).
    let (code, out, err) = pictor(&["faucet", "5000", "--home", path(&worker), "--json"]);
    assert_eq!(code, 0, "faucet: {err}");
    let got: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(got["amount"], 1000);
    assert_eq!(got["balance"], 1200);

    // A checker killed with SIGKILL keeps its ledger: it is rebuilt from its database.
    let before = wait_for(&checker, &to, 1200);
    kill(runtime(&checker)["pid"].as_i64().expect("pid") as i32);
    let (code, _, err) = pictor(&["devnet", "up", "--dir", path(&dir)]);
    assert_eq!(code, 0, "devnet up again: {err}");
    let after = balance(&checker, Some(&to));
    assert_eq!(after["balance"], before["balance"]);
    assert_eq!(after["total_minted"], 1500);
    assert_eq!(after["circulating"], 1500);
    // And it still votes: a payment after its restart is certified.
    let (code, _, err) = pictor(&["pay", &me, "50", "--home", path(&worker)]);
    assert_eq!(code, 0, "pay after the restart: {err}");
    assert_eq!(wait_for(&checker, &me, 350)["balance"], 350);
}

#[test]
fn init_makes_a_faucet_key_for_a_new_network_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("faucet-home");
    let (code, out, err) = pictor(&["init", "--home", path(&home), "--faucet"]);
    assert_eq!(code, 0, "init --faucet: {err}");
    let key = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("faucet key"))
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|| panic!("no faucet key printed: {out}"));
    assert_eq!(key.len(), 64, "a public key: {out}");
    let file = home.join("faucet.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file).expect("faucet.key").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "faucet.key is the owner's alone");
    let seed = std::fs::read_to_string(&file).expect("faucet.key");
    assert!(!out.contains(seed.trim()), "the secret is never printed");
    // On the same home: nothing changes, the same key is named.
    let (code, again, err) = pictor(&["init", "--home", path(&home), "--faucet"]);
    assert_eq!(code, 0, "{err}");
    assert!(again.contains("already a Pictor home"), "{again}");
    assert!(again.contains(&key), "{again}");
    assert_eq!(std::fs::read_to_string(&file).expect("faucet.key"), seed);
}
