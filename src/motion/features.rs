//! Motion clips as HumanML3D features `(T, 263)` (or KIT-ML's `(T, 251)`) and as joint positions
//! `(T, 22, 3)` (KIT-ML: `(T, 21, 3)`) in metres.

use std::path::Path;

use super::error::{MotionError, Result};
use super::layout::{N_FEATURES, N_JOINTS};
use super::npy::{read_npy, write_npy_f32};
use super::skeleton::Skeleton;

/// Features `(T, 263)` (HumanML3D, 20 fps, metres) or `(T, 251)` (KIT-ML, 12.5 fps,
/// millimetres), row-major, un-normalised.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    data: Vec<f32>,
    frames: usize,
    skeleton: Skeleton,
}

/// Joint positions `(T, J, 3)` in metres, Y up, in the skeleton's joint order (SMPL's 22 for
/// HumanML3D, KIT's 21 for KIT-ML), at the skeleton's frame rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Joints {
    positions: Vec<[f32; 3]>,
    frames: usize,
    skeleton: Skeleton,
}

impl Features {
    /// Wraps `(T, 263)` row-major values. Errors if the length is not a multiple of 263 or a
    /// value is NaN/infinite (naming frame and feature); `source` names the origin in messages.
    pub fn new(data: Vec<f32>, source: &Path) -> Result<Self> {
        Self::with_skeleton(data, Skeleton::HumanMl3d, source)
    }

    /// Wraps `(T, F)` row-major values of `skeleton`'s layout (F = 263 or 251). Errors as
    /// [`Self::new`].
    pub fn with_skeleton(data: Vec<f32>, skeleton: Skeleton, source: &Path) -> Result<Self> {
        let width = skeleton.n_features();
        if data.is_empty() || data.len() % width != 0 {
            return Err(MotionError::Shape {
                path: source.to_path_buf(),
                expected: format!("(T ≥ 1, {width}) {} features", skeleton.name()),
                found: vec![data.len()],
            });
        }
        check_finite(&data, width, source)?;
        let frames = data.len() / width;
        Ok(Self {
            data,
            frames,
            skeleton,
        })
    }

    /// Reads a `new_joint_vecs/*.npy` file (float32 or float64) of shape `(T, 263)` (HumanML3D)
    /// or `(T, 251)` (KIT-ML); the width says which.
    ///
    /// Errors name the file: unreadable or truncated npy, another shape, zero frames,
    /// NaN/infinite values (first bad frame and feature).
    pub fn load(path: &Path) -> Result<Self> {
        let a = read_npy::<f32>(path)?;
        let skeleton = match a.shape.as_slice() {
            &[t, w] if t > 0 => Skeleton::from_features(w),
            _ => None,
        };
        let Some(skeleton) = skeleton else {
            return Err(MotionError::Shape {
                path: path.to_path_buf(),
                expected: format!(
                    "(T ≥ 1, {N_FEATURES}) HumanML3D or (T ≥ 1, {}) KIT-ML features",
                    Skeleton::KitMl.n_features()
                ),
                found: a.shape,
            });
        };
        Self::with_skeleton(a.data, skeleton, path)
    }

    /// Writes the features as a float32 `(T, F)` `.npy`.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_npy_f32(path, &[self.frames, self.width()], &self.data)
    }

    /// The skeleton (and so the layout) of these features.
    pub fn skeleton(&self) -> Skeleton {
        self.skeleton
    }

    /// Features per frame F (263 or 251).
    pub fn width(&self) -> usize {
        self.skeleton.n_features()
    }

    /// Number of frames T.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Frames `range` as features of their own; `source` names them in errors.
    ///
    /// Errors: an empty range, or one past the last frame.
    pub fn frames_range(&self, range: std::ops::Range<usize>, source: &Path) -> Result<Self> {
        if range.is_empty() || range.end > self.frames {
            return Err(MotionError::Invalid {
                path: source.to_path_buf(),
                msg: format!(
                    "frames {}..{} are not a part of the clip's {} frames at {} fps",
                    range.start,
                    range.end,
                    self.frames,
                    self.skeleton.fps()
                ),
            });
        }
        let w = self.width();
        Self::with_skeleton(
            self.data[range.start * w..range.end * w].to_vec(),
            self.skeleton,
            source,
        )
    }

    /// All values, `(T, F)` row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Frame `t` as F values. Panics if `t ≥ T`.
    pub fn frame(&self, t: usize) -> &[f32] {
        let w = self.width();
        &self.data[t * w..(t + 1) * w]
    }

    /// Foot contacts of frame `t` (the last 4 features > 0.5), in the order of
    /// [`Skeleton::foot_contact_joints`]: left foot's two joints, then the right's.
    pub fn foot_contact(&self, t: usize) -> [bool; 4] {
        let f = self.frame(t);
        let f = &f[f.len() - 4..];
        [f[0] > 0.5, f[1] > 0.5, f[2] > 0.5, f[3] > 0.5]
    }

    /// Global joint positions via [`super::recover_from_ric`], `(T, J, 3)` in metres.
    pub fn joints(&self) -> Joints {
        Joints {
            positions: self.skeleton.joints_in_metres(&self.data),
            frames: self.frames,
            skeleton: self.skeleton,
        }
    }
}

impl Joints {
    /// Wraps `(T, 22, 3)` positions in metres. Errors if the count is not a multiple of 22 or a
    /// value is not finite.
    pub fn new(positions: Vec<[f32; 3]>, source: &Path) -> Result<Self> {
        Self::with_skeleton(positions, Skeleton::HumanMl3d, source)
    }

    /// Wraps `(T, J, 3)` positions in metres of `skeleton`'s joints. Errors as [`Self::new`].
    pub fn with_skeleton(
        positions: Vec<[f32; 3]>,
        skeleton: Skeleton,
        source: &Path,
    ) -> Result<Self> {
        let n = skeleton.n_joints();
        if positions.is_empty() || positions.len() % n != 0 {
            return Err(MotionError::Shape {
                path: source.to_path_buf(),
                expected: format!("(T ≥ 1, {n}, 3)"),
                found: vec![positions.len(), 3],
            });
        }
        let flat: Vec<f32> = positions.iter().flatten().copied().collect();
        check_finite(&flat, n * 3, source)?;
        let frames = positions.len() / n;
        Ok(Self {
            positions,
            frames,
            skeleton,
        })
    }

    /// The skeleton these joints belong to.
    pub fn skeleton(&self) -> Skeleton {
        self.skeleton
    }

    /// Reads a `new_joints/*.npy` file (float32 or float64) of shape `(T, 22, 3)` in metres
    /// (HumanML3D) or `(T, 21, 3)` in millimetres (KIT-ML, returned in metres).
    pub fn load(path: &Path) -> Result<Self> {
        let a = read_npy::<f32>(path)?;
        let skeleton = match a.shape.as_slice() {
            &[t, j, 3] if t > 0 => Skeleton::from_joints(j),
            _ => None,
        };
        let Some(skeleton) = skeleton else {
            return Err(MotionError::Shape {
                path: path.to_path_buf(),
                expected: format!("(T ≥ 1, {N_JOINTS}, 3) or (T ≥ 1, 21, 3) joint positions"),
                found: a.shape,
            });
        };
        let k = skeleton.metres_per_unit();
        let positions = a
            .data
            .chunks_exact(3)
            .map(|c| [c[0] * k, c[1] * k, c[2] * k])
            .collect();
        Self::with_skeleton(positions, skeleton, path)
    }

    /// Number of frames T.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The J joint positions of frame `t` (metres). Panics if `t ≥ T`.
    pub fn frame(&self, t: usize) -> &[[f32; 3]] {
        let n = self.skeleton.n_joints();
        &self.positions[t * n..(t + 1) * n]
    }

    /// All positions, `(T, J, 3)`.
    pub fn as_slice(&self) -> &[[f32; 3]] {
        &self.positions
    }

    /// Root (pelvis) position per frame, `(T, 3)` metres.
    pub fn root_trajectory(&self) -> Vec<[f32; 3]> {
        let n = self.skeleton.n_joints();
        self.positions.iter().step_by(n).copied().collect()
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
