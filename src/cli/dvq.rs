//! `geomotion train dvq` and `geomotion eval dvq`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::dvq::{self, DvqConfig, Tokenizer, TrainConfig, TrainEnd, TrainRequest};
use crate::motion::Split;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// HumanML3D-layout corpus (e.g. built by `geomotion data build`).
    #[arg(long)]
    data: PathBuf,
    /// Architecture preset: `cpu` (K=256, D=256, W=128) or `paper` (K=512, D=512, W=512).
    #[arg(long, default_value = "cpu")]
    preset: String,
    /// Output tokenizer directory.
    #[arg(long)]
    out: PathBuf,
    /// Codebook size K instead of the preset's (e.g. 512 on the `cpu` preset).
    #[arg(long)]
    nb_code: Option<usize>,
    /// Code dimension D instead of the preset's (the orthonormal codebook needs K ≤ D).
    #[arg(long)]
    code_dim: Option<usize>,
    /// Optimiser steps (the schedules span them).
    #[arg(long)]
    steps: Option<usize>,
    /// Crops per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Seed of initialisation, crops and Gumbel noise.
    #[arg(long)]
    seed: Option<u64>,
    /// A JSON file of training settings (any subset of TrainConfig's fields).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Resume from the checkpoint in --out.
    #[arg(long)]
    resume: bool,
    /// Stop after this step (resume later with --resume).
    #[arg(long)]
    stop_at: Option<usize>,
    /// cpu, cuda, metal or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Split to train on.
    #[arg(long, default_value = "train")]
    split: Split,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// HumanML3D-layout corpus.
    #[arg(long)]
    data: PathBuf,
    /// Tokenizer directory.
    #[arg(long, default_value = "models/dvq")]
    model: PathBuf,
    #[arg(long, default_value = "test")]
    split: Split,
    /// Write the metrics (with per-code usage) as JSON here; a summary is printed either way.
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn train(a: TrainArgs) -> Result<()> {
    let device = crate::device::select(&a.device)?;
    let mut model = DvqConfig::preset(&a.preset)?;
    if let Some(k) = a.nb_code {
        model.nb_code = k;
    }
    if let Some(d) = a.code_dim {
        model.code_dim = d;
    }
    let mut train = match &a.config {
        Some(p) => serde_json::from_str::<TrainConfig>(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{}: not a training config", p.display()))?,
        None => TrainConfig::for_preset(&a.preset),
    };
    if let Some(s) = a.steps {
        train.steps = s;
    }
    if let Some(b) = a.batch_size {
        train.batch_size = b;
    }
    if let Some(s) = a.seed {
        train.seed = s;
    }
    let req = TrainRequest {
        data: a.data,
        split: a.split,
        out: a.out,
        model,
        train,
        resume: a.resume,
        stop_at: a.stop_at,
    };
    let cancel = cancel_on_ctrlc()?;
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
    )?);
    eprintln!(
        "training DVQ ({}) on {} [{}], {}",
        a.preset,
        req.data.display(),
        req.split.name(),
        crate::device::describe(&device)
    );
    let end = dvq::train(&req, &device, &cancel, &mut |p| {
        bar.set_length(p.steps as u64);
        bar.set_position(p.step as u64);
        bar.set_message(format!(
            "loss {:.4} recon {:.4} ppl {:.0} τ {:.3} {:.0} crops/s",
            p.loss.total, p.loss.recon, p.loss.perplexity, p.tau, p.samples_per_s
        ));
    })?;
    bar.finish();
    match end {
        TrainEnd::Finished => {
            eprintln!("done: {}", req.out.display());
            let best = req.out.join("best");
            if let Ok(t) = std::fs::read_to_string(best.join("best.json")) {
                eprintln!(
                    "lowest validation loss: {} ({}; the reference keeps this one)",
                    t.trim(),
                    best.display()
                );
            }
        }
        TrainEnd::Cancelled { step } => eprintln!(
            "stopped at step {step}; continue with --resume --out {}",
            req.out.display()
        ),
    }
    Ok(())
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let device = crate::device::select(&a.device)?;
    let tok = Tokenizer::load(&a.model, &device)?;
    let bar = ProgressBar::new(0);
    let t0 = std::time::Instant::now();
    let m = dvq::evaluate(&tok, &a.data, a.split, &mut |i, n| {
        bar.set_length(n as u64);
        bar.set_position(i as u64);
    })?;
    bar.finish_and_clear();
    if let Some(path) = &a.json {
        write_json(path, &m)?;
    }
    println!(
        "{} split: {} clips, {} frames ({:.1} s)\n  MPJPE {:.1} mm (root-relative {:.1} mm, with the true root trajectory {:.1} mm), normalized MSE {:.4}\n  codes used {:.1}% ({} dead of {}), perplexity {:.1}\n  ‖G − I‖_F {:.3}, mean |off-diagonal cos| {:.4}",
        m.split,
        m.clips,
        m.frames,
        t0.elapsed().as_secs_f64(),
        m.mpjpe_mm,
        m.mpjpe_root_relative_mm,
        m.mpjpe_gt_root_mm,
        m.recon_mse_normalized,
        m.codes_used_pct,
        m.dead_codes.len(),
        m.usage.len(),
        m.perplexity,
        m.gram_minus_identity_fro,
        m.mean_abs_offdiag_cosine
    );
    Ok(())
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A cancellation flag that Ctrl-C sets; training saves a checkpoint at the end of the step.
pub(super) fn cancel_on_ctrlc() -> Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    ctrlc::set_handler(move || {
        eprintln!("\ncancelling: saving a checkpoint at the end of this step…");
        flag.store(true, Ordering::Relaxed);
    })?;
    Ok(cancel)
}
