//! Hostile glTF files: indices the `gltf` crate reads without checking, and node graphs
//! that are not a forest or are absurdly deep. Each is a one-line error naming the place,
//! never a panic; a scene near the limits still loads.

mod common;

use common::*;
use pictor_gpu::{Scene, SceneError};
use serde_json::{json, Value};

/// The Cornell box as JSON (its buffers embedded), changed by `change`, loaded.
fn load_changed(change: impl FnOnce(&mut Value)) -> Result<Scene, SceneError> {
    let text = std::fs::read_to_string(example_scene("cornell-box.gltf"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    change(&mut doc);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("hostile.gltf");
    std::fs::write(&path, doc.to_string()).unwrap_or_else(|e| panic!("{e}"));
    Scene::load(&path)
}

/// The one-line message of a scene that must not load.
fn refused(change: impl FnOnce(&mut Value)) -> String {
    match load_changed(change) {
        Ok(_) => panic!("the hostile scene loaded"),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            assert!(msg.contains("hostile.gltf"), "{msg}");
            msg
        }
    }
}

/// Appends a chain of `len` nodes under the scene's first root.
fn chain(doc: &mut Value, len: usize) {
    let nodes = doc["nodes"].as_array_mut().expect("nodes");
    let first = nodes.len();
    for i in 0..len {
        nodes.push(if i + 1 < len {
            json!({ "children": [first + i + 1] })
        } else {
            json!({})
        });
    }
    doc["scenes"][0]["nodes"]
        .as_array_mut()
        .expect("scene nodes")
        .push(json!(first));
}

#[test]
fn an_attribute_accessor_out_of_bounds_is_named() {
    let msg = refused(|d| d["meshes"][0]["primitives"][0]["attributes"]["POSITION"] = json!(999));
    assert!(
        msg.contains("meshes[0].primitives[0].attributes") && msg.contains("accessor 999"),
        "{msg}"
    );
    let msg = refused(|d| {
        d["meshes"][0]["primitives"][0]["targets"] = json!([{ "POSITION": 999 }]);
    });
    assert!(msg.contains("targets[0]") && msg.contains("999"), "{msg}");
}

#[test]
fn an_animation_or_skin_naming_a_missing_node_is_named() {
    let msg = refused(|d| d["animations"][0]["channels"][0]["target"]["node"] = json!(77));
    assert!(
        msg.contains("animations[0].channels[0].target.node") && msg.contains("node 77"),
        "{msg}"
    );
    let msg = refused(|d| d["skins"] = json!([{ "joints": [0, 55] }]));
    assert!(
        msg.contains("skins[0].joints") && msg.contains("node 55"),
        "{msg}"
    );
}

#[test]
fn node_graphs_that_are_not_a_forest_are_refused() {
    let msg = refused(|d| d["nodes"][1]["children"] = json!([1]));
    assert!(msg.contains("node 1 is its own ancestor"), "{msg}");
    let msg = refused(|d| {
        d["nodes"][1]["children"] = json!([2]);
        d["nodes"][2]["children"] = json!([1]);
    });
    assert!(msg.contains("cycle"), "{msg}");
    let msg = refused(|d| {
        d["nodes"][1]["children"] = json!([3]);
        d["nodes"][2]["children"] = json!([3]);
    });
    assert!(msg.contains("node 3 has two parents"), "{msg}");
    let msg = refused(|d| d["nodes"][1]["children"] = json!([4000]));
    assert!(
        msg.contains("nodes[1].children") && msg.contains("4000"),
        "{msg}"
    );
}

#[test]
fn an_absurdly_deep_node_graph_is_refused_and_a_deep_one_loads() {
    let msg = refused(|d| chain(d, 100_000));
    assert!(msg.contains("levels deep") && msg.contains("1024"), "{msg}");
    // 1 000 levels under the root: within the limit.
    assert!(load_changed(|d| chain(d, 1_000)).is_ok());
}

#[test]
fn a_triangle_index_past_the_vertices_is_named() {
    let msg = refused(|d| {
        let position = d["meshes"][0]["primitives"][0]["attributes"]["POSITION"].clone();
        let accessor = position.as_u64().expect("a POSITION accessor") as usize;
        d["accessors"][accessor]["count"] = json!(2);
        for key in ["NORMAL", "TEXCOORD_0"] {
            if let Some(a) = d["meshes"][0]["primitives"][0]["attributes"][key].as_u64() {
                d["accessors"][a as usize]["count"] = json!(2);
            }
        }
    });
    assert!(
        msg.contains("mesh 0 primitive 0") && msg.contains("past its 2 vertices"),
        "{msg}"
    );
}

#[test]
fn an_animation_channel_with_an_unknown_path_is_named() {
    // A regression of the fuzzer's (fuzz/regressions/scene_gltf): gltf unwrapped the path.
    let msg = refused(|d| {
        d["animations"] = json!([{
            "samplers": [{ "input": 0, "output": 0 }],
            "channels": [{ "sampler": 0, "target": { "node": 0, "path": "rotatio" } }]
        }]);
    });
    assert!(
        msg.contains("animations[0].channels[0].target.path"),
        "{msg}"
    );
}
