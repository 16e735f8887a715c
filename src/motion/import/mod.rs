//! Importing real motion capture into the HumanML3D representation: BVH and CMU ASF/AMC readers
//! with forward kinematics, rig maps to the 22 SMPL joints (data files in `assets/rigs/`),
//! resampling to 20 fps, and the joints → 263 converter. Never imports Bevy.

pub mod amc;
pub mod asf;
mod asf_kinematics;
pub mod bvh;
pub mod captions;
pub mod convert;
pub mod corpus;
pub mod file;
pub mod humanml3d;
pub mod kit_layout;
pub mod resample;
pub mod rig;
pub mod sample;

use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::{MotionError, Result};
use super::limits::MAX_TEXT_BYTES;

/// A captured motion after forward kinematics on its own rig.
#[derive(Clone, Debug)]
pub struct Capture {
    pub source: PathBuf,
    /// Joint names of the source rig (BVH joints and end sites, or "root" + ASF bones).
    pub joint_names: Vec<String>,
    /// Frames per second of the data as read.
    pub fps: f64,
    pub frames: usize,
    /// `(frames, joints, 3)` world positions in metres, Y up, frame-major.
    pub positions: Vec<[f64; 3]>,
}

impl Capture {
    /// Index of a joint by exact name.
    pub fn joint(&self, name: &str) -> Option<usize> {
        self.joint_names.iter().position(|n| n == name)
    }

    /// The joints of frame `t`. Panics if `t ≥ frames`.
    pub fn frame(&self, t: usize) -> &[[f64; 3]] {
        let j = self.joint_names.len();
        &self.positions[t * j..(t + 1) * j]
    }
}

/// Reads a text file, gunzipping it when the name ends in `.gz`. Errors name the file (a corrupt
/// gzip stream included); so does text past [`MAX_TEXT_BYTES`] (a gzip bomb is cut off there,
/// not inflated into memory).
pub(crate) fn read_text(path: &Path) -> Result<String> {
    read_text_at_most(path, MAX_TEXT_BYTES)
}

/// [`read_text`] with its size limit as an argument (tests use a small one).
fn read_text_at_most(path: &Path, limit: usize) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| MotionError::io(path, e))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let mut text = String::new();
    let cap = (limit as u64).saturating_add(1);
    reader
        .take(cap)
        .read_to_string(&mut text)
        .map_err(|e| MotionError::Invalid {
            path: path.to_path_buf(),
            msg: format!("cannot read text ({e})"),
        })?;
    if text.len() > limit {
        return Err(MotionError::Invalid {
            path: path.to_path_buf(),
            msg: format!("more than {limit} bytes of text (the limit)"),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod kit_tests;
#[cfg(test)]
mod tests;
