//! Training of the retrieval evaluator: symmetric InfoNCE between motion and text embeddings
//! (TMR, Petrovich et al. 2023, Eq. 2) with TMR's filtering of wrong negatives: a pair (i, j≠i)
//! whose captions' MiniLM sentence embeddings have cosine above a threshold (0.8) is left out of
//! both softmaxes, since the corpus repeats template captions across clips.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use candle_nn::loss::cross_entropy;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::data::CaptionedClip;
use super::model::{DOWNSAMPLE, RetrievalModel};
use crate::dvq::config::cosine_with_warmup;
use crate::dvq::error::Result;
use crate::dvq::optim::{AdamW, GroupHyper};
use crate::eval::minilm::MINILM_DIM;
use crate::motion::Normalizer;
use crate::motion::layout::N_FEATURES;

/// Optimisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetrievalTrainConfig {
    pub steps: usize,
    /// Clips per batch (each with one of its captions, drawn at random).
    pub batch: usize,
    /// Longer clips are cropped at a random start to this many frames (20 fps).
    pub max_frames: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup_frac: f64,
    /// Softmax temperature τ of the similarity logits (TMR: 0.1).
    pub temperature: f64,
    /// Captions more similar than this (MiniLM cosine) are not negatives of each other (TMR: 0.8).
    pub negative_threshold: f32,
    pub seed: u64,
}

impl Default for RetrievalTrainConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch: 64,
            max_frames: 160,
            lr: 5e-4,
            weight_decay: 1e-4,
            warmup_frac: 0.05,
            temperature: 0.1,
            negative_threshold: 0.8,
            seed: 1234,
        }
    }
}

/// MiniLM sentence embeddings `(384,)` by caption text.
pub type SentenceCache = HashMap<String, Vec<f32>>;

/// After each step: return `false` to stop early.
pub type OnStep<'a> = dyn FnMut(usize, usize, f64) -> bool + 'a;

/// Trains `model` on `clips` (raw features, normalized here with `normalizer`); every caption
/// must be in `sentences`. Returns `(step, loss)` per step.
///
/// Errors: a caption without a sentence embedding, or a tensor failure.
pub fn train_retrieval(
    model: &RetrievalModel,
    clips: &[CaptionedClip],
    normalizer: &Normalizer,
    sentences: &SentenceCache,
    cfg: &RetrievalTrainConfig,
    on_step: &mut OnStep,
) -> Result<Vec<(usize, f64)>> {
    let device = model.device().clone();
    let normalized: Vec<Vec<f32>> = clips
        .iter()
        .map(|c| {
            let mut f = c.features.clone();
            normalizer.normalize(&mut f);
            f
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut opt = AdamW::new(model.params())?;
    let mut order: Vec<usize> = Vec::new();
    let mut log = Vec::with_capacity(cfg.steps);
    let batch = cfg.batch.min(clips.len());
    for step in 0..cfg.steps {
        if order.len() < batch {
            let mut epoch: Vec<usize> = (0..clips.len()).collect();
            epoch.shuffle(&mut rng);
            order.extend(epoch);
        }
        let picked: Vec<usize> = order.drain(..batch).collect();
        let b = make_batch(
            &picked,
            clips,
            &normalized,
            sentences,
            cfg,
            &mut rng,
            &device,
        )?;
        let m = model.embed_motion(&b.motion, &b.frames)?;
        let t = model.embed_text(&b.text)?;
        let logits = (m.matmul(&t.t()?)? / cfg.temperature)?.broadcast_add(&b.mask)?;
        let targets = Tensor::arange(0u32, picked.len() as u32, &device)?;
        let loss = ((cross_entropy(&logits, &targets)?
            + cross_entropy(&logits.t()?.contiguous()?, &targets)?)?
            * 0.5)?;
        let grads = loss.backward()?;
        let scale = cosine_with_warmup(step, cfg.steps, cfg.warmup_frac);
        opt.step(&grads, |g| {
            GroupHyper::decay_weights_only(g, cfg.lr * scale, cfg.weight_decay)
        })?;
        let l = loss.to_scalar::<f32>()? as f64;
        log.push((step, l));
        if !on_step(step + 1, cfg.steps, l) {
            break;
        }
    }
    Ok(log)
}

struct Batch {
    motion: Tensor,
    frames: Vec<usize>,
    text: Tensor,
    /// `(B, B)`: 0, or −10⁴ where the captions of i ≠ j are too alike to be negatives.
    mask: Tensor,
}

fn make_batch(
    picked: &[usize],
    clips: &[CaptionedClip],
    normalized: &[Vec<f32>],
    sentences: &SentenceCache,
    cfg: &RetrievalTrainConfig,
    rng: &mut StdRng,
    device: &Device,
) -> Result<Batch> {
    let b = picked.len();
    let lens: Vec<usize> = picked
        .iter()
        .map(|&i| clips[i].frames.min(cfg.max_frames))
        .collect();
    let l = lens.iter().copied().max().unwrap_or(DOWNSAMPLE);
    let mut motion = vec![0f32; b * l * N_FEATURES];
    let mut text = Vec::with_capacity(b * MINILM_DIM);
    for (k, (&i, &len)) in picked.iter().zip(&lens).enumerate() {
        let start = rng.random_range(0..=clips[i].frames - len);
        motion[k * l * N_FEATURES..(k * l + len) * N_FEATURES]
            .copy_from_slice(&normalized[i][start * N_FEATURES..(start + len) * N_FEATURES]);
        let (caption, _) = &clips[i].captions[rng.random_range(0..clips[i].captions.len())];
        let e = sentences.get(caption).ok_or_else(|| {
            crate::dvq::DvqError::Data(format!("no sentence embedding for `{caption}`"))
        })?;
        text.extend_from_slice(e);
    }
    let mut mask = vec![0f32; b * b];
    for i in 0..b {
        for j in 0..b {
            let (a, c) = (
                &text[i * MINILM_DIM..(i + 1) * MINILM_DIM],
                &text[j * MINILM_DIM..(j + 1) * MINILM_DIM],
            );
            let cos: f32 = a.iter().zip(c).map(|(x, y)| x * y).sum();
            if i != j && cos > cfg.negative_threshold {
                mask[i * b + j] = -1e4;
            }
        }
    }
    Ok(Batch {
        motion: Tensor::from_vec(motion, (b, l, N_FEATURES), device)?,
        frames: lens,
        text: Tensor::from_vec(text, (b, MINILM_DIM), device)?,
        mask: Tensor::from_vec(mask, (b, b), device)?,
    })
}
