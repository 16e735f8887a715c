//! The captioner's inference engine: the decoder of [`super::llama`] re-laid for one sequence
//! at a time on the CPU, for live captioning. Weights are merged (LoRA folded in), q/k/v and
//! gate/up are concatenated so a block runs four matrix products, and each product is one
//! runtime-dispatched kernel call ([`kernels`]) in f32 or Q8_0, split over the engine's own
//! spinning threads ([`pool`]: a token step is ~120 short parallel sections, too short for a
//! pool whose idle threads sleep); norms, RoPE, attention and the
//! KV cache work in place on buffers reused from token to token. The candle graph in
//! [`super::llama`] stays the reference (training, tests); [`Engine`] gives its logits (exactly
//! in f32, within quantization error in Q8_0).

pub mod kernels;
pub mod pool;
pub mod q8_panels;
pub mod simd;

use std::collections::HashMap;

use candle_core::Tensor;

use super::config::{Arch, LlamaConfig};
use super::error::{LmError, Result};
use super::llama::Llama;
use kernels::{Matrix, axpy, dot_f32, matmul};
use pool::SpinPool;
use simd::{Simd, Supported};

/// How the engine stores its weight matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeWeights {
    /// As trained: exact.
    F32,
    /// ggml's Q8_0 (32 weights per f32 scale): 3.6× less memory traffic per token.
    Q8,
}

impl DecodeWeights {
    /// What captioning on `device` runs on: the engine (Q8_0, or f32 when `f32`) on the CPU,
    /// the candle graph (`None`) on CUDA/Metal.
    pub fn for_device(device: &candle_core::Device, f32: bool) -> Option<Self> {
        device.is_cpu().then_some(if f32 {
            DecodeWeights::F32
        } else {
            DecodeWeights::Q8
        })
    }
}

/// A norm's scale and (GPT-2) bias, `(d_model,)`.
struct Norm {
    w: Vec<f32>,
    b: Option<Vec<f32>>,
}

struct Layer {
    attn_norm: Norm,
    /// `(q + k + v rows, d_model)`, with its bias (GPT-2).
    qkv: Matrix,
    qkv_b: Option<Vec<f32>>,
    o: Matrix,
    o_b: Option<Vec<f32>>,
    mlp_norm: Norm,
    /// Llama: `(2·ff, d)`, gate rows then up rows; GPT-2: `(ff, d)` (`c_fc`).
    up: Matrix,
    up_b: Option<Vec<f32>>,
    down: Matrix,
    down_b: Option<Vec<f32>>,
    /// Cached keys and values, `(positions, kv_heads·head_dim)` each.
    k: Vec<f32>,
    v: Vec<f32>,
}

/// Buffers reused across calls (grown, never shrunk).
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    qkv: Vec<f32>,
    att: Vec<f32>,
    proj: Vec<f32>,
    mlp: Vec<f32>,
    act: Vec<f32>,
    /// `(t, head_dim/2)` cosines then sines of the RoPE angles of the call's positions.
    rope: Vec<f32>,
    logits: Vec<f32>,
}

/// One sequence's decoder state: weights, KV cache, buffers.
pub struct Engine {
    config: LlamaConfig,
    layers: Vec<Layer>,
    norm: Norm,
    /// `(V, d_model)` output head (the tied text embedding).
    head: Matrix,
    /// GPT-2's `(positions, d_model)` position embedding.
    positions: Option<Vec<f32>>,
    /// RoPE inverse frequencies `(head_dim/2,)` (Llama).
    inv_freq: Vec<f32>,
    /// Positions in the cache.
    len: usize,
    s: Scratch,
    pool: SpinPool,
    /// The kernels' instruction-set path.
    isa: Supported,
}

fn host(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

impl Engine {
    /// Builds the engine from a decoder whose adapters are already merged
    /// ([`Llama::merge_lora`]); `weights` picks f32 or Q8_0 matrices (norms, biases and position
    /// embeddings stay f32).
    ///
    /// The kernels run on the widest instruction set this CPU has, or the one `GEOMOTION_SIMD`
    /// names ([`simd`]).
    ///
    /// Errors: the decoder's config makes no decoder ([`LlamaConfig::validate`]; its fields are
    /// public), a weight the architecture needs is missing, or `GEOMOTION_SIMD` names a path
    /// that is not one or that this CPU cannot run.
    pub fn new(llama: &Llama, weights: DecodeWeights) -> Result<Self> {
        let isa = Supported::from_env().map_err(LmError::Data)?;
        let c = llama.config.clone();
        c.validate().map_err(|p| {
            LmError::Weights(format!(
                "decoder config: {}",
                p.describe(super::config::Source::HfLlama)
            ))
        })?;
        let named: HashMap<String, Tensor> = llama.named_weights().into_iter().collect();
        let tensor = |n: &str| -> Result<&Tensor> {
            named
                .get(n)
                .ok_or_else(|| LmError::Weights(format!("missing weight `{n}`")))
        };
        let get = |n: &str| -> Result<Vec<f32>> { host(tensor(n)?) };
        let opt = |n: &str| -> Result<Option<Vec<f32>>> { named.get(n).map(host).transpose() };
        let quant = weights == DecodeWeights::Q8;
        let d = c.hidden_size;
        // The rows of several `(·, in)` weights stacked into one matrix, and their biases.
        let stack = |names: &[String]| -> Result<(Matrix, Option<Vec<f32>>)> {
            let cols = tensor(&format!("{}.weight", names[0]))?.dim(1)?;
            let mut w = Vec::new();
            let mut b = Vec::new();
            let mut biased = true;
            for n in names {
                w.extend(get(&format!("{n}.weight"))?);
                match opt(&format!("{n}.bias"))? {
                    Some(x) => b.extend(x),
                    None => biased = false,
                }
            }
            if cols == 0 || !w.len().is_multiple_of(cols) {
                return Err(LmError::Weights(format!(
                    "`{}.weight`: {} values are not rows of {cols}",
                    names[0],
                    w.len()
                )));
            }
            let rows = w.len() / cols;
            Ok((Matrix::new(w, rows, cols, quant), biased.then_some(b)))
        };
        let norm = |n: &str| -> Result<Norm> {
            Ok(Norm {
                w: get(&format!("{n}.weight"))?,
                b: opt(&format!("{n}.bias"))?,
            })
        };
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let a = |n: &str| format!("{p}.self_attn.{n}");
            let m = |n: &str| format!("{p}.mlp.{n}");
            let (qkv, qkv_b) = stack(&[a("q_proj"), a("k_proj"), a("v_proj")])?;
            let (o, o_b) = stack(&[a("o_proj")])?;
            let (up, up_b) = match c.arch {
                Arch::Llama => stack(&[m("gate_proj"), m("up_proj")])?,
                Arch::Gpt2 => stack(&[m("up_proj")])?,
            };
            let (down, down_b) = stack(&[m("down_proj")])?;
            layers.push(Layer {
                attn_norm: norm(&format!("{p}.input_layernorm"))?,
                qkv,
                qkv_b,
                o,
                o_b,
                mlp_norm: norm(&format!("{p}.post_attention_layernorm"))?,
                up,
                up_b,
                down,
                down_b,
                k: Vec::new(),
                v: Vec::new(),
            });
        }
        let head = match named.get("lm_head.weight") {
            Some(h) => host(h)?,
            None => host(llama.embedding())?,
        };
        let hd = c.head_dim();
        let inv_freq = (0..hd / 2)
            .map(|i| 1.0 / c.rope_theta.powf(2.0 * i as f64 / hd as f64) as f32)
            .collect();
        Ok(Self {
            head: Matrix::new(head, c.vocab_size, d, quant),
            norm: norm("model.norm")?,
            positions: opt("model.embed_positions.weight")?,
            inv_freq,
            layers,
            len: 0,
            s: Scratch::default(),
            pool: SpinPool::for_machine(),
            isa,
            config: c,
        })
    }

    /// The instruction-set path the kernels run on.
    pub fn simd(&self) -> Simd {
        self.isa.get()
    }

    /// Runs the kernels on `isa` from now on (the benchmark times each path this way).
    pub fn set_simd(&mut self, isa: Supported) {
        self.isa = isa;
    }

    /// Bytes of weight matrices (what one decoding step reads).
    pub fn weight_bytes(&self) -> usize {
        self.head.bytes()
            + self
                .layers
                .iter()
                .map(|l| l.qkv.bytes() + l.o.bytes() + l.up.bytes() + l.down.bytes())
                .sum::<usize>()
    }

    /// Empties the KV cache (a new sequence).
    pub fn reset(&mut self) {
        self.len = 0;
        for l in &mut self.layers {
            l.k.clear();
            l.v.clear();
        }
    }

    /// Positions in the cache.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops the cached positions from `len` on (speculative decoding: the drafted tokens the
    /// model did not confirm). A `len` at or past [`Self::len`] changes nothing.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        let kvw = self.config.num_key_value_heads * self.config.head_dim();
        for l in &mut self.layers {
            l.k.truncate(len * kvw);
            l.v.truncate(len * kvw);
        }
        self.len = len;
    }

    /// Appends `t` positions with input embeddings `x (t, d_model)` to the sequence and returns
    /// the logits `(V,)` of the last one over the backbone's vocabulary (a buffer the next call
    /// overwrites).
    ///
    /// Errors: `t` is 0, `x` does not hold `t` rows of d_model, the sequence length or a
    /// buffer size would overflow, or (GPT-2) the sequence is longer than the position
    /// embedding.
    pub fn forward(&mut self, x: &[f32], t: usize) -> Result<&[f32]> {
        self.forward_rows(x, t, false)
    }

    /// [`Self::forward`] returning the logits `(t, V)` of every appended position: what
    /// verifying `t − 1` drafted tokens in one pass needs (row `i` predicts the token after
    /// input `i`).
    ///
    /// Errors: as [`Self::forward`].
    pub fn forward_all(&mut self, x: &[f32], t: usize) -> Result<&[f32]> {
        self.forward_rows(x, t, true)
    }

    fn forward_rows(&mut self, x: &[f32], t: usize, all: bool) -> Result<&[f32]> {
        let c = &self.config;
        let d = c.hidden_size;
        if t == 0 || t.checked_mul(d) != Some(x.len()) {
            return Err(LmError::Data(format!(
                "the engine takes t ≥ 1 input rows of width {d}; got {} values for t = {t}",
                x.len()
            )));
        }
        // The config passed `validate` in `new`, so the widths below fit; each buffer is `t`
        // rows of one of them, so one check of the widest bounds every product.
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim());
        let (qw, kvw) = (nh * hd, nkv * hd);
        let ff = c.intermediate_size;
        let widest = (qw + 2 * kvw).max(2 * ff).max(d);
        let off = self.len;
        let end = off.checked_add(t);
        if t.checked_mul(widest).is_none() || end.and_then(|e| e.checked_mul(kvw)).is_none() {
            return Err(LmError::Data(format!(
                "{t} more positions after {off} overflow the engine's buffers"
            )));
        }
        let eps = c.rms_norm_eps as f32;
        let isa = self.isa;
        let s = &mut self.s;
        s.x.clear();
        s.x.extend_from_slice(x);
        if let Some(p) = &self.positions {
            if off + t > p.len() / d {
                return Err(LmError::Weights(format!(
                    "a sequence of {} tokens is longer than the backbone's {} positions",
                    off + t,
                    p.len() / d
                )));
            }
            for (xi, pi) in s.x.iter_mut().zip(&p[off * d..(off + t) * d]) {
                *xi += pi;
            }
        }
        let gate_up = c.arch == Arch::Llama;
        // RoPE's angles depend on the position only: computed once for all layers.
        let half = hd / 2;
        if gate_up {
            s.rope.clear();
            for tt in 0..t {
                let pos = (off + tt) as f32;
                s.rope
                    .extend(self.inv_freq.iter().map(|&f| (pos * f).cos()));
                s.rope
                    .extend(self.inv_freq.iter().map(|&f| (pos * f).sin()));
            }
        }
        for l in &mut self.layers {
            norm_rows(&s.x, &mut s.h, &l.attn_norm, d, eps, isa);
            resize(&mut s.qkv, t * (qw + 2 * kvw));
            matmul(&mut self.pool, &l.qkv, &s.h, t, &mut s.qkv, isa);
            add_bias(&mut s.qkv, l.qkv_b.as_deref());
            let width = qw + 2 * kvw;
            for (tt, row) in s.qkv.chunks_exact_mut(width).enumerate() {
                if gate_up {
                    let (cos, sin) = s.rope[tt * 2 * half..(tt + 1) * 2 * half].split_at(half);
                    let (q, rest) = row.split_at_mut(qw);
                    rope(q, hd, cos, sin);
                    rope(&mut rest[..kvw], hd, cos, sin);
                }
                l.k.extend_from_slice(&row[qw..qw + kvw]);
                l.v.extend_from_slice(&row[qw + kvw..]);
            }
            resize(&mut s.att, t * qw);
            attention(
                &mut self.pool,
                &s.qkv,
                width,
                &l.k,
                &l.v,
                off,
                (nh, nkv, hd),
                &mut s.att,
                isa,
            );
            resize(&mut s.proj, t * d);
            matmul(&mut self.pool, &l.o, &s.att, t, &mut s.proj, isa);
            add_bias(&mut s.proj, l.o_b.as_deref());
            for (a, b) in s.x.iter_mut().zip(&s.proj) {
                *a += b;
            }
            norm_rows(&s.x, &mut s.h, &l.mlp_norm, d, eps, isa);
            resize(&mut s.mlp, t * l.up.rows());
            matmul(&mut self.pool, &l.up, &s.h, t, &mut s.mlp, isa);
            add_bias(&mut s.mlp, l.up_b.as_deref());
            resize(&mut s.act, t * ff);
            if gate_up {
                swiglu(&mut self.pool, &s.mlp, &mut s.act, ff);
            } else {
                for (o, &v) in s.act.iter_mut().zip(&s.mlp) {
                    *o = gelu_tanh(v);
                }
            }
            matmul(&mut self.pool, &l.down, &s.act, t, &mut s.proj, isa);
            add_bias(&mut s.proj, l.down_b.as_deref());
            for (a, b) in s.x.iter_mut().zip(&s.proj) {
                *a += b;
            }
        }
        self.len += t;
        let rows = if all { t } else { 1 };
        let tail = &s.x[(t - rows) * d..];
        norm_rows(tail, &mut s.h, &self.norm, d, eps, isa);
        resize(&mut s.logits, rows * self.head.rows());
        matmul(&mut self.pool, &self.head, &s.h, rows, &mut s.logits, isa);
        Ok(&s.logits)
    }
}

fn resize(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

fn add_bias(y: &mut [f32], b: Option<&[f32]>) {
    if let Some(b) = b {
        for row in y.chunks_exact_mut(b.len()) {
            for (a, b) in row.iter_mut().zip(b) {
                *a += b;
            }
        }
    }
}

/// RMSNorm (no bias) or LayerNorm (bias) of every `d`-wide row of `x` into `out`.
fn norm_rows(x: &[f32], out: &mut Vec<f32>, n: &Norm, d: usize, eps: f32, isa: Supported) {
    out.resize(x.len(), 0.0);
    for (xr, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        match &n.b {
            None => {
                let ms = dot_f32(xr, xr, isa) / d as f32;
                let inv = 1.0 / (ms + eps).sqrt();
                for ((o, &v), &w) in o.iter_mut().zip(xr).zip(&n.w) {
                    *o = v * inv * w;
                }
            }
            Some(b) => {
                let mean = xr.iter().sum::<f32>() / d as f32;
                let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                let inv = 1.0 / (var + eps).sqrt();
                for (((o, &v), &w), &b) in o.iter_mut().zip(xr).zip(&n.w).zip(b) {
                    *o = (v - mean) * inv * w + b;
                }
            }
        }
    }
}

/// Rotate-half RoPE in place on every `hd`-wide head of `x` at position `pos`.
fn rope(x: &mut [f32], hd: usize, cos: &[f32], sin: &[f32]) {
    let half = hd / 2;
    for head in x.chunks_exact_mut(hd) {
        for i in 0..half {
            let (a, b) = (head[i], head[i + half]);
            head[i] = a * cos[i] - b * sin[i];
            head[i + half] = b * cos[i] + a * sin[i];
        }
    }
}

/// Rows of `(t, ·)` buffers that the pool's tasks write, each task its own rows.
#[derive(Clone, Copy)]
struct Rows(*mut f32);
// SAFETY: each task writes only its own rows (see the callers).
unsafe impl Send for Rows {}
unsafe impl Sync for Rows {}

/// SwiGLU of every row of `mlp (t, 2·ff)` (gate then up) into `act (t, ff)`: `silu(g) · u`,
/// rows split over the pool.
fn swiglu(pool: &mut SpinPool, mlp: &[f32], act: &mut [f32], ff: usize) {
    let t = act.len() / ff;
    let out = Rows(act.as_mut_ptr());
    pool.run(t, &|tt| {
        let out = out;
        let (g, u) = mlp[tt * 2 * ff..(tt + 1) * 2 * ff].split_at(ff);
        // SAFETY: task tt alone writes row tt of `act (t, ff)`.
        let o = unsafe { std::slice::from_raw_parts_mut(out.0.add(tt * ff), ff) };
        for ((o, &g), &u) in o.iter_mut().zip(g).zip(u) {
            *o = g / (1.0 + (-g).exp()) * u;
        }
    });
}

/// GPT-2's `gelu_new`: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (C * (x + 0.044_715 * x * x * x)).tanh())
}

thread_local! {
    /// One query row's attention scores `(positions,)`, reused by each pool thread from call to
    /// call (the token step's hot path allocates nothing).
    static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Causal grouped-query attention of the `t` new positions (queries in `qkv`, rows `width`
/// wide, q first) over the cached keys/values `(off + t, kv·hd)`, into `out (t, heads·hd)`.
#[allow(clippy::too_many_arguments)]
fn attention(
    pool: &mut SpinPool,
    qkv: &[f32],
    width: usize,
    k: &[f32],
    v: &[f32],
    off: usize,
    (nh, nkv, hd): (usize, usize, usize),
    out: &mut [f32],
    isa: Supported,
) {
    let kvw = nkv * hd;
    let rep = nh / nkv;
    let scale = 1.0 / (hd as f32).sqrt();
    let t = qkv.len() / width;
    let dst = Rows(out.as_mut_ptr());
    // One task per query row (a prefill's rows attend to different lengths).
    pool.run(t, &|tt| {
        let dst = dst;
        let row = &qkv[tt * width..(tt + 1) * width];
        let n = off + tt + 1;
        SCORES.with_borrow_mut(|scores| {
            scores.resize(n, 0.0);
            // SAFETY: task tt alone writes row tt of `out (t, nh·hd)`.
            let o_row = unsafe { std::slice::from_raw_parts_mut(dst.0.add(tt * nh * hd), nh * hd) };
            for h in 0..nh {
                let q = &row[h * hd..(h + 1) * hd];
                let kh = (h / rep) * hd;
                let mut max = f32::NEG_INFINITY;
                for (j, s) in scores.iter_mut().enumerate() {
                    *s = dot_f32(q, &k[j * kvw + kh..j * kvw + kh + hd], isa) * scale;
                    max = max.max(*s);
                }
                let mut sum = 0.0;
                for s in scores.iter_mut() {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                let o = &mut o_row[h * hd..(h + 1) * hd];
                o.fill(0.0);
                for (j, &p) in scores.iter().enumerate() {
                    axpy(p / sum, &v[j * kvw + kh..j * kvw + kh + hd], o, isa);
                }
            }
        });
    });
}
