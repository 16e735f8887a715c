//! `geomotion bench dvq`: tokenizer training and encoding speed on this machine, beside the
//! PyTorch reference (`../shared/bench/dvq_torch.py`) run in the same invocation.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{Device, Tensor};

use crate::dvq::config::{DvqConfig, TrainConfig};
use crate::dvq::model::DvqModel;
use crate::dvq::optim::{AdamW, GroupHyper};
use crate::dvq::train::{batch_loss, step_rng};

/// Floating-point operations of one forward pass over `(batch, frames)`: 2·C_in·k·C_out per
/// output frame of every convolution, plus the quantizer's one-hot × codebook product.
pub fn forward_flops(cfg: &DvqConfig, batch: usize, frames: usize) -> f64 {
    let (w, f, d) = (cfg.width as f64, cfg.input_dim as f64, cfg.code_dim as f64);
    let mut t = (frames >> cfg.down_t) as f64;
    let quant = 2.0 * t * cfg.nb_code as f64 * d;
    let mut dec = 2.0 * t * d * 3.0 * w;
    for _ in 0..cfg.down_t {
        dec += res_flops(cfg, t);
        t *= 2.0;
        dec += 2.0 * t * w * 3.0 * w;
    }
    dec += 2.0 * t * w * 3.0 * w + 2.0 * t * w * 3.0 * f;
    batch as f64 * (encoder_flops(cfg, frames) + quant + dec)
}

/// Floating-point operations of the encoder over one clip of `frames` frames.
fn encoder_flops(cfg: &DvqConfig, frames: usize) -> f64 {
    let (w, k, f) = (cfg.width as f64, cfg.nb_code as f64, cfg.input_dim as f64);
    let mut t = frames as f64;
    let mut enc = 2.0 * t * f * 3.0 * w;
    for _ in 0..cfg.down_t {
        t = (t / 2.0).floor();
        enc += 2.0 * t * w * 4.0 * w + res_flops(cfg, t);
    }
    enc + 2.0 * t * w * 3.0 * k
}

/// One residual stack at length t: `depth` × (k3 conv + k1 conv), W → W.
fn res_flops(cfg: &DvqConfig, t: f64) -> f64 {
    let w = cfg.width as f64;
    cfg.depth as f64 * (2.0 * t * w * 3.0 * w + 2.0 * t * w * w)
}

struct Figures {
    params: usize,
    train_per_s: f64,
    train_gflops: f64,
    encode_per_s: f64,
    encode_gflops: f64,
}

fn measure(cfg: &DvqConfig, batch: usize, frames: usize, steps: usize) -> Result<Figures> {
    let dev = Device::Cpu;
    let mut model = DvqModel::new(cfg, 0, &dev)?;
    let mut opt = AdamW::new(model.params())?;
    let tc = TrainConfig::default();
    let x = Tensor::randn(0f32, 1.0, (batch, frames, cfg.input_dim), &dev)?;
    let mut step = |i: usize| -> Result<()> {
        let mut rng = step_rng(0, i);
        let (loss, _, _) = batch_loss(&model, &x, 0.4, 0.0, &tc, &mut rng)?;
        let grads = loss.backward()?;
        opt.step(&grads, |_| GroupHyper {
            lr: 2e-4,
            weight_decay: 1e-4,
        })?;
        Ok(())
    };
    for i in 0..2 {
        step(i)?;
    }
    let t0 = Instant::now();
    for i in 0..steps {
        step(i + 2)?;
    }
    let train_s = t0.elapsed().as_secs_f64() / steps as f64;
    // Encoding runs as the Tokenizer runs it: frozen for inference.
    model.freeze()?;
    let clip = Tensor::randn(0f32, 1.0, (1, 196, cfg.input_dim), &dev)?;
    for _ in 0..3 {
        model.encode(&clip)?;
    }
    let n = 30;
    let t0 = Instant::now();
    for _ in 0..n {
        model.encode(&clip)?;
    }
    let enc_s = t0.elapsed().as_secs_f64() / n as f64;
    let enc_flops = encoder_flops(cfg, 196);
    Ok(Figures {
        params: model.params().count(),
        train_per_s: batch as f64 / train_s,
        // forward + backward ≈ 3 × forward (two products per product in the backward pass).
        train_gflops: 3.0 * forward_flops(cfg, batch, frames) / train_s / 1e9,
        encode_per_s: 1.0 / enc_s,
        encode_gflops: enc_flops / enc_s / 1e9,
    })
}

fn torch_reference(
    py: &Path,
    cfg: &DvqConfig,
    batch: usize,
    frames: usize,
) -> Result<serde_json::Value> {
    let script = "../shared/bench/dvq_torch.py";
    let (w, k, d, b) = (
        cfg.width.to_string(),
        cfg.nb_code.to_string(),
        cfg.code_dim.to_string(),
        batch.to_string(),
    );
    let f = frames.to_string();
    let strs = [
        "--width",
        &w,
        "--codes",
        &k,
        "--dim",
        &d,
        "--batch",
        &b,
        "--frames",
        &f,
        "--threads",
        "2",
        "--json",
    ];
    let args: Vec<&std::ffi::OsStr> = strs.iter().map(|s| s.as_ref()).collect();
    let text = super::bench::run_reference(py, script, &args)?;
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("{script}: unexpected output `{line}`"))
}

/// Runs the benchmark for each preset and prints our figures beside PyTorch's.
pub fn bench_dvq(presets: &[String], steps: usize, python: Option<&Path>) -> Result<()> {
    let (batch, frames) = (64, 64);
    println!(
        "DVQ tokenizer on this CPU ({} threads), batch {batch} × {frames} frames, one AdamW step; encode = one 196-frame clip",
        rayon::current_num_threads()
    );
    for name in presets {
        let cfg = DvqConfig::preset(name)?;
        let f = measure(&cfg, batch, frames, steps)?;
        println!(
            "{name} (W={} K={} D={}, {:.2} M params):\n  geomotion  train {:7.1} crops/s ({:5.1} GFLOP/s)   encode {:7.1} clips/s ({:5.1} GFLOP/s)",
            cfg.width,
            cfg.nb_code,
            cfg.code_dim,
            f.params as f64 / 1e6,
            f.train_per_s,
            f.train_gflops,
            f.encode_per_s,
            f.encode_gflops
        );
        match python {
            Some(py) => {
                let r = torch_reference(py, &cfg, batch, frames)?;
                let tt = r["train_samples_per_s"].as_f64().unwrap_or(f64::NAN);
                let te = r["encode_clips_per_s"].as_f64().unwrap_or(f64::NAN);
                println!(
                    "  PyTorch {} train {:7.1} crops/s                     encode {:7.1} clips/s\n  ratio      train {:.2}×   encode {:.2}× (geomotion / PyTorch)",
                    r["torch"].as_str().unwrap_or("?"),
                    tt,
                    te,
                    f.train_per_s / tt,
                    f.encode_per_s / te
                );
            }
            None => println!(
                "  (pass --python /path/to/venv/bin/python with torch installed to time ../shared/bench/dvq_torch.py in the same run)"
            ),
        }
    }
    Ok(())
}
