//! The tokenizer as the app and the CLI use it: a clip's features → one code per 8 frames, codes
//! → features → joints, and a single code repeated (the motion primitive it stands for).

use std::path::Path;

use candle_core::{Device, Tensor};

use super::checkpoint;
use super::config::CheckpointConfig;
use super::error::{DvqError, Result};
use super::model::DvqModel;
use super::quantize::gram;
use crate::motion::layout::N_FEATURES;
use crate::motion::{Normalizer, recover_from_ric};

/// A trained DVQ tokenizer with the Mean/Std it was trained with.
pub struct Tokenizer {
    pub config: CheckpointConfig,
    model: DvqModel,
    normalizer: Normalizer,
}

impl Tokenizer {
    /// Loads a tokenizer directory (`config.json`, `model.safetensors`).
    ///
    /// Errors: a missing or malformed file, tensors that do not match the config.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let (config, mut model, normalizer) = checkpoint::load_model(dir, device)?;
        model.freeze()?;
        Ok(Self {
            config,
            model,
            normalizer,
        })
    }

    /// Wraps a model in memory (e.g. right after training); freezes it for inference
    /// ([`DvqModel::freeze`]).
    pub fn from_parts(
        config: CheckpointConfig,
        mut model: DvqModel,
        normalizer: Normalizer,
    ) -> Result<Self> {
        model.freeze()?;
        Ok(Self {
            config,
            model,
            normalizer,
        })
    }

    pub fn model(&self) -> &DvqModel {
        &self.model
    }

    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Frames per code (8 for down_t = 3).
    pub fn frames_per_code(&self) -> usize {
        self.model.config.frames_per_code()
    }

    /// Codebook size K.
    pub fn nb_code(&self) -> usize {
        self.model.config.nb_code
    }

    /// Raw `(T, 263)` row-major features (20 fps) → codes, one per 8 frames. The last
    /// `T mod 8` frames are left out (as the reference's data loader crops to a multiple).
    ///
    /// Errors: fewer than 8 frames, a row width other than 263.
    pub fn encode(&self, features: &[f32]) -> Result<Vec<u32>> {
        let x = self.normalized_input(features)?;
        Ok(self.model.encode(&x)?.squeeze(0)?.to_vec1::<u32>()?)
    }

    /// Codes → raw `(8N, 263)` row-major features (denormalized).
    pub fn decode(&self, codes: &[u32]) -> Result<Vec<f32>> {
        if codes.is_empty() {
            return Err(DvqError::Data("no codes to decode".into()));
        }
        if let Some(&c) = codes.iter().find(|&&c| c as usize >= self.nb_code()) {
            return Err(DvqError::Data(format!(
                "code {c} is outside the codebook (K = {})",
                self.nb_code()
            )));
        }
        let ids = Tensor::from_slice(codes, (1, codes.len()), self.model.device())?;
        let y = self
            .model
            .decode(&ids)?
            .squeeze(0)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let mut y = y;
        self.normalizer.denormalize(&mut y);
        Ok(y)
    }

    /// Codes → `(8N, 22, 3)` joint positions in metres (`recover_from_ric` of [`Self::decode`]).
    pub fn decode_joints(&self, codes: &[u32]) -> Result<Vec<[f32; 3]>> {
        Ok(recover_from_ric(&self.decode(codes)?, N_FEATURES))
    }

    /// The motion primitive of one code: `code` repeated `repeats` times, decoded to raw
    /// `(8·repeats, 263)` features.
    pub fn primitive(&self, code: u32, repeats: usize) -> Result<Vec<f32>> {
        self.decode(&vec![code; repeats.max(1)])
    }

    /// Encode then decode: `(codes, raw reconstructed (8N, 263) features)`.
    pub fn reconstruct(&self, features: &[f32]) -> Result<(Vec<u32>, Vec<f32>)> {
        let codes = self.encode(features)?;
        let y = self.decode(&codes)?;
        Ok((codes, y))
    }

    /// `(K, K)` row-major Gram matrix of the row-normalized codebook (cosines between codes).
    pub fn gram(&self) -> Result<Vec<f32>> {
        Ok(gram(self.model.codebook())?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    fn normalized_input(&self, features: &[f32]) -> Result<Tensor> {
        if features.len() % N_FEATURES != 0 {
            return Err(DvqError::Data(format!(
                "{} values is not a whole number of {N_FEATURES}-d frames",
                features.len()
            )));
        }
        let t = features.len() / N_FEATURES;
        let q = self.frames_per_code();
        let t8 = t / q * q;
        if t8 == 0 {
            return Err(DvqError::Data(format!(
                "{t} frames is shorter than one code ({q} frames)"
            )));
        }
        let mut x = features[..t8 * N_FEATURES].to_vec();
        self.normalizer.normalize(&mut x);
        Ok(Tensor::from_vec(
            x,
            (1, t8, N_FEATURES),
            self.model.device(),
        )?)
    }
}
