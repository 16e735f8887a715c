use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::state::{Playback, SPEEDS};
use crate::app::{StudioUi, UiFrame};

/// The transport bar: play/pause, step, scrub, speed, loop, frame and time readout.
pub(super) fn transport_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    mut playback: ResMut<Playback>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let mut root = frame.root(ctx, "transport");
    egui::Panel::bottom("transport").show(&mut root, |ui| {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            let p = &mut *playback;
            if ui.button("⏮").on_hover_text("first frame (Home)").clicked() {
                p.step(i64::MIN / 2);
            }
            if ui.button("◀").on_hover_text("previous frame (←)").clicked() {
                p.step(-1);
            }
            let label = if p.playing { "⏸" } else { "▶" };
            if ui
                .button(label)
                .on_hover_text("play/pause (Space)")
                .clicked()
            {
                p.playing = !p.playing;
            }
            if ui.button("▶|").on_hover_text("next frame (→)").clicked() {
                p.step(1);
            }
            ui.checkbox(&mut p.looping, "loop");
            egui::ComboBox::from_id_salt("speed")
                .width(70.0)
                .selected_text(format!("{}×", p.speed))
                .show_ui(ui, |ui| {
                    for s in SPEEDS {
                        ui.selectable_value(&mut p.speed, s, format!("{s}×"));
                    }
                });
            let frames = p.frames;
            ui.label(
                egui::RichText::new(format!(
                    "frame {:>4} / {}   {:>6.2} s / {:.2} s   {} fps",
                    p.frame(),
                    frames.saturating_sub(1),
                    p.time_secs(),
                    frames as f32 / p.fps,
                    p.fps
                ))
                .monospace(),
            );
        });
        let p = &mut *playback;
        if p.frames > 1 {
            let mut f = p.frame();
            ui.spacing_mut().slider_width = ui.available_width() - 60.0;
            let r = ui.add(egui::Slider::new(&mut f, 0..=p.frames - 1).show_value(true));
            if r.changed() {
                p.playing = false;
                p.seek(f);
            }
        }
        ui.add_space(2.0);
    });
    frame.finish(&root);
    Ok(())
}
