//! The token timeline under the scrub bar: one cell per code (8 frames), coloured by code id;
//! hovering shows the code, its frames and its usage over the open split; clicking seeks to the
//! token and highlights its frames. While a text-to-motion job writes codes, they fill the
//! strip as they come.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::state::{Tokens, code_color};
use crate::app::playback::Playback;
use crate::app::{StudioUi, UiFrame};

const HEIGHT: f32 = 20.0;

pub(super) fn timeline_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    mut tokens: ResMut<Tokens>,
    mut playback: ResMut<Playback>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let mut root = frame.root(ctx, "timeline");
    egui::Panel::bottom("timeline").show(&mut root, |ui| {
        ui.add_space(2.0);
        if let Some((codes, total)) = &tokens.streaming {
            streaming_strip(ui, codes, *total);
            ui.add_space(2.0);
            return;
        }
        let Some(clip) = tokens.clip.clone() else {
            ui.label(egui::RichText::new(format!("tokens: {}", tokens.status)).weak());
            return;
        };
        if playback.frames == 0 {
            return;
        }
        // Cells span the same frames-to-pixels map as the whole clip; trailing frames without
        // a code (T mod 8) stay empty.
        let width = ui.available_width() - 60.0;
        let (rect, resp) = ui.allocate_exact_size(egui::vec2(width, HEIGHT), egui::Sense::click());
        let painter = ui.painter_at(rect);
        let px_per_frame = rect.width() / playback.frames as f32;
        let fps = playback.fps;
        let cell = |i: usize| {
            let r = tokens.frames_of(i);
            egui::Rect::from_min_max(
                egui::pos2(rect.left() + r.start as f32 * px_per_frame, rect.top()),
                egui::pos2(rect.left() + r.end as f32 * px_per_frame, rect.bottom()),
            )
        };
        for (i, &c) in clip.codes.iter().enumerate() {
            painter.rect_filled(cell(i).shrink2(egui::vec2(0.5, 0.0)), 1.0, code_color(c));
        }
        let current = tokens.token_at(playback.frame());
        if let Some(r) = tokens.selection.clone().filter(|r| r.len() >= 2) {
            // Inside the strip: the painter clips to it, so an outside stroke lost its top and
            // bottom edges and the range looked unmarked.
            let span = cell(r.start).union(cell(r.end - 1));
            painter.rect_filled(
                span,
                2.0,
                egui::Color32::from_rgba_unmultiplied(255, 210, 80, 90),
            );
            painter.rect_stroke(
                span,
                2.0,
                egui::Stroke::new(2.0, egui::Color32::from_rgb(255, 210, 80)),
                egui::StrokeKind::Inside,
            );
        }
        for (i, stroke) in [
            (current, egui::Stroke::new(1.5, egui::Color32::WHITE)),
            (
                tokens.selected,
                egui::Stroke::new(2.5, egui::Color32::YELLOW),
            ),
        ] {
            if let Some(i) = i {
                painter.rect_stroke(cell(i), 1.0, stroke, egui::StrokeKind::Inside);
            }
        }
        let head = rect.left() + playback.position * px_per_frame;
        painter.vline(
            head,
            rect.y_range(),
            egui::Stroke::new(1.0, egui::Color32::WHITE),
        );
        let at = |pos: egui::Pos2| {
            let f = ((pos.x - rect.left()) / px_per_frame).max(0.0) as usize;
            tokens.token_at(f)
        };
        if let Some(i) = resp.hover_pos().and_then(at) {
            let code = clip.codes[i];
            let frames = tokens.frames_of(i);
            let usage = tokens.usage.as_ref().map(|u| {
                let total: u64 = u.counts.iter().sum();
                format!(
                    "used {}× in the {} split ({:.2} %)",
                    u.counts[code as usize],
                    u.split.name(),
                    100.0 * u.counts[code as usize] as f64 / total.max(1) as f64
                )
            });
            resp.clone().on_hover_ui_at_pointer(|ui| {
                ui.label(egui::RichText::new(format!("token {i} · code {code}")).strong());
                ui.label(format!(
                    "frames {}–{} ({:.2}–{:.2} s)",
                    frames.start,
                    frames.end - 1,
                    frames.start as f32 / fps,
                    frames.end as f32 / fps
                ));
                ui.label(usage.unwrap_or_else(|| "usage: computing…".into()));
                ui.label(
                    egui::RichText::new("click: seek and highlight · shift-click: caption a range")
                        .weak(),
                );
            });
        }
        if resp.clicked()
            && let Some(i) = resp.interact_pointer_pos().and_then(at)
        {
            let shift = ui.input(|inp| inp.modifiers.shift);
            match (shift, tokens.selected) {
                (true, Some(anchor)) => {
                    tokens.selection = Some(anchor.min(i)..anchor.max(i) + 1);
                }
                _ => {
                    tokens.selected = Some(i);
                    tokens.selection = Some(i..i + 1);
                }
            }
            let start = tokens.frames_of(i).start;
            playback.playing = false;
            playback.seek(start);
        }
        ui.add_space(2.0);
    });
    frame.finish(&root);
    Ok(())
}

/// The codes of a running text-to-motion job, filling the strip from the left (`total` cells:
/// the length asked for), with how many have come.
fn streaming_strip(ui: &mut egui::Ui, codes: &[u32], total: usize) {
    let width = ui.available_width() - 60.0;
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(width, HEIGHT), egui::Sense::hover());
        let painter = ui.painter_at(rect);
        let w = rect.width() / total.max(codes.len()).max(1) as f32;
        painter.rect_stroke(
            rect,
            1.0,
            egui::Stroke::new(1.0, egui::Color32::from_gray(90)),
            egui::StrokeKind::Inside,
        );
        for (i, &c) in codes.iter().enumerate() {
            let cell = egui::Rect::from_min_size(
                egui::pos2(rect.left() + i as f32 * w, rect.top()),
                egui::vec2(w, HEIGHT),
            );
            painter.rect_filled(cell.shrink2(egui::vec2(0.5, 0.0)), 1.0, code_color(c));
        }
        ui.label(egui::RichText::new(format!("{}/{total}", codes.len())).weak());
    });
}
