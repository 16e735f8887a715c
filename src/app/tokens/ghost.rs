//! What the tokens add to the 3-D view: the DVQ reconstruction as a ghost skeleton over or
//! beside the original, a single code's motion primitive looping beside it, the selected
//! token's frames highlighted on the root trajectory, and the bone tint of the current code.

use bevy::prelude::*;

use super::state::{GhostMode, Tokens, code_color_linear};
use crate::app::RenderRequest;
use crate::app::library::LoadedClips;
use crate::app::playback::Playback;
use crate::app::viewer::SkeletonTint;
use crate::motion::Skeleton;

/// Where the ghost stands in "beside" mode, and the primitive, relative to the primary clip.
const BESIDE: Vec3 = Vec3::new(-1.3, 0.0, 0.0);
const PRIMITIVE: Vec3 = Vec3::new(0.0, 0.0, -1.4);

fn draw_pose(
    gizmos: &mut Gizmos,
    skeleton: Skeleton,
    pose: &[[f32; 3]],
    offset: Vec3,
    color: Color,
) {
    for (parent, child, _) in skeleton.bones() {
        gizmos.line(
            Vec3::from(pose[parent]) + offset,
            Vec3::from(pose[child]) + offset,
            color,
        );
    }
}

pub(super) fn draw_token_overlays(
    clips: Res<LoadedClips>,
    playback: Res<Playback>,
    tokens: Res<Tokens>,
    time: Res<Time>,
    render: Option<Res<RenderRequest>>,
    mut tint: ResMut<SkeletonTint>,
    mut gizmos: Gizmos,
) {
    let Some(primary) = clips.primary.as_ref() else {
        return;
    };
    let Some(tc) = tokens.clip.as_ref().filter(|c| c.id == primary.id) else {
        if tint.token.is_some() {
            tint.token = None;
        }
        return;
    };
    let f = playback.frame();
    let skeleton = primary.joints.skeleton();
    let nj = skeleton.n_joints();
    let frames = tc.recon.len() / nj;
    // Bone tint: the code under the playhead, blending into the next one. A plain headless
    // render (no --studio) keeps the left/right colours of a figure.
    let plain = render.is_some_and(|r| !r.studio);
    let next_tint = tokens.token_at(f).filter(|_| !plain).map(|i| {
        let q = tokens.frames_of(1).start as f32;
        let next = tc.codes.get(i + 1).copied().unwrap_or(tc.codes[i]);
        let x = (playback.position - i as f32 * q) / q;
        (
            code_color_linear(tc.codes[i]),
            code_color_linear(next),
            x.clamp(0.0, 0.999),
        )
    });
    if tint.token != next_tint {
        tint.token = next_tint;
    }
    if f < frames && tokens.ghost != GhostMode::Off {
        let pose = &tc.recon[f * nj..(f + 1) * nj];
        let offset = if tokens.ghost == GhostMode::Beside {
            BESIDE
        } else {
            Vec3::ZERO
        };
        draw_pose(
            &mut gizmos,
            skeleton,
            pose,
            offset,
            Color::srgba(0.95, 0.95, 0.95, 0.75),
        );
    }
    if let Some(sel) = tokens.selected {
        let r = tokens.frames_of(sel);
        let color = Color::from(code_color_linear(tc.codes[sel]));
        let lift = Vec3::new(0.0, 0.01, 0.0);
        let end = r.end.min(primary.joints.frames());
        gizmos.linestrip(
            (r.start..end).map(|t| {
                let p = primary.joints.frame(t)[0];
                Vec3::new(p[0], 0.0, p[2]) + lift
            }),
            color,
        );
        if (r.start..end).contains(&f) {
            let p = primary.joints.frame(f)[0];
            gizmos.circle(
                Isometry3d::new(
                    Vec3::new(p[0], 0.01, p[2]),
                    Quat::from_rotation_x(std::f32::consts::FRAC_PI_2),
                ),
                0.35,
                color,
            );
        }
    }
    if let Some(p) = &tokens.primitive {
        let n = p.joints.len() / nj;
        if n > 0 {
            let t = (time.elapsed_secs() * skeleton.fps()) as usize % n;
            let pose = &p.joints[t * nj..(t + 1) * nj];
            // Loop in place: the primitive's root is moved under the primary clip's root.
            let root = Vec3::from(pose[0]);
            let anchor = Vec3::from(primary.joints.frame(f.min(primary.joints.frames() - 1))[0]);
            let offset = Vec3::new(anchor.x - root.x, 0.0, anchor.z - root.z) + PRIMITIVE;
            draw_pose(
                &mut gizmos,
                skeleton,
                pose,
                offset,
                Color::from(code_color_linear(p.code)),
            );
        }
    }
}
