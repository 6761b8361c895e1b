//! The point-to-point half of the event loop: scenes, shard outputs and row proofs.
//!
//! Blocks are fetched by content id and checked against it before they are stored or
//! used; row proofs are checked against the claimed output's id. A peer that fails or
//! lies is skipped for the next one that may hold the block.

use std::sync::Arc;

use libp2p::{request_response, PeerId};
use pictor_gpu::{render_pixel, BlenderDevice, Rect, RenderSettings};
use pictor_protocol::{
    proof, Assignment, ClaimId, ContentId, Engine, JobId, PublicKey, QuorumCertificate, Request,
    Response, ResultClaim, ShardId, TileImage, MAX_RESPONSE_SIZE,
};
use tracing::{debug, warn};

use crate::{
    engines::LoadedScene,
    event_loop::{EventLoop, Internal},
    roles::{
        checker::CheckerInput,
        worker::{render_shard, render_shard_with, ShardError},
    },
    NodeEvent,
};

/// What an outstanding request was for.
#[derive(Debug)]
pub(crate) enum Pending {
    Scene {
        id: ContentId,
        engine: Engine,
        others: Vec<PeerId>,
    },
    Rows {
        claim: ClaimId,
        output: ContentId,
        width: u32,
        height: u32,
        rows: Vec<u32>,
    },
}

/// Work waiting for a scene.
#[derive(Debug)]
pub(crate) enum SceneWaiter {
    Render(Assignment),
    Rerender {
        claim: ClaimId,
        job: JobId,
        frame: u32,
        pixels: Vec<(u32, u32)>,
    },
    RerenderRegions {
        claim: ClaimId,
        job: JobId,
        frame: u32,
        regions: Vec<(u32, u32, u32, u32)>,
    },
}

/// Where a scene stands on this node.
#[derive(Debug)]
pub(crate) enum SceneSlot {
    Loading(Vec<SceneWaiter>),
    Ready(Arc<LoadedScene>),
    Failed(String),
}

impl EventLoop {
    // ----- scenes -----

    /// Runs `waiter` once the scene of `job` is loaded, fetching it if needed.
    fn with_scene(&mut self, job: JobId, waiter: SceneWaiter) {
        let Some(spec) = self.jobs.get(&job) else {
            return self.scene_failed(waiter, "unknown job".into());
        };
        let id = spec.scene;
        let creator = spec.creator;
        let engine = spec.engine;
        match self.scenes.get_mut(&id) {
            Some(SceneSlot::Ready(scene)) => {
                let scene = scene.clone();
                self.run_waiter(scene, waiter);
            }
            Some(SceneSlot::Failed(reason)) => {
                let reason = reason.clone();
                self.scene_failed(waiter, reason);
            }
            Some(SceneSlot::Loading(waiters)) => waiters.push(waiter),
            None => {
                self.scenes.insert(id, SceneSlot::Loading(vec![waiter]));
                match self.store.get_block(&id) {
                    Ok(Some(bytes)) => self.parse_scene(id, engine, bytes),
                    _ => {
                        let peers = self.candidates(self.peer_of(&creator));
                        self.request_block(id, peers, |id, others| Pending::Scene {
                            id,
                            engine,
                            others,
                        });
                    }
                }
            }
        }
    }

    fn parse_scene(&mut self, id: ContentId, engine: Engine, bytes: Vec<u8>) {
        let tx = self.internal_tx.clone();
        let scenes_dir = self.home.join("scenes");
        let device = self.blender_device;
        let pool = self.blender_pool.clone();
        tokio::task::spawn_blocking(move || {
            let result =
                LoadedScene::load(engine, id, &bytes, &scenes_dir, device, &pool).map(Arc::new);
            let _ = tx.blocking_send(Internal::SceneParsed { id, result });
        });
    }

    pub(crate) fn on_scene_parsed(
        &mut self,
        id: ContentId,
        result: Result<Arc<LoadedScene>, String>,
    ) {
        let waiters = match self.scenes.remove(&id) {
            Some(SceneSlot::Loading(w)) => w,
            _ => Vec::new(),
        };
        match result {
            Ok(scene) => {
                self.scenes.insert(id, SceneSlot::Ready(scene.clone()));
                for waiter in waiters {
                    self.run_waiter(scene.clone(), waiter);
                }
            }
            Err(reason) => {
                warn!(scene = %id, %reason, "scene unusable");
                self.scenes.insert(id, SceneSlot::Failed(reason.clone()));
                for waiter in waiters {
                    self.scene_failed(waiter, reason.clone());
                }
            }
        }
    }

    fn scene_failed(&mut self, waiter: SceneWaiter, reason: String) {
        match waiter {
            SceneWaiter::Render(a) => {
                warn!(shard = %a.shard, %reason, "cannot render shard");
                if let Some(w) = &mut self.worker {
                    w.busy = false;
                }
                self.start_next_shard();
            }
            SceneWaiter::Rerender { claim, .. } => self.run_checker(CheckerInput::Rerendered {
                claim,
                pixels: Err(reason),
            }),
            SceneWaiter::RerenderRegions { claim, .. } => {
                warn!(%claim, %reason, "cannot re-render the sampled regions");
                self.run_checker(CheckerInput::RerenderedRegions {
                    claim,
                    regions: Err(reason),
                })
            }
        }
    }

    fn run_waiter(&mut self, scene: Arc<LoadedScene>, waiter: SceneWaiter) {
        let tx = self.internal_tx.clone();
        match waiter {
            SceneWaiter::Render(assignment) => {
                let Some(spec) = self.jobs.get(&assignment.shard.job).cloned() else {
                    return;
                };
                let tamper = self.worker.as_mut().and_then(|w| {
                    let nth = w.rendered;
                    w.rendered += 1;
                    w.config.tamper.and_then(|t| t.for_output(nth))
                });
                tokio::task::spawn_blocking(move || {
                    let started = std::time::Instant::now();
                    let result = match &*scene {
                        LoadedScene::Builtin(scene) => {
                            render_shard(scene, &spec, &assignment.shard, tamper)
                                .map_err(|e| e.to_string())
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
                    }
                    .map(|tile| (tile, started.elapsed().as_millis() as u64));
                    let _ = tx.blocking_send(Internal::TileRendered { assignment, result });
                });
            }
            SceneWaiter::Rerender {
                claim,
                job,
                frame,
                pixels,
            } => {
                let Some(spec) = self.jobs.get(&job) else {
                    return;
                };
                let settings = RenderSettings {
                    width: spec.width,
                    height: spec.height,
                    samples: spec.samples,
                    frame,
                };
                tokio::task::spawn_blocking(move || {
                    let result = match &*scene {
                        LoadedScene::Builtin(scene) => pixels
                            .iter()
                            .map(|&(x, y)| render_pixel(scene, &settings, x, y))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| e.to_string()),
                        LoadedScene::Blender(_) => {
                            Err("a Blender job is verified by regions, not pixels".into())
                        }
                    };
                    let _ = tx.blocking_send(Internal::Rerendered { claim, result });
                });
            }
            SceneWaiter::RerenderRegions {
                claim,
                job,
                frame,
                regions,
            } => {
                let Some(spec) = self.jobs.get(&job).cloned() else {
                    return;
                };
                tokio::task::spawn_blocking(move || {
                    let result = match &*scene {
                        LoadedScene::Blender(blend) => {
                            let rects: Vec<Rect> = regions
                                .iter()
                                .map(|&(x, y, w, h)| Rect { x, y, w, h })
                                .collect();
                            blend.render_regions(&spec, frame, &rects, spec.samples)
                        }
                        LoadedScene::Builtin(_) => {
                            Err("a built-in job is verified pixel by pixel".into())
                        }
                    };
                    let _ = tx.blocking_send(Internal::RerenderedRegions { claim, result });
                });
            }
        }
    }

    pub(crate) fn rerender_regions(
        &mut self,
        claim: ClaimId,
        job: JobId,
        frame: u32,
        regions: Vec<(u32, u32, u32, u32)>,
    ) {
        self.with_scene(
            job,
            SceneWaiter::RerenderRegions {
                claim,
                job,
                frame,
                regions,
            },
        );
    }

    pub(crate) fn rerender(
        &mut self,
        claim: ClaimId,
        job: JobId,
        frame: u32,
        pixels: Vec<(u32, u32)>,
    ) {
        self.with_scene(
            job,
            SceneWaiter::Rerender {
                claim,
                job,
                frame,
                pixels,
            },
        );
    }

    // ----- the worker -----

    /// Starts rendering the next queued shard if the worker is idle.
    pub(crate) fn start_next_shard(&mut self) {
        let Some(worker) = &mut self.worker else {
            return;
        };
        if worker.busy {
            return;
        }
        let assignment = loop {
            let Some(assignment) = worker.queue.pop_front() else {
                return;
            };
            if self.jobs.contains_key(&assignment.shard.job) {
                break assignment;
            }
            // Its job is still on its way: render it when the job arrives.
            if worker.early.len() < MAX_EARLY_ASSIGNMENTS {
                worker.early.push(assignment);
            }
        };
        worker.busy = true;
        self.with_scene(assignment.shard.job, SceneWaiter::Render(assignment));
    }

    pub(crate) fn on_tile_rendered(
        &mut self,
        assignment: Assignment,
        result: Result<(TileImage, u64), String>,
    ) {
        if let Some(w) = &mut self.worker {
            w.busy = false;
        }
        match result {
            Err(reason) => warn!(shard = %assignment.shard, %reason, "render failed"),
            Ok((tile, render_ms)) => {
                let block = tile.to_block();
                match self.store.put_block(&block) {
                    Err(e) => warn!(error = %e, "cannot store output; claim not made"),
                    Ok(output) => {
                        self.provide(&output.to_cid());
                        let blender_job = self
                            .jobs
                            .get(&assignment.shard.job)
                            .is_some_and(|spec| spec.engine.is_blender());
                        // A Blender shard names Blender's device: checkers hold GPU
                        // output to the cross-device thresholds.
                        let device = match self.worker.as_ref() {
                            Some(_) if blender_job && self.blender_device != BlenderDevice::Cpu => {
                                format!("{} (blender)", self.blender_device)
                            }
                            Some(w) => w.config.device.clone(),
                            None => String::new(),
                        };
                        let claim = ResultClaim {
                            shard: assignment.shard,
                            worker: self.me,
                            attempt: assignment.attempt,
                            output,
                            width: tile.width,
                            height: tile.height,
                            render_ms,
                            device,
                        };
                        debug!(shard = %claim.shard, %output, render_ms, "claiming");
                        self.publish(pictor_protocol::Message::Claim(claim), true);
                    }
                }
            }
        }
        self.start_next_shard();
    }

    // ----- requests out -----

    /// Peers to ask for a block: `first`, then every connected peer.
    fn candidates(&self, first: Option<PeerId>) -> Vec<PeerId> {
        let mut peers: Vec<PeerId> = first.into_iter().collect();
        for p in self.connected() {
            if !peers.contains(&p) {
                peers.push(p);
            }
        }
        peers
    }

    fn request_block(
        &mut self,
        id: ContentId,
        mut peers: Vec<PeerId>,
        pending: impl FnOnce(ContentId, Vec<PeerId>) -> Pending,
    ) {
        if peers.is_empty() {
            return self.block_unavailable(pending(id, Vec::new()));
        }
        let peer = peers.remove(0);
        let request_id = self
            .swarm
            .behaviour_mut()
            .fetch
            .send_request(&peer, Request::GetBlock { id });
        self.requests.insert(request_id, pending(id, peers));
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fetch_rows(
        &mut self,
        claim: ClaimId,
        worker: PublicKey,
        output: ContentId,
        width: u32,
        height: u32,
        rows: Vec<u32>,
        whole_output: bool,
    ) {
        let Some(peer) = self.peer_of(&worker) else {
            return self.run_checker(CheckerInput::Rows {
                claim,
                rows: Err("worker key is not a peer id".into()),
            });
        };
        if whole_output {
            return self.fetch_output_rows(claim, peer, output, width, rows);
        }
        let request = Request::GetRows {
            output,
            width,
            height,
            rows: rows.clone(),
        };
        let request_id = self
            .swarm
            .behaviour_mut()
            .fetch
            .send_request(&peer, request);
        self.requests.insert(
            request_id,
            Pending::Rows {
                claim,
                output,
                width,
                height,
                rows,
            },
        );
    }

    /// The creator fetches a certified output by CID through Bitswap, from its worker
    /// first (then from any connected peer that has it).
    pub(crate) fn fetch_output(&mut self, qc: &QuorumCertificate, worker: Option<PublicKey>) {
        let peers = self.candidates(worker.and_then(|w| self.peer_of(&w)));
        let shard = qc.vote.shard;
        let output = qc.vote.output;
        self.fetch_block(output, peers, move |result| Internal::OutputFetched {
            shard,
            worker,
            output,
            result,
        });
    }

    /// Fetches `output`'s block through Bitswap from `peers` (checked against its CID) and
    /// hands the bytes, or why not, back to the loop as `done(result)`.
    fn fetch_block(
        &self,
        output: ContentId,
        peers: Vec<PeerId>,
        done: impl FnOnce(Result<Vec<u8>, String>) -> Internal + Send + 'static,
    ) {
        let bitswap = self.bitswap.clone();
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let result = bitswap
                .get(&output.to_cid(), &peers, OUTPUT_TIMEOUT)
                .await
                .map(|block| block.into_data().to_vec())
                .map_err(|e| e.to_string());
            let _ = tx.send(done(result)).await;
        });
    }

    pub(crate) fn on_output_fetched(
        &mut self,
        shard: ShardId,
        worker: Option<PublicKey>,
        output: ContentId,
        result: Result<Vec<u8>, String>,
    ) {
        // Bitswap checked the bytes against the CID; the block must also be a tile.
        let tile = result.and_then(|bytes| {
            TileImage::from_block(&bytes).map_err(|e| format!("output {output}: {e}"))
        });
        match tile {
            Ok(tile) => {
                let worker = worker.unwrap_or(self.me);
                let job = shard.job;
                if let Some(events) = &self.events {
                    if self.my_jobs.contains(&job) {
                        let event = NodeEvent::Verified {
                            shard,
                            worker,
                            tile,
                        };
                        if events.try_send(event).is_err() {
                            warn!("verified tile dropped: the receiver is slow or gone");
                        }
                    }
                }
            }
            Err(reason) => {
                self.delivered.remove(&shard);
                let job = shard.job;
                self.emit_problem(job, format!("cannot fetch output of {shard}: {reason}"));
            }
        }
    }

    /// For engines verified by regions, whose sampled regions cover most rows: the whole
    /// output by CID through Bitswap (checked against the CID, which also proves every
    /// row), then the rows the checker asked for.
    fn fetch_output_rows(
        &mut self,
        claim: ClaimId,
        peer: PeerId,
        output: ContentId,
        width: u32,
        rows: Vec<u32>,
    ) {
        self.fetch_block(output, vec![peer], move |result| Internal::OutputRows {
            claim,
            width,
            rows,
            result,
        });
    }

    pub(crate) fn on_output_rows(
        &mut self,
        claim: ClaimId,
        width: u32,
        rows: Vec<u32>,
        result: Result<Vec<u8>, String>,
    ) {
        let rows = result.and_then(|bytes| {
            let tile = TileImage::from_block(&bytes).map_err(|e| e.to_string())?;
            if tile.width != width {
                return Err(format!(
                    "output is {} wide, the claim says {width}",
                    tile.width
                ));
            }
            let len = width as usize * 3;
            rows.iter()
                .map(|&r| {
                    let at = r as usize * len;
                    tile.pixels
                        .get(at..at + len)
                        .map(|row| (r, row.to_vec()))
                        .ok_or_else(|| format!("output has no row {r}"))
                })
                .collect::<Result<Vec<_>, String>>()
        });
        if let Err(reason) = &rows {
            warn!(%claim, %reason, "output unavailable");
        }
        self.run_checker(CheckerInput::Rows { claim, rows });
    }

    fn block_unavailable(&mut self, pending: Pending) {
        match pending {
            Pending::Scene { id, .. } => {
                self.on_scene_parsed(id, Err(format!("no peer provided scene {id}")))
            }
            Pending::Rows { claim, .. } => self.run_checker(CheckerInput::Rows {
                claim,
                rows: Err("rows unavailable".into()),
            }),
        }
    }

    fn emit_problem(&mut self, job: JobId, message: String) {
        warn!(%job, %message, "job problem");
        if self.my_jobs.contains(&job) {
            if let Some(events) = &self.events {
                let _ = events.try_send(NodeEvent::Problem { job, message });
            }
        }
    }

    // ----- responses and inbound requests -----

    pub(crate) fn on_fetch_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let response = self.answer(request);
                    if self
                        .swarm
                        .behaviour_mut()
                        .fetch
                        .send_response(channel, response)
                        .is_err()
                    {
                        debug!(%peer, "response not sent: the peer went away");
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(pending) = self.requests.remove(&request_id) {
                        self.on_response(peer, pending, Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(pending) = self.requests.remove(&request_id) {
                    self.on_response(peer, pending, Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn answer(&self, request: Request) -> Response {
        match request {
            Request::GetBlock { id } => match self.store.get_block(&id) {
                Ok(Some(bytes)) if bytes.len() + 64 <= MAX_RESPONSE_SIZE => Response::Block(bytes),
                Ok(Some(_)) => Response::Error(format!("block {id} is too large for one response")),
                Ok(None) => Response::NotFound,
                Err(e) => Response::Error(e.to_string()),
            },
            Request::GetRows {
                output,
                width,
                height: _,
                rows,
            } => match self.store.get_block(&output) {
                Ok(Some(block)) => match proof::prove_rows(&block, width, &rows) {
                    Ok(p) => Response::Rows(p),
                    Err(e) => Response::Error(e.to_string()),
                },
                Ok(None) => Response::NotFound,
                Err(e) => Response::Error(e.to_string()),
            },
        }
    }

    fn on_response(&mut self, peer: PeerId, pending: Pending, response: Result<Response, String>) {
        match pending {
            Pending::Rows {
                claim,
                output,
                width,
                height,
                rows,
            } => {
                let verified = match response {
                    Ok(Response::Rows(p)) => proof::verify_rows(&output, width, height, &rows, &p)
                        .map_err(|e| format!("bad row proof from {peer}: {e}")),
                    Ok(other) => Err(format!("unexpected answer from {peer}: {other:?}")),
                    Err(e) => Err(e),
                };
                if let Err(reason) = &verified {
                    warn!(%claim, %reason, "sampled rows unavailable");
                }
                self.run_checker(CheckerInput::Rows {
                    claim,
                    rows: verified,
                });
            }
            Pending::Scene { id, engine, others } => match checked_block(&id, response) {
                Ok(bytes) => match self.store.put_block(&bytes) {
                    Ok(_) => self.parse_scene(id, engine, bytes),
                    Err(e) => self.on_scene_parsed(id, Err(e.to_string())),
                },
                Err(reason) => {
                    debug!(%peer, %reason, "scene fetch failed; trying the next peer");
                    self.request_block(id, others, |id, others| Pending::Scene {
                        id,
                        engine,
                        others,
                    });
                }
            },
        }
    }
}

/// Assignments a worker keeps while their jobs are on their way.
const MAX_EARLY_ASSIGNMENTS: usize = 1024;

/// How long a creator or checker waits for an output over Bitswap.
const OUTPUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The bytes of a block answer, checked against the id that was asked for.
fn checked_block(id: &ContentId, response: Result<Response, String>) -> Result<Vec<u8>, String> {
    match response? {
        Response::Block(bytes) => {
            id.verify(&bytes).map_err(|e| e.to_string())?;
            Ok(bytes)
        }
        Response::NotFound => Err(format!("{id} not found")),
        Response::Error(e) => Err(e),
        other => Err(format!("unexpected answer {other:?}")),
    }
}
