//! CPU kernels of the inference engine: `y = W·x` for a weight matrix `W (rows, cols)` stored in
//! f32 or in Q8_0 (ggml's layout: blocks of 32 weights sharing one scale `d = max|w| / 127`,
//! `w ≈ d·q`, `q` an i8; the scale is kept in f32 here), over `T` input rows at once.
//!
//! Every kernel (the f32 and Q8_0 dot products, the prefill's register tiles: f32 here, Q8_0
//! in [`super::q8_panels`]) has an AVX-512,
//! an AVX2 + FMA, a NEON and a portable scalar body; the engine picks one path per run
//! ([`super::simd`]: the widest the CPU has, or `GEOMOTION_SIMD`), and each path is tested
//! against the scalar one. Rows are split over the engine's [`SpinPool`].

use super::pool::SpinPool;
use super::q8_panels::{self, Q8Panels};
use super::simd::{Simd, Supported};

/// Weights per Q8_0 block (as ggml's `QK8_0`).
pub const BLOCK: usize = 32;

/// A `(rows, cols)` weight matrix, row-major.
pub enum Matrix {
    F32 {
        rows: usize,
        cols: usize,
        w: Vec<f32>,
    },
    /// `scales (rows · cols/32)`, `q (rows · cols)`, and the same values packed in panels for
    /// products over several inputs.
    Q8 {
        rows: usize,
        cols: usize,
        scales: Vec<f32>,
        q: Vec<i8>,
        panels: Q8Panels,
    },
}

impl Matrix {
    /// Wraps `w (rows · cols)` as f32, or quantizes it to Q8_0 when `quantize` and `cols` is a
    /// multiple of 32 (else it stays f32).
    pub fn new(w: Vec<f32>, rows: usize, cols: usize, quantize: bool) -> Self {
        assert_eq!(w.len(), rows * cols, "matrix data");
        if !quantize || cols % BLOCK != 0 {
            return Matrix::F32 { rows, cols, w };
        }
        let mut scales = Vec::with_capacity(rows * cols / BLOCK);
        let mut q = Vec::with_capacity(rows * cols);
        for blk in w.chunks_exact(BLOCK) {
            let amax = blk.iter().fold(0f32, |m, &x| m.max(x.abs()));
            let d = amax / 127.0;
            let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
            scales.push(d);
            q.extend(blk.iter().map(|&x| (x * inv).round() as i8));
        }
        let panels = Q8Panels::pack(rows, cols, &scales, &q);
        Matrix::Q8 {
            rows,
            cols,
            scales,
            q,
            panels,
        }
    }

    pub fn rows(&self) -> usize {
        match self {
            Matrix::F32 { rows, .. } | Matrix::Q8 { rows, .. } => *rows,
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            Matrix::F32 { cols, .. } | Matrix::Q8 { cols, .. } => *cols,
        }
    }

    /// Bytes of weight data one token step reads (the Q8_0 panels, a second copy for
    /// products over several inputs, left out).
    pub fn bytes(&self) -> usize {
        match self {
            Matrix::F32 { w, .. } => 4 * w.len(),
            Matrix::Q8 { scales, q, .. } => 4 * scales.len() + q.len(),
        }
    }

    /// Row `r` · `x (cols)`.
    fn dot_row(&self, r: usize, x: &[f32], isa: Supported) -> f32 {
        match self {
            Matrix::F32 { cols, w, .. } => dot_f32(&w[r * cols..(r + 1) * cols], x, isa),
            Matrix::Q8 {
                cols, scales, q, ..
            } => {
                let nb = cols / BLOCK;
                dot_q8(
                    &scales[r * nb..(r + 1) * nb],
                    &q[r * cols..(r + 1) * cols],
                    x,
                    isa,
                )
            }
        }
    }

    /// Row `r` as f32 into `out (cols)`.
    fn row_f32(&self, r: usize, out: &mut [f32]) {
        match self {
            Matrix::F32 { cols, w, .. } => out.copy_from_slice(&w[r * cols..(r + 1) * cols]),
            Matrix::Q8 {
                cols, scales, q, ..
            } => {
                let nb = cols / BLOCK;
                for (b, (o, qs)) in out
                    .chunks_exact_mut(BLOCK)
                    .zip(q[r * cols..(r + 1) * cols].chunks_exact(BLOCK))
                    .enumerate()
                {
                    let d = scales[r * nb + b];
                    for (o, &v) in o.iter_mut().zip(qs) {
                        *o = d * v as f32;
                    }
                }
            }
        }
    }
}

/// Raw base pointer of an output buffer whose disjoint parts the pool's tasks write.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: each task writes only its own range of the buffer (see the callers).
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

/// `y (t, rows) = x (t, cols) · Wᵀ` on `pool`, with the `isa` kernels. Rows are split into
/// tasks; for `t > 1` each row is expanded to f32 once and reused for every input row.
pub fn matmul(pool: &mut SpinPool, w: &Matrix, x: &[f32], t: usize, y: &mut [f32], isa: Supported) {
    let (rows, cols) = (w.rows(), w.cols());
    assert_eq!(x.len(), t * cols, "matmul input");
    assert_eq!(y.len(), t * rows, "matmul output");
    // A few tasks per thread: cheap to hand out, and a late thread does not hold the rest.
    let chunk = rows
        .div_ceil(4 * pool.threads())
        .next_multiple_of(16)
        .max(16);
    let out = Out(y.as_mut_ptr());
    if t == 1 {
        pool.run(rows.div_ceil(chunk), &|c| {
            let out = out;
            for r in c * chunk..((c + 1) * chunk).min(rows) {
                // SAFETY: r < rows = y.len(), and task c alone writes rows c·chunk..
                unsafe { *out.0.add(r) = w.dot_row(r, x, isa) };
            }
        });
        return;
    }
    if let Matrix::Q8 { panels, .. } = w
        && isa.get() != Simd::Scalar
    {
        // Q8_0 on a SIMD path: the panels packed at load; each column of 16 weights is
        // dequantized in registers once per register tile of up to 12 inputs ([`Q8Panels`]).
        // Portable code expands each panel to f32 below instead: the compiler vectorizes that
        // tile better (prefill 486–572 ms against 698 ms).
        let n = panels.panels();
        let per_task = (n / (4 * pool.threads())).clamp(1, 16);
        pool.run(n.div_ceil(per_task), &|task| {
            let mut tile = [0f32; PANEL * TILE_T];
            for p in task * per_task..((task + 1) * per_task).min(n) {
                let (r0, nr) = (p * PANEL, PANEL.min(rows - p * PANEL));
                let mut u0 = 0;
                while u0 < t {
                    let nu = TILE_T.min(t - u0);
                    panels.tile(p, &x[u0 * cols..(u0 + nu) * cols], nu, &mut tile, isa);
                    store_tile(out, &tile, nu, u0, rows, r0, nr);
                    u0 += nu;
                }
            }
        });
        return;
    }
    // f32 (and portable Q8_0): the rows in panels of 16, each expanded to f32 and packed
    // column-major (`(cols, 16)`) once, then a register tile of 16 rows × up to 12 inputs
    // per pass: one panel load and 12 broadcast FMAs per column, no horizontal sums.
    let panels = rows.div_ceil(PANEL);
    let per_task = (panels / (4 * pool.threads())).clamp(1, 16);
    pool.run(panels.div_ceil(per_task), &|task| {
        let mut packed = vec![0f32; cols * PANEL];
        let mut row = vec![0f32; cols];
        let mut tile = [0f32; PANEL * TILE_T];
        for p in task * per_task..((task + 1) * per_task).min(panels) {
            let r0 = p * PANEL;
            let nr = PANEL.min(rows - r0);
            packed.fill(0.0);
            for j in 0..nr {
                w.row_f32(r0 + j, &mut row);
                for (k, &v) in row.iter().enumerate() {
                    packed[k * PANEL + j] = v;
                }
            }
            let mut u0 = 0;
            while u0 < t {
                let nu = TILE_T.min(t - u0);
                panel_tile(
                    &packed,
                    &x[u0 * cols..(u0 + nu) * cols],
                    cols,
                    nu,
                    &mut tile,
                    isa,
                );
                store_tile(out, &tile, nu, u0, rows, r0, nr);
                u0 += nu;
            }
        }
    });
}

/// Writes the first `nr` rows of a register tile's `nu` inputs into `y (t, rows)` at inputs
/// `u0..` and columns `r0..`.
fn store_tile(
    out: Out,
    tile: &[f32; PANEL * TILE_T],
    nu: usize,
    u0: usize,
    rows: usize,
    r0: usize,
    nr: usize,
) {
    for u in 0..nu {
        let dst = (u0 + u) * rows + r0;
        // SAFETY: the caller's task alone writes columns r0..r0 + nr of every row of
        // `y (t, rows)`, and dst + nr ≤ t·rows.
        unsafe { std::ptr::copy_nonoverlapping(tile.as_ptr().add(u * PANEL), out.0.add(dst), nr) };
    }
}

/// Rows per packed panel of the prefill product (one AVX-512 register of f32, two AVX2, four
/// NEON).
const PANEL: usize = q8_panels::PANEL;
/// Inputs per register tile (12 accumulators + panel + broadcasts fit AVX-512's 32 registers;
/// AVX2 and NEON take them 6 at a time: 12 of AVX2's 16 registers, 24 of NEON's 32).
const TILE_T: usize = q8_panels::TILE;

/// Runs a register-tile kernel for `nu ≤ 12` inputs on `isa`'s path: `$avx512::<N>` for
/// N = nu, or `$avx2`/`$neon::<N>` for the inputs in groups of 6, each called as
/// `(w, its slice of x, cols, its slice of the tile)`; `$scalar` otherwise. The caller
/// asserts `$x` holds `nu · cols` floats and `$tile` `nu · 16`, and each kernel touches no
/// more.
macro_rules! tile_dispatch {
    ($isa:expr, $nu:expr, $cols:expr, $x:expr, $tile:expr, $w:expr, $avx512:ident, $avx2:ident,
     $neon:ident, $scalar:expr) => {{
        match $isa.get() {
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => {
                tile_groups!(12, $nu, $cols, $x, $tile, $w, $avx512, 1 2 3 4 5 6 7 8 9 10 11 12)
            }
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => tile_groups!(6, $nu, $cols, $x, $tile, $w, $avx2, 1 2 3 4 5 6),
            #[cfg(target_arch = "aarch64")]
            Simd::Neon => tile_groups!(6, $nu, $cols, $x, $tile, $w, $neon, 1 2 3 4 5 6),
            _ => $scalar,
        }
    }};
}
pub(super) use tile_dispatch;

/// [`tile_dispatch`]'s loop over groups of at most `$g` inputs.
#[allow(unused_macros)]
macro_rules! tile_groups {
    ($g:literal, $nu:expr, $cols:expr, $x:expr, $tile:expr, $w:expr, $f:ident, $($n:literal)*) => {{
        let mut u0 = 0;
        while u0 < $nu {
            let n = ($nu - u0).min($g);
            let (xs, ts) = (&$x[u0 * $cols..], &mut $tile[u0 * PANEL..]);
            match n {
                // SAFETY: the path's features are the caller's `isa`; the caller's bounds cover
                // the n inputs and n·16 sums the kernel touches.
                $($n => unsafe { $f::<$n>($w, xs, $cols, ts) },)*
                _ => unreachable!(),
            }
            u0 += n;
        }
    }};
}
#[allow(unused_imports)]
pub(super) use tile_groups;

/// The register tile's loop (AVX-512): for each column `k` of a panel, `$col` (an expression
/// of `k`) gives its 16 weights as one `__m512`; every input's value at `k` meets them by a
/// broadcast FMA; the `NU × 16` sums are stored into `$tile`. The f32 panels here and the
/// Q8_0 panels of [`super::q8_panels`] differ only in `$col`. Expands inside an `unsafe`
/// block of a function compiled for AVX-512F, `$px` pointing at `NU · $cols` floats and `$tile`
/// holding `NU · 16`.
#[cfg(target_arch = "x86_64")]
macro_rules! tile_avx512 {
    ($nu:ident, $cols:expr, $px:expr, $tile:expr, |$k:ident| $col:expr) => {{
        let mut acc = [_mm512_setzero_ps(); $nu];
        for $k in 0..$cols {
            let w = $col;
            for u in 0..$nu {
                acc[u] = _mm512_fmadd_ps(w, _mm512_set1_ps(*$px.add(u * $cols + $k)), acc[u]);
            }
        }
        for u in 0..$nu {
            _mm512_storeu_ps($tile.as_mut_ptr().add(u * PANEL), acc[u]);
        }
    }};
}
#[cfg(target_arch = "x86_64")]
pub(super) use tile_avx512;

/// [`tile_avx512`] on AVX2 + FMA: `$col` gives the 16 weights as two `__m256`.
#[cfg(target_arch = "x86_64")]
macro_rules! tile_avx2 {
    ($nu:ident, $cols:expr, $px:expr, $tile:expr, |$k:ident| $col:expr) => {{
        let mut lo = [_mm256_setzero_ps(); $nu];
        let mut hi = [_mm256_setzero_ps(); $nu];
        for $k in 0..$cols {
            let (w0, w1) = $col;
            for u in 0..$nu {
                let xv = _mm256_broadcast_ss(&*$px.add(u * $cols + $k));
                lo[u] = _mm256_fmadd_ps(w0, xv, lo[u]);
                hi[u] = _mm256_fmadd_ps(w1, xv, hi[u]);
            }
        }
        for u in 0..$nu {
            _mm256_storeu_ps($tile.as_mut_ptr().add(u * PANEL), lo[u]);
            _mm256_storeu_ps($tile.as_mut_ptr().add(u * PANEL + 8), hi[u]);
        }
    }};
}
#[cfg(target_arch = "x86_64")]
pub(super) use tile_avx2;

/// [`tile_avx512`] on NEON: `$col` gives the 16 weights as four `float32x4_t`.
#[cfg(target_arch = "aarch64")]
macro_rules! tile_neon {
    ($nu:ident, $cols:expr, $px:expr, $tile:expr, |$k:ident| $col:expr) => {{
        let mut acc = [[vdupq_n_f32(0.0); 4]; $nu];
        for $k in 0..$cols {
            let w = $col;
            for u in 0..$nu {
                let xv = *$px.add(u * $cols + $k);
                for (a, wv) in acc[u].iter_mut().zip(&w) {
                    *a = vfmaq_n_f32(*a, *wv, xv);
                }
            }
        }
        for u in 0..$nu {
            for (j, a) in acc[u].iter().enumerate() {
                vst1q_f32($tile.as_mut_ptr().add(u * PANEL + 4 * j), *a);
            }
        }
    }};
}
#[cfg(target_arch = "aarch64")]
pub(super) use tile_neon;

/// `tile[u·16 + j] = Σ_k packed[k·16 + j] · x[u·cols + k]` for `u < nu ≤ 12` inputs.
fn panel_tile(
    packed: &[f32],
    x: &[f32],
    cols: usize,
    nu: usize,
    tile: &mut [f32; PANEL * TILE_T],
    isa: Supported,
) {
    assert!(packed.len() >= cols * PANEL && x.len() >= nu * cols && nu <= TILE_T);
    tile_dispatch!(
        isa,
        nu,
        cols,
        x,
        tile,
        packed,
        panel_tile_avx512,
        panel_tile_avx2,
        panel_tile_neon,
        panel_tile_scalar(packed, x, cols, nu, tile)
    );
}

fn panel_tile_scalar(packed: &[f32], x: &[f32], cols: usize, nu: usize, tile: &mut [f32]) {
    for u in 0..nu {
        let mut acc = [0f32; PANEL];
        for (k, &xv) in x[u * cols..(u + 1) * cols].iter().enumerate() {
            for (a, &w) in acc.iter_mut().zip(&packed[k * PANEL..(k + 1) * PANEL]) {
                *a += w * xv;
            }
        }
        tile[u * PANEL..(u + 1) * PANEL].copy_from_slice(&acc);
    }
}

/// Safety: AVX-512F; `packed ≥ cols·16`, `x ≥ NU·cols`, `tile ≥ NU·16` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn panel_tile_avx512<const NU: usize>(
    packed: &[f32],
    x: &[f32],
    cols: usize,
    tile: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (pw, px) = (packed.as_ptr(), x.as_ptr());
    // SAFETY: the caller's bounds.
    unsafe { tile_avx512!(NU, cols, px, tile, |k| _mm512_loadu_ps(pw.add(k * PANEL))) }
}

/// Safety: AVX2 + FMA; `packed ≥ cols·16`, `x ≥ NU·cols`, `tile ≥ NU·16` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_tile_avx2<const NU: usize>(
    packed: &[f32],
    x: &[f32],
    cols: usize,
    tile: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (pw, px) = (packed.as_ptr(), x.as_ptr());
    // SAFETY: the caller's bounds.
    unsafe {
        tile_avx2!(NU, cols, px, tile, |k| (
            _mm256_loadu_ps(pw.add(k * PANEL)),
            _mm256_loadu_ps(pw.add(k * PANEL + 8))
        ))
    }
}

/// Safety: NEON; `packed ≥ cols·16`, `x ≥ NU·cols`, `tile ≥ NU·16` floats.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn panel_tile_neon<const NU: usize>(
    packed: &[f32],
    x: &[f32],
    cols: usize,
    tile: &mut [f32],
) {
    use std::arch::aarch64::*;
    let (pw, px) = (packed.as_ptr(), x.as_ptr());
    // SAFETY: the caller's bounds.
    unsafe {
        tile_neon!(NU, cols, px, tile, |k| [
            vld1q_f32(pw.add(k * PANEL)),
            vld1q_f32(pw.add(k * PANEL + 4)),
            vld1q_f32(pw.add(k * PANEL + 8)),
            vld1q_f32(pw.add(k * PANEL + 12)),
        ])
    }
}

/// `a · b` for equal-length slices, on the `isa` path.
pub fn dot_f32(a: &[f32], b: &[f32], isa: Supported) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    match isa.get() {
        // SAFETY (each arm): `isa` proves the CPU has the features; the kernels bound their
        // reads by both lengths.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { dot_f32_avx512(a, b) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { dot_f32_avx2(a, b) },
        #[cfg(target_arch = "aarch64")]
        Simd::Neon => unsafe { dot_f32_neon(a, b) },
        _ => dot_f32_scalar(a, b),
    }
}

/// `Σ_b d_b · (q_b · x_b)` over Q8_0 blocks: `scales (n/32)`, `q (n)`, `x (n)`, on the `isa`
/// path.
pub fn dot_q8(scales: &[f32], q: &[i8], x: &[f32], isa: Supported) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    match isa.get() {
        // SAFETY (each arm): `isa` proves the CPU has the features; the kernels bound their
        // reads by the three lengths.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { dot_q8_avx512(scales, q, x) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { dot_q8_avx2(scales, q, x) },
        #[cfg(target_arch = "aarch64")]
        Simd::Neon => unsafe { dot_q8_neon(scales, q, x) },
        _ => dot_q8_scalar(scales, q, x),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut i = 0;
    // SAFETY: every load reads 16 floats below `n`, the length of both slices.
    unsafe {
        while i + 32 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            acc1 = _mm512_fmadd_ps(
                _mm512_loadu_ps(pa.add(i + 16)),
                _mm512_loadu_ps(pb.add(i + 16)),
                acc1,
            );
            i += 32;
        }
        if i + 16 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), acc0);
            i += 16;
        }
    }
    let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for j in i..n {
        s += a[j] * b[j];
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load reads 8 floats below `n`, the length of both slices.
    unsafe {
        while i + 32 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                let o = i + 8 * j;
                *a = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(o)), _mm256_loadu_ps(pb.add(o)), *a);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i)),
                _mm256_loadu_ps(pb.add(i)),
                acc[0],
            );
            i += 8;
        }
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut s = hsum256(v);
    for j in i..n {
        s += a[j] * b[j];
    }
    s
}

/// Sum of the 8 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn hsum256(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn dot_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::aarch64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    // SAFETY: every load reads 4 floats below `n`, the length of both slices.
    unsafe {
        while i + 16 <= n {
            for (j, a) in acc.iter_mut().enumerate() {
                let o = i + 4 * j;
                *a = vfmaq_f32(*a, vld1q_f32(pa.add(o)), vld1q_f32(pb.add(o)));
            }
            i += 16;
        }
        while i + 4 <= n {
            acc[0] = vfmaq_f32(acc[0], vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
            i += 4;
        }
    }
    let mut s = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    for j in i..n {
        s += a[j] * b[j];
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn dot_q8_avx512(scales: &[f32], q: &[i8], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let nb = scales.len().min(q.len() / BLOCK).min(x.len() / BLOCK);
    let mut acc = _mm512_setzero_ps();
    // SAFETY: block b reads q[32b..32b+32] and x[32b..32b+32], inside both slices for b < nb.
    unsafe {
        for b in 0..nb {
            let qp = q.as_ptr().add(b * BLOCK) as *const __m128i;
            let xp = x.as_ptr().add(b * BLOCK);
            let q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(qp)));
            let q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(qp.add(1))));
            let s = _mm512_mul_ps(q0, _mm512_loadu_ps(xp));
            let s = _mm512_fmadd_ps(q1, _mm512_loadu_ps(xp.add(16)), s);
            acc = _mm512_fmadd_ps(s, _mm512_set1_ps(*scales.get_unchecked(b)), acc);
        }
    }
    _mm512_reduce_add_ps(acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_q8_avx2(scales: &[f32], q: &[i8], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let nb = scales.len().min(q.len() / BLOCK).min(x.len() / BLOCK);
    let mut acc = [_mm256_setzero_ps(); 2];
    // SAFETY: block b reads q[32b..32b+32] and x[32b..32b+32], inside both slices for b < nb.
    unsafe {
        for b in 0..nb {
            let qp = q.as_ptr().add(b * BLOCK);
            let xp = x.as_ptr().add(b * BLOCK);
            let mut s = _mm256_setzero_ps();
            for j in 0..4 {
                let q8 = _mm_loadl_epi64(qp.add(8 * j) as *const __m128i);
                let qf = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
                s = _mm256_fmadd_ps(qf, _mm256_loadu_ps(xp.add(8 * j)), s);
            }
            let d = _mm256_set1_ps(*scales.get_unchecked(b));
            acc[b & 1] = _mm256_fmadd_ps(s, d, acc[b & 1]);
        }
    }
    hsum256(_mm256_add_ps(acc[0], acc[1]))
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn dot_q8_neon(scales: &[f32], q: &[i8], x: &[f32]) -> f32 {
    use std::arch::aarch64::*;
    let nb = scales.len().min(q.len() / BLOCK).min(x.len() / BLOCK);
    let mut acc = vdupq_n_f32(0.0);
    // SAFETY: block b reads q[32b..32b+32] and x[32b..32b+32], inside both slices for b < nb.
    unsafe {
        for b in 0..nb {
            let qp = q.as_ptr().add(b * BLOCK);
            let xp = x.as_ptr().add(b * BLOCK);
            let mut s = vdupq_n_f32(0.0);
            for h in 0..2 {
                let q16 = vld1q_s8(qp.add(16 * h));
                let lo = vmovl_s8(vget_low_s8(q16));
                let hi = vmovl_high_s8(q16);
                let parts = [
                    vmovl_s16(vget_low_s16(lo)),
                    vmovl_high_s16(lo),
                    vmovl_s16(vget_low_s16(hi)),
                    vmovl_high_s16(hi),
                ];
                for (j, p) in parts.iter().enumerate() {
                    let xv = vld1q_f32(xp.add(16 * h + 4 * j));
                    s = vfmaq_f32(s, vcvtq_f32_s32(*p), xv);
                }
            }
            acc = vfmaq_n_f32(acc, s, *scales.get_unchecked(b));
        }
    }
    vaddvq_f32(acc)
}

/// `y += a·x` for equal-length slices, on the `isa` path (attention's weighted sum of values).
pub fn axpy(a: f32, x: &[f32], y: &mut [f32], isa: Supported) {
    debug_assert_eq!(x.len(), y.len());
    match isa.get() {
        // SAFETY (each arm): `isa` proves the CPU has the features; the bodies are safe code.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { axpy_avx512(a, x, y) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { axpy_avx2(a, x, y) },
        #[cfg(target_arch = "aarch64")]
        Simd::Neon => unsafe { axpy_neon(a, x, y) },
        _ => axpy_body(a, x, y),
    }
}

/// The loop every path compiles (vectorised for the features its caller enables; no FMA
/// contraction, so every path gives the scalar result bit for bit).
#[inline(always)]
fn axpy_body(a: f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn axpy_avx512(a: f32, x: &[f32], y: &mut [f32]) {
    axpy_body(a, x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(a: f32, x: &[f32], y: &mut [f32]) {
    axpy_body(a, x, y)
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn axpy_neon(a: f32, x: &[f32], y: &mut [f32]) {
    axpy_body(a, x, y)
}

/// The f32 dot product over 32 independent lanes, then the tail: portable code (the baseline
/// target's auto-vectorisation is all it gets).
fn dot_f32_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() / BLOCK * BLOCK;
    let mut acc = [0f32; BLOCK];
    for (ca, cb) in a[..n].chunks_exact(BLOCK).zip(b[..n].chunks_exact(BLOCK)) {
        for j in 0..BLOCK {
            acc[j] += ca[j] * cb[j];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        s += x * y;
    }
    s
}

fn dot_q8_scalar(scales: &[f32], q: &[i8], x: &[f32]) -> f32 {
    let mut acc = [0f32; BLOCK];
    for ((&d, qs), xs) in scales
        .iter()
        .zip(q.chunks_exact(BLOCK))
        .zip(x.chunks_exact(BLOCK))
    {
        for j in 0..BLOCK {
            acc[j] += qs[j] as f32 * xs[j] * d;
        }
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn matmul_matches_the_naive_product_in_f32_and_within_q8_error() {
        let (rows, cols, t) = (70, 96, 14);
        let w = data(rows * cols, 1);
        let x = data(t * cols, 2);
        let naive: Vec<f32> = (0..t)
            .flat_map(|tt| {
                let (w, x) = (&w, &x);
                (0..rows).map(move |r| {
                    (0..cols)
                        .map(|c| w[r * cols + c] * x[tt * cols + c])
                        .sum::<f32>()
                })
            })
            .collect();
        let mut pool = SpinPool::new(2);
        // Q8_0 rounds each weight to within d/2 = max|w|/254 of itself.
        for (quant, tol) in [(false, 1e-4), (true, 5e-2)] {
            let m = Matrix::new(w.clone(), rows, cols, quant);
            for tt in [1, 3, t] {
                let mut y = vec![0f32; tt * rows];
                matmul(
                    &mut pool,
                    &m,
                    &x[..tt * cols],
                    tt,
                    &mut y,
                    Supported::best(),
                );
                let err = y
                    .iter()
                    .zip(&naive)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(err < tol, "quantized {quant}, t {tt}: max error {err}");
            }
        }
        assert_eq!(
            Matrix::new(w, rows, cols, true).bytes(),
            rows * cols + 4 * rows * 3
        );
    }

    /// Every path this CPU runs (all of AVX-512, AVX2 and scalar on an AVX-512 x86-64; NEON and
    /// scalar on aarch64) against the scalar one: dot products of lengths with and without a
    /// tail, Q8_0 dots, axpy, and the product for 1 input (dots) and 1–14 inputs (the prefill
    /// tile, whole and in AVX2/NEON's groups of 6).
    #[test]
    fn every_path_matches_the_scalar_one() {
        let scalar = Supported::new(Simd::Scalar).unwrap();
        let paths = Supported::all();
        println!(
            "paths: {:?}",
            paths.iter().map(|p| p.get()).collect::<Vec<_>>()
        );
        let close = |a: f32, b: f32, scale: f32| (a - b).abs() <= 1e-5 * scale.max(1.0);
        for isa in paths {
            for n in [1, 7, 8, 16, 31, 32, 33, 64, 100, 576] {
                let (a, b) = (data(n, 3), data(n, 4));
                let scale: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
                let (got, want) = (dot_f32(&a, &b, isa), dot_f32(&a, &b, scalar));
                assert!(
                    close(got, want, scale),
                    "{isa:?} dot_f32 n {n}: {got} vs {want}"
                );
                let mut y1 = data(n, 5);
                let mut y2 = y1.clone();
                axpy(0.37, &a, &mut y1, isa);
                axpy(0.37, &a, &mut y2, scalar);
                assert_eq!(y1, y2, "{isa:?} axpy n {n}");
            }
            for blocks in [1, 2, 3, 18] {
                let n = blocks * BLOCK;
                let m = Matrix::new(data(n, 6), 1, n, true);
                let Matrix::Q8 { scales, q, .. } = &m else {
                    unreachable!()
                };
                let x = data(n, 7);
                let (got, want) = (dot_q8(scales, q, &x, isa), dot_q8(scales, q, &x, scalar));
                assert!(
                    close(got, want, n as f32),
                    "{isa:?} dot_q8 n {n}: {got} vs {want}"
                );
            }
            let (rows, cols) = (37, 64);
            let mut pool = SpinPool::new(2);
            for quant in [false, true] {
                let m = Matrix::new(data(rows * cols, 8), rows, cols, quant);
                for t in [1, 2, 5, 6, 7, 12, 13, 14] {
                    let x = data(t * cols, 9);
                    let (mut y, mut want) = (vec![0f32; t * rows], vec![0f32; t * rows]);
                    matmul(&mut pool, &m, &x, t, &mut y, isa);
                    matmul(&mut pool, &m, &x, t, &mut want, scalar);
                    for (i, (a, b)) in y.iter().zip(&want).enumerate() {
                        assert!(
                            close(*a, *b, cols as f32),
                            "{isa:?} q8 {quant} t {t} [{i}]: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    /// Kernel throughput probe (not a timed test: prints only). `cargo test --release -- --ignored kernel_throughput --nocapture`
    #[test]
    #[ignore]
    fn kernel_throughput() {
        for (rows, cols) in [(1536, 576), (49152, 576)] {
            let w: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect();
            let x: Vec<f32> = (0..32 * cols)
                .map(|i| ((i * 31) % 100) as f32 / 100.0)
                .collect();
            for (quant, isa) in [false, true]
                .into_iter()
                .flat_map(|q| Supported::all().into_iter().map(move |i| (q, i)))
            {
                let m = Matrix::new(w.clone(), rows, cols, quant);
                let mut y = vec![0f32; 32 * rows];
                let mut pool = SpinPool::for_machine();
                for t in [1usize, 11, 32] {
                    let reps = if t == 1 { 200 } else { 10 };
                    let t0 = std::time::Instant::now();
                    for _ in 0..reps {
                        matmul(&mut pool, &m, &x[..t * cols], t, &mut y[..t * rows], isa);
                    }
                    let dt = t0.elapsed().as_secs_f64() / reps as f64;
                    eprintln!(
                        "{rows}x{cols} q8={quant} {:?} t={t}: {:.3} ms, {:.1} GB/s, {:.1} GFLOP/s",
                        isa.get(),
                        dt * 1e3,
                        m.bytes() as f64 / dt / 1e9,
                        2.0 * (rows * cols * t) as f64 / dt / 1e9
                    );
                }
            }
        }
    }
}
