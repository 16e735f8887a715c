//! Caption review for annotators: the generated caption beside the references, Accept / Edit /
//! Reject (A / E / R), next / previous (J / K), undo / redo (Ctrl+Z / Ctrl+Shift+Z), a batch
//! that walks a split, the annotator's name and a progress counter. The session (see
//! [`session`]) autosaves every change; exports go beside the session file.

pub mod session;
#[cfg(test)]
mod tests;
mod ui;

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;

pub use session::{ReviewEntry, ReviewError, ReviewSession, Verdict};

use crate::app::UiSystems;
use crate::motion::Split;

/// The review window's state.
#[derive(Resource)]
pub struct Review {
    pub open: bool,
    pub session: Option<ReviewSession>,
    pub split: Split,
    pub annotator: String,
    /// The caption being edited (E), until Enter saves it or Escape drops it.
    pub editing: Option<String>,
    /// A shortcut pressed this frame, for the window to apply.
    pending: Option<ui::Action>,
    /// The last export or error, shown in the window.
    pub message: String,
    /// Clip the viewer was last sent to (so cursor moves select the clip once).
    pub(super) shown: Option<String>,
}

impl Default for Review {
    fn default() -> Self {
        Self {
            open: false,
            session: None,
            split: Split::Test,
            // The name last used (remembered in the settings file), else none: Start needs one.
            annotator: crate::app::settings::annotator(),
            editing: None,
            pending: None,
            message: String::new(),
            shown: None,
        }
    }
}

/// Where a dataset's review of a split is kept: `<data dir>/geomotion/reviews/<dataset>-<split>.jsonl`.
pub fn session_path(dataset_root: &std::path::Path, split: Split) -> std::path::PathBuf {
    let name = dataset_root
        .file_name()
        .map_or("dataset".into(), |n| n.to_string_lossy().to_string());
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("geomotion")
        .join("reviews")
        .join(format!("{name}-{}.jsonl", split.name()))
}

pub struct ReviewPlugin;

impl Plugin for ReviewPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Review>()
            // Review moves the library's selection with its cursor.
            .add_message::<crate::app::library::SelectClip>()
            .add_systems(Update, (ui::review_keys, ui::follow_cursor))
            .add_systems(
                EguiPrimaryContextPass,
                (ui::review_toggle_ui, ui::review_ui)
                    .chain()
                    .in_set(UiSystems::Overlay),
            );
    }
}
