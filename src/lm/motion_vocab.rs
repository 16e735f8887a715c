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
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde::{Deserialize, Serialize};

use super::error::{LmError, Result};

/// Which projection `P (D, d_model)` carries the codebook into the LM's embedding space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProjectionKind {
    /// [`sparse_projection`]: the reference code's `create_sparse_projection` (inner products
    /// kept in expectation). Every captioner trained before the choice existed uses it.
    #[value(help = "the reference code's sparse random projection (default)")]
    #[default]
    Sparse,
    /// [`selection_projection`]: the paper's selection matrix, distinct random unit basis
    /// vectors (P Pᵀ = I: the codebook's Gram matrix is kept exactly).
    #[value(help = "the paper's selection matrix: the codebook's Gram matrix kept exactly")]
    Selection,
    /// No projection, the paper's ablation "random init": every motion row is drawn like the
    /// special rows ([`random_rows`]) and the codebook's geometry is not used; P is all zeros.
    #[value(help = "no projection: motion rows drawn at random (the paper's ablation)")]
    None,
    /// The paper's ablation "learned linear projection": the code rows are `C·W` throughout
    /// training, `W (D, d_model)` learnt (starting as the sparse projection scaled to the text
    /// embedding's mean norm), so they stay a linear image of the codebook; the three special
    /// rows are free. Every other kind trains the rows themselves.
    #[value(help = "the paper's ablation: code rows = codebook · W with W learnt")]
    Linear,
}

/// The projection of `kind` (see [`ProjectionKind`]), seeded with `seed`.
///
/// Errors: a selection with `code_dim > d_model` (no `code_dim` distinct basis vectors).
pub fn projection(
    kind: ProjectionKind,
    code_dim: usize,
    d_model: usize,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    match kind {
        ProjectionKind::Sparse | ProjectionKind::Linear => {
            sparse_projection(code_dim, d_model, seed, device)
        }
        ProjectionKind::Selection => selection_projection(code_dim, d_model, seed, device),
        ProjectionKind::None => Ok(Tensor::zeros((code_dim, d_model), DType::F32, device)?),
    }
}

/// The selection projection `P (D, d_model)` of the GeoMotionGPT paper: row i is the unit basis
/// vector e_σ(i), σ a random injection of the D code dimensions into the d_model embedding
/// dimensions (seeded), so P Pᵀ = I_D and `C·P` has exactly the inner products, norms and Gram
/// matrix of the codebook C: an isometry, where [`sparse_projection`] keeps them only in
/// expectation. (The paper writes P ∈ {0,1}^(D'×D) with PᵀP = I; this is its transpose.)
///
/// Errors: `code_dim > d_model`.
pub fn selection_projection(
    code_dim: usize,
    d_model: usize,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    if code_dim > d_model {
        return Err(LmError::Data(format!(
            "a selection projection needs code dim ≤ model width ({code_dim} > {d_model})"
        )));
    }
    let mut columns: Vec<usize> = (0..d_model).collect();
    columns.shuffle(&mut StdRng::seed_from_u64(seed));
    let mut data = vec![0f32; code_dim * d_model];
    for (i, &c) in columns[..code_dim].iter().enumerate() {
        data[i * d_model + c] = 1.0;
    }
    Ok(Tensor::from_vec(data, (code_dim, d_model), device)?)
}

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
    Ok(Tensor::cat(&[rows, random_rows(text_embed, 3, seed)?], 0)?)
}

/// `n` rows `(n, d_model)` drawn from N(mean, std²) of the text embedding's entries, as
/// `mgpt_lm.py` initialises every added token (the three special rows; every motion row with
/// [`ProjectionKind::None`]), with `seed`.
pub fn random_rows(text_embed: &Tensor, n: usize, seed: u64) -> Result<Tensor> {
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
    let values: Vec<f32> = (0..n * d)
        .map(|_| {
            // Box–Muller on the seeded generator.
            let u1: f32 = rng.random_range(f32::EPSILON..1.0);
            let u2: f32 = rng.random();
            mean + std * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect();
    Ok(Tensor::from_vec(values, (n, d), text_embed.device())?)
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

/// The regulariser on the motion rows during fine-tuning (`train lm --geometry-loss`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GeometryLoss {
    /// [`ortho_loss`], the paper's: off-diagonal cosines pushed to 0 (squared).
    #[value(help = "off-diagonal cosines squared, pushed to 0 (the paper's)")]
    #[default]
    Orthonormal,
    /// [`pairwise_cosine_loss`], the authors' ablation: the mean off-diagonal cosine pushed
    /// down (towards −1/(n−1), the rows spread apart rather than orthogonal).
    #[value(help = "the mean off-diagonal cosine, pushed down (the authors' ablation)")]
    PairwiseCosine,
}

impl GeometryLoss {
    /// The loss of `rows (n, d)`.
    pub fn of(self, rows: &Tensor) -> Result<Tensor> {
        match self {
            Self::Orthonormal => ortho_loss(rows),
            Self::PairwiseCosine => pairwise_cosine_loss(rows),
        }
    }
}

/// Mean off-diagonal cosine of `rows (n, d)`: Σ_{i≠j} cos(r_i, r_j) / (n (n − 1)). Reference:
/// JYe16/GeoMotionGPT `compute_motion_pairwise_cosine_distance_loss` (`off_diag.mean()` of the
/// normalised rows' Gram matrix), its ablation of the orthonormal loss.
pub fn pairwise_cosine_loss(rows: &Tensor) -> Result<Tensor> {
    let n = rows.dim(0)?;
    let g = gram(rows)?;
    let trace = Tensor::eye(n, DType::F32, rows.device())?
        .mul(&g)?
        .sum_all()?;
    let off_diagonal = (g.sum_all()? - trace)?;
    Ok((off_diagonal / (n * (n - 1).max(1)) as f64)?)
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

    /// The selection projection is an isometry: P Pᵀ = I, and the projected codebook has the
    /// codebook's Gram matrix (and norms) exactly; distinct seeds pick distinct columns; a code
    /// wider than the model is refused.
    #[test]
    fn selection_projection_keeps_the_gram_matrix_exactly() {
        let dev = Device::Cpu;
        let p = selection_projection(48, 80, 5, &dev).unwrap();
        let ppt = p.matmul(&p.t().unwrap()).unwrap();
        let eye = Tensor::eye(48, DType::F32, &dev).unwrap();
        let gap = crate::testdata::max_abs_diff;
        assert_eq!(gap(&ppt, &eye), 0.0);
        let ones: Vec<f32> = p.sum(1).unwrap().to_vec1().unwrap();
        assert!(ones.iter().all(|v| *v == 1.0));
        let c = Tensor::randn(0f32, 1.0, (32, 48), &dev).unwrap();
        let cp = c.matmul(&p).unwrap();
        let raw = |x: &Tensor| x.matmul(&x.t().unwrap()).unwrap();
        // C·P is C with its columns moved, bit for bit (times 1, plus zeros), so the inner
        // products agree up to the order of the f32 sums (values ~50 here).
        let moved = cp.matmul(&p.t().unwrap()).unwrap();
        assert_eq!(moved.to_vec2::<f32>().unwrap(), c.to_vec2::<f32>().unwrap());
        assert!(gap(&raw(&cp), &raw(&c)) < 1e-4);
        assert!(gap(&gram(&cp).unwrap(), &gram(&c).unwrap()) < 1e-6);
        let other = selection_projection(48, 80, 6, &dev).unwrap();
        assert_ne!(p.to_vec2::<f32>().unwrap(), other.to_vec2::<f32>().unwrap());
        assert!(selection_projection(81, 80, 5, &dev).is_err());
        // The config's default is the reference code's projection, as every saved captioner's.
        assert_eq!(ProjectionKind::default(), ProjectionKind::Sparse);
        let a = projection(ProjectionKind::Selection, 48, 80, 5, &dev).unwrap();
        assert_eq!(a.to_vec2::<f32>().unwrap(), p.to_vec2::<f32>().unwrap());
    }

    /// The pairwise-cosine ablation: 0 for orthonormal rows, 1 for identical ones, −1/(n−1) for
    /// the vertices of a regular simplex (the spread it pushes towards).
    #[test]
    fn pairwise_cosine_loss_is_the_mean_off_diagonal_cosine() {
        let dev = Device::Cpu;
        let loss = |t: &Tensor| pairwise_cosine_loss(t).unwrap().to_scalar::<f32>().unwrap();
        let eye = Tensor::eye(6, DType::F32, &dev).unwrap();
        assert!(loss(&eye).abs() < 1e-6);
        let same = Tensor::ones((4, 8), DType::F32, &dev).unwrap();
        assert!((loss(&same) - 1.0).abs() < 1e-5);
        // Centred basis vectors of R^4: a regular simplex of 4 points, cosines −1/3.
        let simplex = (Tensor::eye(4, DType::F32, &dev).unwrap() - 0.25).unwrap();
        assert!((loss(&simplex) + 1.0 / 3.0).abs() < 1e-5);
        // By hand for two rows: cos((1, 0), (1, 1)) = 1/√2.
        let two = Tensor::new(&[[1f32, 0.0], [1.0, 1.0]], &dev).unwrap();
        assert!((loss(&two) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5);
        assert_eq!(
            GeometryLoss::PairwiseCosine
                .of(&two)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            loss(&two)
        );
        assert_eq!(GeometryLoss::default(), GeometryLoss::Orthonormal);
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
