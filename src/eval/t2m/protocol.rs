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
