//! The captioner's motion summary: a whole-clip descriptor of the continuous features, mapped by
//! a learned linear layer to a few soft tokens placed before the motion codes.
//!
//! Why: the DVQ codes keep a take's action but lose most of its style (a logistic regression
//! reads dataset-2's style from code histograms for 80 % of test takes, from the feature
//! descriptor for 100 %; `models/lm/README.md`). The summary gives the language model what the
//! codes lose, in the way projector-based motion and vision LMs feed a continuous encoding to
//! a frozen LM (a linear map to `tokens` input embeddings). The descriptor is the nearest-take
//! index's ([`crate::eval::nearest::NearestIndex::summary`]): the retrieval baseline's
//! mean/std/segment-mean descriptor, standardised, in its top principal components, each
//! scaled to unit variance over the train takes.

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::error::{LmError, Result};

/// Shape of the summary (saved in the captioner's `config.json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryConfig {
    /// Width of the descriptor read (the index's principal components, 128).
    pub dim: usize,
    /// Soft tokens it becomes.
    pub tokens: usize,
}

impl SummaryConfig {
    /// Sizes in range: `dim` in 1..=4096, `tokens` in 1..=64.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(1..=4096).contains(&self.dim) {
            return Err(format!("summary dim {} is not in 1..=4096", self.dim));
        }
        if !(1..=64).contains(&self.tokens) {
            return Err(format!("summary tokens {} is not in 1..=64", self.tokens));
        }
        Ok(())
    }
}

/// The learned map `(dim,) → (tokens, d_model)`: `s W + b`, `W (dim, tokens·d_model)`.
pub struct MotionSummary {
    pub config: SummaryConfig,
    weight: Var,
    bias: Var,
}

/// Saved tensor names.
pub const WEIGHT: &str = "summary.weight";
pub const BIAS: &str = "summary.bias";

impl MotionSummary {
    /// A fresh map whose outputs, for unit-variance inputs, have about the norm `row_norm` of a
    /// text-embedding row (weights N(0, σ²) with σ = row_norm / √(dim · d_model), seeded), and
    /// zero bias.
    pub fn new(
        config: SummaryConfig,
        d_model: usize,
        row_norm: f64,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        use rand::{Rng, SeedableRng};
        let n = config.dim * config.tokens * d_model;
        let sigma = (row_norm / ((config.dim * d_model) as f64).sqrt()) as f32;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let w: Vec<f32> = (0..n)
            .map(|_| {
                // Box–Muller on the seeded generator.
                let u1: f32 = rng.random_range(f32::EPSILON..1.0);
                let u2: f32 = rng.random();
                sigma * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
            })
            .collect();
        let weight = Tensor::from_vec(w, (config.dim, config.tokens * d_model), device)?;
        let bias = Tensor::zeros(config.tokens * d_model, DType::F32, device)?;
        Ok(Self {
            config,
            weight: Var::from_tensor(&weight)?,
            bias: Var::from_tensor(&bias)?,
        })
    }

    /// Rebuilds a saved map from `summary.weight` and `summary.bias`.
    ///
    /// Errors: a tensor missing or of the wrong shape.
    pub fn from_saved(
        config: SummaryConfig,
        d_model: usize,
        tensors: &std::collections::HashMap<String, Tensor>,
    ) -> Result<Self> {
        let get = |name: &str, shape: &[usize]| -> Result<Var> {
            let t = tensors
                .get(name)
                .ok_or_else(|| LmError::Weights(format!("captioner checkpoint has no `{name}`")))?;
            if t.dims() != shape {
                return Err(LmError::Weights(format!(
                    "`{name}` has shape {:?}, expected {shape:?}",
                    t.dims()
                )));
            }
            Ok(Var::from_tensor(t)?)
        };
        let width = config.tokens * d_model;
        Ok(Self {
            weight: get(WEIGHT, &[config.dim, width])?,
            bias: get(BIAS, &[width])?,
            config,
        })
    }

    /// The trainable tensors by saved name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        vec![
            (WEIGHT.to_string(), self.weight.clone()),
            (BIAS.to_string(), self.bias.clone()),
        ]
    }

    /// Descriptors `(B, dim)` → soft tokens `(B, tokens, d_model)`.
    pub fn forward(&self, s: &Tensor) -> Result<Tensor> {
        let b = s.dim(0)?;
        let d = self.bias.dim(0)? / self.config.tokens;
        Ok(s.matmul(self.weight.as_tensor())?
            .broadcast_add(self.bias.as_tensor())?
            .reshape((b, self.config.tokens, d))?)
    }

    /// Descriptors of a batch as a `(B, dim)` tensor.
    ///
    /// Errors: a descriptor missing or of the wrong width.
    pub fn batch(&self, rows: &[Option<&[f32]>], device: &Device) -> Result<Tensor> {
        let mut flat = Vec::with_capacity(rows.len() * self.config.dim);
        for r in rows {
            match r {
                Some(r) if r.len() == self.config.dim => flat.extend_from_slice(r),
                Some(r) => {
                    return Err(LmError::Data(format!(
                        "a motion summary of width {} was given; the captioner reads {}",
                        r.len(),
                        self.config.dim
                    )));
                }
                None => {
                    return Err(LmError::Data(
                        "this captioner reads a motion summary (from its nearest-take index, \
                         `nearest.safetensors` beside it) and none was given"
                            .into(),
                    ));
                }
            }
        }
        Ok(Tensor::from_vec(
            flat,
            (rows.len(), self.config.dim),
            device,
        )?)
    }
}

/// `x (B, T, d)` with positions `at..at + s.dim(1)` replaced by `s (B, n, d)`.
pub fn splice(x: &Tensor, at: usize, s: &Tensor) -> Result<Tensor> {
    let t = x.dim(1)?;
    let n = s.dim(1)?;
    if at + n > t {
        return Err(LmError::Data(format!(
            "soft tokens at {at}..{} do not fit a sequence of {t}",
            at + n
        )));
    }
    Ok(Tensor::cat(
        &[&x.narrow(1, 0, at)?, s, &x.narrow(1, at + n, t - at - n)?],
        1,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_is_affine_and_splice_replaces_exactly_the_slots() {
        let dev = Device::Cpu;
        let cfg = SummaryConfig { dim: 3, tokens: 2 };
        let m = MotionSummary::new(cfg, 4, 1.0, 7, &dev).unwrap();
        let s = Tensor::new(&[[1.0f32, 0.0, 0.0], [0.0, 2.0, 0.0]], &dev).unwrap();
        let out = m.forward(&s).unwrap();
        assert_eq!(out.dims(), &[2, 2, 4]);
        let w = m.weight.as_tensor().to_vec2::<f32>().unwrap();
        let o = out.to_vec3::<f32>().unwrap();
        // Row 0 of the batch is W's first row (bias 0); row 1 is twice W's second row.
        assert_eq!(o[0][1][2], w[0][6]);
        assert!((o[1][0][3] - 2.0 * w[1][3]).abs() < 1e-6);
        let x = Tensor::zeros((2, 5, 4), DType::F32, &dev).unwrap();
        let y = splice(&x, 2, &out).unwrap().to_vec3::<f32>().unwrap();
        assert_eq!(y[0][2], o[0][0]);
        assert_eq!(y[1][3], o[1][1]);
        assert!(y[0][1].iter().chain(&y[1][4]).all(|v| *v == 0.0));
        assert!(splice(&x, 4, &out).is_err());
        assert!(m.batch(&[None], &dev).is_err());
        assert!(m.batch(&[Some(&[1.0, 2.0])], &dev).is_err());
        let saved = m
            .named_vars()
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        let back = MotionSummary::from_saved(cfg, 4, &saved).unwrap();
        assert_eq!(back.forward(&s).unwrap().to_vec3::<f32>().unwrap(), o);
        assert!(MotionSummary::from_saved(cfg, 5, &saved).is_err());
    }
}
