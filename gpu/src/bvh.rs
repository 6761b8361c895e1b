//! A bounding volume hierarchy over triangles: binned SAH build, deterministic (no
//! dependence on thread scheduling or hash order), and closest-hit / any-hit traversal.

use crate::math::Vec3;

/// A triangle in the form the intersection test wants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Triangle {
    pub(crate) v0: Vec3,
    pub(crate) e1: Vec3,
    pub(crate) e2: Vec3,
}

impl Triangle {
    pub(crate) fn new(a: Vec3, b: Vec3, c: Vec3) -> Triangle {
        Triangle {
            v0: a,
            e1: b - a,
            e2: c - a,
        }
    }
    fn bounds(&self) -> (Vec3, Vec3) {
        let (a, b, c) = (self.v0, self.v0 + self.e1, self.v0 + self.e2);
        (a.min(b).min(c), a.max(b).max(c))
    }
    /// Möller–Trumbore; returns (t, u, v) for a hit in (0, t_max).
    fn intersect(&self, ray: &Ray, t_max: f32) -> Option<(f32, f32, f32)> {
        let p = ray.d.cross(self.e2);
        let det = self.e1.dot(p);
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let inv = 1.0 / det;
        let s = ray.o - self.v0;
        let u = s.dot(p) * inv;
        if !(0.0..=1.0).contains(&u) {
            return None;
        }
        let q = s.cross(self.e1);
        let v = ray.d.dot(q) * inv;
        if v < 0.0 || u + v > 1.0 {
            return None;
        }
        let t = self.e2.dot(q) * inv;
        (t > 0.0 && t < t_max).then_some((t, u, v))
    }
}

/// A ray with its precomputed reciprocal direction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ray {
    pub(crate) o: Vec3,
    pub(crate) d: Vec3,
    inv_d: Vec3,
}

impl Ray {
    pub(crate) fn new(o: Vec3, d: Vec3) -> Ray {
        Ray {
            o,
            d,
            inv_d: Vec3::new(1.0 / d.x, 1.0 / d.y, 1.0 / d.z),
        }
    }
}

/// The closest hit along a ray.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub(crate) t: f32,
    pub(crate) u: f32,
    pub(crate) v: f32,
    pub(crate) tri: u32,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    min: Vec3,
    max: Vec3,
    /// Leaf: first triangle. Interior: index of the left child (the right one follows it).
    first: u32,
    /// Number of triangles; 0 for an interior node.
    count: u32,
}

/// The hierarchy; triangle indices refer to the reordered triangle list from [`Bvh::build`].
#[derive(Debug, Default)]
pub(crate) struct Bvh {
    nodes: Vec<Node>,
}

const BINS: usize = 16;
const MAX_LEAF: usize = 4;
const MAX_DEPTH: usize = 64;
const STACK: usize = 128;

fn half_area(min: Vec3, max: Vec3) -> f32 {
    let e = max - min;
    e.x * e.y + e.y * e.z + e.z * e.x
}

impl Bvh {
    /// Builds the hierarchy; returns it and the triangle order it expects (the caller
    /// reorders its triangle arrays by it). Triangles must have finite coordinates.
    pub(crate) fn build(tris: &[Triangle]) -> (Bvh, Vec<u32>) {
        let bounds: Vec<(Vec3, Vec3)> = tris.iter().map(Triangle::bounds).collect();
        let centroids: Vec<Vec3> = bounds.iter().map(|(a, b)| (*a + *b) * 0.5).collect();
        let mut order: Vec<u32> = (0..tris.len() as u32).collect();
        let mut nodes = vec![Node {
            min: Vec3::ZERO,
            max: Vec3::ZERO,
            first: 0,
            count: 0,
        }];
        // (node index, start, end, depth)
        let mut work = vec![(0usize, 0usize, tris.len(), 0usize)];
        while let Some((ni, start, end, depth)) = work.pop() {
            let idx = &mut order[start..end];
            let (mut min, mut max) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
            let (mut cmin, mut cmax) = (min, max);
            for &i in idx.iter() {
                let (a, b) = bounds[i as usize];
                min = min.min(a);
                max = max.max(b);
                cmin = cmin.min(centroids[i as usize]);
                cmax = cmax.max(centroids[i as usize]);
            }
            nodes[ni].min = min;
            nodes[ni].max = max;
            let n = idx.len();
            let leaf = |nodes: &mut Vec<Node>| {
                nodes[ni].first = start as u32;
                nodes[ni].count = n as u32;
            };
            if n <= MAX_LEAF.min(2) {
                leaf(&mut nodes);
                continue;
            }
            let ext = cmax - cmin;
            let axis = if ext.x >= ext.y && ext.x >= ext.z {
                0
            } else if ext.y >= ext.z {
                1
            } else {
                2
            };
            let mid = if depth < MAX_DEPTH {
                sah_split(
                    idx,
                    &bounds,
                    &centroids,
                    axis,
                    cmin[axis],
                    ext[axis],
                    half_area(min, max),
                )
            } else {
                None
            };
            let mid = match mid {
                Some(SahResult::Leaf) if n <= MAX_LEAF => {
                    leaf(&mut nodes);
                    continue;
                }
                Some(SahResult::Split(m)) => m,
                _ => {
                    // Median split on (centroid, index): a total order, so the result is
                    // unique whatever the selection algorithm.
                    let key = |i: u32| (centroids[i as usize][axis], i);
                    idx.select_nth_unstable_by(n / 2, |&a, &b| {
                        let (ka, kb) = (key(a), key(b));
                        ka.0.total_cmp(&kb.0).then(ka.1.cmp(&kb.1))
                    });
                    n / 2
                }
            };
            let left = nodes.len();
            nodes.push(Node {
                min,
                max,
                first: 0,
                count: 0,
            });
            nodes.push(Node {
                min,
                max,
                first: 0,
                count: 0,
            });
            nodes[ni].first = left as u32;
            work.push((left + 1, start + mid, end, depth + 1));
            work.push((left, start, start + mid, depth + 1));
        }
        (Bvh { nodes }, order)
    }

    /// Closest hit in (0, t_max).
    pub(crate) fn intersect(&self, tris: &[Triangle], ray: &Ray, t_max: f32) -> Option<Hit> {
        let mut best: Option<Hit> = None;
        let mut t_best = t_max;
        self.traverse(
            ray,
            |first, count, t_limit| {
                for i in first..first + count {
                    if let Some(tri) = tris.get(i) {
                        if let Some((t, u, v)) = tri.intersect(ray, t_best) {
                            t_best = t;
                            best = Some(Hit {
                                t,
                                u,
                                v,
                                tri: i as u32,
                            });
                        }
                    }
                }
                *t_limit = t_best;
                false
            },
            t_max,
        );
        best
    }

    /// Whether anything lies in (0, t_max) along the ray.
    pub(crate) fn occluded(&self, tris: &[Triangle], ray: &Ray, t_max: f32) -> bool {
        let mut hit = false;
        self.traverse(
            ray,
            |first, count, _| {
                hit = tris[first.min(tris.len())..(first + count).min(tris.len())]
                    .iter()
                    .any(|t| t.intersect(ray, t_max).is_some());
                hit
            },
            t_max,
        );
        hit
    }

    /// Visits leaves front to back; `leaf` may lower the search distance and returns
    /// `true` to stop.
    fn traverse(
        &self,
        ray: &Ray,
        mut leaf: impl FnMut(usize, usize, &mut f32) -> bool,
        t_max: f32,
    ) {
        let mut t_limit = t_max;
        let Some(root) = self.nodes.first() else {
            return;
        };
        let Some(t_root) = slab(root, ray, t_limit) else {
            return;
        };
        // (node, entry distance): a node is skipped if a closer hit was found since it
        // was pushed, without testing its box again.
        let mut stack = [(0u32, 0.0f32); STACK];
        stack[0] = (0, t_root);
        let mut sp = 1usize;
        while sp > 0 {
            sp -= 1;
            let (index, t_near) = stack[sp];
            if t_near >= t_limit {
                continue;
            }
            let Some(node) = self.nodes.get(index as usize) else {
                continue;
            };
            if node.count > 0 {
                if leaf(node.first as usize, node.count as usize, &mut t_limit) {
                    return;
                }
                continue;
            }
            let (l, r) = (node.first as usize, node.first as usize + 1);
            let (Some(ln), Some(rn)) = (self.nodes.get(l), self.nodes.get(r)) else {
                continue;
            };
            let (tl, tr) = (slab(ln, ray, t_limit), slab(rn, ray, t_limit));
            // Push the far child first so the near one is visited first.
            let order = match (tl, tr) {
                (Some(a), Some(b)) if b < a => [Some((l, a)), Some((r, b))],
                (Some(a), Some(b)) => [Some((r, b)), Some((l, a))],
                (Some(a), None) => [None, Some((l, a))],
                (None, Some(b)) => [None, Some((r, b))],
                (None, None) => [None, None],
            };
            for (c, t) in order.into_iter().flatten() {
                if sp < STACK {
                    stack[sp] = (c as u32, t);
                    sp += 1;
                }
            }
        }
    }
}

/// Entry distance of the ray into the node's box, if it enters before `t_max`.
fn slab(node: &Node, ray: &Ray, t_max: f32) -> Option<f32> {
    let t1 = (node.min - ray.o).mul_elem(ray.inv_d);
    let t2 = (node.max - ray.o).mul_elem(ray.inv_d);
    let near = t1.min(t2).max_component();
    let far = t1.max(t2);
    let far = far.x.min(far.y).min(far.z);
    (near <= far && far > 0.0 && near < t_max).then_some(near)
}

enum SahResult {
    Leaf,
    Split(usize),
}

/// Binned SAH; partitions `idx` in place and returns the split point, `Leaf` when no split
/// beats a leaf, or `None` when binning cannot separate the triangles.
fn sah_split(
    idx: &mut [u32],
    bounds: &[(Vec3, Vec3)],
    centroids: &[Vec3],
    axis: usize,
    cmin: f32,
    extent: f32,
    parent_area: f32,
) -> Option<SahResult> {
    if !crate::math::positive_finite(extent) {
        return None;
    }
    let scale = BINS as f32 / extent;
    let bin_of = |i: u32| (((centroids[i as usize][axis] - cmin) * scale) as usize).min(BINS - 1);
    let empty = (
        Vec3::splat(f32::INFINITY),
        Vec3::splat(f32::NEG_INFINITY),
        0usize,
    );
    let mut bins = [empty; BINS];
    for &i in idx.iter() {
        let b = &mut bins[bin_of(i)];
        let (lo, hi) = bounds[i as usize];
        b.0 = b.0.min(lo);
        b.1 = b.1.max(hi);
        b.2 += 1;
    }
    // Sweep from the right to get the right-hand costs, then from the left.
    let mut right_cost = [0.0f32; BINS];
    let mut acc = empty;
    for k in (1..BINS).rev() {
        acc = (
            acc.0.min(bins[k].0),
            acc.1.max(bins[k].1),
            acc.2 + bins[k].2,
        );
        right_cost[k] = if acc.2 == 0 {
            0.0
        } else {
            half_area(acc.0, acc.1) * acc.2 as f32
        };
    }
    let mut best: Option<(f32, usize)> = None;
    let mut acc = empty;
    for k in 0..BINS - 1 {
        acc = (
            acc.0.min(bins[k].0),
            acc.1.max(bins[k].1),
            acc.2 + bins[k].2,
        );
        if acc.2 == 0 || acc.2 == idx.len() {
            continue;
        }
        let cost = half_area(acc.0, acc.1) * acc.2 as f32 + right_cost[k + 1];
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, k));
        }
    }
    let (cost, k) = best?;
    if cost.partial_cmp(&(parent_area * idx.len() as f32)) != Some(std::cmp::Ordering::Less) {
        return Some(SahResult::Leaf);
    }
    // Deterministic in-place partition.
    let (mut i, mut j) = (0usize, idx.len());
    while i < j {
        if bin_of(idx[i]) <= k {
            i += 1;
        } else {
            j -= 1;
            idx.swap(i, j);
        }
    }
    (i > 0 && i < idx.len()).then_some(SahResult::Split(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize) -> Vec<Triangle> {
        let mut t = Vec::new();
        for i in 0..n {
            for j in 0..n {
                let o = Vec3::new(i as f32, j as f32, (i * 7 % 5) as f32);
                t.push(Triangle::new(
                    o,
                    o + Vec3::new(1.0, 0.0, 0.0),
                    o + Vec3::new(0.0, 1.0, 0.0),
                ));
            }
        }
        t
    }

    #[test]
    fn bvh_matches_brute_force() {
        let tris = grid(20);
        let (bvh, order) = Bvh::build(&tris);
        let sorted: Vec<Triangle> = order.iter().map(|&i| tris[i as usize]).collect();
        for k in 0..200 {
            let o = Vec3::new((k % 20) as f32 + 0.3, (k / 10) as f32 * 0.9 + 0.2, 10.0);
            let ray = Ray::new(o, Vec3::new(0.01 * (k % 3) as f32, 0.02, -1.0).normalize());
            let brute = sorted
                .iter()
                .filter_map(|t| t.intersect(&ray, f32::INFINITY))
                .map(|h| h.0)
                .fold(f32::INFINITY, f32::min);
            let fast = bvh
                .intersect(&sorted, &ray, f32::INFINITY)
                .map_or(f32::INFINITY, |h| h.t);
            assert_eq!(brute, fast);
            assert_eq!(
                bvh.occluded(&sorted, &ray, f32::INFINITY),
                brute.is_finite()
            );
        }
    }
}
