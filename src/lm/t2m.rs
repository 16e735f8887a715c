//! Text to motion with the captioner's LM (MotionGPT's direction, same motion vocabulary): the
//! instruction `Generate motion: <caption> \n <start>` and the codes, then `<end>`, as a training
//! example, and decoding restricted to the motion codes and `<end>`, with a length control
//! (minimum and maximum codes), greedy or sampled (temperature, top-k, seeded), and pose control
//! (the first codes given, the rest generated). MotionGPT (Jiang et al. 2023) writes
//! `<motion_id_start> … <motion_id_end>` from an instruction template the same way; its
//! `t2m` task sits beside `m2t` in GeoMotionGPT's own code.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{Captioner, Example, SEPARATOR};
use crate::lm::error::{LmError, Result};
use crate::lm::llama::{KvCache, linear};

/// The text-to-motion instruction, before the caption.
pub const MOTION_PROMPT: &str = "Generate motion: ";

/// How [`Captioner::generate_motion`] decodes.
#[derive(Clone, Debug, PartialEq)]
pub struct MotionDecoding {
    /// `<end>` is not allowed before this many codes (prefix included).
    pub min_codes: usize,
    /// `<end>` is forced after this many codes (prefix included).
    pub max_codes: usize,
    /// 0: greedy (argmax); else the logits are divided by it before sampling.
    pub temperature: f32,
    /// Sample among the `top_k` most probable tokens (0: all allowed tokens).
    pub top_k: usize,
    /// Seed of the sampling.
    pub seed: u64,
    /// Codes the motion starts with (pose control: a clip's first codes); generation goes on
    /// after them.
    pub prefix: Vec<u32>,
    /// Tokens of the prompt kept: the LM's training cut (`max_caption_tokens` of its config,
    /// 32 by default), so it reads prompts as it learnt them.
    pub max_prompt_tokens: usize,
}

impl Default for MotionDecoding {
    /// Greedy, 1 to 50 codes (50 codes = 400 frames = 20 s at 20 fps), no prefix.
    fn default() -> Self {
        Self {
            min_codes: 1,
            max_codes: 50,
            temperature: 0.0,
            top_k: 0,
            seed: 0,
            prefix: Vec::new(),
            max_prompt_tokens: 32,
        }
    }
}

impl MotionDecoding {
    /// Exactly the number of codes closest to `seconds` of motion at `fps` with
    /// `frames_per_code` frames a code (at least 1).
    pub fn with_seconds(mut self, seconds: f32, fps: f32, frames_per_code: usize) -> Self {
        let n = ((seconds * fps / frames_per_code as f32).round() as usize).max(1);
        self.min_codes = n;
        self.max_codes = n;
        self
    }
}

impl Captioner {
    /// `Generate motion: <caption> \n <start>` as ids: the instruction, the caption (trimmed, cut
    /// to `max_caption_tokens` tokens), the separator, each tokenized on its own as the
    /// motion-to-text prompt is, then `<start>`.
    pub fn motion_prompt(&self, caption: &str, max_caption_tokens: usize) -> Result<Vec<u32>> {
        let mut ids = self.encode_text(MOTION_PROMPT)?;
        let mut text = self.encode_text(caption.trim())?;
        text.truncate(max_caption_tokens);
        ids.extend(text);
        ids.extend(self.encode_text(SEPARATOR)?);
        ids.push(self.start_token());
        Ok(ids)
    }

    /// A text-to-motion training example: the prompt of `caption` (cut to `max_caption_tokens`
    /// tokens) and, as the target, the motion tokens of `codes` then `<end>`.
    ///
    /// A captioner that reads a motion summary learns it too: the text prompt has no motion
    /// to summarise, so the example has no summary and no soft-token slots (retrieved captions
    /// and the style tag belong to the motion-to-text prompt only).
    ///
    /// Errors: a code ≥ K.
    pub fn motion_example(
        &self,
        caption: &str,
        codes: &[u32],
        max_caption_tokens: usize,
    ) -> Result<Example> {
        self.check_codes(codes)?;
        let prompt = self.motion_prompt(caption, max_caption_tokens)?;
        let mut target: Vec<u32> = codes.iter().map(|&c| self.motion_token(c)).collect();
        target.push(self.end_token());
        Ok(Example {
            prompt,
            caption: target,
            summary: None,
        })
    }

    fn check_codes(&self, codes: &[u32]) -> Result<()> {
        match codes.iter().find(|&&c| c as usize >= self.config.nb_code) {
            Some(c) => Err(LmError::Weights(format!(
                "motion code {c} is outside the LM's codebook (K = {})",
                self.config.nb_code
            ))),
            None => Ok(()),
        }
    }

    /// Motion codes for `text`: `opts.prefix`, then codes chosen one by one among the K codes and
    /// `<end>` only (`<start>` and `<mask>` never; `<end>` not before `opts.min_codes`, forced at
    /// `opts.max_codes`). `on_code` gets each new code and returns `false` to stop (a cancelled
    /// job). Returns every code, prefix included.
    ///
    /// Errors: a prefix code ≥ K; `min_codes > max_codes`; a temperature that is not a finite
    /// number ≥ 0.
    pub fn generate_motion(
        &self,
        text: &str,
        opts: &MotionDecoding,
        on_code: &mut dyn FnMut(u32) -> bool,
    ) -> Result<Vec<u32>> {
        if !(opts.temperature.is_finite() && opts.temperature >= 0.0) {
            return Err(LmError::Data(format!(
                "temperature {}: give a number ≥ 0 (0 = greedy)",
                opts.temperature
            )));
        }
        if opts.min_codes > opts.max_codes {
            return Err(LmError::Data(format!(
                "at least {} codes and at most {}",
                opts.min_codes, opts.max_codes
            )));
        }
        self.check_codes(&opts.prefix)?;
        let mut ids = self.motion_prompt(text, opts.max_prompt_tokens)?;
        ids.extend(opts.prefix.iter().map(|&c| self.motion_token(c)));
        let mut codes = opts.prefix.clone();
        let mut cache = KvCache::default();
        let mut rng = StdRng::seed_from_u64(opts.seed);
        let k = self.config.nb_code;
        let end = k + 1;
        let mut feed = ids;
        while codes.len() < opts.max_codes {
            let logits = self.motion_logits(&feed, &mut cache)?;
            let allowed = |i: usize| i < k || (i == end && codes.len() >= opts.min_codes);
            let next = choose(&logits, &allowed, opts, &mut rng);
            if next == end {
                break;
            }
            codes.push(next as u32);
            if !on_code(next as u32) {
                break;
            }
            feed = vec![self.motion_token(next as u32)];
        }
        Ok(codes)
    }

    /// Feeds `ids` through the LM (with its cache) and returns the last position's logits over
    /// the K + 3 motion tokens only.
    fn motion_logits(&self, ids: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let dev: &Device = self.device();
        let t = Tensor::from_vec(ids.to_vec(), (1, ids.len()), dev)?;
        let x = self.embed(&t)?;
        let h = self
            .llama
            .hidden_states(&x, Some(cache), self.lora.as_ref())?;
        let d = self.config.llama.hidden_size;
        let last = h.narrow(1, ids.len() - 1, 1)?.reshape((1, d))?;
        Ok(linear(&last, &self.motion_rows()?)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }
}

/// The token to emit among the `allowed` indices of `logits`: the argmax when greedy, else a
/// draw from the softmax of `logits / temperature` over the `top_k` best allowed ones.
fn choose(
    logits: &[f32],
    allowed: &dyn Fn(usize) -> bool,
    opts: &MotionDecoding,
    rng: &mut StdRng,
) -> usize {
    let mut cand: Vec<(usize, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(i, _)| allowed(*i))
        .map(|(i, &l)| (i, l))
        .collect();
    // Best first; equal logits keep index order (the first wins, as argmax).
    cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if opts.temperature <= 0.0 || cand.len() == 1 {
        return cand[0].0;
    }
    if opts.top_k > 0 {
        cand.truncate(opts.top_k);
    }
    let max = cand[0].1;
    let w: Vec<f64> = cand
        .iter()
        .map(|(_, l)| (((l - max) / opts.temperature) as f64).exp())
        .collect();
    let mut x = rng.random::<f64>() * w.iter().sum::<f64>();
    for (c, wi) in cand.iter().zip(&w) {
        if x < *wi {
            return c.0;
        }
        x -= wi;
    }
    cand[cand.len() - 1].0
}
