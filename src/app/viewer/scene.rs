use bevy::prelude::*;

use super::state::{COMPARE_OFFSET, JointMaterials, PartKind, SkeletonPart, ViewerSettings};
use super::tint::{TintedHandles, TintedMaterial, TokenTint};
use crate::app::library::{LoadedClips, Slot};
use crate::app::playback::Playback;
use crate::motion::skeleton::Side;
use crate::motion::{Clip, Skeleton};

const BONE_RADIUS: f32 = 0.022;
const JOINT_RADIUS: f32 = 0.032;
const HEAD_RADIUS: f32 = 0.085;

/// Bone colours: left side blue, right side red, spine light grey (the compare clip is paler).
fn side_color(side: Side, slot: usize) -> Color {
    let (r, g, b) = match side {
        Side::Left => (0.18, 0.42, 0.95),
        Side::Right => (0.93, 0.26, 0.22),
        Side::Center => (0.82, 0.82, 0.80),
    };
    if slot == 0 {
        Color::srgb(r, g, b)
    } else {
        Color::srgb(0.45 + 0.55 * r, 0.45 + 0.55 * g, 0.45 + 0.55 * b)
    }
}

const CONTACT_COLOR: Color = Color::srgb(0.35, 0.95, 0.35);

pub(super) fn spawn_scene(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut tinted: ResMut<Assets<TintedMaterial>>,
    mut tinted_handles: ResMut<TintedHandles>,
) {
    commands.spawn((
        DirectionalLight {
            illuminance: 9000.0,
            shadow_maps_enabled: true,
            ..default()
        },
        Transform::from_xyz(3.0, 8.0, 5.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.spawn((
        Mesh3d(meshes.add(Plane3d::default().mesh().size(200.0, 200.0))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(0.2, 0.2, 0.21),
            perceptual_roughness: 0.95,
            ..default()
        })),
        Transform::from_xyz(0.0, -0.002, 0.0),
    ));

    let bone_mesh = meshes.add(Cylinder::new(BONE_RADIUS, 1.0).mesh().resolution(16));
    let joint_mesh = meshes.add(Sphere::new(JOINT_RADIUS).mesh().uv(16, 10));
    let head_mesh = meshes.add(Sphere::new(HEAD_RADIUS).mesh().uv(24, 16));
    let contact = materials.add(StandardMaterial {
        base_color: CONTACT_COLOR,
        emissive: LinearRgba::rgb(0.1, 0.5, 0.1),
        ..default()
    });
    for slot in 0..2 {
        let mut mat = |side: Side| {
            materials.add(StandardMaterial {
                base_color: side_color(side, slot),
                perceptual_roughness: 0.55,
                ..default()
            })
        };
        let side_mats = [mat(Side::Left), mat(Side::Right), mat(Side::Center)];
        let pick = |side: Side| side_mats[side as usize].clone();
        // The primary skeleton's bones carry the token tint (see `tint.rs`).
        let tinted_mats: Vec<Handle<TintedMaterial>> = [Side::Left, Side::Right, Side::Center]
            .iter()
            .map(|&side| {
                tinted.add(TintedMaterial {
                    base: StandardMaterial {
                        base_color: side_color(side, slot),
                        perceptual_roughness: 0.55,
                        ..default()
                    },
                    extension: TokenTint::default(),
                })
            })
            .collect();
        if slot == 0 {
            tinted_handles.0 = tinted_mats.clone();
        }
        for skeleton in Skeleton::ALL {
            for (parent, child, side) in skeleton.bones() {
                let part = SkeletonPart {
                    slot,
                    skeleton,
                    kind: PartKind::Bone { parent, child },
                };
                let mut e = commands.spawn((
                    Mesh3d(bone_mesh.clone()),
                    Transform::default(),
                    Visibility::Hidden,
                    part,
                ));
                if slot == 0 {
                    e.insert(MeshMaterial3d(tinted_mats[side as usize].clone()));
                } else {
                    e.insert(MeshMaterial3d(pick(side)));
                }
            }
            for joint in 0..skeleton.n_joints() {
                let normal = pick(skeleton.joint_side(joint));
                let contact_index = skeleton
                    .foot_contact_joints()
                    .iter()
                    .position(|&j| j == joint);
                commands.spawn((
                    Mesh3d(if joint == skeleton.head() {
                        head_mesh.clone()
                    } else {
                        joint_mesh.clone()
                    }),
                    MeshMaterial3d(normal.clone()),
                    Transform::default(),
                    Visibility::Hidden,
                    SkeletonPart {
                        slot,
                        skeleton,
                        kind: PartKind::Joint {
                            joint,
                            contact: contact_index,
                        },
                    },
                    JointMaterials {
                        normal,
                        contact: contact.clone(),
                    },
                ));
            }
        }
    }
}

/// Joint positions `(J,)` of `clip` at fractional frame `position` (linear between frames),
/// metres.
pub fn pose_at(clip: &Clip, position: f32) -> Vec<Vec3> {
    let last = clip.joints.frames() - 1;
    let f0 = (position.max(0.0).floor() as usize).min(last);
    let f1 = (f0 + 1).min(last);
    let w = (position - f0 as f32).clamp(0.0, 1.0);
    let (a, b) = (clip.joints.frame(f0), clip.joints.frame(f1));
    a.iter()
        .zip(b)
        .map(|(a, b)| Vec3::from(*a).lerp(Vec3::from(*b), w))
        .collect()
}

/// Clip shown in a slot and its playhead (the compare clip holds on its last frame).
pub(super) fn slot_clip<'a>(clips: &'a LoadedClips, slot: usize) -> Option<(&'a Clip, Vec3)> {
    match slot {
        0 => clips.get(Slot::Primary).map(|c| (c, Vec3::ZERO)),
        _ => clips.get(Slot::Compare).map(|c| (c, COMPARE_OFFSET)),
    }
}

pub(super) fn pose_skeletons(
    clips: Res<LoadedClips>,
    playback: Res<Playback>,
    settings: Res<ViewerSettings>,
    mut parts: Query<(
        &SkeletonPart,
        &mut Transform,
        &mut Visibility,
        Option<(&JointMaterials, &mut MeshMaterial3d<StandardMaterial>)>,
    )>,
) {
    type Pose = (Vec<Vec3>, [bool; 4], Skeleton);
    let poses: [Option<Pose>; 2] = std::array::from_fn(|slot| {
        slot_clip(&clips, slot).map(|(clip, offset)| {
            let mut pose = pose_at(clip, playback.position);
            pose.iter_mut().for_each(|p| *p += offset);
            let f = (playback.frame()).min(clip.features.frames() - 1);
            (pose, clip.features.foot_contact(f), clip.joints.skeleton())
        })
    });
    for (part, mut transform, mut visibility, mats) in &mut parts {
        let Some((pose, contacts, _)) = poses[part.slot]
            .as_ref()
            .filter(|(_, _, skeleton)| *skeleton == part.skeleton)
        else {
            *visibility = Visibility::Hidden;
            continue;
        };
        *visibility = Visibility::Visible;
        match part.kind {
            PartKind::Bone { parent, child } => {
                let (a, b) = (pose[parent], pose[child]);
                let d = b - a;
                let len = d.length();
                transform.translation = (a + b) * 0.5;
                transform.rotation = if len > 1e-6 {
                    Quat::from_rotation_arc(Vec3::Y, d / len)
                } else {
                    Quat::IDENTITY
                };
                transform.scale = Vec3::new(1.0, len.max(1e-4), 1.0);
            }
            PartKind::Joint { joint, contact } => {
                transform.translation = pose[joint];
                if let (Some((m, mut current)), Some(c)) = (mats, contact) {
                    let want = if settings.show_foot_contact && contacts[c] {
                        &m.contact
                    } else {
                        &m.normal
                    };
                    if current.0 != *want {
                        current.0 = want.clone();
                    }
                }
            }
        }
    }
}

/// Ground grid around the primary root, root trajectories, and contact rings on the floor.
pub(super) fn draw_ground_and_trajectory(
    clips: Res<LoadedClips>,
    playback: Res<Playback>,
    settings: Res<ViewerSettings>,
    mut gizmos: Gizmos,
) {
    let center = clips
        .get(Slot::Primary)
        .map(|c| pose_at(c, playback.position)[0])
        .unwrap_or(Vec3::ZERO);
    if settings.show_grid {
        let snapped = Vec3::new(
            (center.x * 2.0).round() / 2.0,
            0.001,
            (center.z * 2.0).round() / 2.0,
        );
        gizmos.grid(
            Isometry3d::new(snapped, Quat::from_rotation_x(std::f32::consts::FRAC_PI_2)),
            UVec2::splat(24),
            Vec2::splat(0.5),
            LinearRgba::gray(0.38),
        );
    }
    for slot in 0..2 {
        let Some((clip, offset)) = slot_clip(&clips, slot) else {
            continue;
        };
        let f = playback.frame().min(clip.joints.frames() - 1);
        if settings.show_trajectory {
            let lift = Vec3::new(0.0, 0.004, 0.0);
            let path = |range: std::ops::Range<usize>| {
                range.map(move |t| {
                    let r = clip.joints.frame(t)[0];
                    Vec3::new(r[0], 0.0, r[2]) + offset + lift
                })
            };
            gizmos.linestrip(path(0..f + 1), Color::srgb(0.98, 0.78, 0.25));
            gizmos.linestrip(
                path(f..clip.joints.frames()),
                Color::srgba(0.98, 0.78, 0.25, 0.35),
            );
        }
        if settings.show_foot_contact {
            let contacts = clip.features.foot_contact(f);
            let pose = clip.joints.frame(f);
            let joints = clip.joints.skeleton().foot_contact_joints();
            for (c, &j) in joints.iter().enumerate() {
                if contacts[c] {
                    let p = Vec3::new(pose[j][0], 0.003, pose[j][2]) + offset;
                    gizmos
                        .circle(
                            Isometry3d::new(p, Quat::from_rotation_x(std::f32::consts::FRAC_PI_2)),
                            0.06,
                            CONTACT_COLOR,
                        )
                        .resolution(24);
                }
            }
        }
    }
}
