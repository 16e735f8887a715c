//! The T2M evaluator (Guo et al., CVPR 2022; EricGuo5513/text-to-motion `networks/modules.py`,
//! `networks/evaluator_wrapper.py`) that the motion-language papers report R-Precision, MM-Dist,
//! FID, Diversity and MultiModality with, read from the released files as they are:
//!
//! - `text_mot_match/model/finest.tar`: `{'movement_encoder', 'motion_encoder', 'text_encoder'}`
//!   state dicts (`MovementConvEncoder`, `MotionEncoderBiGRUCo`, `TextEncoderBiGRUCo`);
//! - the evaluator's own Mean/Std (`Comp_v6_KLD01/meta/{mean,std}.npy`): a motion's features
//!   are de-normalised with the dataset's statistics and normalised with these, as the
//!   evaluation code's `renorm4t2m` does;
//! - GloVe (`glove/our_vab_{data.npy,words.pkl,idx.pkl}`) with the part-of-speech one-hots
//!   ([`words`]).
//!
//! Motion: `(T, 263)` raw features → renormalised, cut to a multiple of 4 frames (`unit_length`),
//! foot contacts dropped (259 channels) → two Conv1d(k4, s2, p1) + LeakyReLU(0.2) and a Linear
//! (one movement per 4 frames) → Linear, bidirectional GRU from the learned initial state,
//! last states of both directions → Linear, LayerNorm, LeakyReLU(0.2), Linear. Text: word
//! vector + Linear(POS one-hot) → Linear → bidirectional GRU over the `sent_len` tokens → the
//! same head. Each sequence is run alone at its own length: the packed, zero-padded batch of
//! the reference gives the same numbers (the convolutions' padding is zeros either way).

pub mod protocol;
pub mod words;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::dvq::conv::{Conv1d, ConvSpec};
use crate::lm::LmError;

type Result<T> = std::result::Result<T, LmError>;

/// Frames per movement (`unit_length`).
pub const UNIT_LENGTH: usize = 4;

/// A bidirectional single-layer GRU (PyTorch `nn.GRU(batch_first, bidirectional)`, gates in the
/// order r, z, n) with a learned initial state `hidden (2, 1, H)`.
struct BiGru {
    /// `(weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh)` forward, then reverse.
    dirs: [(Tensor, Tensor, Tensor, Tensor); 2],
    /// `(2, H)`.
    h0: Tensor,
    hidden: usize,
}

impl BiGru {
    fn new(sd: &HashMap<String, Tensor>, prefix: &str, file: &Path) -> Result<Self> {
        let get = |n: &str| tensor(sd, &format!("{prefix}{n}"), file);
        let dir = |s: &str| -> Result<(Tensor, Tensor, Tensor, Tensor)> {
            Ok((
                get(&format!("gru.weight_ih_l0{s}"))?,
                get(&format!("gru.weight_hh_l0{s}"))?,
                get(&format!("gru.bias_ih_l0{s}"))?,
                get(&format!("gru.bias_hh_l0{s}"))?,
            ))
        };
        let fwd = dir("")?;
        let hidden = fwd.1.dim(1)?;
        let h0 = get("hidden")?;
        let h0 = h0
            .reshape((2, hidden))
            .map_err(|e| LmError::format(file, format!("`{prefix}hidden` {:?}: {e}", h0.dims())))?;
        Ok(Self {
            dirs: [fwd, dir("_reverse")?],
            h0,
            hidden,
        })
    }

    /// `(T, I)` inputs → the two directions' last states concatenated, `(2H,)` as `(1, 2H)`.
    fn last_states(&self, x: &Tensor) -> Result<Tensor> {
        let t = x.dim(0)?;
        let h = self.hidden;
        let mut out = Vec::with_capacity(2);
        for (d, (w_ih, w_hh, b_ih, b_hh)) in self.dirs.iter().enumerate() {
            // Input projections of every step at once: (T, 3H).
            let gx = x.matmul(&w_ih.t()?)?.broadcast_add(b_ih)?;
            let mut state = self.h0.get(d)?.unsqueeze(0)?;
            for s in 0..t {
                let i = if d == 0 { s } else { t - 1 - s };
                let gi = gx.get(i)?.unsqueeze(0)?;
                let gh = state.matmul(&w_hh.t()?)?.broadcast_add(b_hh)?;
                let r = candle_nn::ops::sigmoid(&(gi.narrow(1, 0, h)? + gh.narrow(1, 0, h)?)?)?;
                let z = candle_nn::ops::sigmoid(&(gi.narrow(1, h, h)? + gh.narrow(1, h, h)?)?)?;
                let n = (gi.narrow(1, 2 * h, h)? + (r * gh.narrow(1, 2 * h, h)?)?)?.tanh()?;
                // h' = (1 − z)·n + z·h
                state = ((&n - (&z * &n)?)? + (&z * &state)?)?;
            }
            out.push(state);
        }
        Ok(Tensor::cat(&out, 1)?)
    }
}

/// `output_net`: Linear(2H → H), LayerNorm(H), LeakyReLU(0.2), Linear(H → E).
struct Head {
    l0: (Tensor, Tensor),
    norm: (Tensor, Tensor),
    l3: (Tensor, Tensor),
}

impl Head {
    fn new(sd: &HashMap<String, Tensor>, prefix: &str, file: &Path) -> Result<Self> {
        let pair = |n: &str| -> Result<(Tensor, Tensor)> {
            Ok((
                tensor(sd, &format!("{prefix}output_net.{n}.weight"), file)?,
                tensor(sd, &format!("{prefix}output_net.{n}.bias"), file)?,
            ))
        };
        Ok(Self {
            l0: pair("0")?,
            norm: pair("1")?,
            l3: pair("3")?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = linear(x, &self.l0)?;
        let h = layer_norm(&h, &self.norm)?;
        linear(&leaky_relu(&h)?, &self.l3)
    }
}

fn tensor(sd: &HashMap<String, Tensor>, name: &str, file: &Path) -> Result<Tensor> {
    sd.get(name)
        .cloned()
        .ok_or_else(|| LmError::format(file, format!("missing tensor `{name}`")))
}

/// `x · Wᵀ + b` ([`crate::lm::llama::linear`] plus the bias).
fn linear(x: &Tensor, (w, b): &(Tensor, Tensor)) -> Result<Tensor> {
    Ok(crate::lm::llama::linear(x, w)?.broadcast_add(b)?)
}

/// PyTorch `LayerNorm` (eps 1e-5) over the last dimension ([`crate::lm::llama::layer_norm`]).
fn layer_norm(x: &Tensor, (w, b): &(Tensor, Tensor)) -> Result<Tensor> {
    crate::lm::llama::layer_norm(x, w, b, 1e-5)
}

fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    Ok(x.maximum(&(x * 0.2)?)?)
}

/// `Conv1d(k4, s2, p1)` of the movement encoder as the tokenizer's channels-last convolution.
fn conv_k4s2((w, b): &(Tensor, Tensor), file: &Path) -> Result<Conv1d> {
    let (c_out, c_in, _) = w.dims3()?;
    let spec = ConvSpec {
        c_in,
        c_out,
        kernel: 4,
        stride: 2,
        padding: 1,
        dilation: 1,
    };
    Conv1d::from_weights(spec, w, b).map_err(|e| LmError::format(file, e.to_string()))
}

/// The T2M evaluator's three networks and its normalisation.
pub struct T2mEvaluator {
    /// The movement encoder's two convolutions and its output layer.
    movement_convs: [Conv1d; 2],
    movement_out: (Tensor, Tensor),
    motion_in: (Tensor, Tensor),
    motion_gru: BiGru,
    motion_head: Head,
    pos_emb: (Tensor, Tensor),
    text_in: (Tensor, Tensor),
    text_gru: BiGru,
    text_head: Head,
    /// The evaluator's own Mean/Std `(263,)`.
    mean: Vec<f32>,
    std: Vec<f32>,
    device: Device,
    /// Where it was read from, for report headers.
    pub source: PathBuf,
}

impl T2mEvaluator {
    /// Reads the evaluator from a `t2m` checkpoint folder as released (`text_mot_match/model/
    /// finest.tar`, `Comp_v6_KLD01/meta/{mean,std}.npy`; `meta/` directly under the folder
    /// also works).
    ///
    /// Errors (naming the file): a missing file (with the paths tried), a checkpoint without the
    /// three networks or with a missing tensor, statistics of another width than 263.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let file = dir.join("text_mot_match/model/finest.tar");
        let torch = crate::dvq::released::TorchFile::open(&file)
            .map_err(|e| LmError::format(&file, e.to_string()))?;
        let part = |key: &str| {
            torch
                .dict(Some(key), device)
                .map_err(|e| LmError::format(&file, format!("`{key}`: {e}")))
        };
        let (mv, mo, tx) = (
            part("movement_encoder")?,
            part("motion_encoder")?,
            part("text_encoder")?,
        );
        let pair = |sd: &HashMap<String, Tensor>, n: &str| -> Result<(Tensor, Tensor)> {
            Ok((
                tensor(sd, &format!("{n}.weight"), &file)?,
                tensor(sd, &format!("{n}.bias"), &file)?,
            ))
        };
        let tried = [dir.join("Comp_v6_KLD01/meta"), dir.join("meta")];
        let meta = tried
            .iter()
            .find(|d| d.join("mean.npy").is_file())
            .ok_or_else(|| {
                LmError::format(
                    dir,
                    format!(
                        "no evaluator mean.npy/std.npy (tried {} and {})",
                        tried[0].display(),
                        tried[1].display()
                    ),
                )
            })?;
        let vector = |name: &str| -> Result<Vec<f32>> {
            let path = meta.join(name);
            let a = crate::motion::npy::read_npy::<f32>(&path)?;
            if a.data.len() != crate::motion::N_FEATURES {
                return Err(LmError::format(
                    &path,
                    format!("{} values, expected 263", a.data.len()),
                ));
            }
            Ok(a.data)
        };
        Ok(Self {
            movement_convs: [
                conv_k4s2(&pair(&mv, "main.0")?, &file)?,
                conv_k4s2(&pair(&mv, "main.3")?, &file)?,
            ],
            movement_out: pair(&mv, "out_net")?,
            motion_in: pair(&mo, "input_emb")?,
            motion_gru: BiGru::new(&mo, "", &file)?,
            motion_head: Head::new(&mo, "", &file)?,
            pos_emb: pair(&tx, "pos_emb")?,
            text_in: pair(&tx, "input_emb")?,
            text_gru: BiGru::new(&tx, "", &file)?,
            text_head: Head::new(&tx, "", &file)?,
            mean: vector("mean.npy")?,
            std: vector("std.npy")?,
            device: device.clone(),
            source: dir.to_path_buf(),
        })
    }

    /// The co-embedding `(E,)` of a motion given as raw `(T, 263)` features (row-major, 20 fps),
    /// normalised with the evaluator's Mean/Std: what the reference's `renorm4t2m` gives a
    /// motion normalised with the dataset's statistics. At least [`UNIT_LENGTH`] frames; the
    /// last `T mod 4` are left out, as the evaluation loaders cut lengths to multiples of 4.
    ///
    /// Errors: fewer than 4 frames, a row width other than 263.
    pub fn embed_motion(&self, features: &[f32]) -> Result<Vec<f32>> {
        let w = crate::motion::N_FEATURES;
        if features.len() % w != 0 || features.len() < UNIT_LENGTH * w {
            return Err(LmError::Data(format!(
                "{} values: not at least {UNIT_LENGTH} frames of {w}",
                features.len()
            )));
        }
        let t = features.len() / w / UNIT_LENGTH * UNIT_LENGTH;
        let mut x = Vec::with_capacity(t * (w - 4));
        for f in features.chunks_exact(w).take(t) {
            for (j, v) in f[..w - 4].iter().enumerate() {
                x.push((v - self.mean[j]) / self.std[j]);
            }
        }
        let x = Tensor::from_vec(x, (1, t, w - 4), &self.device)?;
        let h = leaky_relu(&self.movement_convs[0].forward(&x)?)?;
        let h = leaky_relu(&self.movement_convs[1].forward(&h)?)?;
        let moves = linear(&h.squeeze(0)?, &self.movement_out)?;
        let e = linear(&moves, &self.motion_in)?;
        let last = self.motion_gru.last_states(&e)?;
        Ok(self.motion_head.forward(&last)?.flatten_all()?.to_vec1()?)
    }

    /// The co-embedding of a caption given as `word/POS` tokens (HumanML3D's `texts/` format),
    /// with `vectors` the evaluator's GloVe ([`words::WordVectors`]).
    pub fn embed_text(&self, tokens: &[String], vectors: &words::WordVectors) -> Result<Vec<f32>> {
        let (tokens, len) = words::caption_tokens(tokens);
        let (mut wv, mut pos) = (Vec::new(), Vec::new());
        for tok in &tokens[..len] {
            let (v, oh) = vectors.vectorize(tok);
            wv.extend_from_slice(v);
            pos.extend_from_slice(&oh);
        }
        let wv = Tensor::from_vec(wv, (len, vectors.dim()), &self.device)?;
        let pos = Tensor::from_vec(pos, (len, 15), &self.device)?;
        let x = (wv + linear(&pos, &self.pos_emb)?)?;
        let e = linear(&x, &self.text_in)?;
        let last = self.text_gru.last_states(&e)?;
        Ok(self.text_head.forward(&last)?.flatten_all()?.to_vec1()?)
    }
}

#[cfg(test)]
mod tests;
