use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::{Review, ReviewSession, session_path};
use crate::app::caption::LiveCaption;
use crate::app::library::{Library, LoadedClips, Problems, SelectClip, Slot};
use crate::app::{StudioUi, UiFrame};
use crate::motion::Split;

/// The "Review" button at the top right of the 3-D view.
pub(super) fn review_toggle_ui(
    mut contexts: EguiContexts,
    frame: Res<UiFrame>,
    studio: Res<StudioUi>,
    mut review: ResMut<Review>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let area = frame.free;
    egui::Area::new(egui::Id::new("review_toggle"))
        .fixed_pos(egui::pos2(area.right() - 150.0, area.top() + 10.0))
        .order(egui::Order::Foreground)
        .show(ctx, |ui| {
            let label = if review.open {
                "Close review"
            } else {
                "Review captions"
            };
            if ui.button(label).clicked() {
                review.open = !review.open;
            }
        });
    Ok(())
}

/// The generated caption of the clip under review, once captioning has finished.
fn generated_for<'a>(live: &'a LiveCaption, clip: &str) -> Option<&'a str> {
    live.key
        .as_ref()
        .filter(|k| k.clip == clip && k.whole && live.done)
        .map(|_| live.text.as_str())
}

/// Keeps the viewer on the clip under the review cursor.
pub(super) fn follow_cursor(mut review: ResMut<Review>, mut select: MessageWriter<SelectClip>) {
    let Some(cur) = review
        .session
        .as_ref()
        .and_then(|s| s.current())
        .map(String::from)
    else {
        return;
    };
    if review.shown.as_deref() != Some(cur.as_str()) {
        select.write(SelectClip {
            id: cur.clone(),
            slot: Slot::Primary,
        });
        review.shown = Some(cur);
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn review_ui(
    mut contexts: EguiContexts,
    studio: Res<StudioUi>,
    mut review: ResMut<Review>,
    library: Res<Library>,
    clips: Res<LoadedClips>,
    live: Res<LiveCaption>,
    frame: Res<UiFrame>,
    mut problems: ResMut<Problems>,
) -> Result {
    if !studio.visible || !review.open {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let review = &mut *review;
    let mut open = review.open;
    egui::Window::new("Review captions")
        .open(&mut open)
        .default_pos(egui::pos2(
            frame.free.right() - 430.0,
            frame.free.top() + 50.0,
        ))
        .default_width(400.0)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                ui.label("annotator");
                ui.text_edit_singleline(&mut review.annotator);
            });
            ui.horizontal(|ui| {
                ui.label("batch: split");
                for s in [Split::Train, Split::Val, Split::Test] {
                    ui.selectable_value(&mut review.split, s, s.name());
                }
                let start = ui.button(if review.session.is_some() {
                    "reopen"
                } else {
                    "start"
                });
                if start.clicked() {
                    match library.dataset.as_ref() {
                        None => review.message = "open a dataset first".into(),
                        Some(ds) => {
                            let path = session_path(ds.root(), review.split);
                            let order = ds
                                .split_ids(review.split)
                                .into_iter()
                                .map(String::from)
                                .collect();
                            match ReviewSession::open(&path, order, &review.annotator) {
                                Ok(s) => {
                                    review.message = format!("saving to {}", path.display());
                                    review.session = Some(s);
                                    review.shown = None;
                                }
                                Err(e) => problems.push(e.to_string()),
                            }
                        }
                    }
                }
            });
            let Some(session) = review.session.as_mut() else {
                ui.label("Start a batch to walk a split clip by clip; every decision autosaves.");
                return;
            };
            session.annotator = review.annotator.clone();
            let (done, total) = session.progress();
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .text(format!("{done} / {total} reviewed")),
            );
            let Some(clip) = session.current().map(String::from) else {
                ui.label("This split has no clips.");
                return;
            };
            ui.heading(format!("{} ({}/{total})", clip, session.cursor() + 1));
            let generated = generated_for(&live, &clip).map(String::from);
            ui.label(egui::RichText::new("generated").weak());
            match &generated {
                Some(g) => ui.label(egui::RichText::new(g).strong().size(16.0)),
                None => ui.label(egui::RichText::new("captioning…").italics()),
            };
            if let Some(e) = session.entry(&clip) {
                ui.label(format!(
                    "reviewed: {:?} by {} → “{}”",
                    e.verdict, e.annotator, e.caption
                ));
            }
            ui.label(egui::RichText::new("references").weak());
            if let Some(c) = clips.primary.as_ref().filter(|c| c.id == clip) {
                for r in &c.captions {
                    ui.label(format!("• {}", r.text));
                }
            }
            ui.separator();
            let mut act: Option<Action> = None;
            if let Some(text) = review.editing.as_mut() {
                let r = ui.add(egui::TextEdit::singleline(text).desired_width(f32::INFINITY));
                r.request_focus();
                if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    act = Some(Action::SaveEdit);
                }
                if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    act = Some(Action::CancelEdit);
                }
            } else {
                ui.horizontal(|ui| {
                    let ready = generated.is_some();
                    if ui
                        .add_enabled(ready, egui::Button::new("Accept (A)"))
                        .clicked()
                    {
                        act = Some(Action::Accept);
                    }
                    if ui
                        .add_enabled(ready, egui::Button::new("Edit (E)"))
                        .clicked()
                    {
                        act = Some(Action::Edit);
                    }
                    if ui
                        .add_enabled(ready, egui::Button::new("Reject (R)"))
                        .clicked()
                    {
                        act = Some(Action::Reject);
                    }
                    if ui.button("◀ K").clicked() {
                        act = Some(Action::Prev);
                    }
                    if ui.button("J ▶").clicked() {
                        act = Some(Action::Next);
                    }
                });
                ui.horizontal(|ui| {
                    if ui.button("Undo (Ctrl+Z)").clicked() {
                        act = Some(Action::Undo);
                    }
                    if ui.button("Redo (Ctrl+Shift+Z)").clicked() {
                        act = Some(Action::Redo);
                    }
                    if ui.button("Export texts/ + CSV").clicked() {
                        act = Some(Action::Export);
                    }
                });
                if act.is_none() && !ctx.egui_wants_keyboard_input() {
                    act = ui.input(|i| shortcut(i, generated.is_some()));
                }
            }
            if let Some(a) = act {
                let g = generated.clone().unwrap_or_default();
                let r = match a {
                    Action::Accept => session.accept(&g).map(|_| ()),
                    Action::Reject => session.reject(&g).map(|_| ()),
                    Action::Edit => {
                        review.editing = Some(g.clone());
                        Ok(())
                    }
                    Action::SaveEdit => {
                        let text = review.editing.take().unwrap_or_default();
                        session.edit(&g, &text)
                    }
                    Action::CancelEdit => {
                        review.editing = None;
                        Ok(())
                    }
                    Action::Next => {
                        session.next();
                        Ok(())
                    }
                    Action::Prev => {
                        session.prev();
                        Ok(())
                    }
                    Action::Undo => session.undo().map(|_| ()),
                    Action::Redo => session.redo().map(|_| ()),
                    Action::Export => {
                        let base = session.path().with_extension("");
                        let csv = session.path().with_extension("csv");
                        session.export_texts(&base).and_then(|n| {
                            let rows = session.export_csv(&csv)?;
                            review.message = format!(
                                "exported {n} texts to {}/texts and {rows} rows to {}",
                                base.display(),
                                csv.display()
                            );
                            Ok(())
                        })
                    }
                };
                if let Err(e) = r {
                    problems.push(e.to_string());
                }
            }
            if !review.message.is_empty() {
                ui.label(egui::RichText::new(&review.message).small().weak());
            }
        });
    review.open = open;
    Ok(())
}

#[derive(Clone, Copy)]
enum Action {
    Accept,
    Edit,
    Reject,
    SaveEdit,
    CancelEdit,
    Next,
    Prev,
    Undo,
    Redo,
    Export,
}

fn shortcut(i: &egui::InputState, ready: bool) -> Option<Action> {
    let cmd = i.modifiers.command;
    if cmd && i.modifiers.shift && i.key_pressed(egui::Key::Z) {
        return Some(Action::Redo);
    }
    if cmd && i.key_pressed(egui::Key::Z) {
        return Some(Action::Undo);
    }
    if cmd {
        return None;
    }
    let pressed = |k| i.key_pressed(k);
    if ready && pressed(egui::Key::A) {
        Some(Action::Accept)
    } else if ready && pressed(egui::Key::E) {
        Some(Action::Edit)
    } else if ready && pressed(egui::Key::R) {
        Some(Action::Reject)
    } else if pressed(egui::Key::J) {
        Some(Action::Next)
    } else if pressed(egui::Key::K) {
        Some(Action::Prev)
    } else {
        None
    }
}
