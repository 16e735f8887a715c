//! In compare mode, a name over each skeleton: which one is the clip chosen in the browser and
//! which the compare clip (standing [`COMPARE_OFFSET`] to its left, often nearer the camera, it
//! looked like the main one).

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::scene::{pose_at, slot_clip};
use super::state::OrbitCamera;
use crate::app::StudioUi;
use crate::app::library::LoadedClips;
use crate::app::playback::Playback;

pub(super) fn compare_labels_ui(
    mut contexts: EguiContexts,
    studio: Res<StudioUi>,
    clips: Res<LoadedClips>,
    playback: Res<Playback>,
    cameras: Query<(&Camera, &GlobalTransform), With<OrbitCamera>>,
) -> Result {
    // Only with two skeletons, and in the studio (a talk's presentation mode stays clean).
    if !studio.visible || slot_clip(&clips, 1).is_none() {
        return Ok(());
    }
    let Ok((camera, at)) = cameras.single() else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    for slot in 0..2 {
        let Some((clip, offset)) = slot_clip(&clips, slot) else {
            continue;
        };
        let above_head = pose_at(clip, playback.position)[clip.joints.skeleton().head()]
            + offset
            + Vec3::Y * 0.25;
        let Ok(p) = camera.world_to_viewport(at, above_head) else {
            continue;
        };
        let name = if slot == 0 { "primary" } else { "compare" };
        egui::Area::new(egui::Id::new(("skeleton_label", slot)))
            .fixed_pos(egui::pos2(p.x, p.y))
            .pivot(egui::Align2::CENTER_BOTTOM)
            .order(egui::Order::Background)
            .interactable(false)
            .show(ctx, |ui| {
                egui::Frame::new()
                    .fill(egui::Color32::from_black_alpha(160))
                    .corner_radius(4.0)
                    .inner_margin(egui::Margin::symmetric(6, 2))
                    .show(ui, |ui| {
                        ui.label(
                            egui::RichText::new(format!("{name}: {}", clip.id))
                                .color(egui::Color32::WHITE),
                        );
                    });
            });
    }
    Ok(())
}
