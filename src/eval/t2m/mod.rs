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

use candle_core::{D, DType, Device, Tensor};

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

fn linear(x: &Tensor, (w, b): &(Tensor, Tensor)) -> Result<Tensor> {
    Ok(x.matmul(&w.t()?)?.broadcast_add(b)?)
}

/// PyTorch `LayerNorm` (eps 1e-5) over the last dimension.
fn layer_norm(x: &Tensor, (w, b): &(Tensor, Tensor)) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let c = x.broadcast_sub(&mean)?;
    let var = c.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(c.broadcast_div(&(var + 1e-5)?.sqrt()?)?
        .broadcast_mul(w)?
        .broadcast_add(b)?)
}

fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    Ok(x.maximum(&(x * 0.2)?)?)
}

/// Conv1d(k4, s2, p1) of channels-last `(T, C_in)` with a PyTorch `(C_out, C_in, 4)` weight →
/// `(⌊T/2⌋, C_out)`.
fn conv_k4s2(x: &Tensor, (w, b): &(Tensor, Tensor)) -> Result<Tensor> {
    let (t, c) = x.dims2()?;
    let padded = Tensor::cat(
        &[
            &Tensor::zeros((1, c), DType::F32, x.device())?,
            x,
            &Tensor::zeros((1, c), DType::F32, x.device())?,
        ],
        0,
    )?;
    let out = t / 2;
    // im2col: row o holds padded frames 2o..2o+4, each frame's C channels.
    let rows: Vec<Tensor> = (0..out)
        .map(|o| padded.narrow(0, 2 * o, 4)?.t()?.flatten_all())
        .collect::<candle_core::Result<_>>()?;
    let cols = Tensor::stack(&rows, 0)?; // (out, C·4) in (channel, tap) order
    let wf = w.flatten_from(1)?; // (C_out, C_in·4), same order
    Ok(cols.matmul(&wf.t()?)?.broadcast_add(b)?)
}

/// The T2M evaluator's three networks and its normalisation.
pub struct T2mEvaluator {
    movement: [(Tensor, Tensor); 3],
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
        let part = |key: &str| {
            crate::dvq::released::read_torch_dict(&file, Some(key), device)
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
            movement: [
                pair(&mv, "main.0")?,
                pair(&mv, "main.3")?,
                pair(&mv, "out_net")?,
            ],
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
        let x = Tensor::from_vec(x, (t, w - 4), &self.device)?;
        let h = leaky_relu(&conv_k4s2(&x, &self.movement[0])?)?;
        let h = leaky_relu(&conv_k4s2(&h, &self.movement[1])?)?;
        let moves = linear(&h, &self.movement[2])?;
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
