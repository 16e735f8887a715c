//! AdamW with per-group learning rate and weight decay, whose moments can be saved and restored
//! (exact resume). Update as `torch.optim.AdamW`: decoupled decay p ← p − lr·wd·p, then
//! p ← p − lr·m̂/(√v̂ + ε).

use std::collections::HashMap;

use candle_core::{Tensor, Var, backprop::GradStore};

use super::error::Result;
use super::params::{Group, Params};

/// Learning rate and weight decay of one parameter group.
#[derive(Clone, Copy, Debug)]
pub struct GroupHyper {
    pub lr: f64,
    pub weight_decay: f64,
}

impl GroupHyper {
    /// `lr` for every group, `weight_decay` on weights only (biases and codebook undecayed).
    pub fn decay_weights_only(group: Group, lr: f64, weight_decay: f64) -> Self {
        Self {
            lr,
            weight_decay: if group == Group::Weight {
                weight_decay
            } else {
                0.0
            },
        }
    }
}

/// AdamW state over a model's [`Params`].
pub struct AdamW {
    vars: Vec<(String, Group, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken so far.
    pub step: usize,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl AdamW {
    /// Zero moments for every parameter; betas (0.9, 0.999), ε = 1e−8 (PyTorch defaults).
    pub fn new(params: &Params) -> Result<Self> {
        let vars: Vec<_> = params
            .iter()
            .map(|(n, g, v)| (n.to_string(), g, v.clone()))
            .collect();
        let m = vars
            .iter()
            .map(|(_, _, v)| v.as_tensor().zeros_like())
            .collect::<candle_core::Result<_>>()?;
        let v = vars
            .iter()
            .map(|(_, _, v)| v.as_tensor().zeros_like())
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            vars,
            m,
            v,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        })
    }

    /// One update with `hyper(group)` giving each group's current lr and weight decay.
    pub fn step(&mut self, grads: &GradStore, hyper: impl Fn(Group) -> GroupHyper) -> Result<()> {
        self.step_named(grads, |_, g| hyper(g))
    }

    /// One update with `hyper(name, group)` giving each parameter's current lr and weight decay
    /// (a parameter given its own learning rate, as a PyTorch parameter group would).
    pub fn step_named(
        &mut self,
        grads: &GradStore,
        hyper: impl Fn(&str, Group) -> GroupHyper,
    ) -> Result<()> {
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        for (i, (name, group, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let h = hyper(name, *group);
            // Detached: gradients can carry autograd history, and a moment that kept it would
            // chain every step's graph into memory.
            let g = g.detach();
            let g = &g;
            let m = ((&self.m[i] * b1)? + (g * (1.0 - b1))?)?;
            let v = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let denom = ((&v / bc2)?.sqrt()? + self.eps)?;
            let update = ((&m / bc1)? / denom)?;
            let p = (var.as_tensor() * (1.0 - h.lr * h.weight_decay))?;
            var.set(&(p - (update * h.lr)?)?)?;
            self.m[i] = m.detach();
            self.v[i] = v.detach();
        }
        Ok(())
    }

    /// Moments as `adam.m.<name>`, `adam.v.<name>`, for a checkpoint.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _, _)) in self.vars.iter().enumerate() {
            out.insert(format!("adam.m.{name}"), self.m[i].clone());
            out.insert(format!("adam.v.{name}"), self.v[i].clone());
        }
        out
    }

    /// Restores moments saved by [`AdamW::state`]; returns the name of a missing one, if any.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>, step: usize) -> Option<String> {
        for (i, (name, _, _)) in self.vars.iter().enumerate() {
            let (km, kv) = (format!("adam.m.{name}"), format!("adam.v.{name}"));
            match (state.get(&km), state.get(&kv)) {
                (Some(m), Some(v)) => {
                    self.m[i] = m.clone();
                    self.v[i] = v.clone();
                }
                _ => return Some(km),
            }
        }
        self.step = step;
        None
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::*;

    /// `step_named` gives each parameter the hyper-parameters its name asks for: a parameter at
    /// lr 0 stays put while its neighbour in the same group moves by lr (Adam's first step moves
    /// every element by lr · sign(grad)).
    #[test]
    fn a_named_parameter_gets_its_own_learning_rate() {
        let dev = Device::Cpu;
        let a = Var::from_tensor(&Tensor::new(&[1.0f32, -2.0], &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[3.0f32, 4.0], &dev).unwrap()).unwrap();
        let mut params = Params::new();
        params.push_var("a", Group::Bias, a.clone());
        params.push_var("b", Group::Bias, b.clone());
        let mut opt = AdamW::new(&params).unwrap();
        let loss = (a.as_tensor().sqr().unwrap().sum_all().unwrap()
            + b.as_tensor().sqr().unwrap().sum_all().unwrap())
        .unwrap();
        let grads = loss.backward().unwrap();
        opt.step_named(&grads, |name, _| GroupHyper {
            lr: if name == "a" { 0.0 } else { 0.1 },
            weight_decay: 0.0,
        })
        .unwrap();
        assert_eq!(a.as_tensor().to_vec1::<f32>().unwrap(), vec![1.0, -2.0]);
        let moved = b.as_tensor().to_vec1::<f32>().unwrap();
        assert!(
            (moved[0] - 2.9).abs() < 1e-5 && (moved[1] - 3.9).abs() < 1e-5,
            "{moved:?}"
        );
    }
}
