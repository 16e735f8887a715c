//! Model and training configuration, saved as `config.json` beside the weights.
//!
//! Defaults follow JYe16/GeoMotionGPT `dvq_train.py` and `dvq/softvq.py` (the `paper` preset);
//! the `cpu` preset keeps the same architecture at a width two cores can train.

use serde::{Deserialize, Serialize};

use super::error::{DvqError, Result};
use crate::motion::layout::N_FEATURES;

/// The tokenizer's architecture (reference: `dvq/encdec.py`, T2M-GPT `models/resnet.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DvqConfig {
    /// Feature width of a frame: 263 for HumanML3D.
    pub input_dim: usize,
    /// Codebook size K (number of motion codes).
    pub nb_code: usize,
    /// Code dimension D (codebook rows are D-dimensional).
    pub code_dim: usize,
    /// Channel width W of every hidden convolution.
    pub width: usize,
    /// Number of stride-2 stages: one code per `2^down_t` frames (3 → 8 frames).
    pub down_t: usize,
    /// Residual blocks per stage.
    pub depth: usize,
    /// Dilations are `rate^d` for d in 0..depth, applied in reverse order (9, 3, 1).
    pub dilation_growth_rate: usize,
    /// How the encoder's output becomes a code: [`Quantizer::Gumbel`] (GeoMotionGPT, ours) or
    /// [`Quantizer::Nearest`] (a T2M-GPT / MotionGPT VQ-VAE opened from its `.pth`).
    #[serde(default)]
    pub quantizer: Quantizer,
}

/// The quantizer a tokenizer's encoder ends in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantizer {
    /// The encoder ends in K code logits; a code is their argmax at inference and a
    /// Gumbel-Softmax straight-through sample in training (GeoMotionGPT
    /// `dvq/quantize_softgumbel.py`).
    #[default]
    Gumbel,
    /// The encoder ends in a D-dimensional vector; a code is the codebook row nearest to it in
    /// L2 distance (T2M-GPT `models/quantize_cnn.py`, `QuantizeEMAReset.quantize`). Inference
    /// only: such tokenizers are trained with their authors' code.
    Nearest,
}

impl Quantizer {
    /// Channels of the encoder's last convolution: K for [`Self::Gumbel`], D for
    /// [`Self::Nearest`].
    pub fn encoder_out(self, nb_code: usize, code_dim: usize) -> usize {
        match self {
            Self::Gumbel => nb_code,
            Self::Nearest => code_dim,
        }
    }
}

impl DvqConfig {
    /// The paper's setting: K = 512, D = 512, W = 512, down_t = 3, depth 3.
    pub fn paper() -> Self {
        Self {
            input_dim: N_FEATURES,
            nb_code: 512,
            code_dim: 512,
            width: 512,
            down_t: 3,
            depth: 3,
            dilation_growth_rate: 3,
            quantizer: Quantizer::Gumbel,
        }
    }

    /// The preset trained on two CPU cores: K = 256 ≤ D = 256 (an orthonormal codebook exists),
    /// W = 128, same depth and down-sampling as the paper.
    pub fn cpu() -> Self {
        Self {
            nb_code: 256,
            code_dim: 256,
            width: 128,
            ..Self::paper()
        }
    }

    /// A preset by name: `paper`, `cpu`, or `tiny` (tests).
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "paper" => Ok(Self::paper()),
            "cpu" => Ok(Self::cpu()),
            "tiny" => Ok(Self {
                nb_code: 32,
                code_dim: 32,
                width: 32,
                depth: 1,
                ..Self::paper()
            }),
            other => Err(DvqError::Config(format!(
                "unknown preset `{other}` (paper, cpu or tiny)"
            ))),
        }
    }

    /// Frames per code: `2^down_t` (saturating at `usize::MAX` for a `down_t` that
    /// [`Self::validate`] rejects).
    pub fn frames_per_code(&self) -> usize {
        u32::try_from(self.down_t)
            .ok()
            .and_then(|s| 1usize.checked_shl(s))
            .unwrap_or(usize::MAX)
    }

    /// Dilations of one residual stack, in the order applied: `[rate^(depth-1), …, 1]`
    /// (saturating, for a config that [`Self::validate`] rejects).
    pub fn dilations(&self) -> Vec<usize> {
        (0..self.depth)
            .rev()
            .map(|d| {
                self.dilation_growth_rate
                    .saturating_pow(u32::try_from(d).unwrap_or(u32::MAX))
            })
            .collect()
    }

    /// Weights of the model this config builds (convolutions, biases left out, and the
    /// codebook), or `None` when the count overflows `usize`.
    pub fn weight_count(&self) -> Option<usize> {
        let (w, depth, down) = (self.width, self.depth, self.down_t);
        // Per stage, in W×W units: encoder k4 down-sampling + depth × (k3 + k1); decoder
        // depth × (k3 + k1) + k3 up-sampling. Then conv_mid (k3).
        let units = depth
            .checked_mul(8)?
            .checked_add(7)?
            .checked_mul(down)?
            .checked_add(3)?;
        let square = w.checked_mul(w)?.checked_mul(units)?;
        // conv_in and conv_out of both halves: k3 from/to input_dim, K (or D) and D.
        let edges = self
            .input_dim
            .checked_mul(2)?
            .checked_add(self.quantizer.encoder_out(self.nb_code, self.code_dim))?
            .checked_add(self.code_dim)?
            .checked_mul(3)?
            .checked_mul(w)?;
        square
            .checked_add(edges)?
            .checked_add(self.nb_code.checked_mul(self.code_dim)?)
    }

    /// Checks the sizes the model needs, before anything is allocated: every size positive
    /// (K ≥ 2), `dilation_growth_rate ≥ 1`, at most 2^[`MAX_DOWN_T`] frames per code, at most
    /// [`MAX_DEPTH`] residual blocks per stage, a largest dilation of at most [`MAX_DILATION`],
    /// and at most [`MAX_WEIGHTS`] weights (so a corrupt config cannot ask for terabytes).
    ///
    /// Errors: [`DvqError::Config`] naming the field, its value and what is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, value: usize, why: String| {
            Err(DvqError::Config(format!("{field} = {value}: {why}")))
        };
        for (field, value, least) in [
            ("input_dim", self.input_dim, 1),
            ("nb_code", self.nb_code, 2),
            ("code_dim", self.code_dim, 1),
            ("width", self.width, 1),
            ("dilation_growth_rate", self.dilation_growth_rate, 1),
        ] {
            if value < least {
                return bad(field, value, format!("must be at least {least}"));
            }
        }
        if self.down_t > MAX_DOWN_T {
            return bad(
                "down_t",
                self.down_t,
                format!("one code per 2^down_t frames; at most 2^{MAX_DOWN_T} is supported"),
            );
        }
        if self.depth > MAX_DEPTH {
            return bad(
                "depth",
                self.depth,
                format!("at most {MAX_DEPTH} residual blocks per stage are supported"),
            );
        }
        let top = u32::try_from(self.depth.saturating_sub(1))
            .ok()
            .and_then(|e| self.dilation_growth_rate.checked_pow(e));
        if top.is_none_or(|d| d > MAX_DILATION) {
            return bad(
                "depth",
                self.depth,
                format!(
                    "the largest dilation, dilation_growth_rate^(depth − 1) = {}^{}, is more \
                     than the {MAX_DILATION} supported",
                    self.dilation_growth_rate,
                    self.depth.saturating_sub(1)
                ),
            );
        }
        match self.weight_count() {
            Some(n) if n <= MAX_WEIGHTS => Ok(()),
            n => Err(DvqError::Config(format!(
                "width = {}, depth = {}, down_t = {}, nb_code = {}, code_dim = {}: {} weights, \
                 more than the {MAX_WEIGHTS} (1 GiB of f32) supported",
                self.width,
                self.depth,
                self.down_t,
                self.nb_code,
                self.code_dim,
                n.map_or("more than usize::MAX".to_string(), |n| n.to_string())
            ))),
        }
    }
}

/// The most stride-2 stages a config may have (one code per 2^16 = 65,536 frames: 55 min at
/// 20 fps).
pub const MAX_DOWN_T: usize = 16;

/// The most residual blocks per stage a config may have.
pub const MAX_DEPTH: usize = 64;

/// The largest dilation a config may make (`dilation_growth_rate^(depth − 1)`).
pub const MAX_DILATION: usize = 1 << 16;

/// The most weights a config may make (2^28 f32 weights: 1 GiB; the paper's model has 20
/// million).
pub const MAX_WEIGHTS: usize = 1 << 28;

/// Training hyper-parameters (reference: `dvq_train.py`, with epochs expressed as steps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Optimiser steps in all.
    pub steps: usize,
    /// Crops per batch.
    pub batch_size: usize,
    /// Shortest random crop, frames at 20 fps (a multiple of the frames per code).
    pub crop_min: usize,
    /// Longest random crop, frames at 20 fps.
    pub crop_max: usize,
    /// AdamW learning rate of the encoder and decoder.
    pub lr: f64,
    /// AdamW weight decay of convolution weights (biases get none).
    pub weight_decay: f64,
    /// Learning rate of the codebook (the reference uses lr / 2).
    pub codebook_lr: f64,
    /// Weight decay of the codebook.
    pub codebook_weight_decay: f64,
    /// Linear warm-up, as a fraction of `steps` (reference: 0.03), then cosine decay to 0.
    pub warmup_frac: f64,
    /// Gumbel-Softmax temperature held until `tau_decay_start` …
    pub tau_start: f64,
    /// … then decayed exponentially to this value at `tau_decay_end`, and held.
    pub tau_end: f64,
    /// Fraction of `steps` where τ starts to decay (reference: epoch 300 of 500).
    pub tau_decay_start: f64,
    /// Fraction of `steps` where τ reaches `tau_end` (reference: epoch 400 of 500).
    pub tau_decay_end: f64,
    /// Weight of the utilisation loss in the total (reference: 0.25).
    pub util_weight: f64,
    /// Scale inside the utilisation loss, `(1 − ppl/K)·(1 − 0.85h)·ratio` (reference: 4).
    pub util_ratio: f64,
    /// Fraction of `steps` where the ramp h from hard-sample to clear perplexity starts (150/500).
    pub util_ramp_start: f64,
    /// Fraction of `steps` where h reaches 1 (200/500).
    pub util_ramp_end: f64,
    /// Weight of L_ortho = mean((Ĉ Ĉᵀ − I)²) (reference: 1).
    pub ortho_weight: f64,
    /// Multiplier of the Gumbel noise in the training assignment (1 = `F.gumbel_softmax`, as the
    /// reference; 0 = the noise-free straight-through argmax).
    pub gumbel_scale: f64,
    /// Extra weight of the MSE on the 4 root channels (yaw and xz velocity, height), which
    /// `recover_from_ric` integrates over a whole clip; 0 = the reference's plain MSE.
    pub root_weight: f64,
    /// Seed of initialisation, crops and Gumbel noise.
    pub seed: u64,
    /// Save a checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    /// Write a CSV log row every this many steps.
    pub log_every: usize,
    /// Every this many steps, the loss on fixed windows of the val split; the model with the
    /// lowest is saved in `best/` (`dvq_train.py` keeps the epoch with the lowest validation
    /// loss). 0 (absent in older configs): no validation.
    #[serde(default)]
    pub val_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 20_000,
            batch_size: 64,
            crop_min: 32,
            crop_max: 64,
            lr: 2e-4,
            weight_decay: 1e-4,
            codebook_lr: 1e-4,
            codebook_weight_decay: 0.0,
            warmup_frac: 0.03,
            tau_start: 0.4,
            tau_end: 0.01,
            tau_decay_start: 0.6,
            tau_decay_end: 0.8,
            util_weight: 0.25,
            util_ratio: 4.0,
            util_ramp_start: 0.3,
            util_ramp_end: 0.4,
            ortho_weight: 1.0,
            gumbel_scale: 1.0,
            root_weight: 0.0,
            seed: 1234,
            checkpoint_every: 1000,
            log_every: 20,
            val_every: 0,
        }
    }
}

impl TrainConfig {
    /// Training settings for a model preset: the reference's for `paper` (`dvq_train.py`: batches
    /// of 512 windows of 32 frames; 20,000 steps ≈ its 500 epochs of HumanML3D's ~23k train
    /// motions at ~45 batches each; the validation loss every 45 steps, about an epoch, and
    /// the best model kept in `best/` as the reference keeps its best epoch), and for `cpu` a run that fits 40 minutes on two cores (14,000 steps at the
    /// reference's lr 2e-4, codebook 1e-4, noise-free straight-through assignment). Measured on
    /// one fixed batch of 16 real crops: at lr 5e-4 and above this un-normalized network does
    /// not train (the loss wanders at the data variance); at 2e-4 with the reference's Gumbel
    /// noise the codes stay random and recon goes only 1.46 → 1.33 in 210 steps, without the
    /// noise 1.46 → 0.75. `tiny` takes the defaults.
    pub fn for_preset(name: &str) -> Self {
        match name {
            "cpu" => Self {
                steps: 14_000,
                gumbel_scale: 0.0,
                checkpoint_every: 250,
                ..Self::default()
            },
            "paper" => Self {
                batch_size: 512,
                crop_min: 32,
                crop_max: 32,
                // About one reference epoch: HumanML3D's ~23k train windows / 512.
                val_every: 45,
                ..Self::default()
            },
            _ => Self::default(),
        }
    }

    /// Learning-rate multiplier at `step` (0-based): linear warm-up then cosine to 0, as Hugging
    /// Face `get_cosine_schedule_with_warmup`.
    pub fn lr_scale(&self, step: usize) -> f64 {
        cosine_with_warmup(step, self.steps, self.warmup_frac)
    }

    /// Gumbel-Softmax temperature τ at `step`.
    pub fn tau(&self, step: usize) -> f64 {
        let f = step as f64 / self.steps.max(1) as f64;
        if f < self.tau_decay_start {
            return self.tau_start;
        }
        let span = (self.tau_decay_end - self.tau_decay_start).max(1e-9);
        let p = ((f - self.tau_decay_start) / span).min(1.0);
        (self.tau_start * (self.tau_end / self.tau_start).powf(p)).max(self.tau_end)
    }

    /// The ramp h in [0, 1] that moves the perplexity from the hard Gumbel sample to the clear
    /// (noise-free) straight-through softmax and lowers the utilisation weight by (1 − 0.85h).
    pub fn util_ramp(&self, step: usize) -> f64 {
        let f = step as f64 / self.steps.max(1) as f64;
        let span = (self.util_ramp_end - self.util_ramp_start).max(1e-9);
        ((f - self.util_ramp_start) / span).clamp(0.0, 1.0)
    }

    /// Checks the settings against a model config.
    pub fn validate(&self, model: &DvqConfig) -> Result<()> {
        if model.quantizer != Quantizer::Gumbel {
            return Err(DvqError::Config(
                "a nearest-neighbour (T2M-GPT VQ-VAE) tokenizer is opened for inference only; \
                 train it with its authors' code"
                    .into(),
            ));
        }
        let q = model.frames_per_code();
        if self.crop_min < q || self.crop_min > self.crop_max {
            return Err(DvqError::Config(format!(
                "crop lengths {}..{} must satisfy {q} ≤ crop_min ≤ crop_max",
                self.crop_min, self.crop_max
            )));
        }
        if self.steps == 0 || self.batch_size == 0 {
            return Err(DvqError::Config(
                "steps and batch_size must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// Everything `config.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    pub model: DvqConfig,
    pub train: TrainConfig,
    /// Corpus the model was trained on, as given.
    pub data: String,
}

/// Learning-rate multiplier at `step` (0-based) of `steps`: linear warm-up over
/// `warmup_frac · steps` steps, then cosine decay to 0 (Hugging Face
/// `get_cosine_schedule_with_warmup`).
pub fn cosine_with_warmup(step: usize, steps: usize, warmup_frac: f64) -> f64 {
    let warmup = (warmup_frac * steps as f64) as usize;
    if step < warmup {
        return step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / (steps - warmup).max(1) as f64;
    0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}
