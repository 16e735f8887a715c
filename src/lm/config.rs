//! Llama-family architecture settings (names as Hugging Face `LlamaConfig`).

use serde::{Deserialize, Serialize};

/// The sizes and constants of a Llama-architecture decoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    /// d_model.
    pub hidden_size: usize,
    /// SwiGLU inner width.
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub rms_norm_eps: f64,
    /// RoPE base θ.
    pub rope_theta: f64,
    pub max_position_embeddings: usize,
    /// The output projection is the token embedding (SmolLM2: yes).
    pub tie_word_embeddings: bool,
}

impl LlamaConfig {
    /// Per-head width, d_model / heads.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
