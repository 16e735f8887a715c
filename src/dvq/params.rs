//! The trainable tensors of a model, by name, in a fixed order (for the optimiser, safetensors
//! checkpoints and exact resume).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, rngs::StdRng};

use super::error::{DvqError, Result};

/// How a parameter is optimised: the reference puts biases and the codebook in their own
/// AdamW groups (no weight decay; the codebook at its own learning rate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Weight,
    Bias,
    Codebook,
}

/// Named parameters in creation order.
#[derive(Default)]
pub struct Params {
    entries: Vec<(String, Group, Var)>,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parameter drawn from U(−bound, bound) with a seeded generator.
    pub(crate) fn uniform(
        &mut self,
        name: &str,
        group: Group,
        shape: &[usize],
        bound: f32,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Var> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
        self.push(name, group, Tensor::from_vec(data, shape, device)?)
    }

    /// Adds `{name}.weight` of `shape` and `{name}.bias` of `(shape[0],)`, both from
    /// U(−1/√fan_in, 1/√fan_in) with fan_in the product of `shape[1..]` (PyTorch's default for
    /// `nn.Linear` and `nn.Conv1d`).
    pub(crate) fn weight_and_bias(
        &mut self,
        name: &str,
        shape: &[usize],
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<(Var, Var)> {
        let fan_in: usize = shape[1..].iter().product();
        let bound = 1.0 / (fan_in as f32).sqrt();
        let w = self.uniform(
            &format!("{name}.weight"),
            Group::Weight,
            shape,
            bound,
            rng,
            device,
        )?;
        let b = self.uniform(
            &format!("{name}.bias"),
            Group::Bias,
            &shape[..1],
            bound,
            rng,
            device,
        )?;
        Ok((w, b))
    }

    /// Adds a parameter drawn from N(0, std²) (Box–Muller on a seeded generator).
    pub(crate) fn normal(
        &mut self,
        name: &str,
        group: Group,
        shape: &[usize],
        std: f32,
        rng: &mut StdRng,
        device: &Device,
    ) -> Result<Var> {
        let n: usize = shape.iter().product();
        let mut data = Vec::with_capacity(n);
        while data.len() < n {
            let u1: f32 = rng.random_range(f32::EPSILON..1.0);
            let u2: f32 = rng.random();
            let r = (-2.0 * u1.ln()).sqrt();
            let a = std::f32::consts::TAU * u2;
            data.push(std * r * a.cos());
            data.push(std * r * a.sin());
        }
        data.truncate(n);
        self.push(name, group, Tensor::from_vec(data, shape, device)?)
    }

    /// Adds an existing tensor as a parameter (copied into a new `Var`).
    pub(crate) fn push(&mut self, name: &str, group: Group, t: Tensor) -> Result<Var> {
        let var = Var::from_tensor(&t)?;
        self.push_var(name, group, var.clone());
        Ok(var)
    }

    /// Adds a variable that a model already holds (shared, not copied).
    pub fn push_var(&mut self, name: &str, group: Group, var: Var) {
        self.entries.push((name.to_string(), group, var));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Group, &Var)> {
        self.entries.iter().map(|(n, g, v)| (n.as_str(), *g, v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of scalars in all parameters.
    pub fn count(&self) -> usize {
        self.entries.iter().map(|(_, _, v)| v.elem_count()).sum()
    }

    /// Current values by name (for saving).
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.entries
            .iter()
            .map(|(n, _, v)| (n.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Overwrites every parameter from `tensors` (loaded from `path`); shapes must match.
    pub fn assign(&self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        for (name, _, var) in &self.entries {
            let t = tensors
                .get(name)
                .ok_or_else(|| DvqError::checkpoint(path, format!("missing tensor `{name}`")))?;
            if t.dims() != var.dims() {
                return Err(DvqError::checkpoint(
                    path,
                    format!(
                        "tensor `{name}` has shape {:?}, the config expects {:?}",
                        t.dims(),
                        var.dims()
                    ),
                ));
            }
            var.set(&t.to_dtype(DType::F32)?.to_device(var.device())?)?;
        }
        Ok(())
    }
}
