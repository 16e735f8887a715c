//! Live captioning: the DVQ codes of the selected clip (or of a token range selected on the
//! timeline) go to the captioner on a background thread; the caption streams in over the 3-D
//! view with the device and latency; a new selection cancels the running job.

mod jobs;
mod state;
mod ui;

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;

pub use state::{CaptionKey, LiveCaption};

use crate::app::UiSystems;

pub struct CaptionPlugin;

impl Plugin for CaptionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LiveCaption>()
            .add_systems(Startup, jobs::load_captioner)
            .add_systems(
                Update,
                (jobs::drain_caption_jobs, jobs::track_selection).chain(),
            )
            .add_systems(
                EguiPrimaryContextPass,
                ui::caption_overlay_ui.in_set(UiSystems::Overlay),
            );
    }
}
