//! [`Scene`]: a prepared, immutable scene, ready to render any frame.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::animation::{frame_time, last_frame};
use crate::bundle::SceneBundle;
use crate::error::SceneError;
use crate::frame::{self, Frame};
use crate::load::{self, SceneData};
use crate::math::Vec3;

/// Radiance of the default sky (used, with the default sun, when a scene has neither
/// punctual lights nor emissive materials).
pub const DEFAULT_SKY_RADIANCE: f32 = 0.5;

/// How many animated frames' world-space geometry is kept.
const FRAME_CACHE: usize = 4;

/// A scene loaded from a [`SceneBundle`], prepared for rendering.
///
/// `Send + Sync`: render tiles of it from as many threads as you like.
pub struct Scene {
    id: [u8; 32],
    seed: u64,
    pub(crate) data: SceneData,
    pub(crate) env: Vec3,
    default_sun: bool,
    frame_range: Option<(u32, u32)>,
    rest: Arc<Frame>,
    cache: Mutex<Vec<(u32, Arc<Frame>)>>,
}

impl std::fmt::Debug for Scene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id: String = self.id[..8].iter().map(|b| format!("{b:02x}")).collect();
        f.debug_struct("Scene")
            .field("id", &format_args!("{id}…"))
            .field("triangles", &self.rest.instanced)
            .field("materials", &self.data.materials.materials.len())
            .field("images", &self.data.materials.images.len())
            .field("lights", &self.rest.lights.len())
            .field("frame_range", &self.frame_range)
            .field("default_lighting", &self.default_sun)
            .finish()
    }
}

impl Scene {
    /// Loads a `.gltf` / `.glb` file and everything it references.
    pub fn load(path: &Path) -> Result<Scene, SceneError> {
        Scene::from_bundle_bytes(&SceneBundle::from_path(path)?.to_bytes())
    }

    /// Prepares a scene from the canonical bundle encoding; its id is `blake3(bytes)`.
    pub fn from_bundle_bytes(bytes: &[u8]) -> Result<Scene, SceneError> {
        let id: [u8; 32] = blake3::hash(bytes).into();
        let bundle = SceneBundle::from_bytes(bytes)?;
        let mut data = load::load(&bundle)?;
        drop(bundle);
        keep_visible_channels(&mut data);
        let frame_range = if data.channels.is_empty() {
            None
        } else {
            let duration = data
                .channels
                .iter()
                .map(|c| c.duration())
                .fold(0.0f32, f32::max);
            Some((1, last_frame(duration)))
        };
        let mut rest = frame::build(&data, 0.0, false)?;
        if rest.tris.is_empty() {
            return Err(SceneError::NoGeometry);
        }
        let default_sun = rest.lights.is_empty() && rest.emitters.is_empty();
        if default_sun {
            rest.lights.push(crate::light::Light::default_sun());
        }
        let env = if default_sun {
            Vec3::splat(DEFAULT_SKY_RADIANCE)
        } else {
            Vec3::ZERO
        };
        let mut seed_bytes = [0u8; 8];
        seed_bytes.copy_from_slice(&id[..8]);
        Ok(Scene {
            id,
            seed: u64::from_le_bytes(seed_bytes),
            data,
            env,
            default_sun,
            frame_range,
            rest: Arc::new(rest),
            cache: Mutex::new(Vec::new()),
        })
    }

    /// The scene's content id: blake3 of its bundle bytes.
    pub fn id(&self) -> [u8; 32] {
        self.id
    }

    /// `Some((1, last))` for animated scenes, `None` for static ones.
    pub fn frame_range(&self) -> Option<(u32, u32)> {
        self.frame_range
    }

    /// Checks that `frame` can be rendered: frames start at 1, and animated scenes end at
    /// their last frame.
    pub fn check_frame(&self, frame: u32) -> Result<(), SceneError> {
        let (first, last) = self.frame_range.unwrap_or((1, u32::MAX));
        if frame < first || frame > last {
            return Err(SceneError::FrameOutOfRange { frame, first, last });
        }
        Ok(())
    }

    /// Number of triangles the scene instances.
    pub fn triangle_count(&self) -> usize {
        self.rest.instanced
    }

    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// World-space geometry of `frame` (already checked).
    pub(crate) fn frame(&self, frame: u32) -> Result<Arc<Frame>, SceneError> {
        if self.frame_range.is_none() || frame <= 1 {
            return Ok(self.rest.clone());
        }
        let lock = || self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, f)) = lock().iter().find(|(k, _)| *k == frame) {
            return Ok(f.clone());
        }
        let built = Arc::new(frame::build(
            &self.data,
            frame_time(frame),
            self.default_sun,
        )?);
        let mut cache = lock();
        if !cache.iter().any(|(k, _)| *k == frame) {
            if cache.len() >= FRAME_CACHE {
                cache.remove(0);
            }
            cache.push((frame, built.clone()));
        }
        Ok(built)
    }

    /// Bounds of the scene at rest (frame 1), for the default camera.
    pub(crate) fn rest_bounds(&self) -> (Vec3, Vec3) {
        (self.rest.min, self.rest.max)
    }
}

/// Drops animation channels that cannot change the image: those whose node has no mesh,
/// camera or light in its subtree (e.g. the joints of a skin, which this engine ignores).
fn keep_visible_channels(data: &mut SceneData) {
    let n = data.nodes.len();
    let mut parent = vec![usize::MAX; n];
    for (i, node) in data.nodes.iter().enumerate() {
        for &c in &node.children {
            if c < n && parent[c] == usize::MAX {
                parent[c] = i;
            }
        }
    }
    let mut visible = vec![false; n];
    for (i, node) in data.nodes.iter().enumerate() {
        if node.mesh.is_some() || node.camera.is_some() || node.light.is_some() {
            let mut j = i;
            for _ in 0..n {
                if j >= n || visible[j] {
                    break;
                }
                visible[j] = true;
                j = parent[j];
            }
        }
    }
    data.channels
        .retain(|c| visible.get(c.node).copied().unwrap_or(false));
}
