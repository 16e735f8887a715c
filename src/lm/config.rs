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
    /// Per-head width, d_model / heads. Meaningful once [`Self::validate`] passed (0 heads
    /// gives 0 here rather than a division by zero).
    pub fn head_dim(&self) -> usize {
        self.hidden_size
            .checked_div(self.num_attention_heads)
            .unwrap_or(0)
    }

    /// Checks that the sizes make a decoder this crate can run: every size (layers included) in
    /// 1..= its `MAX_*` constant, heads a multiple of the key/value heads, d_model a multiple of
    /// the heads, an even head width for RoPE (Llama), finite positive ε and θ, and weight sizes
    /// (`vocab·d`, `(q+k+v rows)·d`, `2·ff·d`, `positions·d`) that fit in `usize`. The one check
    /// of a config: every reader (`config.json`, GGUF, a saved captioner) and
    /// [`super::llama::Llama::from_tensors`] call it before anything is sized from the config.
    ///
    /// Errors: the first [`ConfigProblem`] found (field, value, what is wrong); the parser
    /// names the field as its file does ([`Field::name`]).
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        let bad = |field, value: &dyn std::fmt::Display, why: String| {
            Err(ConfigProblem {
                field,
                value: value.to_string(),
                why,
            })
        };
        let llama = self.arch == Arch::Llama;
        for (field, v, max) in [
            (Field::VocabSize, self.vocab_size, MAX_VOCAB),
            (Field::HiddenSize, self.hidden_size, MAX_HIDDEN),
            (Field::Layers, self.num_hidden_layers, MAX_LAYERS),
            (Field::Heads, self.num_attention_heads, MAX_HIDDEN),
            (Field::KvHeads, self.num_key_value_heads, MAX_HIDDEN),
            (
                Field::IntermediateSize,
                self.intermediate_size,
                MAX_INTERMEDIATE,
            ),
            (
                Field::MaxPositions,
                self.max_position_embeddings,
                MAX_POSITIONS,
            ),
        ] {
            if v == 0 {
                return bad(field, &v, "must be at least 1".into());
            }
            if v > max {
                return bad(field, &v, format!("must be at most {max}"));
            }
        }
        let (nh, nkv, d) = (
            self.num_attention_heads,
            self.num_key_value_heads,
            self.hidden_size,
        );
        if !nh.is_multiple_of(nkv) {
            return bad(
                Field::KvHeads,
                &nkv,
                format!("does not divide the {nh} attention heads"),
            );
        }
        if !d.is_multiple_of(nh) {
            return bad(
                Field::Heads,
                &nh,
                format!("does not divide the model width {d}"),
            );
        }
        let hd = d / nh;
        if llama && !hd.is_multiple_of(2) {
            return bad(
                Field::Heads,
                &nh,
                format!("gives an odd head width {d}/{nh} = {hd}; RoPE needs an even one"),
            );
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return bad(
                Field::NormEps,
                &self.rms_norm_eps,
                "must be finite and positive".into(),
            );
        }
        if llama && !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return bad(
                Field::RopeTheta,
                &self.rope_theta,
                "must be finite and positive".into(),
            );
        }
        let too_big = |field, value: usize, other: &str| {
            bad(
                field,
                &value,
                format!("makes a weight matrix too large to address ({other})"),
            )
        };
        if self.vocab_size.checked_mul(d).is_none() {
            return too_big(Field::VocabSize, self.vocab_size, "vocab × width");
        }
        let qkv_rows = nkv
            .checked_mul(2)
            .and_then(|k| k.checked_add(nh))
            .and_then(|r| r.checked_mul(hd));
        if qkv_rows.and_then(|r| r.checked_mul(d)).is_none() {
            return too_big(Field::Heads, nh, "(q + k + v rows) × width");
        }
        let ff = self.intermediate_size;
        if ff.checked_mul(2).and_then(|r| r.checked_mul(d)).is_none() {
            return too_big(Field::IntermediateSize, ff, "2 × ff × width");
        }
        if self.max_position_embeddings.checked_mul(d).is_none() {
            return too_big(
                Field::MaxPositions,
                self.max_position_embeddings,
                "positions × width",
            );
        }
        Ok(())
    }

    /// Checks every weight the decoder reads is present with the shape this (valid) config
    /// gives it: embedding `(vocab, d)`, per block q `(heads·hd, d)`, k and v `(kv·hd, d)`, o
    /// `(d, heads·hd)`, gate (Llama) and up `(inter, d)`, down `(d, inter)`, norms `(d,)`, GPT-2's
    /// biases `(out,)` and position embedding `(positions, d)`, an untied head `(vocab, d)`.
    /// The one weight check: the loaders (which add the file's name) and
    /// [`super::llama::Llama::from_tensors`] call it, so code that indexes weights by the config's
    /// sizes (the inference engine) stays in bounds. The message names the first weight that is
    /// missing or misshapen, its shape and the one the config makes.
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
            want.push((
                "model.embed_positions.weight".into(),
                vec![self.max_position_embeddings, d],
            ));
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
                        "weight `{name}` is {:?}, the config makes it {shape:?}",
                        t.dims()
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// A size or constant of [`LlamaConfig`], named as each file format names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    VocabSize,
    HiddenSize,
    Layers,
    Heads,
    KvHeads,
    IntermediateSize,
    MaxPositions,
    NormEps,
    RopeTheta,
}

/// The file formats a [`LlamaConfig`] is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A Hugging Face Llama/Mistral `config.json` (and this crate's own saved configs).
    HfLlama,
    /// A Hugging Face GPT-2 `config.json`.
    HfGpt2,
    /// GGUF metadata keys (`llama.*`); the vocabulary comes from `token_embd.weight`.
    Gguf,
}

impl Field {
    /// The field's name in `source`.
    pub fn name(self, source: Source) -> &'static str {
        use Field::*;
        match source {
            Source::HfLlama => match self {
                VocabSize => "vocab_size",
                HiddenSize => "hidden_size",
                Layers => "num_hidden_layers",
                Heads => "num_attention_heads",
                KvHeads => "num_key_value_heads",
                IntermediateSize => "intermediate_size",
                MaxPositions => "max_position_embeddings",
                NormEps => "rms_norm_eps",
                RopeTheta => "rope_theta",
            },
            Source::HfGpt2 => match self {
                VocabSize => "vocab_size",
                HiddenSize => "n_embd",
                Layers => "n_layer",
                Heads | KvHeads => "n_head",
                IntermediateSize => "n_inner",
                MaxPositions => "n_positions",
                NormEps => "layer_norm_epsilon",
                RopeTheta => "rope_theta",
            },
            Source::Gguf => match self {
                VocabSize => "token_embd.weight rows",
                HiddenSize => "llama.embedding_length",
                Layers => "llama.block_count",
                Heads => "llama.attention.head_count",
                KvHeads => "llama.attention.head_count_kv",
                IntermediateSize => "blk.0.ffn_gate.weight rows",
                MaxPositions => "llama.context_length",
                NormEps => "llama.attention.layer_norm_rms_epsilon",
                RopeTheta => "llama.rope.freq_base",
            },
        }
    }
}

/// Why a [`LlamaConfig`] cannot be used.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigProblem {
    pub field: Field,
    /// The value found, as text.
    pub value: String,
    /// What is wrong with it.
    pub why: String,
}

impl ConfigProblem {
    /// `"<field> = <value>: <why>"`, with the field named as `source` names it.
    pub fn describe(&self, source: Source) -> String {
        format!("{} = {}: {}", self.field.name(source), self.value, self.why)
    }
}
