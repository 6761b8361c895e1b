//! `job_*`: submit, follow, list, cancel and fetch this node's jobs.

use std::path::PathBuf;

use jsonrpsee::{
    core::SubscriptionError, types::ErrorObjectOwned, PendingSubscriptionSink, RpcModule,
    SubscriptionMessage,
};
use pictor_protocol::{ContentId, Engine, FrameRange, JobId, JobSpec};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::{
    error, node_error, params, require_token, Context, Ctx, INVALID_JOB, INVALID_PARAMS,
    UNKNOWN_JOB,
};
use crate::{JobProgress, JobState, NodeEvent};

type Answer = Result<Value, ErrorObjectOwned>;

/// Largest scene a job may name, read from the block store or the node's disk.
const MAX_SCENE: u64 = pictor_gpu::MAX_BUNDLE_BYTES;

pub(super) fn register(module: &mut RpcModule<Context>) {
    let r = module.register_async_method("job_submit", |p, ctx, ext| async move {
        require_token(&ext)?;
        submit(ctx, params(&p, &[])?).await
    });
    debug_assert!(r.is_ok());
    let r = module.register_async_method("job_status", |p, ctx, _| async move {
        let JobParam { job_id } = params(&p, &["job_id"])?;
        status(ctx, &job_id).await
    });
    debug_assert!(r.is_ok());
    let r = module.register_async_method("job_list", |p, ctx, _| async move {
        let ListParams { state } = params(&p, &["state"])?;
        list(ctx, state).await
    });
    debug_assert!(r.is_ok());
    let r = module.register_async_method("job_cancel", |p, ctx, ext| async move {
        require_token(&ext)?;
        let JobParam { job_id } = params(&p, &["job_id"])?;
        cancel(ctx, &job_id).await
    });
    debug_assert!(r.is_ok());
    let r = module.register_async_method("job_frames", |p, ctx, _| async move {
        let JobParam { job_id } = params(&p, &["job_id"])?;
        frames(ctx, &job_id).await
    });
    debug_assert!(r.is_ok());
    let r = module.register_subscription(
        "job_subscribe",
        "job_event",
        "job_unsubscribe",
        |p, pending, ctx, _| async move { subscribe(p, pending, ctx).await },
    );
    debug_assert!(r.is_ok());
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobParam {
    job_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    #[serde(default)]
    state: Option<String>,
}

/// `job_submit`'s one object: the CLI's flags by the same names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submit {
    scene_cid: Option<String>,
    scene_path: Option<PathBuf>,
    /// Shown in listings; default: the file name of `scene_path`, or the CID.
    scene_name: Option<String>,
    #[serde(default = "default_frames")]
    frames: String,
    #[serde(default = "default_width")]
    width: u32,
    #[serde(default = "default_height")]
    height: u32,
    #[serde(default = "default_samples")]
    samples: u32,
    tile: Option<u32>,
    engine: Option<String>,
    /// The highest worker price accepted, credits per benchmark-normalised render-second
    /// (0 or absent: no cap).
    #[serde(default)]
    price_cap: u64,
    /// Credits escrowed for the job from this node's account before it is published
    /// (0 or absent: none).
    #[serde(default)]
    budget: u64,
}

fn default_frames() -> String {
    "1".into()
}
fn default_width() -> u32 {
    512
}
fn default_height() -> u32 {
    384
}
fn default_samples() -> u32 {
    32
}

pub(super) fn job_id(text: &str) -> Result<JobId, ErrorObjectOwned> {
    text.trim().parse().map_err(|_| {
        error(
            INVALID_PARAMS,
            format!("{text:?} is not a job id (64 hex characters, as job_submit answers)"),
        )
    })
}

fn invalid(message: impl Into<String>) -> ErrorObjectOwned {
    error(INVALID_JOB, message)
}

async fn submit(ctx: Ctx, req: Submit) -> Answer {
    let frames: FrameRange = req
        .frames
        .parse()
        .map_err(|e| error(INVALID_PARAMS, format!("frames {:?}: {e}", req.frames)))?;
    let (bytes, name, engine) = match (&req.scene_cid, &req.scene_path) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(error(
                INVALID_PARAMS,
                "give exactly one of scene_cid (a file uploaded to /upload) and scene_path (a file on the node's machine)",
            ))
        }
        (Some(cid), None) => {
            let engine = parse_engine(req.engine.as_deref(), None)?;
            let bytes = from_store(&ctx, cid).await?;
            if !engine.is_blender() {
                if let Err(e) = pictor_gpu::SceneBundle::from_bytes(&bytes) {
                    return Err(invalid(format!(
                        "scene {cid} is not a scene bundle (the glTF with every file it names, as `pictor job submit` uploads it): {e}"
                    )));
                }
            }
            (bytes, cid.clone(), engine)
        }
        (None, Some(path)) => {
            let engine = parse_engine(req.engine.as_deref(), Some(path))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (from_path(path.clone(), engine).await?, name, engine)
        }
    };
    let status = ctx.client()?.status().await.map_err(|e| node_error(&e))?;
    let tile = req
        .tile
        .unwrap_or(if engine.is_blender() { 256 } else { 128 });
    let spec = JobSpec {
        creator: status.key,
        scene: ContentId::of(&bytes),
        scene_name: req.scene_name.unwrap_or(name),
        engine,
        frames,
        width: req.width,
        height: req.height,
        samples: req.samples,
        tile,
        price_cap: req.price_cap,
        nonce: crate::now_ms(),
        epoch: 0,
    };
    spec.validate()
        .map_err(|e| error(INVALID_PARAMS, format!("invalid params: {e}")))?;
    let id = ctx
        .client()?
        .submit_with_budget(spec, bytes, req.budget)
        .await
        .map_err(|e| node_error(&e))?;
    Ok(json!({ "job_id": id.to_string() }))
}

fn parse_engine(text: Option<&str>, path: Option<&PathBuf>) -> Result<Engine, ErrorObjectOwned> {
    match text {
        Some(t) => t.parse().map_err(|e: String| error(INVALID_PARAMS, e)),
        None => Ok(match path.and_then(|p| p.extension()) {
            Some(ext) if ext.eq_ignore_ascii_case("blend") => Engine::Blender,
            _ => Engine::Builtin,
        }),
    }
}

/// A scene uploaded before: the UnixFS file in this node's block store.
async fn from_store(ctx: &Ctx, cid: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    let root = cid::Cid::try_from(cid).map_err(|e| {
        error(
            INVALID_PARAMS,
            format!("scene_cid {cid:?} is not a CID: {e}"),
        )
    })?;
    let bytes = crate::blocks::export_local(ctx.blockstore.clone(), root, MAX_SCENE)
        .await
        .map_err(|e| match e {
            pictor_ipfs::IpfsError::MissingBlock(_) => invalid(format!(
                "scene {cid} is not in this node's block store: upload it first (POST /upload)"
            )),
            other => invalid(format!("scene {cid}: {other}")),
        })?;
    Ok(bytes.to_vec())
}

/// A scene on the node's own machine: a glTF bundled with the files it names, or a
/// Blender file as it is.
async fn from_path(path: PathBuf, engine: Engine) -> Result<Vec<u8>, ErrorObjectOwned> {
    let read = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, crate::NodeError> {
        if !path.is_file() {
            return Err(crate::NodeError::SceneNotFound(path.display().to_string()));
        }
        if engine.is_blender() {
            let bytes = std::fs::read(&path).map_err(|e| crate::NodeError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            crate::render::check_blend(&path, &bytes)?;
            Ok(bytes)
        } else {
            Ok(pictor_gpu::SceneBundle::from_path(&path)?.to_bytes())
        }
    });
    match read.await {
        Ok(result) => result.map_err(|e| node_error(&e)),
        Err(e) => Err(invalid(format!("reading the scene failed: {e}"))),
    }
}

/// A job's progress as the methods answer it.
pub(crate) fn job_json(p: &JobProgress) -> Value {
    json!({
        "job_id": p.id.to_string(),
        "state": p.state.to_string(),
        "reason": p.reason,
        "shards": p.shards,
        "rendered": p.rendered,
        "verified": p.verified,
        "rejected": p.rejected,
        "frames": p.frames,
        "frames_done": p.frame_cids.len(),
        "scene_name": p.scene_name,
        "engine": p.engine.to_string(),
        "width": p.width,
        "height": p.height,
        "samples": p.samples,
        "tile": p.tile,
        "progress": if p.shards == 0 { 0.0 } else { p.verified as f64 / p.shards as f64 },
        "submitted_ms": p.submitted_ms,
        "finished_ms": p.finished_ms,
        "escrow": p.escrow,
        "paused": p.paused,
    })
}

async fn progress(ctx: &Ctx, text: &str) -> Result<JobProgress, ErrorObjectOwned> {
    let id = job_id(text)?;
    ctx.client()?
        .job(id)
        .await
        .map_err(|e| node_error(&e))?
        .ok_or_else(|| {
            error(
                UNKNOWN_JOB,
                format!("job {} is not one of this node's jobs (or it was pruned after its retention period)", id.short()),
            )
        })
}

async fn status(ctx: Ctx, job: &str) -> Answer {
    Ok(job_json(&progress(&ctx, job).await?))
}

async fn list(ctx: Ctx, state: Option<String>) -> Answer {
    let jobs = ctx.client()?.jobs().await.map_err(|e| node_error(&e))?;
    let rows: Vec<Value> = jobs
        .iter()
        .filter(|p| state.as_deref().is_none_or(|s| p.state.to_string() == s))
        .map(job_json)
        .collect();
    Ok(Value::Array(rows))
}

async fn cancel(ctx: Ctx, job: &str) -> Answer {
    let id = job_id(job)?;
    ctx.client()?.cancel(id).await.map_err(|e| node_error(&e))?;
    Ok(json!({ "job_id": id.to_string(), "state": JobState::Cancelled.to_string() }))
}

async fn frames(ctx: Ctx, job: &str) -> Answer {
    let p = progress(&ctx, job).await?;
    let base = &ctx.info.http;
    let frames: Vec<Value> = p
        .frame_cids
        .iter()
        .map(|(frame, cid)| {
            json!({
                "frame": frame,
                "cid": cid,
                "url": format!("{base}/file/{cid}?as=png"),
                "gateway_url": format!("{base}/ipfs/{cid}?format=raw"),
            })
        })
        .collect();
    Ok(json!({ "job_id": p.id.to_string(), "state": p.state.to_string(), "frames": frames }))
}

/// One progress event as a subscription sends it.
pub(crate) fn event_json(event: &NodeEvent) -> (JobId, Value) {
    let shard = |s: &pictor_protocol::ShardId| json!({"frame": s.frame, "tile": s.tile});
    match event {
        NodeEvent::Assigned {
            shard: s,
            worker,
            attempt,
        } => (
            s.job,
            json!({"kind": "assigned", "shard": shard(s), "worker": worker.to_string(), "attempt": attempt}),
        ),
        NodeEvent::Rendered {
            shard: s,
            worker,
            render_ms,
        } => (
            s.job,
            json!({"kind": "rendered", "shard": shard(s), "worker": worker.to_string(), "render_ms": render_ms}),
        ),
        NodeEvent::Attested {
            shard: s,
            checker,
            verdict,
            samples,
        } => (
            s.job,
            json!({"kind": "attested", "shard": shard(s), "checker": checker.to_string(), "verdict": format!("{verdict:?}").to_lowercase(), "samples": samples}),
        ),
        NodeEvent::Verified { shard: s, worker } => (
            s.job,
            json!({"kind": "verified", "shard": shard(s), "worker": worker.to_string()}),
        ),
        NodeEvent::Rejected { shard: s, worker } => (
            s.job,
            json!({"kind": "rejected", "shard": shard(s), "worker": worker.to_string()}),
        ),
        NodeEvent::FrameStored { job, frame, cid } => {
            (*job, json!({"kind": "frame", "frame": frame, "cid": cid}))
        }
        NodeEvent::Finished { job, state, reason } => (
            *job,
            json!({"kind": "finished", "state": state.to_string(), "reason": reason}),
        ),
        NodeEvent::Problem { job, message } => {
            (*job, json!({"kind": "problem", "message": message}))
        }
    }
}

/// `job_subscribe`: one `job_event` notification per event of the job (or of every job
/// of this node when no job is named), starting with a `status` event; the subscription
/// ends after the job's `finished` event.
async fn subscribe(
    p: jsonrpsee::types::Params<'static>,
    pending: PendingSubscriptionSink,
    ctx: Ctx,
) -> Result<(), SubscriptionError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sub {
        job_id: Option<String>,
    }
    let sub: Sub = match params(&p, &["job_id"]) {
        Ok(s) => s,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    let mut events = match ctx.client() {
        Ok(client) => client.events(),
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    let (job, first) = match &sub.job_id {
        None => (None, None),
        Some(text) => match progress(&ctx, text).await {
            Ok(p) => (Some(p.id), Some(p)),
            Err(e) => {
                pending.reject(e).await;
                return Ok(());
            }
        },
    };
    let sink = pending.accept().await?;
    let send = |value: Value| {
        let raw = serde_json::value::to_raw_value(&value).map(SubscriptionMessage::from);
        async {
            sink.send(raw.map_err(|e| SubscriptionError::from(e.to_string()))?)
                .await
                .map_err(|e| SubscriptionError::from(e.to_string()))
        }
    };
    if let Some(p) = &first {
        let mut status = job_json(p);
        status["kind"] = json!("status");
        send(status).await?;
        if p.state.is_finished() {
            return Ok(());
        }
    }
    loop {
        tokio::select! {
            () = sink.closed() => return Ok(()),
            event = events.recv() => match event {
                Ok(event) => {
                    let (of, mut value) = event_json(&event);
                    if job.is_some_and(|j| j != of) {
                        continue;
                    }
                    value["job_id"] = json!(of.to_string());
                    value["at_ms"] = json!(crate::now_ms());
                    let done = job.is_some() && value["kind"] == "finished";
                    send(value).await?;
                    if done {
                        return Ok(());
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    send(json!({"kind": "lagged", "missed": n, "job_id": job.map(|j| j.to_string())})).await?;
                }
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }
}
