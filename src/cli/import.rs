//! `geomotion import` and `geomotion data build`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::terminal::{printable_line, printable_text};
use crate::motion::N_JOINTS;
use crate::motion::import::corpus::build_corpus;
use crate::motion::import::file::{ImportOptions, import_motion, motion_id};
use crate::motion::import::rig::Rig;
use crate::motion::npy::write_npy_f32;

/// Converts BVH/AMC files into a HumanML3D-layout folder (`new_joint_vecs/`, `new_joints/`).
pub fn import_files(
    files: &[PathBuf],
    asf: Option<PathBuf>,
    rig: Option<&str>,
    fps: Option<f64>,
    drop_first_frame: bool,
    out: &Path,
) -> Result<()> {
    let options = ImportOptions {
        rig: rig.map(Rig::named).transpose()?,
        asf,
        fps,
        drop_first_frame,
    };
    for sub in ["new_joint_vecs", "new_joints"] {
        std::fs::create_dir_all(out.join(sub))
            .with_context(|| format!("creating {}", out.display()))?;
    }
    let mut failed = 0;
    for file in files {
        match import_one(file, &options, out) {
            Ok(msg) => println!("{msg}"),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}", printable_text(&format!("{e:#}")));
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) failed", files.len());
    }
    Ok(())
}

fn import_one(file: &Path, options: &ImportOptions, out: &Path) -> Result<String> {
    let motion = import_motion(file, options)?;
    let features = motion.features(0..motion.frames())?;
    let id = motion_id(file);
    features.save(&out.join("new_joint_vecs").join(format!("{id}.npy")))?;
    let joints = features.joints();
    let flat: Vec<f32> = joints.as_slice().iter().flatten().copied().collect();
    write_npy_f32(
        &out.join("new_joints").join(format!("{id}.npy")),
        &[joints.frames(), N_JOINTS, 3],
        &flat,
    )?;
    Ok(format!(
        "{}: rig {}, {} frames at {:.2} fps → {} feature frames at 20 fps → {}",
        file.display(),
        motion.rig,
        motion.source_frames,
        motion.source_fps,
        features.frames(),
        out.join("new_joint_vecs")
            .join(format!("{id}.npy"))
            .display()
    ))
}

/// Writes the KIT-ML-layout copy of a HumanML3D-layout dataset and prints the report.
pub fn data_kit(from: &Path, out: &Path) -> Result<()> {
    let t0 = std::time::Instant::now();
    let report = crate::motion::import::kit_layout::write_kit_dataset(from, out)?;
    println!(
        "{} clips, {} frames at 12.5 fps in {:.1} s",
        report.clips,
        report.frames,
        t0.elapsed().as_secs_f64()
    );
    if !report.skipped.is_empty() {
        println!("skipped {} clip(s):", report.skipped.len());
        for s in &report.skipped {
            println!("  {}", printable_line(s));
        }
    }
    println!("wrote {} (KIT-ML layout)", out.display());
    Ok(())
}

/// Builds the demo corpus with a progress bar and prints the report.
pub fn data_build(from: &Path, out: &Path) -> Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} takes  {elapsed_precise} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = build_corpus(from, out, None, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish();
    println!(
        "{} takes → {} clips, {} frames at 20 fps in {:.1} s ({})",
        report.sources,
        report.clips,
        report.frames,
        report.seconds,
        report
            .per_split
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !report.skipped.is_empty() {
        println!("skipped {} file(s):", report.skipped.len());
        for s in &report.skipped {
            println!("  {}", printable_line(s));
        }
    }
    println!("wrote {}", out.display());
    Ok(())
}
