//! glTF document → [`SceneData`]: meshes in object space, materials, textures, the node
//! hierarchy, cameras, lights and animation channels. Reads only from the bundle.

use gltf::json::validation::Checked;
use gltf::json::Root;
use rayon::prelude::*;

mod channels;
mod checks;

use channels::load_channels;

use crate::accessor::{read_f32, read_indices, Budget, Buffers};
use crate::animation::Channel;
use crate::bundle::SceneBundle;
use crate::camera::Projection;
use crate::container::{is_glb, resolve_uri, split_glb, truncate, UriTarget};
use crate::error::SceneError;
use crate::light::{LightDef, LightKind};
use crate::material::{Material, Materials};
use crate::math::{Mat4, Quat, Vec3};
use crate::texture::{Image, TexelTables, Texture, MAX_TEXTURES, MAX_TOTAL_TEXELS};

/// Extensions a scene may require; any other required extension is refused.
const SUPPORTED_EXTENSIONS: &[&str] = &[
    "KHR_lights_punctual",
    "KHR_materials_emissive_strength",
    "KHR_mesh_quantization",
];

/// One triangle-list primitive in object space.
#[derive(Debug)]
pub(crate) struct Primitive {
    pub(crate) positions: Vec<Vec3>,
    pub(crate) normals: Option<Vec<Vec3>>,
    pub(crate) uvs: Option<Vec<[f32; 2]>>,
    /// Triangles, every index already checked against the vertex count.
    pub(crate) triangles: Vec<[u32; 3]>,
    pub(crate) material: u32,
}

/// A node's local transform.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LocalTransform {
    Matrix(Mat4),
    Trs(crate::animation::Trs),
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) local: LocalTransform,
    pub(crate) children: Vec<usize>,
    pub(crate) mesh: Option<usize>,
    pub(crate) camera: Option<usize>,
    pub(crate) light: Option<usize>,
}

/// Everything of a scene that does not change over time, plus its animation.
#[derive(Debug)]
pub(crate) struct SceneData {
    pub(crate) materials: Materials,
    /// Meshes: the primitives of each glTF mesh.
    pub(crate) meshes: Vec<Vec<Primitive>>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) roots: Vec<usize>,
    pub(crate) cameras: Vec<Option<Projection>>,
    pub(crate) lights: Vec<Option<LightDef>>,
    pub(crate) channels: Vec<Channel>,
}

fn invalid(name: &str, what: impl std::fmt::Display) -> SceneError {
    let what = what.to_string();
    let what = what.strip_prefix("invalid glTF: ").unwrap_or(&what);
    SceneError::Gltf(format!(
        "{name}: invalid glTF: {}",
        truncate(what.trim_end_matches(';'))
    ))
}

/// glTF requires `min`/`max` on POSITION accessors, and the validator enforces it; many
/// hand-written files omit them. The engine never reads them, so placeholders are filled
/// in rather than refusing the scene.
fn fill_position_bounds(root: &mut Root) {
    let mut positions = Vec::new();
    for mesh in &root.meshes {
        for p in &mesh.primitives {
            if let Some(i) = p.attributes.get(&Checked::Valid(gltf::Semantic::Positions)) {
                positions.push(i.value());
            }
        }
    }
    for i in positions {
        if let Some(a) = root.accessors.get_mut(i) {
            let zero = || Some(gltf::json::Value::from(vec![0.0f32; 3]));
            if a.min.is_none() || a.max.is_none() {
                a.min = zero();
                a.max = zero();
            }
        }
    }
}

/// Parses and validates the main file of the bundle and converts it.
pub(crate) fn load(bundle: &SceneBundle) -> Result<SceneData, SceneError> {
    let name = bundle.main.as_str();
    let main = bundle
        .files
        .get(name)
        .ok_or_else(|| SceneError::MissingFile {
            path: name.to_owned(),
        })?;
    let (json, bin) = if is_glb(main) {
        let glb = split_glb(name, main)?;
        (glb.json, glb.bin)
    } else {
        (main.as_slice(), None)
    };
    let mut root = Root::from_slice(json).map_err(|e| invalid(name, e))?;
    checks::unguarded_indices(name, &root)?;
    checks::node_forest(name, &root)?;
    fill_position_bounds(&mut root);
    let doc = gltf::Document::from_json(root).map_err(|e| invalid(name, e))?;
    for ext in &doc.as_json().extensions_required {
        if !SUPPORTED_EXTENSIONS.contains(&ext.as_str()) {
            return Err(SceneError::Gltf(format!(
                "{name}: requires the glTF extension {ext}, which this engine does not support"
            )));
        }
    }
    // Inline data: URIs are decoded once and kept here; buffers borrow from it.
    let root = doc.as_json();
    let mut owned: Vec<Option<Vec<u8>>> = Vec::with_capacity(root.buffers.len());
    for (i, b) in root.buffers.iter().enumerate() {
        owned.push(match b.uri.as_deref().map(resolve_uri).transpose()? {
            Some(UriTarget::Data(d)) => Some(d),
            _ => None,
        });
        if b.uri.is_none() && (i != 0 || bin.is_none()) {
            return Err(invalid(
                name,
                format!("buffer {i} has no uri and no GLB binary chunk"),
            ));
        }
    }
    let mut buffers: Vec<&[u8]> = Vec::with_capacity(root.buffers.len());
    for (b, data) in root.buffers.iter().zip(&owned) {
        buffers.push(match (data, b.uri.as_deref()) {
            (Some(d), _) => d.as_slice(),
            (None, Some(uri)) => file_bytes(bundle, uri)?,
            (None, None) => bin.unwrap_or(&[]),
        });
    }
    let materials = load_materials(bundle, &doc, &buffers)?;
    let default_material = (materials.materials.len() - 1) as u32;
    let budget = Budget::new();
    let meshes = load_meshes(name, &doc, &buffers, &budget, default_material)?;
    Ok(SceneData {
        materials,
        meshes,
        nodes: load_nodes(&doc),
        roots: scene_roots(&doc),
        cameras: root.cameras.iter().map(camera_projection).collect(),
        lights: load_lights(root),
        channels: load_channels(name, &doc, &buffers, &budget)?,
    })
}

fn file_bytes<'a>(bundle: &'a SceneBundle, uri: &str) -> Result<&'a [u8], SceneError> {
    match resolve_uri(uri)? {
        UriTarget::File(key) => bundle
            .files
            .get(&key)
            .map(Vec::as_slice)
            .ok_or(SceneError::MissingFile { path: key }),
        UriTarget::Data(_) => Err(SceneError::UnsafeUri {
            uri: truncate(uri),
            reason: "unexpected data uri",
        }),
    }
}

fn load_materials(
    bundle: &SceneBundle,
    doc: &gltf::Document,
    buffers: &Buffers<'_>,
) -> Result<Materials, SceneError> {
    let root = doc.as_json();
    if root.images.len() > MAX_TEXTURES {
        return Err(SceneError::TooLarge {
            what: "number of images",
            actual: root.images.len() as u64,
            limit: MAX_TEXTURES as u64,
        });
    }
    // Encoded bytes of each image, then decode them in parallel (order is preserved).
    let mut encoded: Vec<(String, Vec<u8>)> = Vec::with_capacity(root.images.len());
    for (i, img) in root.images.iter().enumerate() {
        let label = img
            .uri
            .as_deref()
            .filter(|u| !u.starts_with("data:"))
            .map_or(format!("image {i}"), truncate);
        let bytes = match (&img.uri, img.buffer_view) {
            (Some(uri), _) => match resolve_uri(uri)? {
                UriTarget::Data(d) => d,
                UriTarget::File(_) => file_bytes(bundle, uri)?.to_vec(),
            },
            (None, Some(view)) => {
                let v = root.buffer_views.get(view.value());
                let slice = v.and_then(|v| {
                    let start = v.byte_offset.map_or(0, |o| o.0) as usize;
                    let end = start.checked_add(v.byte_length.0 as usize)?;
                    buffers.get(v.buffer.value())?.get(start..end)
                });
                slice
                    .ok_or_else(|| SceneError::Image {
                        name: label.clone(),
                        reason: "buffer view out of range".into(),
                    })?
                    .to_vec()
            }
            (None, None) => Vec::new(),
        };
        encoded.push((label, bytes));
    }
    let mut texels = 0u64;
    for (label, bytes) in &encoded {
        let (w, h) = Image::dimensions(label, bytes)?;
        texels += u64::from(w) * u64::from(h);
    }
    if texels > MAX_TOTAL_TEXELS {
        return Err(SceneError::TooLarge {
            what: "total texture pixels",
            actual: texels,
            limit: MAX_TOTAL_TEXELS,
        });
    }
    let images: Vec<Image> = encoded
        .par_iter()
        .map(|(label, bytes)| Image::decode(label, bytes))
        .collect::<Result<_, _>>()?;
    let textures = doc
        .textures()
        .map(|t| {
            let s = t.sampler();
            Texture {
                image: t.source().index(),
                wrap_s: s.wrap_s().into(),
                wrap_t: s.wrap_t().into(),
                nearest: s.mag_filter() == Some(gltf::texture::MagFilter::Nearest),
            }
        })
        .collect();
    let tex = |info: Option<gltf::texture::Info<'_>>| {
        info.map(|i| {
            if i.tex_coord() != 0 {
                tracing::warn!(
                    "texture {} uses TEXCOORD_{}; TEXCOORD_0 is used instead",
                    i.texture().index(),
                    i.tex_coord()
                );
            }
            i.texture().index()
        })
    };
    let mut materials: Vec<Material> = doc
        .materials()
        .map(|m| {
            let pbr = m.pbr_metallic_roughness();
            let c = pbr.base_color_factor();
            let strength = m.emissive_strength().unwrap_or(1.0);
            Material {
                base_color: Vec3::new(c[0], c[1], c[2]),
                base_texture: tex(pbr.base_color_texture()),
                metallic: pbr.metallic_factor(),
                roughness: pbr.roughness_factor(),
                metallic_roughness_texture: tex(pbr.metallic_roughness_texture()),
                emissive: Vec3::from_array(m.emissive_factor()) * strength,
                emissive_texture: tex(m.emissive_texture()),
                double_sided: m.double_sided(),
            }
        })
        .collect();
    for m in &mut materials {
        if !m.emissive.is_finite() || m.emissive.min(Vec3::ZERO) != Vec3::ZERO {
            m.emissive = Vec3::ZERO;
        }
    }
    materials.push(Material::default());
    Ok(Materials {
        materials,
        textures,
        images,
        tables: TexelTables::new(),
    })
}

fn load_meshes(
    name: &str,
    doc: &gltf::Document,
    buffers: &Buffers<'_>,
    budget: &Budget,
    default_material: u32,
) -> Result<Vec<Vec<Primitive>>, SceneError> {
    let root = doc.as_json();
    let vec3s = |v: Vec<f32>| {
        v.chunks_exact(3)
            .map(|c| Vec3::new(c[0], c[1], c[2]))
            .collect::<Vec<_>>()
    };
    let mut meshes = Vec::new();
    for mesh in doc.meshes() {
        let mut prims = Vec::new();
        for (pi, p) in mesh.primitives().enumerate() {
            let mode = p.mode();
            if mode != gltf::mesh::Mode::Triangles {
                tracing::warn!("{name}: mesh {} primitive {pi} uses mode {mode:?}; only TRIANGLES is rendered, skipping it", mesh.index());
                continue;
            }
            let Some(pos) = p.get(&gltf::Semantic::Positions) else {
                tracing::warn!(
                    "{name}: mesh {} primitive {pi} has no POSITION; skipping it",
                    mesh.index()
                );
                continue;
            };
            let positions = vec3s(read_f32(root, buffers, budget, pos.index(), 3)?);
            let n = positions.len();
            let normals = match p.get(&gltf::Semantic::Normals) {
                Some(a) => Some(vec3s(read_f32(root, buffers, budget, a.index(), 3)?))
                    .filter(|v| v.len() == n),
                None => None,
            };
            let uvs = match p.get(&gltf::Semantic::TexCoords(0)) {
                Some(a) => Some(
                    read_f32(root, buffers, budget, a.index(), 2)?
                        .chunks_exact(2)
                        .map(|c| [c[0], c[1]])
                        .collect::<Vec<_>>(),
                )
                .filter(|v| v.len() == n),
                None => None,
            };
            let indices = match p.indices() {
                Some(a) => read_indices(root, buffers, budget, a.index())?,
                None => (0..n as u32).collect(),
            };
            if let Some((at, &i)) = indices.iter().enumerate().find(|(_, &i)| i as usize >= n) {
                return Err(SceneError::Gltf(format!(
                    "{name}: mesh {} primitive {pi}: index {at} names vertex {i}, past its {n} vertices",
                    mesh.index()
                )));
            }
            let triangles: Vec<[u32; 3]> = indices
                .chunks_exact(3)
                .map(|c| [c[0], c[1], c[2]])
                .collect();
            let material = p.material().index().map_or(default_material, |i| i as u32);
            prims.push(Primitive {
                positions,
                normals,
                uvs,
                triangles,
                material,
            });
        }
        meshes.push(prims);
    }
    Ok(meshes)
}

fn load_nodes(doc: &gltf::Document) -> Vec<Node> {
    let root = doc.as_json();
    doc.nodes()
        .map(|n| {
            let local = match n.transform() {
                gltf::scene::Transform::Matrix { matrix } => {
                    LocalTransform::Matrix(Mat4 { c: matrix })
                }
                gltf::scene::Transform::Decomposed {
                    translation,
                    rotation,
                    scale,
                } => LocalTransform::Trs(crate::animation::Trs {
                    t: Vec3::from_array(translation),
                    r: Quat::from_array(rotation),
                    s: Vec3::from_array(scale),
                }),
            };
            let light = root
                .nodes
                .get(n.index())
                .and_then(|j| j.extensions.as_ref())
                .and_then(|e| e.khr_lights_punctual.as_ref())
                .map(|l| l.light.value());
            Node {
                local,
                children: n.children().map(|c| c.index()).collect(),
                mesh: n.mesh().map(|m| m.index()),
                camera: n.camera().map(|c| c.index()),
                light,
            }
        })
        .collect()
}

/// Root nodes of the default scene (or the first scene, or every parentless node).
fn scene_roots(doc: &gltf::Document) -> Vec<usize> {
    if let Some(s) = doc.default_scene().or_else(|| doc.scenes().next()) {
        return s.nodes().map(|n| n.index()).collect();
    }
    let mut is_child = vec![false; doc.nodes().len()];
    for n in doc.nodes() {
        for c in n.children() {
            if let Some(f) = is_child.get_mut(c.index()) {
                *f = true;
            }
        }
    }
    (0..is_child.len()).filter(|&i| !is_child[i]).collect()
}

fn camera_projection(c: &gltf::json::Camera) -> Option<Projection> {
    match (&c.perspective, &c.orthographic) {
        (Some(p), _) => Some(Projection::Perspective { yfov: p.yfov }),
        (None, Some(o)) => Some(Projection::Orthographic { ymag: o.ymag }),
        _ => None,
    }
}

fn load_lights(root: &Root) -> Vec<Option<LightDef>> {
    use gltf::json::extensions::scene::khr_lights_punctual::Type;
    let Some(lights) = root
        .extensions
        .as_ref()
        .and_then(|e| e.khr_lights_punctual.as_ref())
    else {
        return Vec::new();
    };
    lights
        .lights
        .iter()
        .map(|l| {
            let kind = match (&l.type_, &l.spot) {
                (Checked::Valid(Type::Directional), _) => LightKind::Directional,
                (Checked::Valid(Type::Point), _) => LightKind::Point,
                (Checked::Valid(Type::Spot), spot) => {
                    let (inner, outer) = spot
                        .as_ref()
                        .map_or((0.0, core::f32::consts::FRAC_PI_4), |s| {
                            (s.inner_cone_angle, s.outer_cone_angle)
                        });
                    LightKind::Spot {
                        cos_inner: libm::cosf(inner),
                        cos_outer: libm::cosf(outer),
                    }
                }
                _ => return None,
            };
            let intensity = Vec3::from_array(l.color) * l.intensity;
            (intensity.is_finite() && intensity.min(Vec3::ZERO) == Vec3::ZERO).then_some(LightDef {
                kind,
                intensity,
                range: l.range,
            })
        })
        .collect()
}
