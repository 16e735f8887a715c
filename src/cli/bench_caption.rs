//! `geomotion bench caption`: live-captioning latency of the demo sample's longest clip (DVQ encode + prefill + 15
//! greedy tokens) and fine-tuning tokens/s, beside the PyTorch reference
//! (`../shared/bench/caption_torch.py`) run in the same invocation.

use std::path::Path;
use std::time::Instant;

use crate::lm::infer::DecodeWeights;
use anyhow::{Context, Result};
use candle_core::Device;

use crate::dvq::Tokenizer;
use crate::lm::backbone::load_backbone;
use crate::lm::captioner::{Captioner, FineTune};
use crate::lm::infer::simd::{self, Simd, Supported};
use crate::lm::lora::LoraConfig;
use crate::lm::resolve::{SMOLLM2_GGUF, models_dir, resolve};
use crate::motion::{Dataset, Features, Split};

/// The longest clip of the embedded demo sample (real held-out capture), raw `(T, 263)`.
fn longest_clip() -> Result<(String, Vec<f32>)> {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let ds = Dataset::open(&demo)?;
    let mut best: Option<(String, Features)> = None;
    for id in ds.ids() {
        let f = Features::load(&ds.features_path(id))?;
        if best.as_ref().is_none_or(|(_, b)| f.frames() > b.frames()) {
            best = Some((id.clone(), f));
        }
    }
    let (id, f) = best.ok_or_else(|| anyhow::anyhow!("{}: no clip", demo.display()))?;
    Ok((id, f.as_slice().to_vec()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the benchmark; `runs` timed repetitions after one warm-up.
pub fn bench_caption(runs: usize, train_steps: usize, python: Option<&Path>) -> Result<()> {
    let dev = Device::Cpu;
    let dvq = Tokenizer::load(&models_dir().join("dvq"), &dev)
        .context("the shipped tokenizer in models/dvq")?;
    let (clip_id, clip) = longest_clip()?;
    let frames = clip.len() / crate::motion::N_FEATURES;
    let lm_dir = models_dir().join("lm");
    let fresh = || -> Result<Captioner> {
        let bb = load_backbone(None, &dev)?;
        Ok(Captioner::new(
            bb,
            dvq.model().codebook(),
            FineTune::Lora,
            &LoraConfig::default(),
            1,
            Default::default(),
        )?)
    };
    println!(
        "live caption of {clip_id} ({frames} frames = {:.1} s → {} codes), 2 threads, median of {runs}:",
        frames as f64 / 20.0,
        frames / 8
    );
    // The engine's kernels: the path GEOMOTION_SIMD forces, else every path this CPU runs
    // (the first, widest, is what the studio uses).
    let forced = std::env::var(simd::ENV).is_ok_and(|v| !v.trim().is_empty());
    let paths = if forced {
        vec![Supported::from_env().map_err(anyhow::Error::msg)?]
    } else {
        Supported::all()
    };
    println!(
        "  engine kernels: {} ({}; this CPU runs {}; set {}=avx512|avx2|neon|scalar to time one)",
        paths[0].get(),
        if forced {
            "forced by the environment"
        } else {
            "the widest, used by the studio"
        },
        Simd::names(&Simd::available()),
        simd::ENV
    );
    for (label, decode) in [
        ("candle graph, f32", None),
        ("engine, f32", Some(DecodeWeights::F32)),
        ("engine, Q8_0", Some(DecodeWeights::Q8)),
    ] {
        let cap = if lm_dir.join("config.json").exists() {
            crate::lm::train::load_captioner(&lm_dir, None, decode, &dev)?.0
        } else {
            let mut c = fresh()?;
            c.merge_for_inference(decode)?;
            c
        };
        let on: Vec<Option<Supported>> = match decode {
            None => vec![None],
            Some(_) => paths.iter().copied().map(Some).collect(),
        };
        for isa in on {
            let label = match isa {
                Some(isa) => {
                    cap.set_simd(isa);
                    format!("{label}, {}", isa.get())
                }
                None => label.to_string(),
            };
            let (mut enc, mut total, mut pre) = (Vec::new(), Vec::new(), Vec::new());
            let mut prompt_tokens = 0;
            for r in 0..=runs {
                let t0 = Instant::now();
                let codes = dvq.encode(&clip)?;
                let e = t0.elapsed().as_secs_f64();
                let t = cap.timed_greedy(&codes, 15)?;
                prompt_tokens = t.prompt_tokens;
                if r > 0 {
                    enc.push(e);
                    pre.push(t.prefill_s);
                    total.push(e + t.total_s);
                }
            }
            let (e, p, t) = (median(enc), median(pre), median(total));
            println!(
                "  ours ({label}): {:.0} ms = DVQ encode {:.1} ms + {prompt_tokens}-token prefill {:.0} ms + 14 tokens at {:.1} tokens/s   (target ≤ 230 ms)",
                1e3 * t,
                1e3 * e,
                1e3 * p,
                14.0 / (t - e - p)
            );
        }
    }
    if lm_dir.join("config.json").exists() {
        live_caption(&lm_dir, &dvq, paths[0], &dev)?;
    }
    let mut train_lengths = None;
    if train_steps > 0 {
        let cap = fresh()?;
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
        let pairs = crate::lm::data::load_pairs(
            &demo,
            Split::Test,
            &dvq,
            &crate::lm::data::no_context,
            &mut |_, _| true,
        )?;
        let ex: Vec<_> = pairs
            .iter()
            .take(8)
            .map(|p| cap.example(&p.codes, &p.context, &p.caption, 32))
            .collect::<Result<_, _>>()?;
        let batch: Vec<_> = ex.iter().collect();
        let seq: usize = ex.iter().map(|e| e.prompt.len() + e.caption.len()).sum();
        train_lengths = Some(
            ex.iter()
                .map(|e| format!("{}:{}", e.prompt.len(), e.caption.len()))
                .collect::<Vec<_>>()
                .join(","),
        );
        let mut times = Vec::new();
        for r in 0..=train_steps {
            let t0 = Instant::now();
            let (ce, _) = cap.caption_loss(&batch)?;
            let loss = (&ce + (cap.ortho_loss()? * 1e-2)?)?;
            let _grads = loss.backward()?;
            if r > 0 {
                times.push(t0.elapsed().as_secs_f64());
            }
        }
        let t = median(times);
        println!(
            "  ours fine-tuning (LoRA r=16, batch 8, {seq} tokens): forward + backward {:.2} s per step, {:.0} sequence tokens/s",
            t,
            seq as f64 / t
        );
    }
    match python {
        Some(py) => {
            let gguf = resolve(&SMOLLM2_GGUF, None)?;
            let runs = runs.max(1).to_string();
            let args: Vec<&std::ffi::OsStr> = vec![
                "--gguf".as_ref(),
                gguf.as_os_str(),
                "--threads".as_ref(),
                "2".as_ref(),
                "--runs".as_ref(),
                runs.as_ref(),
                "--prompt-tokens".as_ref(),
                "34".as_ref(),
            ];
            let out = super::bench::run_reference(py, "../shared/bench/caption_torch.py", &args)?;
            for line in out.lines() {
                println!("  reference, same run: {line}");
            }
            if let Some(lengths) = &train_lengths {
                // The same fine-tuning step in PyTorch.
                let script = "bench/lora_step_torch.py";
                let steps = train_steps.to_string();
                let args: Vec<&std::ffi::OsStr> = vec![
                    "--gguf".as_ref(),
                    gguf.as_os_str(),
                    "--lengths".as_ref(),
                    lengths.as_ref(),
                    "--threads".as_ref(),
                    "2".as_ref(),
                    "--steps".as_ref(),
                    steps.as_ref(),
                ];
                let text = super::bench::run_reference(py, script, &args)?;
                let r: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or(""))
                    .with_context(|| format!("{script}: unexpected output `{text}`"))?;
                println!(
                    "  reference fine-tuning, same run: {} forward + backward {} s per step, {} sequence tokens/s",
                    r["engine"].as_str().unwrap_or("?"),
                    r["step_s"],
                    r["tokens_per_s"]
                );
            }
        }
        None => println!(
            "  (pass --python /path/to/venv/bin/python with torch + transformers + gguf to time ../shared/bench/caption_torch.py in the same run)"
        ),
    }
    Ok(())
}

/// The live caption as the studio makes it (shipped captioner, Q8_0 engine on `isa`) of every
/// clip of the embedded demo sample: DVQ encode, the nearest-take context, greedy decoding
/// until the caption ends, token by token and with prompt-lookup drafts (the same caption in
/// fewer sequential steps); median and slowest over the clips, each timed once after a
/// warm-up.
fn live_caption(lm_dir: &Path, dvq: &Tokenizer, isa: Supported, dev: &Device) -> Result<()> {
    let (cap, _) = crate::lm::train::load_captioner(lm_dir, None, Some(DecodeWeights::Q8), dev)?;
    cap.set_simd(isa);
    let index = crate::eval::nearest::NearestIndex::load(lm_dir)?;
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let ds = Dataset::open(&demo)?;
    let clips: Vec<(String, Features)> = ds
        .ids()
        .iter()
        .map(|id| Ok((id.clone(), Features::load(&ds.features_path(id))?)))
        .collect::<Result<_>>()?;
    let caption = |clip: &[f32]| -> Result<(f64, crate::lm::captioner::ScoredCaption)> {
        let t0 = Instant::now();
        let codes = dvq.encode(clip)?;
        let context = cap.context(index.as_ref(), clip, None)?;
        let scored = cap.generate_scored(&codes, &context, 40, &mut |_| true)?;
        Ok((t0.elapsed().as_secs_f64(), scored))
    };
    let mut texts: Vec<Vec<String>> = Vec::new();
    for lookup in [false, true] {
        cap.set_prompt_lookup(lookup);
        caption(clips[0].1.as_slice())?;
        let (mut times, mut tokens, mut text) = (Vec::new(), 0, Vec::new());
        let mut slowest = (0.0, String::new());
        for (id, f) in &clips {
            let (s, c) = caption(f.as_slice())?;
            if s > slowest.0 {
                slowest = (s, id.clone());
            }
            times.push(s);
            tokens += c.confidence.tokens + 1;
            text.push(c.text);
        }
        println!(
            "  live caption as the studio makes it, {} demo clips (engine, Q8_0, {}, {}): median {:.0} ms, slowest {:.0} ms ({}), {:.1} tokens per caption   (target ≤ 230 ms)",
            clips.len(),
            isa.get(),
            if lookup {
                "prompt-lookup drafts"
            } else {
                "token by token"
            },
            1e3 * median(times),
            1e3 * slowest.0,
            slowest.1,
            tokens as f64 / clips.len() as f64
        );
        texts.push(text);
    }
    let same = texts[0]
        .iter()
        .zip(&texts[1])
        .filter(|(a, b)| a == b)
        .count();
    println!(
        "  prompt-lookup drafts: the same caption for {same} of {} clips",
        clips.len()
    );
    Ok(())
}
