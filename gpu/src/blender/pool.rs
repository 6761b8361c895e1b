//! Blender processes shared by the nodes of one machine.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::blender::{Blender, BlenderError, BlenderSession, SessionOptions};

/// Environment variable that sets [`BlenderPool::per_core`]'s limit.
pub const PROCESSES_ENV: &str = "PICTOR_BLENDER_PROCESSES";

/// Blender processes kept for the nodes that share a machine (one node, or every node of a
/// local network in one program), at most [`BlenderPool::limit`] at once.
///
/// A session is keyed by the caller's `scene_key` (the node uses the scene's content id and
/// the device): any node rendering that scene may use any idle session of it, whichever
/// node's copy of the file it loaded.
///
/// Blender renders on every core by itself, so more processes than cores only adds
/// start-ups (about a second of CPU each) and contention. At the limit, a caller takes an
/// idle session of its scene, or ends an idle session of another scene to start one, or
/// waits until a session is handed back. Sessions end when the pool is dropped.
#[derive(Debug)]
pub struct BlenderPool {
    limit: usize,
    options: SessionOptions,
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Debug, Default)]
struct PoolState {
    /// Idle sessions per scene key.
    idle: HashMap<String, Vec<BlenderSession>>,
    /// Sessions that exist (idle, lent out, or starting).
    live: usize,
}

impl BlenderPool {
    /// A pool of at most `limit` Blender processes (at least one).
    pub fn new(limit: usize, options: SessionOptions) -> BlenderPool {
        BlenderPool {
            limit: limit.max(1),
            options,
            state: Mutex::new(PoolState::default()),
            returned: Condvar::new(),
        }
    }

    /// A pool of one process per core of this machine, or of `$PICTOR_BLENDER_PROCESSES`
    /// processes when that is set to a number.
    pub fn per_core() -> BlenderPool {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let limit = std::env::var(PROCESSES_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cores);
        BlenderPool::new(limit, SessionOptions::default())
    }

    /// The most processes this pool runs at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Blender processes that exist now (idle, lent out or starting).
    pub fn live(&self) -> usize {
        self.lock().live
    }

    /// Lends a session of `scene_key`: an idle one, or a new one started on `scene` (the
    /// caller's copy of the file). Blocks while the pool is at its limit with no idle
    /// session to reuse or end. The session goes back to the pool when the guard drops.
    pub fn take(
        &self,
        blender: &Blender,
        scene_key: &str,
        scene: &Path,
    ) -> Result<PooledSession<'_>, BlenderError> {
        let mut state = self.lock();
        loop {
            if let Some(session) = state.idle.get_mut(scene_key).and_then(Vec::pop) {
                return Ok(self.lend(scene_key, session));
            }
            if state.live >= self.limit {
                // Make room by ending an idle session of another scene, if there is one.
                if let Some(other) = state.idle.values_mut().find_map(Vec::pop) {
                    state.live -= 1;
                    drop(state);
                    drop(other);
                    state = self.lock();
                    continue;
                }
                state = self
                    .returned
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.live += 1;
            drop(state);
            return match BlenderSession::start(blender, scene, self.options.clone()) {
                Ok(session) => Ok(self.lend(scene_key, session)),
                Err(e) => {
                    self.lock().live -= 1;
                    self.returned.notify_one();
                    Err(e)
                }
            };
        }
    }

    fn lend(&self, scene_key: &str, session: BlenderSession) -> PooledSession<'_> {
        PooledSession {
            pool: self,
            key: scene_key.to_owned(),
            session: Some(session),
        }
    }

    fn give_back(&self, key: String, session: BlenderSession) {
        self.lock().idle.entry(key).or_default().push(session);
        self.returned.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A session lent by a [`BlenderPool`]; handed back when dropped.
#[derive(Debug)]
pub struct PooledSession<'a> {
    pool: &'a BlenderPool,
    key: String,
    session: Option<BlenderSession>,
}

impl Deref for PooledSession<'_> {
    type Target = BlenderSession;

    fn deref(&self) -> &BlenderSession {
        // Always `Some` until `drop`.
        self.session.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for PooledSession<'_> {
    fn deref_mut(&mut self) -> &mut BlenderSession {
        self.session.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.pool.give_back(std::mem::take(&mut self.key), session);
        }
    }
}
