use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};

use super::{Stage, Training, demo_corpus};
use crate::app::library::Library;
use crate::app::tokens::code_color;
use crate::app::{StudioUi, UiFrame};

/// The "Train" button and the training window.
pub(super) fn training_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    mut training: ResMut<Training>,
    mut demo: ResMut<super::demo_corpus::DemoCorpus>,
    library: Res<Library>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let area = frame.free;
    let t = &mut *training;
    let shown = egui::Area::new(egui::Id::new("training_toggle"))
        .fixed_pos(egui::pos2(area.right() - 260.0, area.top() + 10.0))
        .order(egui::Order::Background)
        .show(ctx, |ui| {
            let label = if t.running() { "Training…" } else { "Train" };
            if ui.button(label).clicked() {
                t.open = !t.open;
            }
        });
    frame.overlay("train_toggle", shown.response.rect);
    if !t.open {
        return Ok(());
    }
    let mut open = t.open;
    egui::Window::new("Train the pipeline")
        .open(&mut open)
        .default_width(460.0)
        .show(ctx, |ui| {
            let data = library.dataset.as_ref().map(|d| d.root().to_path_buf());
            // A split with no clip cannot train (the demo dataset ships a test split only).
            let train_clips = library
                .dataset
                .as_ref()
                .map_or(0, |d| d.split_ids(crate::motion::Split::Train).len());
            ui.label(match &data {
                Some(d) => format!("corpus: {} (train split)", d.display()),
                None => "open a corpus first".into(),
            });
            ui.add_enabled_ui(!t.running(), |ui| {
                ui.horizontal(|ui| {
                    ui.label("tokenizer preset");
                    for p in ["cpu", "paper"] {
                        ui.selectable_value(&mut t.settings.dvq_preset, p.to_string(), p);
                    }
                    ui.label("steps");
                    ui.add(egui::DragValue::new(&mut t.settings.dvq_steps).range(10..=100_000));
                });
                ui.horizontal(|ui| {
                    ui.checkbox(
                        &mut t.settings.then_captioner,
                        "then fine-tune the captioner",
                    );
                    ui.label("steps");
                    ui.add(egui::DragValue::new(&mut t.settings.lm_steps).range(10..=100_000));
                });
                ui.label(
                    egui::RichText::new(format!("writes to {}", t.settings.out.display()))
                        .small()
                        .weak(),
                );
            });
            ui.horizontal(|ui| {
                let can_start = train_clips > 0 && !t.running();
                if ui
                    .add_enabled(can_start, egui::Button::new("Start"))
                    .on_disabled_hover_text(if data.is_none() {
                        "open a corpus first"
                    } else if t.running() {
                        "a run is going"
                    } else {
                        "this dataset's train split is empty: open a corpus with a train split \
                         (`geomotion corpus`, or a HumanML3D folder)"
                    })
                    .clicked()
                    && let Some(d) = data.clone()
                {
                    t.start(Stage::Tokenizer, d, false);
                }
                if ui
                    .add_enabled(t.running(), egui::Button::new("Pause"))
                    .clicked()
                {
                    t.pause();
                }
                let paused = t.paused;
                if ui
                    .add_enabled(
                        paused.is_some() && !t.running(),
                        egui::Button::new("Resume"),
                    )
                    .clicked()
                    && let (Some(stage), Some(d)) = (paused, data.clone())
                {
                    t.start(stage, d, true);
                }
                if ui
                    .add_enabled(t.running(), egui::Button::new("Cancel"))
                    .clicked()
                {
                    t.cancel();
                }
            });
            if data.is_some() && train_clips == 0 {
                ui.colored_label(
                    egui::Color32::from_rgb(255, 190, 90),
                    "this dataset has no train clips: nothing to train on",
                );
                // The fix, one click away when the shared motion data is beside the studio.
                match demo_corpus::shared_data() {
                    Some(from) => {
                        if ui
                            .add_enabled(
                                !demo.building(),
                                egui::Button::new("Build the demo corpus and open it"),
                            )
                            .on_hover_text(format!(
                                "from {} into {} (about 5 s)",
                                from.display(),
                                demo_corpus::corpus_dir().display()
                            ))
                            .clicked()
                        {
                            demo.start(from, demo_corpus::corpus_dir());
                        }
                    }
                    None => {
                        ui.label(
                            "build one with `geomotion data build --from SHARED/data --out DIR`, \
                             then File → Open dataset…",
                        );
                    }
                }
            }
            if !demo.status.is_empty() {
                ui.label(egui::RichText::new(&demo.status).size(12.0));
            }
            let c = &t.curves;
            // The ETA only while a run goes: a cancelled or paused run shows where it stopped.
            let eta = if t.running() {
                format!("ETA {:.0} min", c.eta_s / 60.0)
            } else {
                "stopped".to_string()
            };
            if c.steps > 0 {
                ui.add(
                    egui::ProgressBar::new(c.step as f32 / c.steps as f32).text(format!(
                        "{} step {}/{} · {eta} · {}",
                        t.stage.or(t.paused).map_or("", |s| match s {
                            Stage::Tokenizer => "tokenizer",
                            Stage::Captioner => "captioner",
                        }),
                        c.step,
                        c.steps,
                        c.rate
                    )),
                );
            } else if !c.rate.is_empty() {
                ui.label(&c.rate);
            }
            Plot::new("train_loss")
                .height(140.0)
                .legend(Legend::default())
                .x_axis_label("step")
                .show(ui, |p| {
                    let total: PlotPoints =
                        c.loss.iter().map(|l| [l.0 as f64, l.1 as f64]).collect();
                    p.line(Line::new("loss", total));
                    if c.loss.iter().any(|l| l.2 > 0.0) {
                        let recon: PlotPoints =
                            c.loss.iter().map(|l| [l.0 as f64, l.2 as f64]).collect();
                        p.line(Line::new("recon MSE", recon));
                    }
                });
            if !c.usage.is_empty() {
                ui.label("codebook usage of recent batches");
                let bars: Vec<Bar> = c
                    .usage
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| {
                        Bar::new(i as f64, n as f64)
                            .width(1.0)
                            .fill(code_color(i as u32))
                    })
                    .collect();
                Plot::new("train_usage")
                    .height(90.0)
                    .show(ui, |p| p.bar_chart(BarChart::new("usage", bars)));
            }
            for line in t.log.iter().rev().take(4) {
                ui.label(egui::RichText::new(line).small());
            }
        });
    t.open = open;
    Ok(())
}
