use bevy::input::ButtonState;
use bevy::input::keyboard::KeyboardInput;
use bevy::prelude::*;

use super::state::Playback;
use crate::app::UiFrame;

/// Space toggles play, ←/→ step one frame, Home/End jump to the ends. Every key event counts:
/// five quick presses in one frame step five frames, and a held arrow steps at the system's key
/// repeat rate (a repeated Space does not toggle again). Ignored while a text field has focus.
pub(super) fn playback_keys(
    mut keys: MessageReader<KeyboardInput>,
    frame: Res<UiFrame>,
    mut playback: ResMut<Playback>,
) {
    if frame.keyboard_in_ui {
        keys.clear();
        return;
    }
    for k in keys.read() {
        if k.state != ButtonState::Pressed {
            continue;
        }
        match k.key_code {
            KeyCode::Space if !k.repeat => playback.playing = !playback.playing,
            KeyCode::ArrowRight => playback.step(1),
            KeyCode::ArrowLeft => playback.step(-1),
            KeyCode::Home => playback.step(i64::MIN / 2),
            KeyCode::End => playback.step(i64::MAX / 2),
            _ => {}
        }
    }
}

pub(super) fn advance_playback(time: Res<Time>, mut playback: ResMut<Playback>) {
    playback.advance(time.delta_secs());
}

#[cfg(test)]
mod tests {
    use bevy::input::keyboard::Key;

    use super::*;

    fn key(code: KeyCode, state: ButtonState, repeat: bool) -> KeyboardInput {
        KeyboardInput {
            key_code: code,
            logical_key: Key::Unidentified(bevy::input::keyboard::NativeKey::Unidentified),
            state,
            text: None,
            repeat,
            window: Entity::PLACEHOLDER,
        }
    }

    /// Key events, not frames: five Right presses within one frame step five frames; key
    /// repeats of a held arrow each step; a repeated Space does not toggle again; nothing moves
    /// while a text field has the keyboard.
    #[test]
    fn every_key_event_counts() {
        let mut app = crate::app::testing::headless();
        app.add_plugins(super::super::PlaybackPlugin);
        app.world_mut().resource_mut::<Playback>().reset(100);
        app.update();
        let send = |app: &mut App, events: Vec<KeyboardInput>| {
            for e in events {
                app.world_mut().write_message(e);
            }
            app.update();
        };
        let press = |c| key(c, ButtonState::Pressed, false);
        let release = |c| key(c, ButtonState::Released, false);
        let right = KeyCode::ArrowRight;
        send(
            &mut app,
            (0..5)
                .flat_map(|_| [press(right), release(right)])
                .collect(),
        );
        assert_eq!(app.world().resource::<Playback>().frame(), 5);
        // Held: one press and three repeats.
        let held = vec![
            press(right),
            key(right, ButtonState::Pressed, true),
            key(right, ButtonState::Pressed, true),
            key(right, ButtonState::Pressed, true),
        ];
        send(&mut app, held);
        assert_eq!(app.world().resource::<Playback>().frame(), 9);
        send(
            &mut app,
            vec![
                press(KeyCode::Space),
                key(KeyCode::Space, ButtonState::Pressed, true),
            ],
        );
        assert!(app.world().resource::<Playback>().playing);
        {
            // Playing moved the playhead by the frames' real time: back to frame 9, paused.
            let mut pb = app.world_mut().resource_mut::<Playback>();
            pb.playing = false;
            pb.seek(9);
        }
        app.world_mut().resource_mut::<UiFrame>().keyboard_in_ui = true;
        send(&mut app, vec![press(right), press(KeyCode::End)]);
        assert_eq!(app.world().resource::<Playback>().frame(), 9);
        app.world_mut().resource_mut::<UiFrame>().keyboard_in_ui = false;
        send(&mut app, vec![press(KeyCode::End)]);
        assert_eq!(app.world().resource::<Playback>().frame(), 99);
    }
}
