//! Reads a llama.cpp GGUF file of a Llama-architecture model into f32 tensors with Hugging Face
//! names and layout: every tensor is dequantized, and the q/k row permutation that llama.cpp's
//! converter applies (`permute` in `convert_hf_to_gguf.py`, for its interleaved RoPE) is undone,
//! so the same forward pass serves GGUF and Hugging Face safetensors checkpoints.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};

use super::config::{LlamaConfig, Source};
use super::error::{LmError, Result};
use super::gguf_check::check_gguf_header;

/// A GGUF model: its architecture, f32 weights by Hugging Face name, and the raw metadata.
pub struct GgufModel {
    pub config: LlamaConfig,
    pub tensors: HashMap<String, Tensor>,
    pub content: gguf_file::Content,
}

/// Most elements of one GGUF tensor accepted: 2^30 (4 GiB as f32; SmolLM2-135M's largest has
/// 28 million). Checked on the header's shapes before anything is read or dequantized.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 30;

/// Loads and dequantizes `path` onto `device`.
///
/// Errors (all naming `path`): not a GGUF file or a malformed header (a `general.alignment` of
/// 0 included), an architecture other than `llama`, missing metadata or tensors, a tensor shape
/// with more than [`MAX_TENSOR_ELEMENTS`] elements, sizes that make no decoder
/// ([`LlamaConfig::validate`]: the metadata key, its value and why), a
/// `llama.attention.key_length`/`value_length` other than `embedding_length / head_count`, or
/// tensors that do not fit the sizes ([`LlamaConfig::check_weights`]).
pub fn load_gguf(path: &Path, device: &Device) -> Result<GgufModel> {
    check_gguf_header(path)?;
    let mut f = std::fs::File::open(path).map_err(|e| LmError::io(path, e))?;
    let content = gguf_file::Content::read(&mut f).map_err(|e| LmError::format(path, e))?;
    for (name, info) in &content.tensor_infos {
        let dims = info.shape.dims();
        let n = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if n.is_none_or(|n| n > MAX_TENSOR_ELEMENTS) {
            return Err(LmError::format(
                path,
                format!(
                    "tensor `{name}` of shape {dims:?}: more than {MAX_TENSOR_ELEMENTS} elements"
                ),
            ));
        }
    }
    let md = |key: &str| {
        content
            .metadata
            .get(key)
            .ok_or_else(|| LmError::format(path, format!("missing metadata `{key}`")))
    };
    let arch = md("general.architecture")?
        .to_string()
        .map_err(|e| LmError::format(path, e))?;
    if arch != "llama" {
        return Err(LmError::format(
            path,
            format!("architecture `{arch}`, expected `llama`"),
        ));
    }
    let u = |key: &str| -> Result<usize> {
        Ok(md(key)?.to_u32().map_err(|e| LmError::format(path, e))? as usize)
    };
    let heads = u("llama.attention.head_count")?;
    let kv_heads = u("llama.attention.head_count_kv")?;
    let hidden = u("llama.embedding_length")?;
    let layers = u("llama.block_count")?;
    let rope_theta = md("llama.rope.freq_base")
        .and_then(|v| v.to_f32().map_err(|e| LmError::format(path, e)))
        .unwrap_or(10_000.0) as f64;
    let eps = md("llama.attention.layer_norm_rms_epsilon")?
        .to_f32()
        .map_err(|e| LmError::format(path, e))? as f64;
    // The sizes held in tensor shapes, read from the header before any tensor is loaded.
    let rows = |name: &str| -> Result<usize> {
        let info = content
            .tensor_infos
            .get(name)
            .ok_or_else(|| LmError::format(path, format!("missing tensor `{name}`")))?;
        info.shape
            .dims()
            .first()
            .copied()
            .ok_or_else(|| LmError::format(path, format!("tensor `{name}` has no dimensions")))
    };
    let tie = !content.tensor_infos.contains_key("output.weight");
    let config = LlamaConfig {
        arch: super::config::Arch::Llama,
        vocab_size: rows("token_embd.weight")?,
        hidden_size: hidden,
        // No blocks: `validate` refuses `llama.block_count = 0` before the MLP width matters.
        intermediate_size: if layers > 0 {
            rows("blk.0.ffn_gate.weight")?
        } else {
            1
        },
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        rms_norm_eps: eps,
        rope_theta,
        max_position_embeddings: u("llama.context_length").unwrap_or(2048),
        tie_word_embeddings: tie,
    };
    config
        .validate()
        .map_err(|p| LmError::format(path, p.describe(Source::Gguf)))?;
    for key in ["llama.attention.key_length", "llama.attention.value_length"] {
        if let Ok(width) = u(key)
            && width != config.head_dim()
        {
            return Err(LmError::format(
                path,
                format!(
                    "{key} = {width}: differs from embedding_length / head_count = {hidden} / \
                     {heads} = {}; a head width decoupled from the model width is not supported",
                    config.head_dim()
                ),
            ));
        }
    }
    let mut get = |name: &str| -> Result<Tensor> {
        let in_tensor =
            |e: candle_core::Error| LmError::format(path, format!("tensor `{name}`: {e}"));
        let q = content.tensor(&mut f, name, device).map_err(in_tensor)?;
        q.dequantize(device).map_err(in_tensor)
    };
    let unpermuted = |w: &Tensor, heads: usize, name: &str| -> Result<Tensor> {
        unpermute(w, heads).map_err(|e| LmError::format(path, format!("tensor `{name}`: {e}")))
    };
    let mut tensors = HashMap::new();
    tensors.insert(
        "model.embed_tokens.weight".to_string(),
        get("token_embd.weight")?,
    );
    tensors.insert("model.norm.weight".to_string(), get("output_norm.weight")?);
    if !tie {
        tensors.insert("lm_head.weight".to_string(), get("output.weight")?);
    }
    for i in 0..layers {
        let p = format!("model.layers.{i}");
        let b = format!("blk.{i}");
        let (q_name, k_name) = (format!("{b}.attn_q.weight"), format!("{b}.attn_k.weight"));
        let q = get(&q_name)?;
        let k = get(&k_name)?;
        tensors.insert(
            format!("{p}.self_attn.q_proj.weight"),
            unpermuted(&q, heads, &q_name)?,
        );
        tensors.insert(
            format!("{p}.self_attn.k_proj.weight"),
            unpermuted(&k, kv_heads, &k_name)?,
        );
        tensors.insert(
            format!("{p}.self_attn.v_proj.weight"),
            get(&format!("{b}.attn_v.weight"))?,
        );
        tensors.insert(
            format!("{p}.self_attn.o_proj.weight"),
            get(&format!("{b}.attn_output.weight"))?,
        );
        tensors.insert(
            format!("{p}.input_layernorm.weight"),
            get(&format!("{b}.attn_norm.weight"))?,
        );
        tensors.insert(
            format!("{p}.post_attention_layernorm.weight"),
            get(&format!("{b}.ffn_norm.weight"))?,
        );
        tensors.insert(
            format!("{p}.mlp.gate_proj.weight"),
            get(&format!("{b}.ffn_gate.weight"))?,
        );
        tensors.insert(
            format!("{p}.mlp.up_proj.weight"),
            get(&format!("{b}.ffn_up.weight"))?,
        );
        tensors.insert(
            format!("{p}.mlp.down_proj.weight"),
            get(&format!("{b}.ffn_down.weight"))?,
        );
    }
    config
        .check_weights(&tensors)
        .map_err(|msg| LmError::format(path, msg))?;
    Ok(GgufModel {
        config,
        tensors,
        content,
    })
}

/// Undoes llama.cpp's q/k permutation: within each head, GGUF row 2i + j holds Hugging Face row
/// j·(d/2) + i (d = head width). `(heads·d, in)` → `(heads·d, in)`.
///
/// Errors: `w` is not 2-D, or its rows are not `heads` heads of an even width.
pub fn unpermute(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    if heads == 0 || !out.is_multiple_of(heads) || !(out / heads).is_multiple_of(2) {
        return Err(LmError::Weights(format!(
            "{out} rows are not {heads} heads of an even width"
        )));
    }
    let d = out / heads;
    Ok(w.reshape((heads, d / 2, 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}
