use bevy::prelude::*;

use super::state::Playback;
use crate::app::UiFrame;

/// Space toggles play, ←/→ step one frame, Home/End jump to the ends. Ignored while a text
/// field has focus.
pub(super) fn playback_keys(
    keys: Res<ButtonInput<KeyCode>>,
    frame: Res<UiFrame>,
    mut playback: ResMut<Playback>,
) {
    if frame.keyboard_in_ui {
        return;
    }
    if keys.just_pressed(KeyCode::Space) {
        playback.playing = !playback.playing;
    }
    if keys.just_pressed(KeyCode::ArrowRight) {
        playback.step(1);
    }
    if keys.just_pressed(KeyCode::ArrowLeft) {
        playback.step(-1);
    }
    if keys.just_pressed(KeyCode::Home) {
        playback.step(i64::MIN / 2);
    }
    if keys.just_pressed(KeyCode::End) {
        playback.step(i64::MAX / 2);
    }
}

pub(super) fn advance_playback(time: Res<Time>, mut playback: ResMut<Playback>) {
    playback.advance(time.delta_secs());
}
