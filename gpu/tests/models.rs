//! The shared public glTF models load and render, animations move, textures are sampled.

mod common;

use common::*;
use pictor_gpu::{encode_png, render_tile, Rect, Scene, SceneBundle, SceneError};

#[test]
fn shared_models_load_and_render_with_contrast() {
    for name in [
        "Box.gltf",
        "BoxAnimated.gltf",
        "BoxTextured.gltf",
        "Cameras.gltf",
        "Fox.glb",
    ] {
        let Some(path) = shared_model(name) else {
            return;
        };
        let scene = load(&path);
        assert!(scene.triangle_count() > 0, "{name}: no triangles");
        let img = render(&scene, settings(32, 32, 2, 1));
        assert_eq!(img.len(), 32 * 32 * 3);
        assert!(
            contrast(&img) > 30,
            "{name}: image is nearly uniform ({})",
            contrast(&img)
        );
    }
}

#[test]
fn box_animated_moves_between_frames() {
    let Some(path) = shared_model("BoxAnimated.gltf") else {
        return;
    };
    let scene = load(&path);
    let (first, last) = scene.frame_range().unwrap_or_default();
    assert_eq!(first, 1);
    // The longest channel lasts 3.70833 s: floor(3.70833 * 24) + 1 = 88 + 1.
    assert_eq!(last, 89);
    let a = render(&scene, settings(32, 32, 2, 1));
    let b = render(&scene, settings(32, 32, 2, 40));
    assert_ne!(a, b, "the animation should change the image");
    for frame in [0, last + 1] {
        match scene.check_frame(frame) {
            Err(e @ SceneError::FrameOutOfRange { .. }) => {
                assert!(e.to_string().contains(&frame.to_string()), "{e}");
            }
            other => panic!("frame {frame}: expected FrameOutOfRange, got {other:?}"),
        }
        let r = pictor_gpu::render_pixel(&scene, &settings(8, 8, 1, frame), 0, 0);
        assert!(matches!(
            r,
            Err(pictor_gpu::RenderError::Scene(
                SceneError::FrameOutOfRange { .. }
            ))
        ));
    }
}

#[test]
fn static_scene_renders_any_frame_alike() {
    let Some(path) = shared_model("Box.gltf") else {
        return;
    };
    let scene = load(&path);
    assert_eq!(scene.frame_range(), None);
    assert!(scene.check_frame(0).is_err());
    assert_eq!(
        render(&scene, settings(16, 16, 1, 1)),
        render(&scene, settings(16, 16, 1, 500))
    );
}

#[test]
fn box_textured_samples_its_texture() {
    let Some(path) = shared_model("BoxTextured.gltf") else {
        return;
    };
    let bundle = match SceneBundle::from_path(&path) {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    };
    let textured = match Scene::from_bundle_bytes(&bundle.to_bytes()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    // Same scene with the embedded PNG replaced by a solid mid-grey one.
    let json = String::from_utf8_lossy(&bundle.files[&bundle.main]).into_owned();
    let marker = "data:image/png;base64,";
    let start = json
        .find(marker)
        .unwrap_or_else(|| panic!("no embedded png"))
        + marker.len();
    let end = start
        + json[start..]
            .find('"')
            .unwrap_or_else(|| panic!("unterminated uri"));
    let grey = encode_png(2, 2, &[128; 12]).unwrap_or_else(|e| panic!("{e}"));
    use base64::Engine as _;
    let patched = format!(
        "{}{}{}",
        &json[..start],
        base64::engine::general_purpose::STANDARD.encode(grey),
        &json[end..]
    );
    let mut plain = bundle.clone();
    plain.files.insert(plain.main.clone(), patched.into_bytes());
    let plain = match Scene::from_bundle_bytes(&plain.to_bytes()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let s = settings(32, 32, 2, 1);
    let (a, b) = (render(&textured, s), render(&plain, s));
    assert_ne!(a, b);
    // The Cesium logo texture is mostly orange-ish/green; the grey one is neutral.
    let rect = Rect {
        x: 8,
        y: 8,
        w: 16,
        h: 16,
    };
    let ta = render_tile(&textured, &s, rect).unwrap_or_else(|e| panic!("{e}"));
    let tb = render_tile(&plain, &s, rect).unwrap_or_else(|e| panic!("{e}"));
    let (ma, mb) = (mean(&ta), mean(&tb));
    let diff: f64 = (0..3).map(|c| (ma[c] - mb[c]).abs()).sum();
    assert!(diff > 5.0, "textured {ma:?} vs grey {mb:?}");
}

#[test]
fn example_scenes_render() {
    for (name, frames) in [
        ("cornell-box.gltf", Some((1, 24))),
        ("textured-crate.gltf", None),
    ] {
        let scene = load(&example_scene(name));
        assert_eq!(scene.frame_range(), frames, "{name}");
        let img = render(&scene, settings(32, 32, 2, 1));
        assert!(contrast(&img) > 60, "{name}");
    }
    // The tall box of the Cornell box turns: frames 1 and 24 differ.
    let scene = load(&example_scene("cornell-box.gltf"));
    assert_ne!(
        render(&scene, settings(24, 24, 1, 1)),
        render(&scene, settings(24, 24, 1, 24))
    );
}

/// A `.gltf` whose buffer is an external `.bin` file beside it renders exactly like the
/// same model with the buffer embedded as a `data:` URI; the bundle carries the file.
#[test]
fn external_buffer_renders_like_embedded() {
    use base64::Engine as _;
    let Some(path) = shared_model("Box.gltf") else {
        return;
    };
    let json = std::fs::read_to_string(&path).expect("read Box.gltf");
    let prefix = "data:application/octet-stream;base64,";
    let start = json.find(prefix).expect("Box.gltf embeds its buffer");
    let end = start + json[start..].find('"').expect("closing quote");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&json[start + prefix.len()..end])
        .expect("base64");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("box.bin"), &bytes).expect("write bin");
    let external = format!("{}box.bin{}", &json[..start], &json[end..]);
    let external_path = dir.path().join("box-external.gltf");
    std::fs::write(&external_path, external).expect("write gltf");

    let bundle = SceneBundle::from_path(&external_path).expect("bundle");
    assert_eq!(
        bundle.files.get("box.bin").map(Vec::len),
        Some(bytes.len()),
        "the bundle carries the external buffer: {:?}",
        bundle.files.keys().collect::<Vec<_>>()
    );
    let embedded = render(&load(&path), settings(48, 32, 2, 1));
    let from_file = render(&load(&external_path), settings(48, 32, 2, 1));
    // Same geometry and materials; the seed includes the scene id (the bundle hash), so
    // compare the images' coverage rather than the noise: both must show the box.
    assert!(contrast(&from_file) > 30);
    let lit = |img: &[u8]| img.iter().filter(|&&v| v > 20).count();
    let (a, b) = (lit(&embedded), lit(&from_file));
    assert!(
        a.abs_diff(b) * 20 < a.max(1),
        "coverage differs: embedded {a}, external {b}"
    );
    std::fs::remove_file(dir.path().join("box.bin")).expect("remove bin");
    let missing = SceneBundle::from_path(&external_path).expect_err("missing buffer");
    assert!(missing.to_string().contains("box.bin"), "{missing}");
}
