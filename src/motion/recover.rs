//! Joint positions from HumanML3D features: `recover_root_rot_pos` and `recover_from_ric`, as in
//! HumanML3D `common/quaternion.py` / `paramUtil`-era `motion_process.py` (same operation order,
//! so float32 results match the reference's float32 output to rounding).

use num_traits::Float;

use super::layout::RIC;
use super::rotation::{qinv, qrot};

/// Root yaw and root position per frame (`recover_root_rot_pos`).
///
/// `features`: `(T, F)` row-major with `F ≥ 4` (HumanML3D: 263). Returns `(quats, positions)`:
/// the root rotation about +Y as quaternions `(T, 4)` `(cos θ, 0, sin θ, 0)` with θ the integrated
/// yaw (radians, θ₀ = 0), and the root position `(T, 3)` in metres: x, z integrated from the
/// facing-frame velocities of the previous frame, y the root height feature.
pub fn recover_root_rot_pos<F: Float>(features: &[F], width: usize) -> (Vec<[F; 4]>, Vec<[F; 3]>) {
    let frames = features.len() / width;
    let mut quats = Vec::with_capacity(frames);
    let mut positions = Vec::with_capacity(frames);
    let mut angle = F::zero();
    let mut pos = [F::zero(); 3];
    for t in 0..frames {
        if t > 0 {
            angle = angle + features[(t - 1) * width];
        }
        let q = [angle.cos(), F::zero(), angle.sin(), F::zero()];
        if t > 0 {
            let prev = &features[(t - 1) * width..];
            let v = qrot(qinv(q), [prev[1], F::zero(), prev[2]]);
            pos = [pos[0] + v[0], pos[1] + v[1], pos[2] + v[2]];
        }
        quats.push(q);
        positions.push([pos[0], features[t * width + 3], pos[2]]);
    }
    (quats, positions)
}

/// Global joint positions from HumanML3D features (`recover_from_ric`).
///
/// `features`: `(T, width)` row-major (any float type), `width = 12·J − 1`: 263 for HumanML3D's
/// 22 joints, 251 for KIT-ML's 21. Returns `(T, J, 3)` joint positions in the dataset's units
/// (HumanML3D metres, KIT-ML millimetres), Y up, in the skeleton's joint order
/// ([`super::Skeleton::joint_names`]): the `ric` coordinates rotated back by the integrated root
/// yaw, plus the integrated root xz (`recover_from_ric(data, joints_num)`).
pub fn recover_from_ric<F: Float>(features: &[F], width: usize) -> Vec<[F; 3]> {
    let n_joints = (width + 1) / 12;
    let frames = features.len() / width;
    let (quats, roots) = recover_root_rot_pos(features, width);
    let mut joints = Vec::with_capacity(frames * n_joints);
    for t in 0..frames {
        let row = &features[t * width..(t + 1) * width];
        let inv = qinv(quats[t]);
        let root = roots[t];
        joints.push(root);
        for j in 0..n_joints - 1 {
            let r = &row[RIC.start + 3 * j..RIC.start + 3 * j + 3];
            let p = qrot(inv, [r[0], r[1], r[2]]);
            joints.push([p[0] + root[0], p[1], p[2] + root[2]]);
        }
    }
    joints
}
