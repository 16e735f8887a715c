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
    mut frame: ResMut<UiFrame>,
    studio: Res<StudioUi>,
    mut review: ResMut<Review>,
) -> Result {
    if !studio.visible {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let area = frame.free;
    let shown = egui::Area::new(egui::Id::new("review_toggle"))
        .fixed_pos(egui::pos2(area.right() - 150.0, area.top() + 10.0))
        .order(egui::Order::Background)
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
    frame.overlay("review_toggle", shown.response.rect);
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
    review_window(
        ctx,
        &mut review,
        &library,
        &clips,
        &live,
        frame.window,
        &mut problems,
    );
    Ok(())
}

/// Id of the annotator name field.
pub(super) const ANNOTATOR_FIELD: &str = "review_annotator";
/// Id of the caption edit field (fixed: an automatic id would change, and drop the focus, when
/// a widget above it appears mid-edit).
const EDIT_FIELD: &str = "review_edit";

/// The review window, drawn into `ctx`; it first opens at the right of `window` (over the clip's
/// captions panel, whose references it repeats), leaving the skeleton in view.
pub(super) fn review_window(
    ctx: &egui::Context,
    review: &mut Review,
    library: &Library,
    clips: &LoadedClips,
    live: &LiveCaption,
    window: egui::Rect,
    problems: &mut Problems,
) {
    let mut open = review.open;
    egui::Window::new("Review captions")
        .open(&mut open)
        .default_pos(egui::pos2(window.right() - 410.0, window.top() + 30.0))
        .default_width(400.0)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                ui.label("annotator");
                ui.add(
                    egui::TextEdit::singleline(&mut review.annotator)
                        .id(egui::Id::new(ANNOTATOR_FIELD))
                        .hint_text("your name (required)"),
                );
            });
            let named = !review.annotator.trim().is_empty();
            ui.horizontal(|ui| {
                ui.label("batch: split");
                for s in [Split::Train, Split::Val, Split::Test] {
                    ui.selectable_value(&mut review.split, s, s.name());
                }
                let start = ui
                    .add_enabled(
                        named,
                        egui::Button::new(if review.session.is_some() {
                            "reopen"
                        } else {
                            "start"
                        }),
                    )
                    .on_disabled_hover_text(
                        "type your name first: every decision is saved under it",
                    );
                if start.clicked() {
                    crate::app::settings::remember_annotator(review.annotator.trim());
                    match library.dataset.as_ref() {
                        None => review.message = "open a dataset first".into(),
                        Some(ds) => {
                            let path = session_path(ds.root(), review.split);
                            let order = ds
                                .split_ids(review.split)
                                .into_iter()
                                .map(String::from)
                                .collect();
                            match ReviewSession::open(&path, order, review.annotator.trim()) {
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
                ui.label(if named {
                    "Start a batch to walk a split clip by clip; every decision autosaves."
                } else {
                    "Type your name, then start a batch: every decision is saved under it."
                });
                return;
            };
            if named {
                session.annotator = review.annotator.trim().to_string();
            }
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
            let generated = generated_for(live, &clip).map(String::from);
            ui.label(egui::RichText::new("generated").weak());
            match &generated {
                Some(g) => {
                    ui.label(egui::RichText::new(g).strong().size(16.0));
                    // The annotator sees when the model was guessing.
                    if live.done && !live.doubts.is_empty() {
                        let why: Vec<String> = live.doubts.iter().map(|d| d.to_string()).collect();
                        ui.colored_label(
                            egui::Color32::from_rgb(255, 190, 90),
                            format!("unsure: {}", why.join("; ")),
                        );
                    }
                }
                None => {
                    ui.label(egui::RichText::new("captioning…").italics());
                }
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
                let r = ui.add(
                    egui::TextEdit::singleline(text)
                        .id(egui::Id::new(EDIT_FIELD))
                        .desired_width(f32::INFINITY),
                );
                ui.label(
                    egui::RichText::new("Enter saves · Escape drops")
                        .small()
                        .weak(),
                );
                // egui drops the focus of a single-line field on Enter and on Escape.
                if r.lost_focus() {
                    act = Some(if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                        Action::CancelEdit
                    } else {
                        Action::SaveEdit
                    });
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
                if act.is_none() {
                    act = review.pending.take().filter(|a| {
                        let needs_caption =
                            matches!(a, Action::Accept | Action::Edit | Action::Reject);
                        if needs_caption && generated.is_none() {
                            review.message = format!(
                                "{a:?} not applied: the caption is still being generated \
                                 (press it again once it is shown)"
                            );
                        }
                        generated.is_some() || !needs_caption
                    });
                }
            }
            if let Some(a) = act {
                let g = generated.clone().unwrap_or_default();
                let r = match a {
                    Action::Accept => session.accept(&g).map(|_| ()),
                    Action::Reject => session.reject(&g).map(|_| ()),
                    Action::Edit => {
                        // The field takes the keyboard in this pass, with the whole caption
                        // selected: the next key typed replaces it (and fires no shortcut).
                        let id = egui::Id::new(EDIT_FIELD);
                        let mut state =
                            egui::text_edit::TextEditState::load(ui.ctx(), id).unwrap_or_default();
                        state
                            .cursor
                            .set_char_range(Some(egui::text::CCursorRange::two(
                                egui::text::CCursor::new(0),
                                egui::text::CCursor::new(g.chars().count()),
                            )));
                        state.store(ui.ctx(), id);
                        ui.memory_mut(|m| m.request_focus(id));
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
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Action {
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

/// Review shortcuts from the physical keys (egui does not see Ctrl+letter reliably under X11):
/// A / E / R, J / K, Ctrl+Z, Ctrl+Shift+Z; ignored while a text field has the keyboard.
pub(super) fn review_keys(
    keys: Res<ButtonInput<KeyCode>>,
    frame: Res<UiFrame>,
    studio: Res<StudioUi>,
    mut review: ResMut<Review>,
) {
    if !studio.visible {
        return;
    }
    if let Some(a) = review_shortcut(&review, frame.keyboard_in_ui, &keys) {
        review.pending = Some(a);
    }
}

/// The shortcut this frame's keys give the open review window: none while a text field has the
/// keyboard (`keyboard_in_ui`, as the last egui pass left it), while a caption is being edited,
/// or before a batch is started.
pub(super) fn review_shortcut(
    review: &Review,
    keyboard_in_ui: bool,
    keys: &ButtonInput<KeyCode>,
) -> Option<Action> {
    if !review.open || review.session.is_none() || review.editing.is_some() || keyboard_in_ui {
        return None;
    }
    shortcut(keys)
}

/// The review action of this frame's keys, if any.
fn shortcut(keys: &ButtonInput<KeyCode>) -> Option<Action> {
    // Held, or pressed and released within this frame (a quick chord at a low frame rate).
    let held = |a, b| keys.any_pressed([a, b]) || keys.any_just_released([a, b]);
    let ctrl = held(KeyCode::ControlLeft, KeyCode::ControlRight);
    let shift = held(KeyCode::ShiftLeft, KeyCode::ShiftRight);
    let hit = |k| keys.just_pressed(k);
    if ctrl && hit(KeyCode::KeyZ) {
        Some(if shift { Action::Redo } else { Action::Undo })
    } else if ctrl {
        None
    } else if hit(KeyCode::KeyA) {
        Some(Action::Accept)
    } else if hit(KeyCode::KeyE) {
        Some(Action::Edit)
    } else if hit(KeyCode::KeyR) {
        Some(Action::Reject)
    } else if hit(KeyCode::KeyJ) {
        Some(Action::Next)
    } else if hit(KeyCode::KeyK) {
        Some(Action::Prev)
    } else {
        None
    }
}
