//! Motion clips as HumanML3D features `(T, 263)` and as joint positions `(T, 22, 3)`.

use std::path::Path;

use super::error::{MotionError, Result};
use super::layout::{FOOT_CONTACT, N_FEATURES, N_JOINTS, n_features_for_joints};
use super::npy::{read_npy, write_npy_f32};
use super::recover::recover_from_ric;

/// HumanML3D features `(T, 263)`, row-major, frames at 20 fps, un-normalised.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    data: Vec<f32>,
    frames: usize,
}

/// Joint positions `(T, 22, 3)` in metres, Y up, SMPL joint order, frames at 20 fps.
#[derive(Clone, Debug, PartialEq)]
pub struct Joints {
    positions: Vec<[f32; 3]>,
    frames: usize,
}

impl Features {
    /// Wraps `(T, 263)` row-major values. Errors if the length is not a multiple of 263 or a
    /// value is NaN/infinite (naming frame and feature); `source` names the origin in messages.
    pub fn new(data: Vec<f32>, source: &Path) -> Result<Self> {
        if data.is_empty() || data.len() % N_FEATURES != 0 {
            return Err(MotionError::Shape {
                path: source.to_path_buf(),
                expected: format!("(T ≥ 1, {N_FEATURES})"),
                found: vec![data.len()],
            });
        }
        check_finite(&data, N_FEATURES, source)?;
        let frames = data.len() / N_FEATURES;
        Ok(Self { data, frames })
    }

    /// Reads a `new_joint_vecs/*.npy` file (float32 or float64) of shape `(T, 263)`.
    ///
    /// Errors name the file: unreadable or truncated npy, a width other than 263 (KIT-ML's 251
    /// is called out), zero frames, NaN/infinite values (first bad frame and feature).
    pub fn load(path: &Path) -> Result<Self> {
        let a = read_npy::<f32>(path)?;
        match a.shape.as_slice() {
            &[t, N_FEATURES] if t > 0 => {}
            &[_, w] if w == n_features_for_joints(21) => {
                return Err(MotionError::Invalid {
                    path: path.to_path_buf(),
                    msg: format!(
                        "{w} features per frame is KIT-ML's 21-joint layout; \
                         GeoMotion reads HumanML3D's {N_FEATURES}-feature, 22-joint layout"
                    ),
                });
            }
            _ => {
                return Err(MotionError::Shape {
                    path: path.to_path_buf(),
                    expected: format!("(T ≥ 1, {N_FEATURES}) HumanML3D features"),
                    found: a.shape,
                });
            }
        }
        Self::new(a.data, path)
    }

    /// Writes the features as a float32 `(T, 263)` `.npy`.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_npy_f32(path, &[self.frames, N_FEATURES], &self.data)
    }

    /// Number of frames T.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Frames `range` (at 20 fps) as features of their own; `source` names them in errors.
    ///
    /// Errors: an empty range, or one past the last frame.
    pub fn frames_range(&self, range: std::ops::Range<usize>, source: &Path) -> Result<Self> {
        if range.is_empty() || range.end > self.frames {
            return Err(MotionError::Invalid {
                path: source.to_path_buf(),
                msg: format!(
                    "frames {}..{} are not a part of the clip's {} frames at 20 fps",
                    range.start, range.end, self.frames
                ),
            });
        }
        Self::new(
            self.data[range.start * N_FEATURES..range.end * N_FEATURES].to_vec(),
            source,
        )
    }

    /// All values, `(T, 263)` row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Frame `t` as 263 values. Panics if `t ≥ T`.
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.data[t * N_FEATURES..(t + 1) * N_FEATURES]
    }

    /// Foot contacts of frame `t`: left ankle, left toe, right ankle, right toe (feature > 0.5).
    pub fn foot_contact(&self, t: usize) -> [bool; 4] {
        let f = &self.frame(t)[FOOT_CONTACT];
        [f[0] > 0.5, f[1] > 0.5, f[2] > 0.5, f[3] > 0.5]
    }

    /// Global joint positions via [`recover_from_ric`], `(T, 22, 3)` metres.
    pub fn joints(&self) -> Joints {
        Joints {
            positions: recover_from_ric(&self.data, N_FEATURES),
            frames: self.frames,
        }
    }
}

impl Joints {
    /// Wraps `(T, 22, 3)` positions in metres. Errors if the count is not a multiple of 22 or a
    /// value is not finite.
    pub fn new(positions: Vec<[f32; 3]>, source: &Path) -> Result<Self> {
        if positions.is_empty() || positions.len() % N_JOINTS != 0 {
            return Err(MotionError::Shape {
                path: source.to_path_buf(),
                expected: format!("(T ≥ 1, {N_JOINTS}, 3)"),
                found: vec![positions.len(), 3],
            });
        }
        let flat: Vec<f32> = positions.iter().flatten().copied().collect();
        check_finite(&flat, N_JOINTS * 3, source)?;
        let frames = positions.len() / N_JOINTS;
        Ok(Self { positions, frames })
    }

    /// Reads a `new_joints/*.npy` file of shape `(T, 22, 3)` (float32 or float64).
    pub fn load(path: &Path) -> Result<Self> {
        let a = read_npy::<f32>(path)?;
        if !matches!(a.shape.as_slice(), &[t, N_JOINTS, 3] if t > 0) {
            return Err(MotionError::Shape {
                path: path.to_path_buf(),
                expected: format!("(T ≥ 1, {N_JOINTS}, 3) joint positions"),
                found: a.shape,
            });
        }
        let positions = a.data.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        Self::new(positions, path)
    }

    /// Number of frames T.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The 22 joint positions of frame `t` (metres). Panics if `t ≥ T`.
    pub fn frame(&self, t: usize) -> &[[f32; 3]] {
        &self.positions[t * N_JOINTS..(t + 1) * N_JOINTS]
    }

    /// All positions, `(T, 22, 3)`.
    pub fn as_slice(&self) -> &[[f32; 3]] {
        &self.positions
    }

    /// Root (pelvis) position per frame, `(T, 3)` metres.
    pub fn root_trajectory(&self) -> Vec<[f32; 3]> {
        self.positions.iter().step_by(N_JOINTS).copied().collect()
    }

    /// Axis-aligned bounds `(min, max)` over all frames and joints, metres.
    pub fn bounds(&self) -> ([f32; 3], [f32; 3]) {
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for p in &self.positions {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        (lo, hi)
    }
}

/// Errors on the first NaN/infinite value of a `(T, width)` array, naming frame and index.
fn check_finite(data: &[f32], width: usize, source: &Path) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(MotionError::NonFinite {
            path: source.to_path_buf(),
            frame: i / width,
            index: i % width,
            value: data[i] as f64,
        }),
    }
}
