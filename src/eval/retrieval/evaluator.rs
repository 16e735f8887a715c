//! A trained retrieval evaluator on disk (`config.json` + `model.safetensors` with the corpus
//! `mean`/`std` it was trained with) and the embedding API the metrics use.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::model::{RetrievalConfig, RetrievalModel};
use super::train::{RetrievalTrainConfig, SentenceCache};
use crate::dvq::checkpoint::{load_tensors, save_tensors, write_atomic};
use crate::eval::minilm::{MINILM_DIM, MiniLm};
use crate::lm::LmError;
use crate::motion::Normalizer;
use crate::motion::layout::N_FEATURES;

pub const CONFIG_FILE: &str = "config.json";
pub const MODEL_FILE: &str = "model.safetensors";

/// What `config.json` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalCheckpoint {
    pub model: RetrievalConfig,
    pub train: RetrievalTrainConfig,
    /// Training clips and captions, wall time and final loss, for the model card.
    pub clips: usize,
    pub captions: usize,
    pub wall_seconds: f64,
    pub final_loss: f64,
}

/// Motion and text encoders with MiniLM and the motion normalizer.
pub struct Evaluator {
    pub model: RetrievalModel,
    pub normalizer: Normalizer,
    pub minilm: MiniLm,
}

type Result<T> = std::result::Result<T, LmError>;

impl Evaluator {
    /// Loads `dir` (see the module docs) and MiniLM through the resolver.
    ///
    /// Errors: [`Evaluator::load_model`]'s, or MiniLM does not resolve.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let (_, model, normalizer) = Self::load_model(dir, device)?;
        Ok(Self {
            model,
            normalizer,
            minilm: MiniLm::load(None, device)?,
        })
    }

    /// The checkpoint config, the model and its normalizer of `dir`, without MiniLM.
    ///
    /// Errors (each naming the file): `config.json` unreadable, malformed or with sizes
    /// [`RetrievalModel::new`] refuses; `model.safetensors` missing, unreadable, lacking a tensor
    /// or with one of another shape (the sizes are compared before the model is built); a
    /// `mean`/`std` that is not `(263,)` f32, a non-finite mean
    /// or a std that is not finite and positive.
    pub fn load_model(
        dir: &Path,
        device: &Device,
    ) -> Result<(RetrievalCheckpoint, RetrievalModel, Normalizer)> {
        let cfg_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| LmError::io(&cfg_path, e))?;
        let ck: RetrievalCheckpoint =
            serde_json::from_str(&text).map_err(|e| LmError::format(&cfg_path, e))?;
        let path = dir.join(MODEL_FILE);
        let tensors = load_tensors(&path, device)?;
        // The config's sizes against the file's before the model is built (and allocated).
        let (w, e) = (ck.model.width, ck.model.embed_dim);
        for (name, want) in [
            ("motion.conv0.weight", vec![w, N_FEATURES, 3]),
            ("motion.out.weight", vec![e, w]),
        ] {
            let got = tensors.get(name).map(|t| t.dims().to_vec());
            if got.as_ref() != Some(&want) {
                let got = got.map_or("missing".into(), |g| format!("{g:?}"));
                let msg = format!(
                    "tensor `{name}` is {got}, {} expects {want:?}",
                    cfg_path.display()
                );
                return Err(LmError::format(&path, msg));
            }
        }
        let model = RetrievalModel::new(ck.model.clone(), device)
            .map_err(|e| LmError::format(&cfg_path, e))?;
        model.params().assign(&tensors, &path)?;
        let vector = |name: &str| -> Result<Vec<f32>> {
            let t = tensors
                .get(name)
                .ok_or_else(|| LmError::format(&path, format!("missing tensor `{name}`")))?;
            let v = t
                .flatten_all()
                .and_then(|t| t.to_dtype(candle_core::DType::F32))
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| LmError::format(&path, format!("tensor `{name}`: {e}")))?;
            if v.len() != N_FEATURES {
                return Err(LmError::format(&path, format!("`{name}` is not (263,)")));
            }
            Ok(v)
        };
        let normalizer = Normalizer {
            mean: vector("mean")?,
            std: vector("std")?,
        };
        if let Some(problem) = normalizer.problem() {
            return Err(LmError::format(&path, problem));
        }
        Ok((ck, model, normalizer))
    }

    /// Writes `config.json` and `model.safetensors` atomically.
    pub fn save(
        dir: &Path,
        model: &RetrievalModel,
        normalizer: &Normalizer,
        ck: &RetrievalCheckpoint,
    ) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| LmError::io(dir, e))?;
        let json = serde_json::to_string_pretty(ck).expect("config serializes");
        write_atomic(&dir.join(CONFIG_FILE), json.as_bytes())?;
        let mut tensors: HashMap<String, Tensor> = model.params().tensors();
        for (name, v) in [("mean", &normalizer.mean), ("std", &normalizer.std)] {
            tensors.insert(name.into(), Tensor::from_slice(v, v.len(), &Device::Cpu)?);
        }
        Ok(save_tensors(&dir.join(MODEL_FILE), &tensors)?)
    }

    /// Text embeddings `(E,)` of `texts` (MiniLM sentence embedding, then the projection).
    pub fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let cache = sentence_embeddings(&self.minilm, texts.iter(), &mut |_, _| {})?;
        let mut flat = Vec::with_capacity(texts.len() * MINILM_DIM);
        for t in texts {
            flat.extend_from_slice(&cache[t]);
        }
        let x = Tensor::from_vec(flat, (texts.len(), MINILM_DIM), self.model.device())?;
        Ok(self.model.embed_text(&x)?.to_vec2::<f32>()?)
    }

    /// Motion embedding `(E,)` of raw `(T, 263)` features (T ≥ 4), the whole clip at once.
    pub fn embed_motion(&self, features: &[f32]) -> Result<Vec<f32>> {
        let mut x = features.to_vec();
        self.normalizer.normalize(&mut x);
        let t = x.len() / N_FEATURES;
        let x = Tensor::from_vec(x, (1, t, N_FEATURES), self.model.device())?;
        Ok(self
            .model
            .embed_motion(&x, &[t])?
            .squeeze(0)?
            .to_vec1::<f32>()?)
    }
}

/// MiniLM sentence embeddings of the distinct strings in `texts`; `progress(done, total)`.
pub fn sentence_embeddings<'a>(
    minilm: &MiniLm,
    texts: impl Iterator<Item = &'a String>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SentenceCache> {
    let mut distinct: Vec<&String> = texts.collect();
    distinct.sort();
    distinct.dedup();
    let mut cache = SentenceCache::new();
    for (i, t) in distinct.iter().enumerate() {
        cache.insert((*t).clone(), minilm.sentence_embedding(t)?);
        progress(i + 1, distinct.len());
    }
    Ok(cache)
}
