//! More than a third of a job's committee killed with SIGKILL in the middle of the job, on
//! a network of real `pictor node` processes (7 checkers, committees of 4): the committee
//! can no longer certify, the remaining checkers (5 of 7, more than two thirds) certify a
//! move to a new committee, and the job finishes with the right frames.

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::{
    devnet::{kill, path, runtime, up, Network},
    pictor,
};
use pictor_protocol::{rules, JobId, PublicKey};
use serde_json::Value;

fn job_status(home: &Path, job: &str) -> Value {
    let (code, out, err) = pictor(&["job", "status", job, "--home", path(home), "--json"]);
    assert_eq!(code, 0, "job status: {err}");
    serde_json::from_str(&out).expect("JSON status")
}

const JOB: &[&str] = &[
    "--frames",
    "1-4",
    "--width",
    "256",
    "--height",
    "192",
    "--samples",
    "24",
    "--tile",
    "32",
];

#[test]
fn a_job_whose_committee_lost_half_its_members_moves_and_finishes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("net");
    let _network = Network::new(dir.clone());
    up(&dir, 7, 2);
    let spec = std::fs::read_to_string(dir.join("network.toml")).expect("network.toml");
    let size: usize = spec
        .lines()
        .find_map(|l| l.trim().strip_prefix("committee_size"))
        .and_then(|v| v.trim_start_matches([' ', '=']).trim().parse().ok())
        .expect("the spec names its committee size");
    assert!(size < 7, "committees smaller than the set: {size}");
    // The checker set, by name and key, from each checker's runtime file.
    let checkers: Vec<(String, PublicKey)> = (1..=7)
        .map(|i| {
            let name = format!("checker-{i}");
            let key = runtime(&dir.join(&name))["public_key"]
                .as_str()
                .expect("public key")
                .parse()
                .expect("a key");
            (name, key)
        })
        .collect();
    let set: Vec<PublicKey> = checkers.iter().map(|(_, k)| *k).collect();

    let scene = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenes/cornell-box.gltf");
    let direct = tmp.path().join("direct");
    let mut args = vec!["render", path(&scene), "--direct", "--out", path(&direct)];
    args.extend(JOB);
    let (code, _, err) = pictor(&args);
    assert_eq!(code, 0, "{err}");

    let creator = dir.join("creator");
    let mut args = vec!["job", "submit", path(&scene), "--home", path(&creator)];
    args.extend(JOB);
    let (code, out, err) = pictor(&args);
    assert_eq!(code, 0, "job submit: {err}");
    let job_text = out.trim().to_owned();
    let job: JobId = job_text.parse().expect("a job id");
    let committee = rules::committee(&job, &set, size);
    // Half the committee (more than a third of it) dies once the job is under way.
    let deadline = Instant::now() + Duration::from_secs(120);
    while job_status(&creator, &job_text)["verified"].as_u64() < Some(1) {
        assert!(Instant::now() < deadline, "no shard verified");
        std::thread::sleep(Duration::from_millis(100));
    }
    let doomed: Vec<&String> = checkers
        .iter()
        .filter(|(_, k)| committee[..2].contains(k))
        .map(|(name, _)| name)
        .collect();
    for name in &doomed {
        let pid = runtime(&dir.join(name))["pid"].as_i64().expect("pid") as i32;
        kill(pid);
    }
    let left = job_status(&creator, &job_text);
    assert_ne!(left["state"], "complete", "killed before the end: {left}");

    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        let status = job_status(&creator, &job_text);
        if status["state"] != "running" && status["state"] != "submitted" {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the job did not finish after its committee lost {doomed:?}: {status}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(status["state"], "complete", "{status}");
    assert_eq!(status["verified"], status["shards"], "{status}");
    let out = tmp.path().join("out");
    let (code, _, err) = pictor(&[
        "job",
        "fetch",
        &job_text,
        "--out",
        path(&out),
        "--home",
        path(&creator),
    ]);
    assert_eq!(code, 0, "job fetch: {err}");
    for frame in 1..=4 {
        let name = format!("frame-{frame:04}.png");
        let a = std::fs::read(out.join(&name)).expect("network frame");
        let b = std::fs::read(direct.join(&name)).expect("direct frame");
        assert!(a == b, "{name} differs from the direct render");
    }
    // The survivors see the dead checkers as offline.
    let alive = checkers
        .iter()
        .find(|(name, _)| !doomed.contains(&name))
        .map(|(name, _)| dir.join(name))
        .expect("a live checker");
    let (code, out, err) = pictor(&["checkers", "--home", path(&alive), "--json"]);
    assert_eq!(code, 0, "checkers: {err}");
    let list: Value = serde_json::from_str(&out).expect("JSON list");
    let offline = list
        .as_array()
        .expect("an array")
        .iter()
        .filter(|c| c["status"] == "offline")
        .count();
    assert_eq!(offline, doomed.len(), "{list}");
}
