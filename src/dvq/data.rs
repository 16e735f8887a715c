//! Training and evaluation clips of a corpus split, normalized, in memory, and seeded random
//! crops of them.

use std::path::Path;

use candle_core::{Device, Tensor};
use rand::{Rng, rngs::StdRng};

use super::error::{DvqError, Result};
use crate::motion::{Dataset, Features, Normalizer, Split};

/// Normalized `(T, F)` clips of one split (F = 263 HumanML3D, 251 KIT-ML).
pub struct ClipBank {
    pub ids: Vec<String>,
    /// Row-major `(T, F)` normalized features per clip.
    pub clips: Vec<Vec<f32>>,
    pub normalizer: Normalizer,
}

impl ClipBank {
    /// Loads every clip of `split` in the HumanML3D-layout folder `corpus`, normalized with its
    /// `Mean.npy`/`Std.npy`. Clips shorter than `min_frames` are left out.
    ///
    /// Errors: no such clip; a features file whose width differs from the Mean/Std's (named).
    pub fn load(corpus: &Path, split: Split, min_frames: usize) -> Result<Self> {
        let ds = Dataset::open(corpus)?;
        let normalizer = ds.normalizer()?;
        let mut ids = Vec::new();
        let mut clips = Vec::new();
        for id in ds.split_ids(split) {
            let path = ds.features_path(id);
            let f = Features::load(&path)?;
            if f.width() != normalizer.width() {
                return Err(DvqError::Data(format!(
                    "{}: {} features a frame, the dataset's Mean/Std have {}",
                    path.display(),
                    f.width(),
                    normalizer.width()
                )));
            }
            if f.frames() < min_frames {
                continue;
            }
            let mut data = f.as_slice().to_vec();
            normalizer.normalize(&mut data);
            ids.push(id.to_string());
            clips.push(data);
        }
        if clips.is_empty() {
            return Err(DvqError::Data(format!(
                "{}: the {} split has no clip of at least {min_frames} frames",
                corpus.display(),
                split.name()
            )));
        }
        Ok(Self {
            ids,
            clips,
            normalizer,
        })
    }

    /// Features per frame F.
    pub fn width(&self) -> usize {
        self.normalizer.width()
    }

    /// Frames in clip `i`.
    pub fn frames(&self, i: usize) -> usize {
        self.clips[i].len() / self.width()
    }

    /// Total frames.
    pub fn total_frames(&self) -> usize {
        (0..self.clips.len()).map(|i| self.frames(i)).sum()
    }

    /// A batch of `batch` random crops, `(batch, L, F)`: one length L for the batch, a
    /// multiple of `step` drawn uniformly from `[min, max]`; clips drawn uniformly among those
    /// at least L long (with replacement), crop start uniform.
    pub fn sample(
        &self,
        batch: usize,
        min: usize,
        max: usize,
        step: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Tensor> {
        let longest = (0..self.clips.len())
            .map(|i| self.frames(i))
            .max()
            .unwrap_or(0);
        let max = max.min(longest) / step * step;
        let min = min.div_ceil(step) * step;
        if max < min {
            return Err(DvqError::Data(format!(
                "no clip is {min} frames long; the longest has {longest}"
            )));
        }
        let len = rng.random_range(min / step..=max / step) * step;
        let eligible: Vec<usize> = (0..self.clips.len())
            .filter(|&i| self.frames(i) >= len)
            .collect();
        let w = self.width();
        let mut data = Vec::with_capacity(batch * len * w);
        for _ in 0..batch {
            let i = eligible[rng.random_range(0..eligible.len())];
            let start = rng.random_range(0..=self.frames(i) - len);
            data.extend_from_slice(&self.clips[i][start * w..(start + len) * w]);
        }
        Ok(Tensor::from_vec(data, (batch, len, w), device)?)
    }
}
