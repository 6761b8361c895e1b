//! The explorer page in a real browser: headless Chromium against a devnet's creator,
//! asserting what a person would see: the job's row with its progress moving, the
//! frames' thumbnails once it completes, the workers and checkers of the network.
//!
//! Needs `chromium` on PATH (`scripts/setup-chromium.sh`); without it the test says so
//! and passes, except under CI (env `CI` set), where it fails.

mod common;

use std::{
    io::Read as _,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::http::{result as call, Devnet};
use nix::{sys::signal, unistd::Pid};
use serde_json::{json, Value};

/// How long one Chromium run may take before it is killed.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the job may take.
const JOB_TIMEOUT: Duration = Duration::from_secs(180);
/// Virtual time the page gets before the DOM is read: two polls and the live feed.
const PAGE_BUDGET_MS: u32 = 3000;

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Headless Chromium, one fresh profile per run.
struct Browser {
    program: PathBuf,
    scratch: PathBuf,
    runs: u32,
}

impl Browser {
    /// Runs Chromium on `url` with `extra` flags: (stdout, the page's console lines).
    fn run(&mut self, extra: &[String], url: &str) -> (String, Vec<String>) {
        self.runs += 1;
        let profile = self.scratch.join(format!("chromium-profile-{}", self.runs));
        let mut child = Command::new(&self.program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--virtual-time-budget={PAGE_BUDGET_MS}"))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout ends the renderers too.
            .process_group(0)
            .spawn()
            .expect("chromium starts");
        let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        };
        let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
        let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for chromium") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = signal::killpg(Pid::from_raw(child.id() as i32), signal::Signal::SIGKILL);
                let _ = child.wait();
                panic!("chromium did not finish within {BROWSER_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stdout = stdout.join().expect("stdout read");
        let stderr = stderr.join().expect("stderr read");
        assert!(status.success(), "chromium failed: {status}\n{stderr}");
        let console = stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_owned)
            .collect();
        (stdout, console)
    }

    /// The page's DOM after it has run for the budget.
    fn dom(&mut self, url: &str) -> String {
        let (dom, console) = self.run(&["--dump-dom".to_owned()], url);
        assert!(
            console.is_empty(),
            "the page logged to the console (a script error, or something the CSP refused):\n{}",
            console.join("\n")
        );
        assert!(dom.contains("id=\"jobs\""), "not the explorer page:\n{dom}");
        dom
    }
}

/// The opening tag of the first element whose tag holds `needle`.
fn tag<'a>(dom: &'a str, needle: &str) -> Option<(usize, &'a str)> {
    let at = dom.find(needle)?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    Some((start, &dom[start..=end]))
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let len = tag[at..].find('"')?;
    Some(&tag[at..at + len])
}

/// The text right inside the first element whose tag holds `needle`.
fn text_of<'a>(html: &'a str, needle: &str) -> Option<&'a str> {
    let (start, open) = tag(html, needle)?;
    let from = start + open.len();
    let len = html[from..].find('<')?;
    Some(&html[from..from + len])
}

/// A job's row as the page shows it.
#[derive(Debug)]
struct JobRow {
    state: String,
    shards: u64,
    verified: u64,
    /// `.progress`, like `12 / 24 shards`.
    progress: String,
    /// The row's markup.
    html: String,
}

fn job_row(dom: &str, job: &str) -> Option<JobRow> {
    let (start, open) = tag(dom, &format!("data-job-id=\"{job}\""))?;
    assert!(open.starts_with("<article class=\"job\""), "{open}");
    let end = start + dom[start..].find("</article>")?;
    let html = &dom[start..end];
    let number = |name: &str| {
        attr(open, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {open}"))
    };
    Some(JobRow {
        state: attr(open, "data-state").unwrap_or_default().to_owned(),
        shards: number("data-shards"),
        verified: number("data-verified"),
        progress: text_of(html, "class=\"progress\"")
            .unwrap_or_default()
            .to_owned(),
        html: html.to_owned(),
    })
}

fn peer_of(dir: &Path, node: &str) -> String {
    let text = std::fs::read_to_string(dir.join(node).join("node.json")).expect("node.json");
    let v: Value = serde_json::from_str(&text).expect("node.json is JSON");
    v["peer_id"].as_str().expect("peer_id").to_owned()
}

#[test]
fn the_explorer_shows_a_job_moving_its_frames_and_the_network() {
    let Some(program) = on_path("chromium") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed (scripts/setup-chromium.sh), and CI needs the explorer test"
        );
        println!("skipping explorer test: chromium not installed (scripts/setup-chromium.sh)");
        return;
    };
    let began = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let devnet = Devnet::up(&dir, 2, 2);
    let (addr, token) = devnet.creator();
    let url = format!("http://{addr}/");
    let mut browser = Browser {
        program,
        scratch: tmp.path().to_owned(),
        runs: 0,
    };
    eprintln!("devnet up in {:.1?}; explorer at {url}", began.elapsed());

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository");
    let scene = repo.join("examples/scenes/cornell-box.gltf");
    // The job is paid for: credits from the devnet's faucet, 200 of them its budget.
    let got = call(
        &addr,
        Some(&token),
        "credits_faucet",
        json!({"amount": 1000}),
    );
    assert_eq!(got["amount"], 1000, "{got}");
    let submitted = call(
        &addr,
        Some(&token),
        "job_submit",
        json!({"scene_path": scene, "frames": "1-2", "samples": 16, "budget": 200}),
    );
    let job = submitted["job_id"].as_str().expect("job_id").to_owned();

    // The page, again and again until the job completes: its row is there at once, and
    // it is never behind what the node said just before the page was read.
    let deadline = Instant::now() + JOB_TIMEOUT;
    let mut seen: Vec<u64> = Vec::new();
    let dom = loop {
        let status = call(&addr, None, "job_status", json!({"job_id": job}));
        let node_verified = status["verified"].as_u64().expect("verified");
        let dom = browser.dom(&url);
        let row = job_row(&dom, &job).unwrap_or_else(|| panic!("no row for job {job}:\n{dom}"));
        assert_eq!(
            row.shards,
            status["shards"].as_u64().expect("shards"),
            "{row:?}"
        );
        assert!(
            row.verified >= node_verified && row.verified <= row.shards,
            "the page shows {} verified, the node said {node_verified}: {row:?}",
            row.verified
        );
        assert_eq!(
            row.progress,
            format!("{} / {} shards", row.verified, row.shards),
            "{row:?}"
        );
        if let Some(&last) = seen.last() {
            assert!(
                row.verified >= last,
                "progress went back: {seen:?} then {}",
                row.verified
            );
        }
        seen.push(row.verified);
        eprintln!(
            "{:>5.1?}: page shows {} ({}), node said {node_verified} verified",
            began.elapsed(),
            row.progress,
            row.state
        );
        match status["state"].as_str() {
            Some("complete") if seen.len() >= 2 => break dom,
            Some("failed" | "cancelled") => panic!("the job ended: {status}"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the job did not complete: {status}"
        );
    };
    let shards = *seen.last().expect("one look at least");
    if seen[0] < shards {
        eprintln!("the page followed the job: {seen:?} of {shards} shards verified");
    } else {
        eprintln!("the job was done before the first look; no progress in between to see");
    }

    // Complete: the row says so and shows every frame, each image loaded.
    let row = job_row(&dom, &job).expect("the job's row");
    assert_eq!(row.state, "complete", "{row:?}");
    assert_eq!(row.progress, format!("{shards} / {shards} shards"));
    let frames = call(&addr, None, "job_frames", json!({"job_id": job}));
    let frames = frames["frames"].as_array().expect("frames").clone();
    assert_eq!(frames.len(), 2, "{frames:?}");
    for f in &frames {
        let cid = f["cid"].as_str().expect("cid");
        let (at, figure) = tag(&row.html, &format!("data-cid=\"{cid}\"")).unwrap_or_else(|| {
            panic!(
                "no thumbnail of frame {} ({cid}):\n{}",
                f["frame"], row.html
            )
        });
        let class = attr(figure, "class").unwrap_or_default();
        assert!(
            class.split(' ').any(|c| c == "thumb") && class.split(' ').any(|c| c == "loaded"),
            "the thumbnail is shown and its image loaded: {figure}"
        );
        let (_, img) = tag(&row.html[at..], "<img ").expect("an <img> in the thumbnail");
        assert_eq!(
            attr(img, "src"),
            Some(format!("/file/{cid}?as=png").as_str()),
            "{img}"
        );
    }

    // The network: both checkers, and a row for every worker the node knows, which are
    // the devnet's workers.
    let checkers = [peer_of(&dir, "checker-1"), peer_of(&dir, "checker-2")];
    for peer in &checkers {
        let (_, tr) = tag(&dom, &format!("data-peer-id=\"{peer}\""))
            .unwrap_or_else(|| panic!("no row for checker {peer}"));
        assert!(tr.starts_with("<tr class=\"checker\""), "{tr}");
        // Honest checkers: not banned, and nothing found against them.
        assert!(!tr.contains("data-status=\"banned\""), "{tr}");
    }
    assert_eq!(dom.matches("<tr class=\"checker\"").count(), 2);
    assert!(
        dom.contains("Found against it"),
        "the checkers table lists findings"
    );
    assert!(
        !dom.contains("class=\"findings"),
        "no findings against honest checkers"
    );
    let workers = [peer_of(&dir, "worker-1"), peer_of(&dir, "worker-2")];
    let known = call(&addr, None, "net_workers", json!([]));
    let known: Vec<&str> = known
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["peer_id"].as_str().expect("peer_id"))
        .collect();
    assert!(
        !known.is_empty(),
        "the creator knows the workers that rendered its job"
    );
    for peer in &known {
        assert!(
            workers.iter().any(|w| w == peer),
            "{peer} is one of the devnet's workers"
        );
        let (_, tr) = tag(&dom, &format!("data-peer-id=\"{peer}\""))
            .unwrap_or_else(|| panic!("no row for worker {peer}"));
        assert!(tr.starts_with("<tr class=\"worker\""), "{tr}");
        assert!(
            attr(tr, "data-status").is_some_and(|s| !s.is_empty()),
            "{tr}"
        );
    }

    // The job's budget: once every shard is paid (a fee of 1 each; the devnet's workers
    // are free) the rest is refunded, and the page says so in the job's row and in the
    // node's credits.
    let shards = call(&addr, None, "job_status", json!({"job_id": job}))["shards"]
        .as_u64()
        .expect("shards");
    let want = format!("paid {shards} of 200 credits · {} refunded", 200 - shards);
    let deadline = Instant::now() + Duration::from_secs(60);
    let dom = loop {
        let dom = browser.dom(&url);
        assert!(job_row(&dom, &job).is_some(), "no row for job {job}");
        if dom.contains(&want) {
            break dom;
        }
        assert!(Instant::now() < deadline, "no {want:?} on the page:\n{dom}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let (_, row) = tag(&dom, "id=\"node-credits-row\"").expect("the credits row");
    assert!(attr(row, "hidden").is_none(), "shown: {row}");
    let balance = format!("{} credits · 0 escrowed", 1000 - shards);
    assert_eq!(text_of(&dom, "id=\"node-credits\""), Some(balance.as_str()));

    // The header: the network's name, and the live feed subscribed.
    assert_eq!(text_of(&dom, "id=\"network\""), Some("devnet"));
    let (_, conn) = tag(&dom, "id=\"conn\"").expect("the connection indicator");
    assert_eq!(
        attr(conn, "data-state"),
        Some("live"),
        "the WebSocket feed: {conn}"
    );

    // What a person sees: a screenshot, kept in target/ to look at.
    let shot = tmp.path().join("explorer.png");
    let (_, console) = browser.run(&[format!("--screenshot={}", shot.display())], &url);
    assert!(console.is_empty(), "{}", console.join("\n"));
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a PNG of the page"
    );
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo.join("target"), |t| repo.join(t));
    let kept = target.join("explorer.png");
    std::fs::create_dir_all(&target).expect("target/");
    std::fs::copy(&shot, &kept).expect("copy the screenshot");
    eprintln!(
        "explorer test: {} page loads in {:.1?}; screenshot at {}",
        browser.runs,
        began.elapsed(),
        kept.display()
    );
}
