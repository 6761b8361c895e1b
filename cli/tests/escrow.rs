//! A job paid for on a network of real `pictor node` processes: the creator escrows its
//! budget at submit, the committee pays each accepted shard to its worker at the worker's
//! price (and itself a fee), the rest goes back to the creator when the job is complete;
//! the job's payer is killed with SIGKILL in the middle and started again, and every
//! shard is still paid exactly once, across later kills of a worker, a checker and the
//! creator too, with nothing created or lost; a payer killed for good is replaced by the
//! job's new committee, which pays the rest; a budget that runs out pauses the job until
//! its creator adds credits; a cancelled job pays what was accepted and refunds the rest.

mod common;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::{
    devnet::{kill, path, runtime, up_with, Network},
    pictor,
};
use pictor_protocol::{credits::price_for, rules, JobId, PublicKey};
use serde_json::Value;

const PRICE: u64 = 50;
const BUDGET: u64 = 600;

fn json(args: &[&str]) -> Value {
    let (code, out, err) = pictor(args);
    assert_eq!(code, 0, "pictor {args:?}: {err}");
    serde_json::from_str(&out).expect("JSON")
}

fn balance(home: &Path, account: Option<&str>) -> Value {
    let mut args = vec!["balance", "--home", path(home), "--json"];
    if let Some(a) = account {
        args.extend(["--account", a]);
    }
    json(&args)
}

fn status(creator: &Path, job: &str) -> Value {
    json(&["job", "status", job, "--home", path(creator), "--json"])
}

fn up(dir: &Path) {
    up_with(dir, 4, 2, &["--worker-price", &PRICE.to_string()]);
}

fn key(home: &Path) -> String {
    runtime(home)["public_key"]
        .as_str()
        .expect("public key")
        .to_owned()
}

/// What every node's ledger says of `accounts`, once they agree: their balances.
fn settled(dir: &Path, homes: &[&str], accounts: &[String]) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let views: Vec<Vec<u64>> = homes
            .iter()
            .map(|h| {
                accounts
                    .iter()
                    .map(|a| {
                        balance(&dir.join(h), Some(a))["balance"]
                            .as_u64()
                            .unwrap_or(0)
                    })
                    .collect()
            })
            .collect();
        if views.windows(2).all(|w| w[0] == w[1]) {
            return views[0].clone();
        }
        assert!(Instant::now() < deadline, "the ledgers disagree: {views:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A devnet of 4 checkers and 2 workers at [`PRICE`], whose creator has 1 000 credits from
/// the faucet; stopped (then its directory removed) when dropped.
struct Paid {
    _network: Network,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    creator: PathBuf,
}

fn paid_devnet() -> Paid {
    let tmp = tempfile::tempdir().expect("tempdir");
    // PICTOR_TEST_KEEP=DIR keeps the network's homes and logs there for a look afterwards.
    let dir = match std::env::var("PICTOR_TEST_KEEP") {
        // One directory a test process: tests run side by side.
        Ok(keep) => PathBuf::from(keep).join(format!("net-{}", std::process::id())),
        Err(_) => tmp.path().join("net"),
    };
    let network = Network::new(dir.clone());
    up(&dir);
    let creator = dir.join("creator");
    let got = json(&["faucet", "1000", "--home", path(&creator), "--json"]);
    assert_eq!(got["balance"], 1000);
    Paid {
        _network: network,
        _tmp: tmp,
        dir,
        creator,
    }
}

/// `job`'s status (from `creator`) once `ready` holds of it; fails with `what` and the last
/// status after `secs`.
fn status_when(
    creator: &Path,
    job: &str,
    secs: u64,
    ready: impl Fn(&Value) -> bool,
    what: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = status(creator, job);
        if ready(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: {s}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Complete, and its escrow closed (every shard paid, the rest refunded).
fn refunded(s: &Value) -> bool {
    s["state"] == "complete" && s["escrow"]["closed"] == true
}

/// What a shard of these tests' jobs pays its worker: 32 × 32 × 64 samples, 66 ms at the
/// reference rate, at [`PRICE`] credits a second.
fn shard_pay() -> u64 {
    price_for(65_536u64.div_ceil(1_000), 1_000, PRICE).expect("price")
}

/// `pictor job submit` of the Cornell box from `creator` with `args`: its exit code, its
/// output and its errors.
fn submit(creator: &Path, args: &[&str]) -> (i32, String, String) {
    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenes/cornell-box.gltf");
    let mut all = vec!["job", "submit", path(&scene), "--home", path(creator)];
    all.extend(args);
    pictor(&all)
}

/// Waits until a shard of `job` is verified, then kills its payer (its committee's first
/// leader) with SIGKILL; returns the payer's name.
fn kill_payer(dir: &Path, creator: &Path, job: &str) -> String {
    let id: JobId = job.parse().expect("a job id");
    let names: Vec<String> = (1..=4).map(|i| format!("checker-{i}")).collect();
    let set: Vec<PublicKey> = names
        .iter()
        .map(|n| key(&dir.join(n)).parse().expect("a key"))
        .collect();
    let payer = rules::job_leader(&rules::committee(&id, &set, 4), 0).expect("a payer");
    let name = names[set.iter().position(|k| *k == payer).expect("in the set")].clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    while status(creator, job)["verified"].as_u64() < Some(1) {
        assert!(Instant::now() < deadline, "no shard verified");
        std::thread::sleep(Duration::from_millis(100));
    }
    kill(runtime(&dir.join(&name))["pid"].as_i64().expect("pid") as i32);
    name
}

#[test]
fn a_jobs_budget_pays_each_accepted_shard_once_across_kills() {
    let net = paid_devnet();
    let (dir, creator) = (net.dir.clone(), net.creator.clone());
    // A budget the creator does not have is refused before anything is published.
    let job_args = [
        "--width",
        "64",
        "--height",
        "64",
        "--samples",
        "64",
        "--tile",
        "32",
    ];
    let mut too_much = job_args.to_vec();
    too_much.extend(["--budget", "5000"]);
    let (code, _, err) = submit(&creator, &too_much);
    assert_ne!(code, 0);
    assert!(
        err.contains("insufficient balance for the job's budget"),
        "{err}"
    );
    assert_eq!(balance(&creator, None)["balance"], 1000);

    let budget = BUDGET.to_string();
    let mut args = job_args.to_vec();
    args.extend(["--budget", &budget]);
    let (code, out, err) = submit(&creator, &args);
    assert_eq!(code, 0, "job submit: {err}");
    let job_text = out.trim().to_owned();
    assert_eq!(balance(&creator, None)["escrowed"], BUDGET);

    // The job's payer (its committee's first leader) dies once the job is under way, and
    // comes back.
    let names: Vec<String> = (1..=4).map(|i| format!("checker-{i}")).collect();
    kill_payer(&dir, &creator, &job_text);
    std::thread::sleep(Duration::from_secs(1));
    up(&dir);

    let done = status_when(
        &creator,
        &job_text,
        180,
        refunded,
        "not complete and refunded",
    );
    let each = shard_pay();
    let shards = done["shards"].as_u64().expect("shards");
    let escrow = &done["escrow"];
    assert_eq!(escrow["funded"], BUDGET, "{done}");
    assert_eq!(escrow["shards_paid"], shards, "{done}");
    assert_eq!(escrow["paid_workers"], shards * each, "{done}");
    assert_eq!(escrow["paid_fees"], shards, "a fee of 1 a shard: {done}");
    let spent = shards * (each + 1);
    assert_eq!(escrow["refunded"], BUDGET - spent, "{done}");

    let mut accounts: Vec<String> = ["worker-1", "worker-2", "creator"]
        .iter()
        .map(|n| key(&dir.join(n)))
        .collect();
    accounts.extend(names.iter().map(|n| key(&dir.join(n))));
    let homes = [
        "checker-1",
        "checker-2",
        "checker-3",
        "checker-4",
        "worker-1",
        "worker-2",
        "creator",
    ];
    let paid = settled(&dir, &homes, &accounts);
    assert_eq!(paid[0] + paid[1], shards * each, "the workers: {paid:?}");
    assert_eq!(paid[2], 1000 - spent, "the creator: {paid:?}");
    assert_eq!(
        paid[3..].iter().sum::<u64>(),
        shards,
        "the checkers: {paid:?}"
    );
    // A worker sees what it earned from the job.
    let earned: u64 = ["worker-1", "worker-2"]
        .iter()
        .map(|w| {
            balance(&dir.join(w), None)["earned"][&job_text]["shards"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(earned, shards * each);

    // Kill a worker, a checker and the creator and start them again: nothing is paid
    // twice, and the creator's job still shows its refunded budget.
    for name in ["worker-1", "checker-3", "creator"] {
        kill(runtime(&dir.join(name))["pid"].as_i64().expect("pid") as i32);
    }
    std::thread::sleep(Duration::from_secs(1));
    up(&dir);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(settled(&dir, &homes, &accounts), paid);
    let again = status(&creator, &job_text);
    assert_eq!(again["escrow"], done["escrow"], "{again}");
    for home in homes {
        let b = balance(&dir.join(home), None);
        assert_eq!(b["total_minted"], 1000, "{home}: {b}");
        assert_eq!(
            b["circulating"], 1000,
            "{home}: nothing created or lost: {b}"
        );
    }
}

#[test]
fn a_job_whose_budget_runs_out_is_paused_until_its_creator_adds_credits() {
    let net = paid_devnet();
    let creator = net.creator.clone();
    // 16 shards of 32 × 32 at 64 samples: 4 credits each and a fee of 1. The budget pays
    // for two; each worker holds at most two shards at a time.
    let (code, out, err) = submit(
        &creator,
        &[
            "--width",
            "128",
            "--height",
            "128",
            "--samples",
            "64",
            "--tile",
            "32",
            "--budget",
            "10",
        ],
    );
    assert_eq!(code, 0, "job submit: {err}");
    let job = out.trim().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    let paused = loop {
        let s = status(&creator, &job);
        if s["paused"].is_string() {
            break s;
        }
        assert_ne!(s["state"], "complete", "the job ran past its budget: {s}");
        assert!(Instant::now() < deadline, "never paused: {s}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let why = paused["paused"].as_str().unwrap_or_default();
    assert!(
        why.contains("budget is out") && why.contains("pictor fund"),
        "{why}"
    );
    // Paused: what was given out before finishes, nothing new is given out.
    std::thread::sleep(Duration::from_secs(4));
    let held = status(&creator, &job);
    assert_eq!(held["state"], "running", "{held}");
    assert!(
        held["verified"].as_u64() < held["shards"].as_u64(),
        "{held}"
    );
    let (code, out, err) = pictor(&["job", "status", &job, "--home", path(&creator)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("paused: the job's budget is out"), "{out}");

    let (code, _, err) = pictor(&["fund", &job, "100", "--home", path(&creator)]);
    assert_eq!(code, 0, "fund: {err}");
    let done = status_when(&creator, &job, 120, refunded, "the job did not go on");
    let each = shard_pay();
    assert_eq!(done["escrow"]["funded"], 110, "{done}");
    assert_eq!(done["escrow"]["paid_workers"], 16 * each, "{done}");
    assert_eq!(done["escrow"]["refunded"], 110 - 16 * (each + 1), "{done}");
    assert!(done["paused"].is_null(), "{done}");
}

#[test]
fn a_cancelled_job_pays_what_was_accepted_and_refunds_the_rest() {
    let net = paid_devnet();
    let creator = net.creator.clone();
    // 64 shards of 32 × 32 at 256 samples: long enough to cancel in the middle.
    let (code, out, err) = submit(
        &creator,
        &[
            "--width",
            "256",
            "--height",
            "256",
            "--samples",
            "256",
            "--tile",
            "32",
            "--budget",
            "900",
        ],
    );
    assert_eq!(code, 0, "job submit: {err}");
    let job = out.trim().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    while status(&creator, &job)["escrow"]["shards_paid"].as_u64() < Some(1) {
        assert!(Instant::now() < deadline, "no shard paid");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, _, err) = pictor(&["job", "cancel", &job, "--home", path(&creator)]);
    assert_eq!(code, 0, "cancel: {err}");
    let done = status_when(
        &creator,
        &job,
        60,
        |s| s["escrow"]["closed"] == true,
        "not refunded after the cancel",
    );
    assert_eq!(done["state"], "cancelled", "{done}");
    let e = &done["escrow"];
    let paid = e["shards_paid"].as_u64().expect("shards paid");
    assert!(paid < 64, "cancelled before the end: {done}");
    let spent = e["paid_workers"].as_u64().unwrap_or(0) + e["paid_fees"].as_u64().unwrap_or(0);
    assert_eq!(e["refunded"].as_u64(), Some(900 - spent), "{done}");
    let b = balance(&creator, None);
    assert_eq!(b["balance"].as_u64(), Some(1000 - spent), "{b}");
    assert_eq!(b["escrowed"], 0, "{b}");
    assert_eq!(b["circulating"], 1000, "nothing created or lost: {b}");
}

#[test]
fn a_payer_gone_for_good_is_replaced_and_every_shard_is_paid() {
    let net = paid_devnet();
    let (dir, creator) = (net.dir.clone(), net.creator.clone());
    let budget = BUDGET.to_string();
    let (code, out, err) = submit(
        &creator,
        &[
            "--width",
            "64",
            "--height",
            "64",
            "--samples",
            "64",
            "--tile",
            "32",
            "--budget",
            &budget,
        ],
    );
    assert_eq!(code, 0, "job submit: {err}");
    let job_text = out.trim().to_owned();
    let names: Vec<String> = (1..=4).map(|i| format!("checker-{i}")).collect();
    // The payer dies once the job is under way, and never comes back.
    let payer_name = kill_payer(&dir, &creator, &job_text);

    // The live checkers move the job to a committee without it, whose payer pays the rest.
    let done = status_when(
        &creator,
        &job_text,
        240,
        refunded,
        "not complete and refunded",
    );
    let each = shard_pay();
    let shards = done["shards"].as_u64().expect("shards");
    let escrow = &done["escrow"];
    assert_eq!(escrow["shards_paid"], shards, "{done}");
    assert_eq!(escrow["paid_workers"], shards * each, "{done}");
    let spent = shards * (each + 1);
    assert_eq!(escrow["refunded"], BUDGET - spent, "{done}");
    let live: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| **n != payer_name)
        .chain(["worker-1", "worker-2", "creator"])
        .collect();
    let accounts: Vec<String> = ["worker-1", "worker-2", "creator"]
        .iter()
        .map(|n| key(&dir.join(n)))
        .collect();
    let paid = settled(&dir, &live, &accounts);
    assert_eq!(paid[0] + paid[1], shards * each, "the workers: {paid:?}");
    assert_eq!(paid[2], 1000 - spent, "the creator: {paid:?}");
    for home in live {
        let b = balance(&dir.join(home), None);
        assert_eq!(
            b["circulating"], 1000,
            "{home}: nothing created or lost: {b}"
        );
    }
}
