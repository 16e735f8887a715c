//! Q8_0 weights packed once, at load, for the products over several inputs (the prefill, and
//! the check of a speculative draft): rows in panels of 16, column-major inside a panel, the
//! i8 values `(panels, cols, 16)` and each row's block scales `(panels, cols/32, 16)`. A
//! register tile of 16 rows × up to 12 inputs then dequantizes one column of a panel (16
//! weights) once in registers and meets it with every input by broadcast FMAs: no horizontal
//! sums, no per-call expansion to f32 (what made the Q8_0 prefill slower than the f32 one).
//! Costs one more copy of the Q8_0 bytes.
//!
//! An AVX-512, an AVX2 + FMA, a NEON and a portable scalar body, chosen by the engine's
//! [`Supported`] path and tested against the scalar one and the naive product.

use super::kernels::BLOCK;
#[cfg(target_arch = "aarch64")]
use super::kernels::tile_neon;
#[cfg(target_arch = "x86_64")]
use super::kernels::{tile_avx2, tile_avx512};
#[allow(unused_imports)]
use super::kernels::{tile_dispatch, tile_groups};
use super::simd::{Simd, Supported};

/// Rows per panel.
pub const PANEL: usize = 16;
/// Most inputs per register tile (12 accumulators + the column + broadcasts fit AVX-512's 32
/// registers; AVX2 and NEON take them 6 at a time).
pub const TILE: usize = 12;

/// A Q8_0 `(rows, cols)` matrix in panels of 16 rows (the last one padded with zero rows).
pub struct Q8Panels {
    rows: usize,
    cols: usize,
    /// `(panels, cols, 16)`.
    q: Vec<i8>,
    /// `(panels, cols/32, 16)`.
    scales: Vec<f32>,
}

impl Q8Panels {
    /// Packs the row-major Q8_0 `q (rows · cols)` and `scales (rows · cols/32)`.
    pub fn pack(rows: usize, cols: usize, scales: &[f32], q: &[i8]) -> Self {
        assert!(cols % BLOCK == 0 && q.len() == rows * cols && scales.len() == rows * cols / BLOCK);
        let (panels, nb) = (rows.div_ceil(PANEL), cols / BLOCK);
        let mut pq = vec![0i8; panels * cols * PANEL];
        let mut ps = vec![0f32; panels * nb * PANEL];
        for r in 0..rows {
            let (p, j) = (r / PANEL, r % PANEL);
            for (k, &v) in q[r * cols..(r + 1) * cols].iter().enumerate() {
                pq[(p * cols + k) * PANEL + j] = v;
            }
            for (b, &d) in scales[r * nb..(r + 1) * nb].iter().enumerate() {
                ps[(p * nb + b) * PANEL + j] = d;
            }
        }
        Self {
            rows,
            cols,
            q: pq,
            scales: ps,
        }
    }

    pub fn panels(&self) -> usize {
        self.rows.div_ceil(PANEL)
    }

    /// `tile[u·16 + j] = Σ_k w[16p + j, k] · x[u·cols + k]` for the `nu ≤ 12` inputs of
    /// `x (nu, cols)` (rows past the matrix give 0).
    pub fn tile(
        &self,
        p: usize,
        x: &[f32],
        nu: usize,
        tile: &mut [f32; PANEL * TILE],
        isa: Supported,
    ) {
        let cols = self.cols;
        let nb = cols / BLOCK;
        assert!(
            p < self.panels() && nu <= TILE && x.len() >= nu * cols,
            "Q8Panels::tile bounds"
        );
        let q = &self.q[p * cols * PANEL..(p + 1) * cols * PANEL];
        let s = &self.scales[p * nb * PANEL..(p + 1) * nb * PANEL];
        tile_dispatch!(
            isa,
            nu,
            cols,
            x,
            tile,
            (q, s),
            avx512,
            avx2,
            neon,
            scalar(q, s, x, cols, nu, tile)
        );
    }
}

fn scalar(q: &[i8], s: &[f32], x: &[f32], cols: usize, nu: usize, tile: &mut [f32]) {
    // Each column dequantized once, then met by every input (16 independent lanes the
    // compiler vectorizes).
    let mut acc = [[0f32; PANEL]; TILE];
    let mut w = [0f32; PANEL];
    for k in 0..cols {
        let d = &s[k / BLOCK * PANEL..(k / BLOCK + 1) * PANEL];
        for ((w, &qv), &dv) in w.iter_mut().zip(&q[k * PANEL..(k + 1) * PANEL]).zip(d) {
            *w = qv as f32 * dv;
        }
        for (u, a) in acc[..nu].iter_mut().enumerate() {
            let xv = x[u * cols + k];
            for (a, &wv) in a.iter_mut().zip(&w) {
                *a += wv * xv;
            }
        }
    }
    for (u, a) in acc[..nu].iter().enumerate() {
        tile[u * PANEL..(u + 1) * PANEL].copy_from_slice(a);
    }
}

/// Safety: AVX-512 F + BW; `q ≥ cols·16`, `s ≥ cols/32·16`, `x ≥ NU·cols`, `tile ≥ NU·16`,
/// `cols` a multiple of 32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn avx512<const NU: usize>(
    (q, s): (&[i8], &[f32]),
    x: &[f32],
    cols: usize,
    tile: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (pq, ps, px) = (q.as_ptr(), s.as_ptr(), x.as_ptr());
    // SAFETY: the caller's bounds.
    unsafe {
        tile_avx512!(NU, cols, px, tile, |k| {
            let w8 = _mm_loadu_si128(pq.add(k * PANEL) as *const __m128i);
            let d = _mm512_loadu_ps(ps.add(k / BLOCK * PANEL));
            _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(w8)), d)
        })
    }
}

/// Safety: AVX2 + FMA; as [`avx512`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<const NU: usize>((q, s): (&[i8], &[f32]), x: &[f32], cols: usize, tile: &mut [f32]) {
    use std::arch::x86_64::*;
    let (pq, ps, px) = (q.as_ptr(), s.as_ptr(), x.as_ptr());
    // SAFETY: the caller's bounds.
    unsafe {
        tile_avx2!(NU, cols, px, tile, |k| {
            let (pk, d) = (pq.add(k * PANEL), ps.add(k / BLOCK * PANEL));
            let w0 = _mm_loadl_epi64(pk as *const __m128i);
            let w1 = _mm_loadl_epi64(pk.add(8) as *const __m128i);
            (
                _mm256_mul_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(w0)),
                    _mm256_loadu_ps(d),
                ),
                _mm256_mul_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(w1)),
                    _mm256_loadu_ps(d.add(8)),
                ),
            )
        })
    }
}

/// Safety: NEON; as [`avx512`].
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn neon<const NU: usize>((q, s): (&[i8], &[f32]), x: &[f32], cols: usize, tile: &mut [f32]) {
    use std::arch::aarch64::*;
    let (pq, ps, px) = (q.as_ptr(), s.as_ptr(), x.as_ptr());
    // SAFETY: the caller's bounds.
    unsafe {
        tile_neon!(NU, cols, px, tile, |k| {
            let d = ps.add(k / BLOCK * PANEL);
            let q16 = vld1q_s8(pq.add(k * PANEL));
            let (l, h) = (vmovl_s8(vget_low_s8(q16)), vmovl_high_s8(q16));
            [
                vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(l))), vld1q_f32(d)),
                vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(l)), vld1q_f32(d.add(4))),
                vmulq_f32(
                    vcvtq_f32_s32(vmovl_s16(vget_low_s16(h))),
                    vld1q_f32(d.add(8)),
                ),
                vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(h)), vld1q_f32(d.add(12))),
            ]
        })
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
        for (rows, cols) in [(16, 32), (37, 96), (20, 576)] {
            let w = data(rows * cols, 1);
            let Matrix::Q8 { scales, q, .. } = Matrix::new(w.clone(), rows, cols, true) else {
                unreachable!()
            };
            let packed = Q8Panels::pack(rows, cols, &scales, &q);
            let x = data(TILE * cols, 2);
            for nu in 1..=TILE {
                for p in 0..packed.panels() {
                    let mut want = [0f32; PANEL * TILE];
                    packed.tile(p, &x, nu, &mut want, scalar);
                    for u in 0..nu {
                        for j in 0..PANEL {
                            let r = p * PANEL + j;
                            let exact: f32 = if r < rows {
                                w[r * cols..(r + 1) * cols]
                                    .iter()
                                    .zip(&x[u * cols..])
                                    .map(|(a, b)| a * b)
                                    .sum()
                            } else {
                                0.0
                            };
                            let got = want[u * PANEL + j];
                            // Q8_0 error: at most half a step (max|w|/254) per weight.
                            assert!(
                                (got - exact).abs() <= cols as f32 / 254.0,
                                "{got} vs {exact}"
                            );
                        }
                    }
                    for isa in Supported::all() {
                        let mut got = [0f32; PANEL * TILE];
                        packed.tile(p, &x, nu, &mut got, isa);
                        for (a, b) in got[..nu * PANEL].iter().zip(&want[..nu * PANEL]) {
                            assert!(
                                (a - b).abs() <= 1e-5 * cols as f32,
                                "{isa:?} {rows}x{cols} nu {nu} panel {p}: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
    }
}
