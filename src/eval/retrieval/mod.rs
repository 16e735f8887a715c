//! The retrieval evaluator behind R-Precision, MM-Dist and FID: a TMR-style motion encoder and
//! text projection (over frozen MiniLM sentence embeddings) trained together with a symmetric
//! InfoNCE loss on a corpus's train split. Ours, trained on the demo corpus: its numbers are
//! comparable with each other, not with papers that use the T2M evaluator of HumanML3D.

pub mod data;
pub mod evaluator;
pub mod metrics;
pub mod model;
pub mod train;

pub use data::{CaptionedClip, load_captioned};
pub use evaluator::{Evaluator, RetrievalCheckpoint, sentence_embeddings};
pub use metrics::{FIELD_REPEATS, MatchingScores, MeanCi, R_PRECISION_BATCH, fid, matching_scores};
pub use model::{RetrievalConfig, RetrievalModel};
pub use train::{RetrievalTrainConfig, SentenceCache, train_retrieval};

#[cfg(test)]
mod tests;
