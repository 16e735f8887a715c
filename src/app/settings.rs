//! What the studio remembers across runs, in `$XDG_CONFIG_HOME/geomotion/studio.json`: the last
//! dataset opened and the annotator's name. Best effort: an unreadable file gives the defaults,
//! a failed write is logged, and each write keeps the other fields.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The remembered settings (every field optional; unknown fields are ignored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StudioSettings {
    pub last_dataset: Option<PathBuf>,
    /// The name the review window saves decisions under.
    pub annotator: Option<String>,
    /// The studio window's last size, logical pixels (width, height).
    pub window: Option<(u32, u32)>,
}

/// `$XDG_CONFIG_HOME/geomotion/studio.json` (`None` without a config directory).
pub fn settings_path() -> Option<PathBuf> {
    Some(dirs::config_dir()?.join("geomotion").join("studio.json"))
}

impl StudioSettings {
    /// The settings in `path`, or the defaults when it is missing or unreadable.
    pub fn load_from(path: &Path) -> Self {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Writes the settings to `path` atomically (a temporary file renamed over it).
    ///
    /// Errors: the folder or file cannot be written.
    pub fn save_to(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(&tmp, path)
    }

    /// The settings in the user's config folder.
    pub fn load() -> Self {
        settings_path().map_or_else(Self::default, |p| Self::load_from(&p))
    }

    /// Loads the user's settings, applies `change` and saves them (a failure is only logged).
    pub fn update(change: impl FnOnce(&mut Self)) {
        let Some(path) = settings_path() else { return };
        let mut s = Self::load_from(&path);
        change(&mut s);
        if let Err(e) = s.save_to(&path) {
            bevy::log::warn!(
                "could not save the studio settings in {}: {e}",
                path.display()
            );
        }
    }
}

/// The last dataset opened, if it still exists.
pub fn last_dataset() -> Option<PathBuf> {
    StudioSettings::load()
        .last_dataset
        .filter(|p| p.join("new_joint_vecs").is_dir())
}

/// Remembers `dataset` as the last one opened.
pub fn remember_dataset(dataset: &Path) {
    let path = std::fs::canonicalize(dataset).unwrap_or_else(|_| dataset.to_path_buf());
    StudioSettings::update(|s| s.last_dataset = Some(path));
}

/// The annotator name last used in the review window (empty when none was saved).
pub fn annotator() -> String {
    StudioSettings::load().annotator.unwrap_or_default()
}

/// Remembers the annotator's name.
pub fn remember_annotator(name: &str) {
    StudioSettings::update(|s| s.annotator = Some(name.to_string()));
}

/// A write keeps the other fields, and a file from an older studio (only `last_dataset`) or a
/// broken one still loads.
#[test]
fn settings_survive_each_other_and_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("geomotion").join("studio.json");
    assert_eq!(StudioSettings::load_from(&path), StudioSettings::default());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, r#"{"last_dataset": "/data/HumanML3D"}"#).unwrap();
    let mut s = StudioSettings::load_from(&path);
    assert_eq!(s.last_dataset, Some(PathBuf::from("/data/HumanML3D")));
    s.annotator = Some("Aiko Tanaka".into());
    s.save_to(&path).unwrap();
    let back = StudioSettings::load_from(&path);
    assert_eq!(back.annotator.as_deref(), Some("Aiko Tanaka"));
    assert_eq!(back.last_dataset, Some(PathBuf::from("/data/HumanML3D")));
    std::fs::write(&path, "{not json").unwrap();
    assert_eq!(StudioSettings::load_from(&path), StudioSettings::default());
}
