//! The tokenizer as the app and the CLI use it: a clip's features → one code per 8 frames, codes
//! → features → joints, and a single code repeated (the motion primitive it stands for).

use std::path::Path;

use candle_core::{Device, Tensor};

use super::checkpoint;
use super::config::CheckpointConfig;
use super::error::{DvqError, Result};
use super::model::DvqModel;
use super::quantize::gram;
use super::released::ReleasedForm;
use crate::motion::{Normalizer, Skeleton};

/// A trained DVQ tokenizer with the Mean/Std it was trained with.
pub struct Tokenizer {
    pub config: CheckpointConfig,
    model: DvqModel,
    normalizer: Normalizer,
    /// The released form it was read from; `None` for one of our tokenizer folders.
    released: Option<ReleasedForm>,
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
            released: None,
        })
    }

    /// Opens a tokenizer in any form the studio reads: one of our tokenizer folders (which
    /// carries its Mean/Std), or a released GeoMotionGPT / T2M-GPT file or Hugging Face export
    /// ([`super::released`]), which carries none: `mean_std` is then the folder holding the
    /// `Mean.npy`/`Std.npy` it was trained with (a HumanML3D dataset folder). Given for one of
    /// our folders, `mean_std` replaces the stored statistics.
    ///
    /// Errors: [`Self::load`]'s or [`super::released::load`]'s; a released tokenizer without
    /// `mean_std`; statistics of another width than the tokenizer's input; an input width
    /// other than HumanML3D's 263 (KIT-ML's 251-d tokenizers are not supported yet).
    pub fn open(path: &Path, mean_std: Option<&Path>, device: &Device) -> Result<Self> {
        let tok = if super::released::is_released(path) {
            let r = super::released::load(path, device)?;
            let Some(dir) = mean_std else {
                return Err(DvqError::checkpoint(
                    path,
                    "a released tokenizer carries no Mean/Std: give the dataset folder it was \
                     trained on (with Mean.npy and Std.npy), e.g. --mean-std ../HumanML3D",
                ));
            };
            let normalizer = Normalizer::load(dir).map_err(|e| DvqError::Data(e.to_string()))?;
            let mut model = DvqModel::new(&r.config, 0, device)?;
            model.params().assign(&r.tensors, path)?;
            model.freeze()?;
            let config = CheckpointConfig {
                model: r.config,
                train: Default::default(),
                data: dir.display().to_string(),
            };
            Self {
                config,
                model,
                normalizer,
                released: Some(r.form),
            }
        } else {
            let mut tok = Self::load(path, device)?;
            if let Some(dir) = mean_std {
                tok.normalizer =
                    Normalizer::load(dir).map_err(|e| DvqError::Data(e.to_string()))?;
            }
            tok
        };
        let width = tok.model.config.input_dim;
        if Skeleton::from_features(width).is_none() {
            return Err(DvqError::checkpoint(
                path,
                format!(
                    "a {width}-d tokenizer: GeoMotion reads HumanML3D's 263-d and KIT-ML's \
                     251-d features"
                ),
            ));
        }
        if tok.normalizer.mean.len() != width {
            return Err(DvqError::Data(format!(
                "the Mean/Std are {}-d, the tokenizer reads {width}-d features",
                tok.normalizer.mean.len()
            )));
        }
        Ok(tok)
    }

    /// One line naming the tokenizer: its form (ours, GeoMotionGPT DVQ, T2M-GPT VQ-VAE), K, D and
    /// frames per code.
    pub fn describe(&self) -> String {
        let c = &self.model.config;
        let form = self.released.map_or("DVQ", |f| f.label());
        format!(
            "{form}: K = {}, D = {}, one code per {} frames",
            c.nb_code,
            c.code_dim,
            c.frames_per_code()
        )
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
            released: None,
        })
    }

    /// The released form this tokenizer was read from; `None` for one of our folders.
    pub fn released(&self) -> Option<ReleasedForm> {
        self.released
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

    /// Raw `(T, 263)` row-major features (20 fps) → codes, one per 8 frames (`2^down_t`). The
    /// last `T mod 8` frames are left out (our training crops, and T2M-GPT's
    /// `dataset_tokenize.py`, cut clips to whole codes), except for a released GeoMotionGPT
    /// tokenizer, which reads the whole motion as the authors' `tokenize_dataset_hf.py` does
    /// (⌊T/8⌋ codes either way; the last code then also sees the left-over frames).
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

    /// The skeleton whose features this tokenizer reads (from its input width: 263 HumanML3D,
    /// 251 KIT-ML).
    pub fn skeleton(&self) -> Skeleton {
        Skeleton::from_features(self.width()).unwrap_or_default()
    }

    /// Features per frame F the tokenizer reads.
    pub fn width(&self) -> usize {
        self.model.config.input_dim
    }

    /// Codes → `(8N, J, 3)` joint positions in metres (`recover_from_ric` of [`Self::decode`]).
    pub fn decode_joints(&self, codes: &[u32]) -> Result<Vec<[f32; 3]>> {
        Ok(self.skeleton().joints_in_metres(&self.decode(codes)?))
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
        let w = self.width();
        if features.len() % w != 0 {
            let other = Skeleton::ALL
                .into_iter()
                .find(|s| s.n_features() != w && features.len() % s.n_features() == 0);
            return Err(DvqError::Data(match other {
                Some(s) => format!(
                    "this tokenizer reads {}'s {w}-d features; these are {} values, whole \
                     frames of {}'s {}-d ones",
                    self.skeleton().name(),
                    features.len(),
                    s.name(),
                    s.n_features()
                ),
                None => format!(
                    "{} values is not a whole number of {w}-d frames",
                    features.len()
                ),
            }));
        }
        let t = features.len() / w;
        let q = self.frames_per_code();
        let whole = self.released == Some(ReleasedForm::GeoMotionGpt);
        let t8 = if whole { t } else { t / q * q };
        if t < q {
            return Err(DvqError::Data(format!(
                "{t} frames is shorter than one code ({q} frames)"
            )));
        }
        let mut x = features[..t8 * w].to_vec();
        self.normalizer.normalize(&mut x);
        Ok(Tensor::from_vec(x, (1, t8, w), self.model.device())?)
    }
}
