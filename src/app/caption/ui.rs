use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::state::LiveCaption;
use crate::app::{StudioUi, UiFrame};

/// Text size of the caption over the 3-D view, points (larger in presentation mode).
const CAPTION_SIZE: f32 = 20.0;
const PRESENTATION_SIZE: f32 = 34.0;
/// Colour of a caption shown as a guess (any `eval::doubt::Doubt`), and of a sure one's note.
const UNSURE: egui::Color32 = egui::Color32::from_rgb(255, 190, 90);
const SURE: egui::Color32 = egui::Color32::from_rgb(150, 230, 150);

/// The live caption over the top of the 3-D view: the text as it streams in, the device, the
/// latency to the first text and to the end, and which tokens it describes.
pub(super) fn caption_overlay_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    live: Res<LiveCaption>,
    render: Option<Res<crate::app::RenderRequest>>,
) -> Result {
    // A plain `render` draws the skeleton only: the same PNG whenever the caption arrives.
    if render.is_some_and(|r| !r.studio) {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let area = frame.free;
    if !area.is_positive() {
        return Ok(());
    }
    let size = if studio.visible {
        CAPTION_SIZE
    } else {
        PRESENTATION_SIZE
    };
    // Under the row of view options and buttons (as tall as it wrapped in the last pass).
    let top = if studio.visible {
        (area.top() + 46.0).max(frame.top_row_bottom + 6.0)
    } else {
        area.top() + 16.0
    };
    let shown = egui::Area::new(egui::Id::new("live_caption"))
        .fixed_pos(egui::pos2(area.left() + 12.0, top))
        .order(egui::Order::Background)
        .interactable(false)
        .show(ctx, |ui| {
            ui.set_max_width(area.width() - 24.0);
            egui::Frame::new()
                .fill(egui::Color32::from_black_alpha(150))
                .corner_radius(6.0)
                .inner_margin(8.0)
                .show(ui, |ui| {
                    let text = if live.text.is_empty() {
                        if live.busy() { "…" } else { "" }.to_string()
                    } else {
                        format!("“{}”", live.text)
                    };
                    if let Some(why) = &live.blocked {
                        ui.label(egui::RichText::new(why).size(size * 0.6).color(UNSURE));
                    }
                    let unsure = live.done && !live.doubts.is_empty();
                    if !text.is_empty() {
                        let color = if unsure { UNSURE } else { egui::Color32::WHITE };
                        ui.label(egui::RichText::new(text).size(size).color(color));
                    }
                    if let Some(c) = live.confidence.filter(|_| live.done) {
                        let (line, color) = if unsure {
                            let why: Vec<String> =
                                live.doubts.iter().map(|d| d.to_string()).collect();
                            (format!("unsure: {}", why.join("; ")), UNSURE)
                        } else {
                            let mut line = format!(
                                "sure: least likely word p = {:.2}, mean log p {:.2}",
                                c.min_prob, c.mean_logprob
                            );
                            if live.nearest.is_some() {
                                line.push_str(", agrees with the nearest training take");
                            }
                            (line, SURE)
                        };
                        let line = match &live.style {
                            Some(read) => format!("{line} · style read: {read}"),
                            None => line,
                        };
                        ui.label(egui::RichText::new(line).size(size * 0.6).color(color));
                    } else if unsure {
                        // A released captioner's caption: no confidence of ours, only why.
                        let why: Vec<String> = live.doubts.iter().map(|d| d.to_string()).collect();
                        ui.label(
                            egui::RichText::new(format!("unsure: {}", why.join("; ")))
                                .size(size * 0.6)
                                .color(UNSURE),
                        );
                    }
                    if !studio.visible {
                        return;
                    }
                    let mut info = live.status.lines().next().unwrap_or_default().to_string();
                    if let Some(k) = &live.key {
                        info.push_str(&format!(
                            " · {} tokens {}–{}{}",
                            k.clip,
                            k.tokens.start,
                            k.tokens.end.saturating_sub(1),
                            if k.whole { " (whole clip)" } else { "" }
                        ));
                    }
                    if let Some(ms) = live.first_ms {
                        info.push_str(&format!(" · first text {ms:.0} ms"));
                    }
                    if let Some(ms) = live.total_ms {
                        info.push_str(&format!(" · done in {ms:.0} ms"));
                    } else if live.busy() {
                        info.push_str(" · captioning…");
                    }
                    // Readable on the dark frame: 12 pt light grey, not egui's small weak text.
                    ui.label(
                        egui::RichText::new(info)
                            .size(12.0)
                            .color(egui::Color32::from_gray(200)),
                    );
                });
        });
    frame.overlay("live_caption", shown.response.rect);
    Ok(())
}
