//! Caption pairs of a corpus split: every clip's DVQ codes with each of its captions, the
//! caption's kind (human sentence / human terse / template) and whether the clip is a whole
//! take, read from the corpus `manifest.json`, or from a plain HumanML3D folder's `texts/` as the
//! field's loader reads them (clips and time-range sub-clips: [`split_entries`]).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::context::MotionContext;
use super::error::{LmError, Result};
use crate::dvq::Tokenizer;
use crate::eval::style_classifier::NO_STYLE;
use crate::motion::import::captions::{CaptionKind, bandai_style, swap_bandai_style};
use crate::motion::import::humanml3d::split_entries;
use crate::motion::{Dataset, Split};

/// One clip with one of its captions.
#[derive(Clone, Debug)]
pub struct CaptionPair {
    pub id: String,
    /// DVQ codes, one per 8 frames.
    pub codes: Vec<u32>,
    pub caption: String,
    /// Position of the caption among its clip's captions (0: the first, the dataset's
    /// canonical phrasing; the retrieval baseline answers with it).
    pub rank: usize,
    pub kind: CaptionKind,
    /// `false` for a window of a longer take (its captions describe the whole take).
    pub whole_take: bool,
    /// The clip's label group for balanced sampling: `dataset/content` when the manifest
    /// carries a content label (Bandai), else the dataset (`cmu`), else `""`.
    pub group: String,
    /// What the captioner reads beside the codes ([`super::context`]): the motion summary and
    /// retrieved captions, when pairs were loaded for a captioner that reads them.
    pub context: MotionContext,
    /// The clip's manifest `style` label (Bandai), if any.
    pub style: Option<String>,
    /// Its part in style swapping ([`style_swapped`]).
    pub swap: Swap,
}

/// A pair's part in style swapping ([`style_swapped`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Swap {
    /// No swapped copy.
    #[default]
    Plain,
    /// A caption of the corpus that has a swapped copy.
    Original,
    /// The swapped copy, not a caption of the corpus.
    Copy,
}

/// Sampling weights of caption kinds and of windows (training).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KindWeights {
    pub human_sentence: f64,
    pub human_terse: f64,
    pub template: f64,
    /// Multiplies the weight of a window of a longer take.
    pub window: f64,
    /// Balanced sampling across label groups (`CaptionPair::group`): each pair's weight is
    /// divided by (pairs in its group)^`balance`. 0 = off (every pair alike), 1 = every group
    /// (a Bandai content of one dataset, or CMU) draws the same mass, 0.5 in between.
    pub balance: f64,
    /// Multiplies the weight of a clip's captions after its first: 1 = every caption alike,
    /// 0 = the first caption only (one phrasing per clip).
    pub other_captions: f64,
    /// Share of a swapped caption's weight that goes to its style-swapped copy
    /// ([`style_swapped`]), in 0..=1; the original keeps the rest. 0 = no copies.
    pub style_swap: f64,
}

impl Default for KindWeights {
    fn default() -> Self {
        Self {
            human_sentence: 1.0,
            human_terse: 1.0,
            template: 1.0,
            window: 0.5,
            balance: 0.0,
            other_captions: 1.0,
            style_swap: 0.0,
        }
    }
}

impl KindWeights {
    /// The sampling weight of `pair`.
    pub fn weight(&self, pair: &CaptionPair) -> f64 {
        let k = match pair.kind {
            CaptionKind::HumanSentence => self.human_sentence,
            CaptionKind::HumanTerse => self.human_terse,
            CaptionKind::Template => self.template,
        };
        let k = if pair.rank > 0 {
            k * self.other_captions
        } else {
            k
        };
        let p = self.style_swap.clamp(0.0, 1.0);
        let k = match pair.swap {
            Swap::Plain => k,
            Swap::Original => k * (1.0 - p),
            Swap::Copy => k * p,
        };
        if pair.whole_take { k } else { k * self.window }
    }

    /// The sampling weight of every pair: [`Self::weight`] divided by the size of its group (its
    /// pairs of the corpus, style-swapped copies not counted) to the power `balance`.
    pub fn weights(&self, pairs: &[CaptionPair]) -> Vec<f64> {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for p in pairs {
            *count.entry(p.group.as_str()).or_default() += (p.swap != Swap::Copy) as usize;
        }
        pairs
            .iter()
            .map(|p| {
                let n = count[p.group.as_str()].max(1) as f64;
                self.weight(p) / n.powf(self.balance)
            })
            .collect()
    }
}

/// The balanced-sampling group of a manifest clip: `dataset/content`, or the dataset.
pub fn label_group(dataset: &str, labels: &std::collections::BTreeMap<String, String>) -> String {
    match labels.get("content") {
        Some(c) => format!("{dataset}/{c}"),
        None => dataset.to_string(),
    }
}

/// Style-swapped copies for a style-tagged captioner, appended to `pairs`: for each first
/// (template) caption of a clip with a Bandai `style` label whose context carries a predicted
/// style, a copy whose style is another one of the same dataset or none at all (drawn with
/// `seed` among the styles with a different phrase, and [`NO_STYLE`] when the caption has a
/// style clause), in both the caption ([`swap_bandai_style`]) and the context's style tag; the
/// original is marked [`Swap::Original`], the copy [`Swap::Copy`].
///
/// Why: on the corpus the captioner memorises each take's style from its codes, which agrees
/// with the tag on every training pair; the copies are where only the tag is right, so the
/// captioner learns to write the style it is given — the classifier's, which generalises to
/// (content, style) pairs absent from training (model card). [`NO_STYLE`] (the tag of takes
/// without a style label, such as CMU's) learns to mean "no style clause".
pub fn style_swapped(pairs: &mut Vec<CaptionPair>, seed: u64) {
    use rand::{Rng, SeedableRng};
    let dataset = |p: &CaptionPair| p.group.split('/').next().unwrap_or("").to_string();
    let mut styles: HashMap<String, Vec<String>> = HashMap::new();
    for p in pairs.iter() {
        if let Some(s) = &p.style {
            let list = styles.entry(dataset(p)).or_default();
            if !list.contains(s) {
                list.push(s.clone());
            }
        }
    }
    styles.values_mut().for_each(|v| v.sort());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x57_11E);
    let mut copies = Vec::new();
    for p in pairs.iter_mut() {
        let (Some(from), true, CaptionKind::Template, 0) =
            (p.style.clone(), p.context.style.is_some(), p.kind, p.rank)
        else {
            continue;
        };
        let Some(phrase) = bandai_style(&from) else {
            continue;
        };
        let mut targets: Vec<&str> = styles[&dataset(p)]
            .iter()
            .map(String::as_str)
            .filter(|s| bandai_style(s).is_some_and(|t| t != phrase))
            .collect();
        if !phrase.is_empty() {
            targets.push(NO_STYLE);
        }
        if targets.is_empty() {
            continue;
        }
        let to = targets[rng.random_range(0..targets.len())];
        let written = if to == NO_STYLE { "normal" } else { to };
        if let Some(caption) = swap_bandai_style(&p.caption, &from, written) {
            let mut copy = p.clone();
            copy.caption = caption;
            copy.context.style = Some(to.to_string());
            copy.swap = Swap::Copy;
            p.swap = Swap::Original;
            copies.push(copy);
        }
    }
    pairs.extend(copies);
}

/// What a clip's pairs carry beside the codes, from its raw `(T, 263)` features and its source
/// file (the clip id in a corpus without a manifest).
pub type ContextOf<'a> = dyn Fn(&[f32], &str) -> Result<MotionContext> + 'a;

/// For a captioner that reads the codes only.
pub fn no_context(_: &[f32], _: &str) -> Result<MotionContext> {
    Ok(MotionContext::default())
}

/// Every (clip, caption) pair of `split`, clips encoded with `tokenizer` and given what
/// `context` gives them (e.g. [`super::Captioner::context`]). Clips shorter than one code or
/// without captions are left out. `progress(done, total)` is called per clip; when it returns
/// false the loading stops with [`LmError::Cancelled`].
///
/// Errors: an unreadable corpus, manifest or clip (named); `context`'s errors, with the clip;
/// [`LmError::Cancelled`].
pub fn load_pairs(
    corpus: &Path,
    split: Split,
    tokenizer: &Tokenizer,
    context: &ContextOf,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<CaptionPair>> {
    let ds = Dataset::open(corpus)?;
    // manifest.json entries, or a plain HumanML3D folder's clips and sub-clips.
    let entries = split_entries(corpus, split)?;
    let q = tokenizer.frames_per_code();
    let mut out = Vec::new();
    for (n, e) in entries.iter().enumerate() {
        if !progress(n, entries.len()) {
            return Err(LmError::Cancelled);
        }
        let f = ds.load_features(&e.id)?;
        if f.frames() < q {
            continue;
        }
        let codes = tokenizer.encode(f.as_slice())?;
        let ctx = context(f.as_slice(), &e.source)
            .map_err(|err| LmError::Data(format!("clip {}: {err}", e.id)))?;
        let group = label_group(&e.dataset, &e.labels);
        let style = e.labels.get("style").cloned();
        for (rank, c) in e.captions.iter().enumerate() {
            out.push(CaptionPair {
                id: e.id.clone(),
                codes: codes.clone(),
                caption: c.text.clone(),
                rank,
                kind: c.kind,
                whole_take: e.whole_take,
                group: group.clone(),
                context: ctx.clone(),
                style: style.clone(),
                swap: Swap::Plain,
            });
        }
    }
    progress(entries.len(), entries.len());
    if out.is_empty() {
        return Err(LmError::Data(format!(
            "{}: the {} split has no captioned clip",
            corpus.display(),
            split.name()
        )));
    }
    Ok(out)
}
