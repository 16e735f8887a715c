//! CPU kernels of the inference engine: `y = W·x` for a weight matrix `W (rows, cols)` stored in
//! f32 or in Q8_0 (ggml's layout: blocks of 32 weights sharing one scale `d = max|w| / 127`,
//! `w ≈ d·q`, `q` an i8; the scale is kept in f32 here), over `T` input rows at once.
//!
//! The build targets baseline x86-64, so the dot products are compiled three times, for
//! AVX-512, AVX2 + FMA and plain SSE2, and the widest the CPU has is picked at run time
//! (`is_x86_feature_detected!`, cached by std). Rows are split over the engine's [`SpinPool`].

use super::pool::SpinPool;

/// Weights per Q8_0 block (as ggml's `QK8_0`).
pub const BLOCK: usize = 32;

/// A `(rows, cols)` weight matrix, row-major.
pub enum Matrix {
    F32 {
        rows: usize,
        cols: usize,
        w: Vec<f32>,
    },
    /// `scales (rows · cols/32)`, `q (rows · cols)`.
    Q8 {
        rows: usize,
        cols: usize,
        scales: Vec<f32>,
        q: Vec<i8>,
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
        Matrix::Q8 {
            rows,
            cols,
            scales,
            q,
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

    /// Bytes of weight data.
    pub fn bytes(&self) -> usize {
        match self {
            Matrix::F32 { w, .. } => 4 * w.len(),
            Matrix::Q8 { scales, q, .. } => 4 * scales.len() + q.len(),
        }
    }

    /// Row `r` · `x (cols)`.
    fn dot_row(&self, r: usize, x: &[f32]) -> f32 {
        match self {
            Matrix::F32 { cols, w, .. } => dot_f32(&w[r * cols..(r + 1) * cols], x),
            Matrix::Q8 {
                cols, scales, q, ..
            } => {
                let nb = cols / BLOCK;
                dot_q8(
                    &scales[r * nb..(r + 1) * nb],
                    &q[r * cols..(r + 1) * cols],
                    x,
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

/// `y (t, rows) = x (t, cols) · Wᵀ` on `pool`. Rows are split into tasks; for `t > 1` each
/// row is expanded to f32 once and reused for every input row.
pub fn matmul(pool: &mut SpinPool, w: &Matrix, x: &[f32], t: usize, y: &mut [f32]) {
    let (rows, cols) = (w.rows(), w.cols());
    assert_eq!(x.len(), t * cols, "matmul input");
    assert_eq!(y.len(), t * rows, "matmul output");
    if t == 1 {
        // A few tasks per thread: cheap to hand out, and a late thread does not hold the rest.
        let chunk = rows
            .div_ceil(4 * pool.threads())
            .next_multiple_of(16)
            .max(16);
        let out = Out(y.as_mut_ptr());
        pool.run(rows.div_ceil(chunk), &|c| {
            let out = out;
            for r in c * chunk..((c + 1) * chunk).min(rows) {
                // SAFETY: r < rows = y.len(), and task c alone writes rows c·chunk..
                unsafe { *out.0.add(r) = w.dot_row(r, x) };
            }
        });
        return;
    }
    // Prefill: the rows in panels of 16, each expanded to f32 and packed column-major
    // (`(cols, 16)`) once, then a register tile of 16 rows × up to 12 inputs per pass: one
    // panel load and 12 broadcast FMAs per column, no horizontal sums.
    let panels = rows.div_ceil(PANEL);
    let per_task = (panels / (4 * pool.threads())).clamp(1, 16);
    let out = Out(y.as_mut_ptr());
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
                );
                for u in 0..nu {
                    let dst = (u0 + u) * rows + r0;
                    // SAFETY: task `task` alone writes columns r0..r0 + nr of every row of
                    // `y (t, rows)`, and dst + nr ≤ t·rows.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            tile.as_ptr().add(u * PANEL),
                            { out }.0.add(dst),
                            nr,
                        )
                    };
                }
                u0 += nu;
            }
        }
    });
}

/// Rows per packed panel of the prefill product (one AVX-512 register of f32).
const PANEL: usize = 16;
/// Inputs per register tile (12 accumulators + panel + broadcasts fit AVX-512's 32 registers).
const TILE_T: usize = 12;

/// `tile[u·16 + j] = Σ_k packed[k·16 + j] · x[u·cols + k]` for `u < nu ≤ 12` inputs.
fn panel_tile(packed: &[f32], x: &[f32], cols: usize, nu: usize, tile: &mut [f32; PANEL * TILE_T]) {
    assert!(packed.len() >= cols * PANEL && x.len() >= nu * cols && nu <= TILE_T);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        macro_rules! go {
            ($($n:literal)*) => {
                match nu {
                    // SAFETY: the CPU has AVX-512F (checked above); the assert above bounds
                    // every read, and the tile holds 12·16 floats.
                    $($n => unsafe { panel_tile_avx512::<$n>(packed, x, cols, tile) },)*
                    _ => unreachable!(),
                }
            };
        }
        go!(1 2 3 4 5 6 7 8 9 10 11 12);
        return;
    }
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn panel_tile_avx512<const NU: usize>(
    packed: &[f32],
    x: &[f32],
    cols: usize,
    tile: &mut [f32; PANEL * TILE_T],
) {
    use std::arch::x86_64::*;
    let (pw, px) = (packed.as_ptr(), x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); NU];
    // SAFETY: `panel_tile` asserted packed ≥ cols·16 and x ≥ NU·cols floats.
    unsafe {
        for k in 0..cols {
            let wv = _mm512_loadu_ps(pw.add(k * PANEL));
            for u in 0..NU {
                acc[u] = _mm512_fmadd_ps(wv, _mm512_set1_ps(*px.add(u * cols + k)), acc[u]);
            }
        }
        for u in 0..NU {
            _mm512_storeu_ps(tile.as_mut_ptr().add(u * PANEL), acc[u]);
        }
    }
}

/// `a · b` for equal-length slices.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { dot_f32_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { dot_f32_avx2(a, b) };
        }
    }
    dot_f32_body::<false>(a, b)
}

/// `Σ_b d_b · (q_b · x_b)` over Q8_0 blocks: `scales (n/32)`, `q (n)`, `x (n)`.
pub fn dot_q8(scales: &[f32], q: &[i8], x: &[f32]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the CPU has AVX-512F/BW, checked just above.
            return unsafe { dot_q8_avx512(scales, q, x) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { dot_q8_avx2(scales, q, x) };
        }
    }
    dot_q8_body::<false>(scales, q, x)
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
    dot_f32_body::<true>(a, b)
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
    dot_q8_body::<true>(scales, q, x)
}

/// `acc + a·b`, fused where the caller was compiled with FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, acc: f32) -> f32 {
    if FMA { a.mul_add(b, acc) } else { acc + a * b }
}

/// The f32 dot product over 32 independent lanes (vectorized by the compiler for whatever
/// the enclosing function enables), then the tail.
#[inline(always)]
fn dot_f32_body<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() / BLOCK * BLOCK;
    let mut acc = [0f32; BLOCK];
    for (ca, cb) in a[..n].chunks_exact(BLOCK).zip(b[..n].chunks_exact(BLOCK)) {
        for j in 0..BLOCK {
            acc[j] = madd::<FMA>(ca[j], cb[j], acc[j]);
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        s += x * y;
    }
    s
}

#[inline(always)]
fn dot_q8_body<const FMA: bool>(scales: &[f32], q: &[i8], x: &[f32]) -> f32 {
    let mut acc = [0f32; BLOCK];
    for ((&d, qs), xs) in scales
        .iter()
        .zip(q.chunks_exact(BLOCK))
        .zip(x.chunks_exact(BLOCK))
    {
        let mut s = [0f32; BLOCK];
        for j in 0..BLOCK {
            s[j] = qs[j] as f32 * xs[j];
        }
        for j in 0..BLOCK {
            acc[j] = madd::<FMA>(s[j], d, acc[j]);
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
                matmul(&mut pool, &m, &x[..tt * cols], tt, &mut y);
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
            for quant in [false, true] {
                let m = Matrix::new(w.clone(), rows, cols, quant);
                let mut y = vec![0f32; 32 * rows];
                let mut pool = SpinPool::for_machine();
                for t in [1usize, 32] {
                    let reps = if t == 1 { 200 } else { 10 };
                    let t0 = std::time::Instant::now();
                    for _ in 0..reps {
                        matmul(&mut pool, &m, &x[..t * cols], t, &mut y[..t * rows]);
                    }
                    let dt = t0.elapsed().as_secs_f64() / reps as f64;
                    eprintln!(
                        "{rows}x{cols} q8={quant} t={t}: {:.3} ms, {:.1} GB/s, {:.1} GFLOP/s",
                        dt * 1e3,
                        m.bytes() as f64 / dt / 1e9,
                        2.0 * (rows * cols * t) as f64 / dt / 1e9
                    );
                }
            }
        }
    }
}
