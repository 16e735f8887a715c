//! The DVQ motion tokenizer (GeoMotionGPT stage 1): one discrete code per 8 frames of
//! HumanML3D features, quantized by Gumbel-Softmax against an orthogonally regularized codebook.
//!
//! Reference: JYe16/GeoMotionGPT `dvq/encdec.py`, `dvq/quantize_softgumbel.py`, `dvq_train.py`;
//! residual stack of T2M-GPT `models/resnet.py`. No Bevy here.
//!
//! | file | owns |
//! | --- | --- |
//! | `config.rs` | architecture presets (`paper`, `cpu`), training settings and schedules |
//! | `conv.rs` | channels-last Conv1d (weights, dispatch; im2col + matmul as tensor ops off the CPU), ×2 up-sampling |
//! | `conv_cpu.rs` | the CPU Conv1d as fused custom ops: im2col (+ ReLU, + ×2 up-sampling) and `gemm`, forward and backward |
//! | `model.rs` | encoder → K logits, decoder, codebook |
//! | `quantize.rs` | Gumbel-Softmax straight-through, perplexity, L_ortho, Gram matrix |
//! | `optim.rs` | AdamW with groups and savable moments |
//! | `data.rs` | normalized clips of a split, seeded random crops |
//! | `train.rs` | the training loop, CSV log, checkpoints, resume, cancel, progress |
//! | `checkpoint.rs` | the tokenizer directory on disk |
//! | `released.rs` | GeoMotionGPT `dvq-gsst.pt` / Hugging Face export and T2M-GPT `net_last.pth` read as they are |
//! | `tokenizer.rs` | encode / decode / primitive API for the app and CLI; opens every form |
//! | `metrics.rs` | MPJPE, usage, perplexity, codebook geometry on a split |

pub mod checkpoint;
pub mod config;
pub mod conv;
pub mod conv_cpu;
pub mod data;
pub mod error;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod params;
pub mod quantize;
pub mod released;
pub mod tokenizer;
pub mod train;

#[cfg(test)]
mod released_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod validation_tests;

pub use config::{CheckpointConfig, DvqConfig, Quantizer, TrainConfig};
pub use error::DvqError;
pub use metrics::{DvqMetrics, evaluate};
pub use model::DvqModel;
pub use tokenizer::Tokenizer;
pub use train::{TrainEnd, TrainProgress, TrainRequest, train};
