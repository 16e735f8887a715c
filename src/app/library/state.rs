use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::motion::{Clip, Dataset, Split};

/// The open dataset and the browser's filters.
#[derive(Resource, Default)]
pub struct Library {
    pub dataset: Option<Dataset>,
    pub search: String,
    /// `None` shows every split.
    pub split_filter: Option<Split>,
    /// Lowercased captions per id, for search; filled in the background after opening.
    pub caption_index: HashMap<String, String>,
    /// `(done, total)` while the caption index is being built.
    pub index_progress: Option<(usize, usize)>,
    /// Sub-clip ids per clip (captions with a time range, HumanML3D's `#start#end`), found by
    /// the caption index; listed under their clip.
    pub sub_clips: HashMap<String, Vec<String>>,
    /// Bumped on every open, so stale background results are dropped.
    pub generation: u64,
}

impl Library {
    /// Ids passing the split filter and the search (over ids and captions, word-wise: see
    /// [`matches_search`]), sorted.
    pub fn visible_ids(&self) -> Vec<&str> {
        let Some(ds) = &self.dataset else {
            return Vec::new();
        };
        let lowered = self.search.to_lowercase();
        let words: Vec<&str> = lowered.split_whitespace().collect();
        let matches = |id: &str| {
            let captions = self.caption_index.get(id).map_or("", String::as_str);
            matches_search(&id.to_lowercase(), captions, &words)
        };
        ds.ids()
            .iter()
            .filter(|id| self.split_filter.is_none_or(|s| ds.split_of(id) == Some(s)))
            .flat_map(|id| {
                // A clip, then its sub-clips: each shown when it matches on its own.
                std::iter::once(id)
                    .chain(self.sub_clips.get(id).into_iter().flatten())
                    .filter(|id| matches(id))
            })
            .map(String::as_str)
            .collect()
    }

    /// Sub-clips found so far (all clips' together).
    pub fn sub_clip_count(&self) -> usize {
        self.sub_clips.values().map(Vec::len).sum()
    }
}

/// Whether a clip matches a search: every word (lowercase) is part of its id or of its
/// captions (lowercase), in any order: "walk left" finds "a person walks and turns left". No
/// words match everything.
pub fn matches_search(id: &str, captions: &str, words: &[&str]) -> bool {
    words.iter().all(|w| id.contains(w) || captions.contains(w))
}

#[cfg(test)]
mod tests {
    use super::{Library, matches_search};

    /// Sub-clips are listed right after their clip, each shown when it matches the search on
    /// its own (its id or its range's captions), and follow the clip's split.
    #[test]
    fn sub_clips_are_listed_under_their_clip_and_searched_on_their_own() {
        let corpus = crate::motion::import::corpus::dataset2_corpus(&["wave-left-hand"]);
        let ds = crate::motion::Dataset::open(corpus.path()).unwrap();
        let ids: Vec<String> = ds.ids().to_vec();
        let (a, b) = (ids[0].clone(), ids[1].clone());
        let sub = crate::motion::subclip::sub_clip_id(&a, 0.5, 2.0);
        let mut lib = Library {
            dataset: Some(ds.clone()),
            ..Default::default()
        };
        lib.caption_index
            .insert(a.clone(), "a person waves the left hand.".into());
        lib.caption_index
            .insert(sub.clone(), "a person lifts the arm.".into());
        lib.sub_clips.insert(a.clone(), vec![sub.clone()]);
        let all = lib.visible_ids();
        assert_eq!(all.len(), ids.len() + 1);
        assert_eq!(&all[..3], [a.as_str(), sub.as_str(), b.as_str()]);
        assert_eq!(lib.sub_clip_count(), 1);
        lib.search = "lifts arm".into();
        assert_eq!(lib.visible_ids(), [sub.as_str()]);
        lib.search = "waves".into();
        assert_eq!(lib.visible_ids(), [a.as_str()]);
        lib.search.clear();
        let other = crate::motion::Split::ALL
            .into_iter()
            .find(|s| ds.split_of(&a) != Some(*s))
            .unwrap();
        lib.split_filter = Some(other);
        assert!(!lib.visible_ids().contains(&sub.as_str()));
        lib.split_filter = ds.split_of(&a);
        assert!(lib.visible_ids().contains(&sub.as_str()));
    }

    #[test]
    fn search_matches_every_word_in_any_order() {
        let caps = "a person walks and turns left, looking exhausted.";
        let id = "dataset-2_walk-turn-left_exhausted_001";
        assert!(matches_search(id, caps, &[]));
        assert!(matches_search(id, caps, &["walk", "left"]));
        assert!(matches_search(id, caps, &["left", "walk"]));
        assert!(matches_search(id, caps, &["exhausted", "dataset-2"]));
        assert!(!matches_search(id, caps, &["walk", "right"]));
        assert!(!matches_search(
            "cmu_02_01",
            "a person walks.",
            &["walk", "left"]
        ));
    }
}

/// Which of the two viewer slots a clip goes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Primary,
    Compare,
}

/// The clips on screen: the primary one and, in compare mode, a second one beside it.
#[derive(Resource, Default)]
pub struct LoadedClips {
    pub primary: Option<Clip>,
    pub compare: Option<Clip>,
    pub compare_mode: bool,
}

impl LoadedClips {
    pub fn get(&self, slot: Slot) -> Option<&Clip> {
        match slot {
            Slot::Primary => self.primary.as_ref(),
            Slot::Compare if self.compare_mode => self.compare.as_ref(),
            Slot::Compare => None,
        }
    }
}

/// Errors met while the app runs, newest last; shown in the problems panel.
#[derive(Resource, Default)]
pub struct Problems {
    pub entries: Vec<(SystemTime, String)>,
    pub open: bool,
}

impl Problems {
    pub fn push(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        warn!("{msg}");
        self.entries.push((SystemTime::now(), msg));
        self.open = true;
    }
}

/// Open the dataset at this folder.
#[derive(Message, Debug, Clone)]
pub struct OpenDataset(pub PathBuf);

/// Load this clip into a slot.
#[derive(Message, Debug, Clone)]
pub struct SelectClip {
    pub id: String,
    pub slot: Slot,
}

/// The dataset given on the command line (or the default), opened at startup.
#[derive(Resource)]
pub(super) struct StartupDataset(pub Option<PathBuf>);

/// Results of background work.
pub(super) enum JobResult {
    PickedFolder(Option<PathBuf>),
    /// Motion files to import (from the file picker).
    ImportRequest(Vec<PathBuf>),
    /// One imported motion, or the error naming the file.
    Imported(std::result::Result<Clip, String>),
    CaptionIndex {
        generation: u64,
        done: usize,
        total: usize,
        /// Lowercased captions per clip or sub-clip id.
        entries: Vec<(String, String)>,
        /// Sub-clip ids per clip, for clips that have any.
        sub_clips: Vec<(String, Vec<String>)>,
        errors: Vec<String>,
    },
}

/// The channel that background threads report through.
#[derive(Resource)]
pub(super) struct Jobs {
    pub tx: Sender<JobResult>,
    pub rx: Receiver<JobResult>,
}

impl Default for Jobs {
    fn default() -> Self {
        let (tx, rx) = unbounded();
        Self { tx, rx }
    }
}
