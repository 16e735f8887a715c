use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::camera::reset;
use super::state::{OrbitCamera, ViewerSettings};
use crate::app::{StudioUi, UiFrame};

/// View options floating in the top-left corner of the 3-D view.
pub(super) fn view_options_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    mut settings: ResMut<ViewerSettings>,
    mut cameras: Query<&mut OrbitCamera>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    // Wraps onto more rows in a narrow view, clear of the Train and Review buttons at the right.
    let width = (frame.free.width() - TOP_RIGHT_BUTTONS).max(160.0);
    let shown = egui::Area::new(egui::Id::new("view_options"))
        .fixed_pos(frame.free.min + egui::vec2(8.0, 8.0))
        .order(egui::Order::Background)
        .show(ctx, |ui| {
            ui.set_max_width(width);
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.checkbox(&mut settings.follow_root, "follow root (F)");
                    ui.checkbox(&mut settings.show_trajectory, "trajectory");
                    ui.checkbox(&mut settings.show_foot_contact, "foot contact");
                    ui.checkbox(&mut settings.show_grid, "grid");
                    if ui.button("reset camera (C)").clicked() {
                        for mut cam in &mut cameras {
                            reset(&mut cam, &mut settings);
                        }
                    }
                });
            });
        });
    frame.overlay("view_options", shown.response.rect);
    frame.top_row_bottom = shown.response.rect.bottom();
    Ok(())
}

/// Width kept free at the top right of the view for the Train and Review buttons, points.
pub const TOP_RIGHT_BUTTONS: f32 = 290.0;
