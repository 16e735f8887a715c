//! The review window as an annotator drives it from the keyboard, frame by frame in the App's
//! order: Bevy's key state (PreUpdate), the shortcut system (Update, reading the keyboard flag
//! the last egui pass left), the keys forwarded to egui (`keyboard::egui_events`), the egui pass
//! with the real window (`review_window`), and the keyboard flag read after it (`UiSystems::End`).
//! egui runs on its own context here: the headless App has no window for bevy_egui's pass.

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::prelude::*;
use bevy_egui::egui;

use super::ui::{ANNOTATOR_FIELD, review_shortcut, review_window};
use super::{Review, ReviewSession};
use crate::app::caption::{CaptionKey, LiveCaption};
use crate::app::keyboard::{Held, egui_events, key_message as message};
use crate::app::library::{Library, LoadedClips, Problems};

struct Studio {
    ctx: egui::Context,
    review: Review,
    live: LiveCaption,
    library: Library,
    clips: LoadedClips,
    problems: Problems,
    keys: ButtonInput<KeyCode>,
    held: Held,
    keyboard_in_ui: bool,
}

/// Press and release of the key that types `c` (a lowercase letter or a space).
fn tap(c: char) -> [KeyboardInput; 2] {
    let code = match c {
        ' ' => KeyCode::Space,
        'a'..='z' => {
            const LETTERS: [KeyCode; 26] = [
                KeyCode::KeyA,
                KeyCode::KeyB,
                KeyCode::KeyC,
                KeyCode::KeyD,
                KeyCode::KeyE,
                KeyCode::KeyF,
                KeyCode::KeyG,
                KeyCode::KeyH,
                KeyCode::KeyI,
                KeyCode::KeyJ,
                KeyCode::KeyK,
                KeyCode::KeyL,
                KeyCode::KeyM,
                KeyCode::KeyN,
                KeyCode::KeyO,
                KeyCode::KeyP,
                KeyCode::KeyQ,
                KeyCode::KeyR,
                KeyCode::KeyS,
                KeyCode::KeyT,
                KeyCode::KeyU,
                KeyCode::KeyV,
                KeyCode::KeyW,
                KeyCode::KeyX,
                KeyCode::KeyY,
                KeyCode::KeyZ,
            ];
            LETTERS[(c as u8 - b'a') as usize]
        }
        _ => panic!("tap: {c:?} is not typed by this test"),
    };
    let logical = || {
        if c == ' ' {
            Key::Space
        } else {
            Key::Character(c.to_string().into())
        }
    };
    [
        message(code, logical(), true),
        message(code, logical(), false),
    ]
}

fn named(code: KeyCode, key: Key) -> [KeyboardInput; 2] {
    [message(code, key.clone(), true), message(code, key, false)]
}

impl Studio {
    fn new(session: ReviewSession) -> Self {
        let review = Review {
            open: true,
            session: Some(session),
            annotator: String::new(),
            ..Default::default()
        };
        Self {
            ctx: egui::Context::default(),
            review,
            live: LiveCaption::default(),
            library: Library::default(),
            clips: LoadedClips::default(),
            problems: Problems::default(),
            keys: ButtonInput::default(),
            held: Held::default(),
            keyboard_in_ui: false,
        }
    }

    /// One frame with these key messages.
    fn frame(&mut self, messages: &[KeyboardInput]) {
        self.keys.clear();
        for m in messages {
            match m.state {
                ButtonState::Pressed => self.keys.press(m.key_code),
                ButtonState::Released => self.keys.release(m.key_code),
            }
        }
        if let Some(a) = review_shortcut(&self.review, self.keyboard_in_ui, &self.keys) {
            self.review.pending = Some(a);
        }
        // The captioner has finished the clip under review.
        if let Some(clip) = self.review.session.as_ref().and_then(|s| s.current()) {
            self.live.key = Some(CaptionKey {
                clip: clip.to_string(),
                tokens: 0..4,
                whole: true,
            });
            self.live.text = format!("a person waves ({clip}).");
            self.live.done = true;
        }
        let events = egui_events(&mut self.held, messages);
        self.pass(events);
        self.keyboard_in_ui = self.ctx.egui_wants_keyboard_input();
    }

    /// One egui pass of the review window with these input events.
    fn pass(&mut self, events: Vec<egui::Event>) {
        let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
        let input = egui::RawInput {
            screen_rect: Some(screen),
            events,
            ..Default::default()
        };
        let Self {
            ctx,
            review,
            live,
            library,
            clips,
            problems,
            ..
        } = self;
        let _ = ctx.run_ui(input, |ui| {
            review_window(ui.ctx(), review, library, clips, live, screen, problems)
        });
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.frame(&tap(c));
        }
    }

    /// A click into a field: egui focuses it during that frame's pass.
    fn focus(&mut self, id: egui::Id) {
        self.ctx.memory_mut(|m| m.request_focus(id));
        self.frame(&[]);
    }
}

/// Typing into the name field and the edit field fires no shortcut (the name contains a, e, r, j
/// and k), Escape hands the keys back to the shortcuts, E opens the caption selected so typing
/// replaces it, and the session file holds exactly the three decisions under the typed name.
#[test]
fn typing_in_the_fields_fires_no_shortcut_and_the_jsonl_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("review.jsonl");
    let order = ["clip_a", "clip_b", "clip_c"].map(String::from).to_vec();
    let mut s = Studio::new(ReviewSession::open(&path, order, "").unwrap());
    s.frame(&[]);
    s.frame(&[]);
    s.focus(egui::Id::new(ANNOTATOR_FIELD));
    s.type_text("jake areki");
    assert_eq!(s.review.annotator, "jake areki");
    assert!(
        !path.exists(),
        "a letter typed into the name field decided a clip"
    );
    assert_eq!(s.review.session.as_ref().unwrap().current(), Some("clip_a"));
    s.frame(&named(KeyCode::Escape, Key::Escape));
    assert!(!s.keyboard_in_ui, "Escape leaves the name field");
    // A accepts clip_a.
    s.frame(&tap('a'));
    s.frame(&[]);
    assert_eq!(s.review.session.as_ref().unwrap().current(), Some("clip_b"));
    // E opens clip_b's caption selected; what is typed replaces it; Enter saves.
    s.frame(&tap('e'));
    assert!(
        s.keyboard_in_ui,
        "E gives the edit field the keyboard at once"
    );
    assert_eq!(
        s.review.editing.as_deref(),
        Some("a person waves (clip_b).")
    );
    s.type_text("a person bows");
    assert_eq!(s.review.editing.as_deref(), Some("a person bows"));
    s.frame(&named(KeyCode::Enter, Key::Enter));
    s.frame(&[]);
    assert_eq!(s.review.editing, None);
    // R rejects clip_c.
    s.frame(&tap('r'));
    s.frame(&[]);
    assert!(s.problems.entries.is_empty(), "{:?}", s.problems.entries);
    let text = std::fs::read_to_string(&path).unwrap();
    // Decision times vary: compare every byte but the seconds.
    let mut lines = Vec::new();
    for line in text.lines() {
        let (head, tail) = line.split_once(r#""time":"#).expect("a time field");
        assert!(
            tail.trim_end_matches('}')
                .chars()
                .all(|c| c.is_ascii_digit()),
            "{line}"
        );
        lines.push(format!("{head}\"time\":T}}"));
    }
    let expected = [
        r#"{"clip":"clip_a","generated":"a person waves (clip_a).","verdict":"accepted","caption":"a person waves (clip_a).","annotator":"jake areki","time":T}"#,
        r#"{"clip":"clip_b","generated":"a person waves (clip_b).","verdict":"edited","caption":"a person bows","annotator":"jake areki","time":T}"#,
        r#"{"clip":"clip_c","generated":"a person waves (clip_c).","verdict":"rejected","caption":"","annotator":"jake areki","time":T}"#,
    ];
    assert_eq!(lines, expected, "{text}");
    assert!(text.ends_with("}\n"));
}

/// A, E and R pressed while the caption is still being generated are refused with a message in
/// the window, not dropped silently.
#[test]
fn a_decision_before_the_caption_is_refused_visibly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("review.jsonl");
    let mut s = Studio::new(ReviewSession::open(&path, vec!["clip_a".into()], "").unwrap());
    s.review.annotator = "jake".into();
    s.frame(&[]);
    // No caption yet: the test's frame sets one, so take it back after each frame.
    s.live.done = false;
    s.keys.clear();
    s.keys.press(KeyCode::KeyA);
    s.review.pending = review_shortcut(&s.review, false, &s.keys);
    s.pass(Vec::new());
    assert!(!path.exists());
    assert!(
        s.review.message.contains("still being generated"),
        "{}",
        s.review.message
    );
}
