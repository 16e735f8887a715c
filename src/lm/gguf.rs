//! Reads a llama.cpp GGUF file of a Llama-architecture model into f32 tensors with Hugging Face
//! names and layout: every tensor is dequantized, and the q/k row permutation that llama.cpp's
//! converter applies (`permute` in `convert_hf_to_gguf.py`, for its interleaved RoPE) is undone,
//! so the same forward pass serves GGUF and Hugging Face safetensors checkpoints.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};

use super::config::LlamaConfig;
use super::error::{LmError, Result};

/// A GGUF model: its architecture, f32 weights by Hugging Face name, and the raw metadata.
pub struct GgufModel {
    pub config: LlamaConfig,
    pub tensors: HashMap<String, Tensor>,
    pub content: gguf_file::Content,
}

/// Loads and dequantizes `path` onto `device`.
///
/// Errors: not a GGUF file, an architecture other than `llama`, missing metadata or tensors.
pub fn load_gguf(path: &Path, device: &Device) -> Result<GgufModel> {
    let mut f = std::fs::File::open(path).map_err(|e| LmError::io(path, e))?;
    let content = gguf_file::Content::read(&mut f).map_err(|e| LmError::format(path, e))?;
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
    let mut get = |name: &str| -> Result<Tensor> {
        let q = content
            .tensor(&mut f, name, device)
            .map_err(|e| LmError::format(path, format!("tensor `{name}`: {e}")))?;
        Ok(q.dequantize(device)?)
    };
    let mut tensors = HashMap::new();
    let embed = get("token_embd.weight")?;
    let vocab_size = embed.dim(0)?;
    tensors.insert("model.embed_tokens.weight".to_string(), embed);
    tensors.insert("model.norm.weight".to_string(), get("output_norm.weight")?);
    let tie = !content.tensor_infos.contains_key("output.weight");
    if !tie {
        tensors.insert("lm_head.weight".to_string(), get("output.weight")?);
    }
    let mut intermediate = 0;
    for i in 0..layers {
        let p = format!("model.layers.{i}");
        let b = format!("blk.{i}");
        let q = get(&format!("{b}.attn_q.weight"))?;
        let k = get(&format!("{b}.attn_k.weight"))?;
        tensors.insert(
            format!("{p}.self_attn.q_proj.weight"),
            unpermute(&q, heads)?,
        );
        tensors.insert(
            format!("{p}.self_attn.k_proj.weight"),
            unpermute(&k, kv_heads)?,
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
        let gate = get(&format!("{b}.ffn_gate.weight"))?;
        intermediate = gate.dim(0)?;
        tensors.insert(format!("{p}.mlp.gate_proj.weight"), gate);
        tensors.insert(
            format!("{p}.mlp.up_proj.weight"),
            get(&format!("{b}.ffn_up.weight"))?,
        );
        tensors.insert(
            format!("{p}.mlp.down_proj.weight"),
            get(&format!("{b}.ffn_down.weight"))?,
        );
    }
    let config = LlamaConfig {
        arch: super::config::Arch::Llama,
        vocab_size,
        hidden_size: hidden,
        intermediate_size: intermediate,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        rms_norm_eps: eps,
        rope_theta,
        max_position_embeddings: u("llama.context_length").unwrap_or(2048),
        tie_word_embeddings: tie,
    };
    Ok(GgufModel {
        config,
        tensors,
        content,
    })
}

/// Undoes llama.cpp's q/k permutation: within each head, GGUF row 2i + j holds Hugging Face row
/// j·(d/2) + i (d = head width). `(heads·d, in)` → `(heads·d, in)`.
pub fn unpermute(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    let d = out / heads;
    Ok(w.reshape((heads, d / 2, 2, inp))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((out, inp))?)
}
