//! The skeletons of the field's two datasets: the 22-joint SMPL body skeleton of HumanML3D
//! (`paramUtil.py`: `t2m_raw_offsets`, `t2m_kinematic_chain`; the constants below) and the
//! 21-joint KIT-ML skeleton ([`super::kit`]), with [`Skeleton`] choosing between them.

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

/// Side of joint `j` of the HumanML3D skeleton from its name.
pub fn joint_side(j: usize) -> Side {
    Skeleton::HumanMl3d.joint_side(j)
}

/// Bones of the HumanML3D skeleton as `(parent, child)` joint pairs with the child's side, 21 of
/// them, in joint order.
pub fn bones() -> impl Iterator<Item = (usize, usize, Side)> {
    Skeleton::HumanMl3d.bones()
}

/// Which skeleton (and so which feature layout, frame rate and unit) a motion uses.
///
/// HumanML3D: 22 SMPL joints, 263 features, 20 fps, metres. KIT-ML: 21 joints of the KIT
/// whole-body model, 251 features, 12.5 fps, millimetres (HumanML3D's `motion_process.py` for
/// KIT, `joints_num = 21`; T2M-GPT `visualization/plot_3d_global.py` sizes its axes 1000 for
/// KIT against 2 for HumanML3D). The layout is the same formula for both
/// ([`super::layout::n_features_for_joints`]); only the joint tables differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Skeleton {
    #[default]
    HumanMl3d,
    KitMl,
}

impl Skeleton {
    /// Both skeletons.
    pub const ALL: [Skeleton; 2] = [Skeleton::HumanMl3d, Skeleton::KitMl];

    /// The skeleton whose feature vector is `width` wide (263 or 251), if any.
    pub fn from_features(width: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.n_features() == width)
    }

    /// The skeleton of `n_joints` joints (22 or 21), if any.
    pub fn from_joints(n_joints: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.n_joints() == n_joints)
    }

    /// The dataset's name as papers write it.
    pub fn name(self) -> &'static str {
        match self {
            Skeleton::HumanMl3d => "HumanML3D",
            Skeleton::KitMl => "KIT-ML",
        }
    }

    /// Joints J (22 or 21).
    pub fn n_joints(self) -> usize {
        self.joint_names().len()
    }

    /// Features per frame, `12·J − 1` (263 or 251).
    pub fn n_features(self) -> usize {
        super::layout::n_features_for_joints(self.n_joints())
    }

    /// Frames per second (20 or 12.5).
    pub fn fps(self) -> f32 {
        match self {
            Skeleton::HumanMl3d => super::layout::FPS,
            Skeleton::KitMl => super::kit::FPS,
        }
    }

    /// Metres per unit of the dataset's positions and velocities (1 or 0.001).
    pub fn metres_per_unit(self) -> f32 {
        match self {
            Skeleton::HumanMl3d => 1.0,
            Skeleton::KitMl => 0.001,
        }
    }

    /// Joint names in the dataset's order.
    pub fn joint_names(self) -> &'static [&'static str] {
        match self {
            Skeleton::HumanMl3d => &JOINT_NAMES,
            Skeleton::KitMl => &super::kit::JOINT_NAMES,
        }
    }

    /// Parent of each joint; the root has none.
    pub fn parents(self) -> &'static [Option<usize>] {
        match self {
            Skeleton::HumanMl3d => &PARENTS,
            Skeleton::KitMl => &super::kit::PARENTS,
        }
    }

    /// The kinematic chains (`t2m_kinematic_chain` / `kit_kinematic_chain`) with their sides.
    pub fn chains(self) -> &'static [(&'static [usize], Side)] {
        match self {
            Skeleton::HumanMl3d => &KINEMATIC_CHAINS,
            Skeleton::KitMl => &super::kit::KINEMATIC_CHAINS,
        }
    }

    /// The joints whose contacts are the last 4 features: the left foot's two (HumanML3D: ankle,
    /// toe; KIT-ML: metatarsal, toe), then the right foot's (`fid_l`, `fid_r` of
    /// `motion_process.py`).
    pub fn foot_contact_joints(self) -> [usize; 4] {
        match self {
            Skeleton::HumanMl3d => FOOT_CONTACT_JOINTS,
            Skeleton::KitMl => super::kit::FOOT_CONTACT_JOINTS,
        }
    }

    /// The head joint (HumanML3D: head 15; KIT-ML: upper neck 4, the top of its spine chain).
    pub fn head(self) -> usize {
        match self {
            Skeleton::HumanMl3d => 15,
            Skeleton::KitMl => 4,
        }
    }

    /// The wrist joints, left then right (HumanML3D 20, 21; KIT-ML 10, 7).
    pub fn wrists(self) -> [usize; 2] {
        match self {
            Skeleton::HumanMl3d => [20, 21],
            Skeleton::KitMl => [10, 7],
        }
    }

    /// Side of joint `j` from its name (`left_…`, `right_…`, else centre). Panics if `j ≥ J`.
    pub fn joint_side(self, j: usize) -> Side {
        let name = self.joint_names()[j];
        if name.starts_with("left_") {
            Side::Left
        } else if name.starts_with("right_") {
            Side::Right
        } else {
            Side::Center
        }
    }

    /// Bones as `(parent, child, side)`, `J − 1` of them, in joint order.
    pub fn bones(self) -> impl Iterator<Item = (usize, usize, Side)> {
        let parents = self.parents();
        (1..parents.len()).map(move |j| {
            let p = parents[j].unwrap_or(0);
            (p, j, self.joint_side(j))
        })
    }

    /// Global joint positions `(T, J, 3)` in metres from `(T, 12·J − 1)` features in the
    /// dataset's units ([`super::recover_from_ric`], then scaled by [`Self::metres_per_unit`]).
    pub fn joints_in_metres(self, features: &[f32]) -> Vec<[f32; 3]> {
        let scale = self.metres_per_unit();
        let mut p = super::recover::recover_from_ric(features, self.n_features());
        if scale != 1.0 {
            p.iter_mut().flatten().for_each(|v| *v *= scale);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_skeletons_are_trees_their_chains_cover() {
        for s in Skeleton::ALL {
            let parents = s.parents();
            assert_eq!(parents.len(), s.n_joints());
            assert_eq!(parents[0], None);
            let mut seen = vec![0; s.n_joints()];
            for (chain, _) in s.chains() {
                for w in chain.windows(2) {
                    assert_eq!(parents[w[1]], Some(w[0]), "{} chain {chain:?}", s.name());
                    seen[w[1]] += 1;
                }
            }
            assert!(seen[1..].iter().all(|&n| n == 1), "{}: {seen:?}", s.name());
            assert_eq!(s.bones().count(), s.n_joints() - 1);
            assert_eq!(Skeleton::from_features(s.n_features()), Some(s));
            // Contacts: two left joints then two right ones.
            let c = s.foot_contact_joints();
            assert_eq!(s.joint_side(c[0]), Side::Left);
            assert_eq!(s.joint_side(c[1]), Side::Left);
            assert_eq!(s.joint_side(c[2]), Side::Right);
            assert_eq!(s.joint_side(c[3]), Side::Right);
        }
        assert_eq!(Skeleton::HumanMl3d.n_features(), 263);
        assert_eq!(Skeleton::KitMl.n_features(), 251);
        assert_eq!(Skeleton::from_features(250), None);
    }

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
