//! Hugging Face-layout Llama-family backbones: a folder with `config.json`
//! (`LlamaForCausalLM`-style fields), `model.safetensors` or shards `model-*.safetensors`
//! (f32, f16 or bf16; loaded as f32), and `tokenizer.json`. The tensor names are the ones
//! [`super::llama::Llama::from_tensors`] reads; no row permutation is needed (that is a GGUF
//! convention).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use tokenizers::Tokenizer;

use super::config::LlamaConfig;
use super::error::{LmError, Result};
use super::tokenizer::SpecialTokens;

/// The fields of a Hugging Face `config.json` the Llama forward needs, with its defaults.
#[derive(Debug, Deserialize)]
struct HfLlamaConfig {
    #[serde(default)]
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default)]
    num_key_value_heads: Option<usize>,
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

/// The first id of a `bos_token_id`/`eos_token_id` field (a number or a list of numbers).
fn first_id(v: &Option<serde_json::Value>) -> Option<u32> {
    match v.as_ref()? {
        serde_json::Value::Number(n) => n.as_u64().map(|x| x as u32),
        serde_json::Value::Array(a) => a.first()?.as_u64().map(|x| x as u32),
        _ => None,
    }
}

/// Whether `dir` looks like a Hugging Face model folder.
pub fn is_hf_dir(dir: &Path) -> bool {
    dir.is_dir() && dir.join("config.json").exists()
}

/// Loads config, weights (as f32) and tokenizer from the folder `dir`.
///
/// Errors: a missing or malformed file (named), a `model_type` other than `llama`/`mistral`/
/// `qwen2`-style decoders without biases, or no bos/eos ids.
pub fn load_hf_llama(
    dir: &Path,
    device: &Device,
) -> Result<(
    LlamaConfig,
    HashMap<String, Tensor>,
    Tokenizer,
    SpecialTokens,
)> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| LmError::io(&cfg_path, e))?;
    let hf: HfLlamaConfig =
        serde_json::from_str(&text).map_err(|e| LmError::format(&cfg_path, e))?;
    if let Some(t) = hf.model_type.as_deref()
        && !matches!(t, "llama" | "mistral")
    {
        return Err(LmError::format(
            &cfg_path,
            format!(
                "model_type `{t}`: only Llama-architecture models (llama, mistral) are supported"
            ),
        ));
    }
    let config = LlamaConfig {
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
            tensors.insert(name, t.to_dtype(DType::F32)?);
        }
    }
    let tok_path = dir.join("tokenizer.json");
    let mut tokenizer =
        Tokenizer::from_file(&tok_path).map_err(|e| LmError::format(&tok_path, e))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| LmError::format(&tok_path, e))?;
    let special = match (first_id(&hf.bos_token_id), first_id(&hf.eos_token_id)) {
        (Some(bos), Some(eos)) => SpecialTokens { bos, eos },
        _ => {
            return Err(LmError::format(
                &cfg_path,
                "bos_token_id and eos_token_id are needed",
            ));
        }
    };
    Ok((config, tensors, tokenizer, special))
}
