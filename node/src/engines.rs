//! The scenes a node has loaded, per engine: the built-in path tracer's parsed scenes, and
//! `.blend` files rendered by a persistent Blender process.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use pictor_gpu::{Blender, BlenderDevice, BlenderPool, Rect, RegionRequest, Scene};
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

/// A `.blend` scene, rendered by the Blender processes of the node's pool.
#[derive(Debug)]
pub(crate) struct BlenderScene {
    blender: Blender,
    id: ContentId,
    path: PathBuf,
    device: BlenderDevice,
    pool: Arc<BlenderPool>,
}

impl LoadedScene {
    /// Loads a scene block for `engine`. Blender scenes are written to `scenes_dir` and
    /// rendered by `pool`'s processes on `device`.
    pub(crate) fn load(
        engine: Engine,
        id: ContentId,
        bytes: &[u8],
        scenes_dir: &Path,
        device: BlenderDevice,
        pool: &Arc<BlenderPool>,
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
                id,
                path,
                device,
                pool: pool.clone(),
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
    /// Renders `rect` of `frame` of `spec` at `samples` on the node's device (a checker's
    /// node renders on the CPU), with a Blender process of the pool.
    pub(crate) fn render(
        &self,
        spec: &JobSpec,
        frame: u32,
        rect: Rect,
        samples: u32,
    ) -> Result<Vec<u8>, String> {
        let mut regions = self.render_regions(spec, frame, &[rect], samples)?;
        regions
            .pop()
            .ok_or_else(|| "Blender returned no image".to_owned())
    }

    /// Renders several regions of `frame` in one exchange with one Blender process (a
    /// checker's sampled regions of a claim), in order.
    pub(crate) fn render_regions(
        &self,
        spec: &JobSpec,
        frame: u32,
        rects: &[Rect],
        samples: u32,
    ) -> Result<Vec<Vec<u8>>, String> {
        let base = RegionRequest {
            frame,
            width: spec.width,
            height: spec.height,
            region: Rect {
                x: 0,
                y: 0,
                w: spec.width,
                h: spec.height,
            },
            samples,
            seed: blender_seed(&spec.scene),
            engine: blender_engine(spec.engine),
            device: self.device,
            threads: None,
        };
        let requests: Vec<RegionRequest> =
            rects.iter().map(|&rect| base.with_region(rect)).collect();
        // One process per scene and device: switching a process between the CPU and a GPU
        // would reload Cycles' device each time.
        let key = format!("{}/{}", self.id, self.device);
        let mut session = self
            .pool
            .take(&self.blender, &key, &self.path)
            .map_err(|e| e.to_string())?;
        session
            .render_regions(&requests, BLENDER_RENDER_TIMEOUT)
            .map(|images| images.into_iter().map(|image| image.pixels).collect())
            .map_err(|e| e.to_string())
    }
}
