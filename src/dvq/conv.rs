//! 1-D convolution on channels-last tensors, written as im2col + one matrix product so that its
//! backward pass is two matrix products (candle's own `conv1d` backward is ~5× its forward on
//! CPU; see the DVQ benchmark). On the CPU that is one fused custom op per pass
//! ([`super::conv_cpu`], which also folds in the input's ReLU or ×2 up-sampling); on CUDA/Metal
//! the same im2col is built from tensor ops.
//!
//! Activations are `(B, T, C)`; weights keep PyTorch's `(C_out, C_in, k)` layout so reference
//! checkpoints map one to one.

use candle_core::{D, Device, Tensor, Var};
use rand::rngs::StdRng;

use super::conv_cpu::{Conv1dOp, Geometry, WeightLayout};
use super::error::{DvqError, Result};
use super::params::Params;

/// `Conv1d(c_in → c_out, kernel, stride, padding, dilation)` with bias, as `torch.nn.Conv1d`.
pub struct Conv1d {
    weight: Var,
    bias: Var,
    spec: ConvSpec,
    /// The weight as `(k·C_in, C_out)` for inference on the CPU, set by [`Conv1d::freeze`].
    frozen: Option<Tensor>,
}

/// Shape and hyper-parameters of a [`Conv1d`].
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
}

impl ConvSpec {
    /// Stride 1, "same" padding for an odd kernel and the given dilation.
    pub fn same(c_in: usize, c_out: usize, kernel: usize, dilation: usize) -> Self {
        Self {
            c_in,
            c_out,
            kernel,
            stride: 1,
            padding: dilation.saturating_mul(kernel.saturating_sub(1)) / 2,
            dilation,
        }
    }

    /// Output frames for `t` input frames (PyTorch's formula), or `None` when the padded
    /// input is shorter than one window (`dilation·(kernel − 1) + 1` frames), the stride is 0,
    /// or a step of the arithmetic would overflow.
    pub fn out_len(&self, t: usize) -> Option<usize> {
        let window = self
            .dilation
            .checked_mul(self.kernel.checked_sub(1)?)?
            .checked_add(1)?;
        let padded = t.checked_add(self.padding.checked_mul(2)?)?;
        padded
            .checked_sub(window)?
            .checked_div(self.stride)?
            .checked_add(1)
    }

    /// The error for an input of `t` frames that [`Self::out_len`] refuses.
    pub fn too_short(&self, t: usize) -> String {
        format!(
            "conv1d: {t} input frames do not fill one window (kernel {}, dilation {}, padding {}, \
             stride {})",
            self.kernel, self.dilation, self.padding, self.stride
        )
    }
}

impl Conv1d {
    /// Creates the layer with PyTorch's default initialisation: weight and bias from
    /// U(−1/√fan_in, 1/√fan_in), fan_in = c_in·k.
    pub fn new(
        params: &mut Params,
        name: &str,
        spec: ConvSpec,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Self> {
        let (weight, bias) =
            params.weight_and_bias(name, &[spec.c_out, spec.c_in, spec.kernel], rng, device)?;
        Ok(Self {
            weight,
            bias,
            spec,
            frozen: None,
        })
    }

    /// The layer with given PyTorch-layout weights `(C_out, C_in, k)` and bias `(C_out,)`,
    /// frozen for inference ([`Self::freeze`]); e.g. another model's convolution.
    ///
    /// Errors: weights of another shape than `spec` says.
    pub fn from_weights(spec: ConvSpec, weight: &Tensor, bias: &Tensor) -> Result<Self> {
        let want = [spec.c_out, spec.c_in, spec.kernel];
        if weight.dims() != want || bias.dims() != [spec.c_out] {
            return Err(DvqError::Config(format!(
                "conv1d weights {:?} / {:?}, expected {want:?} / [{}]",
                weight.dims(),
                bias.dims(),
                spec.c_out
            )));
        }
        let mut conv = Self {
            weight: Var::from_tensor(weight)?,
            bias: Var::from_tensor(bias)?,
            spec,
            frozen: None,
        };
        conv.freeze()?;
        Ok(conv)
    }

    /// Keeps a copy of the weight in the product's layout `(k·C_in, C_out)` (row j·C_in + c =
    /// tap j, channel c), so that CPU forward passes neither permute the weight nor have gemm
    /// pack it: for one 196-frame clip at W = 512 those two were 60 % of the encoder's time.
    /// Later passes carry no gradient and do not see later changes to the weight: for models
    /// that only run inference (the [`super::Tokenizer`]). A no-op off the CPU.
    pub fn freeze(&mut self) -> Result<()> {
        if !self.weight.device().is_cpu() {
            return Ok(());
        }
        let s = &self.spec;
        let w = self
            .weight
            .as_tensor()
            .permute((2, 1, 0))?
            .contiguous()?
            .reshape((s.kernel * s.c_in, s.c_out))?;
        self.frozen = Some(w);
        Ok(())
    }

    /// Output length for an input of `t` frames (PyTorch's formula); `None` as
    /// [`ConvSpec::out_len`].
    pub fn out_len(&self, t: usize) -> Option<usize> {
        self.spec.out_len(t)
    }

    /// `(B, T, C_in)` → `(B, T_out, C_out)`.
    ///
    /// Errors: `T` frames do not fill one window ([`ConvSpec::out_len`]), or `C_in` differs.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, false, false)
    }

    /// The layer applied to `relu(x)` (T2M-GPT's pre-activation), `(B, T, C_in)` →
    /// `(B, T_out, C_out)`.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, true, false)
    }

    /// The layer applied to `x` up-sampled ×2 in time (nearest, `nn.Upsample(2)`),
    /// `(B, T, C_in)` → `(B, T_out(2T), C_out)`.
    pub fn forward_upsampled(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, false, true)
    }

    /// On the CPU one fused custom op ([`super::conv_cpu`]); elsewhere tensor ops.
    fn forward_with(&self, x: &Tensor, relu: bool, upsample: bool) -> Result<Tensor> {
        if x.device().is_cpu() {
            let g = Geometry {
                spec: self.spec,
                relu,
                upsample,
            };
            let x = x.contiguous()?;
            let bias = self.bias.as_tensor();
            return Ok(match &self.frozen {
                Some(w) => x.apply_op3_no_bwd(
                    w,
                    bias,
                    &Conv1dOp {
                        geometry: g,
                        layout: WeightLayout::Product,
                    },
                )?,
                None => x.apply_op3(
                    self.weight.as_tensor(),
                    bias,
                    Conv1dOp {
                        geometry: g,
                        layout: WeightLayout::Torch,
                    },
                )?,
            });
        }
        let x = if relu { x.relu()? } else { x.clone() };
        let x = if upsample { upsample2(&x)? } else { x };
        self.forward_tensor_ops(&x)
    }

    /// im2col with tensor ops + one matmul (the CUDA/Metal path; the CPU reference in tests).
    pub(crate) fn forward_tensor_ops(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c) = x.dims3()?;
        debug_assert_eq!(c, self.spec.c_in);
        let t_out = self
            .out_len(t)
            .ok_or_else(|| DvqError::Data(self.spec.too_short(t)))?;
        // (C_out, C_in, k) → (k, C_in, C_out) → (k·C_in, C_out): row j·C_in + c is tap j,
        // channel c; the bias is one more row, multiplied by a column of ones in `cols`, so
        // the bias costs no separate broadcast in the forward pass nor a reduction backward.
        let w = Tensor::cat(
            &[
                self.weight
                    .as_tensor()
                    .permute((2, 1, 0))?
                    .reshape((self.spec.kernel * self.spec.c_in, self.spec.c_out))?,
                self.bias.as_tensor().unsqueeze(0)?,
            ],
            0,
        )?;
        let ones = Tensor::ones((b, t_out, 1), x.dtype(), x.device())?;
        let cols = if self.spec.kernel == 1 && self.spec.stride == 1 && self.spec.padding == 0 {
            Tensor::cat(&[x, &ones], D::Minus1)?
        } else {
            let mut taps = self.taps(x, t_out)?;
            taps.push(ones);
            Tensor::cat(&taps, D::Minus1)?
        };
        let y = cols
            .reshape((b * t_out, self.spec.kernel * c + 1))?
            .matmul(&w)?;
        Ok(y.reshape((b, t_out, self.spec.c_out))?)
    }

    /// The k taps of im2col, each `(B, T_out, C)`: tap j of output t reads input `t·s + j·d − p`.
    fn taps(&self, x: &Tensor, t_out: usize) -> Result<Vec<Tensor>> {
        let (_, t, c) = x.dims3()?;
        let s = self.spec.stride;
        let need = (t_out - 1) * s + self.spec.dilation * (self.spec.kernel - 1) + 1;
        // Pad on the left by p, on the right up to what the last tap reads, rounded up to a
        // multiple of the stride (the rounding zeros are never read).
        let padded_len = need.max(t + self.spec.padding).next_multiple_of(s);
        let xp = x.pad_with_zeros(1, self.spec.padding, padded_len - t - self.spec.padding)?;
        let taps: Vec<Tensor> = if s == 1 {
            (0..self.spec.kernel)
                .map(|j| xp.narrow(1, j * self.spec.dilation, t_out))
                .collect::<candle_core::Result<_>>()?
        } else {
            // (B, Tp, C) → (B, Tp/s, s·C): input s·u + r sits at [u, r·C ..]; tap j is
            // row t + (j·d)/s, channel block (j·d) % s.
            let xr = xp.reshape((xp.dim(0)?, padded_len / s, s * c))?;
            (0..self.spec.kernel)
                .map(|j| {
                    let off = j * self.spec.dilation;
                    xr.narrow(1, off / s, t_out)?
                        .narrow(D::Minus1, (off % s) * c, c)
                })
                .collect::<candle_core::Result<_>>()?
        };
        Ok(taps)
    }
}

/// Nearest-neighbour ×2 up-sampling in time, `(B, T, C)` → `(B, 2T, C)` (`nn.Upsample(2)`).
pub fn upsample2(x: &Tensor) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    Ok(x.unsqueeze(2)?
        .broadcast_as((b, t, 2, c))?
        .reshape((b, 2 * t, c))?)
}
