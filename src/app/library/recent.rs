//! The last dataset the user opened, remembered across runs
//! (`$XDG_CONFIG_HOME/geomotion/studio.json`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default)]
struct StudioState {
    last_dataset: Option<PathBuf>,
}

fn state_path() -> Option<PathBuf> {
    Some(dirs::config_dir()?.join("geomotion").join("studio.json"))
}

/// The last dataset opened, if it still exists.
pub fn last_dataset() -> Option<PathBuf> {
    let text = std::fs::read_to_string(state_path()?).ok()?;
    let state: StudioState = serde_json::from_str(&text).ok()?;
    state
        .last_dataset
        .filter(|p| p.join("new_joint_vecs").is_dir())
}

/// Remembers `dataset` as the last one opened (best effort: a failure is only logged).
pub fn remember_dataset(dataset: &Path) {
    let Some(path) = state_path() else { return };
    let state = StudioState {
        last_dataset: Some(
            std::fs::canonicalize(dataset).unwrap_or_else(|_| dataset.to_path_buf()),
        ),
    };
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&state).unwrap_or_default())?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        bevy::log::warn!("could not remember the dataset in {}: {e}", path.display());
    }
}
