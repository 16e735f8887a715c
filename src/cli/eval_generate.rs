//! `geomotion eval generate`: the text-to-motion table ([`crate::eval::generation`]) with its
//! two floors, measured in one run.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::lm::model_path;
use crate::dvq::Tokenizer;
use crate::eval::generation::{
    GenerationRow, GenerationSettings, generate_for_evaluation, nearest_by_cosine, score_generation,
};
use crate::eval::retrieval::{Evaluator, load_captioned};
use crate::lm::train::{load_captioner, require_t2m};
use crate::motion::Split;

/// Motions shorter than this are left out and longer ones cut to the field's maximum, as the
/// T2M test loader does (`min_motion_length` 40, `max_motion_length` 196 frames at 20 fps).
const MIN_FRAMES: usize = 40;
const MAX_FRAMES: usize = 196;

#[derive(clap::Args, Debug)]
pub struct EvalGenerateArgs {
    /// HumanML3D-layout dataset: prompts from the split, the retrieval baseline from train.
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "test")]
    split: Split,
    /// An LM trained with `--tasks` including `t2m`.
    #[arg(long, default_value = "models/lm")]
    model: PathBuf,
    #[arg(long, default_value = "models/dvq")]
    dvq: PathBuf,
    /// The retrieval evaluator whose embedding space the metrics are in.
    #[arg(long, default_value = "models/eval")]
    evaluator: PathBuf,
    /// Backbone (default: through the resolver).
    #[arg(long)]
    lm: Option<PathBuf>,
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 1234)]
    seed: u64,
    /// MultiModality: prompts, samples per prompt, pairs.
    #[arg(long, default_value_t = 20)]
    mm_prompts: usize,
    #[arg(long, default_value_t = 10)]
    mm_repeats: usize,
    #[arg(long, default_value_t = 5)]
    mm_times: usize,
    /// Only the first N clips of the split (a quick look; the table needs ≥ 32).
    #[arg(long)]
    limit: Option<usize>,
    /// Write the rows as JSON here: `{"ours": [rows], "t2m_evaluator": [rows]}` (the second
    /// with --t2m).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also score the same motions with the T2M evaluator the papers use (its `t2m` folder;
    /// with --glove): a second table on the papers' scale.
    #[arg(long, requires = "glove")]
    t2m: Option<PathBuf>,
    /// The T2M evaluator's GloVe folder (`our_vab_*`).
    #[arg(long, requires = "t2m")]
    glove: Option<PathBuf>,
}

pub fn run(a: EvalGenerateArgs) -> Result<()> {
    let device = candle_core::Device::Cpu;
    let tok = Tokenizer::load(&model_path(&a.dvq), &device)?;
    let (cap, ckpt) = load_captioner(&model_path(&a.model), a.lm.as_deref(), None, &device)?;
    require_t2m(&ckpt, &a.model)?;
    if tok.skeleton() != crate::motion::Skeleton::HumanMl3d {
        bail!(
            "the retrieval evaluator reads HumanML3D motion; {} is a {} tokenizer",
            a.dvq.display(),
            tok.skeleton().name()
        );
    }
    let ev = Evaluator::load(&model_path(&a.evaluator), &device)?;
    let w = tok.width();
    let cut = |mut c: crate::eval::retrieval::CaptionedClip| {
        c.frames = c.frames.min(MAX_FRAMES);
        c.features.truncate(c.frames * w);
        c
    };
    let mut test: Vec<_> = load_captioned(&a.data, a.split, MIN_FRAMES)?
        .into_iter()
        .map(cut)
        .collect();
    if let Some(n) = a.limit {
        test.truncate(n);
    }
    let train: Vec<_> = load_captioned(&a.data, Split::Train, MIN_FRAMES)?
        .into_iter()
        .map(cut)
        .collect();
    let minilm = crate::eval::minilm::MiniLm::load(None, &device)?;
    let embed = |clips: &[crate::eval::retrieval::CaptionedClip]| -> Result<Vec<Vec<f32>>> {
        clips
            .iter()
            .map(|c| Ok(minilm.sentence_embedding(&c.captions[0].0)?))
            .collect()
    };
    let nearest = nearest_by_cosine(&embed(&test)?, &embed(&train)?);
    let settings = GenerationSettings {
        temperature: a.temperature,
        top_k: a.top_k,
        seed: a.seed,
        mm_prompts: a.mm_prompts,
        mm_repeats: a.mm_repeats,
        mm_times: a.mm_times,
        max_prompt_tokens: ckpt.train.max_caption_tokens,
        ..Default::default()
    };
    let prompts: Vec<String> = test.iter().map(|c| c.captions[0].0.clone()).collect();
    // The T2M evaluator and the prompts' text embeddings in its space come before the long
    // generation, so a bad folder or texts file fails at once.
    let t2m = match (&a.t2m, &a.glove) {
        (Some(t), Some(g)) => {
            let ev = crate::eval::t2m::T2mEvaluator::load(t, &device)?;
            let glove = crate::eval::t2m::words::WordVectors::load(g, "our_vab")?;
            let mut texts = Vec::with_capacity(test.len());
            for (c, p) in test.iter().zip(&prompts) {
                texts.push(ev.embed_text(&prompt_tokens(&a.data, &c.id, p)?, &glove)?);
            }
            Some((ev, texts))
        }
        _ => None,
    };
    let t0 = std::time::Instant::now();
    let generated = generate_for_evaluation(
        &cap,
        &tok,
        &test,
        &train,
        &nearest,
        &settings,
        &mut |done, total| {
            if done % 25 == 0 || done == total {
                eprintln!(
                    "generated {done}/{total} ({:.0} s)",
                    t0.elapsed().as_secs_f64()
                );
            }
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let texts = ev.embed_texts(&prompts)?;
    let rows = score_generation(&|m| ev.embed_motion(m), &texts, &generated, &settings, &tok)?;
    println!(
        "text to motion, {} split of {} ({} prompts, one caption each; {} evaluator; sampling T = {}, \
         top-k {}, seed {}; MultiModality {}×{} samples, {} pairs)",
        a.split.name(),
        a.data.display(),
        test.len(),
        a.evaluator.display(),
        a.temperature,
        a.top_k,
        a.seed,
        settings.mm_prompts.min(test.len()),
        settings.mm_repeats,
        settings.mm_times
    );
    print_table(&rows);
    let mut json = serde_json::json!({ "ours": rows });
    if let Some((ev, texts)) = &t2m {
        let t2m_rows =
            score_generation(&|m| ev.embed_motion(m), texts, &generated, &settings, &tok)?;
        println!(
            "\nthe same motions with the T2M evaluator ({}; prompts with their own POS tags from \
             texts/, as the papers' loaders read them)",
            a.t2m
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        );
        print_table(&t2m_rows);
        json["t2m_evaluator"] = serde_json::to_value(&t2m_rows)?;
    }
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(())
}

fn print_table(rows: &[GenerationRow]) {
    println!(
        "| | R@1 | R@2 | R@3 | MM-Dist | FID | Diversity | MModality | skating m/s | penetration cm | jitter m/s³ |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let f = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    for r in rows {
        let (r1, r2, r3, mm) = match &r.scores {
            Some(s) => (
                Some(s.r_precision[0].mean),
                Some(s.r_precision[1].mean),
                Some(s.r_precision[2].mean),
                Some(s.mm_dist.mean),
            ),
            None => (None, None, None, None),
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.3} | {} | {} | {:.3} | {:.2} | {:.0} |",
            r.name,
            f(r1),
            f(r2),
            f(r3),
            f(mm),
            r.fid,
            f(r.diversity),
            f(r.multimodality),
            r.physics.skating_m_s,
            100.0 * r.physics.penetration_m,
            r.physics.jitter_m_s3
        );
    }
}

/// The `word/POS` tokens of `prompt` as the clip's `texts/` file gives them (HumanML3D tags its
/// captions with spaCy; the papers' loaders read these tags). A caption written without tags
/// (e.g. our corpus's), or a prompt the file does not hold (a manifest's caption), gets its words
/// tagged `OTHER`, which the evaluator's one-hot also has.
///
/// Errors: an unreadable texts file (named).
fn prompt_tokens(data: &std::path::Path, id: &str, prompt: &str) -> Result<Vec<String>> {
    let path = data.join("texts").join(format!("{id}.txt"));
    let captions = crate::motion::texts::read_texts(&path)?;
    if let Some(c) = captions.iter().find(|c| c.text.trim() == prompt.trim()) {
        let tagged: Vec<String> = c.tokens.split_whitespace().map(String::from).collect();
        if !tagged.is_empty() && tagged.iter().all(|t| t.contains('/')) {
            return Ok(tagged);
        }
    }
    Ok(crate::eval::t2m::protocol::tag_caption(
        prompt,
        &Default::default(),
    ))
}
