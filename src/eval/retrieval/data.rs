//! Clips of a corpus split with their captions and kinds, for training and evaluating the
//! retrieval evaluator: whole takes only, since a window of a longer take inherits captions that
//! describe the whole take.

use std::path::Path;

use crate::lm::LmError;
use crate::motion::import::captions::CaptionKind;
use crate::motion::import::humanml3d::split_entries;
use crate::motion::{Dataset, Split};

/// One whole take: raw `(T, 263)` features at 20 fps and its captions.
#[derive(Clone, Debug)]
pub struct CaptionedClip {
    pub id: String,
    /// Raw (not normalized) row-major `(T, 263)` features.
    pub features: Vec<f32>,
    pub frames: usize,
    pub captions: Vec<(String, CaptionKind)>,
}

/// Every captioned whole take of `split` with at least `min_frames` frames, in manifest order.
///
/// A folder without `manifest.json` gives its clips and sub-clips from `texts/`
/// ([`split_entries`]).
///
/// Errors: an unreadable manifest, texts or clip file (named); no clip left.
pub fn load_captioned(
    corpus: &Path,
    split: Split,
    min_frames: usize,
) -> Result<Vec<CaptionedClip>, LmError> {
    let ds = Dataset::open(corpus)?;
    ds.require(
        crate::motion::Skeleton::HumanMl3d,
        "the retrieval evaluator",
    )?;
    let mut out = Vec::new();
    for e in split_entries(corpus, split)? {
        if !e.whole_take {
            continue;
        }
        let f = ds.load_features(&e.id)?;
        if f.frames() < min_frames {
            continue;
        }
        out.push(CaptionedClip {
            id: e.id,
            frames: f.frames(),
            features: f.as_slice().to_vec(),
            captions: e.captions.into_iter().map(|c| (c.text, c.kind)).collect(),
        });
    }
    if out.is_empty() {
        return Err(LmError::Data(format!(
            "{}: the {} split has no captioned whole take of at least {min_frames} frames",
            corpus.display(),
            split.name()
        )));
    }
    Ok(out)
}
