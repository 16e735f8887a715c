//! A pretrained decoder written on candle tensor ops so that it back-propagates, with a KV cache
//! for incremental decoding. Weights use Hugging Face Llama names and `(out, in)` layout.
//!
//! - [`Arch::Llama`]: RMSNorm, rotate-half RoPE, grouped-query causal attention, SwiGLU, tied
//!   embeddings (`transformers/models/llama/modeling_llama.py`).
//! - [`Arch::Gpt2`]: LayerNorm with bias, learned absolute positions added to the input, biased
//!   q/k/v/o and MLP projections, GELU (tanh) MLP `down(gelu(up(x)))`, tied embeddings
//!   (`transformers/models/gpt2/modeling_gpt2.py`); [`super::hf`] maps its names.

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor};

use super::config::{Arch, LlamaConfig, Source};
use super::error::{LmError, Result};
use super::lora::{Lora, Target};

/// One decoder block's weights: projections `(out, in)` by [`Target`] (GPT-2 has no gate),
/// their biases `(out,)` (GPT-2 only), and the two norms' scales `(d_model,)` and biases.
struct Block {
    input_norm: (Tensor, Option<Tensor>),
    post_norm: (Tensor, Option<Tensor>),
    weights: [Option<Tensor>; 7],
    biases: [Option<Tensor>; 7],
}

impl Block {
    fn weight(&self, t: Target) -> Option<&Tensor> {
        self.weights[t as usize].as_ref()
    }

    fn bias(&self, t: Target) -> Option<&Tensor> {
        self.biases[t as usize].as_ref()
    }
}

/// Keys and values of the positions seen so far, per layer, each `(B, kv_heads, T, head_dim)`.
#[derive(Default, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// Positions already in the cache.
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map(|(k, _)| k.dim(2).unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The decoder.
pub struct Llama {
    pub config: LlamaConfig,
    /// `(vocab, d_model)` token embedding (also the output projection when tied).
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    lm_head: Option<Tensor>,
    /// RoPE inverse frequencies `(head_dim/2,)`.
    inv_freq: Tensor,
    /// The final norm's bias (GPT-2).
    norm_bias: Option<Tensor>,
    /// `(max_positions, d_model)` learned position embedding (GPT-2).
    positions: Option<Tensor>,
}

impl Llama {
    /// Builds the model from Hugging Face-named tensors (`model.layers.{i}.self_attn.q_proj.weight`, …;
    /// for GPT-2 also `….bias`, `model.embed_positions.weight` and `model.norm.bias`).
    ///
    /// Errors: a `config` that makes no decoder ([`LlamaConfig::validate`]), a missing tensor
    /// (named), or a tensor whose shape disagrees with `config` (named, with both shapes:
    /// [`LlamaConfig::check_weights`]). Every shape is checked here, so code that indexes weights
    /// by the config's sizes (the inference engine) stays in bounds.
    pub fn from_tensors(config: &LlamaConfig, tensors: &HashMap<String, Tensor>) -> Result<Self> {
        config.validate().map_err(|p| {
            LmError::Weights(format!("decoder config: {}", p.describe(Source::HfLlama)))
        })?;
        config.check_weights(tensors).map_err(LmError::Weights)?;
        let get = |name: &str| -> Result<Tensor> {
            tensors
                .get(name)
                .cloned()
                .ok_or_else(|| LmError::Weights(format!("missing weight `{name}`")))
        };
        let gpt2 = config.arch == Arch::Gpt2;
        // GPT-2 tensors that Llama lacks: required there, absent here.
        let biased = |name: &str| -> Result<Option<Tensor>> {
            if gpt2 { get(name).map(Some) } else { Ok(None) }
        };
        let embed = get("model.embed_tokens.weight")?;
        let blocks = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("model.layers.{i}");
                let norm = |n: &str| -> Result<(Tensor, Option<Tensor>)> {
                    Ok((
                        get(&format!("{p}.{n}.weight"))?,
                        biased(&format!("{p}.{n}.bias"))?,
                    ))
                };
                let mut weights: [Option<Tensor>; 7] = Default::default();
                let mut biases: [Option<Tensor>; 7] = Default::default();
                for t in Target::ALL {
                    if gpt2 && t == Target::Gate {
                        continue;
                    }
                    weights[t as usize] = Some(get(&format!("{p}.{}.weight", t.hf_name()))?);
                    biases[t as usize] = biased(&format!("{p}.{}.bias", t.hf_name()))?;
                }
                Ok(Block {
                    input_norm: norm("input_layernorm")?,
                    post_norm: norm("post_attention_layernorm")?,
                    weights,
                    biases,
                })
            })
            .collect::<Result<_>>()?;
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(get("lm_head.weight")?)
        };
        let hd = config.head_dim();
        let inv: Vec<f32> = (0..hd / 2)
            .map(|i| 1.0 / config.rope_theta.powf(2.0 * i as f64 / hd as f64) as f32)
            .collect();
        let inv_freq = Tensor::from_vec(inv, hd / 2, embed.device())?;
        Ok(Self {
            config: config.clone(),
            norm: get("model.norm.weight")?,
            norm_bias: biased("model.norm.bias")?,
            positions: biased("model.embed_positions.weight")?,
            embed,
            blocks,
            lm_head,
            inv_freq,
        })
    }

    /// Hidden states `(N, d_model)` → logits over the model's own vocabulary `(N, vocab)`.
    pub fn head_logits(&self, h: &Tensor) -> Result<Tensor> {
        linear(h, self.lm_head.as_ref().unwrap_or(&self.embed))
    }

    pub fn device(&self) -> &Device {
        self.embed.device()
    }

    /// The `(vocab, d_model)` token embedding.
    pub fn embedding(&self) -> &Tensor {
        &self.embed
    }

    /// Token ids `(B, T)` → input embeddings `(B, T, d_model)`.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        Ok(self.embed.index_select(&ids.flatten_all()?, 0)?.reshape((
            b,
            t,
            self.config.hidden_size,
        ))?)
    }

    /// Token ids `(B, T)` → logits `(B, T, vocab)`; with a cache, the ids continue the cached
    /// positions and their keys/values are appended.
    pub fn forward(&self, ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        self.forward_embeds(&self.embed(ids)?, cache)
    }

    /// Input embeddings `(B, T, d_model)` → logits `(B, T, vocab)`.
    pub fn forward_embeds(&self, x: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let h = self.hidden_states(x, cache, None)?;
        let head = self.lm_head.as_ref().unwrap_or(&self.embed);
        Ok(linear(&h, head)?.reshape((b, t, self.config.vocab_size))?)
    }

    /// `(out, in)` weight of `target` in block `layer` (for LoRA shapes and merging); `None`
    /// where the architecture has no such projection (GPT-2's gate).
    pub fn block_weight(&self, layer: usize, target: Target) -> Option<&Tensor> {
        self.blocks[layer].weight(target)
    }

    /// Replaces every adapted weight by `W + (α/r)·B·A`, so inference runs without adapters.
    pub fn merge_lora(&mut self, lora: &Lora) -> Result<()> {
        for (i, blk) in self.blocks.iter_mut().enumerate() {
            for t in Target::ALL {
                if let (Some(ad), Some(w)) = (lora.get(i, t), blk.weight(t)) {
                    blk.weights[t as usize] = Some(lora.merged(ad, w)?);
                }
            }
        }
        Ok(())
    }

    /// Every weight by Hugging Face name (for full fine-tuning and saving).
    pub fn named_weights(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![
            ("model.embed_tokens.weight".to_string(), self.embed.clone()),
            ("model.norm.weight".to_string(), self.norm.clone()),
        ];
        if let Some(h) = &self.lm_head {
            out.push(("lm_head.weight".to_string(), h.clone()));
        }
        if let Some(b) = &self.norm_bias {
            out.push(("model.norm.bias".to_string(), b.clone()));
        }
        if let Some(p) = &self.positions {
            out.push(("model.embed_positions.weight".to_string(), p.clone()));
        }
        for (i, blk) in self.blocks.iter().enumerate() {
            let p = format!("model.layers.{i}");
            for (name, (w, b)) in [
                ("input_layernorm", &blk.input_norm),
                ("post_attention_layernorm", &blk.post_norm),
            ] {
                out.push((format!("{p}.{name}.weight"), w.clone()));
                if let Some(b) = b {
                    out.push((format!("{p}.{name}.bias"), b.clone()));
                }
            }
            for t in Target::ALL {
                let name = format!("{p}.{}", t.hf_name());
                if let Some(w) = blk.weight(t) {
                    out.push((format!("{name}.weight"), w.clone()));
                }
                if let Some(b) = blk.bias(t) {
                    out.push((format!("{name}.bias"), b.clone()));
                }
            }
        }
        out
    }

    /// Input embeddings `(B, T, d_model)` → final hidden states after the last norm,
    /// `(B, T, d_model)`, with LoRA adapters applied when given. GPT-2 adds its position
    /// embedding here.
    ///
    /// Errors: for GPT-2, a sequence (cache included) longer than its position embedding.
    pub fn hidden_states(
        &self,
        x: &Tensor,
        mut cache: Option<&mut KvCache>,
        lora: Option<&Lora>,
    ) -> Result<Tensor> {
        let (_, t, _) = x.dims3()?;
        let offset = cache.as_ref().map(|c| c.len()).unwrap_or(0);
        if let Some(c) = cache.as_mut() {
            c.layers.resize(self.blocks.len(), None);
        }
        let rope = match &self.positions {
            Some(_) => None,
            None => Some(self.rope_tables(offset, t)?),
        };
        let mask = causal_mask(t, offset, x.device())?;
        let mut h = match &self.positions {
            Some(p) => {
                if offset + t > p.dim(0)? {
                    return Err(LmError::Weights(format!(
                        "a sequence of {} tokens is longer than the backbone's {} positions",
                        offset + t,
                        p.dim(0)?
                    )));
                }
                x.broadcast_add(&p.narrow(0, offset, t)?)?
            }
            None => x.clone(),
        };
        for (i, blk) in self.blocks.iter().enumerate() {
            let slot = cache.as_mut().map(|c| &mut c.layers[i]);
            h = self.block(i, blk, &h, rope.as_ref(), &mask, slot, lora)?;
        }
        self.norm(&h, &self.norm, self.norm_bias.as_ref())
    }

    /// The architecture's norm: RMSNorm (Llama) or LayerNorm with bias (GPT-2).
    fn norm(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
        let eps = self.config.rms_norm_eps;
        match b {
            Some(b) => layer_norm(x, w, b, eps),
            None => rms_norm(x, w, eps),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        layer: usize,
        blk: &Block,
        x: &Tensor,
        rope_tables: Option<&(Tensor, Tensor)>,
        mask: &Tensor,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        lora: Option<&Lora>,
    ) -> Result<Tensor> {
        // x·Wᵀ (+ bias), plus the adapter's update when block `layer` has one on `t`.
        let proj = |x: &Tensor, t: Target| -> Result<Tensor> {
            let w = blk
                .weight(t)
                .ok_or_else(|| LmError::Weights(format!("block {layer} has no {t:?}")))?;
            let mut y = linear(x, w)?;
            if let Some(b) = blk.bias(t) {
                y = y.broadcast_add(b)?;
            }
            if let Some((l, a)) = lora.and_then(|l| l.get(layer, t).map(|a| (l, a))) {
                y = (y + l.delta(a, x)?)?;
            }
            Ok(y)
        };
        let c = &self.config;
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim());
        let h = self.norm(x, &blk.input_norm.0, blk.input_norm.1.as_ref())?;
        let q = proj(&h, Target::Q)?
            .reshape((b, t, nh, hd))?
            .transpose(1, 2)?;
        let k = proj(&h, Target::K)?
            .reshape((b, t, nkv, hd))?
            .transpose(1, 2)?;
        let v = proj(&h, Target::V)?
            .reshape((b, t, nkv, hd))?
            .transpose(1, 2)?
            .contiguous()?;
        let (q, k) = match rope_tables {
            Some((cos, sin)) => (rope(&q, cos, sin)?, rope(&k, cos, sin)?),
            None => (q.contiguous()?, k.contiguous()?),
        };
        let (k, v) = match cache {
            Some(slot) => {
                let (k, v) = match slot.take() {
                    Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                    None => (k, v),
                };
                *slot = Some((k.clone(), v.clone()));
                (k, v)
            }
            None => (k, v),
        };
        let tk = k.dim(2)?;
        let rep = nh / nkv;
        let k = repeat_kv(&k, rep)?;
        let v = repeat_kv(&v, rep)?;
        let att = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        let att = att.broadcast_add(&mask.reshape((1, 1, t, tk))?)?;
        let att = candle_nn::ops::softmax(&att, D::Minus1)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, nh * hd))?;
        let x = (x + proj(&y, Target::O)?)?;
        let h = self.norm(&x, &blk.post_norm.0, blk.post_norm.1.as_ref())?;
        let m = match c.arch {
            Arch::Llama => {
                (candle_nn::ops::silu(&proj(&h, Target::Gate)?)? * proj(&h, Target::Up)?)?
            }
            Arch::Gpt2 => proj(&h, Target::Up)?.gelu()?,
        };
        Ok((x + proj(&m, Target::Down)?)?)
    }

    /// cos and sin `(t, head_dim/2)` for positions offset..offset+t.
    fn rope_tables(&self, offset: usize, t: usize) -> Result<(Tensor, Tensor)> {
        let pos = Tensor::arange(offset as u32, (offset + t) as u32, self.device())?
            .to_dtype(DType::F32)?
            .unsqueeze(1)?;
        let ang = pos.broadcast_mul(&self.inv_freq.unsqueeze(0)?)?;
        Ok((ang.cos()?, ang.sin()?))
    }
}

/// `x · W^T` for `x (…, in)` and `W (out, in)`. When `x` carries a gradient and `W` is frozen
/// (on the CPU), through [`FrozenLinear`], whose backward forms only ∂x.
///
/// Errors: `x` is a scalar (rank 0), or its last dimension is not `W`'s second.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let mut out = x.dims().to_vec();
    let Some((&inp, lead)) = out.split_last() else {
        return Err(LmError::Weights(format!(
            "a linear layer needs an input of rank ≥ 1, got a scalar (weight {:?})",
            w.dims()
        )));
    };
    let rows: usize = lead.iter().product();
    let x2 = x.reshape((rows, inp))?;
    let y = if x.track_op() && !w.track_op() && x.device().is_cpu() {
        x2.contiguous()?.apply_op1(FrozenLinear { w: w.clone() })?
    } else {
        x2.matmul(&w.t()?)?
    };
    if let Some(last) = out.last_mut() {
        *last = w.dim(0)?;
    }
    Ok(y.reshape(out)?)
}

/// `(rows, in) · W^T` with `W (out, in)` held constant. candle's matmul backward always forms
/// the gradient of both operands (and a zero-filled accumulator of W's size), so for a frozen
/// weight half of a LoRA step's backward work and most of its memory traffic is thrown away;
/// this op's backward is the single product `∂y · W`.
struct FrozenLinear {
    w: Tensor,
}

impl candle_core::CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::Msg("frozen-linear: input is not contiguous".into())
        })?;
        let x = Tensor::from_slice(
            &storage.as_slice::<f32>()?[start..end],
            layout.shape(),
            &Device::Cpu,
        )?;
        let y = x.matmul(&self.w.t()?)?;
        let shape = y.shape().clone();
        Ok((
            candle_core::CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?),
            shape,
        ))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.w)?))
    }
}

/// RMSNorm: x / √(mean(x²) + ε) · w over the last dimension.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)?)
}

/// LayerNorm: (x − mean) / √(var + ε) · w + b over the last dimension (biased variance, as
/// `torch.nn.LayerNorm`).
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let centered = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(centered
        .broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(w)?
        .broadcast_add(b)?)
}

/// Rotate-half RoPE on `(B, H, T, d)` with cos/sin `(T, d/2)`:
/// [x₁ cos − x₂ sin, x₂ cos + x₁ sin], x₁ and x₂ the two halves of each head.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let a = (x1.broadcast_mul(cos)? - x2.broadcast_mul(sin)?)?;
    let b = (x2.broadcast_mul(cos)? + x1.broadcast_mul(sin)?)?;
    Ok(Tensor::cat(&[a, b], D::Minus1)?)
}

/// `(B, kv, T, d)` → `(B, kv·rep, T, d)`, each kv head repeated `rep` times in place.
fn repeat_kv(x: &Tensor, rep: usize) -> Result<Tensor> {
    if rep == 1 {
        return Ok(x.clone());
    }
    let (b, kv, t, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .broadcast_as((b, kv, rep, t, d))?
        .reshape((b, kv * rep, t, d))?)
}

/// `(t, offset + t)` additive mask: 0 where key j ≤ offset + query i, −∞ after.
fn causal_mask(t: usize, offset: usize, device: &Device) -> Result<Tensor> {
    let tk = offset + t;
    let data: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..tk).map(move |j| {
                if j <= offset + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(data, (t, tk), device)?)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    #[test]
    fn frozen_linear_gives_the_matmul_value_and_input_gradient() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 5), &dev).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 1.0, (4, 5), &dev).unwrap();
        let probe = Tensor::randn(0f32, 1.0, (2, 3, 4), &dev).unwrap();
        let y = super::linear(x.as_tensor(), &w).unwrap();
        let reference = x.as_tensor().broadcast_matmul(&w.t().unwrap()).unwrap();
        let dy = crate::testdata::max_abs_diff(&y, &reference);
        assert!(dy < 1e-5, "value differs by {dy}");
        let g = (y * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gx = g.get(x.as_tensor()).unwrap();
        let want = probe.broadcast_matmul(&w).unwrap();
        let dg = crate::testdata::max_abs_diff(gx, &want);
        assert!(dg < 1e-5, "∂x differs by {dg}");
        assert!(g.get(&w).is_none(), "no gradient for the frozen weight");
    }
}
