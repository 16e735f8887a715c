//! Playback of the primary clip at 20 fps: play/pause (Space), frame step (←/→), scrub bar,
//! speed 0.25×–4×, loop, frame and time readout.

mod state;
mod systems;
mod ui;

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;

pub use state::Playback;

use crate::app::UiSystems;

pub struct PlaybackPlugin;

impl Plugin for PlaybackPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Playback>()
            .add_systems(
                Update,
                (systems::playback_keys, systems::advance_playback).chain(),
            )
            .add_systems(
                EguiPrimaryContextPass,
                ui::transport_ui.in_set(UiSystems::Bottom),
            );
    }
}
