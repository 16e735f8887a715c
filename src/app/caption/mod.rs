//! Live captioning: the DVQ codes of the selected clip (or of a token range selected on the
//! timeline) go to the captioner on a background thread; the caption streams in over the 3-D
//! view with the device and latency; a new selection cancels the running job.

mod download;
mod jobs;
mod released;
mod state;
mod ui;

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;

pub use released::ReleasedSource;
pub(crate) use released::pick_released_captioner;
pub use state::{CaptionKey, LiveCaption};

use crate::app::UiSystems;

/// Another feature trained a captioner: load the one in this folder (the current selection
/// is captioned again).
#[derive(Message, Debug, Clone)]
pub struct ReloadCaptioner(pub std::path::PathBuf);

fn read_messages(mut reload: MessageReader<ReloadCaptioner>, mut live: ResMut<LiveCaption>) {
    for ReloadCaptioner(dir) in reload.read() {
        live.reload_from(dir);
    }
}

#[derive(Default)]
pub struct CaptionPlugin {
    /// A released captioner to open instead of `models/lm` (`--model`, `--lm`).
    pub released: ReleasedSource,
}

impl Plugin for CaptionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LiveCaption>()
            .insert_resource(self.released.clone())
            .add_message::<ReloadCaptioner>()
            .add_message::<crate::app::tokens::CaptionerGram>()
            .add_systems(Startup, jobs::load_captioner)
            .add_systems(
                Update,
                (
                    read_messages,
                    jobs::drain_caption_jobs,
                    jobs::track_selection,
                )
                    .chain(),
            )
            .add_systems(
                EguiPrimaryContextPass,
                (ui::caption_overlay_ui, download::download_ui)
                    .chain()
                    .in_set(UiSystems::Overlay),
            );
    }
}
