//! The frame-time readout: the longest frame of the last two seconds beside the longest frame
//! measured while nothing ran in the background (captioning, training), so a user sees whether
//! background work slows the render thread.

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::app::caption::LiveCaption;
use crate::app::{StudioUi, UiFrame, UiSystems};

/// Seconds of frame times kept.
const WINDOW_SECS: f32 = 2.0;

/// Recent frame times and the idle baseline.
#[derive(Resource, Default, Debug)]
pub struct FrameTimes {
    /// `(seconds since start, frame time in ms, busy)`, oldest first.
    recent: VecDeque<(f32, f32, bool)>,
    /// Longest frame of the latest full idle window, ms.
    pub idle_longest_ms: Option<f32>,
    /// Longest frame while background work ran (after start-up), ms.
    pub busy_longest_ms: Option<f32>,
    /// Set by background features while they work.
    pub busy: bool,
}

impl FrameTimes {
    /// Longest frame of the last two seconds, ms.
    pub fn longest_ms(&self) -> f32 {
        self.recent.iter().map(|r| r.1).fold(0.0, f32::max)
    }
    /// Mean frame time of the last two seconds, ms.
    pub fn mean_ms(&self) -> f32 {
        self.recent.iter().map(|r| r.1).sum::<f32>() / self.recent.len().max(1) as f32
    }
}

fn record(time: Res<Time<Real>>, live: Res<LiveCaption>, mut ft: ResMut<FrameTimes>) {
    // Real time: the virtual clock clamps each step at 250 ms.
    let now = time.elapsed_secs();
    let busy = ft.busy || live.busy();
    let dt = time.delta_secs() * 1e3;
    ft.recent.push_back((now, dt, busy));
    if busy && now > 5.0 {
        ft.busy_longest_ms = Some(ft.busy_longest_ms.map_or(dt, |m| m.max(dt)));
    }
    while ft.recent.front().is_some_and(|r| now - r.0 > WINDOW_SECS) {
        ft.recent.pop_front();
    }
    // A full window with nothing in the background sets the idle baseline (skip start-up).
    let full = ft
        .recent
        .front()
        .is_some_and(|r| now - r.0 > WINDOW_SECS * 0.95);
    if now > 5.0 && full && ft.recent.iter().all(|r| !r.2) {
        ft.idle_longest_ms = Some(ft.longest_ms());
    }
}

fn readout_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    ft: Res<FrameTimes>,
    live: Res<LiveCaption>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let area = frame.free;
    let busy = ft.busy || live.busy();
    let text = format!(
        "frame {:.1} ms · longest (2 s) {:.1} ms · idle longest {}{}",
        ft.mean_ms(),
        ft.longest_ms(),
        ft.idle_longest_ms
            .map_or("–".to_string(), |v| format!("{v:.1} ms")),
        if busy {
            " · background work running"
        } else {
            ""
        }
    );
    // Bottom-left, growing upwards; wraps short of the export buttons and notice at the right.
    let shown = egui::Area::new(egui::Id::new("frame_times"))
        .fixed_pos(egui::pos2(area.left() + 12.0, area.bottom() - 8.0))
        .pivot(egui::Align2::LEFT_BOTTOM)
        .order(egui::Order::Background)
        .interactable(false)
        .show(ctx, |ui| {
            ui.set_max_width((area.width() * 0.5 - 24.0).max(120.0));
            egui::Frame::new()
                .fill(egui::Color32::from_black_alpha(140))
                .corner_radius(3.0)
                .inner_margin(3.0)
                .show(ui, |ui| {
                    ui.add(
                        egui::Label::new(
                            egui::RichText::new(text)
                                .small()
                                .monospace()
                                .color(egui::Color32::from_gray(200)),
                        )
                        .wrap_mode(egui::TextWrapMode::Wrap),
                    );
                });
        });
    frame.overlay("frame_times", shown.response.rect);
    Ok(())
}

pub struct PerfPlugin;

impl Plugin for PerfPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<FrameTimes>()
            .add_systems(Last, record)
            .add_systems(
                EguiPrimaryContextPass,
                readout_ui.in_set(UiSystems::Overlay),
            );
    }
}
