//! The 22-joint SMPL body skeleton used by HumanML3D (`paramUtil.py`: `t2m_raw_offsets`,
//! `t2m_kinematic_chain`).

/// Joint names in HumanML3D order (SMPL joints 0..21).
pub const JOINT_NAMES: [&str; 22] = [
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
];

/// Parent of each joint; the root (pelvis) has none.
pub const PARENTS: [Option<usize>; 22] = [
    None,
    Some(0),
    Some(0),
    Some(0),
    Some(1),
    Some(2),
    Some(3),
    Some(4),
    Some(5),
    Some(6),
    Some(7),
    Some(8),
    Some(9),
    Some(9),
    Some(9),
    Some(12),
    Some(13),
    Some(14),
    Some(16),
    Some(17),
    Some(18),
    Some(19),
];

/// Which side of the body a joint or chain belongs to (for left/right colours).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Left,
    Right,
    Center,
}

/// The five kinematic chains used for drawing (`t2m_kinematic_chain`): right leg, left leg,
/// spine to head, right arm, left arm.
pub const KINEMATIC_CHAINS: [(&[usize], Side); 5] = [
    (&[0, 2, 5, 8, 11], Side::Right),
    (&[0, 1, 4, 7, 10], Side::Left),
    (&[0, 3, 6, 9, 12, 15], Side::Center),
    (&[9, 14, 17, 19, 21], Side::Right),
    (&[9, 13, 16, 18, 20], Side::Left),
];

/// Joints whose contacts are features 259..263: left ankle, left toe, right ankle, right toe.
pub const FOOT_CONTACT_JOINTS: [usize; 4] = [7, 10, 8, 11];

/// Side of joint `j` from its name.
pub fn joint_side(j: usize) -> Side {
    let name = JOINT_NAMES[j];
    if name.starts_with("left_") {
        Side::Left
    } else if name.starts_with("right_") {
        Side::Right
    } else {
        Side::Center
    }
}

/// Bones as `(parent, child)` joint pairs with their side, 21 of them, in joint order.
pub fn bones() -> impl Iterator<Item = (usize, usize, Side)> {
    (1..22).map(|j| {
        let p = PARENTS[j].unwrap_or(0);
        let side = match (joint_side(p), joint_side(j)) {
            (_, Side::Center) => Side::Center,
            (_, s) => s,
        };
        (p, j, side)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_follow_parents() {
        for (chain, _) in KINEMATIC_CHAINS {
            for w in chain.windows(2) {
                assert_eq!(PARENTS[w[1]], Some(w[0]), "chain {chain:?}");
            }
        }
        // Every non-root joint is reached by exactly one chain edge.
        let mut seen = [0; 22];
        for (chain, _) in KINEMATIC_CHAINS {
            for &j in &chain[1..] {
                seen[j] += 1;
            }
        }
        assert_eq!(&seen[1..], &[1; 21]);
        assert_eq!(bones().count(), 21);
    }
}
