//! Checks of a glTF document made before the `gltf` crate reads it.
//!
//! gltf 1.4 reads some indices without checking them first: its own validation indexes a
//! primitive's `POSITION` accessor (gltf-json `mesh.rs`), and an animation channel's
//! target node and path are unwrapped (`animation/mod.rs`; gltf-json does not validate
//! channels). A scene naming one out of bounds, or a path that is not one of the four,
//! made it panic; here it is a one-line error naming the place. The node graph is checked too:
//! every node has at most one parent, no node is its own ancestor, and no chain of nodes
//! is deeper than [`MAX_NODE_DEPTH`].

use gltf::json::{validation::Checked, Root};

use super::invalid;
use crate::error::SceneError;

/// Most levels of nodes from a root to a leaf.
pub(crate) const MAX_NODE_DEPTH: usize = 1024;

/// Indices the `gltf` crate reads unchecked, each within its array.
pub(crate) fn unguarded_indices(name: &str, root: &Root) -> Result<(), SceneError> {
    let accessors = root.accessors.len();
    let within = |place: String, index: usize, len: usize, what: &str| {
        if index < len {
            Ok(())
        } else {
            Err(invalid(
                name,
                format!("{place}: {what} {index} is out of bounds (the scene has {len})"),
            ))
        }
    };
    for (m, mesh) in root.meshes.iter().enumerate() {
        for (p, primitive) in mesh.primitives.iter().enumerate() {
            for index in primitive.attributes.values() {
                within(
                    format!("meshes[{m}].primitives[{p}].attributes"),
                    index.value(),
                    accessors,
                    "accessor",
                )?;
            }
            for (t, target) in primitive.targets.iter().flatten().enumerate() {
                for index in [&target.positions, &target.normals, &target.tangents]
                    .into_iter()
                    .flatten()
                {
                    within(
                        format!("meshes[{m}].primitives[{p}].targets[{t}]"),
                        index.value(),
                        accessors,
                        "accessor",
                    )?;
                }
            }
        }
    }
    for (a, animation) in root.animations.iter().enumerate() {
        for (c, channel) in animation.channels.iter().enumerate() {
            within(
                format!("animations[{a}].channels[{c}].target.node"),
                channel.target.node.value(),
                root.nodes.len(),
                "node",
            )?;
            // gltf-json's validation of an animation skips its channels, and gltf unwraps
            // the path when the channel is read.
            if matches!(channel.target.path, Checked::Invalid) {
                return Err(invalid(
                    name,
                    format!(
                        "animations[{a}].channels[{c}].target.path: not one of translation, rotation, scale, weights"
                    ),
                ));
            }
        }
    }
    for (s, skin) in root.skins.iter().enumerate() {
        for index in &skin.joints {
            within(
                format!("skins[{s}].joints"),
                index.value(),
                root.nodes.len(),
                "node",
            )?;
        }
    }
    Ok(())
}

/// The node graph is a forest of at most [`MAX_NODE_DEPTH`] levels: each child index
/// within bounds, no node with two parents, none its own ancestor.
pub(crate) fn node_forest(name: &str, root: &Root) -> Result<(), SceneError> {
    let n = root.nodes.len();
    let mut parent: Vec<Option<usize>> = vec![None; n];
    for (p, node) in root.nodes.iter().enumerate() {
        for child in node.children.iter().flatten() {
            let c = child.value();
            if c >= n {
                return Err(invalid(
                    name,
                    format!("nodes[{p}].children: node {c} is out of bounds (the scene has {n})"),
                ));
            }
            if let Some(first) = parent[c] {
                return Err(invalid(
                    name,
                    format!(
                        "node {c} has two parents (nodes {first} and {p}); a node may have one"
                    ),
                ));
            }
            parent[c] = Some(p);
        }
    }
    // Depth of each node (1 for a root), each computed once.
    let mut depth = vec![0usize; n];
    let mut on_path = vec![false; n];
    for start in 0..n {
        let mut path = Vec::new();
        let mut j = start;
        let base = loop {
            if depth[j] != 0 {
                break depth[j];
            }
            if on_path[j] {
                return Err(invalid(
                    name,
                    format!("node {j} is its own ancestor (the node graph has a cycle)"),
                ));
            }
            on_path[j] = true;
            path.push(j);
            match parent[j] {
                Some(p) => j = p,
                None => break 0,
            }
        };
        for (k, &node) in path.iter().rev().enumerate() {
            on_path[node] = false;
            depth[node] = base + k + 1;
        }
        if base + path.len() > MAX_NODE_DEPTH {
            return Err(invalid(
                name,
                format!(
                    "node {start} is {} levels deep; the limit is {MAX_NODE_DEPTH}",
                    base + path.len()
                ),
            ));
        }
    }
    Ok(())
}
