//! `pictor render`: one job carried through a local network (or rendered directly, the
//! baseline), with verified frames written as PNG files.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use pictor_gpu::{
    decode_png, encode_png, render_frame, render_frame_direct, Blender, BlenderDevice,
    RegionRequest, RenderSettings, Scene, SceneBundle,
};
use pictor_protocol::{rules, ContentId, Engine, FrameRange, JobSpec};
use serde::Serialize;

pub mod bans;
pub mod credits;
pub mod finality;
mod peer;
mod report;
pub mod soak;
mod stream;

use peer::JobPeer;

use crate::{
    engines::{blender_seed, BLENDER_RENDER_TIMEOUT},
    now_ms,
    roles::perceptual::blender_engine,
    NodeError, NodeEvent,
};

/// What to render and how.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub scene: PathBuf,
    pub engine: Engine,
    /// Where workers render Blender jobs (CPU, CUDA or OptiX); `--direct` uses it too.
    pub blender_device: BlenderDevice,
    pub frames: FrameRange,
    pub width: u32,
    pub height: u32,
    pub samples: u32,
    pub tile: u32,
    pub out: PathBuf,
    pub checkers: usize,
    pub workers: usize,
    pub faulty_workers: usize,
    /// Checkers of the local network that attest without checking.
    pub lazy_checkers: usize,
    /// Checkers of the local network that sign conflicting votes.
    pub equivocating_checkers: usize,
    /// Shard attempts the local network's workers turn into canaries (forced errors that
    /// catch lazy checkers), parts per million.
    pub canary_rate_ppm: u32,
    /// Give up when nothing has happened for this long.
    pub stall_timeout: Duration,
    /// What the local network asks of its workers (a network spec's `[requirements]`).
    pub requirements: pictor_gpu::HardwareRequirements,
    /// A running network to submit to (its spec file) instead of a local network made
    /// for the one job; this program joins it as a creator peer of its own.
    pub network: Option<PathBuf>,
    /// The creator's home on that network (its key and database); a temporary one when
    /// `None`.
    pub home: Option<PathBuf>,
    /// The highest worker price the job accepts, credits per benchmark-normalised
    /// render-second (0: no cap).
    pub price_cap: u64,
    /// The local network's worker prices, worker by worker (missing ones: 0).
    pub worker_prices: Vec<u64>,
}

/// Progress of a render, for a progress bar.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The network formed and the job was submitted.
    Submitted { shards: u64 },
    /// Shards rendered and verified so far.
    Shards { rendered: u64, verified: u64 },
    /// A claim was rejected.
    Rejected { shard: String, worker: String },
    /// A frame was written.
    FrameWritten { path: PathBuf },
}

/// One worker's tally.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerTally {
    pub accepted: u64,
    /// Claims rejected by a quorum, canaries included.
    pub rejected: u64,
    /// Rejected claims the worker revealed as its canaries (forced errors): no offence.
    pub canaries: u64,
}

/// A checker as the creator saw it at the end of the job.
#[derive(Debug, Clone, Serialize)]
pub struct CheckerReport {
    /// Its key, shortened.
    pub key: String,
    /// How it was made to behave (a local network's: `honest`, `lazy`, `equivocating`;
    /// `unknown` on a network this program joined).
    pub behaviour: &'static str,
    pub status: pictor_protocol::CheckerStatus,
    /// What was found against it.
    pub findings: Vec<String>,
    /// Whether it was on the job's committee (drawn from the network spec's genesis set):
    /// a checker off it attested nothing, so nothing could be found against it.
    pub on_committee: bool,
}

/// What a render did, for the summary (and `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct RenderSummary {
    pub mode: &'static str,
    /// The job's id on the network (empty for a direct render).
    pub job_id: String,
    pub scene: String,
    pub engine: Engine,
    pub frames: Vec<PathBuf>,
    /// The frames' CIDs on the creator node (UnixFS files, served over Bitswap and the
    /// node's gateway while it runs). Empty for a direct render.
    pub frame_cids: Vec<String>,
    pub width: u32,
    pub height: u32,
    pub samples: u32,
    pub tile: u32,
    pub shards: u64,
    pub checkers: usize,
    /// Every checker with its status and what was found against it.
    pub checker_report: Vec<CheckerReport>,
    pub workers: BTreeMap<String, WorkerTally>,
    pub claims_rejected: u64,
    pub attestations: u64,
    pub committee_size: usize,
    pub samples_per_checker: usize,
    /// Pixels the checkers re-rendered, over all shards.
    pub pixels_rerendered: u64,
    /// Pixels the workers rendered in accepted shards.
    pub pixels_rendered: u64,
    /// The largest fraction of any one shard's pixels re-rendered by its committee.
    pub max_shard_fraction_rerendered: f64,
    /// The chance that a claim with 10 % of its pixels falsified is rejected.
    pub detection_probability: f64,
    pub wall_seconds: f64,
}

/// A scene checked and ready to render directly.
enum Prepared {
    Builtin(Box<Scene>),
    Blender(Blender),
}

/// Reads and checks the scene and the request before anything starts or is written.
/// Returns the scene block that the job names.
fn prepare(req: &RenderRequest) -> Result<(Vec<u8>, Prepared), NodeError> {
    if !req.scene.exists() {
        return Err(NodeError::SceneNotFound(req.scene.display().to_string()));
    }
    if req.engine.is_blender() {
        let blender = Blender::locate().map_err(|e| NodeError::Engine(e.to_string()))?;
        let bytes = std::fs::read(&req.scene).map_err(|e| NodeError::Io {
            path: req.scene.display().to_string(),
            reason: e.to_string(),
        })?;
        check_blend(&req.scene, &bytes)?;
        return Ok((bytes, Prepared::Blender(blender)));
    }
    let bundle = SceneBundle::from_path(&req.scene)?.to_bytes();
    let scene = Scene::from_bundle_bytes(&bundle)?;
    for frame in req.frames.iter() {
        scene.check_frame(frame)?;
    }
    Ok((bundle, Prepared::Builtin(Box::new(scene))))
}

/// A `.blend` file starts with `BLENDER` (or is gzip- or zstd-compressed); anything else
/// is refused before Blender is asked to open it.
pub(crate) fn check_blend(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let plain = bytes.starts_with(b"BLENDER");
    let gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let zstd = bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
    if plain || gzip || zstd {
        Ok(())
    } else {
        Err(NodeError::InvalidScene(format!(
            "{} is not a Blender file (it does not start with the .blend header)",
            path.display()
        )))
    }
}

fn frame_path(out: &Path, frame: u32) -> PathBuf {
    out.join(format!("frame-{frame:04}.png"))
}

/// Writes a frame atomically, then checks that the file decodes to the same pixels.
fn write_frame(
    out: &Path,
    frame: u32,
    width: u32,
    height: u32,
    rgb: &[u8],
) -> Result<PathBuf, NodeError> {
    let png = encode_png(width, height, rgb)?;
    let (w, h, decoded) = decode_png(&png)?;
    if (w, h) != (width, height) || decoded != rgb {
        return Err(NodeError::Config(format!(
            "frame {frame}: the encoded PNG does not decode to the verified pixels"
        )));
    }
    write_png(out, frame, &png)
}

/// The largest frame file the creator hands back.
const MAX_FRAME_BYTES: u64 = 1 << 30;

/// Writes PNG bytes (already checked against the verified pixels by the creator node) as
/// frame `frame`, atomically.
fn write_png(out: &Path, frame: u32, png: &[u8]) -> Result<PathBuf, NodeError> {
    let path = frame_path(out, frame);
    let tmp = path.with_extension("png.partial");
    let io = |e: std::io::Error| NodeError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::write(&tmp, png).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

fn create_out(out: &Path) -> Result<(), NodeError> {
    std::fs::create_dir_all(out).map_err(|e| NodeError::Io {
        path: out.display().to_string(),
        reason: e.to_string(),
    })
}

fn job_spec(req: &RenderRequest) -> JobSpec {
    JobSpec {
        creator: pictor_protocol::Keypair::from_seed([0; 32]).public(),
        scene: ContentId::of(&[]),
        scene_name: req
            .scene
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        engine: req.engine,
        frames: req.frames,
        width: req.width,
        height: req.height,
        samples: req.samples,
        tile: req.tile,
        price_cap: req.price_cap,
        nonce: now_ms(),
        epoch: 0,
    }
}

fn empty_summary(req: &RenderRequest, mode: &'static str, shards: u64) -> RenderSummary {
    RenderSummary {
        mode,
        job_id: String::new(),
        scene: req.scene.display().to_string(),
        engine: req.engine,
        frames: Vec::new(),
        frame_cids: Vec::new(),
        width: req.width,
        height: req.height,
        samples: req.samples,
        tile: req.tile,
        shards,
        checkers: 0,
        checker_report: Vec::new(),
        workers: BTreeMap::new(),
        claims_rejected: 0,
        attestations: 0,
        committee_size: 0,
        samples_per_checker: 0,
        pixels_rerendered: 0,
        pixels_rendered: 0,
        max_shard_fraction_rerendered: 0.0,
        detection_probability: 0.0,
        wall_seconds: 0.0,
    }
}

/// Renders the frames in this process with no network: the baseline.
pub fn render_direct(
    req: &RenderRequest,
    mut progress: impl FnMut(Progress),
) -> Result<RenderSummary, NodeError> {
    let started = Instant::now();
    let spec = job_spec(req);
    spec.validate()
        .map_err(|e| NodeError::InvalidJob(e.to_string()))?;
    let (scene_block, prepared) = prepare(req)?;
    let scene_id = ContentId::of(&scene_block);
    create_out(&req.out)?;
    let mut summary = empty_summary(req, "direct", spec.shard_count());
    for frame in req.frames.iter() {
        let rgb = match &prepared {
            Prepared::Builtin(scene) => {
                let settings = RenderSettings {
                    width: req.width,
                    height: req.height,
                    samples: req.samples,
                    frame,
                };
                render_frame(scene, &settings)?
            }
            Prepared::Blender(blender) => {
                // Plain Blender (`blender -b scene -f N`), with the settings a job fixes.
                let request = RegionRequest {
                    seed: blender_seed(&scene_id),
                    device: req.blender_device,
                    engine: blender_engine(req.engine),
                    ..RegionRequest::full_frame(frame, req.width, req.height, req.samples)
                };
                render_frame_direct(blender, &req.scene, &request, BLENDER_RENDER_TIMEOUT)
                    .map_err(|e| NodeError::Engine(e.to_string()))?
                    .pixels
            }
        };
        let path = write_frame(&req.out, frame, req.width, req.height, &rgb)?;
        progress(Progress::FrameWritten { path: path.clone() });
        summary.frames.push(path);
    }
    summary.pixels_rendered =
        u64::from(req.width) * u64::from(req.height) * req.frames.len() as u64;
    summary.wall_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Submits the job to a network (a local network made for it, or a running one named by
/// `req.network`), waits for every frame to be verified and assembled, and writes them.
pub async fn render_network(
    req: &RenderRequest,
    mut progress: impl FnMut(Progress),
) -> Result<RenderSummary, NodeError> {
    let started = Instant::now();
    let mut spec = job_spec(req);
    spec.validate()
        .map_err(|e| NodeError::InvalidJob(e.to_string()))?;
    let (bundle, _) = prepare(req)?;
    let mut peer = match &req.network {
        None => JobPeer::local(req).await?,
        Some(path) => JobPeer::join(path, req.home.as_deref()).await?,
    };
    let result = run_job(&mut peer, req, &mut spec, bundle, &mut progress).await;
    peer.shutdown().await;
    let mut summary = result?;
    summary.wall_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

async fn run_job(
    peer: &mut JobPeer,
    req: &RenderRequest,
    spec: &mut JobSpec,
    bundle: Vec<u8>,
    progress: &mut impl FnMut(Progress),
) -> Result<RenderSummary, NodeError> {
    spec.creator = peer.key;
    spec.scene = ContentId::of(&bundle);
    let shards = spec.shard_count();
    let committee_size = peer.params.committee_size.min(peer.params.checkers.len());
    let k = rules::samples_per_checker(
        committee_size,
        rules::FRAUD_FRACTION,
        rules::DETECTION_TARGET,
    );
    let job = peer.client.submit(spec.clone(), bundle).await?;
    progress(Progress::Submitted { shards });

    let mut summary = empty_summary(req, "network", shards);
    summary.checkers = peer.params.checkers.len();
    summary.committee_size = committee_size;
    summary.samples_per_checker = k;
    summary.detection_probability =
        1.0 - rules::acceptance_probability(committee_size, k, rules::FRAUD_FRACTION);
    for worker in &peer.workers {
        summary
            .workers
            .insert(worker.clone(), WorkerTally::default());
    }
    create_out(&req.out)?;

    let mut rendered = 0u64;
    let mut verified = 0u64;
    let mut rerendered_per_shard: BTreeMap<_, u64> = BTreeMap::new();
    let frames = u64::from(spec.frames.len());
    while (summary.frames.len() as u64) < frames {
        let event = tokio::time::timeout(req.stall_timeout, peer.events.recv())
            .await
            .map_err(|_| {
                NodeError::Config(format!(
                    "no progress for {} s ({verified} of {shards} shards verified)",
                    req.stall_timeout.as_secs()
                ))
            })?
            .ok_or(NodeError::Shutdown)?;
        match event {
            NodeEvent::Rendered { .. } => {
                rendered += 1;
                progress(Progress::Shards { rendered, verified });
            }
            NodeEvent::Attested { shard, samples, .. } => {
                summary.attestations += 1;
                summary.pixels_rerendered += samples as u64;
                *rerendered_per_shard.entry(shard).or_default() += samples as u64;
            }
            NodeEvent::Rejected { shard, worker } => {
                summary.claims_rejected += 1;
                summary.workers.entry(worker.short()).or_default().rejected += 1;
                progress(Progress::Rejected {
                    shard: shard.to_string(),
                    worker: worker.short(),
                });
            }
            NodeEvent::Verified { shard, worker } => {
                let Some(rect) = spec.tile_rect(shard.tile) else {
                    continue;
                };
                verified += 1;
                summary.workers.entry(worker.short()).or_default().accepted += 1;
                summary.pixels_rendered += u64::from(rect.w) * u64::from(rect.h);
                let fraction = rerendered_per_shard.get(&shard).copied().unwrap_or(0) as f64
                    / (f64::from(rect.w) * f64::from(rect.h));
                summary.max_shard_fraction_rerendered =
                    summary.max_shard_fraction_rerendered.max(fraction);
                progress(Progress::Shards { rendered, verified });
            }
            NodeEvent::FrameStored { frame, cid, .. } => {
                let root: cid::Cid = cid
                    .parse()
                    .map_err(|e| NodeError::Ipfs(format!("frame {frame}: {e}")))?;
                // The creator node holds the frame: this reads its own block store.
                let png = peer
                    .client
                    .get_file(root, Vec::new(), MAX_FRAME_BYTES)
                    .await?;
                let path = write_png(&req.out, frame, &png)?;
                summary.frame_cids.push(cid);
                progress(Progress::FrameWritten { path: path.clone() });
                summary.frames.push(path);
            }
            NodeEvent::Finished { state, reason, .. } => {
                if state != crate::JobState::Complete {
                    return Err(NodeError::InvalidJob(format!(
                        "job {} {state}: {}",
                        job.short(),
                        reason.unwrap_or_default()
                    )));
                }
            }
            NodeEvent::Problem { message, .. } => {
                tracing::warn!(%message, %job, "job problem");
            }
            NodeEvent::Assigned { .. } => {}
        }
    }
    summary.job_id = job.to_string();
    let rejected = summary
        .workers
        .iter()
        .map(|(k, t)| (k.clone(), t.rejected))
        .collect();
    let report = report::report(peer, &job, &rejected).await;
    summary.checker_report = report.checkers;
    for (worker, canaries) in report.canaries {
        summary.workers.entry(worker).or_default().canaries = canaries;
    }
    let mut pairs: Vec<(PathBuf, String)> = summary
        .frames
        .drain(..)
        .zip(summary.frame_cids.drain(..))
        .collect();
    pairs.sort();
    (summary.frames, summary.frame_cids) = pairs.into_iter().unzip();
    Ok(summary)
}
