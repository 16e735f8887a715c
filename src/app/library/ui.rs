use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::state::{Jobs, Library, LoadedClips, Problems, SelectClip, Slot};
use super::systems::{pick_dataset_folder, pick_motion_files};
use crate::app::{StudioUi, UiFrame};
use crate::motion::Split;

pub(super) fn menu_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    jobs: Res<Jobs>,
    mut tokens: ResMut<crate::app::tokens::Tokens>,
    mut live: ResMut<crate::app::caption::LiveCaption>,
    mut clips: ResMut<LoadedClips>,
    mut problems: ResMut<Problems>,
    mut t2m: ResMut<crate::app::generate::TextToMotion>,
    mut exit: MessageWriter<AppExit>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let mut root = frame.root(ctx, "menu");
    egui::Panel::top("menu_bar").show(&mut root, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open dataset…").clicked() {
                    pick_dataset_folder(&jobs);
                    ui.close();
                }
                if ui.button("Open motion (BVH, AMC)…").clicked() {
                    pick_motion_files(&jobs);
                    ui.close();
                }
                if ui
                    .button("Open tokenizer (GeoMotionGPT, T2M-GPT)…")
                    .on_hover_text(
                        "dvq-gsst.pt, a Hugging Face export's model.safetensors or a \
                         T2M-GPT net_last.pth; read with the open dataset's Mean/Std",
                    )
                    .clicked()
                {
                    crate::app::tokens::pick_tokenizer(&tokens);
                    ui.close();
                }
                if ui.button("Open GeoMotionGPT captioner…").clicked() {
                    crate::app::caption::pick_released_captioner(&live, &tokens);
                    ui.close();
                }
                if ui
                    .add_enabled(
                        live.released.is_some(),
                        egui::Button::new("Shipped captioner (models/lm)"),
                    )
                    .clicked()
                {
                    live.reload_from(&crate::lm::resolve::models_dir().join("lm"));
                    ui.close();
                }
                let shipped = tokens
                    .tokenizer
                    .as_ref()
                    .is_some_and(|t| t.released().is_none());
                if ui
                    .add_enabled(
                        !shipped,
                        egui::Button::new("Shipped tokenizer (models/dvq)"),
                    )
                    .clicked()
                {
                    tokens.reload_from(&crate::lm::resolve::models_dir().join("dvq"));
                    ui.close();
                }
                if ui
                    .button("Open text-to-motion LM…")
                    .on_hover_text("a folder written by `train lm --tasks m2t,t2m`")
                    .clicked()
                {
                    crate::app::generate::pick_lm(&t2m);
                    t2m.open = true;
                    ui.close();
                }
                if ui.button("Quit").clicked() {
                    exit.write(AppExit::Success);
                }
            });
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut clips.compare_mode, "Compare two clips side by side");
                ui.checkbox(&mut problems.open, "Problems panel");
                ui.checkbox(&mut t2m.open, "Text to motion");
            });
            ui.separator();
            ui.label(egui::RichText::new("GeoMotion Studio").strong());
        });
    });
    frame.finish(&root);
    Ok(())
}

pub(super) fn browser_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    mut library: ResMut<Library>,
    clips: Res<LoadedClips>,
    mut select: MessageWriter<SelectClip>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let mut root = frame.root(ctx, "browser");
    // Side panels start narrower in a small window, leaving the 3-D view room.
    let w = frame.window.width();
    egui::Panel::left("browser")
        .resizable(true)
        .default_size((w * 0.2).clamp(190.0, 250.0))
        .show(&mut root, |ui| {
            let Some(ds) = &library.dataset else {
                ui.heading("Clips");
                ui.label("No dataset open.");
                return;
            };
            let (root_dir, n_total) = (ds.root().display().to_string(), ds.ids().len());
            ui.heading("Clips");
            ui.label(egui::RichText::new(root_dir).small().weak());
            let lib = &mut *library;
            ui.add(
                egui::TextEdit::singleline(&mut lib.search).hint_text("search ids and captions"),
            )
            .on_hover_text("every word must match, in any order: \"walk left\"");
            egui::ComboBox::from_label("split")
                .selected_text(lib.split_filter.map_or("all", Split::name))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut lib.split_filter, None, "all");
                    for s in Split::ALL {
                        ui.selectable_value(&mut lib.split_filter, Some(s), s.name());
                    }
                });
            if let Some((done, total)) = library.index_progress {
                ui.add(
                    egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                        .text(format!("indexing captions {done}/{total}")),
                );
            }
            let ids = library.visible_ids();
            match library.sub_clip_count() {
                0 => ui.label(format!("{} of {n_total} clips", ids.len())),
                subs => ui.label(format!(
                    "{} of {} ({n_total} clips, {subs} sub-{} from time-range captions)",
                    ids.len(),
                    n_total + subs,
                    if subs == 1 { "clip" } else { "clips" }
                )),
            };
            if clips.compare_mode {
                ui.label(egui::RichText::new("click: primary · shift+click: compare").small());
            }
            let primary = clips.primary.as_ref().map(|c| c.id.as_str());
            let compare = clips.compare.as_ref().map(|c| c.id.as_str());
            let shift = ui.input(|i| i.modifiers.shift);
            let row_h = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show_rows(ui, row_h, ids.len(), |ui, range| {
                    // One row per clip: a long id is cut with "…" (its hover shows the caption).
                    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                    for id in &ids[range] {
                        // A sub-clip is listed under its clip by its range.
                        let mut label = match crate::motion::subclip::parse_sub_clip_id(id)
                            .filter(|(clip, _, _)| library.sub_clips.contains_key(*clip))
                        {
                            Some((clip, a, b)) => format!("    {a:.1}–{b:.1} s of {clip}"),
                            None => (*id).to_string(),
                        };
                        if clips.compare_mode && compare == Some(*id) {
                            label.push_str("  (compare)");
                        }
                        let r = ui.selectable_label(primary == Some(*id), label);
                        let r = match library.caption_index.get(*id) {
                            Some(c) => r.on_hover_text(c.as_str()),
                            None => r,
                        };
                        if r.clicked() {
                            let slot = if shift && clips.compare_mode {
                                Slot::Compare
                            } else {
                                Slot::Primary
                            };
                            select.write(SelectClip {
                                id: (*id).to_string(),
                                slot,
                            });
                        }
                    }
                });
        });
    frame.finish(&root);
    Ok(())
}

pub(super) fn captions_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    clips: Res<LoadedClips>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let mut root = frame.root(ctx, "captions");
    let w = frame.window.width();
    egui::Panel::right("captions")
        .resizable(true)
        .default_size((w * 0.2).clamp(190.0, 300.0))
        .show(&mut root, |ui| {
            for (slot, title) in [(Slot::Primary, "Clip"), (Slot::Compare, "Compare")] {
                let Some(clip) = clips.get(slot) else {
                    continue;
                };
                ui.heading(format!("{title}: {}", clip.id));
                ui.label(format!(
                    "{} frames · {:.2} s · {} fps {} · split {}",
                    clip.joints.frames(),
                    clip.joints.frames() as f32 / clip.joints.skeleton().fps(),
                    clip.joints.skeleton().fps(),
                    clip.joints.skeleton().name(),
                    clip.split.map_or("none", Split::name)
                ));
                ui.add_space(4.0);
                if clip.captions.is_empty() {
                    ui.label(egui::RichText::new("No captions for this clip.").italics());
                }
                for c in &clip.captions {
                    let range = if c.is_whole_clip() {
                        String::new()
                    } else {
                        format!("  [{:.1}–{:.1} s]", c.start_secs, c.end_secs)
                    };
                    ui.label(format!("• {}{range}", c.text));
                }
                ui.separator();
            }
        });
    frame.finish(&root);
    Ok(())
}

pub(super) fn problems_ui(
    mut contexts: EguiContexts,
    studio: Res<StudioUi>,
    mut problems: ResMut<Problems>,
) -> Result {
    if !studio.visible || !problems.open || problems.entries.is_empty() {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let mut open = problems.open;
    let mut clear = false;
    egui::Window::new(format!("Problems ({})", problems.entries.len()))
        .open(&mut open)
        .default_width(520.0)
        .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -90.0])
        .show(ctx, |ui| {
            egui::ScrollArea::vertical()
                .max_height(220.0)
                .show(ui, |ui| {
                    for (_, msg) in problems.entries.iter().rev() {
                        ui.label(
                            egui::RichText::new(msg).color(egui::Color32::from_rgb(240, 170, 90)),
                        );
                    }
                });
            if ui.button("Clear").clicked() {
                clear = true;
            }
        });
    problems.open = open;
    if clear {
        problems.entries.clear();
    }
    Ok(())
}

/// When no dataset is open, says in the window how to open one.
pub(super) fn empty_state_ui(
    mut contexts: EguiContexts,
    frame: Res<UiFrame>,
    studio: Res<StudioUi>,
    library: Res<Library>,
) -> Result {
    if !studio.visible || library.dataset.is_some() {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    egui::Area::new(egui::Id::new("empty_state"))
        .fixed_pos(frame.free.center() - egui::vec2(230.0, 60.0))
        .show(ctx, |ui| {
            ui.set_max_width(460.0);
            ui.heading("No dataset open");
            ui.label(
                "Open a HumanML3D-layout folder (new_joint_vecs/, optional new_joints/ and \
                 texts/, Mean.npy, Std.npy, train/val/test.txt) with File → Open dataset…, \
                 drop the folder on this window, or start with:",
            );
            ui.code("geomotion --data /path/to/HumanML3D");
        });
    Ok(())
}
