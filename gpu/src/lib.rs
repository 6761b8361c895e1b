//! `pictor-gpu`: the render engines of a Pictor node.
//!
//! This crate holds the **built-in engine**, a deterministic CPU path tracer for glTF 2.0
//! scenes. It knows nothing about the network: give it scene bytes and render settings,
//! get pixels back.
//!
//! # Scenes
//! A scene is a `.gltf` (embedded `data:` URIs or external files next to it) or `.glb`
//! file. [`SceneBundle`] gathers the file and everything it references into one canonical
//! byte string; the scene's content id is the blake3 hash of those bytes. Supported:
//! triangle meshes (indexed or not; other primitive modes are skipped with a warning),
//! metallic-roughness materials with base-colour, metallic-roughness and emissive
//! textures (TEXCOORD_0, bilinear or nearest, REPEAT / CLAMP / MIRRORED), emission with
//! `KHR_materials_emissive_strength`, perspective and orthographic cameras,
//! `KHR_lights_punctual` (point, spot, directional; colour × intensity is used directly as
//! radiometric intensity), and node animation (translation / rotation / scale, LINEAR and
//! STEP; CUBICSPLINE is interpolated linearly between its values). Skins and morph targets
//! are ignored (meshes render in their bind pose), as are alpha, normal maps and texture
//! transforms.
//!
//! # Frames
//! Frame `f` (1-based) is sampled at `(f - 1) / FPS` seconds. An animated scene has frames
//! `1..=floor(duration × FPS) + 1`; a static scene renders the same image for any frame ≥ 1.
//!
//! # Defaults
//! - **Camera**: the first node with a camera, in depth-first scene order. Without one,
//!   the default camera sits on the +Z side of the scene's bounding box (at frame 1),
//!   looks down −Z at its centre with a 45° vertical field of view, and is far enough back
//!   that the bounding sphere fits. The aspect ratio always comes from the render size.
//! - **Lighting**: a scene with neither punctual lights nor emissive materials gets a
//!   uniform sky of radiance [`DEFAULT_SKY_RADIANCE`] plus a white directional sun of
//!   irradiance 2 shining from direction (0.4, 1, 0.6) (above, right, front). Otherwise
//!   the background is black.
//!
//! # Determinism
//! The same scene bytes and settings give the same pixels on every machine: only IEEE
//! basic operations and the pure-Rust `libm` are used for anything that decides a pixel;
//! every sample has its own random stream seeded from (scene id, frame, x, y, sample)
//! (frame 1 for static scenes, so that every frame of a static scene is the same image);
//! samples are summed in a fixed order on one thread; scene preparation (including the BVH
//! build) does not depend on thread scheduling or hash order. So [`render_pixel`] returns
//! exactly the bytes of that pixel in [`render_tile`] and [`render_frame`].
//!
//! # Integrator
//! Path tracing, at most 5 segments, Russian roulette after 3 bounces, next-event
//! estimation to every punctual light and to one emissive triangle per bounce (picked by
//! power, MIS with BSDF sampling), a Lambert + GGX surface model, per-sample radiance
//! clamped to 16, then clamped to [0, 1], sRGB-encoded and quantised to 8 bits.
//!
//! # Limits (scenes come from the network)
//! Bundles up to 256 MiB, 4M triangles, 64 images of at most 8192×8192, 1024 lights,
//! images up to 16384×16384, 65536 samples per pixel. No input makes it panic.

mod accessor;
mod animation;
mod bsdf;
mod bundle;
mod bvh;
mod camera;
mod container;
mod error;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod image_io;
mod integrator;
mod light;
mod load;
mod material;
mod math;
mod render;
mod sampler;
mod scene;
mod texture;

pub mod benchmark;
pub mod blender;
pub mod compare;
pub mod device;
pub mod requirements;

pub use animation::FPS;
pub use benchmark::{BenchmarkError, BenchmarkScore};
pub use blender::{
    render_frame_direct, Blender, BlenderDevice, BlenderEngine, BlenderError, BlenderPool,
    BlenderSession, BlenderVersion, RegionRequest, RgbImage, SessionOptions,
};
pub use bundle::{SceneBundle, MAX_BUNDLE_BYTES, MAX_BUNDLE_FILES};
pub use compare::{
    compare_region, compare_regions, psnr, ssim, Comparison, RegionPair, Thresholds,
};
pub use device::{CpuInfo, DeviceClass, DeviceInfo, EngineInfo, GpuInfo, Inventory};
pub use error::{RenderError, SceneError};
pub use frame::{MAX_LIGHTS, MAX_TRIANGLES};
pub use image_io::{decode_png, encode_png};
pub use render::{
    render_frame, render_pixel, render_tile, samples_traced, Rect, RenderSettings, MAX_IMAGE_SIZE,
    MAX_SAMPLES,
};
pub use requirements::{CapabilityView, HardwareRequirements, RequirementsError, Shortfall, Unmet};
pub use scene::{Scene, DEFAULT_SKY_RADIANCE};
pub use texture::{MAX_TEXTURES, MAX_TEXTURE_SIZE, MAX_TOTAL_TEXELS};
