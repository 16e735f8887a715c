//! The plots strip above the transport bar: per-frame MPJPE of the DVQ reconstruction and the
//! clip's code sequence; codebook usage over the open split (sortable, with perplexity and % of
//! codes used); the Gram-matrix heatmap of the normalized codebook with ‖G − I‖_F.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use egui_plot::{Bar, BarChart, Line, Plot, PlotImage, PlotPoint, PlotPoints, Points, VLine};

use super::jobs::request_primitive;
use super::state::{GhostMode, GramView, Tokens, code_color};
use crate::app::playback::Playback;
use crate::app::{StudioUi, UiFrame};

/// Colour of the global per-frame MPJPE line (and its mean in the label).
const GLOBAL: egui::Color32 = egui::Color32::from_rgb(230, 110, 90);
/// Colour of the root-relative per-frame MPJPE line (and its mean).
const ROOT_RELATIVE: egui::Color32 = egui::Color32::from_rgb(100, 160, 235);

const HEIGHT: f32 = 210.0;
/// Below this strip width (points) the three plots are shown one at a time, as tabs.
const THREE_COLUMNS: f32 = 780.0;

pub(super) fn plots_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    mut tokens: ResMut<Tokens>,
    playback: Res<Playback>,
    mut tab: Local<usize>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let mut root = frame.root(ctx, "plots");
    let tokens = &mut *tokens;
    for (gram, tex, name) in [
        (&tokens.gram, &mut tokens.gram_texture, "gram"),
        (&tokens.lm_gram, &mut tokens.lm_gram_texture, "lm_gram"),
    ] {
        if tex.is_none()
            && let Some(g) = gram
        {
            *tex = Some(ctx.load_texture(name, gram_image(g), egui::TextureOptions::NEAREST));
        }
    }
    egui::Panel::bottom("plots")
        .exact_size(HEIGHT)
        .show(&mut root, |ui| {
            if ui.available_width() >= THREE_COLUMNS {
                ui.columns(3, |cols| {
                    reconstruction_column(&mut cols[0], tokens, &playback);
                    usage_column(&mut cols[1], tokens);
                    gram_column(&mut cols[2], tokens);
                });
                return;
            }
            // Too narrow for three plots side by side (a 1024-pixel window): one at a time.
            ui.horizontal(|ui| {
                for (i, name) in ["Reconstruction", "Codebook usage", "Gram matrix"]
                    .into_iter()
                    .enumerate()
                {
                    ui.selectable_value(&mut *tab, i, name);
                }
            });
            match *tab {
                0 => reconstruction_column(ui, tokens, &playback),
                1 => usage_column(ui, tokens),
                _ => gram_column(ui, tokens),
            }
        });
    frame.finish(&root);
    Ok(())
}

fn reconstruction_column(ui: &mut egui::Ui, tokens: &mut Tokens, playback: &Playback) {
    let Some(clip) = tokens.clip.clone() else {
        ui.label(egui::RichText::new(&tokens.status).weak());
        return;
    };
    ui.horizontal(|ui| {
        ui.strong("Reconstruction");
        egui::ComboBox::from_id_salt("ghost")
            .width(80.0)
            .selected_text(match tokens.ghost {
                GhostMode::Off => "ghost off",
                GhostMode::Over => "ghost over",
                GhostMode::Beside => "ghost beside",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut tokens.ghost, GhostMode::Over, "ghost over");
                ui.selectable_value(&mut tokens.ghost, GhostMode::Beside, "ghost beside");
                ui.selectable_value(&mut tokens.ghost, GhostMode::Off, "ghost off");
            });
    });
    let code = tokens
        .selected
        .or_else(|| tokens.token_at(playback.frame()))
        .map(|i| clip.codes[i]);
    ui.horizontal(|ui| {
        // Two means, each in its line's colour; the hover says which is which.
        let explain = "MPJPE of the DVQ reconstruction, mean over the clip. Red: global, joint \
                       positions as decoded (the trajectory's drift included). Blue: \
                       root-relative, each frame's pelvis subtracted (the pose error alone).";
        ui.spacing_mut().item_spacing.x = 3.0;
        ui.label("MPJPE").on_hover_text(explain);
        ui.label(egui::RichText::new(format!("{:.1}", clip.mean_mpjpe_mm())).color(GLOBAL))
            .on_hover_text(explain);
        ui.label("/");
        ui.label(
            egui::RichText::new(format!("{:.1}", clip.mean_root_relative_mpjpe_mm()))
                .color(ROOT_RELATIVE),
        )
        .on_hover_text(explain);
        ui.label("mm");
        if let Some(code) = code
            && ui
                .button(format!("▶ code {code}"))
                .on_hover_text("decode this code alone, repeated, and loop it beside the skeleton")
                .clicked()
        {
            request_primitive(tokens, code);
        }
        if let Some(p) = &tokens.primitive {
            ui.label(
                egui::RichText::new(format!("looping code {}", p.code)).color(code_color(p.code)),
            );
            if ui.small_button("stop").clicked() {
                tokens.primitive = None;
            }
        }
    });
    let h = (ui.available_height() - 4.0) / 2.0;
    let head = playback.position as f64;
    Plot::new("mpjpe")
        .height(h)
        .y_axis_label("MPJPE mm")
        .allow_scroll(false)
        .show(ui, |p| {
            let per_frame = |v: &[f32]| -> PlotPoints {
                v.iter()
                    .enumerate()
                    .map(|(f, &e)| [f as f64, e as f64])
                    .collect()
            };
            p.line(Line::new("global", per_frame(&clip.mpjpe_mm)).color(GLOBAL));
            p.line(
                Line::new("root-relative", per_frame(&clip.root_relative_mpjpe_mm))
                    .color(ROOT_RELATIVE),
            );
            p.vline(VLine::new("playhead", head));
        });
    Plot::new("codes")
        .height(h)
        .y_axis_label("code")
        .x_axis_label("frame")
        .allow_scroll(false)
        .show(ui, |p| {
            let q = tokens.frames_of(1).start as f64;
            for (i, &c) in clip.codes.iter().enumerate() {
                let x = i as f64 * q + q / 2.0;
                p.points(
                    Points::new(format!("code {c}"), vec![[x, c as f64]])
                        .radius(3.0)
                        .color(code_color(c)),
                );
            }
            p.vline(VLine::new("playhead", head));
        });
}

fn usage_column(ui: &mut egui::Ui, tokens: &mut Tokens) {
    ui.horizontal(|ui| {
        ui.strong("Codebook usage");
        ui.checkbox(&mut tokens.sort_usage, "sort by count");
    });
    if let Some((split, done, total)) = tokens.usage_progress {
        ui.horizontal(|ui| {
            if ui.button("Cancel").clicked() {
                tokens
                    .usage_cancel
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32).text(format!(
                    "encoding the {} split: {done}/{total}",
                    split.name()
                )),
            );
        });
    } else if let Some(split) = tokens.usage_skipped
        && tokens.usage.as_ref().is_none_or(|u| u.split != split)
    {
        ui.horizontal(|ui| {
            ui.label(format!("usage of the {} split was cancelled", split.name()));
            if ui.button("Compute").clicked() {
                tokens.usage_skipped = None;
            }
        });
    }
    let Some(u) = &tokens.usage else {
        return;
    };
    ui.label(format!(
        "{} split, {} clips · perplexity {:.1} · {:.1} % of {} codes used",
        u.split.name(),
        u.clips,
        u.perplexity,
        u.used_pct,
        u.counts.len()
    ));
    let mut order: Vec<usize> = (0..u.counts.len()).collect();
    if tokens.sort_usage {
        order.sort_by(|&a, &b| u.counts[b].cmp(&u.counts[a]));
    }
    let bars: Vec<Bar> = order
        .iter()
        .enumerate()
        .map(|(x, &c)| {
            Bar::new(x as f64, u.counts[c] as f64)
                .width(1.0)
                .name(format!("code {c}"))
                .fill(code_color(c as u32))
        })
        .collect();
    Plot::new("usage")
        .height(ui.available_height() - 2.0)
        .x_axis_label(if tokens.sort_usage { "rank" } else { "code" })
        .y_axis_label("count")
        .allow_scroll(false)
        .show(ui, |p| p.bar_chart(BarChart::new("usage", bars)));
}

fn gram_column(ui: &mut egui::Ui, tokens: &mut Tokens) {
    ui.horizontal(|ui| {
        ui.strong("Gram matrix");
        ui.selectable_value(&mut tokens.show_lm_gram, false, "codebook");
        if tokens.lm_gram.is_some() {
            ui.selectable_value(&mut tokens.show_lm_gram, true, "captioner");
        }
    });
    let (g, tex) = if tokens.show_lm_gram && tokens.lm_gram.is_some() {
        (&tokens.lm_gram, &tokens.lm_gram_texture)
    } else {
        (&tokens.gram, &tokens.gram_texture)
    };
    let (Some(g), Some(tex)) = (g, tex) else {
        return;
    };
    ui.label(format!(
        "{} · K = {} · ||G − I||_F = {:.2}",
        g.title, g.k, g.fro
    ));
    let k = g.k as f64;
    let resp = Plot::new(("gram", tokens.show_lm_gram))
        .height(ui.available_height() - 18.0)
        .data_aspect(1.0)
        .include_x(0.0)
        .include_x(k)
        .include_y(0.0)
        .include_y(k)
        .show_axes([false, false])
        .show_grid(false)
        .allow_scroll(false)
        .show(ui, |p| {
            p.image(PlotImage::new(
                "gram",
                tex.id(),
                PlotPoint::new(k / 2.0, k / 2.0),
                egui::vec2(k as f32, k as f32),
            ));
            p.pointer_coordinate()
        });
    let hover = resp.inner.and_then(|pt| {
        let (col, row) = (pt.x.floor(), k - 1.0 - pt.y.floor());
        (0.0..k).contains(&col).then_some(())?;
        (0.0..k).contains(&row).then_some(())?;
        let (r, c) = (row as usize, col as usize);
        Some((r, c, g.values[r * g.k + c]))
    });
    ui.label(match hover {
        Some((r, c, v)) => format!("G[{r}, {c}] = {v:.3}"),
        None => "cosine between codes: blue −1 · white 0 · red +1 (scroll/drag to zoom)".into(),
    });
}

/// `(K, K)` cosines → a diverging blue–white–red image, row 0 at the top.
fn gram_image(g: &GramView) -> egui::ColorImage {
    let px: Vec<egui::Color32> = g
        .values
        .iter()
        .map(|&v| {
            let v = v.clamp(-1.0, 1.0);
            let t = (255.0 * (1.0 - v.abs())) as u8;
            if v >= 0.0 {
                egui::Color32::from_rgb(255, t, t)
            } else {
                egui::Color32::from_rgb(t, t, 255)
            }
        })
        .collect();
    egui::ColorImage::new([g.k, g.k], px)
}
