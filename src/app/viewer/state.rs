use bevy::prelude::*;

use crate::motion::Skeleton;

/// Where the compare clip stands relative to the primary one, metres (to its left, +X).
pub const COMPARE_OFFSET: Vec3 = Vec3::new(1.5, 0.0, 0.0);

/// What the view draws and how the camera behaves.
#[derive(Resource, Debug)]
pub struct ViewerSettings {
    /// Keep the camera's focus on the primary clip's root.
    pub follow_root: bool,
    pub show_trajectory: bool,
    pub show_foot_contact: bool,
    pub show_grid: bool,
}

impl Default for ViewerSettings {
    fn default() -> Self {
        Self {
            follow_root: true,
            show_trajectory: true,
            show_foot_contact: true,
            show_grid: true,
        }
    }
}

/// Which skeleton an entity belongs to: slot 0 = primary, 1 = compare; each slot has the parts
/// of both skeletons (HumanML3D, KIT-ML), shown for clips of that skeleton only.
#[derive(Component, Debug, Clone, Copy)]
pub(super) struct SkeletonPart {
    pub slot: usize,
    pub skeleton: Skeleton,
    pub kind: PartKind,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum PartKind {
    /// A bone from `parent` to `child` joint.
    Bone { parent: usize, child: usize },
    /// A joint sphere; `contact` is its foot-contact feature index (0..4) if it has one.
    Joint {
        joint: usize,
        contact: Option<usize>,
    },
}

/// Materials of a joint sphere: normal and in foot contact.
#[derive(Component, Debug, Clone)]
pub(super) struct JointMaterials {
    pub normal: Handle<StandardMaterial>,
    pub contact: Handle<StandardMaterial>,
}

/// The orbit camera: looks at `focus` from `distance` metres, at `yaw` about +Y (0 = from +Z)
/// and `pitch` above the horizon, radians.
#[derive(Component, Debug, Clone)]
pub(super) struct OrbitCamera {
    pub focus: Vec3,
    pub yaw: f32,
    pub pitch: f32,
    pub distance: f32,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        Self {
            focus: Vec3::new(0.0, 0.9, 0.0),
            yaw: 0.6,
            pitch: 0.22,
            distance: 4.2,
        }
    }
}

impl OrbitCamera {
    pub fn transform(&self) -> Transform {
        let dir = Vec3::new(
            self.pitch.cos() * self.yaw.sin(),
            self.pitch.sin(),
            self.pitch.cos() * self.yaw.cos(),
        );
        Transform::from_translation(self.focus + dir * self.distance)
            .looking_at(self.focus, Vec3::Y)
    }
}
