//! The scenes a node has loaded, per engine: the built-in path tracer's parsed scenes, and
//! `.blend` files rendered by a persistent Blender process.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError},
    time::Duration,
};

use pictor_gpu::{
    Blender, BlenderDevice, BlenderSession, Rect, RegionRequest, Scene, SessionOptions,
};
use pictor_protocol::{ContentId, Engine, JobSpec};

use crate::roles::perceptual::blender_engine;

/// The longest one Blender render (a shard tile, or a checker's regions) may take.
pub(crate) const BLENDER_RENDER_TIMEOUT: Duration = Duration::from_secs(600);

/// A scene ready to render.
#[derive(Debug)]
pub(crate) enum LoadedScene {
    /// Parsed for the built-in engine.
    Builtin(Box<Scene>),
    /// A `.blend` on disk, with the Blender process that renders it (started on first use,
    /// kept across shards).
    Blender(Box<BlenderScene>),
}

/// A `.blend` scene and its Blender process.
#[derive(Debug)]
pub(crate) struct BlenderScene {
    blender: Blender,
    path: PathBuf,
    device: BlenderDevice,
    session: Mutex<Option<BlenderSession>>,
}

impl LoadedScene {
    /// Loads a scene block for `engine`. Blender scenes are written to `scenes_dir`.
    pub(crate) fn load(
        engine: Engine,
        id: ContentId,
        bytes: &[u8],
        scenes_dir: &Path,
        device: BlenderDevice,
    ) -> Result<LoadedScene, String> {
        if engine.is_blender() {
            let blender = Blender::locate().map_err(|e| e.to_string())?;
            std::fs::create_dir_all(scenes_dir)
                .map_err(|e| format!("cannot create {}: {e}", scenes_dir.display()))?;
            let path = scenes_dir.join(format!("{id}.blend"));
            if !path.is_file() {
                let tmp = path.with_extension("blend.partial");
                std::fs::write(&tmp, bytes)
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            Ok(LoadedScene::Blender(Box::new(BlenderScene {
                blender,
                path,
                device,
                session: Mutex::new(None),
            })))
        } else {
            Scene::from_bundle_bytes(bytes)
                .map(|scene| LoadedScene::Builtin(Box::new(scene)))
                .map_err(|e| e.to_string())
        }
    }
}

/// The seed of a job's Blender renders: fixed by the job's scene, so every node (and a
/// plain Blender render of the same file) uses the same one. Cycles takes a non-negative
/// 32-bit signed seed.
pub(crate) fn blender_seed(scene: &ContentId) -> u32 {
    let d = scene.digest();
    u32::from_le_bytes([d[0], d[1], d[2], d[3]]) & 0x7fff_ffff
}

impl BlenderScene {
    /// Renders `rect` of `frame` of `spec` at `samples` (the worker's device; checkers'
    /// nodes render on the CPU). The Blender process is started on first use and reused.
    pub(crate) fn render(
        &self,
        spec: &JobSpec,
        frame: u32,
        rect: Rect,
        samples: u32,
    ) -> Result<Vec<u8>, String> {
        let request = RegionRequest {
            frame,
            width: spec.width,
            height: spec.height,
            region: rect,
            samples,
            seed: blender_seed(&spec.scene),
            engine: blender_engine(spec.engine),
            device: self.device,
            threads: None,
        };
        let mut slot = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            let session =
                BlenderSession::start(&self.blender, &self.path, SessionOptions::default())
                    .map_err(|e| e.to_string())?;
            *slot = Some(session);
        }
        let Some(session) = slot.as_mut() else {
            return Err("Blender session unavailable".into());
        };
        session
            .render_region(&request, BLENDER_RENDER_TIMEOUT)
            .map(|image| image.pixels)
            .map_err(|e| e.to_string())
    }
}
