use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::state::TextToMotion;
use crate::app::caption::LiveCaption;
use crate::app::library::{Library, LoadedClips, SelectClip, Slot};
use crate::app::tokens::{Tokens, code_color};
use crate::app::{StudioUi, UiFrame};

/// The "Text to motion" window: prompt, length, sampling, Generate / Cancel, the codes so far.
pub(super) fn generate_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    mut t2m: ResMut<TextToMotion>,
    tokens: Res<Tokens>,
    clips: Res<LoadedClips>,
    library: Res<Library>,
    live: Res<LiveCaption>,
    mut select: MessageWriter<SelectClip>,
) -> Result {
    if !studio.visible || !t2m.open {
        return Ok(());
    }
    t2m.load_shipped_once();
    let ctx = contexts.ctx_mut()?;
    let mut open = t2m.open;
    // Under the caption overlay, at the scene's left edge: the caption stays readable.
    let shown = egui::Window::new("Text to motion")
        .open(&mut open)
        .default_pos(egui::pos2(260.0, 150.0))
        .default_width(380.0)
        .show(ctx, |ui| {
            let t = &mut *t2m;
            ui.add(
                egui::TextEdit::singleline(&mut t.prompt)
                    .hint_text("a person waves with the left hand")
                    .desired_width(f32::INFINITY),
            );
            if t.lm_is_shipped {
                ui.label(
                    egui::RichText::new(
                        "the shipped LM's motions lose to a retrieval floor (README, Text to \
                         motion): a demonstration of the direction",
                    )
                    .small(),
                );
            }
            ui.horizontal(|ui| {
                ui.label("seconds");
                ui.add(
                    egui::DragValue::new(&mut t.seconds)
                        .range(0.4..=20.0)
                        .speed(0.1),
                );
                ui.label("temperature");
                ui.add(
                    egui::DragValue::new(&mut t.temperature)
                        .range(0.0..=2.0)
                        .speed(0.05),
                );
                ui.label("seed");
                ui.add(egui::DragValue::new(&mut t.seed));
            });
            ui.horizontal(|ui| {
                if t.busy() {
                    if ui.button("Cancel").clicked()
                        && let Some(c) = &t.running
                    {
                        c.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                } else {
                    let tok = tokens.tokenizer.clone();
                    let ready = t.lm.is_some() && tok.is_some() && !t.prompt.trim().is_empty();
                    if ui
                        .add_enabled(ready, egui::Button::new("Generate"))
                        .on_disabled_hover_text(
                            "needs a text-to-motion LM, a tokenizer and a prompt",
                        )
                        .clicked()
                        && let Some(tok) = tok
                    {
                        super::jobs::start(t, tok);
                    }
                }
            });
            // The codes as they come, one coloured cell each (the timeline's colours).
            if !t.streamed.is_empty() {
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing = egui::vec2(2.0, 2.0);
                    for &c in &t.streamed {
                        let (rect, resp) =
                            ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                        ui.painter().rect_filled(rect, 2.0, code_color(c));
                        resp.on_hover_text(format!("code {c}"));
                    }
                });
            }
            // Side by side with the real clip it is nearest to (the round trip's index).
            if let Some(clip) = clips
                .primary
                .as_ref()
                .filter(|c| c.id.starts_with("generated: "))
            {
                match super::nearest::nearest_real_clip(&live, &clip.id, library.dataset.as_ref()) {
                    Ok(n) => {
                        let far = if n.far {
                            ", far: no training take is like it"
                        } else {
                            ""
                        };
                        if ui
                            .button(format!("Compare with the nearest real clip: {}", n.id))
                            .on_hover_text(format!("distance {:.1}{far}", n.distance))
                            .clicked()
                        {
                            select.write(SelectClip {
                                id: n.id,
                                slot: Slot::Compare,
                            });
                        }
                    }
                    Err(why) => {
                        ui.add_enabled(
                            false,
                            egui::Button::new("Compare with the nearest real clip"),
                        )
                        .on_disabled_hover_text(why);
                    }
                }
            }
            // The generated motion on screen can join the open dataset.
            let generated = clips
                .primary
                .as_ref()
                .filter(|c| c.id.starts_with("generated: "));
            if let (Some(clip), Some(ds)) = (generated, library.dataset.as_ref())
                && ui
                    .button("Save into the dataset")
                    .on_hover_text(format!(
                        "new_joint_vecs/ and texts/ of {}",
                        ds.root().display()
                    ))
                    .clicked()
            {
                t.status = match super::jobs::save_into(ds.root(), clip) {
                    Ok(id) => format!(
                        "saved as {id} in {} (listed when the dataset is opened again)",
                        ds.root().display()
                    ),
                    Err(e) => format!("not saved: {e}"),
                };
            }
            ui.label(egui::RichText::new(&t.status).small());
        });
    if let Some(s) = shown {
        frame.overlay("t2m_window", s.response.rect);
    }
    t2m.open = open;
    Ok(())
}
