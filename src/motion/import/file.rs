//! One motion file → 22 SMPL joints at 20 fps → HumanML3D features: format by extension, rig
//! detection, forward kinematics, rig map, per-file quirks, resampling, conversion.

use std::path::{Path, PathBuf};

use super::amc::read_amc;
use super::asf::read_asf;
use super::bvh::read_bvh;
use super::convert::joints_to_features;
use super::resample::resample_to_20fps;
use super::rig::{Format, Rig};
use crate::motion::error::{MotionError, Result};
use crate::motion::limits::{MAX_COORD_METRES, check_fps};
use crate::motion::skeleton::JOINT_NAMES;
use crate::motion::{Features, N_JOINTS};

/// How to read a file; everything defaults to what the file and the built-in rigs say.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Use this rig instead of detecting one from the joint names.
    pub rig: Option<Rig>,
    /// Skeleton for `.amc` files; by default `SS.asf` beside `SS_TT.amc`, or the only `.asf` there.
    pub asf: Option<PathBuf>,
    /// Frames per second of the source when its header is wrong.
    pub fps: Option<f64>,
    /// Drop the first source frame (a prepended T-pose, e.g. CMU BVH 007_03..12).
    pub drop_first_frame: bool,
}

/// A motion file mapped to the 22 SMPL joints and resampled to 20 fps.
#[derive(Clone, Debug)]
pub struct ImportedMotion {
    pub source: PathBuf,
    /// Name of the rig map used.
    pub rig: String,
    pub source_fps: f64,
    /// Source frames used (after any dropped T-pose frame).
    pub source_frames: usize,
    /// `(T, 22, 3)` joints, metres, Y up, 20 fps, on the source rig's proportions.
    pub joints: Vec<[f64; 3]>,
}

impl ImportedMotion {
    /// Frames at 20 fps.
    pub fn frames(&self) -> usize {
        self.joints.len() / N_JOINTS
    }

    /// HumanML3D features `(T − 1, 263)` of frames `range` (20 fps frame indices), through the
    /// official pipeline ([`joints_to_features`]). Errors when fewer than 2 frames remain.
    pub fn features(&self, range: std::ops::Range<usize>) -> Result<Features> {
        let range = range.start.min(self.frames())..range.end.min(self.frames());
        if range.len() < 2 {
            return Err(MotionError::Invalid {
                path: self.source.clone(),
                msg: format!("{} frame(s) at 20 fps: at least 2 are needed", range.len()),
            });
        }
        let rows = joints_to_features(&self.joints[range.start * N_JOINTS..range.end * N_JOINTS]);
        let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
        Features::new(flat, &self.source)
    }
}

/// The file name without `.gz` and the format extension: `SS_TT.amc.gz` → `SS_TT`.
pub fn motion_id(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    match name.rsplit_once('.') {
        Some((stem, _)) => stem.to_string(),
        None => name.to_string(),
    }
}

fn format_of(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".bvh") {
        Some(Format::Bvh)
    } else if name.ends_with(".amc") {
        Some(Format::Asf)
    } else {
        None
    }
}

/// The ASF skeleton for an AMC file: `SS.asf` beside `SS_TT.amc`, else the only `.asf` there.
fn find_asf(amc: &Path) -> Result<PathBuf> {
    let dir = amc.parent().unwrap_or(Path::new("."));
    let id = motion_id(amc);
    let subject = id.split('_').next().unwrap_or(&id);
    let guess = dir.join(format!("{subject}.asf"));
    if guess.exists() {
        return Ok(guess);
    }
    let asfs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| MotionError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("asf")))
        .collect();
    match asfs.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(MotionError::Missing {
            path: amc.to_path_buf(),
            what: format!(
                "its ASF skeleton (no {} and not exactly one .asf beside it; pass --asf FILE)",
                guess.display()
            ),
        }),
    }
}

/// Errors on the first SMPL joint of `(T, 22, 3)` positions (metres) that is not finite or lies
/// beyond [`MAX_COORD_METRES`] on an axis, naming the source frame, the joint and the rig (whose
/// `metres_per_unit` may be the cause).
fn check_coordinates(smpl: &[[f64; 3]], rig: &Rig, path: &Path) -> Result<()> {
    let bad = smpl
        .iter()
        .position(|p| !p.iter().all(|v| v.abs() <= MAX_COORD_METRES));
    match bad {
        None => Ok(()),
        Some(i) => Err(MotionError::Invalid {
            path: path.to_path_buf(),
            msg: format!(
                "frame {}: joint `{}` maps to {:?} m through rig `{}` ({}), not finite or beyond \
                 the {MAX_COORD_METRES} m limit (a corrupt translation, offset or scale?)",
                i / N_JOINTS,
                JOINT_NAMES[i % N_JOINTS],
                smpl[i],
                rig.name,
                rig.origin
            ),
        }),
    }
}

/// Reads a BVH or AMC file (plain or `.gz`) into 22 SMPL joints at 20 fps.
///
/// Errors: an unknown extension, an unreadable or malformed file (file and line), an unknown
/// rig (the joint names seen and the rigs tried), a rig given for the other format, a frame rate
/// outside [`MIN_FPS`](crate::motion::limits::MIN_FPS)`..=`[`MAX_FPS`](crate::motion::limits::MAX_FPS)
/// (header or `--fps`), a joint that is not finite or lies beyond [`MAX_COORD_METRES`] (frame
/// and joint named), fewer than 2 or more than
/// [`MAX_FRAMES_20FPS`](crate::motion::limits::MAX_FRAMES_20FPS) frames at 20 fps. The joints
/// returned are always finite.
pub fn import_motion(path: &Path, options: &ImportOptions) -> Result<ImportedMotion> {
    let format = format_of(path).ok_or_else(|| MotionError::Invalid {
        path: path.to_path_buf(),
        msg: "not a motion file GeoMotion imports (.bvh, .amc, optionally .gz)".into(),
    })?;
    if let Some(fps) = options.fps {
        check_fps(path, fps, "--fps")?;
    }
    if let Some(rig) = options.rig.as_ref().filter(|r| r.format != format) {
        return Err(MotionError::Invalid {
            path: path.to_path_buf(),
            msg: format!(
                "rig `{}` ({}) is for {:?} files, this is a {format:?} file",
                rig.name, rig.origin, rig.format
            ),
        });
    }
    let builtin;
    let (capture, rig) = match format {
        Format::Bvh => {
            let bvh = read_bvh(path)?;
            if options.fps.is_none() {
                check_fps(path, bvh.fps(None), "1 / the `Frame Time` header")?;
            }
            let names: Vec<String> = bvh.joints.iter().map(|j| j.name.clone()).collect();
            let rig = match &options.rig {
                Some(r) => r.clone(),
                None => {
                    builtin = Rig::builtin();
                    Rig::detect(&builtin, Format::Bvh, &names[0], &names, path)?.clone()
                }
            };
            let capture =
                bvh.forward_kinematics(rig.metres_per_unit, rig.position_channels, options.fps);
            (capture, rig)
        }
        Format::Asf => {
            let asf_path = match &options.asf {
                Some(p) => p.clone(),
                None => find_asf(path)?,
            };
            let skeleton = read_asf(&asf_path)?;
            let mut capture = read_amc(path, &skeleton)?;
            if let Some(fps) = options.fps {
                capture.fps = fps;
            }
            let rig = match &options.rig {
                Some(r) => r.clone(),
                None => {
                    builtin = Rig::builtin();
                    Rig::detect(&builtin, Format::Asf, "root", &capture.joint_names, path)?.clone()
                }
            };
            (capture, rig)
        }
    };
    let mut smpl = rig.map(&capture)?;
    check_coordinates(&smpl, &rig, path)?;
    let mut source_frames = capture.frames;
    if options.drop_first_frame && source_frames > 0 {
        smpl.drain(..N_JOINTS);
        source_frames -= 1;
    }
    let (joints, frames) = resample_to_20fps(&smpl, N_JOINTS, capture.fps, path)?;
    if frames < 2 {
        return Err(MotionError::Invalid {
            path: path.to_path_buf(),
            msg: format!("{frames} frame(s) at 20 fps: at least 2 are needed"),
        });
    }
    Ok(ImportedMotion {
        source: path.to_path_buf(),
        rig: rig.name.clone(),
        source_fps: capture.fps,
        source_frames,
        joints,
    })
}
