//! Animation channels: translation, rotation and scale samplers of the glTF animations.

use crate::accessor::{read_f32, Budget, Buffers};
use crate::animation::{Channel, Interpolation, Property};
use crate::error::SceneError;

pub(super) fn load_channels(
    name: &str,
    doc: &gltf::Document,
    buffers: &Buffers<'_>,
    budget: &Budget,
) -> Result<Vec<Channel>, SceneError> {
    use gltf::animation::{Interpolation as I, Property as P};
    let root = doc.as_json();
    let mut out = Vec::new();
    for anim in doc.animations() {
        for ch in anim.channels() {
            let property = match ch.target().property() {
                P::Translation => Property::Translation,
                P::Rotation => Property::Rotation,
                P::Scale => Property::Scale,
                P::MorphTargetWeights => continue,
            };
            let s = ch.sampler();
            let interpolation = match s.interpolation() {
                I::Linear => Interpolation::Linear,
                I::Step => Interpolation::Step,
                I::CubicSpline => Interpolation::CubicSpline,
            };
            let comps = if property == Property::Rotation { 4 } else { 3 };
            let channel = Channel {
                node: ch.target().node().index(),
                property,
                interpolation,
                times: read_f32(root, buffers, budget, s.input().index(), 1)?,
                values: read_f32(root, buffers, budget, s.output().index(), comps)?,
            };
            if channel.is_consistent() {
                out.push(channel);
            } else {
                tracing::warn!(
                    "{name}: animation {} has an inconsistent channel; ignoring it",
                    anim.index()
                );
            }
        }
    }
    Ok(out)
}
