//! The HumanML3D 263-d feature layout (Guo et al. 2022, `motion_representation.ipynb`,
//! `process_file`), for the 22-joint SMPL skeleton at 20 fps.
//!
//! Per frame: root yaw velocity (1, radians/frame), root xz velocity in the root's facing frame
//! (2, metres/frame), root height (1, metres), `ric` positions of joints 1..21 relative to the root
//! in the facing frame (63, metres), `rot6d` continuous 6D rotations of joints 1..21 (126),
//! local joint velocities of all 22 joints (66, metres/frame), and foot contacts (4, 0 or 1:
//! left ankle, left toe, right ankle, right toe).

use std::ops::Range;

/// Features per frame.
pub const N_FEATURES: usize = 263;
/// Joints of the HumanML3D (SMPL body) skeleton.
pub const N_JOINTS: usize = 22;
/// HumanML3D frame rate, frames per second.
pub const FPS: f32 = 20.0;

/// Root angular velocity about +Y, radians per frame.
pub const ROOT_YAW_VELOCITY: Range<usize> = 0..1;
/// Root linear velocity on the ground plane (x, z) in the root's facing frame, metres per frame.
pub const ROOT_XZ_VELOCITY: Range<usize> = 1..3;
/// Root (pelvis) height above the floor, metres.
pub const ROOT_HEIGHT: Range<usize> = 3..4;
/// All root channels: yaw velocity, xz velocity, height (`recover_from_ric` integrates the
/// first three over the clip).
pub const ROOT: Range<usize> = ROOT_YAW_VELOCITY.start..ROOT_HEIGHT.end;
/// Rotation-invariant coordinates: joints 1..21 relative to the root, facing +Z, metres `(21, 3)`.
pub const RIC: Range<usize> = 4..67;
/// Continuous 6D rotations (first two rows of each rotation matrix) of joints 1..21 `(21, 6)`.
pub const ROT6D: Range<usize> = 67..193;
/// Local velocities of all 22 joints in the facing frame, metres per frame `(22, 3)`.
pub const LOCAL_VELOCITY: Range<usize> = 193..259;
/// Foot contacts: left ankle, left toe, right ankle, right toe (1 = contact).
pub const FOOT_CONTACT: Range<usize> = 259..263;

/// The feature groups in order, with the names used in reports.
pub const FEATURE_GROUPS: [(&str, Range<usize>); 7] = [
    ("root_yaw_velocity", ROOT_YAW_VELOCITY),
    ("root_xz_velocity", ROOT_XZ_VELOCITY),
    ("root_height", ROOT_HEIGHT),
    ("ric", RIC),
    ("rot6d", ROT6D),
    ("local_velocity", LOCAL_VELOCITY),
    ("foot_contact", FOOT_CONTACT),
];

/// The feature groups of the layout for `n_joints` joints (HumanML3D 22: [`FEATURE_GROUPS`];
/// KIT-ML 21: the same groups at `4..64`, `64..184`, `184..247`, `247..251`).
pub fn feature_groups(n_joints: usize) -> [(&'static str, Range<usize>); 7] {
    let (ric, rot, vel) = (
        4 + 3 * (n_joints - 1),
        4 + 9 * (n_joints - 1),
        4 + 9 * (n_joints - 1) + 3 * n_joints,
    );
    [
        ("root_yaw_velocity", ROOT_YAW_VELOCITY),
        ("root_xz_velocity", ROOT_XZ_VELOCITY),
        ("root_height", ROOT_HEIGHT),
        ("ric", 4..ric),
        ("rot6d", ric..rot),
        ("local_velocity", rot..vel),
        ("foot_contact", vel..vel + 4),
    ]
}

/// Number of features for a skeleton of `n_joints` joints: `1 + 2 + 1 + (J-1)*3 + (J-1)*6 + J*3 + 4`
/// (263 for HumanML3D's 22 joints, 251 for KIT-ML's 21).
pub const fn n_features_for_joints(n_joints: usize) -> usize {
    4 + (n_joints - 1) * 9 + n_joints * 3 + 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_tile_the_feature_vector() {
        let mut next = 0;
        for (_, r) in FEATURE_GROUPS {
            assert_eq!(r.start, next);
            next = r.end;
        }
        assert_eq!(next, N_FEATURES);
        assert_eq!(feature_groups(N_JOINTS), FEATURE_GROUPS);
        assert_eq!(feature_groups(21)[6].1, 247..251);
        assert_eq!(n_features_for_joints(22), 263);
        assert_eq!(n_features_for_joints(21), 251);
    }
}
