//! Evaluation as the field computes it: caption metrics (BLEU-1..4, ROUGE-L, CIDEr-D) matching
//! the reference implementations (pycocoevalcap) to 1e-4. Never imports Bevy.

pub mod baseline;
pub mod bertscore;
pub mod bleu;
pub mod captions;
pub mod cider;
pub mod doubt;
pub mod generation;
pub mod labels;
pub mod minilm;
pub mod nearest;
pub mod ngrams;
pub mod paper_table;
pub mod physics;
pub mod report;
pub mod retrieval;
pub mod roberta;
pub mod rouge;
pub mod style_classifier;
pub mod t2m;
pub mod text;

pub use captions::{CaptionScores, CaptionSet, TextVariant, score_captions};
