//! Work done off the network task: parsing scenes, rendering shards and samples on the
//! blocking pool, storing frames, and fetching outputs over Bitswap. Each task reports
//! back to the loop as one [`Done`] on a bounded channel; none touches a role.

use std::{path::PathBuf, sync::Arc, time::Instant};

use cid::Cid;
use libp2p::PeerId;
use pictor_gpu::{render_pixel, BlenderDevice, BlenderPool, Rect, RenderSettings, Scene};
use pictor_ipfs::Bitswap;
use pictor_protocol::{
    Assignment, ClaimId, ContentId, Engine, JobId, JobSpec, PublicKey, QuorumCertificate, ShardId,
    TileImage,
};
use pictor_storage::Store;
use tokio::sync::mpsc;

use crate::{
    engines::LoadedScene,
    requests::rows_of_output,
    roles::creator::FrameNotStored,
    roles::worker::{render_shard, render_shard_with, RenderedShard, ShardError, Tamper},
    SledBlockstore,
};

/// The time a scene may take to load (its size, triangles and textures are bounded too):
/// past it the job fails with that reason; the load goes on in the background and its
/// result is dropped.
const MAX_LOAD_TIME: std::time::Duration = std::time::Duration::from_secs(120);
/// How long a checker waits for an output over Bitswap.
const OUTPUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a creator waits for one try at a certified output (it tries again).
const CERTIFIED_OUTPUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A frame stored as a UnixFS file.
#[derive(Debug, Clone)]
pub(crate) struct StoredFrame {
    /// The file's root.
    pub(crate) root: Cid,
}

/// A finished task.
#[derive(Debug)]
pub(crate) enum Done {
    SceneLoaded {
        id: ContentId,
        result: Result<Arc<LoadedScene>, String>,
    },
    ShardRendered {
        assignment: Assignment,
        result: Result<RenderedShard, String>,
    },
    Rerendered {
        claim: ClaimId,
        result: Result<Vec<[u8; 3]>, String>,
    },
    RerenderedRegions {
        claim: ClaimId,
        result: Result<Vec<Vec<u8>>, String>,
    },
    OutputFetched {
        shard: ShardId,
        worker: PublicKey,
        result: Result<TileImage, String>,
    },
    OutputRows {
        claim: ClaimId,
        result: Result<Vec<(u32, Vec<u8>)>, String>,
    },
    FrameStored {
        job: JobId,
        frame: u32,
        result: Result<StoredFrame, FrameNotStored>,
    },
    /// A peer's certificates of a job, those that verify against its committee.
    CertificatesChecked {
        job: JobId,
        valid: Vec<QuorumCertificate>,
        rejected: usize,
    },
    /// An applicant's admission window, rendered here: blake3 of its pixels.
    AdmissionRendered {
        applicant: PublicKey,
        result: Result<[u8; 32], String>,
    },
    /// A returning worker's challenge window, rendered here.
    ChallengeRendered {
        worker: PublicKey,
        result: Result<[u8; 32], String>,
    },
    /// This worker's answer to a checker's challenge, to send back.
    ChallengeAnswered {
        channel: libp2p::request_response::ResponseChannel<pictor_protocol::Response>,
        result: Result<[u8; 32], String>,
    },
}

/// The benchmark scene, parsed once for every admission render and challenge of this
/// process (it is compiled in: it parses the same way every time).
fn admission_scene() -> Result<&'static Scene, String> {
    static SCENE: std::sync::OnceLock<Result<Scene, String>> = std::sync::OnceLock::new();
    SCENE
        .get_or_init(|| pictor_gpu::benchmark::benchmark_scene().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Renders `render` (an applicant's admission window of the benchmark scene) and returns
/// blake3 of its pixels. Takes a few milliseconds; run it off any async task.
pub(crate) fn admission_digest(
    render: pictor_protocol::AdmissionRender,
) -> Result<[u8; 32], String> {
    let scene = admission_scene()?;
    let settings = RenderSettings {
        width: render.width,
        height: render.height,
        samples: render.samples,
        frame: 1,
    };
    let rect = Rect {
        x: render.x,
        y: render.y,
        w: render.w,
        h: render.h,
    };
    let pixels = pictor_gpu::render_tile(scene, &settings, rect).map_err(|e| e.to_string())?;
    Ok(pictor_protocol::AdmissionRender::digest(&pixels))
}

/// Starts tasks; owned by the loop.
#[derive(Debug, Clone)]
pub(crate) struct Tasks {
    pub(crate) done: mpsc::Sender<Done>,
    pub(crate) store: Store,
    pub(crate) bitswap: Bitswap,
    /// Where Blender scenes are written.
    pub(crate) scenes_dir: PathBuf,
    /// The device this node's Blender renders on.
    pub(crate) blender_device: BlenderDevice,
    pub(crate) blender_pool: Arc<BlenderPool>,
}

impl Tasks {
    fn blocking(&self, work: impl FnOnce() -> Done + Send + 'static) {
        let tx = self.done.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.blocking_send(work());
        });
    }

    /// Parses a scene block for `engine`.
    pub(crate) fn load_scene(&self, id: ContentId, engine: Engine, bytes: Vec<u8>) {
        let (dir, device, pool) = (
            self.scenes_dir.clone(),
            self.blender_device,
            self.blender_pool.clone(),
        );
        let tx = self.done.clone();
        tokio::spawn(async move {
            let load = tokio::task::spawn_blocking(move || {
                LoadedScene::load(engine, id, &bytes, &dir, device, &pool)
            });
            let result = match tokio::time::timeout(MAX_LOAD_TIME, load).await {
                Ok(Ok(loaded)) => loaded.map(Arc::new),
                // A panic in a third-party parser: the last line of defence.
                Ok(Err(e)) => Err(format!("loading the scene failed: {e}")),
                Err(_) => Err(format!(
                    "loading the scene took longer than {} s",
                    MAX_LOAD_TIME.as_secs()
                )),
            };
            let _ = tx.send(Done::SceneLoaded { id, result }).await;
        });
    }

    /// Renders a worker's shard and stores its output block.
    pub(crate) fn render_shard(
        &self,
        scene: Arc<LoadedScene>,
        spec: JobSpec,
        assignment: Assignment,
        tamper: Option<Tamper>,
    ) {
        let store = self.store.clone();
        self.blocking(move || {
            let started = Instant::now();
            let tile = match &*scene {
                LoadedScene::Builtin(scene) => {
                    render_shard(scene, &spec, &assignment.shard, tamper).map_err(|e| e.to_string())
                }
                LoadedScene::Blender(blend) => {
                    let frame = assignment.shard.frame;
                    let mut render = |rect: Rect, samples: u32| {
                        blend
                            .render(&spec, frame, rect, samples)
                            .map_err(ShardError::Render)
                    };
                    render_shard_with(&spec, &assignment.shard, tamper, &mut render)
                        .map_err(|e| e.to_string())
                }
            };
            let render_ms = started.elapsed().as_millis() as u64;
            let result = tile.and_then(|tile| {
                let output = store
                    .put_tile_block(&tile.to_block())
                    .map_err(|e| format!("cannot store the output: {e}"))?;
                Ok(RenderedShard {
                    output,
                    width: tile.width,
                    height: tile.height,
                    render_ms,
                })
            });
            Done::ShardRendered { assignment, result }
        });
    }

    /// Renders an applicant's admission window (see [`admission_digest`]).
    pub(crate) fn render_admission(
        &self,
        applicant: PublicKey,
        render: pictor_protocol::AdmissionRender,
    ) {
        self.blocking(move || Done::AdmissionRendered {
            applicant,
            result: admission_digest(render),
        });
    }

    /// Renders a returning worker's challenge window, here (`channel`: `None`) or as the
    /// worker's answer to send back on `channel`.
    pub(crate) fn render_challenge(
        &self,
        worker: PublicKey,
        render: pictor_protocol::AdmissionRender,
        channel: Option<libp2p::request_response::ResponseChannel<pictor_protocol::Response>>,
    ) {
        self.blocking(move || {
            let result = admission_digest(render);
            match channel {
                Some(channel) => Done::ChallengeAnswered { channel, result },
                None => Done::ChallengeRendered { worker, result },
            }
        });
    }

    /// Re-renders sampled pixels (image coordinates) of a built-in job's frame.
    pub(crate) fn rerender(
        &self,
        scene: Arc<LoadedScene>,
        spec: &JobSpec,
        claim: ClaimId,
        frame: u32,
        pixels: Vec<(u32, u32)>,
    ) {
        let settings = RenderSettings {
            width: spec.width,
            height: spec.height,
            samples: spec.samples,
            frame,
        };
        self.blocking(move || Done::Rerendered {
            claim,
            result: match &*scene {
                LoadedScene::Builtin(scene) => pixels
                    .iter()
                    .map(|&(x, y)| render_pixel(scene, &settings, x, y))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string()),
                LoadedScene::Blender(_) => {
                    Err("a Blender job is verified by regions, not pixels".into())
                }
            },
        });
    }

    /// Re-renders sampled regions `(x, y, w, h)` of a Blender job's frame.
    pub(crate) fn rerender_regions(
        &self,
        scene: Arc<LoadedScene>,
        spec: JobSpec,
        claim: ClaimId,
        frame: u32,
        regions: Vec<(u32, u32, u32, u32)>,
    ) {
        self.blocking(move || Done::RerenderedRegions {
            claim,
            result: match &*scene {
                LoadedScene::Blender(blend) => {
                    let rects: Vec<Rect> = regions
                        .iter()
                        .map(|&(x, y, w, h)| Rect { x, y, w, h })
                        .collect();
                    blend.render_regions(&spec, frame, &rects, spec.samples)
                }
                LoadedScene::Builtin(_) => Err("a built-in job is verified pixel by pixel".into()),
            },
        });
    }

    /// Checks a peer's answer to a certificate request: each certificate must be of `job`
    /// and verify against its committee.
    pub(crate) fn check_certificates(
        &self,
        job: JobId,
        certificates: Vec<QuorumCertificate>,
        network: String,
        committees: Vec<Vec<PublicKey>>,
    ) {
        self.blocking(move || {
            let total = certificates.len();
            let valid: Vec<QuorumCertificate> = certificates
                .into_iter()
                .filter(|qc| {
                    qc.vote.shard.job == job
                        && committees
                            .iter()
                            .any(|committee| qc.verify(&network, committee).is_ok())
                })
                .collect();
            Done::CertificatesChecked {
                job,
                rejected: total - valid.len(),
                valid,
            }
        });
    }

    /// Encodes a frame as PNG, checks that it decodes to the same pixels, and stores it as
    /// a UnixFS file.
    pub(crate) fn store_frame(
        &self,
        job: JobId,
        frame: u32,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    ) {
        let store = self.store.clone();
        self.blocking(move || Done::FrameStored {
            job,
            frame,
            result: store_png(&store, width, height, rgb),
        });
    }

    /// Fetches a certified output by CID through Bitswap (checked against it) from `peers`.
    pub(crate) fn fetch_output(
        &self,
        shard: ShardId,
        worker: PublicKey,
        output: ContentId,
        peers: Vec<PeerId>,
    ) {
        let (bitswap, tx) = (self.bitswap.clone(), self.done.clone());
        tokio::spawn(async move {
            let result = bitswap
                .get(&output.to_cid(), &peers, CERTIFIED_OUTPUT_TIMEOUT)
                .await
                .map_err(|e| e.to_string())
                .and_then(|block| {
                    TileImage::from_block(block.data()).map_err(|e| format!("output {output}: {e}"))
                });
            let _ = tx
                .send(Done::OutputFetched {
                    shard,
                    worker,
                    result,
                })
                .await;
        });
    }

    /// For engines verified by regions, whose sampled regions cover most rows: the whole
    /// output by CID (which also proves every row), then the rows the checker asked for.
    pub(crate) fn fetch_output_rows(
        &self,
        claim: ClaimId,
        output: ContentId,
        peer: PeerId,
        width: u32,
        rows: Vec<u32>,
    ) {
        let (bitswap, tx) = (self.bitswap.clone(), self.done.clone());
        tokio::spawn(async move {
            let result = bitswap
                .get(&output.to_cid(), &[peer], OUTPUT_TIMEOUT)
                .await
                .map_err(|e| e.to_string())
                .and_then(|block| rows_of_output(block.data(), width, &rows));
            let _ = tx.send(Done::OutputRows { claim, result }).await;
        });
    }
}

impl Tasks {
    /// Removes UnixFS files (the frames of a pruned job) from the block store: each file is
    /// read back and imported again, which names every block it is made of.
    pub(crate) fn remove_files(&self, roots: Vec<String>) {
        if roots.is_empty() {
            return;
        }
        let (bitswap, store) = (self.bitswap.clone(), self.store.clone());
        tokio::spawn(async move {
            let blockstore = SledBlockstore::new(store.clone());
            for root in roots {
                let Ok(root) = root.parse::<Cid>() else {
                    continue;
                };
                let Ok(bytes) = bitswap.get_file(&root, &[], MAX_FRAME_FILE).await else {
                    continue;
                };
                let Ok((_, blocks)) =
                    pictor_ipfs::unixfs::import(bytes, pictor_ipfs::unixfs::DEFAULT_CHUNK_SIZE)
                else {
                    continue;
                };
                for block in blocks {
                    let _ = blockstore.remove(block.cid());
                }
            }
            let _ = store.flush();
        });
    }
}

/// The largest frame file read back for pruning.
const MAX_FRAME_FILE: u64 = 1 << 30;

fn store_png(
    store: &Store,
    width: u32,
    height: u32,
    rgb: Vec<u8>,
) -> Result<StoredFrame, FrameNotStored> {
    let fail = |reason: String| FrameNotStored {
        reason,
        retry: None,
    };
    let png = pictor_gpu::encode_png(width, height, &rgb).map_err(|e| fail(e.to_string()))?;
    let (w, h, decoded) = pictor_gpu::decode_png(&png).map_err(|e| fail(e.to_string()))?;
    if (w, h) != (width, height) || decoded != rgb {
        return Err(fail(
            "the encoded PNG does not decode to the verified pixels".into(),
        ));
    }
    let (root, blocks) =
        pictor_ipfs::unixfs::import(png.into(), pictor_ipfs::unixfs::DEFAULT_CHUNK_SIZE)
            .map_err(|e| fail(e.to_string()))?;
    let blockstore = SledBlockstore::new(store.clone());
    let len = blocks.iter().map(|b| b.data().len()).sum();
    let stored = store
        .check_room(len)
        .and_then(|()| blocks.iter().try_for_each(|b| blockstore.put_block(b)))
        .and_then(|()| store.flush());
    match stored {
        Ok(()) => Ok(StoredFrame { root }),
        // No room: the same pixels are stored again later (a block already in, where the
        // disk filled up midway, is kept; storing it again changes nothing).
        Err(e @ pictor_storage::StorageError::DiskFull { .. }) => Err(FrameNotStored {
            reason: e.to_string(),
            retry: Some(rgb),
        }),
        Err(e) => Err(fail(e.to_string())),
    }
}
