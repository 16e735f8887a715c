//! Hugging Face-layout backbones: a folder with `config.json`, `model.safetensors` or shards
//! `model-*.safetensors` (f32, f16 or bf16; loaded as f32), and `tokenizer.json`.
//!
//! - Llama family (`model_type` `llama`, `mistral`): the tensor names are already the ones
//!   [`super::llama::Llama::from_tensors`] reads; no row permutation is needed (that is a GGUF
//!   convention).
//! - GPT-2 (`model_type` `gpt2`, the GeoMotionGPT paper's backbone, e.g. `openai-community/gpt2`):
//!   its `Conv1D` weights are stored `(in, out)` and its attention input projection `c_attn` is
//!   q, k and v side by side; they are transposed to `(out, in)`, split, and renamed onto the
//!   Llama names (`h.{i}.attn.c_attn` → `self_attn.{q,k,v}_proj`, `attn.c_proj` → `o_proj`,
//!   `mlp.c_fc` → `up_proj`, `mlp.c_proj` → `down_proj`, `ln_1`/`ln_2` → `input_layernorm`/
//!   `post_attention_layernorm`, `wte` → `embed_tokens`, `wpe` → `embed_positions`, `ln_f` →
//!   `norm`), biases as `….bias`. A `transformer.` prefix (files saved from `GPT2LMHeadModel`) is
//!   accepted.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use tokenizers::Tokenizer;

use super::config::{Arch, LlamaConfig, Source};
use super::error::{LmError, Result};
use super::tokenizer::SpecialTokens;

/// The fields of a Hugging Face `config.json` the Llama forward needs, with its defaults.
#[derive(Debug, Deserialize)]
struct HfLlamaConfig {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default)]
    num_key_value_heads: Option<usize>,
    /// Newer configs state the head width; only `hidden_size / num_attention_heads` is supported.
    #[serde(default)]
    head_dim: Option<usize>,
    #[serde(default = "default_eps")]
    rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    rope_theta: f64,
    #[serde(default = "default_positions")]
    max_position_embeddings: usize,
    #[serde(default)]
    tie_word_embeddings: bool,
    #[serde(default)]
    bos_token_id: Option<serde_json::Value>,
    #[serde(default)]
    eos_token_id: Option<serde_json::Value>,
}

fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_positions() -> usize {
    2048
}

/// The first id of a `bos_token_id`/`eos_token_id` field (a number or a list of numbers);
/// `None` for anything else, a number past `u32` included.
pub(crate) fn first_id(v: &Option<serde_json::Value>) -> Option<u32> {
    let n = match v.as_ref()? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::Array(a) => a.first()?.as_u64(),
        _ => None,
    };
    n.and_then(|x| u32::try_from(x).ok())
}

/// Whether `dir` looks like a Hugging Face model folder.
pub fn is_hf_dir(dir: &Path) -> bool {
    dir.is_dir() && dir.join("config.json").exists()
}

/// The fields of a GPT-2 `config.json` (`GPT2Config`), with its defaults.
#[derive(Debug, Deserialize)]
struct HfGpt2Config {
    vocab_size: usize,
    n_embd: usize,
    n_layer: usize,
    n_head: usize,
    #[serde(default = "default_gpt2_positions")]
    n_positions: usize,
    #[serde(default)]
    n_inner: Option<usize>,
    #[serde(default = "default_gpt2_eps")]
    layer_norm_epsilon: f64,
    #[serde(default = "default_gpt2_activation")]
    activation_function: String,
    #[serde(default)]
    scale_attn_by_inverse_layer_idx: bool,
    #[serde(default)]
    bos_token_id: Option<serde_json::Value>,
    #[serde(default)]
    eos_token_id: Option<serde_json::Value>,
}

fn default_gpt2_positions() -> usize {
    1024
}
fn default_gpt2_eps() -> f64 {
    1e-5
}
fn default_gpt2_activation() -> String {
    "gelu_new".into()
}

/// A backbone read from a Hugging Face folder: config, f32 tensors by the Llama names the
/// decoder reads, tokenizer, bos/eos.
pub type HfModel = (
    LlamaConfig,
    HashMap<String, Tensor>,
    Tokenizer,
    SpecialTokens,
);

/// Loads config, weights (as f32) and tokenizer from the folder `dir`.
///
/// Errors (each naming the file or folder): a missing or malformed file; a `model_type` other
/// than `llama`, `mistral` or `gpt2`; a GPT-2 activation other than the tanh GELU; sizes that
/// make no decoder ([`LlamaConfig::validate`]: `config.json`, the field, its value and why) or
/// a `head_dim` other than `hidden_size / num_attention_heads`; a missing or misshapen tensor
/// ([`LlamaConfig::check_weights`]); no bos/eos ids, or ids past the vocabulary.
pub fn load_hf(dir: &Path, device: &Device) -> Result<HfModel> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| LmError::io(&cfg_path, e))?;
    let probe: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| LmError::format(&cfg_path, e))?;
    let model_type = probe.get("model_type").and_then(|v| v.as_str());
    let (config, bos, eos) = match model_type {
        Some("gpt2") => gpt2_config(&text, &cfg_path)?,
        None | Some("llama" | "mistral") => {
            let hf: HfLlamaConfig =
                serde_json::from_str(&text).map_err(|e| LmError::format(&cfg_path, e))?;
            let config = LlamaConfig {
                arch: Arch::Llama,
                vocab_size: hf.vocab_size,
                hidden_size: hf.hidden_size,
                intermediate_size: hf.intermediate_size,
                num_hidden_layers: hf.num_hidden_layers,
                num_attention_heads: hf.num_attention_heads,
                num_key_value_heads: hf.num_key_value_heads.unwrap_or(hf.num_attention_heads),
                rms_norm_eps: hf.rms_norm_eps,
                rope_theta: hf.rope_theta,
                max_position_embeddings: hf.max_position_embeddings,
                tie_word_embeddings: hf.tie_word_embeddings,
            };
            config
                .validate()
                .map_err(|p| LmError::format(&cfg_path, p.describe(Source::HfLlama)))?;
            if let Some(hd) = hf.head_dim.filter(|&hd| hd != config.head_dim()) {
                return Err(LmError::format(
                    &cfg_path,
                    format!(
                        "head_dim = {hd}: differs from hidden_size / num_attention_heads = {} / {} = {}; \
                         a head width decoupled from the model width is not supported",
                        config.hidden_size,
                        config.num_attention_heads,
                        config.head_dim()
                    ),
                ));
            }
            (config, hf.bos_token_id, hf.eos_token_id)
        }
        Some(t) => {
            return Err(LmError::format(
                &cfg_path,
                format!(
                    "model_type `{t}`: supported are Llama-architecture models (llama, mistral) and gpt2"
                ),
            ));
        }
    };
    let mut tensors = load_safetensors(dir, device)?;
    if config.arch == Arch::Gpt2 {
        tensors = gpt2_to_llama_names(tensors, &config, dir).map_err(|e| match e {
            LmError::Candle(e) => LmError::format(dir, format!("GPT-2 weights: {e}")),
            other => other,
        })?;
    }
    config
        .check_weights(&tensors)
        .map_err(|msg| LmError::format(dir, msg))?;
    let tok_path = dir.join("tokenizer.json");
    let tokenizer = crate::lm::tokenizer::tokenizer_file(&tok_path)?;
    let in_vocab = |id: u32| (id as usize) < config.vocab_size;
    let special = match (first_id(&bos), first_id(&eos)) {
        (Some(bos), Some(eos)) if in_vocab(bos) && in_vocab(eos) => SpecialTokens { bos, eos },
        (Some(bos), Some(eos)) => {
            return Err(LmError::format(
                &cfg_path,
                format!(
                    "bos_token_id {bos} or eos_token_id {eos} is not below vocab_size {}",
                    config.vocab_size
                ),
            ));
        }
        _ => {
            return Err(LmError::format(
                &cfg_path,
                "bos_token_id and eos_token_id are needed",
            ));
        }
    };
    Ok((config, tensors, tokenizer, special))
}

/// A GPT-2 `config.json` (`GPT2Config`, the text of the file at `cfg_path`) → the decoder's config
/// (tied head) and its `bos_token_id`/`eos_token_id` fields.
///
/// Errors (naming `cfg_path`): not the config's JSON; an activation other than the tanh GELU;
/// `scale_attn_by_inverse_layer_idx`; sizes that make no decoder ([`LlamaConfig::validate`]).
pub(crate) fn gpt2_config(
    text: &str,
    cfg_path: &Path,
) -> Result<(
    LlamaConfig,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
)> {
    let cfg_path = cfg_path.to_path_buf();
    let g: HfGpt2Config = serde_json::from_str(text).map_err(|e| LmError::format(&cfg_path, e))?;
    if !matches!(
        g.activation_function.as_str(),
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast"
    ) {
        return Err(LmError::format(
            &cfg_path,
            format!(
                "activation_function `{}`: only GPT-2's tanh GELU (gelu_new) is supported",
                g.activation_function
            ),
        ));
    }
    if g.scale_attn_by_inverse_layer_idx {
        return Err(LmError::format(
            &cfg_path,
            "scale_attn_by_inverse_layer_idx is not supported",
        ));
    }
    let intermediate_size = match g.n_inner {
        Some(n) => n,
        None => g.n_embd.checked_mul(4).ok_or_else(|| {
            LmError::format(&cfg_path, format!("n_embd = {}: too large", g.n_embd))
        })?,
    };
    let config = LlamaConfig {
        arch: Arch::Gpt2,
        vocab_size: g.vocab_size,
        hidden_size: g.n_embd,
        intermediate_size,
        num_hidden_layers: g.n_layer,
        num_attention_heads: g.n_head,
        num_key_value_heads: g.n_head,
        rms_norm_eps: g.layer_norm_epsilon,
        rope_theta: 0.0,
        max_position_embeddings: g.n_positions,
        tie_word_embeddings: true,
    };
    config
        .validate()
        .map_err(|p| LmError::format(&cfg_path, p.describe(Source::HfGpt2)))?;
    Ok((config, g.bos_token_id, g.eos_token_id))
}

/// Every tensor of every `.safetensors` file in `dir`, as f32.
fn load_safetensors(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| LmError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LmError::format(
            dir,
            "no .safetensors weights in this folder",
        ));
    }
    let mut tensors = HashMap::new();
    for f in &files {
        let part = candle_core::safetensors::load(f, device).map_err(|e| LmError::format(f, e))?;
        for (name, t) in part {
            let t = t
                .to_dtype(DType::F32)
                .map_err(|e| LmError::format(f, format!("tensor `{name}`: {e}")))?;
            tensors.insert(name, t);
        }
    }
    Ok(tensors)
}

/// GPT-2 tensors (`h.{i}.attn.c_attn.weight (d, 3d)`, …) → the decoder's names and `(out, in)`
/// layout; see the module docs for the mapping.
pub(crate) fn gpt2_to_llama_names(
    mut raw: HashMap<String, Tensor>,
    config: &LlamaConfig,
    dir: &Path,
) -> Result<HashMap<String, Tensor>> {
    let mut take = |name: &str| -> Result<Tensor> {
        raw.remove(name)
            .or_else(|| raw.remove(&format!("transformer.{name}")))
            .ok_or_else(|| LmError::format(dir, format!("GPT-2 weights have no `{name}`")))
    };
    let d = config.hidden_size;
    let mut out = HashMap::new();
    out.insert("model.embed_tokens.weight".into(), take("wte.weight")?);
    out.insert("model.embed_positions.weight".into(), take("wpe.weight")?);
    out.insert("model.norm.weight".into(), take("ln_f.weight")?);
    out.insert("model.norm.bias".into(), take("ln_f.bias")?);
    for i in 0..config.num_hidden_layers {
        let (h, p) = (format!("h.{i}"), format!("model.layers.{i}"));
        for (from, to) in [
            ("ln_1", "input_layernorm"),
            ("ln_2", "post_attention_layernorm"),
        ] {
            out.insert(
                format!("{p}.{to}.weight"),
                take(&format!("{h}.{from}.weight"))?,
            );
            out.insert(format!("{p}.{to}.bias"), take(&format!("{h}.{from}.bias"))?);
        }
        let qkv = take(&format!("{h}.attn.c_attn.weight"))?.t()?;
        let qkv_b = take(&format!("{h}.attn.c_attn.bias"))?;
        for (j, name) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
            out.insert(
                format!("{p}.self_attn.{name}.weight"),
                qkv.narrow(0, j * d, d)?.contiguous()?,
            );
            out.insert(
                format!("{p}.self_attn.{name}.bias"),
                qkv_b.narrow(0, j * d, d)?.contiguous()?,
            );
        }
        for (from, to) in [
            ("attn.c_proj", "self_attn.o_proj"),
            ("mlp.c_fc", "mlp.up_proj"),
            ("mlp.c_proj", "mlp.down_proj"),
        ] {
            out.insert(
                format!("{p}.{to}.weight"),
                take(&format!("{h}.{from}.weight"))?.t()?.contiguous()?,
            );
            out.insert(format!("{p}.{to}.bias"), take(&format!("{h}.{from}.bias"))?);
        }
    }
    Ok(out)
}
