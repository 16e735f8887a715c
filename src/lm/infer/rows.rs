//! The batched product of the Q8_0 weights for a few input rows at once (the prefill, and the
//! check of a speculative draft): each weight row is dequantized block by block in registers
//! and met by up to [`GROUP`] inputs while it is there, so the weights are neither expanded
//! to f32 in memory nor repacked per call (what the f32 panel path of [`super::kernels`] does,
//! and what made a 11-token draft check cost eight decoding steps in Q8_0).
//!
//! An AVX-512, an AVX2 + FMA, a NEON and a portable scalar body, chosen by the engine's
//! [`Supported`] path and tested against the scalar one.

use super::kernels::BLOCK;
use super::simd::{Simd, Supported};

/// Inputs met by one pass over a weight row: 12 accumulators (AVX-512's 32 registers and
/// NEON's 32 hold them with the weights; AVX2 takes them 6 at a time in its 16).
pub const GROUP: usize = 12;

/// `out[u] = Σ_b d_b · Σ_j q_{b,j} · x[u·cols + 32b + j]` for `u < out.len() ≤ GROUP`:
/// one Q8_0 row `scales (cols/32)`, `q (cols)` against `out.len()` inputs of `cols` floats.
pub fn q8_row_inputs(
    scales: &[f32],
    q: &[i8],
    x: &[f32],
    cols: usize,
    out: &mut [f32],
    isa: Supported,
) {
    let nu = out.len();
    assert!(
        nu <= GROUP
            && cols % BLOCK == 0
            && q.len() >= cols
            && scales.len() >= cols / BLOCK
            && x.len() >= nu * cols,
        "q8_row_inputs bounds"
    );
    #[allow(unused_macros)]
    macro_rules! by_group {
        ($f:ident, $g:literal, $($n:literal)*) => {{
            let mut u0 = 0;
            while u0 < nu {
                let n = (nu - u0).min($g);
                let (xs, os) = (&x[u0 * cols..], &mut out[u0..u0 + n]);
                match n {
                    // SAFETY: `isa` proves the CPU runs this path; the bounds asserted above
                    // cover the n inputs and n outputs the kernel touches.
                    $($n => unsafe { $f::<$n>(scales, q, xs, cols, os) },)*
                    _ => unreachable!(),
                }
                u0 += n;
            }
        }};
    }
    match isa.get() {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => by_group!(avx512, 12, 1 2 3 4 5 6 7 8 9 10 11 12),
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => by_group!(avx2, 6, 1 2 3 4 5 6),
        #[cfg(target_arch = "aarch64")]
        Simd::Neon => by_group!(neon, 12, 1 2 3 4 5 6 7 8 9 10 11 12),
        _ => scalar(scales, q, x, cols, out),
    }
}

fn scalar(scales: &[f32], q: &[i8], x: &[f32], cols: usize, out: &mut [f32]) {
    for (u, o) in out.iter_mut().enumerate() {
        let xs = &x[u * cols..(u + 1) * cols];
        let mut acc = [0f32; BLOCK];
        for ((&d, qs), xb) in scales
            .iter()
            .zip(q[..cols].chunks_exact(BLOCK))
            .zip(xs.chunks_exact(BLOCK))
        {
            for j in 0..BLOCK {
                acc[j] += qs[j] as f32 * d * xb[j];
            }
        }
        *o = acc.iter().sum();
    }
}

/// Safety: AVX-512 F + BW; `q ≥ cols`, `scales ≥ cols/32`, `x ≥ NU·cols`, `out ≥ NU`,
/// `cols` a multiple of 32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn avx512<const NU: usize>(
    scales: &[f32],
    q: &[i8],
    x: &[f32],
    cols: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); NU];
    // SAFETY: the caller's bounds.
    unsafe {
        for b in 0..cols / BLOCK {
            let d = _mm512_set1_ps(*scales.get_unchecked(b));
            for h in 0..2 {
                let k = b * BLOCK + 16 * h;
                let w = _mm512_loadu_si128_as_ps(pq.add(k));
                let w = _mm512_mul_ps(w, d);
                for u in 0..NU {
                    acc[u] = _mm512_fmadd_ps(w, _mm512_loadu_ps(px.add(u * cols + k)), acc[u]);
                }
            }
        }
        for u in 0..NU {
            *out.get_unchecked_mut(u) = _mm512_reduce_add_ps(acc[u]);
        }
    }
}

/// 16 i8 at `p` as 16 f32.
///
/// Safety: AVX-512 F; 16 readable bytes at `p`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn _mm512_loadu_si128_as_ps(p: *const i8) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    // SAFETY: the caller's bound.
    unsafe { _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p as *const __m128i))) }
}

/// Safety: AVX2 + FMA; as [`avx512`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<const NU: usize>(scales: &[f32], q: &[i8], x: &[f32], cols: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); NU];
    // SAFETY: the caller's bounds.
    unsafe {
        for b in 0..cols / BLOCK {
            let d = _mm256_set1_ps(*scales.get_unchecked(b));
            for h in 0..4 {
                let k = b * BLOCK + 8 * h;
                let q8 = _mm_loadl_epi64(pq.add(k) as *const __m128i);
                let w = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), d);
                for u in 0..NU {
                    acc[u] = _mm256_fmadd_ps(w, _mm256_loadu_ps(px.add(u * cols + k)), acc[u]);
                }
            }
        }
        for u in 0..NU {
            let v = acc[u];
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            *out.get_unchecked_mut(u) = _mm_cvtss_f32(s);
        }
    }
}

/// Safety: NEON; as [`avx512`].
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn neon<const NU: usize>(scales: &[f32], q: &[i8], x: &[f32], cols: usize, out: &mut [f32]) {
    use std::arch::aarch64::*;
    let (pq, px) = (q.as_ptr(), x.as_ptr());
    let mut acc = [vdupq_n_f32(0.0); NU];
    // SAFETY: the caller's bounds.
    unsafe {
        for b in 0..cols / BLOCK {
            let d = *scales.get_unchecked(b);
            for h in 0..2 {
                let k = b * BLOCK + 16 * h;
                let q16 = vld1q_s8(pq.add(k));
                let (lo, hi) = (vmovl_s8(vget_low_s8(q16)), vmovl_high_s8(q16));
                let w = [
                    vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d),
                    vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d),
                    vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d),
                    vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d),
                ];
                for u in 0..NU {
                    for (j, wv) in w.iter().enumerate() {
                        let xv = vld1q_f32(px.add(u * cols + k + 4 * j));
                        acc[u] = vfmaq_f32(acc[u], *wv, xv);
                    }
                }
            }
        }
        for u in 0..NU {
            *out.get_unchecked_mut(u) = vaddvq_f32(acc[u]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kernels::Matrix;
    use super::*;

    #[test]
    fn every_path_matches_the_scalar_one_and_the_naive_product() {
        let data = |n: usize, seed: u32| -> Vec<f32> {
            (0..n)
                .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
                .collect()
        };
        let scalar = Supported::new(Simd::Scalar).unwrap();
        for cols in [32, 96, 576] {
            let w = data(cols, 1);
            let Matrix::Q8 { scales, q, .. } = Matrix::new(w.clone(), 1, cols, true) else {
                unreachable!()
            };
            let x = data(GROUP * cols, 2);
            for nu in 1..=GROUP {
                let mut want = vec![0f32; nu];
                q8_row_inputs(&scales, &q, &x, cols, &mut want, scalar);
                for (u, &got) in want.iter().enumerate() {
                    let exact: f32 = w.iter().zip(&x[u * cols..]).map(|(a, b)| a * b).sum();
                    // Q8_0 error: at most half a step (max|w|/254) per weight.
                    assert!(
                        (got - exact).abs() <= cols as f32 / 254.0,
                        "{got} vs {exact}"
                    );
                }
                for isa in Supported::all() {
                    let mut got = vec![0f32; nu];
                    q8_row_inputs(&scales, &q, &x, cols, &mut got, isa);
                    for (a, b) in got.iter().zip(&want) {
                        assert!(
                            (a - b).abs() <= 1e-5 * cols as f32,
                            "{isa:?} cols {cols} nu {nu}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}
