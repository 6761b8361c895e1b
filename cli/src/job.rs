//! `pictor job submit|status|watch|fetch|list|cancel`: clients of a running node's RPC.

use std::{path::PathBuf, time::Instant};

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pictor_protocol::{Engine, FrameRange};
use serde_json::{json, Value};

use crate::rpc_client::{emit, exit, exit_with, Connect, Node};

/// Flags of `pictor job`.
#[derive(Debug, Args)]
pub(crate) struct JobArgs {
    #[command(flatten)]
    connect: Connect,
    #[command(subcommand)]
    command: JobCommand,
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Upload a scene to the node and submit a job; prints the job id.
    Submit(SubmitArgs),
    /// A job's state and progress.
    Status { job_id: String },
    /// Follow a job live until it ends.
    Watch { job_id: String },
    /// Download a job's verified frames, each checked against its CID.
    Fetch {
        job_id: String,
        /// Where the frames go (frame-0001.png, …).
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// This node's jobs.
    List {
        /// Only jobs in this state (submitted, running, complete, failed, cancelled).
        #[arg(long)]
        state: Option<String>,
    },
    /// Cancel a job.
    Cancel { job_id: String },
}

/// Flags of `pictor job submit`: those of `pictor render`, by the same names.
#[derive(Debug, Args)]
struct SubmitArgs {
    /// The scene: a glTF 2.0 file (.gltf or .glb) for the built-in engine, or a .blend.
    scene: PathBuf,
    /// `builtin`, `blender` (Cycles) or `blender-eevee`; default by the file's extension.
    #[arg(long)]
    engine: Option<Engine>,
    /// Frames to render: `1-4` or `7`.
    #[arg(long, default_value = "1")]
    frames: FrameRange,
    #[arg(long, default_value_t = 512)]
    width: u32,
    #[arg(long, default_value_t = 384)]
    height: u32,
    /// Samples per pixel.
    #[arg(long, default_value_t = 32)]
    samples: u32,
    /// Tile size in pixels (default 128 built-in, 256 Blender).
    #[arg(long)]
    tile: Option<u32>,
    /// The highest worker price accepted, in credits per benchmark-normalised
    /// render-second: workers that ask more get none of the job's shards (0: no cap).
    #[arg(long, default_value_t = 0)]
    price_cap: u64,
    /// Credits to escrow for the job from this node's account: each accepted shard pays
    /// its worker's price and the committee's fee from it, and the rest comes back when
    /// the job is complete (0: none; only free workers render it for nothing).
    #[arg(long, default_value_t = 0)]
    budget: u64,
    /// Wait until the frames are verified, with a progress bar, then print the summary.
    #[arg(long)]
    wait: bool,
    /// With --wait: also download the verified frames here.
    #[arg(long, requires = "wait")]
    out: Option<PathBuf>,
}

pub(crate) fn run(args: JobArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let json = args.connect.json;
        let node = args.connect.node()?;
        match args.command {
            JobCommand::Submit(s) => submit(&node, s, json).await,
            JobCommand::Status { job_id } => {
                let status = node.call("job_status", json!({ "job_id": job_id })).await?;
                print_value(json, &status, || describe(&status));
                Ok(())
            }
            JobCommand::Watch { job_id } => watch(&node, &job_id, json).await,
            JobCommand::Fetch { job_id, out } => fetch(&node, &job_id, &out, json).await,
            JobCommand::List { state } => {
                let params = state.map_or(json!({}), |s| json!({ "state": s }));
                let jobs = node.call("job_list", params).await?;
                print_value(json, &jobs, || list(&jobs));
                Ok(())
            }
            JobCommand::Cancel { job_id } => {
                let answer = node.call("job_cancel", json!({ "job_id": job_id })).await?;
                print_value(json, &answer, || format!("cancelled {job_id}"));
                Ok(())
            }
        }
    })
}

pub(crate) fn print_value(json: bool, value: &Value, text: impl FnOnce() -> String) {
    if json {
        emit!("{value}");
    } else {
        emit!("{}", text());
    }
}

fn describe(s: &Value) -> String {
    let mut out = format!(
        "job {}\n  state     {}\n  shards    {} verified of {} ({} rendered, {} rejected)\n  frames    {} of {} stored",
        s["job_id"].as_str().unwrap_or(""),
        s["state"].as_str().unwrap_or("?"),
        s["verified"],
        s["shards"],
        s["rendered"],
        s["rejected"],
        s["frames_done"],
        s["frames"],
    );
    if let Some(reason) = s["reason"].as_str() {
        out.push_str(&format!("\n  reason    {reason}"));
    }
    let e = &s["escrow"];
    if e.is_object() {
        out.push_str(&format!(
            "\n  budget    {} credits: {} paid to workers, {} in checker fees, {} left{}",
            e["funded"],
            e["paid_workers"],
            e["paid_fees"],
            e["remaining"],
            if e["closed"] == true {
                format!(", {} refunded", e["refunded"])
            } else {
                String::new()
            }
        ));
    }
    if let Some(paused) = s["paused"].as_str() {
        out.push_str(&format!("\n  {paused}"));
    }
    out
}

fn list(jobs: &Value) -> String {
    let rows = jobs.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return "no jobs".into();
    }
    let mut out = format!(
        "{:<66}{:<11}{:>16}{:>8}",
        "JOB", "STATE", "SHARDS", "FRAMES"
    );
    for j in rows {
        out.push_str(&format!(
            "\n{:<66}{:<11}{:>16}{:>8}",
            j["job_id"].as_str().unwrap_or(""),
            j["state"].as_str().unwrap_or(""),
            format!("{}/{}", j["verified"], j["shards"]),
            format!("{}/{}", j["frames_done"], j["frames"]),
        ));
    }
    out
}

/// Reads the scene as the job names it: a glTF bundled with every file it references,
/// or a Blender file as it is.
fn scene_bytes(scene: &std::path::Path, engine: Engine) -> Result<Vec<u8>> {
    if !scene.is_file() {
        return Err(exit_with(2, format!("scene {} not found", scene.display())));
    }
    if engine.is_blender() {
        return std::fs::read(scene).with_context(|| format!("cannot read {}", scene.display()));
    }
    Ok(pictor_gpu::SceneBundle::from_path(scene)
        .with_context(|| format!("scene {}", scene.display()))?
        .to_bytes())
}

async fn submit(node: &Node, s: SubmitArgs, json: bool) -> Result<()> {
    let engine = s.engine.unwrap_or(
        if s.scene
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("blend"))
        {
            Engine::Blender
        } else {
            Engine::Builtin
        },
    );
    let bytes = scene_bytes(&s.scene, engine)?;
    let cid = node.upload(bytes).await?;
    let name = s
        .scene
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut params = json!({
        "scene_cid": cid,
        "scene_name": name,
        "frames": s.frames.to_string(),
        "width": s.width,
        "height": s.height,
        "samples": s.samples,
        "engine": engine.to_string(),
    });
    if s.price_cap > 0 {
        params["price_cap"] = json!(s.price_cap);
    }
    if s.budget > 0 {
        params["budget"] = json!(s.budget);
    }
    if let Some(tile) = s.tile {
        params["tile"] = json!(tile);
    }
    let started = Instant::now();
    let answer = node.call("job_submit", params).await?;
    let job = answer["job_id"].as_str().unwrap_or_default().to_owned();
    if !s.wait {
        print_value(json, &answer, || job.clone());
        return Ok(());
    }
    if !json {
        eprintln!("submitted job {job}");
    }
    let end = follow(node, &job, !json).await?;
    let status = node.call("job_status", json!({ "job_id": job })).await?;
    let mut summary = status.clone();
    summary["wall_seconds"] = json!(started.elapsed().as_secs_f64());
    let mut written = Vec::new();
    if let (Some(out), "complete") = (&s.out, end.as_str()) {
        written = download(node, &job, out).await?;
        summary["frames_written"] = json!(written);
    }
    print_value(json, &summary, || {
        let mut text = describe(&status);
        text.push_str(&format!(
            "\n  wall      {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        for w in &written {
            text.push_str(&format!("\n  wrote     {w}"));
        }
        text
    });
    finished_ok(&end, &job)
}

fn finished_ok(state: &str, job: &str) -> Result<()> {
    match state {
        "complete" => Ok(()),
        other => Err(exit_with(
            exit::JOB_FAILED,
            format!("job {job} ended {other}"),
        )),
    }
}

/// Follows a job's events until it ends; answers its final state.
async fn follow(node: &Node, job: &str, bar: bool) -> Result<String> {
    let mut watch = node
        .subscribe("job_subscribe", json!({ "job_id": job }), "job_unsubscribe")
        .await?;
    let progress = if bar {
        let pb = ProgressBar::new(0);
        pb.set_style(
            ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} shards verified {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut state = String::from("running");
    while let Some(event) = watch.events.next().await {
        let event = event
            .map_err(|e| exit_with(exit::UNREACHABLE, format!("the subscription broke: {e}")))?;
        match event["kind"].as_str().unwrap_or("") {
            "status" => {
                progress.set_length(event["shards"].as_u64().unwrap_or(0));
                progress.set_position(event["verified"].as_u64().unwrap_or(0));
                state = event["state"].as_str().unwrap_or("running").to_owned();
            }
            "verified" => progress.inc(1),
            "rejected" => progress.println(format!(
                "claim rejected: frame {} tile {} by worker {}",
                event["shard"]["frame"],
                event["shard"]["tile"],
                event["worker"].as_str().unwrap_or("")
            )),
            "frame" => progress.set_message(format!("(frame {} stored)", event["frame"])),
            "finished" => {
                state = event["state"].as_str().unwrap_or("").to_owned();
                break;
            }
            _ => {}
        }
        if matches!(state.as_str(), "complete" | "failed" | "cancelled") {
            break;
        }
    }
    progress.finish_and_clear();
    Ok(state)
}

async fn watch(node: &Node, job: &str, json: bool) -> Result<()> {
    let mut watch = node
        .subscribe("job_subscribe", json!({ "job_id": job }), "job_unsubscribe")
        .await?;
    let mut state = String::from("running");
    while let Some(event) = watch.events.next().await {
        let event = event
            .map_err(|e| exit_with(exit::UNREACHABLE, format!("the subscription broke: {e}")))?;
        if json {
            emit!("{event}");
        } else {
            emit!("{}", event_line(&event));
        }
        match event["kind"].as_str() {
            Some("finished") => {
                state = event["state"].as_str().unwrap_or("").to_owned();
                break;
            }
            Some("status")
                if matches!(
                    event["state"].as_str(),
                    Some("complete" | "failed" | "cancelled")
                ) =>
            {
                state = event["state"].as_str().unwrap_or("").to_owned();
                break;
            }
            _ => {}
        }
    }
    finished_ok(&state, job)
}

fn event_line(e: &Value) -> String {
    let shard = || format!("frame {} tile {}", e["shard"]["frame"], e["shard"]["tile"]);
    let short = |v: &Value| {
        v.as_str()
            .map(|s| s.chars().take(8).collect::<String>())
            .unwrap_or_default()
    };
    match e["kind"].as_str().unwrap_or("") {
        "status" => format!(
            "{}: {} of {} shards verified",
            e["state"].as_str().unwrap_or(""),
            e["verified"],
            e["shards"]
        ),
        "assigned" => format!("assigned  {} to worker {}", shard(), short(&e["worker"])),
        "rendered" => format!(
            "rendered  {} by worker {} in {} ms",
            shard(),
            short(&e["worker"]),
            e["render_ms"]
        ),
        "attested" => format!(
            "attested  {} by checker {}: {}",
            shard(),
            short(&e["checker"]),
            e["verdict"].as_str().unwrap_or("")
        ),
        "verified" => format!("verified  {}", shard()),
        "rejected" => format!("REJECTED  {} from worker {}", shard(), short(&e["worker"])),
        "frame" => format!(
            "frame {} stored as {}",
            e["frame"],
            e["cid"].as_str().unwrap_or("")
        ),
        "finished" => match e["reason"].as_str() {
            Some(r) => format!("finished: {} ({r})", e["state"].as_str().unwrap_or("")),
            None => format!("finished: {}", e["state"].as_str().unwrap_or("")),
        },
        "problem" => format!("problem: {}", e["message"].as_str().unwrap_or("")),
        "lagged" => format!("(missed {} events)", e["missed"]),
        other => format!("{other}: {e}"),
    }
}

/// Downloads the finished frames, each checked against its CID; answers the paths.
async fn download(node: &Node, job: &str, out: &std::path::Path) -> Result<Vec<String>> {
    let answer = node.call("job_frames", json!({ "job_id": job })).await?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = Vec::new();
    for frame in answer["frames"].as_array().cloned().unwrap_or_default() {
        let number = frame["frame"].as_u64().unwrap_or(0);
        let cid = frame["cid"].as_str().unwrap_or_default();
        let bytes = node.file(cid).await?;
        let (root, _) =
            pictor_ipfs::unixfs::import(bytes.clone(), pictor_ipfs::unixfs::DEFAULT_CHUNK_SIZE)
                .context("cannot re-chunk the frame")?;
        if root.to_string() != cid {
            return Err(exit_with(
                exit::JOB_FAILED,
                format!("frame {number}: the bytes served hash to {root}, not {cid}: not written"),
            ));
        }
        let path = out.join(format!("frame-{number:04}.png"));
        let tmp = path.with_extension("png.partial");
        std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

async fn fetch(node: &Node, job: &str, out: &std::path::Path, json: bool) -> Result<()> {
    let status = node.call("job_status", json!({ "job_id": job })).await?;
    let written = download(node, job, out).await?;
    let state = status["state"].as_str().unwrap_or("").to_owned();
    let summary = json!({"job_id": job, "state": state, "frames_written": written});
    print_value(json, &summary, || {
        let mut text = format!(
            "{} frame(s) of {} verified against their CIDs",
            written.len(),
            status["frames"]
        );
        for w in &written {
            text.push_str(&format!("\n  wrote {w}"));
        }
        if state != "complete" {
            text.push_str(&format!("\n  the job is {state}: fetch again for the rest"));
        }
        text
    });
    match state.as_str() {
        "failed" | "cancelled" => Err(exit_with(
            exit::JOB_FAILED,
            format!("job {job} ended {state}"),
        )),
        _ => Ok(()),
    }
}
