//! The TMR-style motion and text encoders of the retrieval evaluator (Petrovich et al. 2023,
//! "TMR: Text-to-Motion Retrieval Using Contrastive 3D Human Motion Synthesis"), small enough to
//! train on a CPU: both map into one `E`-dimensional space of L2-normalised embeddings.
//!
//! - motion: normalized `(B, T, 263)` features → Conv1d(263→W, k3) → 2 × [Conv1d(W, W, k4, s2,
//!   p1) → Conv1d(W, W, k3)] (ReLU after each) → masked mean over time → Linear(W → E);
//! - text: the frozen MiniLM sentence embedding `(B, 384)` → Linear(384 → W) → ReLU →
//!   Linear(W → E).

use candle_core::{D, Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::dvq::conv::{Conv1d, ConvSpec};
use crate::dvq::error::{DvqError, Result};
use crate::dvq::params::Params;
use crate::motion::layout::N_FEATURES;

use super::super::minilm::MINILM_DIM;

/// Frames per motion-embedding position (two stride-2 convolutions).
pub const DOWNSAMPLE: usize = 4;

/// Largest width and embedding size accepted: 4,096 (the model shipped uses 128 and 256; a
/// 4,096-wide model has 200 million weights).
pub const MAX_WIDTH: usize = 4096;

/// Architecture of the evaluator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalConfig {
    /// Convolution and hidden width W.
    pub width: usize,
    /// Embedding size E.
    pub embed_dim: usize,
    /// Seed of the initial weights.
    pub seed: u64,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        Self {
            width: 128,
            embed_dim: 256,
            seed: 1234,
        }
    }
}

/// `y = x Wᵀ + b` with PyTorch's default initialisation.
struct Linear {
    weight: candle_core::Var,
    bias: candle_core::Var,
}

impl Linear {
    fn new(
        params: &mut Params,
        name: &str,
        c_in: usize,
        c_out: usize,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Self> {
        let (weight, bias) = params.weight_and_bias(name, &[c_out, c_in], rng, device)?;
        Ok(Self { weight, bias })
    }

    /// `(N, c_in)` → `(N, c_out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight.as_tensor().t()?)?
            .broadcast_add(self.bias.as_tensor())?)
    }
}

/// Motion encoder and text projection, with their parameters.
pub struct RetrievalModel {
    pub config: RetrievalConfig,
    params: Params,
    convs: Vec<Conv1d>,
    motion_out: Linear,
    text_hidden: Linear,
    text_out: Linear,
    device: Device,
}

fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let n = (x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()? + 1e-8)?;
    Ok(x.broadcast_div(&n)?)
}

impl RetrievalModel {
    /// A freshly initialised model (seeded by `config.seed`).
    ///
    /// Errors: a width or embedding size outside 1..=[`MAX_WIDTH`].
    pub fn new(config: RetrievalConfig, device: &Device) -> Result<Self> {
        let sizes = [config.width, config.embed_dim];
        if !sizes.iter().all(|s| (1..=MAX_WIDTH).contains(s)) {
            return Err(DvqError::Config(format!(
                "retrieval width {} and embed_dim {} must be in 1..={MAX_WIDTH}",
                config.width, config.embed_dim
            )));
        }
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut params = Params::new();
        let w = config.width;
        let down = |c_in| ConvSpec {
            c_in,
            c_out: w,
            kernel: 4,
            stride: 2,
            padding: 1,
            dilation: 1,
        };
        let specs = [
            ConvSpec::same(N_FEATURES, w, 3, 1),
            down(w),
            ConvSpec::same(w, w, 3, 1),
            down(w),
            ConvSpec::same(w, w, 3, 1),
        ];
        let convs = specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Conv1d::new(
                    &mut params,
                    &format!("motion.conv{i}"),
                    *s,
                    &mut rng,
                    device,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let motion_out = Linear::new(
            &mut params,
            "motion.out",
            w,
            config.embed_dim,
            &mut rng,
            device,
        )?;
        let text_hidden = Linear::new(&mut params, "text.hidden", MINILM_DIM, w, &mut rng, device)?;
        let text_out = Linear::new(
            &mut params,
            "text.out",
            w,
            config.embed_dim,
            &mut rng,
            device,
        )?;
        Ok(Self {
            config,
            params,
            convs,
            motion_out,
            text_hidden,
            text_out,
            device: device.clone(),
        })
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Normalized features `(B, T, 263)` with `frames[b]` valid frames each (the rest zero
    /// padding) → L2-normalised motion embeddings `(B, E)`.
    ///
    /// Errors: `frames.len() != B` or a clip shorter than 4 frames.
    pub fn embed_motion(&self, x: &Tensor, frames: &[usize]) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        if frames.len() != b || frames.iter().any(|&f| f < DOWNSAMPLE || f > t) {
            return Err(DvqError::Data(format!(
                "motion batch of {b}×{t} frames with lengths {frames:?} (each must be 4..={t})"
            )));
        }
        let mut h = x.clone();
        for c in &self.convs {
            h = c.forward(&h)?.relu()?;
        }
        let t_out = h.dim(1)?;
        let mut mask = vec![0f32; b * t_out];
        for (i, &f) in frames.iter().enumerate() {
            let valid = (f / DOWNSAMPLE).clamp(1, t_out);
            for m in &mut mask[i * t_out..i * t_out + valid] {
                *m = 1.0 / valid as f32;
            }
        }
        let mask = Tensor::from_vec(mask, (b, t_out, 1), &self.device)?;
        let pooled = h.broadcast_mul(&mask)?.sum(1)?; // (B, W)
        l2_normalize(&self.motion_out.forward(&pooled)?)
    }

    /// MiniLM sentence embeddings `(B, 384)` → L2-normalised text embeddings `(B, E)`.
    pub fn embed_text(&self, sentence: &Tensor) -> Result<Tensor> {
        let h = self.text_hidden.forward(sentence)?.relu()?;
        l2_normalize(&self.text_out.forward(&h)?)
    }
}
