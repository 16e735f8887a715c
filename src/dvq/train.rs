//! The training loop: seeded random crops, Gumbel-Softmax straight-through quantization, loss
//! = MSE + w_util·L_util + w_ortho·L_ortho (JYe16/GeoMotionGPT `dvq_train.py`) + an optional
//! w_root·MSE on the 4 root channels (not in the reference; 0 there), AdamW groups,
//! cosine schedule, checkpoints, exact resume, cancellation and progress reports.
//!
//! Every step draws its crops and its Gumbel noise from a generator seeded by (seed, step), so a
//! run resumed from a checkpoint takes exactly the same steps as an uninterrupted one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{D, Device, Tensor};
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;

use super::checkpoint::{self, LOG_FILE};
use super::config::{CheckpointConfig, DvqConfig, TrainConfig};
use super::data::ClipBank;
use super::error::{DvqError, Result};
use super::model::DvqModel;
use super::optim::{AdamW, GroupHyper};
use super::params::Group;
use super::quantize::{
    clear_straight_through, gumbel_noise, gumbel_softmax_hard, ortho_loss, perplexity,
};
use crate::motion::layout::ROOT;
use crate::motion::{Dataset, Split};

/// The parts of one step's loss (scalars).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LossParts {
    pub total: f32,
    /// MSE on normalized features.
    pub recon: f32,
    /// (1 − ppl/K)·(1 − 0.85h)·ratio, before its weight.
    pub util: f32,
    /// mean((Ĉ Ĉᵀ − I)²), before its weight.
    pub ortho: f32,
    /// MSE on the 4 normalized root channels (yaw velocity, xz velocity, height), before its
    /// weight `root_weight`; part of `recon` too.
    pub root: f32,
    /// Batch code-usage perplexity of the hard Gumbel sample.
    pub perplexity: f32,
}

/// What the progress callback receives after every step.
#[derive(Clone, Debug, Serialize)]
pub struct TrainProgress {
    /// Steps done (1-based after the first step).
    pub step: usize,
    pub steps: usize,
    pub loss: LossParts,
    pub tau: f64,
    pub lr: f64,
    /// Crops per second over this session (excludes checkpoint writes).
    pub samples_per_s: f64,
    pub elapsed_s: f64,
    pub eta_s: f64,
    /// Codes chosen in this batch, `(K,)` counts (for a live usage plot).
    pub batch_usage: Vec<u32>,
}

/// How a training run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrainEnd {
    Finished,
    /// Stopped by the cancellation flag; the checkpoint at `step` resumes it.
    Cancelled {
        step: usize,
    },
}

/// A training request: corpus, output directory, configs.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    /// HumanML3D-layout corpus.
    pub data: PathBuf,
    /// The split trained on (`train` for every shipped model).
    pub split: Split,
    /// Tokenizer directory to write (and to resume from when `resume`).
    pub out: PathBuf,
    pub model: DvqConfig,
    pub train: TrainConfig,
    /// Continue from the checkpoint in `out` (its config wins).
    pub resume: bool,
    /// Stop after this step even if `train.steps` is larger (the schedule still spans
    /// `train.steps`); used to split a run across sessions and by the resume test.
    pub stop_at: Option<usize>,
}

/// Loss of one batch of normalized crops `(B, L, 263)` at temperature `tau` and ramp `h`.
pub fn batch_loss(
    model: &DvqModel,
    x: &Tensor,
    tau: f64,
    h: f64,
    cfg: &TrainConfig,
    rng: &mut StdRng,
) -> Result<(Tensor, LossParts, Tensor)> {
    let k = model.config.nb_code;
    let logits = model.encode_logits(x)?;
    let (b, n, _) = logits.dims3()?;
    let flat = logits.reshape((b * n, k))?;
    let noise = (gumbel_noise((b * n, k), rng, model.device())? * cfg.gumbel_scale)?;
    let assign = gumbel_softmax_hard(&flat, &noise, tau)?;
    let z = assign
        .matmul(model.codebook())?
        .reshape((b, n, model.config.code_dim))?;
    let x_hat = model.decode_embeddings(&z)?;
    let sq = (x_hat - x)?.sqr()?;
    let recon = sq.mean_all()?;
    let root = sq.narrow(D::Minus1, ROOT.start, ROOT.len())?.mean_all()?;
    let ppl_hard = perplexity(&assign)?;
    let ppl = if h > 0.0 {
        let clear = clear_straight_through(&flat, tau)?;
        ((&ppl_hard * (1.0 - h))? + (perplexity(&clear)? * h)?)?
    } else {
        ppl_hard.clone()
    };
    let util = ((1.0 - (ppl / k as f64)?)? * ((1.0 - 0.85 * h) * cfg.util_ratio))?;
    let ortho = ortho_loss(model.codebook())?;
    let mut total = ((&recon + (&util * cfg.util_weight)?)? + (&ortho * cfg.ortho_weight)?)?;
    if cfg.root_weight > 0.0 {
        total = (total + (&root * cfg.root_weight)?)?;
    }
    let scalar = |t: &Tensor| -> Result<f32> { Ok(t.to_scalar::<f32>()?) };
    let parts = LossParts {
        total: scalar(&total)?,
        recon: scalar(&recon)?,
        util: scalar(&util)?,
        ortho: scalar(&ortho)?,
        root: scalar(&root)?,
        perplexity: scalar(&ppl_hard)?,
    };
    let ids = assign.argmax(D::Minus1)?;
    Ok((total, parts, ids))
}

/// Windows of the val split drawn once (seeded) and scored every `val_every` steps; the model
/// with the lowest total loss goes to `out/best/`, each score to `out/val_log.csv`, the best
/// step and loss to `out/best/best.json` (read back on resume).
struct Validation {
    batches: Vec<Tensor>,
    out: PathBuf,
    best: f32,
    seed: u64,
}

/// Batches of val windows scored per validation.
const VAL_BATCHES: usize = 4;

/// `best.json` of the best-validation model.
#[derive(Serialize, serde::Deserialize)]
struct Best {
    step: usize,
    val_loss: f32,
}

impl Validation {
    fn open(req: &TrainRequest, cfg: &TrainConfig, q: usize, device: &Device) -> Result<Self> {
        let bank = ClipBank::load(&req.data, Split::Val, cfg.crop_min)?;
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x7A1);
        let batches = (0..VAL_BATCHES)
            .map(|_| {
                bank.sample(
                    cfg.batch_size,
                    cfg.crop_min,
                    cfg.crop_min,
                    q,
                    &mut rng,
                    device,
                )
            })
            .collect::<Result<_>>()?;
        let best_file = req.out.join("best").join("best.json");
        let best = std::fs::read_to_string(&best_file)
            .ok()
            .and_then(|t| serde_json::from_str::<Best>(&t).ok())
            .map_or(f32::INFINITY, |b| b.val_loss);
        Ok(Self {
            batches,
            out: req.out.clone(),
            best,
            seed: cfg.seed,
        })
    }

    /// Scores `model` after step `done` (the run's τ and ramp, fixed Gumbel noise) and keeps it
    /// when it is the best so far.
    fn run(
        &mut self,
        model: &DvqModel,
        done: usize,
        cfg: &TrainConfig,
        ckpt: &CheckpointConfig,
        normalizer: &crate::motion::Normalizer,
    ) -> Result<()> {
        let (tau, h) = (cfg.tau(done - 1), cfg.util_ramp(done - 1));
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x7A2);
        let mut sum = LossParts::default();
        for x in &self.batches {
            let (_, p, _) = batch_loss(model, x, tau, h, cfg, &mut rng)?;
            sum.total += p.total / VAL_BATCHES as f32;
            sum.recon += p.recon / VAL_BATCHES as f32;
            sum.util += p.util / VAL_BATCHES as f32;
            sum.ortho += p.ortho / VAL_BATCHES as f32;
        }
        let log = self.out.join("val_log.csv");
        let new = !log.exists();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| DvqError::io(&log, e))?;
        use std::io::Write;
        if new {
            writeln!(f, "step,val_total,val_recon,val_util,val_ortho")
                .map_err(|e| DvqError::io(&log, e))?;
        }
        writeln!(
            f,
            "{done},{},{},{},{}",
            sum.total, sum.recon, sum.util, sum.ortho
        )
        .map_err(|e| DvqError::io(&log, e))?;
        if sum.total < self.best {
            self.best = sum.total;
            let dir = self.out.join("best");
            checkpoint::save_model(&dir, ckpt, model, normalizer)?;
            let json = serde_json::to_string(&Best {
                step: done,
                val_loss: sum.total,
            })
            .expect("serializes");
            let path = dir.join("best.json");
            std::fs::write(&path, json).map_err(|e| DvqError::io(&path, e))?;
        }
        Ok(())
    }
}

/// The generator of step `step` (0-based) of a run seeded with `seed`.
pub fn step_rng(seed: u64, step: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Trains (or resumes) a tokenizer; writes checkpoints every `checkpoint_every` steps, at the
/// end and on cancellation. `progress` is called after every step.
///
/// Errors: unreadable corpus, invalid config, a checkpoint that does not match.
pub fn train(
    req: &TrainRequest,
    device: &Device,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&TrainProgress),
) -> Result<TrainEnd> {
    let (ckpt, model, mut opt, start) = if req.resume {
        let (ckpt, model, _) = checkpoint::load_model(&req.out, device)?;
        ckpt.train.validate(&ckpt.model)?;
        let mut opt = AdamW::new(model.params())?;
        let step = checkpoint::load_state(&req.out, &mut opt, device)?;
        (ckpt, model, opt, step)
    } else {
        // The input width is the dataset's (263 HumanML3D, 251 KIT-ML), whatever the preset says.
        let mut model_cfg = req.model.clone();
        model_cfg.input_dim = Dataset::open(&req.data)?.normalizer()?.width();
        req.train.validate(&model_cfg)?;
        let model = DvqModel::new(&model_cfg, req.train.seed, device)?;
        let opt = AdamW::new(model.params())?;
        let ckpt = CheckpointConfig {
            model: model_cfg,
            train: req.train.clone(),
            data: req.data.display().to_string(),
        };
        (ckpt, model, opt, 0)
    };
    let cfg = &ckpt.train;
    let q = model.config.frames_per_code();
    let bank = ClipBank::load(&req.data, req.split, cfg.crop_min)?;
    if bank.width() != model.config.input_dim {
        return Err(DvqError::Data(format!(
            "{}: {}-d features, the checkpoint in {} reads {}-d ones",
            req.data.display(),
            bank.width(),
            req.out.display(),
            model.config.input_dim
        )));
    }
    let normalizer = bank.normalizer.clone();
    let mut log = TrainLog::open(&req.out, start)?;
    let end = req.stop_at.unwrap_or(cfg.steps).min(cfg.steps);
    let t0 = Instant::now();
    let mut busy = 0.0f64;
    let mut samples = 0usize;
    let save = |model: &DvqModel, opt: &AdamW| -> Result<()> {
        checkpoint::save_model(&req.out, &ckpt, model, &normalizer)?;
        checkpoint::save_state(&req.out, opt)
    };
    if start == 0 {
        save(&model, &opt)?;
    }
    let mut val = match cfg.val_every {
        0 => None,
        _ => Some(Validation::open(req, cfg, q, device)?),
    };
    for step in start..end {
        if cancel.load(Ordering::Relaxed) {
            save(&model, &opt)?;
            log.flush()?;
            return Ok(TrainEnd::Cancelled { step });
        }
        let ts = Instant::now();
        let mut rng = step_rng(cfg.seed, step);
        let x = bank.sample(
            cfg.batch_size,
            cfg.crop_min,
            cfg.crop_max,
            q,
            &mut rng,
            device,
        )?;
        let (tau, h, scale) = (cfg.tau(step), cfg.util_ramp(step), cfg.lr_scale(step));
        let (loss, parts, ids) = batch_loss(&model, &x, tau, h, cfg, &mut rng)?;
        let grads = loss.backward()?;
        opt.step(&grads, |g| match g {
            Group::Weight => GroupHyper {
                lr: cfg.lr * scale,
                weight_decay: cfg.weight_decay,
            },
            Group::Bias => GroupHyper {
                lr: cfg.lr * scale,
                weight_decay: 0.0,
            },
            Group::Codebook => GroupHyper {
                lr: cfg.codebook_lr * scale,
                weight_decay: cfg.codebook_weight_decay,
            },
        })?;
        busy += ts.elapsed().as_secs_f64();
        samples += cfg.batch_size;
        let done = step + 1;
        let rate = samples as f64 / busy.max(1e-9);
        let mut usage = vec![0u32; model.config.nb_code];
        for id in ids.to_vec1::<u32>()? {
            usage[id as usize] += 1;
        }
        let p = TrainProgress {
            step: done,
            steps: cfg.steps,
            loss: parts,
            tau,
            lr: cfg.lr * scale,
            samples_per_s: rate,
            elapsed_s: t0.elapsed().as_secs_f64(),
            eta_s: (end - done) as f64 * cfg.batch_size as f64 / rate,
            batch_usage: usage,
        };
        if done % cfg.log_every.max(1) == 0 || done == end {
            log.row(&p)?;
        }
        progress(&p);
        if !parts.total.is_finite() {
            save(&model, &opt)?;
            return Err(DvqError::Data(format!(
                "loss is not finite at step {done}: {parts:?}"
            )));
        }
        if done % cfg.checkpoint_every.max(1) == 0 || done == end {
            save(&model, &opt)?;
            log.flush()?;
        }
        if let Some(v) = &mut val
            && (done % cfg.val_every == 0 || done == cfg.steps)
        {
            v.run(&model, done, cfg, &ckpt, &normalizer)?;
        }
    }
    Ok(if end < cfg.steps {
        TrainEnd::Cancelled { step: end }
    } else {
        TrainEnd::Finished
    })
}

/// `train_log.csv` ([`crate::train_log`]): one row per `log_every` steps; resuming drops rows
/// after the checkpoint.
struct TrainLog {
    writer: csv::Writer<std::fs::File>,
    path: PathBuf,
}

impl TrainLog {
    fn open(dir: &Path, resume_step: usize) -> Result<Self> {
        let path = dir.join(LOG_FILE);
        let header = [
            "step",
            "loss",
            "recon",
            "util",
            "ortho",
            "perplexity",
            "tau",
            "lr",
            "samples_per_s",
            "elapsed_s",
            "root",
        ];
        let writer = crate::train_log::open(&path, &header, resume_step)
            .map_err(|e| DvqError::checkpoint(e.path, e.msg))?;
        Ok(Self { writer, path })
    }

    fn row(&mut self, p: &TrainProgress) -> Result<()> {
        let l = &p.loss;
        let rec = [
            p.step.to_string(),
            l.total.to_string(),
            l.recon.to_string(),
            l.util.to_string(),
            l.ortho.to_string(),
            l.perplexity.to_string(),
            format!("{:.5}", p.tau),
            format!("{:.3e}", p.lr),
            format!("{:.1}", p.samples_per_s),
            format!("{:.1}", p.elapsed_s),
            l.root.to_string(),
        ];
        self.writer
            .write_record(&rec)
            .map_err(|e| DvqError::checkpoint(&self.path, e))
    }

    fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(|e| DvqError::io(&self.path, e))
    }
}
