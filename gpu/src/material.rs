//! PBR metallic-roughness materials, as glTF defines them (opaque; alpha is ignored).

use crate::math::Vec3;
use crate::texture::{Image, TexelTables, Texture};

/// A material after loading: factors plus optional texture indices.
#[derive(Debug, Clone)]
pub(crate) struct Material {
    pub(crate) base_color: Vec3,
    pub(crate) base_texture: Option<usize>,
    pub(crate) metallic: f32,
    pub(crate) roughness: f32,
    /// glTF packs roughness in G and metalness in B.
    pub(crate) metallic_roughness_texture: Option<usize>,
    /// `emissiveFactor × emissive_strength`.
    pub(crate) emissive: Vec3,
    pub(crate) emissive_texture: Option<usize>,
    pub(crate) double_sided: bool,
}

impl Default for Material {
    /// The glTF default material: white, fully metallic, fully rough, not emissive.
    fn default() -> Material {
        DEFAULT.clone()
    }
}

/// A material evaluated at one surface point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SurfacePoint {
    pub(crate) base_color: Vec3,
    pub(crate) metallic: f32,
    pub(crate) roughness: f32,
    pub(crate) emission: Vec3,
}

/// Everything needed to evaluate materials.
#[derive(Debug)]
pub(crate) struct Materials {
    pub(crate) materials: Vec<Material>,
    pub(crate) textures: Vec<Texture>,
    pub(crate) images: Vec<Image>,
    pub(crate) tables: TexelTables,
}

impl Materials {
    fn get(&self, index: u32) -> &Material {
        // The loader always appends the default material, so this never falls through
        // in practice; the fallback keeps a bad index harmless.
        self.materials
            .get(index as usize)
            .or(self.materials.last())
            .unwrap_or(&DEFAULT)
    }

    fn texture(&self, t: Option<usize>, uv: [f32; 2], srgb: bool) -> Vec3 {
        match t.and_then(|i| self.textures.get(i)) {
            Some(tex) => tex.sample(&self.images, &self.tables, uv, srgb),
            None => Vec3::ONE,
        }
    }

    pub(crate) fn is_emissive(&self, index: u32) -> bool {
        self.get(index).emissive.max_component() > 0.0
    }

    pub(crate) fn double_sided(&self, index: u32) -> bool {
        self.get(index).double_sided
    }

    /// Emitted radiance only (used for light sampling).
    pub(crate) fn emission(&self, index: u32, uv: [f32; 2]) -> Vec3 {
        let m = self.get(index);
        if m.emissive.max_component() <= 0.0 {
            return Vec3::ZERO;
        }
        m.emissive
            .mul_elem(self.texture(m.emissive_texture, uv, true))
    }

    pub(crate) fn eval(&self, index: u32, uv: [f32; 2]) -> SurfacePoint {
        let m = self.get(index);
        let base_color = m
            .base_color
            .mul_elem(self.texture(m.base_texture, uv, true));
        let (mut metallic, mut roughness) = (m.metallic, m.roughness);
        if m.metallic_roughness_texture.is_some() {
            let t = self.texture(m.metallic_roughness_texture, uv, false);
            roughness *= t.y;
            metallic *= t.z;
        }
        SurfacePoint {
            base_color: clamp01(base_color),
            metallic: metallic.clamp(0.0, 1.0),
            roughness: roughness.clamp(0.0, 1.0),
            emission: self.emission(index, uv),
        }
    }
}

static DEFAULT: Material = Material {
    base_color: Vec3::ONE,
    base_texture: None,
    metallic: 1.0,
    roughness: 1.0,
    metallic_roughness_texture: None,
    emissive: Vec3::ZERO,
    emissive_texture: None,
    double_sided: false,
};

fn clamp01(v: Vec3) -> Vec3 {
    let c = |x: f32| {
        if x.is_finite() {
            x.clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    Vec3::new(c(v.x), c(v.y), c(v.z))
}
