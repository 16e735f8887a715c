//! Keys for egui's text fields, each with the modifiers held when it was pressed.
//!
//! bevy_egui's own forwarding (`write_keyboard_input_messages_system`) reads the modifiers once
//! per frame, after all of the frame's key messages have updated them: a chord pressed and
//! released within one frame (Ctrl+A sent by `xdotool`, or typed at the few frames a second of a
//! software renderer) reached a text field as a plain "a", and Shift+End as End. This forwarding
//! replaces it and walks the messages in order. Clipboard events are not sent (the studio builds
//! bevy_egui without `manage_clipboard`, as before).

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardFocusLost, KeyboardInput};
use bevy::prelude::*;
use bevy_egui::input::EguiInputEvent;
use bevy_egui::{PrimaryEguiContext, egui, helpers};

/// Modifier keys held, as the key messages left them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Held {
    pub shift: bool,
    pub ctrl: bool,
    pub alt: bool,
    /// The Super / Windows / Command key.
    pub logo: bool,
}

impl Held {
    fn modifiers(&self) -> egui::Modifiers {
        let mac = cfg!(target_os = "macos");
        egui::Modifiers {
            alt: self.alt,
            ctrl: self.ctrl,
            shift: self.shift,
            mac_cmd: mac && self.logo,
            command: if mac { self.logo } else { self.ctrl },
        }
    }

    /// Typed characters become text unless a shortcut modifier is held (AltGr, which X11 and
    /// Windows report as Ctrl+Alt, still types).
    fn types_text(&self) -> bool {
        !self.ctrl && !self.logo || !cfg!(target_os = "macos") && self.ctrl && self.alt
    }
}

/// The egui events of one frame's key messages, in order, each with the modifiers held at its
/// press; `held` carries the modifiers over to the next frame.
pub fn egui_events(held: &mut Held, keys: &[KeyboardInput]) -> Vec<egui::Event> {
    let mut out = Vec::new();
    for k in keys {
        let down = k.state == ButtonState::Pressed;
        match &k.logical_key {
            Key::Shift => held.shift = down,
            Key::Control => held.ctrl = down,
            Key::Alt => held.alt = down,
            Key::Super | Key::Meta => held.logo = down,
            _ => {}
        }
        if down && held.types_text() {
            match &k.logical_key {
                Key::Character(c) if !c.chars().any(char::is_control) => {
                    out.push(egui::Event::Text(c.to_string()))
                }
                Key::Space => out.push(egui::Event::Text(" ".into())),
                _ => {}
            }
        }
        let physical_key = helpers::bevy_to_egui_physical_key(&k.key_code);
        let Some(key) = helpers::bevy_to_egui_key(&k.logical_key).or(physical_key) else {
            continue;
        };
        out.push(egui::Event::Key {
            key,
            physical_key,
            pressed: down,
            repeat: k.repeat,
            modifiers: held.modifiers(),
        });
    }
    out
}

/// Sends the frame's key messages to the primary egui context (in bevy_egui's
/// `ReadBevyMessages` input set, in place of its keyboard system).
pub fn forward_keys(
    mut keys: MessageReader<KeyboardInput>,
    mut focus_lost: MessageReader<KeyboardFocusLost>,
    context: Query<Entity, With<PrimaryEguiContext>>,
    mut out: MessageWriter<EguiInputEvent>,
    mut held: Local<Held>,
) {
    // Keys released while the window had no focus never arrive: forget what was held.
    if focus_lost.read().count() > 0 {
        *held = Held::default();
    }
    let keys: Vec<KeyboardInput> = keys.read().cloned().collect();
    let Ok(context) = context.single() else {
        return;
    };
    for event in egui_events(&mut held, &keys) {
        out.write(EguiInputEvent { context, event });
    }
}

/// A key message as winit sends it (for tests).
#[cfg(test)]
pub fn key_message(code: KeyCode, logical: Key, down: bool) -> KeyboardInput {
    KeyboardInput {
        key_code: code,
        logical_key: logical,
        state: if down {
            ButtonState::Pressed
        } else {
            ButtonState::Released
        },
        text: None,
        repeat: false,
        window: Entity::PLACEHOLDER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::key_message as key;

    fn a(down: bool) -> KeyboardInput {
        key(KeyCode::KeyA, Key::Character("a".into()), down)
    }

    fn ctrl(down: bool) -> KeyboardInput {
        key(KeyCode::ControlLeft, Key::Control, down)
    }

    fn key_events(events: &[egui::Event]) -> Vec<(egui::Key, bool, egui::Modifiers)> {
        events
            .iter()
            .filter_map(|e| match e {
                egui::Event::Key {
                    key,
                    pressed,
                    modifiers,
                    ..
                } => Some((*key, *pressed, *modifiers)),
                _ => None,
            })
            .collect()
    }

    /// Ctrl+A pressed and released within one frame is select-all, not the letter a.
    #[test]
    fn a_chord_within_one_frame_keeps_its_modifier() {
        let mut held = Held::default();
        let events = egui_events(&mut held, &[ctrl(true), a(true), a(false), ctrl(false)]);
        assert!(
            !events.iter().any(|e| matches!(e, egui::Event::Text(_))),
            "{events:?}"
        );
        let with_ctrl = egui::Modifiers {
            ctrl: true,
            command: !cfg!(target_os = "macos"),
            ..Default::default()
        };
        let keys = key_events(&events);
        assert!(keys.contains(&(egui::Key::A, true, with_ctrl)), "{keys:?}");
        assert_eq!(held, Held::default());
        // Shift+End the same way: End arrives with Shift.
        let shift = |d| key(KeyCode::ShiftLeft, Key::Shift, d);
        let end = |d| key(KeyCode::End, Key::End, d);
        let events = egui_events(
            &mut held,
            &[shift(true), end(true), end(false), shift(false)],
        );
        let keys = key_events(&events);
        assert!(
            keys.contains(&(egui::Key::End, true, egui::Modifiers::SHIFT)),
            "{keys:?}"
        );
    }

    /// A plain letter is typed, and a modifier held across frames still applies.
    #[test]
    fn letters_type_and_held_modifiers_carry_over() {
        let mut held = Held::default();
        let events = egui_events(&mut held, &[a(true), a(false)]);
        assert_eq!(events[0], egui::Event::Text("a".into()));
        egui_events(&mut held, &[ctrl(true)]);
        let events = egui_events(&mut held, &[a(true)]);
        assert!(
            !events.iter().any(|e| matches!(e, egui::Event::Text(_))),
            "{events:?}"
        );
        let space = egui_events(
            &mut Held::default(),
            &[key(KeyCode::Space, Key::Space, true)],
        );
        assert_eq!(space[0], egui::Event::Text(" ".into()));
    }
}
