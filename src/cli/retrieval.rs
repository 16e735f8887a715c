//! `geomotion train retrieval` and `geomotion eval retrieval`: the evaluator behind
//! R-Precision, MM-Dist and FID.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::dvq::Tokenizer;
use crate::eval::minilm::MiniLm;
use crate::eval::retrieval::{
    CaptionedClip, Evaluator, FIELD_REPEATS, MatchingScores, RetrievalCheckpoint, RetrievalConfig,
    RetrievalModel, RetrievalTrainConfig, fid, load_captioned, matching_scores,
    sentence_embeddings, train_retrieval,
};
use crate::motion::import::captions::CaptionKind;
use crate::motion::{Dataset, Split};

/// Shortest clip the evaluator takes (frames at 20 fps).
const MIN_FRAMES: usize = 16;

#[derive(Args, Debug)]
pub struct TrainRetrievalArgs {
    /// HumanML3D-layout corpus with manifest.json (e.g. built by `geomotion data build`).
    #[arg(long)]
    data: PathBuf,
    /// Output directory (the shipped evaluator lives in models/eval).
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
}

pub fn train(a: TrainRetrievalArgs) -> Result<()> {
    let t0 = Instant::now();
    let clips = load_captioned(&a.data, Split::Train, MIN_FRAMES)?;
    let normalizer = Dataset::open(&a.data)?.normalizer()?;
    let minilm = MiniLm::load(None, &Device::Cpu)?;
    let bar = ProgressBar::new(0);
    bar.set_message("MiniLM sentence embeddings");
    let sentences = sentence_embeddings(
        &minilm,
        clips.iter().flat_map(|c| c.captions.iter().map(|(t, _)| t)),
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    eprintln!(
        "{} train clips, {} distinct captions embedded in {:.1} s",
        clips.len(),
        sentences.len(),
        t0.elapsed().as_secs_f64()
    );
    let mut cfg = RetrievalTrainConfig::default();
    if let Some(s) = a.steps {
        cfg.steps = s;
    }
    let mut model_cfg = RetrievalConfig::default();
    if let Some(s) = a.seed {
        cfg.seed = s;
        model_cfg.seed = s;
    }
    let model = RetrievalModel::new(model_cfg.clone(), &Device::Cpu)?;
    let cancel = super::dvq::cancel_on_ctrlc()?;
    let bar = ProgressBar::new(cfg.steps as u64);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
    )?);
    let t_train = Instant::now();
    let log = train_retrieval(
        &model,
        &clips,
        &normalizer,
        &sentences,
        &cfg,
        &mut |step, _, loss| {
            bar.set_position(step as u64);
            bar.set_message(format!("InfoNCE {loss:.3}"));
            !cancel.load(Ordering::Relaxed)
        },
    )?;
    bar.finish_and_clear();
    let wall = t_train.elapsed().as_secs_f64();
    let tail = &log[log.len().saturating_sub(50)..];
    let final_loss = tail.iter().map(|(_, l)| l).sum::<f64>() / tail.len().max(1) as f64;
    let ck = RetrievalCheckpoint {
        model: model_cfg,
        train: cfg,
        clips: clips.len(),
        captions: clips.iter().map(|c| c.captions.len()).sum(),
        wall_seconds: wall,
        final_loss,
    };
    Evaluator::save(&a.out, &model, &normalizer, &ck)?;
    let mut csv = csv::Writer::from_path(a.out.join("train_log.csv"))?;
    csv.write_record(["step", "loss"])?;
    for (s, l) in &log {
        csv.write_record([s.to_string(), format!("{l:.5}")])?;
    }
    csv.flush()?;
    eprintln!(
        "{} steps in {wall:.0} s ({:.2} s/step), mean loss of the last 50 {final_loss:.3}; wrote {}",
        log.len(),
        wall / log.len().max(1) as f64,
        a.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct EvalRetrievalArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "test")]
    split: Split,
    /// The evaluator directory.
    #[arg(long, default_value = "models/eval")]
    model: PathBuf,
    /// Tokenizer whose reconstructions get an FID (leave out with --no-dvq).
    #[arg(long, default_value = "models/dvq")]
    dvq: PathBuf,
    #[arg(long)]
    no_dvq: bool,
    /// Write the rows as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One row: texts of one caption kind against real or reconstructed motion.
#[derive(Clone, Debug, Serialize)]
pub struct RetrievalRow {
    pub motion: String,
    pub captions: String,
    pub scores: Option<MatchingScores>,
    pub fid: Option<f64>,
}

/// For each clip, its first caption of `kind` (any kind when `None`).
pub(crate) fn caption_of(c: &CaptionedClip, kind: Option<CaptionKind>) -> Option<&String> {
    c.captions
        .iter()
        .find(|(_, k)| kind.is_none_or(|w| *k == w))
        .map(|(t, _)| t)
}

pub(crate) const SUBSETS: [(Option<CaptionKind>, &str); 4] = [
    (None, "all"),
    (Some(CaptionKind::HumanSentence), "human_sentence"),
    (Some(CaptionKind::HumanTerse), "human_terse"),
    (Some(CaptionKind::Template), "template"),
];

pub fn eval(a: EvalRetrievalArgs) -> Result<()> {
    let device = Device::Cpu;
    let ev = Evaluator::load(&super::lm::model_path(&a.model), &device)
        .with_context(|| format!("loading the evaluator from {}", a.model.display()))?;
    let clips = load_captioned(&a.data, a.split, MIN_FRAMES)?;
    let t0 = Instant::now();
    let dvq = if a.no_dvq {
        None
    } else {
        Some(Tokenizer::load(&super::lm::model_path(&a.dvq), &device)?)
    };
    // Ground truth cropped to whole codes when a tokenizer is compared, so both sides see the
    // same frames.
    let q = dvq.as_ref().map_or(1, |d| d.frames_per_code());
    let mut gt = Vec::new();
    let mut recon = Vec::new();
    for c in &clips {
        let t = c.frames / q * q;
        gt.push(ev.embed_motion(&c.features[..t * crate::motion::layout::N_FEATURES])?);
        if let Some(d) = &dvq {
            let (_, y) = d.reconstruct(&c.features)?;
            recon.push(ev.embed_motion(&y)?);
        }
    }
    let mut rows = Vec::new();
    for (kind, name) in SUBSETS {
        let idx: Vec<usize> = (0..clips.len())
            .filter(|&i| caption_of(&clips[i], kind).is_some())
            .collect();
        if idx.is_empty() {
            continue;
        }
        let texts: Vec<String> = idx
            .iter()
            .map(|&i| caption_of(&clips[i], kind).unwrap().clone())
            .collect();
        let text_emb = ev.embed_texts(&texts)?;
        let pick = |m: &[Vec<f32>]| idx.iter().map(|&i| m[i].clone()).collect::<Vec<_>>();
        rows.push(RetrievalRow {
            motion: "ground truth".into(),
            captions: name.into(),
            scores: matching_scores(&text_emb, &pick(&gt), FIELD_REPEATS, 0),
            fid: None,
        });
        if dvq.is_some() {
            rows.push(RetrievalRow {
                motion: "DVQ reconstruction".into(),
                captions: name.into(),
                scores: matching_scores(&text_emb, &pick(&recon), FIELD_REPEATS, 0),
                fid: (kind.is_none()).then(|| fid(&gt, &recon)),
            });
        }
    }
    println!(
        "retrieval evaluator {} on the {} split of {} ({} whole takes, {:.1} s); R@k in batches of 32, mean ± 95 % CI over {FIELD_REPEATS} shuffles\n",
        a.model.display(),
        a.split.name(),
        a.data.display(),
        clips.len(),
        t0.elapsed().as_secs_f64()
    );
    print!("{}", markdown(&rows));
    if let Some(out) = &a.json {
        std::fs::write(out, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn fmt_ci(m: &crate::eval::retrieval::MeanCi) -> String {
    format!("{:.3} ± {:.3}", m.mean, m.ci95)
}

/// The rows as a Markdown table.
pub fn markdown(rows: &[RetrievalRow]) -> String {
    let mut s = String::from(
        "| motion | captions | n | R@1 | R@2 | R@3 | MM-Dist | FID |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let (n, cells) = match &r.scores {
            Some(m) => (
                m.n.to_string(),
                format!(
                    "{} | {} | {} | {}",
                    fmt_ci(&m.r_precision[0]),
                    fmt_ci(&m.r_precision[1]),
                    fmt_ci(&m.r_precision[2]),
                    fmt_ci(&m.mm_dist)
                ),
            ),
            None => ("< 32".into(), " | | | ".into()),
        };
        s.push_str(&format!(
            "| {} | {} | {n} | {cells} | {} |\n",
            r.motion,
            r.captions,
            r.fid.map_or(String::new(), |f| format!("{f:.4}"))
        ));
    }
    s
}

/// Motion embeddings of the split's whole takes by clip id (for `eval captions`).
pub fn motion_embeddings(
    ev: &Evaluator,
    clips: &[CaptionedClip],
) -> Result<HashMap<String, Vec<f32>>> {
    if clips.is_empty() {
        bail!("no clips to embed");
    }
    clips
        .iter()
        .map(|c| Ok((c.id.clone(), ev.embed_motion(&c.features)?)))
        .collect()
}
