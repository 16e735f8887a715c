//! The motion vocabulary: K + 3 tokens (`<motion_id_0..K-1>`, start `<motion_id_K>`, end
//! `<motion_id_K+1>`, mask `<motion_id_K+2>`) appended after the text vocabulary, whose
//! embedding rows start as the DVQ codebook through a fixed sparse random projection, and the
//! orthonormal regulariser that keeps their geometry during fine-tuning.
//!
//! Reference: JYe16/GeoMotionGPT `llm_train.py` (`create_sparse_projection`, codebook init),
//! `motGPT/archs/mgpt_lm.py` (token names), `motGPT/losses/orthogonal.py` (the loss). The
//! reference's loss indexes rows 0..K−1 of the full table, which are text tokens; here it is
//! computed on the K code rows of the motion table.

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::error::Result;

/// Sparsity of the projection: each entry is non-zero with probability 1/s (reference: s = 10,
/// from `sparsity = 0.9`).
pub const PROJECTION_S: f64 = 10.0;

/// The sparse random projection `P (D, d_model)` (Li, Hastie & Church 2006, as the reference):
/// each entry independently non-zero with probability 1/s, with value ±√s / √D, so
/// E[P Pᵀ] = (d_model / D)·I and inner products between codebook rows survive `C·P` up to scale.
pub fn sparse_projection(
    code_dim: usize,
    d_model: usize,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let mut rng = StdRng::seed_from_u64(seed);
    let v = (PROJECTION_S.sqrt() / (code_dim as f64).sqrt()) as f32;
    let p = 1.0 / PROJECTION_S;
    let data: Vec<f32> = (0..code_dim * d_model)
        .map(|_| {
            let keep = rng.random::<f64>() < p;
            let sign = if rng.random::<bool>() { v } else { -v };
            if keep { sign } else { 0.0 }
        })
        .collect();
    Ok(Tensor::from_vec(data, (code_dim, d_model), device)?)
}

/// Initial motion rows `(K + 3, d_model)`: rows 0..K are `C·P` rescaled to the mean L2 norm of
/// the text embedding rows; the three special rows are N(mean, std²) of the text embedding's
/// entries (as `mgpt_lm.py` initialises every added token), drawn with `seed`.
///
/// `codebook (K, D)`, `projection (D, d_model)`, `text_embed (V, d_model)`.
pub fn initial_rows(
    codebook: &Tensor,
    projection: &Tensor,
    text_embed: &Tensor,
    seed: u64,
) -> Result<Tensor> {
    let projected = codebook.to_dtype(DType::F32)?.matmul(projection)?; // (K, d)
    let mean_norm = text_embed
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .mean_all()?
        .to_scalar::<f32>()?;
    let norms = (projected.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-8)?;
    let rows = (projected.broadcast_div(&norms)? * mean_norm as f64)?;
    let flat = text_embed.flatten_all()?;
    let mean = flat.mean_all()?.to_scalar::<f32>()?;
    let var = flat
        .broadcast_sub(&Tensor::new(mean, flat.device())?)?
        .sqr()?
        .mean_all()?
        .to_scalar::<f32>()?;
    let std = var.sqrt();
    let d = text_embed.dim(1)?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5EC1A1);
    let special: Vec<f32> = (0..3 * d)
        .map(|_| {
            // Box–Muller on the seeded generator.
            let u1: f32 = rng.random_range(f32::EPSILON..1.0);
            let u2: f32 = rng.random();
            mean + std * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect();
    let special = Tensor::from_vec(special, (3, d), text_embed.device())?;
    Ok(Tensor::cat(&[rows, special], 0)?)
}

/// Orthonormal regulariser on `rows (n, d)`: with Ê the L2-normalised rows and G = Ê Êᵀ,
/// Σ (G − I)² / (n (n − 1)), the mean squared cosine over off-diagonal pairs (the diagonal of
/// G − I is 0 up to rounding). Reference: `motGPT/losses/orthogonal.py`.
pub fn ortho_loss(rows: &Tensor) -> Result<Tensor> {
    let n = rows.dim(0)?;
    let g = gram(rows)?;
    let eye = Tensor::eye(n, DType::F32, rows.device())?;
    Ok(((g - eye)?.sqr()?.sum_all()? / (n * (n - 1).max(1)) as f64)?)
}

/// Gram matrix of the L2-normalised rows, `(n, d)` → `(n, n)` cosines.
pub fn gram(rows: &Tensor) -> Result<Tensor> {
    let norms = (rows.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-8)?;
    let e = rows.broadcast_div(&norms)?;
    Ok(e.matmul(&e.t()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_inner_products_on_average() {
        let dev = Device::Cpu;
        let p = sparse_projection(256, 576, 7, &dev).unwrap();
        let ppt = p.matmul(&p.t().unwrap()).unwrap().to_vec2::<f32>().unwrap();
        let expect = 576.0 / 256.0;
        let diag: f32 = (0..256).map(|i| ppt[i][i]).sum::<f32>() / 256.0;
        let off: f32 = (0..256)
            .flat_map(|i| (0..256).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| ppt[i][j].abs())
            .sum::<f32>()
            / (256.0 * 255.0);
        assert!(
            (diag / expect - 1.0).abs() < 0.1,
            "mean diagonal {diag}, expected {expect}"
        );
        assert!(off < 0.3 * expect, "mean |off-diagonal| {off}");
        let nnz = p
            .ne(0f32)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((nnz - 0.1).abs() < 0.01, "density {nnz}");
    }

    #[test]
    fn ortho_loss_is_zero_for_orthonormal_rows_and_positive_otherwise() {
        let dev = Device::Cpu;
        let eye = Tensor::eye(8, DType::F32, &dev).unwrap();
        assert!(ortho_loss(&eye).unwrap().to_scalar::<f32>().unwrap() < 1e-10);
        let same = Tensor::ones((4, 8), DType::F32, &dev).unwrap();
        let l = ortho_loss(&same).unwrap().to_scalar::<f32>().unwrap();
        assert!(
            (l - 1.0).abs() < 1e-5,
            "identical rows: every cosine is 1, loss {l}"
        );
    }
}
