//! Crash safety: a process that stores records is killed with SIGKILL at an arbitrary
//! moment; every record it had reported as stored (after `put` + flush) is there when the
//! database is opened again.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use pictor_protocol::{ContentId, Engine, FrameRange, JobSpec, Keypair};
use pictor_storage::Store;

const CHILD_ENV: &str = "PICTOR_KILL_TEST_DIR";

fn job(nonce: u64) -> JobSpec {
    JobSpec {
        creator: Keypair::from_seed([3; 32]).public(),
        scene: ContentId::of(b"scene"),
        scene_name: "scene.gltf".into(),
        engine: Engine::Builtin,
        frames: FrameRange { first: 1, last: 1 },
        width: 64,
        height: 64,
        samples: 1,
        tile: 32,
        price_cap: 0,
        nonce,
        epoch: 0,
    }
}

/// The child: stores jobs and blocks forever, reporting each one once it is durable.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // only runs as the child of `killed_writer_loses_nothing_it_reported`
    };
    let store = Store::open(std::path::Path::new(&dir)).expect("open");
    for nonce in 0.. {
        store.put_job(&job(nonce)).expect("put");
        store.put_block(&nonce.to_le_bytes()).expect("block");
        store.flush().expect("flush");
        println!("stored {nonce}");
    }
}

#[test]
fn killed_writer_loses_nothing_it_reported() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut reported = None;
    let started = std::time::Instant::now();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(n) = line.strip_prefix("stored ") {
            reported = Some(n.parse::<u64>().expect("number"));
            if reported >= Some(200) || started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let reported = reported.expect("the child stored something");

    let store = Store::open(dir.path()).expect("reopens after a kill");
    let jobs = store.jobs().expect("jobs readable");
    for nonce in 0..=reported {
        assert!(
            jobs.iter().any(|j| j.nonce == nonce),
            "job {nonce} was reported stored but is gone"
        );
        let block = nonce.to_le_bytes();
        assert_eq!(
            store.get_block(&ContentId::of(&block)).expect("read"),
            Some(block.to_vec()),
            "block {nonce} lost"
        );
    }
}
