//! Text-to-motion evaluation as the field reports it (Guo et al. 2022's protocol, T2M-GPT
//! `utils/eval_trans.py` `evaluation_transformer`): for each test motion, one of its captions is
//! the prompt and a motion of the same length is generated (the length given, as MDM and MoMask
//! evaluate; T2M-GPT lets its model end the motion, which this does not measure); R-Precision (batches of 32) and
//! MM-Dist of the prompts against the generated motions, FID of the generated motions against
//! the real ones, Diversity, and MultiModality over several samples of the same prompt, all in an
//! evaluator's embedding space. Two floors are measured in the same run: the real motions
//! themselves, and a retrieval baseline returning the train motion whose first caption is
//! nearest to the prompt (MiniLM sentence embeddings, cosine). Physical sanity (foot skating,
//! floor penetration, jitter: [`super::physics`]) is given for each row.

use rand::SeedableRng;
use rand::seq::index::sample;

use super::physics::Physics;
use super::retrieval::{CaptionedClip, MatchingScores, fid, matching_scores};
use crate::dvq::Tokenizer;
use crate::lm::{Captioner, MotionDecoding};

/// T2M's `calculate_multimodality`: for each prompt's `(repeats, E)` embeddings, `times`
/// seeded pairs (first and second indices drawn without replacement, the same pairs for every
/// prompt, as the reference draws them once), the mean distance over prompts and pairs. `None`
/// without prompts or unless `times < repeats` (the reference asserts it).
pub fn multimodality(groups: &[Vec<Vec<f32>>], times: usize, seed: u64) -> Option<f64> {
    let repeats = groups.first()?.len();
    if times == 0 || times >= repeats || groups.iter().any(|g| g.len() != repeats) {
        return None;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let first = sample(&mut rng, repeats, times);
    let second = sample(&mut rng, repeats, times);
    let mut sum = 0.0f64;
    for g in groups {
        for (i, j) in first.iter().zip(second.iter()) {
            sum += super::retrieval::metrics::dist(&g[i], &g[j]);
        }
    }
    Some(sum / (groups.len() * times) as f64)
}

/// How to generate for the evaluation.
#[derive(Clone, Debug)]
pub struct GenerationSettings {
    /// Sampling temperature (the field samples: T2M-GPT draws from the categorical).
    pub temperature: f32,
    pub top_k: usize,
    pub seed: u64,
    /// MultiModality: the first `mm_prompts` prompts, `mm_repeats` samples each, `mm_times`
    /// pairs (the papers: 100 prompts, 30 samples, 10 pairs).
    pub mm_prompts: usize,
    pub mm_repeats: usize,
    pub mm_times: usize,
    /// R-Precision / MM-Dist shuffles.
    pub repeats: usize,
    /// Prompt tokens kept (the LM's `max_caption_tokens`).
    pub max_prompt_tokens: usize,
}

impl Default for GenerationSettings {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            top_k: 0,
            seed: 1234,
            mm_prompts: 20,
            mm_repeats: 10,
            mm_times: 5,
            repeats: super::retrieval::FIELD_REPEATS,
            max_prompt_tokens: 32,
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GenerationRow {
    pub name: String,
    pub scores: Option<MatchingScores>,
    pub fid: f64,
    pub diversity: Option<f64>,
    pub multimodality: Option<f64>,
    /// Mean of the motions' [`Physics`].
    pub physics: Physics,
}

/// Mean [`Physics`] of raw feature sequences of the tokenizer's skeleton.
fn mean_physics(motions: &[Vec<f32>], tok: &Tokenizer) -> Physics {
    let s = tok.skeleton();
    let all: Vec<Physics> = motions
        .iter()
        .map(|f| Physics::of(&s.joints_in_metres(f), s))
        .collect();
    let n = all.len().max(1) as f32;
    Physics {
        skating_m_s: all.iter().map(|p| p.skating_m_s).sum::<f32>() / n,
        penetration_m: all.iter().map(|p| p.penetration_m).sum::<f32>() / n,
        jitter_m_s3: all.iter().map(|p| p.jitter_m_s3).sum::<f32>() / n,
    }
}

/// A motion's embedding in an evaluator's space (ours, or the T2M evaluator's): raw `(T, F)`
/// row-major features (20 fps) → `(E,)`.
pub type EmbedMotion<'a> = dyn Fn(&[f32]) -> crate::lm::error::Result<Vec<f32>> + 'a;

fn row(
    name: &str,
    embed: &EmbedMotion,
    texts: &[Vec<f32>],
    real: &[Vec<f32>],
    motions: &[Vec<f32>],
    multimodality: Option<f64>,
    settings: &GenerationSettings,
    tok: &Tokenizer,
) -> crate::lm::error::Result<GenerationRow> {
    let emb: Vec<Vec<f32>> = motions
        .iter()
        .map(|m| embed(m))
        .collect::<crate::lm::error::Result<_>>()?;
    let times = super::t2m::protocol::DIVERSITY_TIMES.min(emb.len());
    Ok(GenerationRow {
        name: name.to_string(),
        scores: matching_scores(texts, &emb, settings.repeats, settings.seed),
        fid: fid(real, &emb),
        diversity: super::t2m::protocol::diversity(&emb, times, settings.seed),
        multimodality,
        physics: mean_physics(motions, tok),
    })
}

/// The motions of one evaluation run, kept raw so that more than one evaluator scores the same
/// samples.
pub struct Generated {
    /// Raw `(T, F)` features: the test motions, the retrieval baseline's train motions, the LM's
    /// motions (one per prompt, of its test motion's length).
    pub real: Vec<Vec<f32>>,
    pub retrieved: Vec<Vec<f32>>,
    pub generated: Vec<Vec<f32>>,
    /// MultiModality samples: for each of the first prompts, its repeated generations.
    pub groups: Vec<Vec<Vec<f32>>>,
}

/// Generates what the table scores: for each of `test` (its first caption the prompt) a motion
/// of its length with `cap` writing codes that `tok` decodes, and the MultiModality samples;
/// `retrieved` takes `train[nearest_train[i]]` for prompt `i`. `progress(done, total)` counts
/// generations.
///
/// Errors: a generation or decoding that fails.
pub fn generate_for_evaluation(
    cap: &Captioner,
    tok: &Tokenizer,
    test: &[CaptionedClip],
    train: &[CaptionedClip],
    nearest_train: &[usize],
    settings: &GenerationSettings,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Generated, Box<dyn std::error::Error + Send + Sync>> {
    let q = tok.frames_per_code();
    let mm_n = settings.mm_prompts.min(test.len());
    let total = test.len() + mm_n * settings.mm_repeats;
    let mut done = 0;
    let mut generate = |text: &str,
                        frames: usize,
                        seed: u64|
     -> Result<Vec<f32>, Box<dyn std::error::Error + Send + Sync>> {
        let opts = MotionDecoding {
            min_codes: (frames / q).max(1),
            max_codes: (frames / q).max(1),
            temperature: settings.temperature,
            top_k: settings.top_k,
            seed,
            max_prompt_tokens: settings.max_prompt_tokens,
            prefix: Vec::new(),
        };
        let codes = cap.generate_motion(text, &opts, &mut |_| true)?;
        done += 1;
        progress(done, total);
        Ok(tok.decode(&codes)?)
    };
    let prompt = |c: &CaptionedClip| c.captions[0].0.clone();
    let mut generated = Vec::with_capacity(test.len());
    for (i, c) in test.iter().enumerate() {
        generated.push(generate(&prompt(c), c.frames, settings.seed + i as u64)?);
    }
    let mut groups = Vec::with_capacity(mm_n);
    for (i, c) in test.iter().take(mm_n).enumerate() {
        let mut g = Vec::with_capacity(settings.mm_repeats);
        for r in 0..settings.mm_repeats {
            let seed = settings.seed + 1_000_000 * (r as u64 + 1) + i as u64;
            g.push(generate(&prompt(c), c.frames, seed)?);
        }
        groups.push(g);
    }
    Ok(Generated {
        real: test.iter().map(|c| c.features.clone()).collect(),
        retrieved: nearest_train
            .iter()
            .map(|&j| train[j].features.clone())
            .collect(),
        generated,
        groups,
    })
}

/// The three rows (real motion, the retrieval baseline, the LM) of `g` in one evaluator's space:
/// `embed` its motion encoder, `texts` its embeddings of the prompts (one per test motion).
///
/// Errors: an embedding that fails; counts that do not line up.
pub fn score_generation(
    embed: &EmbedMotion,
    texts: &[Vec<f32>],
    g: &Generated,
    settings: &GenerationSettings,
    tok: &Tokenizer,
) -> crate::lm::error::Result<Vec<GenerationRow>> {
    let n = g.real.len();
    if texts.len() != n || g.retrieved.len() != n || g.generated.len() != n {
        return Err(crate::lm::error::LmError::Data(format!(
            "{} prompts, {n} real, {} retrieved and {} generated motions: one each per test motion",
            texts.len(),
            g.retrieved.len(),
            g.generated.len()
        )));
    }
    let real: Vec<Vec<f32>> = g
        .real
        .iter()
        .map(|m| embed(m))
        .collect::<crate::lm::error::Result<_>>()?;
    let mut groups = Vec::with_capacity(g.groups.len());
    for group in &g.groups {
        groups.push(
            group
                .iter()
                .map(|m| embed(m))
                .collect::<crate::lm::error::Result<Vec<_>>>()?,
        );
    }
    Ok(vec![
        row(
            "real motion",
            embed,
            texts,
            &real,
            &g.real,
            None,
            settings,
            tok,
        )?,
        row(
            "retrieval (train motion of the nearest caption)",
            embed,
            texts,
            &real,
            &g.retrieved,
            Some(0.0),
            settings,
            tok,
        )?,
        row(
            "ours (LM + tokenizer)",
            embed,
            texts,
            &real,
            &g.generated,
            multimodality(&groups, settings.mm_times, settings.seed),
            settings,
            tok,
        )?,
    ])
}

/// For each of `prompts` (MiniLM sentence embeddings, unit length), the index of the nearest of
/// `pool` by cosine (the first of equals).
pub fn nearest_by_cosine(prompts: &[Vec<f32>], pool: &[Vec<f32>]) -> Vec<usize> {
    prompts
        .iter()
        .map(|p| {
            let mut best = (0, f32::MIN);
            for (j, q) in pool.iter().enumerate() {
                let c: f32 = p.iter().zip(q).map(|(a, b)| a * b).sum();
                if c > best.1 {
                    best = (j, c);
                }
            }
            best.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `calculate_multimodality` on known embeddings: sample r of every prompt sits at 3·r, so a
    /// pair (i, j) is 3·|i − j| apart (0 for a pair of the same sample, which the reference
    /// allows too: the two index sets are drawn independently); checked against the drawn pairs.
    /// `times` must stay below the samples, as the reference asserts.
    #[test]
    fn multimodality_is_the_mean_distance_of_drawn_pairs() {
        let groups: Vec<Vec<Vec<f32>>> = (0..4)
            .map(|p| (0..6).map(|r| vec![p as f32, 3.0 * r as f32]).collect())
            .collect();
        let mm = multimodality(&groups, 5, 7).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = sample(&mut rng, 6, 5);
        let b = sample(&mut rng, 6, 5);
        let want: f64 = a
            .iter()
            .zip(b.iter())
            .map(|(i, j)| 3.0 * (i as f64 - j as f64).abs())
            .sum::<f64>()
            / 5.0;
        assert!((mm - want).abs() < 1e-9, "{mm} vs {want}");
        assert!(multimodality(&groups, 6, 7).is_none());
        assert!(multimodality(&[], 1, 7).is_none());
        assert_eq!(
            nearest_by_cosine(&[vec![1.0, 0.0]], &[vec![0.0, 1.0], vec![0.8, 0.6]]),
            vec![1]
        );
    }

    /// The whole table on real takes (the dataset-2 waves with the left hand and walks turning
    /// left) with the shipped evaluator and tokenizer and an untrained LM on the tiny GPT-2: three
    /// rows, the real motion's FID 0 against itself, the retrieval baseline's MultiModality 0, the
    /// LM's measured over its samples, physics finite.
    #[test]
    fn the_table_has_both_floors_and_the_model() {
        let dev = candle_core::Device::Cpu;
        let models = crate::lm::resolve::models_dir();
        let tok = Tokenizer::load(&models.join("dvq"), &dev).unwrap();
        let bb = crate::lm::backbone::load_backbone(
            Some(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny"),
            ),
            &dev,
        )
        .unwrap();
        let cap = Captioner::new(
            bb,
            tok.model().codebook(),
            crate::lm::FineTune::Lora,
            &Default::default(),
            7,
            Default::default(),
        )
        .unwrap();
        let ev = super::super::retrieval::Evaluator::load(&models.join("eval"), &dev).unwrap();
        let corpus =
            crate::motion::import::corpus::dataset2_corpus(&["wave-left-hand", "walk-turn-left"]);
        let load =
            |split| super::super::retrieval::load_captioned(corpus.path(), split, 40).unwrap();
        let (test, train) = (
            load(crate::motion::Split::Test),
            load(crate::motion::Split::Train),
        );
        let nearest: Vec<usize> = (0..test.len()).map(|i| i % train.len()).collect();
        let settings = GenerationSettings {
            mm_prompts: 2,
            mm_repeats: 3,
            mm_times: 2,
            ..Default::default()
        };
        let mut calls = 0;
        let first = generate_for_evaluation(
            &cap,
            &tok,
            &test,
            &train,
            &nearest,
            &settings,
            &mut |_, _| calls += 1,
        )
        .unwrap();
        let prompts: Vec<String> = test.iter().map(|c| c.captions[0].0.clone()).collect();
        let ours = ev.embed_texts(&prompts).unwrap();
        let rows =
            score_generation(&|m| ev.embed_motion(m), &ours, &first, &settings, &tok).unwrap();
        assert_eq!(calls, test.len() + 2 * 3);
        assert_eq!(rows.len(), 3);
        // The same motions in the T2M evaluator's space (the fixture's random weights): scored
        // again without generating again, its real row 0 from itself too.
        let fixture =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/t2m-evaluator");
        let t2m = crate::eval::t2m::T2mEvaluator::load(&fixture.join("t2m"), &dev).unwrap();
        let glove =
            crate::eval::t2m::words::WordVectors::load(&fixture.join("glove"), "our_vab").unwrap();
        let g = generate_for_evaluation(
            &cap,
            &tok,
            &test,
            &train,
            &nearest,
            &settings,
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(g.generated.len(), test.len());
        assert_eq!(g.groups.len(), 2);
        let lex = std::collections::HashMap::new();
        let texts: Vec<Vec<f32>> = test
            .iter()
            .map(|c| {
                let tokens = crate::eval::t2m::protocol::tag_caption(&c.captions[0].0, &lex);
                t2m.embed_text(&tokens, &glove).unwrap()
            })
            .collect();
        let t2m_rows =
            score_generation(&|m| t2m.embed_motion(m), &texts, &g, &settings, &tok).unwrap();
        assert_eq!(t2m_rows.len(), 3);
        assert!(t2m_rows[0].fid.abs() < 1e-3, "{}", t2m_rows[0].fid);
        assert!(t2m_rows[2].multimodality.is_some_and(|m| m > 0.0));
        // R-Precision needs a batch of 32 prompts: present in both spaces or in neither (the
        // fixture tier's corpus has fewer test takes).
        assert_eq!(t2m_rows[2].scores.is_some(), rows[2].scores.is_some());
        assert!(t2m_rows[2].fid.is_finite() && t2m_rows[2].fid >= -1e-6);
        // Seeded: generating again gives the same motions, so the same rows in our space.
        let again = score_generation(&|m| ev.embed_motion(m), &ours, &g, &settings, &tok).unwrap();
        assert_eq!(again[2].fid, rows[2].fid);
        assert!(rows[0].fid.abs() < 1e-3, "{}", rows[0].fid);
        assert_eq!(rows[1].multimodality, Some(0.0));
        assert!(rows[2].multimodality.is_some_and(|m| m > 0.0));
        for r in &rows {
            let p = r.physics;
            assert!(
                p.skating_m_s.is_finite() && p.penetration_m >= 0.0 && p.jitter_m_s3 > 0.0,
                "{r:?}"
            );
        }
    }
}
