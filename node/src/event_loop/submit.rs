//! A creator's job on its way out: checked, its scene stored and loaded, its budget
//! escrowed where it has one, then published.

use pictor_protocol::{JobId, JobSpec, Message};

use super::{EventLoop, Work};
use crate::{
    now_ms,
    roles::creator::CreatorInput,
    scenes::{SceneAnswer, SceneWaiter},
    NodeError,
};

/// Jobs waiting for their scene to load before they are published.
const MAX_PENDING_SUBMITS: usize = 64;

impl EventLoop {
    /// Checks a job of this node's and stores its scene; the job is published once its
    /// scene loads (a scene that does not load is refused with the reason).
    pub(super) fn submit(
        &mut self,
        spec: JobSpec,
        scene: Vec<u8>,
        budget: u64,
        reply: tokio::sync::oneshot::Sender<Result<JobId, NodeError>>,
    ) {
        let mut spec = spec;
        if spec.epoch == 0 {
            // The job's committee is drawn from the set of the epoch it is made in.
            spec.epoch = self.ledger.lock().epoch_at(now_ms());
        }
        let checked = (|| {
            if spec.creator != self.me {
                return Err(NodeError::InvalidJob(
                    "the job's creator is not this node's key".into(),
                ));
            }
            spec.validate()
                .map_err(|e| NodeError::InvalidJob(e.to_string()))?;
            if scene.len() + 64 > pictor_protocol::MAX_RESPONSE_SIZE {
                return Err(NodeError::InvalidJob(format!(
                    "the scene bundle is {} bytes; scenes up to {} bytes can be distributed",
                    scene.len(),
                    pictor_protocol::MAX_RESPONSE_SIZE - 64
                )));
            }
            self.check_budget(budget)?;
            if self.submits.len() >= MAX_PENDING_SUBMITS {
                return Err(NodeError::InvalidJob(
                    "too many jobs are being submitted at once; try again".into(),
                ));
            }
            let scene_id = self.store.put_block(&scene)?;
            if scene_id != spec.scene {
                return Err(NodeError::InvalidJob(format!(
                    "the scene bundle hashes to {scene_id}, the job names {}",
                    spec.scene
                )));
            }
            Ok(spec.id())
        })();
        let id = match checked {
            Ok(id) => id,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if self.jobs.contains(&id) || self.creator.owns(&id) {
            let _ = reply.send(Ok(id));
            return;
        }
        self.read_as_creator();
        let (scene_id, engine) = (spec.scene, spec.engine);
        self.submits.insert(id, (spec, reply));
        if budget > 0 {
            self.budgets.insert(id, budget);
        }
        if engine.is_blender() {
            // A creator need not have Blender: the .blend was checked by its header.
            return self.publish_submitted(id);
        }
        match self.scenes.request(scene_id, SceneWaiter::Submit(id)) {
            SceneAnswer::Wait { load: true } => match self.store.get_block(&scene_id) {
                Ok(Some(bytes)) => self.tasks.load_scene(scene_id, engine, bytes),
                _ => self.scene_loaded(scene_id, Err("the scene is not in the block store".into())),
            },
            SceneAnswer::Wait { load: false } => {}
            SceneAnswer::Ready(..) => self.publish_submitted(id),
            SceneAnswer::Failed(reason, _) => {
                if let Some((_, reply)) = self.submits.remove(&id) {
                    let _ = reply.send(Err(NodeError::InvalidScene(reason)));
                }
            }
        }
    }

    /// A submitted job's scene loads: the job is this creator's, known, and published.
    pub(super) fn publish_submitted(&mut self, id: JobId) {
        if let Some(budget) = self.budgets.remove(&id) {
            // Its budget goes into its escrow first; it is published once that is final.
            return self.fund_escrow(id, budget);
        }
        let Some((spec, reply)) = self.submits.remove(&id) else {
            return;
        };
        if let Err(full) = self.jobs.insert(spec.clone(), now_ms()) {
            let _ = reply.send(Err(NodeError::InvalidJob(full.to_string())));
            return;
        }
        self.queue
            .push_back(Work::Creator(CreatorInput::Submitted(spec.clone())));
        self.publish(Message::Job(spec), false);
        let _ = reply.send(Ok(id));
    }
}
