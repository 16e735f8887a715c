//! A KIT-ML-layout dataset made from a HumanML3D-layout one: each clip's SMPL joints
//! (`recover_from_ric` of its features) mapped onto the 21 joints of the KIT-ML skeleton, in
//! millimetres, resampled from 20 to 12.5 fps, and turned into 251-d features by KIT-ML's
//! `process_file` ([`super::convert::kit_joints_to_features`]).
//!
//! The two skeletons do not match joint for joint: KIT has metatarsals and a two-joint neck,
//! SMPL has collars and three spine joints. [`FROM_SMPL`] takes the nearest SMPL joint for each
//! KIT joint and puts the metatarsals halfway between ankle and toe. The result is real motion in
//! KIT-ML's layout, for running the KIT-ML pipelines (viewer, tokenizer, captioner) when KIT-ML
//! itself is not at hand; its numbers are not KIT-ML's.

use std::path::{Path, PathBuf};

use super::convert::kit_joints_to_features;
use super::corpus::Moments;
use super::resample::resample_fps;
use crate::motion::error::{MotionError, Result};
use crate::motion::npy::write_npy_f32;
use crate::motion::{Dataset, Features, N_JOINTS, Skeleton, Split, kit};

/// For each KIT-ML joint, `(a, b, w)`: the point `w` of the way from SMPL joint `a` to SMPL
/// joint `b` (`w = 0`: joint `a` itself).
pub const FROM_SMPL: [(usize, usize, f64); 21] = [
    (0, 0, 0.0),   // root ← pelvis
    (3, 3, 0.0),   // pelvis (BP) ← spine1
    (9, 9, 0.0),   // torso (BT) ← spine3
    (12, 12, 0.0), // lower neck ← neck
    (15, 15, 0.0), // upper neck ← head
    (17, 17, 0.0), // right shoulder
    (19, 19, 0.0), // right elbow
    (21, 21, 0.0), // right wrist
    (16, 16, 0.0), // left shoulder
    (18, 18, 0.0), // left elbow
    (20, 20, 0.0), // left wrist
    (2, 2, 0.0),   // right hip
    (5, 5, 0.0),   // right knee
    (8, 8, 0.0),   // right ankle
    (8, 11, 0.5),  // right metatarsal ← halfway from ankle to foot
    (11, 11, 0.0), // right toe ← right foot
    (1, 1, 0.0),   // left hip
    (4, 4, 0.0),   // left knee
    (7, 7, 0.0),   // left ankle
    (7, 10, 0.5),  // left metatarsal
    (10, 10, 0.0), // left toe ← left foot
];

/// `(T, 22, 3)` SMPL joints in metres → `(T, 21, 3)` KIT-ML joints in millimetres
/// ([`FROM_SMPL`]). A trailing partial frame is dropped.
pub fn smpl_to_kit(smpl: &[[f64; 3]]) -> Vec<[f64; 3]> {
    smpl.chunks_exact(N_JOINTS)
        .flat_map(|f| {
            FROM_SMPL.iter().map(move |&(a, b, w)| {
                std::array::from_fn(|c| 1000.0 * (f[a][c] + w * (f[b][c] - f[a][c])))
            })
        })
        .collect()
}

/// KIT-ML features `(T', 251)` at 12.5 fps of a motion given as `(T, 22, 3)` SMPL joints in
/// metres at 20 fps; `source` names it in errors.
///
/// Errors: fewer than 2 frames at 12.5 fps.
pub fn kit_features_from_smpl(smpl: &[[f64; 3]], source: &Path) -> Result<Features> {
    let kit_joints = smpl_to_kit(smpl);
    let (resampled, frames) = resample_fps(
        &kit_joints,
        kit::JOINT_NAMES.len(),
        crate::motion::FPS as f64,
        kit::FPS as f64,
        source,
    )?;
    if frames < 2 {
        return Err(MotionError::Invalid {
            path: source.to_path_buf(),
            msg: format!("{frames} frame(s) at 12.5 fps: at least 2 are needed"),
        });
    }
    let rows = kit_joints_to_features(&resampled);
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Features::with_skeleton(flat, Skeleton::KitMl, source)
}

/// What [`write_kit_dataset`] wrote.
#[derive(Clone, Debug, Default)]
pub struct KitReport {
    /// Clips written.
    pub clips: usize,
    /// Frames written, at 12.5 fps.
    pub frames: usize,
    /// Clips left out, with the reason (too short, unreadable).
    pub skipped: Vec<String>,
}

/// Writes a KIT-ML-layout folder at `out` from the HumanML3D-layout dataset at `src`: every
/// clip's `new_joint_vecs/<id>.npy` `(T', 251)`, `new_joints/<id>.npy` `(T', 21, 3)` in
/// millimetres, its `texts/<id>.txt` (time ranges rescaled: [`write_texts`]), the split lists
/// copied, and `Mean.npy`/`Std.npy`
/// over the train split (all clips when it has none) as HumanML3D's `cal_mean_variance` groups
/// them.
///
/// Errors: `src` not a HumanML3D (263-d) dataset, no clip long enough, a file not writable.
pub fn write_kit_dataset(src: &Path, out: &Path) -> Result<KitReport> {
    let ds = Dataset::open(src)?;
    if ds.skeleton() != Skeleton::HumanMl3d {
        return Err(MotionError::Invalid {
            path: src.to_path_buf(),
            msg: format!(
                "a {} dataset; a HumanML3D one is needed",
                ds.skeleton().name()
            ),
        });
    }
    for dir in ["new_joint_vecs", "new_joints", "texts"] {
        let d = out.join(dir);
        std::fs::create_dir_all(&d).map_err(|e| MotionError::io(&d, e))?;
    }
    let has_train = !ds.split_ids(Split::Train).is_empty();
    let mut moments = Moments::of(Skeleton::KitMl);
    let mut report = KitReport::default();
    for id in ds.ids() {
        let path = ds.features_path(id);
        let f = match ds.load_features(id) {
            Ok(f) => f,
            Err(e) => {
                report.skipped.push(e.to_string());
                continue;
            }
        };
        let smpl: Vec<[f64; 3]> = f
            .joints()
            .as_slice()
            .iter()
            .map(|p| p.map(f64::from))
            .collect();
        let kit_f = match kit_features_from_smpl(&smpl, &path) {
            Ok(k) => k,
            Err(e) => {
                report.skipped.push(e.to_string());
                continue;
            }
        };
        if !has_train || ds.split_of(id) == Some(Split::Train) {
            moments.add_rows(kit_f.as_slice());
        }
        kit_f.save(&out.join("new_joint_vecs").join(format!("{id}.npy")))?;
        let j = kit_f.joints();
        let mm: Vec<f32> = j.as_slice().iter().flatten().map(|v| v * 1000.0).collect();
        write_npy_f32(
            &out.join("new_joints").join(format!("{id}.npy")),
            &[j.frames(), kit::JOINT_NAMES.len(), 3],
            &mm,
        )?;
        let texts = ds.texts_path(id);
        if texts.exists() {
            write_texts(
                &ds.captions(id)?,
                &out.join("texts").join(format!("{id}.txt")),
            )?;
        }
        report.clips += 1;
        report.frames += kit_f.frames();
    }
    if report.clips == 0 {
        return Err(MotionError::Invalid {
            path: src.to_path_buf(),
            msg: "no clip could be converted".into(),
        });
    }
    for split in Split::ALL {
        let list = src.join(format!("{}.txt", split.name()));
        if list.exists() {
            copy(&list, &out.join(format!("{}.txt", split.name())))?;
        }
    }
    let (mean, std) = moments.mean_std();
    let w = [Skeleton::KitMl.n_features()];
    write_npy_f32(&out.join("Mean.npy"), &w, &mean)?;
    write_npy_f32(&out.join("Std.npy"), &w, &std)?;
    Ok(report)
}

/// Writes `captions` in HumanML3D's `texts/` format with their time ranges rescaled for the
/// loader's `int(tag·20)` rule (which HumanML3D's loader applies to KIT-ML's 12.5 fps clips too):
/// `tag · 12.5 / 20`, so a range keeps its seconds of motion.
fn write_texts(captions: &[crate::motion::Caption], path: &Path) -> Result<()> {
    let k = f64::from(kit::FPS) / f64::from(crate::motion::FPS);
    let text: String = captions
        .iter()
        .map(|c| {
            format!(
                "{}#{}#{}#{}\n",
                c.text,
                c.tokens,
                c.start_secs * k,
                c.end_secs * k
            )
        })
        .collect();
    std::fs::write(path, text).map_err(|e| MotionError::io(path, e))
}

fn copy(from: &Path, to: &PathBuf) -> Result<()> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| MotionError::io(to, e))
}
