//! Hostile and broken inputs give the right error, with a readable message, never a panic.

mod common;

use std::path::Path;

use common::*;
use pictor_gpu::{Scene, SceneBundle, SceneError};

fn load_err(path: &Path) -> SceneError {
    match Scene::load(path) {
        Ok(s) => panic!("{} loaded unexpectedly: {s:?}", path.display()),
        Err(e) => e,
    }
}

#[test]
fn missing_file_names_the_path() {
    let e = load_err(Path::new("/nonexistent/dir/scene.gltf"));
    assert!(
        matches!(e, SceneError::Io { .. } | SceneError::MissingFile { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("/nonexistent/dir/scene.gltf"), "{e}");
}

#[test]
fn unsupported_extension() {
    let e = load_err(Path::new("scene.obj"));
    assert!(matches!(e, SceneError::UnsupportedFormat { .. }), "{e:?}");
}

#[test]
fn not_gltf_bytes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = dir.path().join("scene.gltf");
    std::fs::write(&p, b"this is not json").unwrap_or_else(|e| panic!("{e}"));
    let e = load_err(&p);
    assert!(matches!(e, SceneError::Gltf(_)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("scene.gltf") && msg.contains("invalid glTF"),
        "{msg}"
    );
}

#[test]
fn unsafe_uris_are_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for uri in [
        "../../etc/passwd",
        "/etc/passwd",
        "file:///etc/passwd",
        "https://example.com/a.bin",
    ] {
        let p = dir.path().join("evil.gltf");
        let json = format!(
            r#"{{"asset":{{"version":"2.0"}},"buffers":[{{"byteLength":4,"uri":"{uri}"}}]}}"#
        );
        std::fs::write(&p, json).unwrap_or_else(|e| panic!("{e}"));
        let e = load_err(&p);
        assert!(matches!(e, SceneError::UnsafeUri { .. }), "{uri}: {e:?}");
        assert!(e.to_string().contains(uri), "{e}");
    }
}

#[test]
fn missing_referenced_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = dir.path().join("a.gltf");
    std::fs::write(
        &p,
        r#"{"asset":{"version":"2.0"},"buffers":[{"byteLength":4,"uri":"data.bin"}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = load_err(&p);
    assert!(matches!(e, SceneError::MissingFile { .. }), "{e:?}");
    assert!(e.to_string().contains("data.bin"), "{e}");
}

#[test]
fn scene_without_triangles() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = dir.path().join("empty.gltf");
    std::fs::write(&p, r#"{"asset":{"version":"2.0"},"scenes":[{"nodes":[]}]}"#)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(load_err(&p), SceneError::NoGeometry));
}

#[test]
fn truncated_and_corrupted_glb_do_not_panic() {
    let Some(path) = shared_model("Fox.glb") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = dir.path().join("fox.glb");
    for cut in [0, 4, 11, 12, 19, 20, 100, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&p, &bytes[..cut]).unwrap_or_else(|e| panic!("{e}"));
        let e = load_err(&p);
        assert!(!e.to_string().is_empty());
    }
    // Corrupt single bytes through the BIN chunk: must load or fail cleanly.
    for i in (bytes.len() / 3..bytes.len()).step_by(997) {
        let mut b = bytes.clone();
        b[i] ^= 0xA5;
        std::fs::write(&p, &b).unwrap_or_else(|e| panic!("{e}"));
        let _ = Scene::load(&p);
    }
}

#[test]
fn out_of_range_indices_and_nan_positions_do_not_panic() {
    use base64::Engine as _;
    // Three vertices (one NaN) and two triangles, the last index `last`.
    let scene = |last: u16| {
        let mut bin = Vec::new();
        for v in [0.0f32, 0.0, 0.0, 1.0, 0.0, 0.0, f32::NAN, 1.0, 0.0] {
            bin.extend_from_slice(&v.to_le_bytes());
        }
        for i in [0u16, 1, 2, 0, 1, last] {
            bin.extend_from_slice(&i.to_le_bytes());
        }
        format!(
            r#"{{"asset":{{"version":"2.0"}},"scenes":[{{"nodes":[0]}}],"nodes":[{{"mesh":0}}],
        "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}},"indices":1,"material":0}}]}}],
        "accessors":[{{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3"}},
                     {{"bufferView":1,"componentType":5123,"count":6,"type":"SCALAR"}},
                     {{"bufferView":0,"byteOffset":400,"componentType":5126,"count":3,"type":"VEC3"}}],
        "bufferViews":[{{"buffer":0,"byteLength":36}},{{"buffer":0,"byteOffset":36,"byteLength":12}}],
        "materials":[{{}}],
        "buffers":[{{"byteLength":48,"uri":"data:application/octet-stream;base64,{}"}}]}}"#,
            base64::engine::general_purpose::STANDARD.encode(&bin)
        )
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = dir.path().join("nan.gltf");
    // An index past the vertices is an error naming the mesh and the index.
    std::fs::write(&p, scene(9)).unwrap_or_else(|e| panic!("{e}"));
    let e = load_err(&p).to_string();
    assert!(
        e.contains("mesh 0 primitive 0") && e.contains("vertex 9, past its 3 vertices"),
        "{e}"
    );
    // Both triangles touch the NaN vertex and are dropped: nothing left to render.
    let json = scene(2);
    std::fs::write(&p, &json).unwrap_or_else(|e| panic!("{e}"));
    let e = load_err(&p);
    assert!(matches!(e, SceneError::NoGeometry), "{e:?}");
    // An accessor outside its buffer view is a clear error.
    std::fs::write(&p, json.replace(r#""POSITION":0"#, r#""POSITION":2"#))
        .unwrap_or_else(|e| panic!("{e}"));
    let e = load_err(&p);
    assert!(e.to_string().contains("accessor"), "{e}");
}

#[test]
fn bundle_round_trip_and_strictness() {
    let path = example_scene("textured-crate.gltf");
    let bundle = SceneBundle::from_path(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bundle.main, "textured-crate.gltf");
    assert!(
        bundle.files.contains_key("crate.png"),
        "external image collected"
    );
    let bytes = bundle.to_bytes();
    assert_eq!(bundle.to_bytes(), bytes, "encoding is deterministic");
    let back = SceneBundle::from_bytes(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, bundle);
    assert_eq!(back.to_bytes(), bytes);
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        SceneBundle::from_bytes(&trailing),
        Err(SceneError::Bundle(_))
    ));
    assert!(SceneBundle::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    assert!(SceneBundle::from_bytes(b"").is_err());
    // Scene ids are the blake3 of the bundle bytes.
    let scene = Scene::from_bundle_bytes(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scene.id(), *blake3::hash(&bytes).as_bytes());
}

#[test]
fn undecodable_image_is_named() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = std::fs::read_to_string(example_scene("textured-crate.gltf"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("textured-crate.gltf"), src).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("crate.png"), b"\x89PNG garbage")
        .unwrap_or_else(|e| panic!("{e}"));
    let e = load_err(&dir.path().join("textured-crate.gltf"));
    assert!(matches!(e, SceneError::Image { .. }), "{e:?}");
    assert!(e.to_string().contains("crate.png"), "{e}");
}
