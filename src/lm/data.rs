//! Caption pairs of a corpus split: every clip's DVQ codes with each of its captions, the
//! caption's kind (human sentence / human terse / template) and whether the clip is a whole
//! take, read from the corpus `manifest.json` (or the `texts/` files when there is none).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::context::MotionContext;
use super::error::{LmError, Result};
use crate::dvq::Tokenizer;
use crate::motion::import::captions::CaptionKind;
use crate::motion::import::corpus::read_manifest;
use crate::motion::{Dataset, Features, Split};

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
        if pair.whole_take { k } else { k * self.window }
    }

    /// The sampling weight of every pair: [`Self::weight`] divided by the size of its group to
    /// the power `balance`.
    pub fn weights(&self, pairs: &[CaptionPair]) -> Vec<f64> {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for p in pairs {
            *count.entry(p.group.as_str()).or_default() += 1;
        }
        pairs
            .iter()
            .map(|p| {
                let n = count[p.group.as_str()] as f64;
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

/// Per clip, from `manifest.json` when the corpus has one: whole-take flag, label group, source
/// file and each caption with its kind.
type CaptionInfo = HashMap<String, (bool, String, String, Vec<(String, CaptionKind)>)>;

fn manifest_info(corpus: &Path) -> Result<Option<CaptionInfo>> {
    if !corpus.join("manifest.json").exists() {
        return Ok(None);
    }
    let entries = read_manifest(corpus)?;
    Ok(Some(
        entries
            .into_iter()
            .map(|e| {
                let caps = e.captions.into_iter().map(|c| (c.text, c.kind)).collect();
                let group = label_group(&e.dataset, &e.labels);
                (e.id, (e.whole_take, group, e.source, caps))
            })
            .collect(),
    ))
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
/// without captions are left out. `progress(done, total)` is called per clip.
///
/// Errors: an unreadable corpus, manifest or clip (named); `context`'s errors, with the clip.
pub fn load_pairs(
    corpus: &Path,
    split: Split,
    tokenizer: &Tokenizer,
    context: &ContextOf,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<CaptionPair>> {
    let ds = Dataset::open(corpus)?;
    let info = manifest_info(corpus)?;
    let ids = ds.split_ids(split);
    let q = tokenizer.frames_per_code();
    let mut out = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        progress(n, ids.len());
        let (whole_take, group, source, captions) = match info.as_ref().and_then(|m| m.get(*id)) {
            Some((w, g, s, c)) => (*w, g.clone(), s.clone(), c.clone()),
            None => (
                true,
                String::new(),
                id.to_string(),
                ds.captions(id)?
                    .into_iter()
                    .map(|c| (c.text, CaptionKind::HumanSentence))
                    .collect(),
            ),
        };
        if captions.is_empty() {
            continue;
        }
        let f = Features::load(&ds.features_path(id))?;
        if f.frames() < q {
            continue;
        }
        let codes = tokenizer.encode(f.as_slice())?;
        let ctx =
            context(f.as_slice(), &source).map_err(|e| LmError::Data(format!("clip {id}: {e}")))?;
        for (rank, (caption, kind)) in captions.into_iter().enumerate() {
            out.push(CaptionPair {
                id: id.to_string(),
                codes: codes.clone(),
                caption,
                rank,
                kind,
                whole_take,
                group: group.clone(),
                context: ctx.clone(),
            });
        }
    }
    progress(ids.len(), ids.len());
    if out.is_empty() {
        return Err(LmError::Data(format!(
            "{}: the {} split has no captioned clip",
            corpus.display(),
            split.name()
        )));
    }
    Ok(out)
}
