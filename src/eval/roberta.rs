//! RoBERTa token embeddings for BERTScore as papers report it (Tiiiger/bert_score with
//! `roberta-large`: the hidden states after layer 17 of 24, `model2layers['roberta-large']`),
//! read from a Hugging Face folder the user points to (`config.json`, `model.safetensors`,
//! `tokenizer.json`; a `RobertaForMaskedLM` file's `roberta.` prefix is accepted).
//!
//! As the reference: the model is cut to its first `layer` layers (`model.encoder.layer[:n]`),
//! each sentence is stripped and encoded alone with `<s> … </s>` and a prefix space
//! (`sent_encode`: `add_prefix_space=True` for RoBERTa), position ids start after the padding
//! id (candle's `xlm_roberta`, the same architecture).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::xlm_roberta::{Config, XLMRobertaModel};
use tokenizers::Tokenizer;

use crate::lm::LmError;

type Result<T> = std::result::Result<T, LmError>;

/// roberta-large's BERTScore layer (`bert_score.utils.model2layers`).
pub const ROBERTA_LARGE_LAYER: usize = 17;

/// A RoBERTa cut to its first `layer` layers, and its tokenizer.
pub struct Roberta {
    model: XLMRobertaModel,
    tokenizer: Tokenizer,
    /// Ids of `<s>` and `</s>`.
    pub cls: u32,
    pub sep: u32,
    hidden: usize,
    max_tokens: usize,
    device: Device,
}

impl Roberta {
    /// Loads the folder `dir` keeping the first `layer` layers.
    ///
    /// Errors (naming the file): a missing or malformed file; a `model_type` other than
    /// `roberta`/`xlm-roberta`; `layer` 0 or more than the model has; no `<s>`/`</s>` tokens.
    pub fn load(dir: &Path, layer: usize, device: &Device) -> Result<Self> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| LmError::io(&cfg_path, e))?;
        let probe: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| LmError::format(&cfg_path, e))?;
        let kind = probe.get("model_type").and_then(|v| v.as_str());
        if !matches!(kind, Some("roberta" | "xlm-roberta")) {
            return Err(LmError::format(
                &cfg_path,
                format!("model_type {kind:?}: a RoBERTa (roberta-large for papers' BERTScore)"),
            ));
        }
        // Fields newer transformers leave out of config.json, with RobertaConfig's defaults.
        let mut full = probe.clone();
        if let Some(obj) = full.as_object_mut() {
            for (k, v) in [
                ("position_embedding_type", serde_json::json!("absolute")),
                ("attention_probs_dropout_prob", serde_json::json!(0.1)),
                ("hidden_dropout_prob", serde_json::json!(0.1)),
                ("layer_norm_eps", serde_json::json!(1e-5)),
                ("hidden_act", serde_json::json!("gelu")),
                ("type_vocab_size", serde_json::json!(1)),
                ("pad_token_id", serde_json::json!(1)),
            ] {
                obj.entry(k).or_insert(v);
            }
        }
        let mut config: Config =
            serde_json::from_value(full).map_err(|e| LmError::format(&cfg_path, e))?;
        if layer == 0 || layer > config.num_hidden_layers {
            return Err(LmError::format(
                &cfg_path,
                format!(
                    "layer {layer}: the model has layers 1..={}",
                    config.num_hidden_layers
                ),
            ));
        }
        config.num_hidden_layers = layer;
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(LmError::format(
                &weights,
                "missing (convert a pytorch_model.bin to safetensors first)",
            ));
        }
        // SAFETY: the file is opened read-only and not modified while mapped.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, device) }
            .map_err(|e| LmError::format(&weights, e))?;
        let vb = if vb.contains_tensor("roberta.embeddings.word_embeddings.weight") {
            vb.pp("roberta")
        } else {
            vb
        };
        let model = XLMRobertaModel::new(&config, vb).map_err(|e| LmError::format(&weights, e))?;
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = crate::lm::tokenizer::tokenizer_file(&tok_path)?;
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| LmError::format(&tok_path, format!("no `{t}` token")))
        };
        let (cls, sep) = (id("<s>")?, id("</s>")?);
        Ok(Self {
            model,
            tokenizer,
            cls,
            sep,
            hidden: config.hidden_size,
            // Positions start after the padding id: at most max_position_embeddings − 2 tokens.
            max_tokens: config.max_position_embeddings.saturating_sub(2).max(2),
            device: device.clone(),
        })
    }

    /// Hidden width (1024 for roberta-large).
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// `s` stripped, with a prefix space, as `<s> … </s>` (cut to the model's positions, as
    /// the reference truncates): token ids and the chosen layer's hidden states `(T, H)`.
    ///
    /// Errors: the tokenizer or the model fails.
    pub fn hidden_states(&self, s: &str) -> Result<(Vec<u32>, Tensor)> {
        let s = s.trim();
        let mut ids = if s.is_empty() {
            vec![self.cls, self.sep]
        } else {
            self.tokenizer
                .encode(format!(" {s}"), true)
                .map_err(|e| LmError::Tokenizer(e.to_string()))?
                .get_ids()
                .to_vec()
        };
        if ids.len() > self.max_tokens {
            ids.truncate(self.max_tokens - 1);
            ids.push(self.sep);
        }
        let t = ids.len();
        let x = Tensor::from_vec(ids.clone(), (1, t), &self.device)?;
        let mask = Tensor::ones((1, t), DType::U8, &self.device)?;
        let types = x.zeros_like()?;
        let h = self
            .model
            .forward(&x, &mask, &types, None, None, None)?
            .squeeze(0)?;
        Ok((ids, h))
    }
}
