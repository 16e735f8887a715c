//! The 21-joint KIT-ML skeleton (the KIT whole-body reference model as HumanML3D processes it):
//! `kit_kinematic_chain` and `kit_raw_offsets` of HumanML3D `paramUtil.py`, and the joint indices
//! of its `motion_process.py` for KIT (`fid_r, fid_l = [14, 15], [19, 20]`,
//! `face_joint_indx = [11, 16, 5, 8]`: right hip, left hip, right shoulder, left shoulder;
//! `l_idx1, l_idx2 = 17, 18`; feet threshold 0.05; 12.5 fps). Positions are in millimetres.

use super::skeleton::Side;

/// KIT-ML frame rate (HumanML3D's KIT processing down-samples the 100 Hz capture to 12.5 fps).
pub const FPS: f32 = 12.5;

/// Joint names in KIT-ML order (the reference model's root, BP, BT, BLN, BUN, RS, RE, RW, LS, LE,
/// LW, RH, RK, RA, RMrot, RF, LH, LK, LA, LMrot, LF, spelled out).
pub const JOINT_NAMES: [&str; 21] = [
    "root",
    "pelvis",
    "torso",
    "lower_neck",
    "upper_neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_metatarsal",
    "right_toe",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_metatarsal",
    "left_toe",
];

/// Parent of each joint (from `kit_kinematic_chain`); the root has none.
pub const PARENTS: [Option<usize>; 21] = [
    None,
    Some(0),
    Some(1),
    Some(2),
    Some(3),
    Some(3),
    Some(5),
    Some(6),
    Some(3),
    Some(8),
    Some(9),
    Some(0),
    Some(11),
    Some(12),
    Some(13),
    Some(14),
    Some(0),
    Some(16),
    Some(17),
    Some(18),
    Some(19),
];

/// `kit_kinematic_chain`: right leg, left leg, spine to head, right arm, left arm.
pub const KINEMATIC_CHAINS: [(&[usize], Side); 5] = [
    (&[0, 11, 12, 13, 14, 15], Side::Right),
    (&[0, 16, 17, 18, 19, 20], Side::Left),
    (&[0, 1, 2, 3, 4], Side::Center),
    (&[3, 5, 6, 7], Side::Right),
    (&[3, 8, 9, 10], Side::Left),
];

/// `kit_raw_offsets`: rest direction of each bone, joints 0..20.
pub const RAW_OFFSETS: [[f64; 3]; 21] = [
    [0., 0., 0.],
    [0., 1., 0.],
    [0., 1., 0.],
    [0., 1., 0.],
    [0., 1., 0.],
    [1., 0., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [-1., 0., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [1., 0., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., 0., 1.],
    [0., 0., 1.],
    [-1., 0., 0.],
    [0., -1., 0.],
    [0., -1., 0.],
    [0., 0., 1.],
    [0., 0., 1.],
];

/// Foot-contact joints in feature order: `fid_l` (left metatarsal, left toe) then `fid_r`.
pub const FOOT_CONTACT_JOINTS: [usize; 4] = [19, 20, 14, 15];

/// `face_joint_indx`: right hip, left hip, right shoulder, left shoulder.
pub const FACE_JOINTS: [usize; 4] = [11, 16, 5, 8];

/// Foot-contact threshold of `process_file` for KIT (squared displacement per frame, mm²).
pub const FOOT_CONTACT_THRESHOLD: f64 = 0.05;
