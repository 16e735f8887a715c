//! R-Precision and MM-Dist with the T2M evaluator on a HumanML3D-layout split, as the M2T papers
//! report them (TM2T / MotionGPT evaluation): every clip or time-range sub-clip of the split
//! ([`crate::motion::import::humanml3d::split_entries_within`]) is embedded once; its text is
//! one of its tagged references, drawn with a seeded generator as the reference's loader draws
//! one per item ("Real" row), or a predicted caption tagged with a part-of-speech lexicon;
//! batches of 32, 20 shuffles ([`crate::eval::retrieval::metrics::matching_scores`]).

use std::collections::HashMap;
use std::path::Path;

use rand::SeedableRng;
use rand::seq::IndexedRandom;

use super::T2mEvaluator;
use super::words::WordVectors;
use crate::eval::retrieval::metrics::{MatchingScores, matching_scores};
use crate::lm::LmError;
use crate::motion::subclip::{captions_of, parse_sub_clip_id};
use crate::motion::texts::read_texts;
use crate::motion::{Caption, Dataset, Split};

type Result<T> = std::result::Result<T, LmError>;

/// One embedded item of the split: its id, motion embedding and tagged references.
pub struct Item {
    pub id: String,
    pub motion: Vec<f32>,
    /// Each reference's `word/POS` tokens.
    pub references: Vec<Vec<String>>,
}

/// The tagged captions of `id` (a clip: its whole-clip captions; a sub-clip: those of its
/// range) from `data/texts/<clip>.txt`.
fn tagged(data: &Path, id: &str) -> Result<Vec<Vec<String>>> {
    let (clip, sub) = match parse_sub_clip_id(id) {
        Some((clip, _, _)) => (clip, Some(id)),
        None => (id, None),
    };
    let path = data.join("texts").join(format!("{clip}.txt"));
    let all = read_texts(&path)?;
    let chosen: Vec<&Caption> = match sub {
        Some(sub) => captions_of(clip, sub, &all).collect(),
        None => all.iter().filter(|c| c.is_whole_clip()).collect(),
    };
    Ok(chosen
        .into_iter()
        .map(|c| c.tokens.split_whitespace().map(String::from).collect())
        .filter(|t: &Vec<String>| !t.is_empty())
        .collect())
}

/// Embeds the motion of every item of `split` kept by `lengths` (frames) with `ev`, with its
/// tagged references; `progress(done, total)`.
///
/// Errors: an unreadable dataset, clip or `texts/` file (named).
pub fn embed_split(
    ev: &T2mEvaluator,
    data: &Path,
    split: Split,
    lengths: std::ops::Range<usize>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Item>> {
    let ds = Dataset::open(data)?;
    ds.require(
        crate::motion::Skeleton::HumanMl3d,
        "the T2M evaluator (HumanML3D's text_mot_match)",
    )?;
    let entries = crate::motion::import::humanml3d::split_entries_within(data, split, lengths)?;
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        progress(i, entries.len());
        let f = ds.load_features(&e.id)?;
        if f.frames() < super::UNIT_LENGTH {
            continue;
        }
        let references = tagged(data, &e.id)?;
        if references.is_empty() {
            continue;
        }
        out.push(Item {
            id: e.id.clone(),
            motion: ev.embed_motion(f.as_slice())?,
            references,
        });
    }
    progress(entries.len(), entries.len());
    Ok(out)
}

/// The "Real" row: each item's motion against one of its references, drawn with `seed`.
pub fn real_row(
    ev: &T2mEvaluator,
    glove: &WordVectors,
    items: &[Item],
    repeats: usize,
    seed: u64,
) -> Result<Option<MatchingScores>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut texts = Vec::with_capacity(items.len());
    for it in items {
        let tokens = it
            .references
            .choose(&mut rng)
            .expect("items have references");
        texts.push(ev.embed_text(tokens, glove)?);
    }
    let motions: Vec<Vec<f32>> = items.iter().map(|i| i.motion.clone()).collect();
    Ok(matching_scores(&texts, &motions, repeats, seed))
}

/// A part-of-speech lexicon: each word's most frequent tag in the references of `items` (ties
/// to the tag seen first). The reference tags predicted captions with spaCy, which a Rust
/// binary does not carry: a word the references never use is tagged `OTHER`.
pub fn lexicon(items: &[Item]) -> HashMap<String, String> {
    let mut counts: HashMap<String, Vec<(String, usize)>> = HashMap::new();
    for tok in items.iter().flat_map(|i| i.references.iter().flatten()) {
        let Some((w, pos)) = tok.rsplit_once('/') else {
            continue;
        };
        let tags = counts.entry(w.to_string()).or_default();
        match tags.iter_mut().find(|(t, _)| t == pos) {
            Some((_, n)) => *n += 1,
            None => tags.push((pos.to_string(), 1)),
        }
    }
    counts
        .into_iter()
        .map(|(w, tags)| {
            let best = tags
                .iter()
                .fold(None::<&(String, usize)>, |b, t| match b {
                    Some(b) if b.1 >= t.1 => Some(b),
                    _ => Some(t),
                })
                .map(|t| t.0.clone())
                .unwrap_or_else(|| "OTHER".into());
            (w, best)
        })
        .collect()
}

/// A caption as `word/POS` tokens: lowercase words split on anything not a letter, digit or
/// apostrophe, each tagged from `lexicon` (`OTHER` when absent).
pub fn tag_caption(caption: &str, lexicon: &HashMap<String, String>) -> Vec<String> {
    caption
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(|w| format!("{w}/{}", lexicon.get(w).map_or("OTHER", String::as_str)))
        .collect()
}

/// The predictions row: each item's motion against its predicted caption (`predictions` by id;
/// items without one are left out), tagged with `lexicon`.
pub fn predictions_row(
    ev: &T2mEvaluator,
    glove: &WordVectors,
    items: &[Item],
    predictions: &HashMap<String, String>,
    lexicon: &HashMap<String, String>,
    repeats: usize,
    seed: u64,
) -> Result<(usize, Option<MatchingScores>)> {
    let (mut texts, mut motions) = (Vec::new(), Vec::new());
    for it in items {
        if let Some(p) = predictions.get(&it.id) {
            texts.push(ev.embed_text(&tag_caption(p, lexicon), glove)?);
            motions.push(it.motion.clone());
        }
    }
    Ok((
        texts.len(),
        matching_scores(&texts, &motions, repeats, seed),
    ))
}

/// T2M's `calculate_diversity`: the mean distance between `times` random pairs of embeddings
/// (first and second indices each drawn without replacement, seeded); `None` with fewer than
/// `times` embeddings.
pub fn diversity(embeddings: &[Vec<f32>], times: usize, seed: u64) -> Option<f64> {
    use rand::seq::index::sample;
    let n = embeddings.len();
    if n < times || times == 0 {
        return None;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let first = sample(&mut rng, n, times);
    let second = sample(&mut rng, n, times);
    let d: f64 = first
        .iter()
        .zip(second.iter())
        .map(|(i, j)| crate::eval::retrieval::metrics::dist(&embeddings[i], &embeddings[j]))
        .sum();
    Some(d / times as f64)
}

/// Diversity pairs of the T2M evaluation (`diversity_times`).
pub const DIVERSITY_TIMES: usize = 300;

/// A tokenizer judged by the T2M evaluator, as the VQ papers report reconstruction (T2M-GPT
/// `eval_trans.evaluation_vqvae`): FID between the embeddings of the real motions and of their
/// reconstructions, and the Diversity of each.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReconstructionScores {
    pub n: usize,
    pub fid: f64,
    pub diversity_real: Option<f64>,
    pub diversity_reconstructed: Option<f64>,
}

/// Encodes and decodes every item's motion with `dvq` and embeds the reconstruction (its
/// ⌊T/q⌋·q frames, q the frames per code; the real motion keeps its own length, cut to a
/// multiple of 4 as for the R-Precision rows).
///
/// Errors: an unreadable clip, a tokenizer failure (named by clip id).
pub fn reconstruction_scores(
    ev: &T2mEvaluator,
    data: &Path,
    items: &[Item],
    dvq: &crate::dvq::Tokenizer,
    seed: u64,
) -> Result<ReconstructionScores> {
    let ds = Dataset::open(data)?;
    let (mut real, mut rec) = (Vec::new(), Vec::new());
    for it in items {
        let f = ds.load_features(&it.id)?;
        if f.frames() < dvq.frames_per_code().max(super::UNIT_LENGTH) {
            continue;
        }
        let (_, y) = dvq
            .reconstruct(f.as_slice())
            .map_err(|e| LmError::Data(format!("{}: tokenizer: {e}", it.id)))?;
        real.push(it.motion.clone());
        rec.push(ev.embed_motion(&y)?);
    }
    Ok(ReconstructionScores {
        n: real.len(),
        fid: crate::eval::retrieval::metrics::fid(&real, &rec),
        diversity_real: diversity(&real, DIVERSITY_TIMES, seed),
        diversity_reconstructed: diversity(&rec, DIVERSITY_TIMES, seed),
    })
}
