//! Text to motion in the studio: a prompt box (View menu, "Text to motion") that generates on a
//! background thread with an LM trained on both directions (the shipped one, loaded when the
//! window first opens; `--t2m DIR`, or File menu, "Open text-to-motion LM…"), shows the codes as
//! they come (in the box and on the token timeline), then plays the motion as the primary clip,
//! where the tokenizer reads it again and the captioner captions it back (the round trip), and
//! sets it beside the real clip nearest to it.

mod jobs;
mod nearest;
mod state;
mod ui;

#[cfg(test)]
mod tests;

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;

pub(crate) use jobs::pick_lm;
pub use state::TextToMotion;

use crate::app::UiSystems;

#[derive(Default)]
pub struct GeneratePlugin {
    /// An LM trained with `--tasks m2t,t2m` to load at start (`--t2m`).
    pub lm: Option<std::path::PathBuf>,
    /// Its backbone, when not the resolver's SmolLM2.
    pub backbone: Option<std::path::PathBuf>,
    /// Show the window at start (`--text-to-motion`).
    pub open: bool,
}

impl Plugin for GeneratePlugin {
    fn build(&self, app: &mut App) {
        let mut state = TextToMotion {
            open: self.open,
            ..Default::default()
        };
        if let Some(dir) = &self.lm {
            state.tried_shipped = true;
            state.load(dir.clone(), self.backbone.clone());
        }
        app.insert_resource(state)
            .add_systems(Update, jobs::drain)
            .add_systems(
                EguiPrimaryContextPass,
                ui::generate_ui.in_set(UiSystems::Overlay),
            );
    }
}
