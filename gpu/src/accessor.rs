//! Bounds-checked reading of glTF accessors (our own reader, so that no hostile length,
//! offset or stride can make us panic or allocate without limit).

use gltf::json::accessor::{ComponentType, Type};
use gltf::json::validation::Checked;
use gltf::json::Root;

use crate::error::SceneError;

/// Largest element count accepted for one accessor.
const MAX_ACCESSOR_COUNT: u64 = 1 << 26;

/// The raw bytes of every buffer of the document, by buffer index.
pub(crate) type Buffers<'a> = [&'a [u8]];

/// Total number of accessor values (floats or indices) a scene may load: bounds memory
/// even when many primitives reference the same huge accessor.
pub(crate) const MAX_LOADED_VALUES: u64 = 64 * 1024 * 1024;

/// Counts down the values a scene may still load.
#[derive(Debug)]
pub(crate) struct Budget(std::cell::Cell<u64>);

impl Budget {
    pub(crate) fn new() -> Budget {
        Budget(std::cell::Cell::new(MAX_LOADED_VALUES))
    }
    fn take(&self, n: u64) -> Result<(), SceneError> {
        let left = self.0.get();
        if n > left {
            return Err(SceneError::TooLarge {
                what: "accessor values loaded",
                actual: MAX_LOADED_VALUES - left + n,
                limit: MAX_LOADED_VALUES,
            });
        }
        self.0.set(left - n);
        Ok(())
    }
}

fn bad(what: String) -> SceneError {
    SceneError::Gltf(format!("invalid accessor: {what}"))
}

struct Layout<'a> {
    data: &'a [u8],
    stride: usize,
}

/// Locates `count` elements of `elem` bytes at `offset` inside buffer view `view`.
fn view_slice<'a>(
    root: &Root,
    buffers: &Buffers<'a>,
    view: usize,
    offset: u64,
    count: u64,
    elem: usize,
) -> Result<Layout<'a>, SceneError> {
    let v = root
        .buffer_views
        .get(view)
        .ok_or_else(|| bad(format!("no buffer view {view}")))?;
    let buf: &'a [u8] = buffers
        .get(v.buffer.value())
        .copied()
        .ok_or_else(|| bad(format!("no buffer {}", v.buffer.value())))?;
    let stride = v.byte_stride.map_or(elem, |s| s.0);
    if stride < elem {
        return Err(bad(format!(
            "byte stride {stride} is smaller than the element size {elem}"
        )));
    }
    let view_start = v.byte_offset.map_or(0, |o| o.0);
    let view_end = view_start
        .checked_add(v.byte_length.0)
        .filter(|&e| e <= buf.len() as u64)
        .ok_or_else(|| bad(format!("buffer view {view} lies outside its buffer")))?;
    let start = view_start.checked_add(offset);
    let span = if count == 0 {
        Some(0)
    } else {
        (count - 1)
            .checked_mul(stride as u64)
            .and_then(|s| s.checked_add(elem as u64))
    };
    let end = start.zip(span).and_then(|(s, n)| s.checked_add(n));
    match (start, end) {
        (Some(s), Some(e)) if e <= view_end => Ok(Layout {
            data: &buf[s as usize..e as usize],
            stride,
        }),
        _ => Err(bad(format!("data lies outside buffer view {view}"))),
    }
}

fn component(data: &[u8], ty: ComponentType, normalized: bool) -> f32 {
    match ty {
        ComponentType::F32 => f32::from_le_bytes([data[0], data[1], data[2], data[3]]),
        ComponentType::U8 if normalized => f32::from(data[0]) / 255.0,
        ComponentType::U8 => f32::from(data[0]),
        ComponentType::I8 if normalized => (f32::from(data[0] as i8) / 127.0).max(-1.0),
        ComponentType::I8 => f32::from(data[0] as i8),
        ComponentType::U16 => {
            let v = f32::from(u16::from_le_bytes([data[0], data[1]]));
            if normalized {
                v / 65535.0
            } else {
                v
            }
        }
        ComponentType::I16 => {
            let v = f32::from(i16::from_le_bytes([data[0], data[1]]));
            if normalized {
                (v / 32767.0).max(-1.0)
            } else {
                v
            }
        }
        ComponentType::U32 => u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as f32,
    }
}

fn index_value(data: &[u8], ty: ComponentType) -> u64 {
    match ty {
        ComponentType::U8 | ComponentType::I8 => u64::from(data[0]),
        ComponentType::U16 | ComponentType::I16 => {
            u64::from(u16::from_le_bytes([data[0], data[1]]))
        }
        _ => u64::from(u32::from_le_bytes([data[0], data[1], data[2], data[3]])),
    }
}

/// Reads accessor `index` as f32 values (normalized integers are mapped to [0,1] or
/// [-1,1]). Returns the values flattened, `comps` per element, where `comps` is the
/// accessor's component count and must equal `want` (the caller's expectation).
pub(crate) fn read_f32(
    root: &Root,
    buffers: &Buffers<'_>,
    budget: &Budget,
    index: usize,
    want: usize,
) -> Result<Vec<f32>, SceneError> {
    let acc = root
        .accessors
        .get(index)
        .ok_or_else(|| bad(format!("no accessor {index}")))?;
    let (Checked::Valid(ct), Checked::Valid(ty)) = (&acc.component_type, &acc.type_) else {
        return Err(bad(format!("accessor {index} has an invalid type")));
    };
    let ct = ct.0;
    let comps = match ty {
        Type::Scalar => 1,
        Type::Vec2 => 2,
        Type::Vec3 => 3,
        Type::Vec4 => 4,
        _ => return Err(bad(format!("accessor {index} is a matrix"))),
    };
    if comps != want {
        return Err(bad(format!(
            "accessor {index} has {comps} components, expected {want}"
        )));
    }
    let count = acc.count.0;
    if count > MAX_ACCESSOR_COUNT {
        return Err(SceneError::TooLarge {
            what: "accessor element count",
            actual: count,
            limit: MAX_ACCESSOR_COUNT,
        });
    }
    let csize = ct.size();
    let elem = csize * comps;
    let read_elem = |bytes: &[u8], out: &mut [f32]| {
        for (c, o) in out.iter_mut().enumerate() {
            *o = component(&bytes[c * csize..], ct, acc.normalized);
        }
    };
    let layout = match acc.buffer_view {
        Some(view) => {
            let offset = acc.byte_offset.map_or(0, |o| o.0);
            Some(view_slice(
                root,
                buffers,
                view.value(),
                offset,
                count,
                elem,
            )?)
        }
        None => None,
    };
    budget.take(count * comps as u64)?;
    let mut out = vec![0.0f32; count as usize * comps];
    if let Some(l) = layout {
        for (i, o) in out.chunks_exact_mut(comps).enumerate() {
            read_elem(&l.data[i * l.stride..], o);
        }
    }
    if let Some(sparse) = &acc.sparse {
        let n = sparse.count.0;
        if n > count {
            return Err(bad(format!(
                "accessor {index} has more sparse values than elements"
            )));
        }
        let Checked::Valid(ict) = &sparse.indices.component_type else {
            return Err(bad(format!("accessor {index} has invalid sparse indices")));
        };
        let isize = ict.0.size();
        let il = view_slice(
            root,
            buffers,
            sparse.indices.buffer_view.value(),
            sparse.indices.byte_offset.0,
            n,
            isize,
        )?;
        let vl = view_slice(
            root,
            buffers,
            sparse.values.buffer_view.value(),
            sparse.values.byte_offset.0,
            n,
            elem,
        )?;
        for i in 0..n as usize {
            let target = index_value(&il.data[i * isize..], ict.0);
            if target >= count {
                return Err(bad(format!(
                    "accessor {index} has a sparse index out of range"
                )));
            }
            let t = target as usize * comps;
            read_elem(&vl.data[i * elem..], &mut out[t..t + comps]);
        }
    }
    Ok(out)
}

/// Reads an index accessor (unsigned scalar integers).
pub(crate) fn read_indices(
    root: &Root,
    buffers: &Buffers<'_>,
    budget: &Budget,
    index: usize,
) -> Result<Vec<u32>, SceneError> {
    let acc = root
        .accessors
        .get(index)
        .ok_or_else(|| bad(format!("no accessor {index}")))?;
    match (&acc.component_type, &acc.type_) {
        (Checked::Valid(ct), Checked::Valid(Type::Scalar))
            if matches!(
                ct.0,
                ComponentType::U8 | ComponentType::U16 | ComponentType::U32
            ) =>
        {
            if acc.sparse.is_some() {
                // Rare for indices; read through the generic path (exact up to 2^24).
                let v = read_f32(root, buffers, budget, index, 1)?;
                return Ok(v.into_iter().map(|f| f as u32).collect());
            }
            let count = acc.count.0;
            if count > MAX_ACCESSOR_COUNT {
                return Err(SceneError::TooLarge {
                    what: "index count",
                    actual: count,
                    limit: MAX_ACCESSOR_COUNT,
                });
            }
            let size = ct.0.size();
            let Some(view) = acc.buffer_view else {
                budget.take(count)?;
                return Ok(vec![0; count as usize]);
            };
            let offset = acc.byte_offset.map_or(0, |o| o.0);
            let l = view_slice(root, buffers, view.value(), offset, count, size)?;
            budget.take(count)?;
            Ok((0..count as usize)
                .map(|i| index_value(&l.data[i * l.stride..], ct.0) as u32)
                .collect())
        }
        _ => Err(bad(format!(
            "index accessor {index} must be unsigned integer scalars"
        ))),
    }
}
