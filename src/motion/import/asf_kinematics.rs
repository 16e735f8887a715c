//! Forward kinematics of an ASF skeleton: the skeleton checked and compiled once, then posed
//! for each frame of AMC channel values.
//!
//! Conventions (column vectors; checked on the CMU files, see `shared/NOTES.md`):
//! - Rotations are per-axis rotations composed in the order given, the first applied first:
//!   axis order `XYZ` (or dof order `rx ry rz`) is `Rz · Ry · Rx`
//!   ([`euler_extrinsic`]). The CMU documentation writes the same product in row-vector order.
//! - A bone's local rotation is `C · M · C⁻¹` ([`conjugate`]): `C` from the bone's `axis`
//!   angles in its axis order, `M` from the frame's dof values in dof order (absent axes are
//!   zero, no dofs gives `M = I`). The root's is `C · M · C⁻¹` with `C` from the ASF root
//!   `orientation` (root `axis` order) and `M` from the RX/RY/RZ channels in `order`.
//! - A bone's global rotation `G` is its parent's `G` (the root's for top bones) times its local
//!   rotation; its end is `start + G · (direction · length)`, `start` being the parent's end or
//!   the root position. `direction` is in world axes at rest, so the rest pose has `G = I`.
//! - CMU data is Y up; lengths and root translations are in ASF units, scaled to metres by
//!   [`AsfSkeleton::metres_per_unit`].

use std::ops::Range;

use super::asf::{AsfSkeleton, DEG, invalid};
use crate::motion::error::{MotionError, Result};
use crate::motion::rotation::{IDENTITY, Mat3, conjugate, euler_extrinsic, mat_mul, mat_vec};

fn axis_index(c: u8) -> Option<usize> {
    match c.to_ascii_lowercase() {
        b'x' => Some(0),
        b'y' => Some(1),
        b'z' => Some(2),
        _ => None,
    }
}

/// A permutation of `XYZ` as axis indices.
fn parse_order(s: &str) -> Option<[usize; 3]> {
    match *s.as_bytes() {
        [a, b, c] => {
            let o = [axis_index(a)?, axis_index(b)?, axis_index(c)?];
            (o[0] != o[1] && o[1] != o[2] && o[0] != o[2]).then_some(o)
        }
        _ => None,
    }
}

/// The skeleton checked and compiled for forward kinematics.
pub(super) struct AsfKinematics {
    /// (is a rotation, axis) per root channel.
    root_channels: Vec<(bool, usize)>,
    root_position: [f64; 3],
    c_root: Mat3,
    /// Per bone: dof axes, `C`, bone vector in metres, parent.
    axes: Vec<Vec<usize>>,
    c: Vec<Mat3>,
    vectors: Vec<[f64; 3]>,
    parents: Vec<Option<usize>>,
    /// Bone indices, parents before children.
    order: Vec<usize>,
    /// Joint `j` (0 = root, `b + 1` = bone `b`) owns AMC values `offsets[j]..offsets[j + 1]`.
    offsets: Vec<usize>,
    scale: f64,
}

impl AsfKinematics {
    /// Checks and compiles `sk`. Errors (naming the ASF): a length unit that is not positive, a
    /// bad or repeated root channel or bone dof, a bad axis order, a cycle or a bad parent index.
    pub(super) fn new(sk: &AsfSkeleton) -> Result<Self> {
        let bad = |msg: String| invalid(&sk.source, msg);
        let euler = |order: &str, deg: [f64; 3], who: &str| {
            let o =
                parse_order(order).ok_or_else(|| bad(format!("{who}: axis order `{order}`")))?;
            Ok::<_, MotionError>(euler_extrinsic(o.map(|a| (a, deg[a] * DEG))))
        };
        let scale = sk.metres_per_unit();
        if !scale.is_finite() || scale <= 0.0 {
            return Err(bad(format!(
                "length unit {} is not positive",
                sk.length_unit
            )));
        }
        let mut root_channels: Vec<(bool, usize)> = Vec::new();
        for ch in &sk.root.order {
            let parsed = match *ch.to_ascii_uppercase().as_bytes() {
                [k @ (b'T' | b'R'), a] => axis_index(a).map(|a| (k == b'R', a)),
                _ => None,
            };
            match parsed {
                Some(p) if !root_channels.contains(&p) => root_channels.push(p),
                _ => return Err(bad(format!("root: bad or repeated channel `{ch}`"))),
            }
        }
        let mut offsets = vec![0, root_channels.len()];
        let (mut axes, mut c) = (Vec::new(), Vec::new());
        for bone in &sk.bones {
            let mut dof_axes: Vec<usize> = Vec::new();
            for d in &bone.dof {
                match *d.as_bytes() {
                    [b'r' | b'R', a] if axis_index(a).is_some_and(|a| !dof_axes.contains(&a)) => {
                        dof_axes.extend(axis_index(a));
                    }
                    _ => {
                        return Err(bad(format!(
                            "bone `{}`: bad or repeated dof `{d}`",
                            bone.name
                        )));
                    }
                }
            }
            offsets.push(offsets[offsets.len() - 1] + dof_axes.len());
            axes.push(dof_axes);
            c.push(euler(&bone.axis_order, bone.axis, &bone.name)?);
        }
        let parents: Vec<Option<usize>> = sk.bones.iter().map(|b| b.parent).collect();
        let mut children = vec![Vec::new(); parents.len()];
        let mut order = Vec::with_capacity(parents.len());
        for (b, parent) in parents.iter().enumerate() {
            match *parent {
                None => order.push(b),
                Some(p) if p < parents.len() => children[p].push(b),
                Some(_) => {} // a bad index: left out of `order`, reported below
            }
        }
        let mut next = 0;
        while let Some(&p) = order.get(next) {
            order.extend_from_slice(&children[p]);
            next += 1;
        }
        if order.len() != parents.len() {
            return Err(bad(
                "bone hierarchy has a cycle or a bad parent index".into()
            ));
        }
        Ok(AsfKinematics {
            root_channels,
            root_position: sk.root.position,
            c_root: euler(&sk.root.axis_order, sk.root.orientation, "root")?,
            axes,
            c,
            vectors: sk
                .bones
                .iter()
                .map(|b| b.direction.map(|d| d * b.length * scale))
                .collect(),
            parents,
            order,
            offsets,
            scale,
        })
    }

    /// Number of AMC values in a frame: every root channel and bone dof.
    pub(super) fn n_values(&self) -> usize {
        self.offsets[self.offsets.len() - 1]
    }

    /// AMC values of joint `j` (0 = root, `b + 1` = bone `b`).
    pub(super) fn channels(&self, j: usize) -> Range<usize> {
        self.offsets[j]..self.offsets[j + 1]
    }

    /// Appends the root position then every bone's end, metres, for one frame of AMC values
    /// (angles times `to_rad` are radians).
    pub(super) fn pose(&self, values: &[f64], to_rad: f64, out: &mut Vec<[f64; 3]>) {
        let (mut t, mut steps) = (self.root_position, Vec::with_capacity(3));
        for (&(is_rotation, a), &v) in self.root_channels.iter().zip(values) {
            if is_rotation {
                steps.push((a, v * to_rad));
            } else {
                t[a] += v;
            }
        }
        let root = t.map(|x| x * self.scale);
        let g_root = conjugate(&self.c_root, &euler_extrinsic(steps));
        let n = self.axes.len();
        let (mut global, mut ends) = (vec![IDENTITY; n], vec![[0.0; 3]; n]);
        for &b in &self.order {
            let (g_parent, start) = match self.parents[b] {
                Some(p) => (global[p], ends[p]),
                None => (g_root, root),
            };
            let dofs = &values[self.channels(b + 1)];
            let m = euler_extrinsic(
                self.axes[b]
                    .iter()
                    .zip(dofs)
                    .map(|(&a, &v)| (a, v * to_rad)),
            );
            global[b] = mat_mul(&g_parent, &conjugate(&self.c[b], &m));
            let v = mat_vec(&global[b], self.vectors[b]);
            ends[b] = [0usize, 1, 2].map(|i| start[i] + v[i]);
        }
        out.push(root);
        out.extend_from_slice(&ends);
    }
}
