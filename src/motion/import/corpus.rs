//! The demo corpus: every motion in `../shared/data` (Bandai-Namco BVH, CMU BVH and ASF/AMC)
//! converted into a HumanML3D-layout folder with captions, the fixed splits, Mean/Std computed
//! the official way from the train split, and a manifest that records where every clip came from.
//!
//! ```text
//! OUT/new_joint_vecs/<id>.npy  (T, 263)     OUT/new_joints/<id>.npy  (T, 22, 3)
//! OUT/texts/<id>.txt           caption#tokens#0.0#0.0
//! OUT/Mean.npy, OUT/Std.npy    (263,)       OUT/train.txt, val.txt, test.txt
//! OUT/manifest.json            one entry per clip (source, frames, licence, split, captions)
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::captions::{CaptionKind, bandai_captions, cmu_sentence, mirror_caption, plain_tokens};
use super::convert::{joints_to_features, mirror_joints};
use super::file::{ImportOptions, ImportedMotion, import_motion, motion_id};
use crate::motion::error::{MotionError, Result};
use crate::motion::layout::feature_groups;
use crate::motion::npy::write_npy_f32;
use crate::motion::{Features, N_FEATURES, N_JOINTS, Split};

/// Takes longer than this many frames at 20 fps (10 s) are cut into windows.
pub const MAX_WHOLE_TAKE_FRAMES: usize = 200;
/// Longest window, in joint frames at 20 fps (HumanML3D's longest clips are 196 frames).
pub const MAX_WINDOW_FRAMES: usize = 196;

const BANDAI_LICENCE: &str =
    "CC BY-NC 4.0 (Bandai Namco Research Motiondataset): non-commercial use only";
const CMU_LICENCE: &str = "CMU Graphics Lab Motion Capture Database terms (mocap.cs.cmu.edu); \
                           the source repository states no licence";

/// One motion file of the shared data and what the corpus knows about it.
#[derive(Clone, Debug)]
pub struct Source {
    /// Corpus id of the take: the Bandai take name, or `cmu_SS_TT`.
    pub id: String,
    pub path: PathBuf,
    /// `bandai-1`, `bandai-2`, `cmu`.
    pub dataset: String,
    pub split: Split,
    pub licence: &'static str,
    pub options: ImportOptions,
    pub captions: Vec<(String, CaptionKind)>,
    /// Source labels: content/style, or the CMU description.
    pub labels: BTreeMap<String, String>,
}

/// One clip in `manifest.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestEntry {
    pub id: String,
    pub dataset: String,
    /// Source file relative to the data folder.
    pub source: String,
    pub rig: String,
    pub source_fps: f64,
    /// Joint frames of the take at 20 fps that this clip covers, `[start, end)`.
    pub frames_20fps: [usize; 2],
    pub licence: String,
    pub split: String,
    /// `true` when the clip is the whole take, so its captions describe exactly this motion;
    /// `false` for a window of a longer take, which inherits the take's captions.
    pub whole_take: bool,
    /// A left/right mirrored copy (HumanML3D's `M` ids).
    pub mirrored: bool,
    pub captions: Vec<ManifestCaption>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestCaption {
    pub text: String,
    pub kind: CaptionKind,
}

/// What a build did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BuildReport {
    pub sources: usize,
    pub clips: usize,
    pub frames: usize,
    pub per_split: BTreeMap<String, usize>,
    /// Files skipped, with the reason (file, line or frame).
    pub skipped: Vec<String>,
    pub seconds: f64,
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| MotionError::io(path, e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

fn read_set(path: &Path) -> Result<HashSet<String>> {
    Ok(read_lines(path)?.into_iter().collect())
}

fn split_of(name: &str, val: &HashSet<String>, test: &HashSet<String>) -> Split {
    if val.contains(name) {
        Split::Val
    } else if test.contains(name) {
        Split::Test
    } else {
        Split::Train
    }
}

#[derive(Deserialize)]
struct BandaiLabels {
    content: usize,
    style: usize,
}

#[derive(Deserialize)]
struct CmuBvhRow {
    file: String,
    subject: u32,
    trial: u32,
    true_fps: f64,
    has_tpose_frame0: bool,
}

#[derive(Deserialize)]
struct CmuDescription {
    subject: u32,
    trial: u32,
    description: String,
}

/// Lists every motion of the shared data with its split and captions. A trial present both as
/// CMU BVH and ASF/AMC enters once, as ASF/AMC. Problems with individual files go to `skipped`.
pub fn discover_sources(data: &Path, skipped: &mut Vec<String>) -> Result<Vec<Source>> {
    let splits = data.join("splits");
    let bandai_val = read_set(&splits.join("bandai_val.txt"))?;
    let bandai_test = read_set(&splits.join("bandai_test.txt"))?;
    let cmu_val = read_set(&splits.join("cmu_val.txt"))?;
    let cmu_test = read_set(&splits.join("cmu_test.txt"))?;
    let mut sources = Vec::new();

    for (n, dir) in [(1, "dataset-1"), (2, "dataset-2")] {
        let dir = data.join("bandai").join(dir);
        let prefix = format!("dataset-{n}_");
        let strip = |l: String| l.strip_prefix(&prefix).map(String::from).unwrap_or(l);
        let contents: Vec<String> = read_lines(&dir.join("content_label.txt"))?
            .into_iter()
            .map(strip)
            .collect();
        let styles: Vec<String> = read_lines(&dir.join("style_label.txt"))?
            .into_iter()
            .map(strip)
            .collect();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| MotionError::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".bvh.gz"))
            .collect();
        files.sort();
        for path in files {
            let id = motion_id(&path);
            let json = dir.join(format!("{id}.json"));
            let labels: BandaiLabels = match std::fs::read_to_string(&json)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            {
                Ok(l) => l,
                Err(e) => {
                    skipped.push(format!("{}: {e}", json.display()));
                    continue;
                }
            };
            let (Some(content), Some(style)) =
                (contents.get(labels.content), styles.get(labels.style))
            else {
                skipped.push(format!("{}: label index out of range", json.display()));
                continue;
            };
            let Some(texts) = bandai_captions(content, style) else {
                skipped.push(format!(
                    "{}: no caption phrase for `{content}`/`{style}`",
                    json.display()
                ));
                continue;
            };
            sources.push(Source {
                split: split_of(&id, &bandai_val, &bandai_test),
                id,
                path,
                dataset: format!("bandai-{n}"),
                licence: BANDAI_LICENCE,
                options: ImportOptions::default(),
                captions: texts
                    .into_iter()
                    .map(|t| (t, CaptionKind::Template))
                    .collect(),
                labels: BTreeMap::from([
                    ("content".into(), content.clone()),
                    ("style".into(), style.clone()),
                ]),
            });
        }
    }

    let descriptions: HashMap<(u32, u32), String> = {
        let path = data.join("cmu/cmu_descriptions.csv");
        let mut rd = csv::Reader::from_path(&path).map_err(|e| MotionError::Invalid {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        rd.deserialize::<CmuDescription>()
            .filter_map(|r| r.ok())
            .map(|r| ((r.subject, r.trial), r.description))
            .collect()
    };
    let cmu_source =
        |subject: u32, trial: u32, path: PathBuf, options: ImportOptions| -> Option<Source> {
            let key = format!("{subject:02}_{trial:02}");
            let desc = descriptions.get(&(subject, trial))?;
            Some(Source {
                id: format!("cmu_{key}"),
                path,
                dataset: "cmu".into(),
                split: split_of(&key, &cmu_val, &cmu_test),
                licence: CMU_LICENCE,
                options,
                captions: vec![
                    (cmu_sentence(desc), CaptionKind::Template),
                    (desc.clone(), CaptionKind::HumanTerse),
                ],
                labels: BTreeMap::from([("description".into(), desc.clone())]),
            })
        };
    let mut amc_trials = HashSet::new();
    let asf_root = data.join("cmu/asfamc");
    let mut subjects: Vec<PathBuf> = std::fs::read_dir(&asf_root)
        .map_err(|e| MotionError::io(&asf_root, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subjects.sort();
    for dir in subjects {
        let mut amcs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| MotionError::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".amc.gz"))
            .collect();
        amcs.sort();
        for path in amcs {
            let id = motion_id(&path);
            let parsed = id
                .split_once('_')
                .and_then(|(s, t)| Some((s.parse().ok()?, t.parse().ok()?)));
            let Some((s, t)) = parsed else {
                skipped.push(format!("{}: name is not SS_TT", path.display()));
                continue;
            };
            match cmu_source(s, t, path.clone(), ImportOptions::default()) {
                Some(src) => {
                    amc_trials.insert((s, t));
                    sources.push(src);
                }
                None => skipped.push(format!(
                    "{}: no CMU description for {s}/{t}",
                    path.display()
                )),
            }
        }
    }
    let manifest = data.join("cmu/bvh/manifest.csv");
    let mut rd = csv::Reader::from_path(&manifest).map_err(|e| MotionError::Invalid {
        path: manifest.clone(),
        msg: e.to_string(),
    })?;
    for row in rd.deserialize::<CmuBvhRow>() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                skipped.push(format!("{}: {e}", manifest.display()));
                continue;
            }
        };
        if amc_trials.contains(&(row.subject, row.trial)) {
            continue; // the original ASF/AMC is preferred
        }
        let options = ImportOptions {
            fps: Some(row.true_fps),
            drop_first_frame: row.has_tpose_frame0,
            ..Default::default()
        };
        let path = data.join("cmu/bvh").join(&row.file);
        match cmu_source(row.subject, row.trial, path.clone(), options) {
            Some(src) => sources.push(src),
            None => skipped.push(format!("{}: no CMU description", path.display())),
        }
    }
    Ok(sources)
}

/// Frame ranges `[start, end)` of the windows a take of `frames` frames is cut into: the whole
/// take up to 10 s, else ⌈T/196⌉ equal windows of at most 196 frames.
pub fn windows(frames: usize) -> Vec<std::ops::Range<usize>> {
    if frames <= MAX_WHOLE_TAKE_FRAMES {
        return vec![0..frames];
    }
    let n = frames.div_ceil(MAX_WINDOW_FRAMES);
    let len = frames.div_ceil(n);
    (0..n)
        .map(|k| k * len..((k + 1) * len).min(frames))
        .filter(|r| r.len() >= 2)
        .collect()
}

/// Per-feature running sums over train frames, for Mean/Std.
#[derive(Clone)]
pub(crate) struct Moments {
    skeleton: crate::motion::Skeleton,
    n: f64,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl Moments {
    fn new() -> Self {
        Self::of(crate::motion::Skeleton::HumanMl3d)
    }
    pub(crate) fn of(skeleton: crate::motion::Skeleton) -> Self {
        let w = skeleton.n_features();
        Self {
            skeleton,
            n: 0.0,
            sum: vec![0.0; w],
            sum_sq: vec![0.0; w],
        }
    }
    pub(crate) fn add_rows(&mut self, data: &[f32]) {
        for row in data.chunks_exact(self.sum.len()) {
            self.n += 1.0;
            for (k, &v) in row.iter().enumerate() {
                self.sum[k] += v as f64;
                self.sum_sq[k] += (v as f64) * (v as f64);
            }
        }
    }
    fn merge(mut self, o: Moments) -> Self {
        self.n += o.n;
        self.sum.iter_mut().zip(&o.sum).for_each(|(a, b)| *a += b);
        self.sum_sq
            .iter_mut()
            .zip(&o.sum_sq)
            .for_each(|(a, b)| *a += b);
        self
    }
    /// Mean and the official per-group std (HumanML3D `cal_mean_variance`: population std per
    /// feature, then each group's stds replaced by their mean).
    pub(crate) fn mean_std(&self) -> (Vec<f32>, Vec<f32>) {
        let mean: Vec<f64> = self.sum.iter().map(|s| s / self.n).collect();
        let std: Vec<f64> = (0..self.sum.len())
            .map(|k| {
                (self.sum_sq[k] / self.n - mean[k] * mean[k])
                    .max(0.0)
                    .sqrt()
            })
            .collect();
        let mut shared = vec![0.0f32; self.sum.len()];
        for (_, r) in feature_groups(self.skeleton.n_joints()) {
            let m = std[r.clone()].iter().sum::<f64>() / r.len() as f64;
            // A group that never varies (e.g. no foot contact at all) keeps normalisation
            // defined with std 1.
            let m = if m > 0.0 { m } else { 1.0 };
            shared[r].iter_mut().for_each(|s| *s = m as f32);
        }
        (mean.iter().map(|&m| m as f32).collect(), shared)
    }
}

struct ClipOut {
    entry: ManifestEntry,
    frames: usize,
}

fn write_clip(
    out: &Path,
    id: &str,
    features: &Features,
    captions: &[(String, CaptionKind)],
) -> Result<()> {
    features.save(&out.join("new_joint_vecs").join(format!("{id}.npy")))?;
    let joints = features.joints();
    let flat: Vec<f32> = joints.as_slice().iter().flatten().copied().collect();
    write_npy_f32(
        &out.join("new_joints").join(format!("{id}.npy")),
        &[joints.frames(), N_JOINTS, 3],
        &flat,
    )?;
    let text: String = captions
        .iter()
        .map(|(t, _)| format!("{t}#{}#0.0#0.0\n", plain_tokens(t)))
        .collect();
    let path = out.join("texts").join(format!("{id}.txt"));
    std::fs::write(&path, text).map_err(|e| MotionError::io(&path, e))
}

/// Converts one source into its clips (windows, and a mirrored copy of each), writing files.
fn convert_source(
    src: &Source,
    data: &Path,
    out: &Path,
    moments: &mut Moments,
) -> Result<Vec<ClipOut>> {
    let motion: ImportedMotion = import_motion(&src.path, &src.options)?;
    let wins = windows(motion.frames());
    let whole = wins.len() == 1;
    let mirrored_joints = mirror_joints(&motion.joints);
    let mut clips = Vec::new();
    for (k, range) in wins.iter().enumerate() {
        for mirrored in [false, true] {
            let base = if whole {
                src.id.clone()
            } else {
                format!("{}_w{k:02}", src.id)
            };
            let id = if mirrored { format!("M{base}") } else { base };
            let joints = if mirrored {
                &mirrored_joints
            } else {
                &motion.joints
            };
            let rows = joints_to_features(&joints[range.start * N_JOINTS..range.end * N_JOINTS]);
            let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
            let features = Features::new(flat, &src.path)?;
            let captions: Vec<(String, CaptionKind)> = src
                .captions
                .iter()
                .map(|(t, kind)| {
                    (
                        if mirrored {
                            mirror_caption(t)
                        } else {
                            t.clone()
                        },
                        *kind,
                    )
                })
                .collect();
            write_clip(out, &id, &features, &captions)?;
            if src.split == Split::Train {
                moments.add_rows(features.as_slice());
            }
            clips.push(ClipOut {
                frames: features.frames(),
                entry: ManifestEntry {
                    id,
                    dataset: src.dataset.clone(),
                    source: src
                        .path
                        .strip_prefix(data)
                        .unwrap_or(&src.path)
                        .display()
                        .to_string(),
                    rig: motion.rig.clone(),
                    source_fps: motion.source_fps,
                    frames_20fps: [range.start, range.end],
                    licence: src.licence.to_string(),
                    split: src.split.name().to_string(),
                    whole_take: whole,
                    mirrored,
                    captions: captions
                        .into_iter()
                        .map(|(text, kind)| ManifestCaption { text, kind })
                        .collect(),
                    labels: src.labels.clone(),
                },
            });
        }
    }
    Ok(clips)
}

/// Builds the demo corpus from `data` (the shared data folder) into `out`.
///
/// Runs in parallel; `progress(done, total)` is called after each source. A bad source file is
/// skipped and listed in the report; only an unwritable `out` or missing split lists abort.
pub fn build_corpus(
    data: &Path,
    out: &Path,
    filter: Option<&(dyn Fn(&Source) -> bool + Sync)>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<BuildReport> {
    let start = std::time::Instant::now();
    let mut report = BuildReport::default();
    let mut sources = discover_sources(data, &mut report.skipped)?;
    if let Some(f) = filter {
        sources.retain(|s| f(s));
    }
    for sub in ["new_joint_vecs", "new_joints", "texts"] {
        let d = out.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| MotionError::io(&d, e))?;
    }
    let done = AtomicUsize::new(0);
    let total = sources.len();
    let results: Vec<(std::result::Result<Vec<ClipOut>, String>, Moments)> = sources
        .par_iter()
        .map(|src| {
            let mut m = Moments::new();
            let r = convert_source(src, data, out, &mut m).map_err(|e| e.to_string());
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            (r, m)
        })
        .collect();
    let mut moments = Moments::new();
    let mut entries = Vec::new();
    for (r, m) in results {
        moments = moments.merge(m);
        match r {
            Ok(clips) => {
                for c in clips {
                    report.frames += c.frames;
                    entries.push(c.entry);
                }
            }
            Err(e) => report.skipped.push(e),
        }
    }
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    let (mean, std) = moments.mean_std();
    write_npy_f32(&out.join("Mean.npy"), &[N_FEATURES], &mean)?;
    write_npy_f32(&out.join("Std.npy"), &[N_FEATURES], &std)?;
    for split in Split::ALL {
        let ids: String = entries
            .iter()
            .filter(|e| e.split == split.name())
            .map(|e| format!("{}\n", e.id))
            .collect();
        report
            .per_split
            .insert(split.name().into(), ids.lines().count());
        let path = out.join(format!("{}.txt", split.name()));
        std::fs::write(&path, ids).map_err(|e| MotionError::io(&path, e))?;
    }
    let path = out.join("manifest.json");
    let json = serde_json::to_string_pretty(&entries).map_err(|e| MotionError::Invalid {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    std::fs::write(&path, json).map_err(|e| MotionError::io(&path, e))?;
    report.sources = total;
    report.clips = entries.len();
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Reads `manifest.json` of a corpus.
pub fn read_manifest(corpus: &Path) -> Result<Vec<ManifestEntry>> {
    let path = corpus.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| MotionError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| MotionError::Invalid {
        path,
        msg: e.to_string(),
    })
}

#[cfg(test)]
/// A corpus built (`build_corpus`) from the shared data's Bandai dataset-2 takes whose content
/// is one of `contents` (e.g. `"wave-left-hand"`), with their mirrors, in a temporary folder.
pub fn dataset2_corpus(contents: &[&str]) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("a temporary folder");
    let keep = |s: &Source| {
        contents
            .iter()
            .any(|c| s.id.starts_with(&format!("dataset-2_{c}_")))
    };
    build_corpus(
        &crate::testdata::shared_data(),
        out.path(),
        Some(&keep),
        &|_, _| {},
    )
    .expect("the small corpus");
    out
}
