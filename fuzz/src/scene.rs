//! The scene targets: what every worker and checker of a job loads.

use std::collections::BTreeMap;

use pictor_gpu::{render_tile, Rect, RenderSettings, Scene, SceneBundle, SceneError};

/// A scene that loads renders a few pixels of its first frame (textures sampled, lights
/// and animation evaluated); a scene that does not load says why in one line.
fn load_and_render(bytes: &[u8]) {
    let scene = match Scene::from_bundle_bytes(bytes) {
        Ok(s) => s,
        Err(e) => return scene_error(&e),
    };
    let frame = scene.frame_range().map_or(1, |(first, _)| first);
    let settings = RenderSettings {
        width: 4,
        height: 4,
        samples: 1,
        frame,
    };
    let rect = Rect {
        x: 0,
        y: 0,
        w: 4,
        h: 4,
    };
    if let Ok(pixels) = render_tile(&scene, &settings, rect) {
        assert_eq!(pixels.len(), 4 * 4 * 3, "a 4x4 tile of the wrong size");
    }
}

fn scene_error(e: &SceneError) {
    super::one_line(&e.to_string());
}

/// A scene bundle as a job names it (a glTF or GLB file and the files it references).
pub fn scene_bundle(data: &[u8]) {
    if let Ok(bundle) = SceneBundle::from_bytes(data) {
        assert_eq!(bundle.to_bytes(), data, "a bundle re-encodes differently");
    }
    load_and_render(data);
}

/// One glTF (JSON, with `data:` URIs) or GLB file on its own.
pub fn scene_gltf(data: &[u8]) {
    let main = if data.starts_with(b"glTF") {
        "scene.glb"
    } else {
        "scene.gltf"
    };
    let bundle = SceneBundle {
        main: main.to_owned(),
        files: BTreeMap::from([(main.to_owned(), data.to_vec())]),
    };
    load_and_render(&bundle.to_bytes());
}

/// A PNG or JPEG texture: the size its header states is the size it decodes to.
pub fn texture(data: &[u8]) {
    match pictor_gpu::fuzzing::texture(data) {
        Ok((header, decoded)) => assert_eq!(header, decoded, "header and image sizes differ"),
        Err(e) => scene_error(&e),
    }
}

/// A PNG that Blender wrote: decodes to width x height x 3 bytes, and is read at its size.
pub fn blender_png(data: &[u8]) {
    let Ok((w, h, pixels)) = pictor_gpu::decode_png(data) else {
        return;
    };
    assert_eq!(pixels.len() as u64, u64::from(w) * u64::from(h) * 3);
    match pictor_gpu::fuzzing::blender_png(data, w, h) {
        Ok(image) => assert_eq!((image.width, image.height), (w, h)),
        Err(e) => panic!("a PNG that decodes is refused at its own size: {e}"),
    }
    if w > 0 {
        assert!(pictor_gpu::fuzzing::blender_png(data, w - 1, h).is_err());
    }
}
