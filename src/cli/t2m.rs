//! `geomotion eval t2m`: R-Precision and MM-Dist with the T2M evaluator the papers use, for the
//! references ("Real") and, from `eval captions --out`'s `predictions.jsonl`, for a captioner.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::eval::retrieval::metrics::{FIELD_REPEATS, MatchingScores};
use crate::eval::t2m::T2mEvaluator;
use crate::eval::t2m::protocol::{embed_split, lexicon, predictions_row, real_row};
use crate::eval::t2m::words::WordVectors;
use crate::motion::Split;

#[derive(Args, Debug)]
pub struct EvalT2mArgs {
    /// The evaluator's `t2m` folder as released (`text_mot_match/model/finest.tar`,
    /// `Comp_v6_KLD01/meta/{mean,std}.npy`).
    #[arg(long)]
    t2m: PathBuf,
    /// The GloVe folder (`our_vab_data.npy`, `our_vab_words.pkl`, `our_vab_idx.pkl`).
    #[arg(long)]
    glove: PathBuf,
    /// A HumanML3D-layout folder with `texts/` (POS-tagged captions).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "test")]
    split: Split,
    #[command(flatten)]
    lengths: super::lm::LengthArgs,
    /// `predictions.jsonl` of `eval captions --out` ({"id", "prediction", ...} per line): adds
    /// the captioner's row.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// A tokenizer (any form `encode --dvq` takes): adds the FID of its reconstructions and
    /// the Diversity of real and reconstructed motion, as the VQ papers report them.
    #[arg(long)]
    dvq: Option<PathBuf>,
    /// The `Mean.npy`/`Std.npy` folder of a released --dvq tokenizer (default: --data).
    #[arg(long)]
    mean_std: Option<PathBuf>,
    /// Shuffles averaged (the field uses 20).
    #[arg(long, default_value_t = FIELD_REPEATS)]
    repeats: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn row(name: &str, n: usize, s: &Option<MatchingScores>) -> String {
    match s {
        None => format!("| {name} | {n} | fewer than 32 items | | | |"),
        Some(s) => format!(
            "| {name} | {n} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.3} ± {:.3} |",
            s.r_precision[0].mean,
            s.r_precision[0].ci95,
            s.r_precision[1].mean,
            s.r_precision[1].ci95,
            s.r_precision[2].mean,
            s.r_precision[2].ci95,
            s.mm_dist.mean,
            s.mm_dist.ci95
        ),
    }
}

pub fn run(a: EvalT2mArgs) -> Result<()> {
    let device = candle_core::Device::Cpu;
    let ev = T2mEvaluator::load(&a.t2m, &device)?;
    let glove = WordVectors::load(&a.glove, "our_vab")?;
    let t0 = std::time::Instant::now();
    let items = embed_split(
        &ev,
        &a.data,
        a.split,
        a.lengths.range()?,
        &mut |done, total| {
            if done % 200 == 0 || done == total {
                eprint!("\rembedding motions {done}/{total}");
            }
        },
    )?;
    eprintln!(" ({:.1} s)", t0.elapsed().as_secs_f64());
    let real = real_row(&ev, &glove, &items, a.repeats, a.seed)?;
    println!(
        "T2M evaluator (Guo et al. 2022, {}), {} split of {}, {} items, {} shuffles of batches of 32",
        ev.source.display(),
        a.split.name(),
        a.data.display(),
        items.len(),
        a.repeats
    );
    println!("| texts | n | R@1 | R@2 | R@3 | MM-Dist |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "{}",
        row("Real (one reference per item)", items.len(), &real)
    );
    if let Some(p) = &a.predictions {
        let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
        let mut preds = HashMap::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not JSON", p.display(), i + 1))?;
            let (Some(id), Some(pred)) = (v["id"].as_str(), v["prediction"].as_str()) else {
                anyhow::bail!(
                    "{} line {}: needs \"id\" and \"prediction\"",
                    p.display(),
                    i + 1
                );
            };
            preds.insert(id.to_string(), pred.to_string());
        }
        let lex = lexicon(&items);
        let (n, s) = predictions_row(&ev, &glove, &items, &preds, &lex, a.repeats, a.seed)?;
        println!(
            "{}",
            row("Predictions (POS from the references' lexicon)", n, &s)
        );
        eprintln!(
            "the reference tags predicted captions with spaCy; here each word takes its most \
             frequent tag in the split's references (OTHER when unseen)"
        );
    }
    if let Some(dvq) = &a.dvq {
        let tok = super::codes::open_tokenizer(dvq, a.mean_std.as_deref(), Some(&a.data), &device)?;
        let t = std::time::Instant::now();
        let r =
            crate::eval::t2m::protocol::reconstruction_scores(&ev, &a.data, &items, &tok, a.seed)?;
        let opt = |v: Option<f64>| v.map_or("fewer than 300 items".into(), |x| format!("{x:.3}"));
        println!(
            "\n{} ({}), {} items: FID of the reconstructions {:.4}; Diversity real {}, \
             reconstructed {} ({:.1} s)",
            tok.describe(),
            dvq.display(),
            r.n,
            r.fid,
            opt(r.diversity_real),
            opt(r.diversity_reconstructed),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
