//! A HumanML3D-layout dataset folder (HumanML3D or KIT-ML), indexed lazily:
//!
//! ```text
//! ROOT/new_joint_vecs/<id>.npy   (T, 263) features (KIT-ML: (T, 251))          required
//! ROOT/new_joints/<id>.npy       (T, 22, 3) joints, metres (KIT-ML: 21, mm)     optional
//! ROOT/texts/<id>.txt            captions                                       optional
//! ROOT/Mean.npy, ROOT/Std.npy    (263,) (KIT-ML: (251,))                        to normalise
//! ROOT/train.txt, val.txt, test.txt                                            split lists
//! ```
//!
//! Which of the two it is comes from the width of `Mean.npy` (or, without one, of the first
//! clip's features); a clip of the other width is refused by name.
//!
//! Opening lists `new_joint_vecs/` and reads the split lists only; features, joints and captions
//! are read when a clip is asked for, so a full-size dataset (29,228 ids) opens in well under a
//! second (`geomotion bench open`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::{MotionError, Result};
use super::features::{Features, Joints};
use super::normalize::Normalizer;
use super::npy::read_npy;
use super::skeleton::Skeleton;
use super::texts::{Caption, read_texts};

/// A data split as listed by `train.txt`, `val.txt`, `test.txt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// The split list's file stem: `train`, `val`, `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Split::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("unknown split `{s}` (train, val or test)"))
    }
}

/// A lazily indexed HumanML3D-layout dataset.
#[derive(Clone, Debug)]
pub struct Dataset {
    root: PathBuf,
    /// Clip ids with a features file, sorted.
    ids: Vec<String>,
    split_of: HashMap<String, Split>,
    /// Ids named by the split lists that have no features file.
    listed_without_features: usize,
    /// HumanML3D or KIT-ML.
    skeleton: Skeleton,
}

/// One clip, fully loaded.
#[derive(Clone, Debug)]
pub struct Clip {
    pub id: String,
    pub split: Option<Split>,
    /// `(T, 263)` features at 20 fps (KIT-ML: `(T, 251)` at 12.5 fps).
    pub features: Features,
    /// `(T, J, 3)` joints from [`Features::joints`] (`recover_from_ric`), metres.
    pub joints: Joints,
    /// The captions of `texts/<id>.txt`; empty when the clip has no texts file.
    pub captions: Vec<Caption>,
}

impl Dataset {
    /// Indexes the dataset at `root`: lists `new_joint_vecs/*.npy` and reads the split lists.
    ///
    /// Errors: `root` or `root/new_joint_vecs/` missing or unreadable, a split list unreadable.
    pub fn open(root: &Path) -> Result<Self> {
        let vecs = root.join("new_joint_vecs");
        if !vecs.is_dir() {
            return Err(MotionError::Missing {
                path: root.to_path_buf(),
                what: "a `new_joint_vecs/` folder (not a HumanML3D-layout dataset)".into(),
            });
        }
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&vecs).map_err(|e| MotionError::io(&vecs, e))? {
            let entry = entry.map_err(|e| MotionError::io(&vecs, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = name.strip_suffix(".npy") {
                ids.push(id.to_string());
            }
        }
        ids.sort_unstable();
        let mut split_of = HashMap::new();
        for split in Split::ALL {
            let path = root.join(format!("{}.txt", split.name()));
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| MotionError::io(&path, e))?;
            for id in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                split_of.insert(id.to_string(), split);
            }
        }
        // Distinct ids: an id listed twice (or in two lists) counts once.
        let listed = split_of.len();
        let with_features = ids.iter().filter(|id| split_of.contains_key(*id)).count();
        // Keep only the entries we can show; the rest is a count for the UI.
        split_of.retain(|id, _| ids.binary_search(id).is_ok());
        let skeleton = detect_skeleton(root, ids.first().map(|id| vecs.join(format!("{id}.npy"))));
        Ok(Self {
            root: root.to_path_buf(),
            ids,
            split_of,
            listed_without_features: listed - with_features,
            skeleton,
        })
    }

    /// HumanML3D or KIT-ML: the skeleton every clip of this dataset has.
    pub fn skeleton(&self) -> Skeleton {
        self.skeleton
    }

    /// Errors unless this dataset is of `skeleton`, naming `what` needs it (e.g. "the T2M
    /// evaluator") and what the folder is.
    pub fn require(&self, skeleton: Skeleton, what: &str) -> Result<()> {
        if self.skeleton == skeleton {
            return Ok(());
        }
        Err(MotionError::Invalid {
            path: self.root.clone(),
            msg: format!(
                "{what} reads {}'s {}-d features; this is a {} dataset ({}-d)",
                skeleton.name(),
                skeleton.n_features(),
                self.skeleton.name(),
                self.skeleton.n_features()
            ),
        })
    }

    /// The dataset folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Clip ids with a features file, sorted.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Ids of one split that have a features file, sorted.
    pub fn split_ids(&self, split: Split) -> Vec<&str> {
        self.ids
            .iter()
            .filter(|id| self.split_of.get(*id) == Some(&split))
            .map(String::as_str)
            .collect()
    }

    /// The split a clip is listed in, if any.
    pub fn split_of(&self, id: &str) -> Option<Split> {
        self.split_of.get(id).copied()
    }

    /// How many ids the split lists name that have no features file here (e.g. 29,227 for the
    /// reference folder that ships one clip).
    pub fn listed_without_features(&self) -> usize {
        self.listed_without_features
    }

    pub fn features_path(&self, id: &str) -> PathBuf {
        self.root.join("new_joint_vecs").join(format!("{id}.npy"))
    }

    /// The `(T, 263)` (KIT-ML: `(T, 251)`) features of clip `id`, or of a sub-clip id
    /// ([`super::subclip::sub_clip_id`], e.g. `012314_1.500000_4.000000`) whose clip is in the
    /// dataset: that clip's frames `int(start·20)..int(end·20)`.
    ///
    /// Sub-clip ranges are in seconds at 20 fps for KIT-ML too, as HumanML3D's loader
    /// (`int(f_tag*20)`) has them.
    ///
    /// Errors: the features file unreadable or invalid (named), or of the other dataset's
    /// width; a sub-clip with no frame.
    pub fn load_features(&self, id: &str) -> Result<Features> {
        let Some((clip, Some((start, end)))) = self.resolve(id) else {
            return self.read_features(&self.features_path(id));
        };
        let path = self.features_path(clip);
        let f = self.read_features(&path)?;
        let r = super::subclip::frames_of(start, end, f.frames());
        if r.is_empty() {
            return Err(MotionError::Invalid {
                path,
                msg: format!(
                    "sub-clip {start}..{end} s has no frame (the clip has {} frames at 20 fps)",
                    f.frames()
                ),
            });
        }
        f.frames_range(r, &path)
    }

    fn read_features(&self, path: &Path) -> Result<Features> {
        let f = Features::load(path)?;
        if f.skeleton() != self.skeleton {
            return Err(MotionError::Invalid {
                path: path.to_path_buf(),
                msg: format!(
                    "{} features a frame is {}'s layout, in a {} dataset ({} features a frame)",
                    f.width(),
                    f.skeleton().name(),
                    self.skeleton.name(),
                    self.skeleton.n_features()
                ),
            });
        }
        Ok(f)
    }

    /// The clip an id names and, for a sub-clip id, its range in seconds: `(id, None)` for a
    /// clip of the dataset, `(clip, Some((start, end)))` for a sub-clip of one, `None` else.
    fn resolve<'a>(&self, id: &'a str) -> Option<(&'a str, Option<(f64, f64)>)> {
        let known = |c: &str| self.ids.binary_search_by(|x| x.as_str().cmp(c)).is_ok();
        if known(id) {
            return Some((id, None));
        }
        super::subclip::parse_sub_clip_id(id)
            .filter(|(clip, _, _)| known(clip))
            .map(|(clip, start, end)| (clip, Some((start, end))))
    }

    pub fn joints_path(&self, id: &str) -> PathBuf {
        self.root.join("new_joints").join(format!("{id}.npy"))
    }

    pub fn texts_path(&self, id: &str) -> PathBuf {
        self.root.join("texts").join(format!("{id}.txt"))
    }

    /// The dataset's Mean/Std (`Mean.npy`, `Std.npy` in the root).
    pub fn normalizer(&self) -> Result<Normalizer> {
        Normalizer::load(&self.root)
    }

    /// Captions of a clip; a clip without a texts file has none (not an error).
    pub fn captions(&self, id: &str) -> Result<Vec<Caption>> {
        let path = self.texts_path(id);
        if !path.exists() {
            return Ok(Vec::new());
        }
        read_texts(&path)
    }

    /// The stored `new_joints/<id>.npy`, if present.
    pub fn reference_joints(&self, id: &str) -> Option<Result<Joints>> {
        let path = self.joints_path(id);
        path.exists().then(|| Joints::load(&path))
    }

    /// Loads one clip: features (validated), joints from `recover_from_ric`, captions. A
    /// sub-clip id ([`super::subclip::sub_clip_id`]) loads that part of its clip, with the
    /// captions of that range, in the clip's split.
    ///
    /// Errors: an id that is neither a clip nor a sub-clip of one; an unreadable or invalid
    /// features or texts file (named); a sub-clip with no frame.
    pub fn load_clip(&self, id: &str) -> Result<Clip> {
        let Some((clip, range)) = self.resolve(id) else {
            return Err(MotionError::UnknownClip {
                path: self.root.clone(),
                id: id.to_string(),
            });
        };
        let features = self.load_features(id)?;
        let joints = features.joints();
        let mut captions = self.captions(clip)?;
        if range.is_some() {
            captions = super::subclip::captions_of(clip, id, &captions)
                .cloned()
                .collect();
        }
        Ok(Clip {
            id: id.to_string(),
            split: self.split_of(clip),
            joints,
            features,
            captions,
        })
    }
}

/// The skeleton of a dataset folder: from the width of `Mean.npy`, else of the first clip's
/// features, else HumanML3D. Unreadable files fall through (their errors come when read).
fn detect_skeleton(root: &Path, first_clip: Option<PathBuf>) -> Skeleton {
    let width = |p: &Path| {
        read_npy::<f32>(p)
            .ok()
            .and_then(|a| a.shape.last().copied())
            .and_then(Skeleton::from_features)
    };
    let mean = root.join("Mean.npy");
    mean.exists()
        .then(|| width(&mean))
        .flatten()
        .or_else(|| first_clip.and_then(|p| width(&p)))
        .unwrap_or_default()
}
