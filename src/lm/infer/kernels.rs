//! CPU kernels of the inference engine: `y = W·x` for a weight matrix `W (rows, cols)` stored in
//! f32 or in Q8_0 (ggml's layout: blocks of 32 weights sharing one scale `d = max|w| / 127`,
//! `w ≈ d·q`, `q` an i8; the scale is kept in f32 here), over `T` input rows at once.
//!
//! The build targets baseline x86-64, so the dot products are compiled three times, for
//! AVX-512, AVX2 + FMA and plain SSE2, and the widest the CPU has is picked at run time
//! (`is_x86_feature_detected!`, cached by std). Rows are split over rayon's pool.

use rayon::prelude::*;

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

/// `y (t, rows) = x (t, cols) · Wᵀ`, using `scratch` (grown as needed, never shrunk) for the
/// transposed result. Rows are split across rayon's threads; for `t > 1` each row is expanded
/// to f32 once and reused for every input row.
pub fn matmul(w: &Matrix, x: &[f32], t: usize, y: &mut [f32], scratch: &mut Vec<f32>) {
    let (rows, cols) = (w.rows(), w.cols());
    debug_assert_eq!(x.len(), t * cols);
    debug_assert_eq!(y.len(), t * rows);
    let chunk = (rows / 16).clamp(8, 256);
    if t == 1 {
        // One task per thread: a token step makes ~120 of these calls, each paying rayon's
        // wake-up, so no finer split.
        let chunk = rows.div_ceil(rayon::current_num_threads()).max(1);
        y.par_chunks_mut(chunk).enumerate().for_each(|(c, out)| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = w.dot_row(c * chunk + i, x);
            }
        });
        return;
    }
    if scratch.len() < rows * t {
        scratch.resize(rows * t, 0.0);
    }
    let yt = &mut scratch[..rows * t];
    let chunk = chunk.next_multiple_of(4);
    yt.par_chunks_mut(chunk * t).enumerate().for_each_init(
        || vec![0f32; 4 * cols],
        |buf, (c, out)| {
            let r0 = c * chunk;
            let n_rows = out.len() / t;
            let mut i = 0;
            while i < n_rows {
                let k = (n_rows - i).min(4);
                for j in 0..k {
                    w.row_f32(r0 + i + j, &mut buf[j * cols..(j + 1) * cols]);
                }
                let mut tt = 0;
                if k == 4 {
                    let rows4: [&[f32]; 4] =
                        std::array::from_fn(|j| &buf[j * cols..(j + 1) * cols]);
                    while tt + 4 <= t {
                        let xs: [&[f32]; 4] =
                            std::array::from_fn(|u| &x[(tt + u) * cols..(tt + u + 1) * cols]);
                        let o = block4x4(rows4, xs, cols);
                        for j in 0..4 {
                            for u in 0..4 {
                                out[(i + j) * t + tt + u] = o[j][u];
                            }
                        }
                        tt += 4;
                    }
                }
                for j in 0..k {
                    let row = &buf[j * cols..(j + 1) * cols];
                    for u in tt..t {
                        out[(i + j) * t + u] = dot_f32(row, &x[u * cols..(u + 1) * cols]);
                    }
                }
                i += k;
            }
        },
    );
    for r in 0..rows {
        for tt in 0..t {
            y[tt * rows + r] = yt[r * t + tt];
        }
    }
}

/// `out[r][t] = w_r · x_t` for 4 rows and 4 inputs of `n` floats: register-blocked on AVX-512
/// (n a multiple of 16), else four-by-four dot products.
fn block4x4(w: [&[f32]; 4], x: [&[f32]; 4], n: usize) -> [[f32; 4]; 4] {
    #[cfg(target_arch = "x86_64")]
    if n % 16 == 0 && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above.
        return unsafe { block4x4_avx512(w, x, n) };
    }
    std::array::from_fn(|r| std::array::from_fn(|t| dot_f32(&w[r][..n], &x[t][..n])))
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

/// `out[r][t] = w_r · x_t` for 4 rows and 4 inputs of `n` floats (n a multiple of 16): 16
/// accumulators in registers, each loaded value used 4 times.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block4x4_avx512(w: [&[f32]; 4], x: [&[f32]; 4], n: usize) -> [[f32; 4]; 4] {
    use std::arch::x86_64::*;
    assert!(n % 16 == 0 && w.iter().chain(&x).all(|s| s.len() >= n));
    let mut acc = [[_mm512_setzero_ps(); 4]; 4];
    let mut c = 0;
    // SAFETY: the assert above: every slice holds at least n floats and c + 16 ≤ n.
    unsafe {
        while c < n {
            let xv = [
                _mm512_loadu_ps(x[0].as_ptr().add(c)),
                _mm512_loadu_ps(x[1].as_ptr().add(c)),
                _mm512_loadu_ps(x[2].as_ptr().add(c)),
                _mm512_loadu_ps(x[3].as_ptr().add(c)),
            ];
            for r in 0..4 {
                let wv = _mm512_loadu_ps(w[r].as_ptr().add(c));
                for t in 0..4 {
                    acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
                }
            }
            c += 16;
        }
    }
    let mut out = [[0f32; 4]; 4];
    for r in 0..4 {
        for t in 0..4 {
            out[r][t] = _mm512_reduce_add_ps(acc[r][t]);
        }
    }
    out
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
        let (rows, cols, t) = (70, 96, 3);
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
        let mut scratch = Vec::new();
        // Q8_0 rounds each weight to within d/2 = max|w|/254 of itself.
        for (quant, tol) in [(false, 1e-4), (true, 5e-2)] {
            let m = Matrix::new(w.clone(), rows, cols, quant);
            for tt in [1, t] {
                let mut y = vec![0f32; tt * rows];
                matmul(&m, &x[..tt * cols], tt, &mut y, &mut scratch);
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
                let mut s = Vec::new();
                for t in [1usize, 32] {
                    let reps = if t == 1 { 200 } else { 10 };
                    let t0 = std::time::Instant::now();
                    for _ in 0..reps {
                        matmul(&m, &x[..t * cols], t, &mut y[..t * rows], &mut s);
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
