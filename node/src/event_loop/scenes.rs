//! The loop's side of the scene cache: a role's work that needs a job's scene waits for
//! it here; a missing scene is fetched from the block store or from peers (the job's
//! creator first) and parsed on the blocking pool, and its waiters run or fail with it.

use std::sync::Arc;

use pictor_protocol::{ContentId, JobId, Request};
use tracing::warn;

use super::{EventLoop, Work};
use crate::{
    engines::LoadedScene,
    requests::Pending,
    roles::{checker::CheckerInput, worker::WorkerInput},
    scenes::{SceneAnswer, SceneWaiter},
    NodeError,
};

impl EventLoop {
    /// Runs `waiter` once the scene of `job` is loaded, fetching and parsing it if needed.
    pub(super) fn with_scene(&mut self, job: JobId, waiter: SceneWaiter) {
        let Some(spec) = self.jobs.get(&job) else {
            return self.scene_answer(SceneAnswer::Failed("unknown job".into(), waiter));
        };
        let (scene, engine, creator) = (spec.scene, spec.engine, spec.creator);
        match self.scenes.request(scene, waiter) {
            SceneAnswer::Wait { load: true } => self.load_scene(scene, engine, creator),
            answer => self.scene_answer(answer),
        }
    }

    /// Loads a scene from the block store, or asks the job's creator (then every peer).
    pub(super) fn load_scene(
        &mut self,
        id: ContentId,
        engine: pictor_protocol::Engine,
        creator: pictor_protocol::PublicKey,
    ) {
        match self.store.get_block(&id) {
            Ok(Some(bytes)) => self.tasks.load_scene(id, engine, bytes),
            _ => {
                let peers = self.candidates(self.peer_of(&creator));
                self.request_scene(id, engine, peers, true);
            }
        }
    }

    /// Asks the first of `peers` for a scene block; the rest are asked if it fails.
    pub(super) fn request_scene(
        &mut self,
        id: ContentId,
        engine: pictor_protocol::Engine,
        mut peers: Vec<libp2p::PeerId>,
        look_up: bool,
    ) {
        if peers.is_empty() || !self.requests.has_room() {
            let reason = format!("no peer provided scene {id}");
            warn!(scene = %id, %reason, "scene unavailable for now");
            for answer in self.scenes.unavailable(id, &reason) {
                self.scene_answer(answer);
            }
            return;
        }
        let peer = peers.remove(0);
        self.send_request(
            &peer,
            Request::GetBlock { id },
            Pending::Scene {
                id,
                engine,
                others: peers,
                look_up,
            },
        );
    }

    /// A scene is parsed (or unusable): everything that waited for it goes on.
    pub(super) fn scene_loaded(&mut self, id: ContentId, result: Result<Arc<LoadedScene>, String>) {
        if let Err(reason) = &result {
            warn!(scene = %id, %reason, "scene unusable");
        }
        for answer in self.scenes.loaded(id, result) {
            self.scene_answer(answer);
        }
    }

    fn scene_answer(&mut self, answer: SceneAnswer) {
        match answer {
            SceneAnswer::Wait { .. } => {}
            SceneAnswer::Ready(scene, waiter) => self.run_with_scene(scene, waiter),
            SceneAnswer::Failed(reason, waiter) => {
                let work = match waiter {
                    SceneWaiter::Render { assignment, .. } => Work::Worker(WorkerInput::Rendered {
                        assignment,
                        result: Err(reason),
                    }),
                    SceneWaiter::Rerender { claim, .. } => {
                        Work::Checker(CheckerInput::Rerendered {
                            claim,
                            pixels: Err(reason),
                        })
                    }
                    SceneWaiter::RerenderRegions { claim, .. } => {
                        warn!(%claim, %reason, "cannot re-render the sampled regions");
                        Work::Checker(CheckerInput::RerenderedRegions {
                            claim,
                            regions: Err(reason),
                        })
                    }
                    SceneWaiter::Submit(job) => {
                        if let Some((_, reply)) = self.submits.remove(&job) {
                            let _ = reply.send(Err(NodeError::InvalidScene(reason)));
                        }
                        return;
                    }
                };
                self.queue.push_back(work);
            }
        }
    }

    fn run_with_scene(&mut self, scene: Arc<LoadedScene>, waiter: SceneWaiter) {
        if let SceneWaiter::Submit(job) = waiter {
            return self.publish_submitted(job);
        }
        let job = match &waiter {
            SceneWaiter::Render { assignment, .. } => assignment.shard.job,
            SceneWaiter::Rerender { job, .. } | SceneWaiter::RerenderRegions { job, .. } => *job,
            SceneWaiter::Submit(job) => *job,
        };
        let Some(spec) = self.jobs.get(&job).cloned() else {
            return;
        };
        match waiter {
            SceneWaiter::Render { assignment, tamper } => {
                self.tasks.render_shard(scene, spec, assignment, tamper)
            }
            SceneWaiter::Rerender {
                claim,
                frame,
                pixels,
                ..
            } => self.tasks.rerender(scene, &spec, claim, frame, pixels),
            SceneWaiter::RerenderRegions {
                claim,
                frame,
                regions,
                ..
            } => self
                .tasks
                .rerender_regions(scene, spec, claim, frame, regions),
            SceneWaiter::Submit(_) => {}
        }
    }
}
