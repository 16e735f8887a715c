//! Mean/Std normalisation of HumanML3D features, `(x − Mean) / Std` per feature, as the
//! HumanML3D dataset loaders do (`Mean.npy`, `Std.npy`, each `(263,)`, or `(251,)` for KIT-ML).

use std::path::Path;

use super::error::{MotionError, Result};
use super::npy::read_npy;
use super::skeleton::Skeleton;

/// Per-feature Mean and Std `(F,)` of a dataset (F = 263, or 251 for KIT-ML).
#[derive(Clone, Debug, PartialEq)]
pub struct Normalizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalizer {
    /// Reads `Mean.npy` and `Std.npy` from `dir`.
    ///
    /// Errors: a missing file ([`MotionError::Missing`]), a shape other than `(263,)` or
    /// `(251,)`, Mean and Std of different widths, or a non-finite mean or non-positive std
    /// (naming the feature index).
    pub fn load(dir: &Path) -> Result<Self> {
        let mean = read_vector(&dir.join("Mean.npy"), "the dataset mean (Mean.npy)")?;
        let std = read_vector(&dir.join("Std.npy"), "the dataset std (Std.npy)")?;
        let std_path = dir.join("Std.npy");
        if std.len() != mean.len() {
            return Err(MotionError::Shape {
                path: std_path,
                expected: format!("({},) like Mean.npy", mean.len()),
                found: vec![std.len()],
            });
        }
        if let Some(i) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(MotionError::Invalid {
                path: std_path,
                msg: format!("std of feature {i} is {} (must be finite and > 0)", std[i]),
            });
        }
        Ok(Self { mean, std })
    }

    /// The first feature whose mean is not finite or whose std is not finite and > 0, as a
    /// message naming its index and values; `None` when every feature can be normalised.
    pub fn problem(&self) -> Option<String> {
        let bad_mean = self.mean.iter().position(|m| !m.is_finite());
        let bad_std = self.std.iter().position(|s| !(s.is_finite() && *s > 0.0));
        bad_mean.or(bad_std).map(|i| {
            format!(
                "feature {i}: mean {} / std {} (the mean must be finite, the std finite and > 0)",
                self.mean[i], self.std[i]
            )
        })
    }

    /// Features per frame F these statistics are for.
    pub fn width(&self) -> usize {
        self.mean.len()
    }

    /// The skeleton whose layout is F wide, if any.
    pub fn skeleton(&self) -> Option<Skeleton> {
        Skeleton::from_features(self.width())
    }

    /// `(x − Mean) / Std` in place on `(T, F)` row-major features.
    pub fn normalize(&self, features: &mut [f32]) {
        for row in features.chunks_exact_mut(self.width()) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
    }

    /// `x · Std + Mean` in place on `(T, F)` row-major features.
    pub fn denormalize(&self, features: &mut [f32]) {
        for row in features.chunks_exact_mut(self.width()) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = *x * s + m;
            }
        }
    }
}

fn read_vector(path: &Path, what: &str) -> Result<Vec<f32>> {
    if !path.exists() {
        return Err(MotionError::Missing {
            path: path.to_path_buf(),
            what: what.to_string(),
        });
    }
    let a = read_npy::<f32>(path)?;
    if !matches!(a.shape.as_slice(), &[w] if Skeleton::from_features(w).is_some()) {
        return Err(MotionError::Shape {
            path: path.to_path_buf(),
            expected: format!(
                "({},) HumanML3D or ({},) KIT-ML statistics",
                Skeleton::HumanMl3d.n_features(),
                Skeleton::KitMl.n_features()
            ),
            found: a.shape,
        });
    }
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        return Err(MotionError::NonFinite {
            path: path.to_path_buf(),
            frame: 0,
            index: i,
            value: a.data[i] as f64,
        });
    }
    Ok(a.data)
}
