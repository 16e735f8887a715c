//! Gumbel-Softmax quantization and the codebook losses (JYe16/GeoMotionGPT
//! `dvq/quantize_softgumbel.py`, `dvq_train.py::calculate_loss_ortho`).

use candle_core::{D, DType, Device, Tensor};
use candle_nn::ops::softmax;
use rand::{Rng, rngs::StdRng};

use super::error::Result;

/// Gumbel(0, 1) noise of `shape`: −ln(−ln u), u ~ U(0, 1), from a seeded generator.
pub fn gumbel_noise(shape: (usize, usize), rng: &mut StdRng, device: &Device) -> Result<Tensor> {
    let n = shape.0 * shape.1;
    let data: Vec<f32> = (0..n)
        .map(|_| {
            let u: f32 = rng.random_range(1e-10f32..1.0);
            -(-u.ln()).ln()
        })
        .collect();
    Ok(Tensor::from_vec(data, shape, device)?)
}

/// One-hot rows of the argmax of `(N, K)` scores, as f32.
pub fn one_hot_argmax(scores: &Tensor) -> Result<Tensor> {
    let k = scores.dim(D::Minus1)?;
    let idx = scores.argmax_keepdim(D::Minus1)?;
    let ids = Tensor::arange(0u32, k as u32, scores.device())?.unsqueeze(0)?;
    Ok(ids.broadcast_eq(&idx)?.to_dtype(DType::F32)?)
}

/// Straight-through estimator: the forward value of `hard`, the gradient of `soft`.
pub fn straight_through(hard: &Tensor, soft: &Tensor) -> Result<Tensor> {
    Ok((hard - soft.detach())?.add(soft)?)
}

/// `F.gumbel_softmax(logits, τ, hard=True)`: one-hot of argmax((logits + g)/τ) in the forward
/// pass, the gradient of softmax((logits + g)/τ). `logits` and `noise` are `(N, K)`.
pub fn gumbel_softmax_hard(logits: &Tensor, noise: &Tensor, tau: f64) -> Result<Tensor> {
    let soft = softmax(&((logits + noise)? / tau)?, D::Minus1)?;
    straight_through(&one_hot_argmax(&soft)?, &soft)
}

/// The reference's "clear" estimator: one-hot of argmax(logits) with the gradient of
/// softmax(logits/τ) (no noise).
pub fn clear_straight_through(logits: &Tensor, tau: f64) -> Result<Tensor> {
    let soft = softmax(&(logits / tau)?, D::Minus1)?;
    straight_through(&one_hot_argmax(logits)?, &soft)
}

/// Batch code-usage perplexity of `(N, K)` assignment rows: exp(−Σ_k m_k ln(m_k + 1e−7)),
/// m = mean over rows (reference `_calculate_perplexity`). A scalar tensor.
pub fn perplexity(assign: &Tensor) -> Result<Tensor> {
    let m = assign.mean(0)?;
    let h = (m.clone() * (m + 1e-7)?.log()?)?.sum_all()?.neg()?;
    Ok(h.exp()?)
}

/// L_ortho = mean((Ĉ Ĉᵀ − I)²) over all K² entries, Ĉ the row-normalized `(K, D)` codebook.
pub fn ortho_loss(codebook: &Tensor) -> Result<Tensor> {
    let g = gram(codebook)?;
    let k = g.dim(0)?;
    let eye = Tensor::eye(k, DType::F32, codebook.device())?;
    Ok((g - eye)?.sqr()?.mean_all()?)
}

/// Gram matrix Ĉ Ĉᵀ of the row-normalized `(K, D)` codebook (cosines between codes), `(K, K)`.
pub fn gram(codebook: &Tensor) -> Result<Tensor> {
    let norm = codebook
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    let cn = codebook.broadcast_div(&norm)?;
    Ok(cn.matmul(&cn.t()?)?)
}
