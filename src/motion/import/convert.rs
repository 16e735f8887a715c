//! Joint positions → HumanML3D (and KIT-ML) features, faithful to the official pipeline (HumanML3D
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

use crate::motion::rotation::{cross, dot, normalize, qbetween, qinv, qmul, qrot, quat_to_matrix};
use crate::motion::skeleton::PARENTS;
use crate::motion::{Skeleton, kit};

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

/// The skeleton-specific constants of `process_file`: HumanML3D's (`t2m_*`) or KIT-ML's
/// (`kit_*`, see [`crate::motion::kit`]).
struct Rig {
    raw_offsets: &'static [V3],
    parents: &'static [Option<usize>],
    chains: Vec<&'static [usize]>,
    fid_l: [usize; 2],
    fid_r: [usize; 2],
    /// `face_joint_indx`: right hip, left hip, right shoulder, left shoulder.
    face: [usize; 4],
    /// Foot-contact threshold (squared displacement per frame, in the skeleton's units²).
    threshold: f64,
    /// `uniform_skeleton`'s target bone lengths and the two joints whose bones set the scale
    /// (`l_idx1`, `l_idx2`); `None`: the motion keeps its own bone lengths.
    target: Option<(&'static [f64], [usize; 2])>,
}

impl Rig {
    fn of(skeleton: Skeleton) -> Self {
        let chains = skeleton.chains().iter().map(|(c, _)| *c).collect();
        match skeleton {
            Skeleton::HumanMl3d => Rig {
                raw_offsets: &RAW_OFFSETS,
                parents: &PARENTS,
                chains,
                fid_l: FID_L,
                fid_r: FID_R,
                face: FACE,
                threshold: FOOT_CONTACT_THRESHOLD,
                target: Some((&TARGET_BONE_LENGTHS, [5, 8])),
            },
            Skeleton::KitMl => Rig {
                raw_offsets: &kit::RAW_OFFSETS,
                parents: &kit::PARENTS,
                chains,
                fid_l: [kit::FOOT_CONTACT_JOINTS[0], kit::FOOT_CONTACT_JOINTS[1]],
                fid_r: [kit::FOOT_CONTACT_JOINTS[2], kit::FOOT_CONTACT_JOINTS[3]],
                face: kit::FACE_JOINTS,
                threshold: kit::FOOT_CONTACT_THRESHOLD,
                // KIT-ML's target skeleton (its example 03950_gt) is not distributed.
                target: None,
            },
        }
    }

    fn n_joints(&self) -> usize {
        self.parents.len()
    }

    /// Bone lengths of one pose (`get_offsets_joints`' norms).
    fn bone_lengths(&self, pose: &[V3]) -> Vec<f64> {
        (0..self.n_joints())
            .map(|j| match self.parents[j] {
                Some(p) => dot(sub(pose[j], pose[p]), sub(pose[j], pose[p])).sqrt(),
                None => 0.0,
            })
            .collect()
    }

    /// `Skeleton.inverse_kinematics_np`: per-frame local rotations `(T, J)`; joint 0 holds the
    /// root (facing) rotation. Note the reference's swapped hip unpacking (see the module docs).
    fn inverse_kinematics(&self, joints: &[Vec<V3>], smooth_forward: bool) -> Vec<Vec<Quat>> {
        // l_hip, r_hip, sdr_r, sdr_l = face_joint_idx
        let (l_hip, r_hip, sdr_r, sdr_l) = (self.face[0], self.face[1], self.face[2], self.face[3]);
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
                // `root_quat[0] = [1, 0, 0, 0]`: frame 0's root rotation is the identity. The
                // stored `skeleton.py` has this line commented out, but the released features
                // were made with it: only then does 012314 reproduce (frame 0 of yaw velocity,
                // ric, rot6d and local velocity differ by up to 0.19 without it, frames 1.. are
                // unaffected).
                let root = if t == 0 {
                    [1.0, 0.0, 0.0, 0.0]
                } else {
                    qbetween(normalize(*f), [0.0, 0.0, 1.0])
                };
                let mut quats = vec![[1.0, 0.0, 0.0, 0.0]; self.n_joints()];
                quats[0] = root;
                for chain in &self.chains {
                    let mut r = root;
                    for w in chain.windows(2) {
                        let v = normalize(sub(p[w[1]], p[w[0]]));
                        let rot_u_v = qbetween(self.raw_offsets[w[1]], v);
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
    fn forward_kinematics(
        &self,
        quats: &[Vec<Quat>],
        roots: &[V3],
        offsets: &[V3],
    ) -> Vec<Vec<V3>> {
        quats
            .iter()
            .zip(roots)
            .map(|(q, root)| {
                let mut p = vec![[0.0; 3]; self.n_joints()];
                p[0] = *root;
                for chain in &self.chains {
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

    /// `uniform_skeleton`: retargets to the target bone lengths (scale from the lower leg,
    /// inverse kinematics without smoothing, forward kinematics with the target offsets).
    fn uniform_skeleton(&self, joints: Vec<Vec<V3>>) -> Vec<Vec<V3>> {
        let Some((target, [a, b])) = self.target else {
            return joints;
        };
        let src = self.bone_lengths(&joints[0]);
        let scale = (target[a] + target[b]) / (src[a] + src[b]);
        let roots: Vec<V3> = joints.iter().map(|p| p[0].map(|v| v * scale)).collect();
        let quats = self.inverse_kinematics(&joints, false);
        let offsets: Vec<V3> = (0..self.n_joints())
            .map(|j| self.raw_offsets[j].map(|v| v * target[j]))
            .collect();
        self.forward_kinematics(&quats, &roots, &offsets)
    }
}

/// HumanML3D features from joint positions (`process_file(positions, 0.002)`).
///
/// `positions`: `(T, 22, 3)` metres, Y up, SMPL joint order, T ≥ 2, at 20 fps. Returns `(T − 1)`
/// rows of 263 features (float64; the official files store float32). The pose is retargeted to
/// the HumanML3D skeleton, put on the floor (lowest joint at y = 0), moved so the root starts at
/// x = z = 0, and turned to face +Z on frame 0.
pub fn joints_to_features(positions: &[[f64; 3]]) -> Vec<Vec<f64>> {
    process_joints(positions).features
}

/// The output of [`process_joints`].
#[derive(Clone, Debug)]
pub struct Processed {
    /// `(T − 1, F)` features (F = 263, or 251 for KIT-ML).
    pub features: Vec<Vec<f64>>,
    /// `(T, J, 3)` retargeted, floored, origin- and facing-aligned positions
    /// (`global_positions` of the reference), in the skeleton's units.
    pub global: Vec<Vec<[f64; 3]>>,
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
    process_joints_of(Skeleton::HumanMl3d, positions)
}

/// KIT-ML features from joint positions (`process_file(positions, 0.05)` with KIT's
/// `kit_raw_offsets`, `kit_kinematic_chain`, `fid_r, fid_l = [14, 15], [19, 20]`,
/// `face_joint_indx = [11, 16, 5, 8]`).
///
/// `positions`: `(T, 21, 3)` millimetres, Y up, KIT joint order, T ≥ 2, at 12.5 fps. Returns
/// `(T − 1)` rows of 251 features. Unlike HumanML3D the motion keeps its own bone lengths: KIT-ML's
/// target skeleton (its example `03950_gt`) is not distributed, so there is no `uniform_skeleton`.
pub fn kit_joints_to_features(positions: &[[f64; 3]]) -> Vec<Vec<f64>> {
    process_joints_of(Skeleton::KitMl, positions).features
}

/// `process_file` for either skeleton, keeping the intermediate positions.
pub fn process_joints_of(skeleton: Skeleton, positions: &[[f64; 3]]) -> Processed {
    let rig = Rig::of(skeleton);
    let nj = rig.n_joints();
    let frames: Vec<Vec<V3>> = positions.chunks_exact(nj).map(<[V3]>::to_vec).collect();
    let t = frames.len();
    if t < 2 {
        return Processed {
            features: Vec::new(),
            global: frames,
            root_rotation0: [1.0, 0.0, 0.0, 0.0],
        };
    }
    let mut p = rig.uniform_skeleton(frames);

    // Put on floor: the lowest y over all frames and joints.
    let floor = p
        .iter()
        .flatten()
        .map(|v| v[1])
        .fold(f64::INFINITY, f64::min);
    p.iter_mut().flatten().for_each(|v| v[1] -= floor);
    // XZ at origin on frame 0.
    let root_init = p[0].clone();
    let origin = [root_init[0][0], 0.0, root_init[0][2]];
    p.iter_mut().flatten().for_each(|v| *v = sub(*v, origin));
    // All initially face +Z (r_hip, l_hip, sdr_r, sdr_l = face_joint_indx).
    let face = rig.face;
    let across = normalize(add(
        sub(root_init[face[0]], root_init[face[1]]),
        sub(root_init[face[2]], root_init[face[3]]),
    ));
    let forward_init = normalize(cross([0.0, 1.0, 0.0], across));
    let q_init = qbetween(forward_init, [0.0, 0.0, 1.0]);
    p.iter_mut().flatten().for_each(|v| *v = qrot(q_init, *v));
    let global = p;

    // Foot contacts: squared displacement between frames below the threshold.
    let contact = |f: usize, j: usize| -> f64 {
        let d = sub(global[f + 1][j], global[f][j]);
        (dot(d, d) < rig.threshold) as u8 as f64
    };

    // Rotations (smoothed facing) and root velocities.
    let quats = rig.inverse_kinematics(&global, true);
    let r_rot: Vec<Quat> = quats.iter().map(|q| q[0]).collect();

    let width = skeleton.n_features();
    let (ric, rot6d, vel) = (4, 4 + 3 * (nj - 1), 4 + 9 * (nj - 1));
    let mut out = Vec::with_capacity(t - 1);
    for f in 0..t - 1 {
        let mut row = vec![0.0; width];
        let r_vel = qmul(r_rot[f + 1], qinv(r_rot[f]));
        let v = qrot(r_rot[f + 1], sub(global[f + 1][0], global[f][0]));
        row[0] = r_vel[2].clamp(-1.0, 1.0).asin();
        row[1] = v[0];
        row[2] = v[2];
        row[3] = global[f][0][1];
        // ric: root-xz-relative positions turned by r_rot.
        let root = global[f][0];
        for j in 1..nj {
            let local = [
                global[f][j][0] - root[0],
                global[f][j][1],
                global[f][j][2] - root[2],
            ];
            let v = qrot(r_rot[f], local);
            row[ric + 3 * (j - 1)..ric + 3 * j].copy_from_slice(&v);
        }
        // rot6d: columns 0 and 1 of each joint's local rotation matrix.
        for j in 1..nj {
            let m = quat_to_matrix(quats[f][j]);
            let base = rot6d + 6 * (j - 1);
            row[base..base + 6]
                .copy_from_slice(&[m[0][0], m[1][0], m[2][0], m[0][1], m[1][1], m[2][1]]);
        }
        // Local velocities, turned by r_rot of frame f.
        for j in 0..nj {
            let v = qrot(r_rot[f], sub(global[f + 1][j], global[f][j]));
            row[vel + 3 * j..vel + 3 * j + 3].copy_from_slice(&v);
        }
        row[width - 4] = contact(f, rig.fid_l[0]);
        row[width - 3] = contact(f, rig.fid_l[1]);
        row[width - 2] = contact(f, rig.fid_r[0]);
        row[width - 1] = contact(f, rig.fid_r[1]);
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
