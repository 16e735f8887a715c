//! Joint positions → HumanML3D features, faithful to the official pipeline (HumanML3D
//! `motion_representation.ipynb`: `uniform_skeleton`, `process_file`; `common/skeleton.py`:
//! `inverse_kinematics_np`, `forward_kinematics_np`; `common/quaternion.py`).
//!
//! The official code is a fixed point on its own output, which the tests use: converting
//! `new_joints/012314.npy` reproduces `new_joint_vecs/012314.npy`. Its quirks are kept on
//! purpose, since they define the representation: the per-frame facing in the inverse kinematics
//! unpacks the hip indices swapped (`(j1 − j2) + (j17 − j16)`, shoulders dominate) while the
//! initial facing uses `(j2 − j1) + (j17 − j16)`; the facing is smoothed with a gaussian
//! (σ = 20 frames, `mode='nearest'`, radius 80); the root yaw feature is `arcsin` of the y
//! component of the per-frame rotation quaternion; rotations are column-major 6D.

use crate::motion::N_FEATURES;
use crate::motion::rotation::{cross, dot, normalize, qbetween, qinv, qmul, qrot, quat_to_matrix};
use crate::motion::skeleton::PARENTS;

type Quat = [f64; 4];
type V3 = [f64; 3];

/// `t2m_raw_offsets` (HumanML3D `paramUtil.py`): rest direction of each bone, joints 0..21.
const RAW_OFFSETS: [V3; 22] = [
    [0., 0., 0.],
    [1., 0., 0.],
    [-1., 0., 0.],
    [0., 1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., 1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., 1., 0.],
    [0., 0., 1.],
    [0., 0., 1.],
    [0., 1., 0.],
    [1., 0., 0.],
    [-1., 0., 0.],
    [0., 0., 1.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
];

/// `t2m_kinematic_chain`.
const CHAINS: [&[usize]; 5] = [
    &[0, 2, 5, 8, 11],
    &[0, 1, 4, 7, 10],
    &[0, 3, 6, 9, 12, 15],
    &[9, 14, 17, 19, 21],
    &[9, 13, 16, 18, 20],
];

/// Bone lengths of the official target skeleton (`joints/000021.npy`, not distributed), metres,
/// read from frame 0 of `new_joints/012314.npy`, whose bones carry them (constant to 1.3e-6 m
/// over its 170 frames; a test checks these values against the file).
pub const TARGET_BONE_LENGTHS: [f64; 22] = [
    0.0,
    0.103073945,
    0.109883355,
    0.131568247,
    0.393623163,
    0.390188137,
    0.143190257,
    0.432433014,
    0.425643343,
    0.057364704,
    0.143381749,
    0.149418659,
    0.219360001,
    0.137486833,
    0.143382827,
    0.103039270,
    0.131613988,
    0.122984308,
    0.256839854,
    0.263091867,
    0.266011854,
    0.269876299,
];

/// Foot-contact velocity threshold of the official pipeline (squared displacement per frame, m²).
pub const FOOT_CONTACT_THRESHOLD: f64 = 0.002;

const FID_L: [usize; 2] = [7, 10];
const FID_R: [usize; 2] = [8, 11];
/// `face_joint_indx`: right hip, left hip, right shoulder, left shoulder.
const FACE: [usize; 4] = [2, 1, 17, 16];

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// `scipy.ndimage.gaussian_filter1d(x, sigma, axis=0, mode='nearest')` with the default
/// truncate 4.0, on a `(T, 3)` series.
fn gaussian_filter_nearest(x: &[V3], sigma: f64) -> Vec<V3> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let mut kernel: Vec<f64> = (-radius..=radius)
        .map(|d| (-0.5 / (sigma * sigma) * (d * d) as f64).exp())
        .collect();
    let sum: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    let n = x.len() as i64;
    (0..n)
        .map(|t| {
            let mut acc = [0.0; 3];
            for (k, w) in kernel.iter().enumerate() {
                let s = (t + k as i64 - radius).clamp(0, n - 1) as usize;
                for c in 0..3 {
                    acc[c] += w * x[s][c];
                }
            }
            acc
        })
        .collect()
}

/// Offsets of a skeleton: raw directions × bone lengths.
fn offsets_from_lengths(lengths: &[f64; 22]) -> [V3; 22] {
    std::array::from_fn(|j| RAW_OFFSETS[j].map(|v| v * lengths[j]))
}

/// Bone lengths of one pose (`get_offsets_joints`' norms).
fn bone_lengths(pose: &[V3]) -> [f64; 22] {
    std::array::from_fn(|j| match PARENTS[j] {
        Some(p) => dot(sub(pose[j], pose[p]), sub(pose[j], pose[p])).sqrt(),
        None => 0.0,
    })
}

/// `Skeleton.inverse_kinematics_np`: per-frame local rotations `(T, 22)`; joint 0 holds the root
/// (facing) rotation. Note the reference's swapped hip unpacking (see the module docs).
fn inverse_kinematics(joints: &[[V3; 22]], smooth_forward: bool) -> Vec<[Quat; 22]> {
    // l_hip, r_hip, sdr_r, sdr_l = face_joint_idx = [2, 1, 17, 16]
    let (l_hip, r_hip, sdr_r, sdr_l) = (FACE[0], FACE[1], FACE[2], FACE[3]);
    let mut forward: Vec<V3> = joints
        .iter()
        .map(|p| {
            let across = normalize(add(sub(p[r_hip], p[l_hip]), sub(p[sdr_r], p[sdr_l])));
            cross([0.0, 1.0, 0.0], across)
        })
        .collect();
    if smooth_forward {
        forward = gaussian_filter_nearest(&forward, 20.0);
    }
    joints
        .iter()
        .zip(&forward)
        .enumerate()
        .map(|(t, (p, f))| {
            // `root_quat[0] = [1, 0, 0, 0]`: frame 0's root rotation is the identity. The stored
            // `skeleton.py` has this line commented out, but the released features were made
            // with it: only then does 012314 reproduce (frame 0 of yaw velocity, ric, rot6d and
            // local velocity differ by up to 0.19 without it, frames 1.. are unaffected).
            let root = if t == 0 {
                [1.0, 0.0, 0.0, 0.0]
            } else {
                qbetween(normalize(*f), [0.0, 0.0, 1.0])
            };
            let mut quats = [[1.0, 0.0, 0.0, 0.0]; 22];
            quats[0] = root;
            for chain in CHAINS {
                let mut r = root;
                for w in chain.windows(2) {
                    let v = normalize(sub(p[w[1]], p[w[0]]));
                    let rot_u_v = qbetween(RAW_OFFSETS[w[1]], v);
                    let local = qmul(qinv(r), rot_u_v);
                    quats[w[1]] = local;
                    r = qmul(r, local);
                }
            }
            quats
        })
        .collect()
}

/// `Skeleton.forward_kinematics_np` with fixed offsets.
fn forward_kinematics(quats: &[[Quat; 22]], roots: &[V3], offsets: &[V3; 22]) -> Vec<[V3; 22]> {
    quats
        .iter()
        .zip(roots)
        .map(|(q, root)| {
            let mut p = [[0.0; 3]; 22];
            p[0] = *root;
            for chain in CHAINS {
                let mut r = q[0];
                for w in chain.windows(2) {
                    r = qmul(r, q[w[1]]);
                    p[w[1]] = add(qrot(r, offsets[w[1]]), p[w[0]]);
                }
            }
            p
        })
        .collect()
}

/// `uniform_skeleton`: retargets to the target bone lengths (scale from the right leg, inverse
/// kinematics without smoothing, forward kinematics with the target offsets).
fn uniform_skeleton(joints: &[[V3; 22]]) -> Vec<[V3; 22]> {
    let src = bone_lengths(&joints[0]);
    let scale = (TARGET_BONE_LENGTHS[5] + TARGET_BONE_LENGTHS[8]) / (src[5] + src[8]);
    let roots: Vec<V3> = joints.iter().map(|p| p[0].map(|v| v * scale)).collect();
    let quats = inverse_kinematics(joints, false);
    forward_kinematics(&quats, &roots, &offsets_from_lengths(&TARGET_BONE_LENGTHS))
}

/// HumanML3D features from joint positions (`process_file(positions, 0.002)`).
///
/// `positions`: `(T, 22, 3)` metres, Y up, SMPL joint order, T ≥ 2, at 20 fps. Returns `(T − 1)`
/// rows of 263 features (float64; the official files store float32). The pose is retargeted to
/// the HumanML3D skeleton, put on the floor (lowest joint at y = 0), moved so the root starts at
/// x = z = 0, and turned to face +Z on frame 0.
pub fn joints_to_features(positions: &[[f64; 3]]) -> Vec<[f64; N_FEATURES]> {
    process_joints(positions).features
}

/// The output of [`process_joints`].
#[derive(Clone, Debug)]
pub struct Processed {
    /// `(T − 1, 263)` features.
    pub features: Vec<[f64; N_FEATURES]>,
    /// `(T, 22, 3)` retargeted, floored, origin- and facing-aligned positions
    /// (`global_positions` of the reference), metres.
    pub global: Vec<[[f64; 3]; 22]>,
    /// Root (facing) rotation of frame 0; `recover_from_ric` starts from the identity instead,
    /// so its output is `global` turned by this rotation.
    pub root_rotation0: [f64; 4],
}

impl Processed {
    /// Joint `j` of frame `t` of `global` as `recover_from_ric` of the features returns it.
    pub fn aligned_global(&self, t: usize, j: usize) -> [f64; 3] {
        qrot(self.root_rotation0, self.global[t][j])
    }
}

/// [`joints_to_features`] keeping the intermediate positions (for round-trip checks).
pub fn process_joints(positions: &[[f64; 3]]) -> Processed {
    let frames: Vec<[V3; 22]> = positions
        .chunks_exact(22)
        .map(|c| std::array::from_fn(|j| c[j]))
        .collect();
    let t = frames.len();
    if t < 2 {
        return Processed {
            features: Vec::new(),
            global: frames,
            root_rotation0: [1.0, 0.0, 0.0, 0.0],
        };
    }
    let mut p = uniform_skeleton(&frames);

    // Put on floor: the lowest y over all frames and joints.
    let floor = p
        .iter()
        .flatten()
        .map(|v| v[1])
        .fold(f64::INFINITY, f64::min);
    p.iter_mut().flatten().for_each(|v| v[1] -= floor);
    // XZ at origin on frame 0.
    let root_init = p[0];
    let origin = [root_init[0][0], 0.0, root_init[0][2]];
    p.iter_mut().flatten().for_each(|v| *v = sub(*v, origin));
    // All initially face +Z (r_hip, l_hip, sdr_r, sdr_l = 2, 1, 17, 16).
    let across = normalize(add(
        sub(root_init[FACE[0]], root_init[FACE[1]]),
        sub(root_init[FACE[2]], root_init[FACE[3]]),
    ));
    let forward_init = normalize(cross([0.0, 1.0, 0.0], across));
    let q_init = qbetween(forward_init, [0.0, 0.0, 1.0]);
    p.iter_mut().flatten().for_each(|v| *v = qrot(q_init, *v));
    let global = p;

    // Foot contacts: squared displacement between frames below the threshold.
    let contact = |f: usize, j: usize| -> f64 {
        let d = sub(global[f + 1][j], global[f][j]);
        (dot(d, d) < FOOT_CONTACT_THRESHOLD) as u8 as f64
    };

    // Rotations (smoothed facing) and root velocities.
    let quats = inverse_kinematics(&global, true);
    let r_rot: Vec<Quat> = quats.iter().map(|q| q[0]).collect();

    let mut out = Vec::with_capacity(t - 1);
    for f in 0..t - 1 {
        let mut row = [0.0; N_FEATURES];
        let r_vel = qmul(r_rot[f + 1], qinv(r_rot[f]));
        let vel = qrot(r_rot[f + 1], sub(global[f + 1][0], global[f][0]));
        row[0] = r_vel[2].clamp(-1.0, 1.0).asin();
        row[1] = vel[0];
        row[2] = vel[2];
        row[3] = global[f][0][1];
        // ric: root-xz-relative positions turned by r_rot.
        let root = global[f][0];
        for j in 1..22 {
            let local = [
                global[f][j][0] - root[0],
                global[f][j][1],
                global[f][j][2] - root[2],
            ];
            let v = qrot(r_rot[f], local);
            row[4 + 3 * (j - 1)..4 + 3 * j].copy_from_slice(&v);
        }
        // rot6d: columns 0 and 1 of each joint's local rotation matrix.
        for j in 1..22 {
            let m = quat_to_matrix(quats[f][j]);
            let base = 67 + 6 * (j - 1);
            row[base..base + 6]
                .copy_from_slice(&[m[0][0], m[1][0], m[2][0], m[0][1], m[1][1], m[2][1]]);
        }
        // Local velocities, turned by r_rot of frame f.
        for j in 0..22 {
            let v = qrot(r_rot[f], sub(global[f + 1][j], global[f][j]));
            row[193 + 3 * j..196 + 3 * j].copy_from_slice(&v);
        }
        row[259] = contact(f, FID_L[0]);
        row[260] = contact(f, FID_L[1]);
        row[261] = contact(f, FID_R[0]);
        row[262] = contact(f, FID_R[1]);
        out.push(row);
    }
    Processed {
        features: out,
        root_rotation0: r_rot[0],
        global,
    }
}

/// Left/right pairs of the 22 joints (HumanML3D's mirroring swaps them).
const MIRROR_PAIRS: [(usize, usize); 8] = [
    (1, 2),
    (4, 5),
    (7, 8),
    (10, 11),
    (13, 14),
    (16, 17),
    (18, 19),
    (20, 21),
];

/// The mirrored motion (HumanML3D's `M` ids): x negated, left and right joints swapped.
/// `(T, 22, 3)` in and out.
pub fn mirror_joints(positions: &[[f64; 3]]) -> Vec<[f64; 3]> {
    let mut out: Vec<[f64; 3]> = positions.iter().map(|p| [-p[0], p[1], p[2]]).collect();
    for frame in out.chunks_exact_mut(22) {
        for &(l, r) in &MIRROR_PAIRS {
            frame.swap(l, r);
        }
    }
    out
}
