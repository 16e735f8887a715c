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

/// Largest vocabulary accepted: 2^24 tokens (Llama 3 has 128,256).
pub const MAX_VOCAB: usize = 1 << 24;
/// Largest d_model accepted: 65,536 (the biggest open models use 16,384).
pub const MAX_HIDDEN: usize = 1 << 16;
/// Largest MLP width accepted: 2^20.
pub const MAX_INTERMEDIATE: usize = 1 << 20;
/// Most decoder blocks accepted: 1,024.
pub const MAX_LAYERS: usize = 1 << 10;
/// Longest context accepted: 2^24 positions.
pub const MAX_POSITIONS: usize = 1 << 24;

impl LlamaConfig {
    /// Checks that the sizes make a decoder: every size positive and at most its `MAX_*`
    /// constant, d_model divisible by the heads, the heads by the KV heads, an even head width
    /// for Llama's RoPE, a positive finite ε (and RoPE θ for Llama). A config read from a file
    /// passes here before anything is sized from it; callers add the file's name to the message.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let sizes = [
            ("vocab_size", self.vocab_size, MAX_VOCAB),
            ("hidden_size", self.hidden_size, MAX_HIDDEN),
            (
                "intermediate_size",
                self.intermediate_size,
                MAX_INTERMEDIATE,
            ),
            ("num_hidden_layers", self.num_hidden_layers, MAX_LAYERS),
            ("num_attention_heads", self.num_attention_heads, MAX_HIDDEN),
            ("num_key_value_heads", self.num_key_value_heads, MAX_HIDDEN),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                MAX_POSITIONS,
            ),
        ];
        for (name, value, max) in sizes {
            if !(1..=max).contains(&value) {
                return Err(format!("{name} = {value} is not in 1..={max}"));
            }
        }
        let (d, nh, nkv) = (
            self.hidden_size,
            self.num_attention_heads,
            self.num_key_value_heads,
        );
        if d % nh != 0 {
            return Err(format!(
                "hidden_size {d} is not divisible by num_attention_heads {nh}"
            ));
        }
        if nh % nkv != 0 {
            return Err(format!(
                "num_attention_heads {nh} is not divisible by num_key_value_heads {nkv}"
            ));
        }
        if self.arch == Arch::Llama && (d / nh) % 2 != 0 {
            return Err(format!(
                "head width {} (hidden_size / num_attention_heads) is odd; RoPE needs it even",
                d / nh
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return Err(format!(
                "the norm epsilon {} is not a positive number",
                self.rms_norm_eps
            ));
        }
        if self.arch == Arch::Llama && !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return Err(format!(
                "rope_theta {} is not a positive number",
                self.rope_theta
            ));
        }
        Ok(())
    }

    /// Checks every weight the decoder reads is present with the shape this (valid) config
    /// gives it: embedding `(vocab, d)`, per block q `(heads·hd, d)`, k and v `(kv·hd, d)`, o
    /// `(d, heads·hd)`, gate (Llama) and up `(inter, d)`, down `(d, inter)`, norms `(d,)`, GPT-2's
    /// biases `(out,)` and position embedding `(positions, d)`, an untied head `(vocab, d)`.
    /// The message names the first weight that is missing or misshapen.
    pub fn check_weights(
        &self,
        tensors: &std::collections::HashMap<String, candle_core::Tensor>,
    ) -> std::result::Result<(), String> {
        let gpt2 = self.arch == Arch::Gpt2;
        let (d, inter, hd) = (self.hidden_size, self.intermediate_size, self.head_dim());
        let (q, kv) = (self.num_attention_heads * hd, self.num_key_value_heads * hd);
        let mut want: Vec<(String, Vec<usize>)> = vec![
            ("model.embed_tokens.weight".into(), vec![self.vocab_size, d]),
            ("model.norm.weight".into(), vec![d]),
        ];
        if gpt2 {
            want.push(("model.norm.bias".into(), vec![d]));
        }
        if !self.tie_word_embeddings {
            want.push(("lm_head.weight".into(), vec![self.vocab_size, d]));
        }
        for i in 0..self.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let mut linears = vec![
                ("self_attn.q_proj", q, d),
                ("self_attn.k_proj", kv, d),
                ("self_attn.v_proj", kv, d),
                ("self_attn.o_proj", d, q),
                ("mlp.up_proj", inter, d),
                ("mlp.down_proj", d, inter),
            ];
            if !gpt2 {
                linears.push(("mlp.gate_proj", inter, d));
            }
            for (name, out, inp) in linears {
                want.push((format!("{p}.{name}.weight"), vec![out, inp]));
                if gpt2 {
                    want.push((format!("{p}.{name}.bias"), vec![out]));
                }
            }
            for norm in ["input_layernorm", "post_attention_layernorm"] {
                want.push((format!("{p}.{norm}.weight"), vec![d]));
                if gpt2 {
                    want.push((format!("{p}.{norm}.bias"), vec![d]));
                }
            }
        }
        for (name, shape) in &want {
            match tensors.get(name) {
                None => return Err(format!("missing weight `{name}`")),
                Some(t) if t.dims() != shape.as_slice() => {
                    return Err(format!(
                        "weight `{name}` is {:?}, the config needs {shape:?}",
                        t.dims()
                    ));
                }
                Some(_) => {}
            }
        }
        if gpt2 {
            let name = "model.embed_positions.weight";
            match tensors.get(name).map(|t| t.dims()) {
                Some(&[n, w]) if n >= 1 && w == d => {}
                Some(dims) => {
                    return Err(format!(
                        "weight `{name}` is {dims:?}, the config needs (n, {d})"
                    ));
                }
                None => return Err(format!("missing weight `{name}`")),
            }
        }
        Ok(())
    }
}
