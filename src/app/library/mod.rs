//! The dataset and its clips: opening a dataset (`--data`, `File → Open dataset…`, dropping a
//! folder), the clip browser with search and split filter, captions, compare selection, and the
//! problems panel that lists every error while the app keeps running.

mod state;
mod systems;
mod ui;

use std::path::PathBuf;

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;

pub use state::{Library, LoadedClips, OpenDataset, Problems, SelectClip, Slot};
pub use systems::default_dataset;

use crate::app::UiSystems;

/// Registers the library's state, messages and systems. `data` is the dataset to open first.
pub struct LibraryPlugin {
    pub data: Option<PathBuf>,
}

impl Plugin for LibraryPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Library>()
            .init_resource::<LoadedClips>()
            .init_resource::<Problems>()
            .insert_resource(state::StartupDataset(self.data.clone()))
            .insert_resource(state::Jobs::default())
            .add_message::<OpenDataset>()
            .add_message::<SelectClip>()
            .add_systems(Startup, systems::open_startup_dataset)
            .add_systems(
                Update,
                (
                    systems::open_dropped_folders,
                    systems::drain_jobs,
                    systems::open_dataset,
                    systems::select_clip,
                )
                    .chain(),
            )
            .add_systems(EguiPrimaryContextPass, ui::menu_ui.in_set(UiSystems::Menu))
            .add_systems(
                EguiPrimaryContextPass,
                ui::browser_ui.in_set(UiSystems::Side),
            )
            .add_systems(
                EguiPrimaryContextPass,
                (ui::captions_ui, ui::problems_ui)
                    .chain()
                    .after(ui::browser_ui)
                    .in_set(UiSystems::Side),
            )
            .add_systems(
                EguiPrimaryContextPass,
                ui::empty_state_ui.in_set(UiSystems::Overlay),
            );
    }
}
