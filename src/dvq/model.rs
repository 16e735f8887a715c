//! The decoder-only-quantized VAE: convolutional encoder to code logits, Gumbel-Softmax
//! quantization against a codebook, convolutional decoder back to 263-d features.
//!
//! Follows JYe16/GeoMotionGPT `dvq/encdec.py` (encoder ends in K logits, no codebook lookup) and
//! T2M-GPT `models/resnet.py` (pre-activation residual blocks, dilations 9, 3, 1). All
//! activations are channels-last `(B, T, C)`; features are normalized with the corpus Mean/Std.

use candle_core::{D, Device, Tensor, Var};
use rand::{SeedableRng, rngs::StdRng};

use super::config::{DvqConfig, Quantizer};
use super::conv::{Conv1d, ConvSpec};
use super::error::{DvqError, Result};
use super::params::{Group, Params};

/// `x + conv_k1(relu(conv_k3,dilated(relu(x))))` (T2M-GPT `ResConv1DBlock`, no norm).
struct ResBlock {
    conv1: Conv1d,
    conv2: Conv1d,
}

impl ResBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward_relu(x)?;
        let h = self.conv2.forward_relu(&h)?;
        Ok((x + h)?)
    }
}

/// `depth` residual blocks with dilations `[rate^(depth−1), …, 1]`.
struct Resnet1d {
    blocks: Vec<ResBlock>,
}

impl Resnet1d {
    fn convs_mut(&mut self) -> impl Iterator<Item = &mut Conv1d> {
        self.blocks
            .iter_mut()
            .flat_map(|b| [&mut b.conv1, &mut b.conv2])
    }

    fn new(
        p: &mut Params,
        name: &str,
        cfg: &DvqConfig,
        rng: &mut StdRng,
        dev: &Device,
    ) -> Result<Self> {
        let w = cfg.width;
        let blocks = cfg
            .dilations()
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                Ok(ResBlock {
                    conv1: Conv1d::new(
                        p,
                        &format!("{name}.{i}.conv1"),
                        ConvSpec::same(w, w, 3, d),
                        rng,
                        dev,
                    )?,
                    conv2: Conv1d::new(
                        p,
                        &format!("{name}.{i}.conv2"),
                        ConvSpec::same(w, w, 1, 1),
                        rng,
                        dev,
                    )?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { blocks })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        Ok(x)
    }
}

/// Encoder: Conv(263→W,k3)+ReLU, down_t × [Conv(W,W,k4,s2,p1), Resnet1d], Conv(W→K,k3).
struct Encoder {
    conv_in: Conv1d,
    stages: Vec<(Conv1d, Resnet1d)>,
    conv_out: Conv1d,
}

/// Decoder: Conv(D→W,k3)+ReLU, down_t × [Resnet1d, ×2 nearest, Conv(W,W,k3)],
/// Conv(W,W,k3)+ReLU, Conv(W→263,k3).
struct Decoder {
    conv_in: Conv1d,
    stages: Vec<(Resnet1d, Conv1d)>,
    conv_mid: Conv1d,
    conv_out: Conv1d,
}

/// The tokenizer network with its codebook.
pub struct DvqModel {
    pub config: DvqConfig,
    params: Params,
    encoder: Encoder,
    decoder: Decoder,
    /// `(K, D)` codebook.
    codebook: Var,
    device: Device,
}

impl DvqModel {
    /// A freshly initialised model: convolutions as PyTorch's default, the codebook from
    /// N(0, 1/D), so rows start near unit norm and near-orthogonal (the reference draws
    /// U(−1/K, 1/K); larger rows give the encoder a larger gradient through `assign · C` on a
    /// short CPU schedule), all from `seed`.
    pub fn new(config: &DvqConfig, seed: u64, device: &Device) -> Result<Self> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut p = Params::new();
        let (w, r) = (config.width, &mut rng);
        let dev = device;
        let conv_in = Conv1d::new(
            &mut p,
            "encoder.conv_in",
            ConvSpec::same(config.input_dim, w, 3, 1),
            r,
            dev,
        )?;
        let mut stages = Vec::new();
        for i in 0..config.down_t {
            let down = ConvSpec {
                c_in: w,
                c_out: w,
                kernel: 4,
                stride: 2,
                padding: 1,
                dilation: 1,
            };
            let conv = Conv1d::new(&mut p, &format!("encoder.down.{i}"), down, r, dev)?;
            let res = Resnet1d::new(&mut p, &format!("encoder.res.{i}"), config, r, dev)?;
            stages.push((conv, res));
        }
        let enc_out = config
            .quantizer
            .encoder_out(config.nb_code, config.code_dim);
        let conv_out = Conv1d::new(
            &mut p,
            "encoder.conv_out",
            ConvSpec::same(w, enc_out, 3, 1),
            r,
            dev,
        )?;
        let encoder = Encoder {
            conv_in,
            stages,
            conv_out,
        };

        let conv_in = Conv1d::new(
            &mut p,
            "decoder.conv_in",
            ConvSpec::same(config.code_dim, w, 3, 1),
            r,
            dev,
        )?;
        let mut stages = Vec::new();
        for i in 0..config.down_t {
            let res = Resnet1d::new(&mut p, &format!("decoder.res.{i}"), config, r, dev)?;
            let conv = Conv1d::new(
                &mut p,
                &format!("decoder.up.{i}"),
                ConvSpec::same(w, w, 3, 1),
                r,
                dev,
            )?;
            stages.push((res, conv));
        }
        let conv_mid = Conv1d::new(
            &mut p,
            "decoder.conv_mid",
            ConvSpec::same(w, w, 3, 1),
            r,
            dev,
        )?;
        let conv_out = Conv1d::new(
            &mut p,
            "decoder.conv_out",
            ConvSpec::same(w, config.input_dim, 3, 1),
            r,
            dev,
        )?;
        let decoder = Decoder {
            conv_in,
            stages,
            conv_mid,
            conv_out,
        };

        let codebook = p.normal(
            "quantizer.codebook",
            Group::Codebook,
            &[config.nb_code, config.code_dim],
            1.0 / (config.code_dim as f32).sqrt(),
            r,
            dev,
        )?;
        Ok(Self {
            config: config.clone(),
            params: p,
            encoder,
            decoder,
            codebook,
            device: device.clone(),
        })
    }

    /// Prepares every convolution for inference only ([`Conv1d::freeze`]): faster CPU forward
    /// passes, no gradients, later weight updates not seen. The [`super::Tokenizer`] does this
    /// when it loads a model; a model being trained must not be frozen.
    pub fn freeze(&mut self) -> Result<()> {
        let (e, d) = (&mut self.encoder, &mut self.decoder);
        let mut convs: Vec<&mut Conv1d> = vec![&mut e.conv_in, &mut e.conv_out];
        for (down, res) in &mut e.stages {
            convs.push(down);
            convs.extend(res.convs_mut());
        }
        convs.extend([&mut d.conv_in, &mut d.conv_mid, &mut d.conv_out]);
        for (res, up) in &mut d.stages {
            convs.extend(res.convs_mut());
            convs.push(up);
        }
        for c in convs {
            c.freeze()?;
        }
        Ok(())
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The `(K, D)` codebook.
    pub fn codebook(&self) -> &Tensor {
        self.codebook.as_tensor()
    }

    /// Normalized features `(B, T, 263)` → the encoder's output `(B, ⌊T/2^down_t⌋, C)` (each
    /// stride-2 stage halves the length, rounding down, as PyTorch's Conv1d(k4, s2, p1)): code
    /// logits, C = K, for a [`Quantizer::Gumbel`] model; code-space vectors, C = D, for a
    /// [`Quantizer::Nearest`] one.
    ///
    /// Errors: fewer frames than one code.
    pub fn encode_logits(&self, x: &Tensor) -> Result<Tensor> {
        let t = x.dim(1)?;
        let q = self.config.frames_per_code();
        if t < q {
            return Err(DvqError::Data(format!(
                "{t} frames is shorter than one code ({q} frames)"
            )));
        }
        let e = &self.encoder;
        // conv_in's ReLU is folded into the next layer's input.
        let mut h = e.conv_in.forward(x)?;
        let mut relu = true;
        for (down, res) in &e.stages {
            let d = if relu {
                down.forward_relu(&h)?
            } else {
                down.forward(&h)?
            };
            h = res.forward(&d)?;
            relu = false;
        }
        if relu {
            e.conv_out.forward_relu(&h)
        } else {
            e.conv_out.forward(&h)
        }
    }

    /// Code embeddings `(B, N, D)` → normalized features `(B, N·2^down_t, 263)`.
    pub fn decode_embeddings(&self, z: &Tensor) -> Result<Tensor> {
        let d = &self.decoder;
        let mut h = d.conv_in.forward(z)?.relu()?;
        for (res, conv) in &d.stages {
            h = conv.forward_upsampled(&res.forward(&h)?)?;
        }
        d.conv_out.forward_relu(&d.conv_mid.forward(&h)?)
    }

    /// Inference: normalized features `(B, T, 263)` → code ids `(B, ⌊T/8⌋)` (u32): the argmax
    /// of the logits, no noise, as GeoMotionGPT's `quantize`; for a [`Quantizer::Nearest`]
    /// model the codebook row nearest in L2, ‖x‖² − 2x·c + ‖c‖² with the first of equal
    /// distances, as T2M-GPT's `QuantizeEMAReset.quantize`.
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.encode_logits(x)?;
        match self.config.quantizer {
            Quantizer::Gumbel => Ok(h.argmax(D::Minus1)?),
            Quantizer::Nearest => {
                let (b, n, d) = h.dims3()?;
                let flat = h.reshape((b * n, d))?;
                let c = self.codebook();
                let x2 = flat.sqr()?.sum_keepdim(1)?;
                let c2 = c.sqr()?.sum(1)?.unsqueeze(0)?;
                let dist = x2
                    .broadcast_sub(&(flat.matmul(&c.t()?)? * 2.0)?)?
                    .broadcast_add(&c2)?;
                Ok(dist.argmin(D::Minus1)?.reshape((b, n))?)
            }
        }
    }

    /// Inference: code ids `(B, N)` (u32) → normalized features `(B, 8N, 263)` (codebook lookup,
    /// then the decoder).
    pub fn decode(&self, codes: &Tensor) -> Result<Tensor> {
        let (b, n) = codes.dims2()?;
        let z = self
            .codebook()
            .index_select(&codes.flatten_all()?, 0)?
            .reshape((b, n, self.config.code_dim))?;
        self.decode_embeddings(&z)
    }
}
