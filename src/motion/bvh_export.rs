//! BVH export of HumanML3D joints on the SMPL skeleton: `(T, 22, 3)` positions (metres, Y up,
//! at the clip's fps) become a BVH file with the 22 SMPL joints named as the shipped rig map
//! `assets/rigs/smpl.toml` reads them (`Pelvis`, `Left_hip`, …), in centimetres, so Blender and
//! the studio's own importer open it.
//!
//! BVH stores rotations, HumanML3D stores positions, so rotations are solved for (inverse
//! kinematics without optimisation, as HumanML3D's `Skeleton.inverse_kinematics_np` does for its
//! chains): a joint with one child turns by the smallest rotation that points its rest bone at
//! the child's position (no twist beyond its parent's); the pelvis and spine3, which carry three
//! children each, take the rotation that best maps their children's rest offsets onto the
//! current ones (Kabsch). The rest pose is a T-pose (legs down, feet forward, arms out along the
//! shoulders' axis, spine up, facing +Z) whose bone lengths are the clip's mean lengths; the
//! hips, spine1, neck and collars sit where they sit on average in their parent's frame. Reading
//! the file back reproduces every joint of a rigid clip to within the pelvis and spine3
//! triangles' non-rigidity, and a bone whose length varies by that variation.

use std::fmt::Write as _;
use std::path::Path;

use nalgebra::{Matrix3, Rotation3, Vector3};

use super::error::{MotionError, Result};
use super::{Joints, Skeleton};

/// Joint names as written, in HumanML3D order (those of `assets/rigs/smpl.toml`).
pub const BVH_JOINT_NAMES: [&str; 22] = [
    "Pelvis",
    "Left_hip",
    "Right_hip",
    "Spine1",
    "Left_knee",
    "Right_knee",
    "Spine2",
    "Left_ankle",
    "Right_ankle",
    "Spine3",
    "Left_foot",
    "Right_foot",
    "Neck",
    "Left_collar",
    "Right_collar",
    "Head",
    "Left_shoulder",
    "Right_shoulder",
    "Left_elbow",
    "Right_elbow",
    "Left_wrist",
    "Right_wrist",
];

/// File units per metre (centimetres, as the SMPL rig map reads them).
const UNITS_PER_METRE: f64 = 100.0;

/// The joints with three children, whose rotation is fitted to all three, with their left,
/// right and middle child: the pelvis (hips, spine1) and spine3 (collars, neck).
const BRANCHES: [(usize, [usize; 3]); 2] = [(0, [1, 2, 3]), (9, [13, 14, 12])];

/// The left, right and middle child of a branch joint `j` (one of [`BRANCHES`]).
fn branch_children(j: usize) -> [usize; 3] {
    BRANCHES
        .iter()
        .find(|(b, _)| *b == j)
        .map_or([0; 3], |(_, c)| *c)
}

/// T-pose direction of each joint's bone from its parent (Y up, facing +Z, the body's left at
/// +X as in HumanML3D); `None` for the root and for the children of [`BRANCHES`], whose rest
/// offsets come from the clip.
const REST_DIR: [Option<[f64; 3]>; 22] = [
    None,
    None,
    None,
    None,
    Some([0.0, -1.0, 0.0]),
    Some([0.0, -1.0, 0.0]),
    Some([0.0, 1.0, 0.0]),
    Some([0.0, -1.0, 0.0]),
    Some([0.0, -1.0, 0.0]),
    Some([0.0, 1.0, 0.0]),
    Some([0.0, 0.0, 1.0]),
    Some([0.0, 0.0, 1.0]),
    None,
    None,
    None,
    Some([0.0, 1.0, 0.0]),
    Some([1.0, 0.0, 0.0]),
    Some([-1.0, 0.0, 0.0]),
    Some([1.0, 0.0, 0.0]),
    Some([-1.0, 0.0, 0.0]),
    Some([1.0, 0.0, 0.0]),
    Some([-1.0, 0.0, 0.0]),
];

/// End-site offsets (metres) of the leaves: feet 5 cm forward, head 10 cm up, wrists 8 cm out.
fn end_site(j: usize) -> Option<Vector3<f64>> {
    let d = REST_DIR[j]?;
    let len = match j {
        10 | 11 => 0.05,
        15 => 0.10,
        20 | 21 => 0.08,
        _ => return None,
    };
    Some(Vector3::from(d) * len)
}

fn children(j: usize) -> Vec<usize> {
    (0..22)
        .filter(|&c| Skeleton::HumanMl3d.parents()[c] == Some(j))
        .collect()
}

/// The orthonormal frame of a branch joint at one frame: x from the right child to the left one
/// (right hip → left hip, right collar → left collar), y towards the middle child (spine1, neck)
/// made orthogonal to x, z = x × y (forward).
fn branch_frame(p: &[Vector3<f64>], j: usize) -> Matrix3<f64> {
    let [left, right, mid] = branch_children(j);
    let x = (p[left] - p[right]).normalize();
    let up = p[mid] - p[j];
    let y = (up - x * x.dot(&up)).normalize();
    let z = x.cross(&y);
    Matrix3::from_columns(&[x, y, z])
}

/// The rotation that best maps `rest` vectors onto `cur` ones (Kabsch, no reflection).
fn kabsch(rest: &[Vector3<f64>], cur: &[Vector3<f64>]) -> Matrix3<f64> {
    let h: Matrix3<f64> = rest.iter().zip(cur).map(|(a, b)| a * b.transpose()).sum();
    let svd = h.svd(true, true);
    let (u, vt) = (svd.u.unwrap(), svd.v_t.unwrap());
    let v = vt.transpose();
    let d = (v * u.transpose()).determinant().signum();
    v * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, d)) * u.transpose()
}

/// The rest skeleton of `frames`: each joint's offset from its parent (metres).
fn rest_offsets(frames: &[Vec<Vector3<f64>>]) -> [Vector3<f64>; 22] {
    let parents = Skeleton::HumanMl3d.parents();
    let n = frames.len() as f64;
    let mut off = [Vector3::zeros(); 22];
    for j in 1..22 {
        let p = parents[j].unwrap();
        let len: f64 = frames.iter().map(|f| (f[j] - f[p]).norm()).sum::<f64>() / n;
        off[j] = match REST_DIR[j] {
            Some(d) => Vector3::from(d) * len,
            None => {
                // Mean direction in the branch's own frame, at the mean length.
                let mean: Vector3<f64> = frames
                    .iter()
                    .map(|f| branch_frame(f, p).transpose() * (f[j] - f[p]))
                    .sum::<Vector3<f64>>()
                    / n;
                mean.normalize() * len
            }
        };
    }
    off
}

/// World rotation of every joint at one frame `p` (22 positions, metres) given the rest offsets.
fn world_rotations(p: &[Vector3<f64>], off: &[Vector3<f64>; 22]) -> [Matrix3<f64>; 22] {
    let parents = Skeleton::HumanMl3d.parents();
    let mut r = [Matrix3::identity(); 22];
    for j in 0..22 {
        let parent_r = parents[j].map_or(Matrix3::identity(), |q| r[q]);
        let kids = children(j);
        r[j] = if BRANCHES.iter().any(|(b, _)| *b == j) {
            let rest: Vec<_> = kids.iter().map(|&c| off[c]).collect();
            let cur: Vec<_> = kids.iter().map(|&c| p[c] - p[j]).collect();
            kabsch(&rest, &cur)
        } else if let [c] = kids[..] {
            let from = parent_r * off[c];
            let to = p[c] - p[j];
            let swing = Rotation3::rotation_between(&from, &to).unwrap_or_else(|| {
                // Opposite vectors: half a turn about an axis orthogonal to them.
                let axis = from
                    .cross(&Vector3::x())
                    .try_normalize(1e-9)
                    .unwrap_or(Vector3::z());
                Rotation3::from_axis_angle(
                    &nalgebra::Unit::new_normalize(axis),
                    std::f64::consts::PI,
                )
            });
            swing.matrix() * parent_r
        } else {
            parent_r
        };
    }
    r
}

/// Joints in file order (depth first from the pelvis, children in HumanML3D order).
fn file_order() -> Vec<usize> {
    fn visit(j: usize, out: &mut Vec<usize>) {
        out.push(j);
        for c in children(j) {
            visit(c, out);
        }
    }
    let mut out = Vec::new();
    visit(0, &mut out);
    out
}

/// `(T, 22, 3)` HumanML3D joints (metres, Y up) at `fps` as BVH text on the SMPL skeleton
/// (centimetres; the root's position channels then its rotation channels; degrees, composed in
/// the order listed: [`EulerOrder`]).
///
/// Errors: a KIT-ML clip (BVH export follows the SMPL skeleton), fewer than 2 frames, a frame
/// rate that is not a positive number, a frame whose joints coincide where a bone should be or
/// whose hips (collars) lie in a line with spine1 (neck), so that no pelvis (spine3) frame
/// exists (frame named).
pub fn joints_to_bvh(joints: &Joints, fps: f32, source: &Path) -> Result<String> {
    let bad = |why: String| MotionError::Invalid {
        path: source.to_path_buf(),
        msg: why,
    };
    if joints.skeleton() != Skeleton::HumanMl3d {
        return Err(bad(format!(
            "BVH export writes the SMPL skeleton; this clip is {}",
            joints.skeleton().name()
        )));
    }
    if joints.frames() < 2 {
        return Err(bad("a BVH export needs at least 2 frames".into()));
    }
    if !(fps.is_finite() && fps > 0.0) {
        return Err(bad(format!("frame rate {fps}: give a positive number")));
    }
    let parents = Skeleton::HumanMl3d.parents();
    let frames: Vec<Vec<Vector3<f64>>> = (0..joints.frames())
        .map(|t| {
            joints
                .frame(t)
                .iter()
                .map(|p| Vector3::new(p[0] as f64, p[1] as f64, p[2] as f64))
                .collect()
        })
        .collect();
    for (t, f) in frames.iter().enumerate() {
        for j in 1..22 {
            if (f[j] - f[parents[j].unwrap()]).norm() < 1e-6 {
                return Err(bad(format!(
                    "frame {t}: {} sits on its parent (no bone to rotate)",
                    BVH_JOINT_NAMES[j]
                )));
            }
        }
        for (j, [left, right, mid]) in BRANCHES {
            let x = f[left] - f[right];
            let up = f[mid] - f[j];
            if x.norm() < 1e-6 || x.normalize().cross(&up).norm() < 1e-6 {
                return Err(bad(format!(
                    "frame {t}: {}, {} and {} are in a line (no frame for {})",
                    BVH_JOINT_NAMES[left],
                    BVH_JOINT_NAMES[right],
                    BVH_JOINT_NAMES[mid],
                    BVH_JOINT_NAMES[j]
                )));
            }
        }
    }
    let off = rest_offsets(&frames);
    let order = file_order();
    let mut out = String::from("HIERARCHY\n");
    write_joint(&mut out, 0, 0, &off);
    let _ = write!(
        out,
        "MOTION\nFrames: {}\nFrame Time: {:.6}\n",
        frames.len(),
        1.0 / fps as f64
    );
    // Each joint's angles stay the equivalent triple nearest the previous frame's, so a root
    // turning past ±180° reads 181°, not −179° (interpolating tools would spin the long way).
    let mut prev: Vec<Option<[f64; 3]>> = vec![None; 22];
    for (t, p) in frames.iter().enumerate() {
        let r = world_rotations(p, &off);
        let mut row: Vec<String> = Vec::with_capacity(3 + 3 * 22);
        for c in p[0].iter() {
            row.push(format!("{:.4}", c * UNITS_PER_METRE));
        }
        for &j in &order {
            let local = match parents[j] {
                Some(q) => r[q].transpose() * r[j],
                None => r[j],
            };
            let zyx = continuous(EulerOrder::of(j).angles(&orthonormal(local)), prev[j]);
            if zyx.iter().any(|a| !a.is_finite()) {
                return Err(bad(format!(
                    "frame {t}: no finite rotation for {}",
                    BVH_JOINT_NAMES[j]
                )));
            }
            prev[j] = Some(zyx);
            for a in zyx {
                row.push(format!("{:.4}", a.to_degrees()));
            }
        }
        out.push_str(&row.join(" "));
        out.push('\n');
    }
    Ok(out)
}

/// The rotation channels of a joint, chosen so that its largest everyday rotation is not the
/// middle angle (where Euler angles lock): the pelvis turns about Y (heading) and the arms,
/// lying along X in the rest pose, lift about Z and swing about Y, so they take Z-X-Y (their
/// middle angle X is a twist); the legs, spine, neck and head, along Y, bend about X and take
/// Z-Y-X (their middle angle Y is a twist).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EulerOrder {
    /// R = Rz·Ry·Rx.
    Zyx,
    /// R = Rz·Rx·Ry.
    Zxy,
}

impl EulerOrder {
    fn of(j: usize) -> Self {
        match j {
            0 | 13 | 14 | 16..=21 => Self::Zxy,
            _ => Self::Zyx,
        }
    }

    fn channels(self) -> &'static str {
        match self {
            Self::Zyx => "Zrotation Yrotation Xrotation",
            Self::Zxy => "Zrotation Xrotation Yrotation",
        }
    }

    /// The three angles (radians) in channel order of the rotation `m`.
    fn angles(self, m: &Matrix3<f64>) -> [f64; 3] {
        match self {
            Self::Zyx => {
                let (roll, pitch, yaw) = Rotation3::from_matrix_unchecked(*m).euler_angles();
                [yaw, pitch, roll]
            }
            Self::Zxy => {
                // Rz(a)·Rx(b)·Ry(c): m[2][1] = sin b, m[2][0] = −cos b sin c, m[2][2] = cos b cos c,
                // m[0][1] = −sin a cos b, m[1][1] = cos a cos b.
                let b = m[(2, 1)].clamp(-1.0, 1.0).asin();
                if b.cos() > 1e-9 {
                    [
                        (-m[(0, 1)]).atan2(m[(1, 1)]),
                        b,
                        (-m[(2, 0)]).atan2(m[(2, 2)]),
                    ]
                } else {
                    // Locked: only a ± c is defined; c = 0.
                    [m[(1, 0)].atan2(m[(0, 0)]), b, 0.0]
                }
            }
        }
    }
}

/// Of the two triples of one rotation in a Tait-Bryan order, `(a, b, c)` and `(a + π, π − b, c + π)`, each angle
/// moved by whole turns to be nearest `prev`, the one nearest `prev` (radians); `zyx` itself
/// without a previous frame.
fn continuous(zyx: [f64; 3], prev: Option<[f64; 3]>) -> [f64; 3] {
    use std::f64::consts::{PI, TAU};
    let Some(prev) = prev else {
        return zyx;
    };
    let [z, y, x] = zyx;
    let near = |a: f64, p: f64| a + ((p - a) / TAU).round() * TAU;
    let candidates = [[z, y, x], [z + PI, PI - y, x + PI]].map(|c| {
        let c = [
            near(c[0], prev[0]),
            near(c[1], prev[1]),
            near(c[2], prev[2]),
        ];
        let d: f64 = c.iter().zip(&prev).map(|(a, p)| (a - p).abs()).sum();
        (c, d)
    });
    if candidates[1].1 < candidates[0].1 {
        candidates[1].0
    } else {
        candidates[0].0
    }
}

/// `m` made exactly orthonormal (accumulated rounding off the rotation products).
fn orthonormal(m: Matrix3<f64>) -> Matrix3<f64> {
    let svd = m.svd(true, true);
    svd.u.unwrap() * svd.v_t.unwrap()
}

fn write_joint(out: &mut String, j: usize, depth: usize, off: &[Vector3<f64>; 22]) {
    let pad = "  ".repeat(depth);
    let o = off[j] * UNITS_PER_METRE;
    if j == 0 {
        let _ = writeln!(out, "ROOT {}", BVH_JOINT_NAMES[j]);
    } else {
        let _ = writeln!(out, "{pad}JOINT {}", BVH_JOINT_NAMES[j]);
    }
    let _ = writeln!(out, "{pad}{{");
    let _ = writeln!(out, "{pad}  OFFSET {:.4} {:.4} {:.4}", o.x, o.y, o.z);
    if j == 0 {
        let _ = writeln!(
            out,
            "{pad}  CHANNELS 6 Xposition Yposition Zposition {}",
            EulerOrder::of(j).channels()
        );
    } else {
        let _ = writeln!(out, "{pad}  CHANNELS 3 {}", EulerOrder::of(j).channels());
    }
    for c in children(j) {
        write_joint(out, c, depth + 1, off);
    }
    if let Some(e) = end_site(j) {
        let e = e * UNITS_PER_METRE;
        let _ = writeln!(out, "{pad}  End Site\n{pad}  {{");
        let _ = writeln!(out, "{pad}    OFFSET {:.4} {:.4} {:.4}", e.x, e.y, e.z);
        let _ = writeln!(out, "{pad}  }}");
    }
    let _ = writeln!(out, "{pad}}}");
}

/// Writes [`joints_to_bvh`] to `path`. Errors as it does, and when the file cannot be written.
pub fn write_bvh(path: &Path, joints: &Joints, fps: f32) -> Result<()> {
    let text = joints_to_bvh(joints, fps, path)?;
    std::fs::write(path, text).map_err(|e| MotionError::io(path, e))
}

#[cfg(test)]
#[path = "bvh_export_tests.rs"]
mod tests;
