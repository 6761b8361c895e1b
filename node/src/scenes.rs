//! The scene cache: one slot per scene id, loading (with the work that waits for it),
//! ready, or failed. The loop asks for a job's scene with the work that needs it; the
//! cache says whether the work can run now, must fail with the scene's reason, or waits
//! (and whether the loop must start loading). It does no I/O itself.

use std::{collections::BTreeMap, sync::Arc};

use pictor_protocol::{Assignment, ClaimId, ContentId, JobId};

use crate::{engines::LoadedScene, roles::worker::Tamper};

/// The most scenes kept parsed in memory; the least recently used ready one goes first.
pub(crate) const MAX_SCENES: usize = 64;
/// The most scenes loading at once (fetched and parsed); work for another fails with the
/// reason, and the scene is asked for again by the next work that needs it.
pub(crate) const MAX_LOADING: usize = 64;
/// The most pieces of work waiting for one scene (a checker's re-renders of the claims
/// that come in while its scene loads); past it the work fails with the reason (a
/// checker then does not vote on the claim, a worker does not claim the shard: the
/// shard's timeout gives it out again).
pub(crate) const MAX_WAITERS: usize = 10_000;

/// Work that needs a scene.
#[derive(Debug)]
pub(crate) enum SceneWaiter {
    /// The worker renders a shard.
    Render {
        assignment: Assignment,
        tamper: Option<Tamper>,
    },
    /// The checker re-renders sampled pixels (image coordinates).
    Rerender {
        claim: ClaimId,
        job: JobId,
        frame: u32,
        pixels: Vec<(u32, u32)>,
    },
    /// The checker re-renders sampled regions `(x, y, w, h)` (image coordinates).
    RerenderRegions {
        claim: ClaimId,
        job: JobId,
        frame: u32,
        regions: Vec<(u32, u32, u32, u32)>,
    },
    /// The creator checks that its scene loads before it publishes the job.
    Submit(JobId),
}

/// What to do with a waiter.
#[derive(Debug)]
pub(crate) enum SceneAnswer {
    /// The scene is ready: run the work.
    Ready(Arc<LoadedScene>, SceneWaiter),
    /// The scene is unusable: fail the work with the reason.
    Failed(String, SceneWaiter),
    /// The work waits; `true`: nobody is loading the scene yet, start.
    Wait { load: bool },
}

#[derive(Debug)]
enum Slot {
    Loading(Vec<SceneWaiter>),
    Ready(Arc<LoadedScene>, u64),
    Failed(String),
}

/// The scenes of this node.
#[derive(Debug, Default)]
pub(crate) struct SceneCache {
    slots: BTreeMap<ContentId, Slot>,
    uses: u64,
}

impl SceneCache {
    /// Asks for scene `id` on behalf of `waiter`.
    pub(crate) fn request(&mut self, id: ContentId, waiter: SceneWaiter) -> SceneAnswer {
        self.uses += 1;
        let loading = self.loading();
        match self.slots.get_mut(&id) {
            Some(Slot::Ready(scene, used)) => {
                *used = self.uses;
                SceneAnswer::Ready(scene.clone(), waiter)
            }
            Some(Slot::Failed(reason)) => SceneAnswer::Failed(reason.clone(), waiter),
            Some(Slot::Loading(waiters)) if waiters.len() >= MAX_WAITERS => SceneAnswer::Failed(
                format!("{MAX_WAITERS} pieces of work wait for this scene already"),
                waiter,
            ),
            Some(Slot::Loading(waiters)) => {
                waiters.push(waiter);
                SceneAnswer::Wait { load: false }
            }
            None if loading >= MAX_LOADING => {
                SceneAnswer::Failed(format!("{MAX_LOADING} scenes are loading already"), waiter)
            }
            None => {
                self.slots.insert(id, Slot::Loading(vec![waiter]));
                SceneAnswer::Wait { load: true }
            }
        }
    }

    /// A scene could not be fetched (no peer had it, or none could be reached): the work
    /// that waited fails, but the scene is asked for again by the next work that needs it.
    pub(crate) fn unavailable(&mut self, id: ContentId, reason: &str) -> Vec<SceneAnswer> {
        match self.slots.remove(&id) {
            Some(Slot::Loading(waiters)) => waiters
                .into_iter()
                .map(|w| SceneAnswer::Failed(reason.to_owned(), w))
                .collect(),
            Some(other) => {
                self.slots.insert(id, other);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// A scene finished loading (or failed): the answers for everything that waited.
    pub(crate) fn loaded(
        &mut self,
        id: ContentId,
        result: Result<Arc<LoadedScene>, String>,
    ) -> Vec<SceneAnswer> {
        let waiters = match self.slots.remove(&id) {
            Some(Slot::Loading(w)) => w,
            _ => Vec::new(),
        };
        let answers = match &result {
            Ok(scene) => waiters
                .into_iter()
                .map(|w| SceneAnswer::Ready(scene.clone(), w))
                .collect(),
            Err(reason) => waiters
                .into_iter()
                .map(|w| SceneAnswer::Failed(reason.clone(), w))
                .collect(),
        };
        self.evict();
        self.uses += 1;
        self.slots.insert(
            id,
            match result {
                Ok(scene) => Slot::Ready(scene, self.uses),
                Err(reason) => Slot::Failed(reason),
            },
        );
        answers
    }

    /// Forgets a scene (its jobs are pruned); work still waiting for it is dropped.
    pub(crate) fn forget(&mut self, id: &ContentId) {
        if !matches!(self.slots.get(id), Some(Slot::Loading(_))) {
            self.slots.remove(id);
        }
    }

    /// Scenes being loaded now.
    fn loading(&self) -> usize {
        self.slots
            .values()
            .filter(|slot| matches!(slot, Slot::Loading(_)))
            .count()
    }

    fn evict(&mut self) {
        while self.slots.len() >= MAX_SCENES {
            let oldest = self
                .slots
                .iter()
                .filter_map(|(id, slot)| match slot {
                    Slot::Ready(_, used) => Some((*used, *id)),
                    Slot::Failed(_) => Some((0, *id)),
                    Slot::Loading(_) => None,
                })
                .min();
            match oldest {
                Some((_, id)) => {
                    self.slots.remove(&id);
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit(i: u8) -> SceneWaiter {
        SceneWaiter::Submit(JobId([i; 32]))
    }

    fn failed(answer: &SceneAnswer) -> Option<&str> {
        match answer {
            SceneAnswer::Failed(reason, _) => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn work_waiting_for_one_scene_is_bounded() {
        let mut cache = SceneCache::default();
        let id = ContentId::of(b"scene");
        assert!(matches!(
            cache.request(id, submit(0)),
            SceneAnswer::Wait { load: true }
        ));
        for _ in 1..MAX_WAITERS {
            assert!(matches!(
                cache.request(id, submit(1)),
                SceneAnswer::Wait { load: false }
            ));
        }
        let past = cache.request(id, submit(2));
        assert!(failed(&past).is_some_and(|r| r.contains("wait for this scene")));
        // The scene loads: every piece of work that waited gets its answer.
        assert_eq!(cache.loaded(id, Err("broken".into())).len(), MAX_WAITERS);
    }

    #[test]
    fn scenes_loading_at_once_are_bounded_and_one_past_it_is_asked_for_again_later() {
        let mut cache = SceneCache::default();
        let scene = |i: usize| ContentId::of(&i.to_le_bytes());
        for i in 0..MAX_LOADING {
            assert!(matches!(
                cache.request(scene(i), submit(0)),
                SceneAnswer::Wait { load: true }
            ));
        }
        let past = scene(MAX_LOADING);
        let answer = cache.request(past, submit(1));
        assert!(failed(&answer).is_some_and(|r| r.contains("loading already")));
        cache.loaded(scene(0), Err("broken".into()));
        assert!(matches!(
            cache.request(past, submit(1)),
            SceneAnswer::Wait { load: true }
        ));
    }
}
