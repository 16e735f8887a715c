//! Tokenizer metrics on a corpus split: reconstruction error (normalized MSE, MPJPE), code usage
//! and codebook geometry. `geomotion eval dvq` prints them as JSON.

use std::path::Path;

use serde::Serialize;

use super::error::{DvqError, Result};
use super::tokenizer::Tokenizer;
use crate::motion::layout::ROOT;
use crate::motion::{Dataset, Features, Split};

/// Metrics of a tokenizer over whole clips of one split.
#[derive(Clone, Debug, Serialize)]
pub struct DvqMetrics {
    pub split: String,
    pub clips: usize,
    /// Frames scored (each clip cut to a multiple of 8 frames).
    pub frames: usize,
    /// Clips shorter than one code, left out.
    pub skipped_short: usize,
    /// MSE between normalized features and their reconstruction.
    pub recon_mse_normalized: f64,
    /// Mean over joints and frames of ‖p̂ − p‖ in millimetres, global positions from
    /// `recover_from_ric` of each, no alignment.
    pub mpjpe_mm: f64,
    /// The same after subtracting each frame's root (pelvis) position.
    pub mpjpe_root_relative_mm: f64,
    /// Global MPJPE of the reconstruction with the ground truth's 4 root channels (yaw and xz
    /// velocity, height) put back: the pose error without the integrated trajectory drift.
    pub mpjpe_gt_root_mm: f64,
    /// How often each code was chosen over the split, `(K,)`.
    pub usage: Vec<u64>,
    /// exp(entropy) of the usage distribution.
    pub perplexity: f64,
    /// Percentage of the K codes used at least once.
    pub codes_used_pct: f64,
    /// Codes never chosen.
    pub dead_codes: Vec<usize>,
    /// ‖G − I‖_F of the Gram matrix G of the row-normalized codebook.
    pub gram_minus_identity_fro: f64,
    /// Mean |cos| between distinct codes.
    pub mean_abs_offdiag_cosine: f64,
}

/// Runs the tokenizer over every clip of `split` in the corpus at `data`.
///
/// `progress(done, total)` is called after each clip.
pub fn evaluate(
    tok: &Tokenizer,
    data: &Path,
    split: Split,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DvqMetrics> {
    let ds = Dataset::open(data)?;
    let ids = ds.split_ids(split);
    let k = tok.nb_code();
    let q = tok.frames_per_code();
    let norm = tok.normalizer();
    let mut usage = vec![0u64; k];
    let (mut se, mut n_feat) = (0.0f64, 0usize);
    let (mut err, mut err_rel, mut err_gt_root, mut n_joint) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    let (mut clips, mut frames, mut skipped) = (0, 0, 0);
    for (i, id) in ids.iter().enumerate() {
        let f = Features::load(&ds.features_path(id))?;
        let t8 = f.frames() / q * q;
        if t8 == 0 {
            skipped += 1;
            continue;
        }
        if f.width() != tok.width() {
            return Err(DvqError::Data(format!(
                "{}: {}-d features, the tokenizer reads {}-d ones",
                ds.features_path(id).display(),
                f.width(),
                tok.width()
            )));
        }
        let skeleton = f.skeleton();
        let (w, nj) = (f.width(), skeleton.n_joints());
        let gt = &f.as_slice()[..t8 * w];
        let (codes, rec) = tok.reconstruct(gt)?;
        for c in &codes {
            usage[*c as usize] += 1;
        }
        let (mut a, mut b) = (gt.to_vec(), rec.clone());
        norm.normalize(&mut a);
        norm.normalize(&mut b);
        se += a
            .iter()
            .zip(&b)
            .map(|(x, y)| ((x - y) as f64).powi(2))
            .sum::<f64>();
        n_feat += a.len();
        let pg = skeleton.joints_in_metres(gt);
        let pr = skeleton.joints_in_metres(&rec);
        let mut rec_gt_root = rec;
        for (r, g) in rec_gt_root.chunks_exact_mut(w).zip(gt.chunks_exact(w)) {
            r[ROOT].copy_from_slice(&g[ROOT]);
        }
        let pq = skeleton.joints_in_metres(&rec_gt_root);
        for ((fg, fr), fq) in pg
            .chunks_exact(nj)
            .zip(pr.chunks_exact(nj))
            .zip(pq.chunks_exact(nj))
        {
            err += frame_error(fg, fr, false);
            err_gt_root += frame_error(fg, fq, false);
            err_rel += frame_error(fg, fr, true);
            n_joint += nj;
        }
        clips += 1;
        frames += t8;
        progress(i + 1, ids.len());
    }
    let (perplexity, codes_used_pct, dead) = usage_stats(&usage);
    let (fro, mean_off) = gram_stats(&tok.gram()?, k);
    Ok(DvqMetrics {
        split: split.name().to_string(),
        clips,
        frames,
        skipped_short: skipped,
        recon_mse_normalized: se / n_feat.max(1) as f64,
        mpjpe_mm: 1000.0 * err / n_joint.max(1) as f64,
        mpjpe_root_relative_mm: 1000.0 * err_rel / n_joint.max(1) as f64,
        mpjpe_gt_root_mm: 1000.0 * err_gt_root / n_joint.max(1) as f64,
        codes_used_pct,
        dead_codes: dead,
        usage,
        perplexity,
        gram_minus_identity_fro: fro,
        mean_abs_offdiag_cosine: mean_off,
    })
}

/// Code usage `(K,)` counts → (perplexity = exp(entropy), % of codes used, dead code ids).
pub fn usage_stats(usage: &[u64]) -> (f64, f64, Vec<usize>) {
    let total: u64 = usage.iter().sum();
    let entropy: f64 = usage
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total.max(1) as f64;
            -p * p.ln()
        })
        .sum();
    let dead: Vec<usize> = (0..usage.len()).filter(|&c| usage[c] == 0).collect();
    let used = 100.0 * (usage.len() - dead.len()) as f64 / usage.len().max(1) as f64;
    (entropy.exp(), used, dead)
}

/// A `(K, K)` row-major Gram matrix of cosines → (‖G − I‖_F, mean |off-diagonal|).
pub fn gram_stats(g: &[f32], k: usize) -> (f64, f64) {
    let (mut fro, mut off, mut n_off) = (0.0f64, 0.0f64, 0usize);
    for r in 0..k {
        for c in 0..k {
            let v = g[r * k + c] as f64;
            let e = if r == c { v - 1.0 } else { v };
            fro += e * e;
            if r != c {
                off += v.abs();
                n_off += 1;
            }
        }
    }
    (fro.sqrt(), off / n_off.max(1) as f64)
}

/// Per-frame MPJPE in millimetres between `(T, J, 3)` joint positions (metres) of `n_joints`
/// joints, global, no alignment; `T` is the shorter of the two.
pub fn per_frame_mpjpe_mm(gt: &[[f32; 3]], rec: &[[f32; 3]], n_joints: usize) -> Vec<f32> {
    per_frame_mm(gt, rec, n_joints, false)
}

/// Per-frame root-relative MPJPE in millimetres: as [`per_frame_mpjpe_mm`] after subtracting each
/// frame's root (joint 0, the pelvis) from both; the pose error without the trajectory drift that
/// the global figure integrates from the root velocities (the `mpjpe_root_relative_mm` of
/// [`DvqMetrics`], frame by frame).
pub fn per_frame_root_relative_mpjpe_mm(
    gt: &[[f32; 3]],
    rec: &[[f32; 3]],
    n_joints: usize,
) -> Vec<f32> {
    per_frame_mm(gt, rec, n_joints, true)
}

fn per_frame_mm(
    gt: &[[f32; 3]],
    rec: &[[f32; 3]],
    n_joints: usize,
    root_relative: bool,
) -> Vec<f32> {
    gt.chunks_exact(n_joints)
        .zip(rec.chunks_exact(n_joints))
        .map(|(fg, fr)| (1000.0 * frame_error(fg, fr, root_relative) / n_joints as f64) as f32)
        .collect()
}

/// Sum over one frame's joints of the distance (metres) between `fg` and `fr`, each frame's root
/// (joint 0) subtracted from its own joints first when `root_relative`.
fn frame_error(fg: &[[f32; 3]], fr: &[[f32; 3]], root_relative: bool) -> f64 {
    if root_relative {
        fg.iter()
            .zip(fr)
            .map(|(g, r)| dist(&sub(g, &fg[0]), &sub(r, &fr[0])))
            .sum()
    } else {
        fg.iter().zip(fr).map(|(g, r)| dist(g, r)).sum()
    }
}

fn sub(a: &[f32; 3], b: &[f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dist(a: &[f32; 3], b: &[f32; 3]) -> f64 {
    let d = sub(a, b);
    ((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_relative_mpjpe_drops_the_drift_and_keeps_the_pose_error() {
        // Two frames of a 3-joint skeleton; the reconstruction drifts 1 m, then 2 m along x, and
        // in the second frame its last joint is also 30 mm off in y.
        let gt = [
            [0.0, 1.0, 0.0],
            [0.0, 1.5, 0.0],
            [0.2, 1.0, 0.0],
            [1.0, 1.0, 0.0],
            [1.0, 1.5, 0.0],
            [1.2, 1.0, 0.0],
        ];
        let mut rec = gt;
        for (f, drift) in [(0, 1.0), (1, 2.0)] {
            for j in 0..3 {
                rec[f * 3 + j][0] += drift;
            }
        }
        rec[5][1] += 0.03;
        let global = per_frame_mpjpe_mm(&gt, &rec, 3);
        let rel = per_frame_root_relative_mpjpe_mm(&gt, &rec, 3);
        assert!((global[0] - 1000.0).abs() < 1e-3, "{global:?}");
        assert!(global[1] > 2000.0, "{global:?}");
        assert!(rel[0].abs() < 1e-3, "{rel:?}");
        assert!((rel[1] - 10.0).abs() < 1e-3, "{rel:?}");
    }
}
