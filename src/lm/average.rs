//! Weight averaging of two checkpoints of one captioner: `(1 − w)·A + w·B`, tensor by tensor
//! (checkpoint averaging, Vaswani et al. 2017 §6.1; the weight-space ensembles of Wortsman et al.
//! 2022, "Robust fine-tuning of zero-shot models", WiSE-FT).
//!
//! The LoRA adapters are averaged as the weight changes they stand for: each target's
//! `ΔW = B·A` (`b (out, r)` times `a (r, in)`) is mixed exactly, `(1 − w)·ΔW_A + w·ΔW_B`, and cut
//! back to rank `r` by its SVD (`b = U_r·√S_r`, `a = √S_r·V_rᵀ`; the best rank-`r` approximation in
//! the Frobenius norm, Eckart–Young). Averaging the factors `a` and `b` separately would not mix
//! the two `ΔW`. Every other saved tensor (motion rows, projection, summary map) is mixed linearly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use nalgebra::DMatrix;
use serde::Serialize;

use super::error::{LmError, Result};
use super::train::{CONFIG_FILE, WEIGHTS_FILE, read_checkpoint};

/// What [`average_checkpoints`] wrote, also saved as `average.json` beside the weights.
#[derive(Clone, Debug, Serialize)]
pub struct AverageReport {
    pub a: PathBuf,
    pub b: PathBuf,
    /// `w`: the result is `(1 − w)·A + w·B`.
    pub weight_b: f64,
    /// LoRA targets mixed through their `ΔW`.
    pub lora_targets: usize,
    /// Largest relative Frobenius error of cutting a mixed `ΔW` back to the adapters' rank,
    /// `‖ΔW − ΔW_r‖ / ‖ΔW‖` (0 when both inputs are equal).
    pub worst_rank_cut: f64,
}

/// Writes `(1 − weight_b)·A + weight_b·B` of the captioner folders `a` and `b` into `out`:
/// `captioner.safetensors`, `b`'s `config.json` and nearest-take index files (`nearest.*`, when
/// present), and `average.json` ([`AverageReport`]). The result loads as any captioner; it holds
/// no optimiser state (a run cannot resume from it).
///
/// Errors: `out` is `a` or `b`, a folder that is not a captioner (naming its file), captioner
/// configs that differ (two different models: their weights do not average), tensor names or
/// shapes that differ, a `weight_b` outside [0, 1], or a write that fails.
pub fn average_checkpoints(a: &Path, b: &Path, weight_b: f64, out: &Path) -> Result<AverageReport> {
    if !(0.0..=1.0).contains(&weight_b) {
        return Err(LmError::format(
            out,
            format!("the weight of B must lie in [0, 1], got {weight_b}"),
        ));
    }
    // Writing into A or B would overwrite a checkpoint being read (and copying B's files onto
    // themselves truncates them).
    let same = |x: &Path| match (out.canonicalize(), x.canonicalize()) {
        (Ok(o), Ok(x)) => o == x,
        _ => false,
    };
    if same(a) || same(b) {
        return Err(LmError::format(
            out,
            "the output folder is one of the two checkpoints; write the average to a new folder",
        ));
    }
    let cpu = Device::Cpu;
    let (ca, ta) = read_checkpoint(a, &cpu)?;
    let (cb, tb) = read_checkpoint(b, &cpu)?;
    let json = |c| serde_json::to_value(c).expect("config serializes");
    if json(&ca.captioner) != json(&cb.captioner) {
        return Err(LmError::format(
            b.join(CONFIG_FILE),
            format!(
                "its captioner differs from {}'s (backbone, sizes, adapters or summary): only \
                 checkpoints of one model average",
                a.display()
            ),
        ));
    }
    let mut names: Vec<&String> = ta.keys().collect();
    names.sort();
    let mut tb_names: Vec<&String> = tb.keys().collect();
    tb_names.sort();
    if names != tb_names {
        return Err(LmError::format(
            b.join(WEIGHTS_FILE),
            format!("its tensors are not {}'s", a.join(WEIGHTS_FILE).display()),
        ));
    }
    let bad = |name: &str, e: candle_core::Error| {
        LmError::format(b.join(WEIGHTS_FILE), format!("{name}: {e}"))
    };
    let mut mixed: HashMap<String, Tensor> = HashMap::new();
    let (mut lora_targets, mut worst_rank_cut) = (0usize, 0.0f64);
    for name in names {
        let (x, y) = (&ta[name], &tb[name]);
        if x.dims() != y.dims() {
            return Err(LmError::format(
                b.join(WEIGHTS_FILE),
                format!("{name} is {:?}, in A {:?}", y.dims(), x.dims()),
            ));
        }
        if let Some(target) = lora_target(name) {
            if name.ends_with(".b") {
                continue; // written with its `.a`
            }
            let (fa, fb) = (format!("{target}.a"), format!("{target}.b"));
            let (Some(xb), Some(yb)) = (ta.get(&fb), tb.get(&fb)) else {
                return Err(LmError::format(
                    b.join(WEIGHTS_FILE),
                    format!("{fa} has no {fb}"),
                ));
            };
            let m = |t: &Tensor, n: &str| to_matrix(t).map_err(|e| bad(n, e));
            let delta =
                m(xb, &fb)? * m(x, &fa)? * (1.0 - weight_b) + m(yb, &fb)? * m(y, &fa)? * weight_b;
            let (new_b, new_a, cut) = rank_cut(delta, x.dims()[0]);
            worst_rank_cut = worst_rank_cut.max(cut);
            lora_targets += 1;
            mixed.insert(fa.clone(), from_matrix(&new_a).map_err(|e| bad(&fa, e))?);
            mixed.insert(fb.clone(), from_matrix(&new_b).map_err(|e| bad(&fb, e))?);
        } else {
            let dtype = x.dtype();
            let lerp = (|| {
                let (x, y) = (x.to_dtype(DType::F64)?, y.to_dtype(DType::F64)?);
                ((x * (1.0 - weight_b))? + (y * weight_b)?)?.to_dtype(dtype)
            })()
            .map_err(|e| bad(name, e))?;
            mixed.insert(name.clone(), lerp);
        }
    }
    std::fs::create_dir_all(out).map_err(|e| LmError::io(out, e))?;
    let path = out.join(WEIGHTS_FILE);
    candle_core::safetensors::save(&mixed, &path).map_err(|e| LmError::format(&path, e))?;
    for file in [CONFIG_FILE, "nearest.json", "nearest.safetensors"] {
        let from = b.join(file);
        if from.exists() {
            std::fs::copy(&from, out.join(file)).map_err(|e| LmError::io(&from, e))?;
        }
    }
    let report = AverageReport {
        a: a.to_path_buf(),
        b: b.to_path_buf(),
        weight_b,
        lora_targets,
        worst_rank_cut,
    };
    let path = out.join("average.json");
    let text = serde_json::to_string_pretty(&report).expect("report serializes");
    std::fs::write(&path, text).map_err(|e| LmError::io(&path, e))?;
    Ok(report)
}

/// `lora.L.mlp.down_proj` for `lora.L.mlp.down_proj.a` or `.b`.
fn lora_target(name: &str) -> Option<&str> {
    if !name.starts_with("lora.") {
        return None;
    }
    name.strip_suffix(".a").or_else(|| name.strip_suffix(".b"))
}

fn to_matrix(t: &Tensor) -> candle_core::Result<DMatrix<f64>> {
    let (r, c) = t.dims2()?;
    let v = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    Ok(DMatrix::from_row_slice(r, c, &v))
}

fn from_matrix(m: &DMatrix<f64>) -> candle_core::Result<Tensor> {
    let v: Vec<f32> = m.transpose().iter().map(|x| *x as f32).collect();
    Tensor::from_vec(v, (m.nrows(), m.ncols()), &Device::Cpu)
}

/// The rank-`r` factors `(b (out, r), a (r, in))` of `delta (out, in)` from its SVD, and the
/// relative Frobenius error of the cut.
fn rank_cut(delta: DMatrix<f64>, r: usize) -> (DMatrix<f64>, DMatrix<f64>, f64) {
    let (rows, cols) = delta.shape();
    let svd = delta.svd(true, true);
    let (u, vt) = (svd.u.expect("asked for U"), svd.v_t.expect("asked for Vᵀ"));
    let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
    order.sort_by(|i, j| svd.singular_values[*j].total_cmp(&svd.singular_values[*i]));
    let total: f64 = svd.singular_values.iter().map(|s| s * s).sum();
    let kept: f64 = order
        .iter()
        .take(r)
        .map(|&i| svd.singular_values[i].powi(2))
        .sum();
    let mut b = DMatrix::zeros(rows, r);
    let mut a = DMatrix::zeros(r, cols);
    for (k, &i) in order.iter().take(r).enumerate() {
        let s = svd.singular_values[i].sqrt();
        b.set_column(k, &(u.column(i) * s));
        a.set_row(k, &(vt.row(i) * s));
    }
    let cut = if total > 0.0 {
        ((total - kept).max(0.0) / total).sqrt()
    } else {
        0.0
    };
    (b, a, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rank_r_mix_is_cut_back_exactly() {
        // Two rank-1 changes mixed half and half make a rank-2 ΔW: cut to rank 2 it is kept
        // exactly, cut to rank 1 the error is the smaller singular value's share.
        let u1 = DMatrix::from_row_slice(3, 1, &[1.0, 0.0, 0.0]);
        let v1 = DMatrix::from_row_slice(1, 2, &[0.0, 2.0]);
        let u2 = DMatrix::from_row_slice(3, 1, &[0.0, 1.0, 0.0]);
        let v2 = DMatrix::from_row_slice(1, 2, &[1.0, 0.0]);
        let delta = &u1 * &v1 * 0.5 + &u2 * &v2 * 0.5;
        let (b, a, cut) = rank_cut(delta.clone(), 2);
        assert!((b * a - &delta).norm() < 1e-12 && cut < 1e-12);
        let (b, a, cut) = rank_cut(delta.clone(), 1);
        // Singular values 1.0 and 0.5: the rank-1 cut keeps the first.
        assert!((cut - (0.25f64 / 1.25).sqrt()).abs() < 1e-12, "{cut}");
        assert!(((b * a - &delta).norm() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn tensors_round_trip_through_matrices_row_major() {
        let t = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6.], (2, 3), &Device::Cpu).unwrap();
        let m = to_matrix(&t).unwrap();
        assert_eq!(m[(0, 2)], 3.0);
        assert_eq!(m[(1, 0)], 4.0);
        let back = from_matrix(&m).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(back, vec![vec![1., 2., 3.], vec![4., 5., 6.]]);
    }
}
