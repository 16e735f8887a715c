//! R-Precision, MM-Dist and FID as the field computes them, following the T2M evaluation code
//! (EricGuo5513/text-to-motion `utils/metrics.py` and `motion_loaders`/`eval_t2m`):
//!
//! - the clips are shuffled and cut into batches of 32 (the last, incomplete batch dropped); in
//!   each batch the Euclidean distance matrix between the 32 text and the 32 motion embeddings
//!   is formed; R@k is the fraction of texts whose own motion is among the k nearest;
//!   MM-Dist the mean distance between matched text and motion;
//! - this is repeated over `repeats` shuffles (the field uses 20) and reported as mean and the
//!   95 % confidence half-width 1.96·σ/√repeats;
//! - FID = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) of the motion embeddings, covariances with
//!   `ddof = 1` as `np.cov`.
//!
//! Our embeddings are L2-normalised (TMR), so distances lie in [0, 2]: MM-Dist and FID are on a
//! different scale from numbers computed with the T2M evaluator and comparable only with each
//! other.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

/// Batch size of the field's R-Precision.
pub const R_PRECISION_BATCH: usize = 32;
/// Shuffles averaged for R-Precision and MM-Dist (T2M's `replication_times`).
pub const FIELD_REPEATS: usize = 20;

/// Mean and 95 % confidence half-width over repeats.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct MeanCi {
    pub mean: f64,
    pub ci95: f64,
}

impl MeanCi {
    fn of(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Self {
            mean,
            ci95: 1.96 * var.sqrt() / n.sqrt(),
        }
    }
}

/// R@1, R@2, R@3 and MM-Dist over `n` clips.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MatchingScores {
    pub n: usize,
    pub repeats: usize,
    pub r_precision: [MeanCi; 3],
    pub mm_dist: MeanCi,
}

/// Euclidean distance of two embeddings, in f64.
pub(crate) fn dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// R-Precision (top 1–3 in batches of 32) and MM-Dist of paired `text[i]` / `motion[i]`
/// embeddings, over `repeats` seeded shuffles. `None` when there are fewer than 32 pairs.
pub fn matching_scores(
    text: &[Vec<f32>],
    motion: &[Vec<f32>],
    repeats: usize,
    seed: u64,
) -> Option<MatchingScores> {
    let n = text.len().min(motion.len());
    let batches = n / R_PRECISION_BATCH;
    if batches == 0 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut r, mut mm) = ([vec![], vec![], vec![]], vec![]);
    for _ in 0..repeats.max(1) {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let (mut top, mut matched, mut all) = ([0usize; 3], 0.0, 0usize);
        for chunk in order.chunks_exact(R_PRECISION_BATCH) {
            for (row, &i) in chunk.iter().enumerate() {
                let d: Vec<f64> = chunk.iter().map(|&j| dist(&text[i], &motion[j])).collect();
                matched += d[row];
                // Rank of the true motion: how many others are strictly nearer.
                let rank = d.iter().filter(|&&x| x < d[row]).count();
                for (k, t) in top.iter_mut().enumerate() {
                    *t += usize::from(rank <= k);
                }
                all += 1;
            }
        }
        for k in 0..3 {
            r[k].push(top[k] as f64 / all as f64);
        }
        mm.push(matched / all as f64);
    }
    Some(MatchingScores {
        n,
        repeats: repeats.max(1),
        r_precision: [MeanCi::of(&r[0]), MeanCi::of(&r[1]), MeanCi::of(&r[2])],
        mm_dist: MeanCi::of(&mm),
    })
}

/// Mean and covariance (`ddof = 1`) of `(N, E)` embeddings.
fn statistics(x: &[Vec<f32>]) -> (DVector<f64>, DMatrix<f64>) {
    let (n, e) = (x.len(), x.first().map_or(0, |v| v.len()));
    let m = DMatrix::from_fn(n, e, |i, j| x[i][j] as f64);
    let mu = DVector::from_fn(e, |j, _| m.column(j).mean());
    let centred = DMatrix::from_fn(n, e, |i, j| m[(i, j)] - mu[j]);
    let cov = centred.transpose() * &centred / (n.max(2) - 1) as f64;
    (mu, cov)
}

/// Fréchet distance between the Gaussians fitted to embeddings `a` and `b` (`(N, E)` each,
/// N ≥ 2). `Tr((Σ₁Σ₂)^½)` is computed as the sum of square roots of the eigenvalues of the
/// symmetric `Σ₁^½ Σ₂ Σ₁^½`, which has the same spectrum.
pub fn fid(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    let (mu1, s1) = statistics(a);
    let (mu2, s2) = statistics(b);
    let eig = SymmetricEigen::new(s1.clone());
    let sqrt_vals = eig.eigenvalues.map(|v| v.max(0.0).sqrt());
    let s1_half =
        &eig.eigenvectors * DMatrix::from_diagonal(&sqrt_vals) * eig.eigenvectors.transpose();
    let inner = &s1_half * &s2 * &s1_half;
    let inner = (&inner + inner.transpose()) * 0.5;
    let tr_covmean: f64 = SymmetricEigen::new(inner)
        .eigenvalues
        .iter()
        .map(|v| v.max(0.0).sqrt())
        .sum();
    (mu1 - mu2).norm_squared() + s1.trace() + s2.trace() - 2.0 * tr_covmean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_pairs_rank_first_and_fid_of_a_set_with_itself_is_zero() {
        let emb: Vec<Vec<f32>> = (0..64)
            .map(|i| {
                let a = i as f32 * 0.37;
                vec![a.cos(), a.sin(), (2.0 * a).cos()]
            })
            .collect();
        let s = matching_scores(&emb, &emb, 3, 0).unwrap();
        assert_eq!(s.n, 64);
        assert!((s.r_precision[0].mean - 1.0).abs() < 1e-12);
        assert!(s.mm_dist.mean.abs() < 1e-12);
        assert!(fid(&emb, &emb).abs() < 1e-9);
        // A shifted copy: FID is the squared shift (covariances equal).
        let shifted: Vec<Vec<f32>> = emb.iter().map(|v| vec![v[0] + 0.5, v[1], v[2]]).collect();
        assert!((fid(&emb, &shifted) - 0.25).abs() < 1e-6);
        assert!(matching_scores(&emb[..31], &emb[..31], 1, 0).is_none());
    }

    #[test]
    fn fid_matches_the_closed_form_for_diagonal_gaussians() {
        // Two sets with diagonal sample covariances diag(a²) and diag(b²) (±a, ±b patterns):
        // FID = Σ (a − b)².
        let pts = |s: [f32; 2]| -> Vec<Vec<f32>> {
            [[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]
                .iter()
                .map(|p| vec![p[0] * s[0], p[1] * s[1]])
                .collect()
        };
        // np.cov with ddof 1 of ±a over 4 points: 4a²/3.
        let (a, b) = ([1.0f32, 2.0], [3.0f32, 0.5]);
        let expect: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| 4.0 / 3.0 * ((x - y) as f64).powi(2))
            .sum();
        assert!(
            (fid(&pts(a), &pts(b)) - expect).abs() < 1e-9,
            "{}",
            fid(&pts(a), &pts(b))
        );
    }
}
