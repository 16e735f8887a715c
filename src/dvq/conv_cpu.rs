//! The DVQ's 1-D convolution on the CPU as one candle custom op per pass: im2col into a buffer
//! (threaded over rows), then one `gemm` product with the bias as the product's initial value;
//! the backward pass is two more products (input and weight gradients) and a col2im.
//! ReLU of the input and nearest ×2 up-sampling of the input are folded into the im2col
//! gather, so neither costs a pass over memory of its own, forward or backward.
//!
//! Layouts: input `(B, T, C_in)` channels-last; weight PyTorch's `(C_out, C_in, k)`; the im2col
//! buffer `(B·T_out, k·C_in)` is tap-major (column `j·C_in + c` is tap j, channel c), so that
//! gathering a tap is one contiguous copy of a frame; the (small) weight is permuted to that
//! order for each pass, and its gradient permuted back.
//! Numerically the same convolution as [`super::conv`]'s tensor-op path (which CUDA/Metal run),
//! up to summation order; checked by the `fused_cpu_conv_*` tests.

use std::borrow::Cow;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use super::conv::ConvSpec;
use rayon::prelude::*;

/// Geometry of one convolution pass (as `torch.nn.Conv1d`), plus the folded input transforms.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub spec: ConvSpec,
    /// The layer sees `relu(x)`.
    pub relu: bool,
    /// The layer sees `x` up-sampled ×2 in time (nearest): frame u is input frame ⌊u/2⌋.
    pub upsample: bool,
}

impl Geometry {
    /// Frames the layer sees for `t` input frames (`None` if ×2 overflows).
    fn seen(&self, t: usize) -> Option<usize> {
        if self.upsample {
            t.checked_mul(2)
        } else {
            Some(t)
        }
    }

    /// Output frames for `t` input frames (PyTorch's formula on the frames seen), or `None`
    /// when they do not fill one window ([`ConvSpec::out_len`]).
    pub fn out_len(&self, t: usize) -> Option<usize> {
        self.spec.out_len(self.seen(t)?)
    }

    /// The output length for `t` input frames and the product's row count `b·T_out`, or the
    /// op's error.
    fn rows(&self, b: usize, t: usize) -> candle_core::Result<(usize, usize)> {
        let Some(t_out) = self.out_len(t) else {
            candle_core::bail!("{}", self.spec.too_short(t))
        };
        match b.checked_mul(t_out) {
            Some(m) => Ok((t_out, m)),
            None => candle_core::bail!("conv1d: {b} clips of {t_out} output frames overflow"),
        }
    }

    /// Input frame read by tap `j` of output frame `t` (of `t_in` input frames), if inside
    /// (a position past `usize` is outside).
    #[inline]
    fn source(&self, t: usize, j: usize, t_in: usize) -> Option<usize> {
        let u = t
            .checked_mul(self.spec.stride)?
            .checked_add(j.checked_mul(self.spec.dilation)?)?
            .checked_sub(self.spec.padding)?;
        (u < self.seen(t_in)?).then_some(if self.upsample { u / 2 } else { u })
    }

    /// Whether the im2col buffer would be the input itself (k = 1, stride 1, no padding, no
    /// folded transform), so the product can read the input in place.
    fn direct(&self) -> bool {
        let s = &self.spec;
        s.kernel == 1 && s.stride == 1 && s.padding == 0 && !self.relu && !self.upsample
    }

    /// The product's left operand for `x (B, t_in, C_in)` (`t_out` output frames): `x` itself
    /// when [`Self::direct`], else its im2col, built in `buf`.
    fn gathered<'a>(
        &self,
        x: &'a [f32],
        (b, t_in, t_out): (usize, usize, usize),
        buf: &'a mut Vec<f32>,
    ) -> &'a [f32] {
        if self.direct() {
            x
        } else {
            *buf = self.im2col(x, b, t_in, t_out);
            buf
        }
    }

    fn cols(&self) -> usize {
        self.spec.c_in * self.spec.kernel
    }

    /// `(C_out, C_in, k)` → `(C_out, k·C_in)`: the weight in the im2col buffer's column order.
    fn tap_major(&self, w: &[f32]) -> Vec<f32> {
        let (c, k) = (self.spec.c_in, self.spec.kernel);
        let mut out = vec![0f32; w.len()];
        for (src, dst) in w.chunks_exact(c * k).zip(out.chunks_exact_mut(c * k)) {
            for ci in 0..c {
                for j in 0..k {
                    dst[j * c + ci] = src[ci * k + j];
                }
            }
        }
        out
    }

    /// Fills `out (T_out, C_in·k)` with the im2col rows of one clip `x (t_in, C_in)`.
    fn im2col_clip(&self, x: &[f32], t_in: usize, out: &mut [f32]) {
        let (c, k) = (self.spec.c_in, self.spec.kernel);
        for (t, row) in out.chunks_exact_mut(c * k).enumerate() {
            for (j, dst) in row.chunks_exact_mut(c).enumerate() {
                match self.source(t, j, t_in) {
                    Some(u) if self.relu => {
                        for (d, &v) in dst.iter_mut().zip(&x[u * c..(u + 1) * c]) {
                            *d = v.max(0.0);
                        }
                    }
                    Some(u) => dst.copy_from_slice(&x[u * c..(u + 1) * c]),
                    None => dst.fill(0.0),
                }
            }
        }
    }

    /// `(B·T_out, C_in·k)` im2col of `x (B, t_in, C_in)`, threaded over clips. `b·t_out·C_in·k`
    /// is the size of a buffer the caller is about to fill, so it fits in memory.
    fn im2col(&self, x: &[f32], b: usize, t_in: usize, t_out: usize) -> Vec<f32> {
        let mut cols = vec![0f32; b * t_out * self.cols()];
        cols.par_chunks_mut(t_out * self.cols())
            .zip(x.par_chunks(t_in * self.spec.c_in))
            .for_each(|(out, xb)| self.im2col_clip(xb, t_in, out));
        cols
    }

    /// Adds the im2col gradient `dcols (T_out, C_in·k)` of one clip back onto the frames it
    /// was gathered from, `dx (t_in, C_in)`, through the ReLU's mask when there is one.
    fn col2im_clip(&self, dcols: &[f32], x: &[f32], t_in: usize, dx: &mut [f32]) {
        let (c, k) = (self.spec.c_in, self.spec.kernel);
        for (t, row) in dcols.chunks_exact(c * k).enumerate() {
            for (j, g) in row.chunks_exact(c).enumerate() {
                if let Some(u) = self.source(t, j, t_in) {
                    let dst = &mut dx[u * c..(u + 1) * c];
                    if self.relu {
                        for ((d, &g), &v) in dst.iter_mut().zip(g).zip(&x[u * c..(u + 1) * c]) {
                            *d += if v > 0.0 { g } else { 0.0 };
                        }
                    } else {
                        for (d, &g) in dst.iter_mut().zip(g) {
                            *d += g;
                        }
                    }
                }
            }
        }
    }
}

/// `dst (m, n) = init + lhs (m, k) · rhs (k, n)` for row-major operands given by (row, column)
/// strides, on rayon's threads. `dst` is written, then accumulated into when `accumulate`.
#[allow(clippy::too_many_arguments)]
fn gemm_f32(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    assert!(dst.len() >= m * n, "gemm output");
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(n == 0 || k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts above keep every element gemm addresses inside the slices; dst is
    // row-major (m, n) and does not alias the inputs (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(rayon::current_num_threads()),
        )
    }
}

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("conv1d: {what} must be f32"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("conv1d: {what} must be contiguous"),
    }
}

/// How the forward op receives its weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// PyTorch's `(C_out, C_in, k)`, the trained parameter itself; permuted for each pass.
    Torch,
    /// `(k·C_in, C_out)` row-major, row `j·C_in + c` = tap j, channel c: the product's right
    /// operand as it is, which gemm reads without packing. Inference only (no backward).
    Product,
}

/// Forward: `(x (B, T, C_in), weight, bias (C_out))` → `(B, T_out, C_out)`, the weight as
/// `layout` says.
pub struct Conv1dOp {
    pub geometry: Geometry,
    pub layout: WeightLayout,
}

impl CustomOp3 for Conv1dOp {
    fn name(&self) -> &'static str {
        "dvq-conv1d"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.geometry;
        let (b, t, c) = lx.shape().dims3()?;
        let w_ok = match self.layout {
            WeightLayout::Torch => lw.shape().dims() == [g.spec.c_out, g.spec.c_in, g.spec.kernel],
            WeightLayout::Product => lw.shape().dims() == [g.cols(), g.spec.c_out],
        };
        if c != g.spec.c_in || !w_ok {
            candle_core::bail!("conv1d: input {:?}, weight {:?}", lx.shape(), lw.shape());
        }
        let (x, w, bias) = (
            f32_slice(sx, lx, "input")?,
            f32_slice(sw, lw, "weight")?,
            f32_slice(sb, lb, "bias")?,
        );
        let (t_out, m) = g.rows(b, t)?;
        let kk = g.cols();
        if m.checked_mul(kk.max(g.spec.c_out)).is_none() {
            candle_core::bail!("conv1d: a {m}-row product of {kk} columns overflows");
        }
        let mut y = Vec::with_capacity(m * g.spec.c_out);
        for _ in 0..m {
            y.extend_from_slice(bias);
        }
        let mut buf = Vec::new();
        let lhs = g.gathered(x, (b, t, t_out), &mut buf);
        // rhs (k·C_in, C_out): from the tap-major permutation `(C_out, k·C_in)` read
        // transposed, or the product layout read as it is.
        let (w, rhs_strides) = match self.layout {
            WeightLayout::Torch => (Cow::Owned(g.tap_major(w)), (1, kk)),
            WeightLayout::Product => (Cow::Borrowed(w), (g.spec.c_out, 1)),
        };
        gemm_f32(
            (m, g.spec.c_out, kk),
            &mut y,
            true,
            lhs,
            (kk, 1),
            &w,
            rhs_strides,
        );
        Ok((CpuStorage::F32(y), Shape::from((b, t_out, g.spec.c_out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if self.layout != WeightLayout::Torch {
            candle_core::bail!("conv1d: the inference weight layout has no backward pass");
        }
        let g = self.geometry;
        let grad = grad.contiguous()?;
        let dx = x.apply_op3_no_bwd(w, &grad, &Conv1dInputGrad(g))?;
        let dwb = x.apply_op2_no_bwd(&grad, &Conv1dWeightGrad(g))?;
        let kk = g.cols();
        let dw = dwb.narrow(1, 0, kk)?.contiguous()?.reshape((
            g.spec.c_out,
            g.spec.c_in,
            g.spec.kernel,
        ))?;
        let db = dwb.narrow(1, kk, 1)?.contiguous()?.reshape(g.spec.c_out)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// `(x (B, T, C_in), weight, grad (B, T_out, C_out))` → `dx (B, T, C_in)`.
struct Conv1dInputGrad(Geometry);

impl CustomOp3 for Conv1dInputGrad {
    fn name(&self) -> &'static str {
        "dvq-conv1d-input-grad"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let (b, t, c) = lx.shape().dims3()?;
        let (x, w, gy) = (
            f32_slice(sx, lx, "input")?,
            f32_slice(sw, lw, "weight")?,
            f32_slice(sg, lg, "gradient")?,
        );
        let (t_out, m) = g.rows(b, t)?;
        let kk = g.cols();
        if m.checked_mul(kk).is_none() {
            candle_core::bail!("conv1d: a {m}-row product of {kk} columns overflows");
        }
        // dcols (m, k·C_in) = grad (m, C_out) · W (C_out, k·C_in).
        let w = g.tap_major(w);
        let mut dcols = vec![0f32; m * kk];
        gemm_f32(
            (m, kk, g.spec.c_out),
            &mut dcols,
            false,
            gy,
            (g.spec.c_out, 1),
            &w,
            (kk, 1),
        );
        if g.direct() {
            return Ok((CpuStorage::F32(dcols), Shape::from((b, t, c))));
        }
        let mut dx = vec![0f32; b * t * c];
        dx.par_chunks_mut(t * c)
            .zip(dcols.par_chunks(t_out * kk))
            .zip(x.par_chunks(t * c))
            .for_each(|((dxb, dcb), xb)| g.col2im_clip(dcb, xb, t, dxb));
        Ok((CpuStorage::F32(dx), Shape::from((b, t, c))))
    }
}

/// `(x (B, T, C_in), grad (B, T_out, C_out))` → `(C_out, C_in·k + 1)`: the weight gradient in
/// the weight's layout, then the bias gradient as the last column.
struct Conv1dWeightGrad(Geometry);

impl CustomOp2 for Conv1dWeightGrad {
    fn name(&self) -> &'static str {
        "dvq-conv1d-weight-grad"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let (b, t, _) = lx.shape().dims3()?;
        let (x, gy) = (f32_slice(sx, lx, "input")?, f32_slice(sg, lg, "gradient")?);
        let (t_out, m) = g.rows(b, t)?;
        let (kk, n) = (g.cols(), g.spec.c_out);
        if m.checked_mul(kk).is_none() {
            candle_core::bail!("conv1d: a {m}-row product of {kk} columns overflows");
        }
        let mut buf = Vec::new();
        let lhs = g.gathered(x, (b, t, t_out), &mut buf);
        // dW (C_out, k·C_in) = gradᵀ (C_out, m) · cols (m, k·C_in), then permuted back to
        // the weight's (C_in, k) order with the bias gradient appended to each row.
        let mut dw = vec![0f32; n * kk];
        gemm_f32((n, kk, m), &mut dw, false, gy, (1, n), lhs, (kk, 1));
        let mut db = vec![0f32; n];
        for row in gy.chunks_exact(n) {
            for (a, &v) in db.iter_mut().zip(row) {
                *a += v;
            }
        }
        let mut out = Vec::with_capacity(n * (kk + 1));
        let (c, k) = (g.spec.c_in, g.spec.kernel);
        for (o, r) in dw.chunks_exact(kk).enumerate() {
            for ci in 0..c {
                out.extend((0..k).map(|j| r[j * c + ci]));
            }
            out.push(db[o]);
        }
        Ok((CpuStorage::F32(out), Shape::from((n, kk + 1))))
    }
}
