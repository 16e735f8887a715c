//! Captioner fine-tuning (JYe16/GeoMotionGPT `llm_train.py`): loss = caption cross-entropy +
//! λ·L_ortho on the motion rows, AdamW with a cosine schedule after a linear warm-up,
//! length-bucketed batches drawn with caption-kind weights, checkpoints, exact resume,
//! cancellation and progress reports. Every step draws its batch from a generator seeded by
//! (seed, step), so a resumed run takes the same steps as an uninterrupted one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::backbone::load_backbone;
use super::captioner::{Captioner, CaptionerConfig, Example, FineTune};
use super::data::{CaptionPair, KindWeights, load_pairs};
use super::error::{LmError, Result};
use super::lora::LoraConfig;
use super::summary::{self, SummaryConfig};
use crate::dvq::optim::{AdamW, GroupHyper};
use crate::dvq::train::step_rng;
use crate::dvq::{TrainEnd, checkpoint as dvq_checkpoint};
use crate::eval::nearest::{COMPONENTS, NearestIndex};
use crate::motion::Split;

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "captioner.safetensors";
pub const LOG_FILE: &str = "train_log.csv";

/// Fine-tuning settings (flat; every field has a default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LmTrainConfig {
    /// Optimiser steps in all (the schedules span them).
    pub steps: usize,
    /// Caption pairs per batch.
    pub batch_size: usize,
    /// Peak AdamW learning rate (adapters, motion rows, or every weight in full mode).
    pub lr: f64,
    /// Peak learning rate of the motion summary map ([`super::summary`]); `None`: `lr`. The map
    /// starts from noise when it is added to a trained captioner, whose adapters start trained.
    pub summary_lr: Option<f64>,
    /// Decoupled weight decay of 2-D weights (adapters, full weights); none on norms and the
    /// motion rows.
    pub weight_decay: f64,
    /// Linear warm-up as a fraction of `steps`, then cosine to 0.
    pub warmup_frac: f64,
    /// λ of the geometry regulariser on the motion rows (reference: 1e-2).
    pub ortho_weight: f64,
    /// Which regulariser (`train lm --geometry-loss`): the orthonormal loss, or the authors'
    /// pairwise-cosine ablation ([`super::motion_vocab::GeometryLoss`]).
    pub geometry_loss: super::motion_vocab::GeometryLoss,
    /// Captions longer than this many tokens are cut.
    pub max_caption_tokens: usize,
    /// Pairs per length bucket: a batch is drawn from one bucket of similar lengths.
    pub bucket_size: usize,
    pub weights: KindWeights,
    /// Seed of the projection, adapters and batches.
    pub seed: u64,
    /// The codebook's projection into the embedding space of a fresh captioner
    /// (`train lm --projection sparse|selection`; [`super::motion_vocab::ProjectionKind`]).
    pub projection: super::motion_vocab::ProjectionKind,
    pub checkpoint_every: usize,
    pub log_every: usize,
    /// The learning-rate schedule (absent in configs saved before the choice: warm-up + cosine).
    #[serde(default)]
    pub schedule: LrSchedule,
    /// The directions learnt (`train lm --tasks m2t,t2m`; absent in configs saved before the
    /// choice: motion to text only). Each pair gives one example per task, at its weight.
    #[serde(default = "motion_to_text_only")]
    pub tasks: Vec<Task>,
    /// Multiplies the sampling weight of every text-to-motion example (`train lm --t2m-weight`):
    /// 1 (default, and in configs saved before the choice) = each caption gives its two tasks the
    /// same weight; 1/3 = a quarter of the drawn examples write motion. The motion task moves
    /// the shared adapters and motion rows; a smaller share keeps the captions' steps.
    #[serde(default = "one")]
    pub t2m_weight: f64,
}

fn one() -> f64 {
    1.0
}

/// Errors unless the LM in `dir` (its checkpoint config `ckpt`) was trained to write motion
/// (`--tasks` with `t2m`).
pub fn require_t2m(ckpt: &LmCheckpointConfig, dir: &Path) -> Result<()> {
    if ckpt.train.tasks.contains(&Task::T2m) {
        return Ok(());
    }
    Err(LmError::Data(format!(
        "{} was trained for motion → text only; train one with `train lm --tasks m2t,t2m`",
        dir.display()
    )))
}

/// A direction the LM learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Motion to text: `Generate text: <start> codes <end> \n ` → the caption.
    M2t,
    /// Text to motion: `Generate motion: caption \n <start>` → the codes and `<end>`
    /// ([`super::MOTION_PROMPT`]).
    T2m,
}

fn motion_to_text_only() -> Vec<Task> {
    vec![Task::M2t]
}

/// How the learning rate moves over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LrSchedule {
    /// Linear warm-up over `warmup_frac` of the steps, then cosine to 0 (Hugging Face
    /// `get_cosine_schedule_with_warmup`).
    #[default]
    WarmupCosine,
    /// PyTorch `CosineAnnealingLR(T_max = t_max_epochs, eta_min)` stepped once per epoch of
    /// `steps_per_epoch` optimiser steps, as Lightning steps it (GeoMotionGPT
    /// `configs/train/m2t_o1e-2.yaml`: T_max 200, eta_min 1e-6 over 100 epochs, so the rate ends
    /// half-way down): lr(e) = eta_min + (lr − eta_min)·(1 + cos(π·e / T_max)) / 2, e the
    /// epoch.
    CosineAnnealing {
        t_max_epochs: f64,
        eta_min: f64,
        steps_per_epoch: usize,
    },
}

impl Default for LmTrainConfig {
    fn default() -> Self {
        Self {
            steps: 400,
            batch_size: 8,
            lr: 1e-3,
            summary_lr: None,
            weight_decay: 0.01,
            warmup_frac: 0.05,
            ortho_weight: 1e-2,
            geometry_loss: Default::default(),
            max_caption_tokens: 32,
            bucket_size: 64,
            weights: KindWeights::default(),
            seed: 1234,
            projection: Default::default(),
            checkpoint_every: 50,
            log_every: 5,
            schedule: LrSchedule::WarmupCosine,
            tasks: motion_to_text_only(),
            t2m_weight: 1.0,
        }
    }
}

impl LmTrainConfig {
    /// Learning-rate multiplier at `step` (0-based): linear warm-up, then cosine to 0, exactly
    /// as Hugging Face `get_cosine_schedule_with_warmup` (which the reference's trainer uses) and
    /// as the tokenizer's schedule: 0 at step 0, the peak once at step `warmup`. (It used to
    /// reach the peak one step early and hold it for two steps.)
    pub fn lr_scale(&self, step: usize) -> f64 {
        match self.schedule {
            LrSchedule::WarmupCosine => {
                crate::dvq::config::cosine_with_warmup(step, self.steps, self.warmup_frac)
            }
            LrSchedule::CosineAnnealing {
                t_max_epochs,
                eta_min,
                steps_per_epoch,
            } => {
                let epoch = (step / steps_per_epoch.max(1)) as f64;
                let c = 0.5 * (1.0 + (std::f64::consts::PI * epoch / t_max_epochs.max(1e-9)).cos());
                (eta_min + (self.lr - eta_min) * c) / self.lr.max(f64::MIN_POSITIVE)
            }
        }
    }

    /// The paper's captioner recipe (GeoMotionGPT `configs/train/m2t_o1e-2.yaml`, `llm_train.py`):
    /// full fine-tuning at AdamW lr 1e-4, weight decay 0.01, batch 320, λ = 1e-2, 100 epochs of
    /// `pairs` caption pairs under `CosineAnnealingLR(T_max = 200, eta_min = 1e-6)` stepped per
    /// epoch, no warm-up. The backbone (GPT-2 in the paper) is the caller's.
    pub fn paper(pairs: usize) -> Self {
        let batch_size = 320;
        let steps_per_epoch = pairs.div_ceil(batch_size).max(1);
        Self {
            steps: 100 * steps_per_epoch,
            batch_size,
            lr: 1e-4,
            weight_decay: 0.01,
            warmup_frac: 0.0,
            ortho_weight: 1e-2,
            schedule: LrSchedule::CosineAnnealing {
                t_max_epochs: 200.0,
                eta_min: 1e-6,
                steps_per_epoch,
            },
            checkpoint_every: steps_per_epoch,
            ..Self::default()
        }
    }
}

/// What `config.json` of a captioner directory holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmCheckpointConfig {
    pub captioner: CaptionerConfig,
    pub train: LmTrainConfig,
    /// Corpus trained on, as given.
    pub data: String,
    /// Tokenizer directory whose codes the captioner reads, as given.
    pub dvq: String,
    /// The captioner this run started from (`--init`), when it did not start from the backbone.
    #[serde(default)]
    pub init: Option<String>,
}

/// A fine-tuning request.
#[derive(Clone, Debug)]
pub struct LmTrainRequest {
    pub data: PathBuf,
    pub split: Split,
    /// DVQ tokenizer directory (codes and codebook).
    pub dvq: PathBuf,
    /// Backbone GGUF; `None` resolves SmolLM2.
    pub backbone: Option<PathBuf>,
    pub out: PathBuf,
    pub mode: FineTune,
    pub lora: LoraConfig,
    pub train: LmTrainConfig,
    /// Continue from the checkpoint in `out` (its config wins).
    pub resume: bool,
    /// Start from the weights of the captioner in this directory (its architecture, adapters
    /// and motion rows) with a fresh optimiser and this request's schedule: a second run on top
    /// of a finished one. Ignored with `resume`.
    pub init: Option<PathBuf>,
    /// Stop after this step (the schedule still spans `train.steps`).
    pub stop_at: Option<usize>,
    /// Give the captioner a motion summary read as this many soft tokens ([`super::summary`];
    /// its width is the nearest-take index's components) if it has none (a fresh one, or one
    /// started from `init`). Ignored with `resume`.
    pub summary_tokens: Option<usize>,
    /// Make the captioner retrieval-augmented: its prompt gives this many first captions of the
    /// nearest training takes ([`super::context`]; in training a take's own source left out).
    /// Ignored with `resume`.
    pub retrieved: Option<usize>,
    /// Make the captioner style-tagged: its prompt gives the style label predicted by the
    /// nearest-take index's style classifier ([`crate::eval::style_classifier`]). Ignored with
    /// `resume`.
    pub style_tag: bool,
}

/// What the progress callback receives.
#[derive(Clone, Debug, Serialize)]
pub enum LmProgress {
    /// Encoding the split with the tokenizer: clips done of total.
    Preparing {
        done: usize,
        total: usize,
    },
    Step(LmStep),
    /// Something the user should know that does not stop the run (e.g. why the finished
    /// captioner has no nearest-take index).
    Note(String),
}

/// One optimiser step's figures.
#[derive(Clone, Debug, Serialize)]
pub struct LmStep {
    pub step: usize,
    pub steps: usize,
    /// Caption cross-entropy (nats per token).
    pub caption_loss: f32,
    /// The geometry regulariser of the motion rows (L_ortho unless `geometry_loss` says
    /// otherwise), before λ.
    pub ortho: f32,
    pub lr: f64,
    /// Scored caption tokens per second over this session.
    pub tokens_per_s: f64,
    pub elapsed_s: f64,
    pub eta_s: f64,
}

/// Pairs grouped by total token length, with their sampling weights.
struct Buckets {
    examples: Vec<Example>,
    weights: Vec<f64>,
    /// Index ranges into `examples` (sorted by length).
    ranges: Vec<std::ops::Range<usize>>,
    /// Total weight of each bucket.
    mass: Vec<f64>,
}

impl Buckets {
    fn new(cap: &Captioner, pairs: &[CaptionPair], cfg: &LmTrainConfig) -> Result<Self> {
        if cfg.tasks.is_empty() {
            return Err(LmError::Data("no task to train (m2t, t2m)".into()));
        }
        let mut items: Vec<(Example, f64)> = Vec::new();
        let swap = cfg.weights.style_swap;
        for (p, w) in pairs.iter().zip(cfg.weights.weights(pairs)) {
            for &task in &cfg.tasks {
                let Some(w) = example_weight(task, p.swap, w, swap, cfg.t2m_weight) else {
                    continue;
                };
                let e = match task {
                    Task::M2t => {
                        cap.example(&p.codes, &p.context, &p.caption, cfg.max_caption_tokens)?
                    }
                    Task::T2m => {
                        cap.motion_example(&p.caption, &p.codes, cfg.max_caption_tokens)?
                    }
                };
                items.push((e, w));
            }
        }
        items.retain(|(_, w)| *w > 0.0);
        if items.is_empty() {
            return Err(LmError::Data("every caption kind has weight 0".into()));
        }
        items.sort_by_key(|(e, _)| e.prompt.len() + e.caption.len());
        let (examples, weights): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        let size = cfg.bucket_size.max(cfg.batch_size).max(1);
        let ranges: Vec<_> = (0..examples.len())
            .step_by(size)
            .map(|s| s..(s + size).min(examples.len()))
            .collect();
        let mass = ranges
            .iter()
            .map(|r| weights[r.clone()].iter().sum())
            .collect();
        Ok(Self {
            examples,
            weights,
            ranges,
            mass,
        })
    }

    /// `batch` examples from one bucket (chosen by mass), each drawn by weight, with replacement.
    fn draw(&self, batch: usize, rng: &mut impl Rng) -> Vec<&Example> {
        let pick = |w: &[f64], rng: &mut dyn rand::RngCore| -> usize {
            let total: f64 = w.iter().sum();
            let mut x = rng.random::<f64>() * total;
            for (i, wi) in w.iter().enumerate() {
                if x < *wi {
                    return i;
                }
                x -= wi;
            }
            w.len() - 1
        };
        let b = pick(&self.mass, rng);
        let r = self.ranges[b].clone();
        (0..batch)
            .map(|_| &self.examples[r.start + pick(&self.weights[r.clone()], rng)])
            .collect()
    }
}

/// The sampling weight of one pair's example of `task`, from the pair's weight `w`; `None`: no
/// example. A style-swapped copy names a style its codes do not have: no motion to write for it,
/// and its original keeps its whole weight (`w / (1 − style_swap)`). Text-to-motion examples are
/// multiplied by `t2m_weight`.
pub(super) fn example_weight(
    task: Task,
    swap: super::data::Swap,
    w: f64,
    style_swap: f64,
    t2m_weight: f64,
) -> Option<f64> {
    use super::data::Swap;
    match (task, swap) {
        (Task::M2t, _) => Some(w),
        (Task::T2m, Swap::Copy) => None,
        (Task::T2m, Swap::Original) if style_swap < 1.0 => {
            Some(t2m_weight * w / (1.0 - style_swap))
        }
        (Task::T2m, _) => Some(t2m_weight * w),
    }
}

/// Fine-tunes (or resumes) a captioner; writes checkpoints every `checkpoint_every` steps, at the
/// end and on cancellation.
///
/// Errors: unreadable corpus or tokenizer, no backbone, a checkpoint that does not match,
/// `resume` with no checkpoint in `out`.
pub fn train(
    req: &LmTrainRequest,
    device: &Device,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&LmProgress),
) -> Result<TrainEnd> {
    if req.resume && !req.out.join(CONFIG_FILE).exists() {
        return Err(LmError::Data(format!(
            "--resume: {} holds no checkpoint ({CONFIG_FILE} is missing); start the run without \
             --resume (or with --init DIR to start from a trained captioner)",
            req.out.display()
        )));
    }
    let dvq = crate::dvq::Tokenizer::load(&req.dvq, device)?;
    let backbone = load_backbone(req.backbone.as_deref(), device)?;
    let (mut ckpt, mut cap, start, opt_state) = if req.resume {
        let (ckpt, tensors) = read_checkpoint(&req.out, device)?;
        let cap = Captioner::from_saved(ckpt.captioner.clone(), backbone, &tensors)?;
        (ckpt, cap, 0, true)
    } else {
        let cap = match &req.init {
            Some(init) => {
                let (prev, tensors) = read_checkpoint(init, device)?;
                Captioner::from_saved(prev.captioner, backbone, &tensors)?
            }
            None => Captioner::new(
                backbone,
                dvq.model().codebook(),
                req.mode,
                &req.lora,
                req.train.seed,
                req.train.projection,
            )?,
        };
        let ckpt = LmCheckpointConfig {
            captioner: cap.config.clone(),
            train: req.train.clone(),
            data: req.data.display().to_string(),
            dvq: req.dvq.display().to_string(),
            init: req.init.as_ref().map(|p| p.display().to_string()),
        };
        (ckpt, cap, 0, false)
    };
    if cap.config.nb_code != dvq.nb_code() {
        return Err(LmError::Data(format!(
            "the captioner reads K = {} codes, the tokenizer in {} has K = {}",
            cap.config.nb_code,
            req.dvq.display(),
            dvq.nb_code()
        )));
    }
    // A captioner that reads a motion summary reads it through the nearest-take index it trained
    // with: built once at the start, saved beside the checkpoint, reloaded on resume.
    let add = if opt_state { None } else { req.summary_tokens };
    if let Some(n) = req.retrieved.filter(|_| !opt_state) {
        cap.config.retrieved = n;
        cap.config.validate().map_err(LmError::Data)?;
        ckpt.captioner = cap.config.clone();
    }
    if req.style_tag && !opt_state {
        cap.config.style_tag = true;
        ckpt.captioner = cap.config.clone();
    }
    let wants = cap
        .summary_dim()
        .or(add.map(|_| 0))
        .or((cap.config.retrieved > 0 || cap.config.style_tag).then_some(0));
    let index = match wants {
        None => None,
        Some(_) => {
            let index = match NearestIndex::load(&req.out)? {
                Some(i) if opt_state => i,
                _ => {
                    let i = NearestIndex::build(&req.data, COMPONENTS)?;
                    std::fs::create_dir_all(&req.out)
                        .map_err(|e| LmError::Data(format!("{}: {e}", req.out.display())))?;
                    i.save(&req.out)?;
                    i
                }
            };
            if let Some(tokens) = add
                && cap.summary_dim().is_none()
            {
                let s = SummaryConfig {
                    dim: index.components(),
                    tokens,
                };
                cap.add_summary(s, ckpt.train.seed ^ 0x5_0AA)?;
                ckpt.captioner = cap.config.clone();
            }
            if let Some(dim) = cap.summary_dim()
                && index.components() != dim
            {
                return Err(LmError::Data(format!(
                    "the captioner reads a motion summary of {dim} values; the nearest-take index \
                     of {} gives {}",
                    req.data.display(),
                    index.components()
                )));
            }
            Some(index)
        }
    };
    let cfg = &ckpt.train;
    let params = cap.param_groups();
    let mut opt = AdamW::new(&params)?;
    let start = if opt_state {
        dvq_checkpoint::load_state(&req.out, &mut opt, device)?
    } else {
        start
    };
    let save = |cap: &Captioner, opt: &AdamW| -> Result<()> {
        write_checkpoint(&req.out, &ckpt, cap)?;
        Ok(dvq_checkpoint::save_state(&req.out, opt)?)
    };
    // Saved before the pairs are prepared, so a cancel while preparing can be resumed.
    if start == 0 {
        save(&cap, &opt)?;
    }
    let pairs = load_pairs(
        &req.data,
        req.split,
        &dvq,
        &|f, source| cap.context(index.as_ref(), f, Some(source)),
        &mut |done, total| {
            progress(&LmProgress::Preparing { done, total });
            !cancel.load(Ordering::Relaxed)
        },
    );
    let mut pairs = match pairs {
        Err(LmError::Cancelled) => return Ok(TrainEnd::Cancelled { step: start }),
        r => r?,
    };
    if cap.config.style_tag && cfg.weights.style_swap > 0.0 {
        super::data::style_swapped(&mut pairs, cfg.seed);
    }
    let buckets = Buckets::new(&cap, &pairs, cfg)?;
    let end = req.stop_at.unwrap_or(cfg.steps).min(cfg.steps);
    let mut log = TrainLog::open(&req.out, start)?;
    let t0 = Instant::now();
    let (mut busy, mut tokens) = (0.0f64, 0usize);
    for step in start..end {
        if cancel.load(Ordering::Relaxed) {
            save(&cap, &opt)?;
            return Ok(TrainEnd::Cancelled { step });
        }
        let ts = Instant::now();
        let mut rng = step_rng(cfg.seed, step);
        let batch = buckets.draw(cfg.batch_size, &mut rng);
        let (ce, n) = cap.caption_loss(&batch)?;
        let ortho = cap.geometry_loss(cfg.geometry_loss)?;
        let loss = (&ce + (&ortho * cfg.ortho_weight)?)?;
        let grads = loss.backward()?;
        let scale = cfg.lr_scale(step);
        opt.step_named(&grads, |name, g| {
            let lr = match cfg.summary_lr {
                Some(lr) if name == summary::WEIGHT || name == summary::BIAS => lr,
                _ => cfg.lr,
            };
            GroupHyper::decay_weights_only(g, lr * scale, cfg.weight_decay)
        })?;
        busy += ts.elapsed().as_secs_f64();
        tokens += n;
        let done = step + 1;
        let per_step = busy / (done - start) as f64;
        let s = LmStep {
            step: done,
            steps: cfg.steps,
            caption_loss: ce.to_scalar::<f32>()?,
            ortho: ortho.to_scalar::<f32>()?,
            lr: cfg.lr * scale,
            tokens_per_s: tokens as f64 / busy.max(1e-9),
            elapsed_s: t0.elapsed().as_secs_f64(),
            eta_s: (end - done) as f64 * per_step,
        };
        if !s.caption_loss.is_finite() {
            return Err(LmError::Data(format!(
                "caption loss is not finite at step {done}"
            )));
        }
        if done % cfg.log_every.max(1) == 0 || done == end {
            log.row(&s)?;
        }
        progress(&LmProgress::Step(s));
        if done % cfg.checkpoint_every.max(1) == 0 || done == end {
            save(&cap, &opt)?;
            log.flush()?;
        }
    }
    log.flush()?;
    if end < cfg.steps {
        return Ok(TrainEnd::Cancelled { step: end });
    }
    // The check the captioner's output is shown with (`eval::doubt`), from the same train split.
    // A corpus that cannot give one (no manifest, too few captioned whole takes) still gives a
    // captioner, whose doubts then come from its token probabilities only.
    // A captioner with a motion summary already has the index it trained with.
    if index.is_some() {
        return Ok(TrainEnd::Finished);
    }
    match NearestIndex::build(&req.data, COMPONENTS) {
        Ok(index) => index.save(&req.out)?,
        Err(e) => progress(&LmProgress::Note(format!(
            "no nearest-take index beside the captioner: {e}"
        ))),
    }
    Ok(TrainEnd::Finished)
}

/// Writes `config.json` and `captioner.safetensors` of a captioner directory atomically.
pub fn write_checkpoint(dir: &Path, ckpt: &LmCheckpointConfig, cap: &Captioner) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| LmError::io(dir, e))?;
    let json = serde_json::to_string_pretty(ckpt).expect("config serializes");
    let path = dir.join(CONFIG_FILE);
    dvq_checkpoint::write_atomic(&path, json.as_bytes())?;
    let path = dir.join(WEIGHTS_FILE);
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| LmError::io(dir, e))?;
    candle_core::safetensors::save(&cap.saved_tensors(), tmp.path())
        .map_err(|e| LmError::format(&path, e))?;
    tmp.persist(&path)
        .map_err(|e| LmError::io(&path, e.error))?;
    Ok(())
}

/// Reads and validates `config.json` of a captioner directory.
///
/// Errors (naming the file): unreadable, not the config's JSON, or sizes that fail
/// [`CaptionerConfig::validate`](super::captioner::CaptionerConfig::validate).
pub fn read_checkpoint_config(dir: &Path) -> Result<LmCheckpointConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| LmError::io(&path, e))?;
    let ckpt: LmCheckpointConfig =
        serde_json::from_str(&text).map_err(|e| LmError::format(&path, e))?;
    ckpt.captioner
        .validate()
        .map_err(|msg| LmError::format(&path, msg))?;
    Ok(ckpt)
}

/// Reads `config.json` ([`read_checkpoint_config`]) and the saved tensors of a captioner
/// directory.
pub fn read_checkpoint(
    dir: &Path,
    device: &Device,
) -> Result<(LmCheckpointConfig, HashMap<String, Tensor>)> {
    let ckpt = read_checkpoint_config(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    if !path.exists() {
        return Err(LmError::io(
            &path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let tensors =
        candle_core::safetensors::load(&path, device).map_err(|e| LmError::format(&path, e))?;
    Ok((ckpt, tensors))
}

/// Loads a trained captioner for inference (adapters merged; with `decode`, on the inference
/// engine with those weights) with its checkpoint config.
pub fn load_captioner(
    dir: &Path,
    backbone: Option<&Path>,
    decode: Option<super::infer::DecodeWeights>,
    device: &Device,
) -> Result<(Captioner, LmCheckpointConfig)> {
    let (ckpt, tensors) = read_checkpoint(dir, device)?;
    let bb = load_backbone(backbone, device)?;
    let mut cap = Captioner::from_saved(ckpt.captioner.clone(), bb, &tensors)?;
    cap.merge_for_inference(decode)?;
    Ok((cap, ckpt))
}

/// `train_log.csv` ([`crate::train_log`]); resuming keeps the rows up to the checkpoint.
struct TrainLog {
    writer: csv::Writer<std::fs::File>,
    path: PathBuf,
}

impl TrainLog {
    fn open(dir: &Path, resume_step: usize) -> Result<Self> {
        let path = dir.join(LOG_FILE);
        let header = [
            "step",
            "caption_loss",
            "ortho",
            "lr",
            "tokens_per_s",
            "elapsed_s",
        ];
        let writer = crate::train_log::open(&path, &header, resume_step)
            .map_err(|e| LmError::format(e.path, e.msg))?;
        Ok(Self { writer, path })
    }

    fn row(&mut self, s: &LmStep) -> Result<()> {
        self.writer
            .write_record([
                s.step.to_string(),
                s.caption_loss.to_string(),
                s.ortho.to_string(),
                format!("{:.3e}", s.lr),
                format!("{:.1}", s.tokens_per_s),
                format!("{:.1}", s.elapsed_s),
            ])
            .map_err(|e| LmError::format(&self.path, e))
    }

    fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(|e| LmError::io(&self.path, e))
    }
}
