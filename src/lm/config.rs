//! Decoder architecture settings (names as Hugging Face `LlamaConfig`; GPT-2's own names are
//! mapped onto them by [`super::hf`]).

use serde::{Deserialize, Serialize};

/// The block layout of a pretrained decoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Llama (SmolLM2, Mistral): RMSNorm, rotate-half RoPE, grouped-query attention, SwiGLU MLP,
    /// no biases (`transformers/models/llama/modeling_llama.py`).
    #[default]
    Llama,
    /// GPT-2 (the GeoMotionGPT paper's backbone): LayerNorm with bias, learned absolute position
    /// embeddings, biased projections, GELU (tanh) MLP, tied output head
    /// (`transformers/models/gpt2/modeling_gpt2.py`).
    Gpt2,
}

/// The sizes and constants of a decoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Block layout; absent in configs saved before GPT-2 support, which were all Llama.
    #[serde(default)]
    pub arch: Arch,
    pub vocab_size: usize,
    /// d_model.
    pub hidden_size: usize,
    /// MLP inner width (SwiGLU for Llama, GELU for GPT-2's `n_inner`, 4·d_model by default).
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Equal to `num_attention_heads` for GPT-2.
    pub num_key_value_heads: usize,
    /// ε of the RMSNorm (Llama) or of the LayerNorm (GPT-2's `layer_norm_epsilon`).
    pub rms_norm_eps: f64,
    /// RoPE base θ (unused by GPT-2).
    pub rope_theta: f64,
    /// Longest sequence: RoPE's training context, or GPT-2's `n_positions` (a hard limit: the
    /// position embedding has that many rows).
    pub max_position_embeddings: usize,
    /// The output projection is the token embedding (SmolLM2 and GPT-2: yes).
    pub tie_word_embeddings: bool,
}

impl LlamaConfig {
    /// Per-head width, d_model / heads.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}
