//! A Llama-architecture decoder written on candle tensor ops so that it back-propagates
//! (RMSNorm, rotate-half RoPE, grouped-query causal attention, SwiGLU, tied embeddings), with a
//! KV cache for incremental decoding. Weights use Hugging Face names and `(out, in)` layout
//! (`transformers/models/llama/modeling_llama.py`).

use std::collections::HashMap;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{D, DType, Device, Module, Tensor};

use super::config::LlamaConfig;
use super::error::{LmError, Result};
use super::lora::{Lora, Target};

/// One decoder block's weights, each `(out, in)`.
struct Block {
    input_norm: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    o: Tensor,
    post_norm: Tensor,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

impl Block {
    fn weight(&self, t: Target) -> &Tensor {
        match t {
            Target::Q => &self.q,
            Target::K => &self.k,
            Target::V => &self.v,
            Target::O => &self.o,
            Target::Gate => &self.gate,
            Target::Up => &self.up,
            Target::Down => &self.down,
        }
    }

    fn weight_mut(&mut self, t: Target) -> &mut Tensor {
        match t {
            Target::Q => &mut self.q,
            Target::K => &mut self.k,
            Target::V => &mut self.v,
            Target::O => &mut self.o,
            Target::Gate => &mut self.gate,
            Target::Up => &mut self.up,
            Target::Down => &mut self.down,
        }
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
    /// Quantized copies of every block projection (`[layer][target]`) and of the output head,
    /// used for single-token decoding steps (memory-bound), when [`Llama::quantize_for_decode`]
    /// made them; prefill keeps the f32 GEMM.
    decode: Option<(Vec<Vec<QMatMul>>, QMatMul)>,
}

impl Llama {
    /// Builds the model from Hugging Face-named tensors (`model.layers.{i}.self_attn.q_proj.weight`, …).
    ///
    /// Errors: a missing tensor (named) or a shape that disagrees with `config`.
    pub fn from_tensors(config: &LlamaConfig, tensors: &HashMap<String, Tensor>) -> Result<Self> {
        let get = |name: &str| -> Result<Tensor> {
            tensors
                .get(name)
                .cloned()
                .ok_or_else(|| LmError::Weights(format!("missing weight `{name}`")))
        };
        let embed = get("model.embed_tokens.weight")?;
        if embed.dims() != [config.vocab_size, config.hidden_size] {
            return Err(LmError::Weights(format!(
                "embedding is {:?}, config says ({}, {})",
                embed.dims(),
                config.vocab_size,
                config.hidden_size
            )));
        }
        let blocks = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("model.layers.{i}");
                Ok(Block {
                    input_norm: get(&format!("{p}.input_layernorm.weight"))?,
                    q: get(&format!("{p}.self_attn.q_proj.weight"))?,
                    k: get(&format!("{p}.self_attn.k_proj.weight"))?,
                    v: get(&format!("{p}.self_attn.v_proj.weight"))?,
                    o: get(&format!("{p}.self_attn.o_proj.weight"))?,
                    post_norm: get(&format!("{p}.post_attention_layernorm.weight"))?,
                    gate: get(&format!("{p}.mlp.gate_proj.weight"))?,
                    up: get(&format!("{p}.mlp.up_proj.weight"))?,
                    down: get(&format!("{p}.mlp.down_proj.weight"))?,
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
            embed,
            blocks,
            lm_head,
            inv_freq,
            decode: None,
        })
    }

    /// Makes `dtype`-quantized copies (e.g. Q8_0) of every projection and of the output head for
    /// single-token decoding. Call after [`Llama::merge_lora`]; the f32 weights stay for prefill.
    pub fn quantize_for_decode(&mut self, dtype: GgmlDType) -> Result<()> {
        let q = |w: &Tensor| -> Result<QMatMul> {
            Ok(QMatMul::from_qtensor(QTensor::quantize(w, dtype)?)?)
        };
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                Target::ALL
                    .iter()
                    .map(|&t| q(b.weight(t)))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let head = q(self.lm_head.as_ref().unwrap_or(&self.embed))?;
        self.decode = Some((blocks, head));
        Ok(())
    }

    /// Hidden states `(N, d_model)` → logits over the model's own vocabulary `(N, vocab)`
    /// (the quantized head when decoding one position with quantized weights).
    pub fn head_logits(&self, h: &Tensor) -> Result<Tensor> {
        match &self.decode {
            Some((_, head)) if h.dim(0)? == 1 => Ok(head.forward(h)?),
            _ => linear(h, self.lm_head.as_ref().unwrap_or(&self.embed)),
        }
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

    /// `(out, in)` weight of `target` in block `layer` (for LoRA shapes and merging).
    pub fn block_weight(&self, layer: usize, target: Target) -> &Tensor {
        self.blocks[layer].weight(target)
    }

    /// Replaces every adapted weight by `W + (α/r)·B·A`, so inference runs without adapters.
    pub fn merge_lora(&mut self, lora: &Lora) -> Result<()> {
        for (i, blk) in self.blocks.iter_mut().enumerate() {
            for t in Target::ALL {
                if let Some(ad) = lora.get(i, t) {
                    let w = lora.merged(ad, blk.weight(t))?;
                    *blk.weight_mut(t) = w;
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
        for (i, blk) in self.blocks.iter().enumerate() {
            let p = format!("model.layers.{i}");
            out.push((
                format!("{p}.input_layernorm.weight"),
                blk.input_norm.clone(),
            ));
            out.push((
                format!("{p}.post_attention_layernorm.weight"),
                blk.post_norm.clone(),
            ));
            for t in Target::ALL {
                out.push((format!("{p}.{}.weight", t.hf_name()), blk.weight(t).clone()));
            }
        }
        out
    }

    /// Input embeddings `(B, T, d_model)` → final hidden states after the last RMSNorm,
    /// `(B, T, d_model)`, with LoRA adapters applied when given.
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
        let (cos, sin) = self.rope_tables(offset, t)?;
        let mask = causal_mask(t, offset, x.device())?;
        let mut h = x.clone();
        for (i, blk) in self.blocks.iter().enumerate() {
            let slot = cache.as_mut().map(|c| &mut c.layers[i]);
            h = self.block(i, blk, &h, &cos, &sin, &mask, slot, lora)?;
        }
        rms_norm(&h, &self.norm, self.config.rms_norm_eps)
    }

    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        layer: usize,
        blk: &Block,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: &Tensor,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        lora: Option<&Lora>,
    ) -> Result<Tensor> {
        // x·Wᵀ, plus the adapter's update when block `layer` has one on `t`; one position at a
        // time through the quantized copy when there is one.
        let single = x.dim(0)? * x.dim(1)? == 1;
        let proj = |x: &Tensor, t: Target| -> Result<Tensor> {
            if let (true, Some((q, _))) = (single, &self.decode) {
                return Ok(q[layer][t as usize].forward(x)?);
            }
            let y = linear(x, blk.weight(t))?;
            match lora.and_then(|l| l.get(layer, t).map(|a| (l, a))) {
                Some((l, a)) => Ok((y + l.delta(a, x)?)?),
                None => Ok(y),
            }
        };
        let c = &self.config;
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim());
        let h = rms_norm(x, &blk.input_norm, c.rms_norm_eps)?;
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
        let q = rope(&q, cos, sin)?;
        let k = rope(&k, cos, sin)?;
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
        let h = rms_norm(&x, &blk.post_norm, c.rms_norm_eps)?;
        let g = proj(&h, Target::Gate)?;
        let u = proj(&h, Target::Up)?;
        let m = (candle_nn::ops::silu(&g)? * u)?;
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
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let inp = *dims.last().expect("rank ≥ 1");
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let x2 = x.reshape((rows, inp))?;
    let y = if x.track_op() && !w.track_op() && x.device().is_cpu() {
        x2.contiguous()?.apply_op1(FrozenLinear { w: w.clone() })?
    } else {
        x2.matmul(&w.t()?)?
    };
    let mut out = dims;
    *out.last_mut().expect("rank ≥ 1") = w.dim(0)?;
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
        let dy = (&y - &reference)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(dy < 1e-5, "value differs by {dy}");
        let g = (y * &probe).unwrap().sum_all().unwrap().backward().unwrap();
        let gx = g.get(x.as_tensor()).unwrap();
        let want = probe.broadcast_matmul(&w).unwrap();
        let dg = (gx - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(dg < 1e-5, "∂x differs by {dg}");
        assert!(g.get(&w).is_none(), "no gradient for the frozen weight");
    }
}
