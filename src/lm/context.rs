//! What the captioner reads beside the motion codes: the motion summary ([`super::summary`])
//! and, in a retrieval-augmented captioner, the first captions of the nearest training takes
//! written into the prompt as text.
//!
//! Retrieval augmentation follows SmallCap (Ramos et al., CVPR 2023, "SmallCap: Lightweight
//! Image Captioning Prompted with Retrieval Augmentation"): the captions of the nearest training
//! items are given to the language model in the prompt ("Similar images show …"), so the model
//! learns when to copy one and when the motion says otherwise. The neighbours come from the
//! captioner's nearest-take index ([`NearestIndex::nearest`]); in training a take leaves out
//! its own source (itself, its mirrored copy, its windows' take), so it sees neighbours as a
//! held-out take will.

use super::error::{LmError, Result};
use crate::eval::nearest::NearestIndex;

/// Text between the motion and the retrieved captions.
pub const RETRIEVED_PREFIX: &str = " Similar motions: ";
/// Between two retrieved captions.
pub const RETRIEVED_SEPARATOR: &str = " | ";
/// Text before the predicted style.
pub const STYLE_PREFIX: &str = " Style: ";
/// Most retrieved captions a captioner may read.
pub const MAX_RETRIEVED: usize = 16;

/// The inputs beside the codes of one motion. `Default` is none (a captioner that reads the
/// codes only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MotionContext {
    /// `(dim,)` motion summary ([`NearestIndex::summary`]).
    pub summary: Option<Vec<f32>>,
    /// First captions of the nearest training takes, nearest first.
    pub retrieved: Vec<String>,
    /// The style label the index's [style classifier](crate::eval::style_classifier) predicts
    /// (`"none"`: no style), for a style-tagged captioner.
    pub style: Option<String>,
}

impl MotionContext {
    /// A context with a summary only.
    pub fn summary(summary: Vec<f32>) -> Self {
        Self {
            summary: Some(summary),
            ..Self::default()
        }
    }

    /// The context of a motion given as raw `(T, 263)` features, read from `index`: its summary
    /// when `summary`, the first captions of its `retrieved` nearest training takes (takes of
    /// `exclude_source` left out), and its predicted style when `style`.
    ///
    /// Errors: a summary, captions or a style are wanted and there is no index; a style is
    /// wanted and the index has no style classifier; no frames.
    pub fn from_index(
        index: Option<&NearestIndex>,
        features: &[f32],
        summary: bool,
        retrieved: usize,
        style: bool,
        exclude_source: Option<&str>,
    ) -> Result<Self> {
        if !summary && retrieved == 0 && !style {
            return Ok(Self::default());
        }
        let index = index.ok_or_else(|| {
            LmError::Data(
                "this captioner reads its nearest-take index (nearest.safetensors, nearest.json), \
                 which is missing from its folder"
                    .into(),
            )
        })?;
        let no_frames = || LmError::Data("the motion has no frames".into());
        let summary = if summary {
            Some(index.summary(features).ok_or_else(no_frames)?)
        } else {
            None
        };
        let retrieved = index
            .nearest(features, retrieved, exclude_source)
            .into_iter()
            .map(|n| n.take.caption)
            .collect();
        let style = if style {
            if !index.has_style_classifier() {
                return Err(LmError::Data(
                    "this captioner reads a predicted style and its nearest-take index has no \
                     style classifier (rebuild it: geomotion train nearest)"
                        .into(),
                ));
            }
            // Training contexts keep the classifier's read: a training take's caption names
            // its style, so its tag must too (the far threshold leaves 2 % of them out).
            Some(match exclude_source {
                Some(_) => index.predict_style(features).ok_or_else(no_frames)?.0,
                None => index.style_read(features).ok_or_else(no_frames)?.style,
            })
        } else {
            None
        };
        Ok(Self {
            summary,
            retrieved,
            style,
        })
    }

    /// The predicted style as prompt text: `" Style: proud"`, or `""` when there is none.
    pub fn style_text(&self) -> String {
        self.style
            .as_deref()
            .map_or_else(String::new, |s| format!("{STYLE_PREFIX}{s}"))
    }

    /// The first `n` retrieved captions as prompt text: `" Similar motions: a | b | c"` (each
    /// trimmed of spaces and a final full stop), or `""` when there are none.
    pub fn retrieved_text(&self, n: usize) -> String {
        let shown = &self.retrieved[..n.min(self.retrieved.len())];
        if shown.is_empty() {
            return String::new();
        }
        let caps: Vec<&str> = shown
            .iter()
            .map(|c| c.trim().trim_end_matches('.').trim_end())
            .collect();
        format!("{RETRIEVED_PREFIX}{}", caps.join(RETRIEVED_SEPARATOR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retrieved_captions_are_written_nearest_first_without_final_stops() {
        let c = MotionContext {
            summary: None,
            retrieved: vec![
                " a person walks forward. ".into(),
                "a person bows, in a tired way.".into(),
            ],
            style: None,
        };
        assert_eq!(
            c.retrieved_text(2),
            " Similar motions: a person walks forward | a person bows, in a tired way"
        );
        assert_eq!(
            c.retrieved_text(1),
            " Similar motions: a person walks forward"
        );
        assert_eq!(MotionContext::default().retrieved_text(3), "");
        assert_eq!(MotionContext::default().style_text(), "");
        let styled = MotionContext {
            style: Some("not-confident".into()),
            ..MotionContext::default()
        };
        assert_eq!(styled.style_text(), " Style: not-confident");
    }

    #[test]
    fn a_context_that_needs_the_index_says_so_when_it_is_missing() {
        let e = MotionContext::from_index(None, &[0.0; 263], false, 2, false, None).unwrap_err();
        assert!(e.to_string().contains("nearest-take index"), "{e}");
        let e = MotionContext::from_index(None, &[0.0; 263], false, 0, true, None).unwrap_err();
        assert!(e.to_string().contains("nearest-take index"), "{e}");
        assert_eq!(
            MotionContext::from_index(None, &[0.0; 263], false, 0, false, None).unwrap(),
            MotionContext::default()
        );
    }
}
