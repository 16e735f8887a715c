//! LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models";
//! initialisation as Hugging Face PEFT `LoraLayer.reset_lora_parameters`): for a frozen
//! `W (out, in)`, `y = x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ` with `A (r, in)` Kaiming-uniform and `B (out, r)`
//! zero, so training starts from the pretrained model exactly.

use std::collections::HashMap;

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use super::error::{LmError, Result};
use super::llama::linear;

/// A projection of a decoder block that can carry an adapter (GPT-2: `c_attn`'s q, k, v
/// thirds, `attn.c_proj` = O, `mlp.c_fc` = Up, `mlp.c_proj` = Down; no Gate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Target::Q,
        Target::K,
        Target::V,
        Target::O,
        Target::Gate,
        Target::Up,
        Target::Down,
    ];

    /// Hugging Face weight name inside a block: `self_attn.q_proj`, `mlp.gate_proj`, ….
    pub fn hf_name(self) -> &'static str {
        match self {
            Target::Q => "self_attn.q_proj",
            Target::K => "self_attn.k_proj",
            Target::V => "self_attn.v_proj",
            Target::O => "self_attn.o_proj",
            Target::Gate => "mlp.gate_proj",
            Target::Up => "mlp.up_proj",
            Target::Down => "mlp.down_proj",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Rank, scale and targets of the adapters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank r of every adapter.
    pub rank: usize,
    /// α; the update is scaled by α / r.
    pub alpha: f64,
    /// Projections that get an adapter, in every block.
    pub targets: Vec<Target>,
}

impl Default for LoraConfig {
    /// r = 16, α = 32 on q, k, v, o, gate, up, down.
    fn default() -> Self {
        Self {
            rank: 16,
            alpha: 32.0,
            targets: Target::ALL.to_vec(),
        }
    }
}

/// One adapter: `A (r, in)`, `B (out, r)`.
#[derive(Clone)]
pub struct Adapter {
    pub a: Var,
    pub b: Var,
}

/// The adapters of every block: `layers[i][target]`.
pub struct Lora {
    pub config: LoraConfig,
    scale: f64,
    layers: Vec<[Option<Adapter>; 7]>,
}

impl Lora {
    /// Fresh adapters for a model whose block `i` has the weights `shape(i, target) = (out, in)`
    /// (`None`: the architecture has no such projection, e.g. GPT-2's gate, and it gets no
    /// adapter). A is U(−1/√in, 1/√in) (Kaiming-uniform with a = √5), B is zero.
    pub fn new(
        config: &LoraConfig,
        layers: usize,
        shape: impl Fn(usize, Target) -> Option<(usize, usize)>,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(layers);
        for i in 0..layers {
            let mut slots: [Option<Adapter>; 7] = Default::default();
            for &t in &config.targets {
                let Some((o, inp)) = shape(i, t) else {
                    continue;
                };
                let bound = 1.0 / (inp as f32).sqrt();
                let data: Vec<f32> = (0..config.rank * inp)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect();
                let a = Var::from_tensor(&Tensor::from_vec(data, (config.rank, inp), device)?)?;
                let b = Var::zeros((o, config.rank), candle_core::DType::F32, device)?;
                slots[t.index()] = Some(Adapter { a, b });
            }
            out.push(slots);
        }
        Ok(Self {
            scale: config.alpha / config.rank as f64,
            config: config.clone(),
            layers: out,
        })
    }

    /// The adapter of block `layer` on `target`, if any.
    pub fn get(&self, layer: usize, target: Target) -> Option<&Adapter> {
        self.layers.get(layer)?[target.index()].as_ref()
    }

    /// α / r.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// `x (…, in)` → the adapter's update `(α/r)·(x·Aᵀ)·Bᵀ`, `(…, out)`.
    pub fn delta(&self, adapter: &Adapter, x: &Tensor) -> Result<Tensor> {
        let h = linear(x, adapter.a.as_tensor())?;
        Ok((linear(&h, adapter.b.as_tensor())? * self.scale)?)
    }

    /// `W + (α/r)·B·A` for merging into the base weight at inference, `(out, in)`.
    pub fn merged(&self, adapter: &Adapter, w: &Tensor) -> Result<Tensor> {
        let ba = adapter.b.as_tensor().matmul(adapter.a.as_tensor())?;
        Ok((w + (ba * self.scale)?)?)
    }

    /// Every adapter tensor, named `lora.{layer}.{hf_name}.{a|b}`, in a fixed order.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (i, slots) in self.layers.iter().enumerate() {
            for t in Target::ALL {
                if let Some(ad) = &slots[t.index()] {
                    out.push((format!("lora.{i}.{}.a", t.hf_name()), ad.a.clone()));
                    out.push((format!("lora.{i}.{}.b", t.hf_name()), ad.b.clone()));
                }
            }
        }
        out
    }

    /// Overwrites every adapter from `tensors` (as saved from [`Lora::named_vars`]).
    ///
    /// Errors: a missing tensor or a shape that differs, naming it.
    pub fn assign(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for (name, var) in self.named_vars() {
            let t = tensors
                .get(&name)
                .ok_or_else(|| LmError::Weights(format!("missing LoRA tensor `{name}`")))?;
            if t.dims() != var.dims() {
                return Err(LmError::Weights(format!(
                    "LoRA tensor `{name}` is {:?}, expected {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            var.set(&t.to_device(var.device())?)?;
        }
        Ok(())
    }
}
