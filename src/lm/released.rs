//! The captioner GeoMotionGPT's authors release, read as they save it and run as their code runs
//! it (JYe16/GeoMotionGPT `motGPT/archs/mgpt_lm.py`, class `MLM`, task `m2t`):
//!
//! - **Model**: a plain `GPT2LMHeadModel` whose vocabulary is the GPT-2 text vocabulary V
//!   followed by K + 3 added tokens `<motion_id_0>` … `<motion_id_{K+2}>` (the K codes, then
//!   start-of-motion `<motion_id_K>`, end-of-motion `<motion_id_{K+1}>` and an unused mask), head
//!   tied to the embeddings. Weights come from the Lightning checkpoint (`GeoMotionGPT.ckpt`,
//!   `state_dict` keys `lm.language_model.*`) or the Hugging Face export
//!   (`scripts/export_to_huggingface.py`: `model.safetensors` with `language_model.*` keys and a
//!   `config.json` with `n_embd`, `n_layer`, `n_head`, `n_positions`). K comes from the
//!   embedding's rows, V from the tokenizer.
//! - **Tokenizer**: the GPT-2 `tokenizer.json` the model was fine-tuned from (`deps/gpt2`, given as
//!   the backbone folder, or beside the export), with the K + 3 motion tokens added in order.
//! - **Prompt**: `Generate text: <motion_id_K>` codes `<motion_id_{K+1}> \n ` (`generate_direct`
//!   appends `" \n "`); no BOS.
//! - **Decoding**: greedy, at most 40 new tokens, stopping at `eos_token_id`
//!   (`generate_direct(max_length=40, num_beams=1, do_sample=False)`). The reference pads the
//!   prompt on the left to 256 tokens with an attention mask, which gives the real tokens
//!   positions 0‥n−1: the unpadded prompt here is the same computation.
//! - **Caption**: the whole sequence decoded without special tokens, the motion span replaced by
//!   `<Motion_Placeholder>`, then `generate_conditional`'s cleaning ([`clean_caption`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{D, Device, Tensor};
use tokenizers::{AddedToken, Tokenizer};

use super::config::LlamaConfig;
use super::error::{LmError, Result};
use super::llama::{KvCache, Llama};

/// New tokens at most (`generate_direct`'s `max_length=40`, passed as `max_new_tokens`).
pub const MAX_NEW_TOKENS: usize = 40;

/// The prompt's text before the motion span (`generate_conditional`, task m2t).
const INSTRUCTION: &str = "Generate text: ";
/// What `generate_direct` appends to every prompt.
const SEPARATOR: &str = " \n ";
const PLACEHOLDER: &str = "<Motion_Placeholder>";

/// A released GeoMotionGPT captioner (GPT-2 with motion tokens) and its tokenizer.
pub struct ReleasedCaptioner {
    model: Llama,
    tokenizer: Tokenizer,
    /// Codebook size K the motion tokens stand for.
    nb_code: usize,
    /// Id of `<motion_id_0>`: the text vocabulary size V.
    text_vocab: u32,
    eos: u32,
    /// What was loaded, for messages.
    pub source: PathBuf,
}

/// A finished caption with the ids it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleasedCaption {
    /// The cleaned caption, as the reference reports it.
    pub text: String,
    /// The prompt's ids.
    pub prompt_ids: Vec<u32>,
    /// The generated ids (the stopping eos included when reached).
    pub generated_ids: Vec<u32>,
    /// The least softmax probability among the generated tokens (greedy: each was the argmax).
    pub min_prob: f32,
}

/// Whether `path` holds a released GeoMotionGPT captioner: a `.ckpt`/`.pt`/`.safetensors` file,
/// or a folder whose `config.json` is the export's (`motion_vocab_size`).
pub fn is_released(path: &Path) -> bool {
    if path.is_file() {
        return true;
    }
    std::fs::read_to_string(path.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("motion_vocab_size").is_some())
}

impl ReleasedCaptioner {
    /// Loads the weights at `weights` (Lightning `.ckpt`, an export folder or its
    /// `model.safetensors`) with the GPT-2 `config.json` and `tokenizer.json` of `backbone`
    /// (default: the export folder, when it has them) onto `device`.
    ///
    /// Errors (naming the file): unreadable weights; no `language_model` tensors; no GPT-2
    /// config (a `.ckpt` needs `backbone`) or tokenizer; an embedding with no room for K ≥ 1 codes
    /// after the tokenizer's V text tokens; an untied head; sizes that make no GPT-2.
    pub fn load(weights: &Path, backbone: Option<&Path>, device: &Device) -> Result<Self> {
        // Shape errors deep in the conversion name the file too.
        Self::load_named(weights, backbone, device).map_err(|e| match e {
            LmError::Candle(c) => LmError::format(weights, format!("weights: {c}")),
            other => other,
        })
    }

    fn load_named(weights: &Path, backbone: Option<&Path>, device: &Device) -> Result<Self> {
        let export_dir = if weights.is_dir() {
            Some(weights.to_path_buf())
        } else {
            weights.parent().map(Path::to_path_buf)
        };
        let file = if weights.is_dir() {
            weights.join("model.safetensors")
        } else {
            weights.to_path_buf()
        };
        let raw = crate::dvq::released::read_state_dict(&file, device)
            .map_err(|e| LmError::format(&file, e.to_string()))?;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (k, t) in raw {
            let rest = k
                .strip_prefix("lm.language_model.")
                .or_else(|| k.strip_prefix("language_model."));
            if let Some(rest) = rest {
                tensors.insert(rest.to_string(), t);
            }
        }
        let wte = tensors
            .get("transformer.wte.weight")
            .ok_or_else(|| {
                LmError::format(
                    &file,
                    "no GPT-2 language model in it (no `lm.language_model.transformer.wte.weight` \
                     or `language_model.transformer.wte.weight`)",
                )
            })?
            .clone();
        if let Some(head) = tensors.remove("lm_head.weight") {
            let same = head.dims() == wte.dims()
                && (&head - &wte)?.abs()?.max_all()?.to_scalar::<f32>()? == 0.0;
            if !same {
                return Err(LmError::format(
                    &file,
                    "`lm_head.weight` differs from the token embedding: only GPT-2's tied head is \
                     supported",
                ));
            }
        }
        let (rows, width) = wte.dims2()?;
        let config_dir = backbone
            .map(Path::to_path_buf)
            .or_else(|| export_dir.clone())
            .filter(|d| d.join("config.json").is_file())
            .ok_or_else(|| {
                LmError::format(
                    &file,
                    "no GPT-2 config: give the GPT-2 folder the model was fine-tuned from \
                     (config.json, tokenizer.json), e.g. --lm deps/gpt2",
                )
            })?;
        let mut config = gpt2_config_of(&config_dir)?;
        config.0.vocab_size = rows;
        let (mut config, _bos, eos) = config;
        if config.hidden_size != width {
            return Err(LmError::format(
                config_dir.join("config.json"),
                format!(
                    "n_embd = {} but the weights' embedding is {width} wide",
                    config.hidden_size
                ),
            ));
        }
        config.num_hidden_layers = (0..)
            .take_while(|i| tensors.contains_key(&format!("transformer.h.{i}.ln_1.weight")))
            .count();
        let tensors = super::hf::gpt2_to_llama_names(tensors, &config, &file)?;
        config
            .check_weights(&tensors)
            .map_err(|msg| LmError::format(&file, msg))?;
        let model = Llama::from_tensors(&config, &tensors)?;

        let tok_dir = [backbone.map(Path::to_path_buf), export_dir]
            .into_iter()
            .flatten()
            .find(|d| d.join("tokenizer.json").is_file())
            .ok_or_else(|| {
                LmError::format(
                    &file,
                    "no tokenizer.json: give the GPT-2 folder the model was fine-tuned from, \
                     e.g. --lm deps/gpt2",
                )
            })?;
        let tok_path = tok_dir.join("tokenizer.json");
        let mut tokenizer = crate::lm::tokenizer::tokenizer_file(&tok_path)?;
        let text_vocab = tokenizer.get_vocab_size(true);
        let nb_code = rows
            .checked_sub(text_vocab + 3)
            .filter(|&k| k > 0)
            .ok_or_else(|| {
                LmError::format(
                    &file,
                    format!(
                        "the embedding has {rows} rows: no room for motion tokens after the \
                     tokenizer's {text_vocab} ({})",
                        tok_path.display()
                    ),
                )
            })?;
        let motion: Vec<AddedToken> = (0..nb_code + 3)
            .map(|i| AddedToken::from(format!("<motion_id_{i}>"), false))
            .collect();
        tokenizer
            .add_tokens(motion)
            .map_err(|e| LmError::format(&tok_path, e))?;
        let first = tokenizer.token_to_id("<motion_id_0>");
        if first != Some(text_vocab as u32) || tokenizer.get_vocab_size(true) != rows {
            return Err(LmError::format(
                &tok_path,
                format!(
                    "the motion tokens did not land at ids {text_vocab}‥{rows} (the tokenizer \
                     already holds some `<motion_id_…>`?)"
                ),
            ));
        }
        let eos = super::hf::first_id(&eos)
            .or_else(|| tokenizer.token_to_id("<|endoftext|>"))
            .filter(|&e| (e as usize) < text_vocab)
            .ok_or_else(|| {
                LmError::format(config_dir.join("config.json"), "no usable eos_token_id")
            })?;
        Ok(Self {
            model,
            tokenizer,
            nb_code,
            text_vocab: text_vocab as u32,
            eos,
            source: file,
        })
    }

    /// Codebook size K of the tokenizer this captioner reads.
    pub fn nb_code(&self) -> usize {
        self.nb_code
    }

    /// `Generate text: <motion_id_K>…<motion_id_{K+1}> \n ` tokenized as the reference does.
    ///
    /// Errors: no codes, a code ≥ K.
    pub fn prompt_ids(&self, codes: &[u32]) -> Result<Vec<u32>> {
        if codes.is_empty() {
            return Err(LmError::Data("no codes to caption".into()));
        }
        if let Some(c) = codes.iter().find(|&&c| c as usize >= self.nb_code) {
            return Err(LmError::Data(format!(
                "code {c} is outside this captioner's {} motion tokens (another tokenizer?)",
                self.nb_code
            )));
        }
        let k = self.nb_code;
        let mut text = format!("{INSTRUCTION}<motion_id_{k}>");
        for c in codes {
            text.push_str(&format!("<motion_id_{c}>"));
        }
        text.push_str(&format!("<motion_id_{}>{SEPARATOR}", k + 1));
        let enc = self
            .tokenizer
            .encode(text.as_str(), false)
            .map_err(|e| LmError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Greedy caption of `codes` ([`MAX_NEW_TOKENS`] at most, stopping at eos). `on_text` gets
    /// the cleaned caption so far after every token; returning false stops (an error
    /// [`LmError::Cancelled`]).
    pub fn caption(
        &self,
        codes: &[u32],
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<ReleasedCaption> {
        let prompt_ids = self.prompt_ids(codes)?;
        let dev = self.model.device();
        let mut cache = KvCache::default();
        let x = Tensor::new(prompt_ids.as_slice(), dev)?.unsqueeze(0)?;
        let mut logits = self.model.forward(&x, Some(&mut cache))?;
        let mut generated = Vec::new();
        let mut min_prob = 1.0f32;
        for _ in 0..MAX_NEW_TOKENS {
            let last = logits.squeeze(0)?;
            let last = last.get(last.dim(0)? - 1)?;
            let id = last.argmax(D::Minus1)?.to_scalar::<u32>()?;
            let p = candle_nn::ops::softmax_last_dim(&last.unsqueeze(0)?)?
                .squeeze(0)?
                .get(id as usize)?
                .to_scalar::<f32>()?;
            min_prob = min_prob.min(p);
            generated.push(id);
            if id == self.eos {
                break;
            }
            if !on_text(&self.text_of(&prompt_ids, &generated)?) {
                return Err(LmError::Cancelled);
            }
            let x = Tensor::new(&[id], dev)?.unsqueeze(0)?;
            logits = self.model.forward(&x, Some(&mut cache))?;
        }
        Ok(ReleasedCaption {
            text: self.text_of(&prompt_ids, &generated)?,
            prompt_ids,
            generated_ids: generated,
            min_prob,
        })
    }

    /// The caption the reference reports for `prompt + generated`: the whole sequence decoded
    /// without special tokens, motion spans replaced, then [`clean_caption`].
    fn text_of(&self, prompt: &[u32], generated: &[u32]) -> Result<String> {
        let all: Vec<u32> = prompt.iter().chain(generated).copied().collect();
        let text = self
            .tokenizer
            .decode(&all, true)
            .map_err(|e| LmError::Tokenizer(e.to_string()))?;
        Ok(clean_caption(&replace_motion_spans(&text, self.nb_code)))
    }

    /// The text vocabulary size V (the id of `<motion_id_0>`).
    pub fn text_vocab(&self) -> u32 {
        self.text_vocab
    }
}

/// The GPT-2 config of `dir`: its `config.json` as a GPT-2 config, or a GeoMotionGPT export's
/// (`n_embd`, `n_layer`, `n_head`, `n_positions`, GPT-2's defaults otherwise; without an
/// `eos_token_id` the caller takes the tokenizer's `<|endoftext|>`).
fn gpt2_config_of(
    dir: &Path,
) -> Result<(
    LlamaConfig,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
)> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| LmError::io(&path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| LmError::format(&path, e))?;
    if v.get("model_type").and_then(|t| t.as_str()) == Some("gpt2") {
        return super::hf::gpt2_config(&text, &path);
    }
    let field = |name: &str| v.get(name).cloned();
    let gpt2 = serde_json::json!({
        "model_type": "gpt2",
        // Replaced by the embedding's rows; a placeholder the config check accepts.
        "vocab_size": field("text_vocab_size").unwrap_or(50257.into()),
        "n_embd": field("n_embd"),
        "n_layer": field("n_layer"),
        "n_head": field("n_head"),
        "n_positions": field("n_positions").unwrap_or(1024.into()),
        // Absent from the export's config: then the tokenizer's `<|endoftext|>` (GPT-2's 50256).
        "bos_token_id": field("bos_token_id"),
        "eos_token_id": field("eos_token_id"),
    });
    super::hf::gpt2_config(&gpt2.to_string(), &path)
}

/// `motion_string_to_token` of the reference: every `<motion_id_K>` … `<motion_id_{K+1}>` span
/// (the shortest) becomes `<Motion_Placeholder>`.
fn replace_motion_spans(text: &str, k: usize) -> String {
    let (start, end) = (format!("<motion_id_{k}>"), format!("<motion_id_{}>", k + 1));
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(&start) {
        let Some(j) = rest[i + start.len()..].find(&end) else {
            break;
        };
        out.push_str(&rest[..i]);
        out.push_str(PLACEHOLDER);
        rest = &rest[i + start.len() + j + end.len()..];
    }
    out.push_str(rest);
    out
}

/// `generate_conditional`'s cleaning of a decoded m2t sequence: the text after the first
/// `" \n "`; `Generate text: <Motion_Placeholder>`, `Generate text with` and
/// `<Motion_Placeholder>` removed (each followed by a whitespace strip); a leading
/// `N frames:` removed (`^\d+\s*frames?:?\s*`); spaces, newlines and tabs, then quotes, stripped.
pub fn clean_caption(text: &str) -> String {
    let mut t = match text.split_once(SEPARATOR) {
        Some((_, after)) => after.to_string(),
        None => text.to_string(),
    };
    for s in [
        "Generate text: <Motion_Placeholder>",
        "Generate text with",
        PLACEHOLDER,
    ] {
        t = t.replace(s, "").trim().to_string();
    }
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        let after = t[digits..].trim_start();
        if let Some(rest) = after.strip_prefix("frame") {
            let rest = rest.strip_prefix('s').unwrap_or(rest);
            let rest = rest.strip_prefix(':').unwrap_or(rest);
            t = rest.trim_start().to_string();
        }
    }
    t.trim_matches([' ', '\n', '\t'])
        .trim_matches(['"', '\''])
        .to_string()
}
