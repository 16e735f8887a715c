use std::path::PathBuf;

use candle_core::Device;

use super::*;
use crate::eval::minilm::MiniLm;
use crate::motion::{Dataset, Split};

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Mean cosine of each clip's motion with its own caption minus the mean with other clips'
/// captions of a different text.
fn matched_margin(motion: &[Vec<f32>], text: &[Vec<f32>], captions: &[&String]) -> f32 {
    let (mut own, mut other, mut n_other) = (0.0, 0.0, 0usize);
    for i in 0..motion.len() {
        own += cosine(&motion[i], &text[i]);
        for j in 0..text.len() {
            if captions[j] != captions[i] {
                other += cosine(&motion[i], &text[j]);
                n_other += 1;
            }
        }
    }
    own / motion.len() as f32 - other / n_other.max(1) as f32
}

#[test]
fn contrastive_training_on_real_clips_lowers_the_loss() {
    let clips = load_captioned(&demo(), Split::Test, 16).unwrap();
    assert!(
        clips.len() >= 20,
        "{} whole takes in the demo sample",
        clips.len()
    );
    let normalizer = Dataset::open(&demo()).unwrap().normalizer().unwrap();
    let minilm = MiniLm::load(None, &Device::Cpu).expect("MiniLM through the resolver");
    let sentences = sentence_embeddings(
        &minilm,
        clips.iter().flat_map(|c| c.captions.iter().map(|(t, _)| t)),
        &mut |_, _| {},
    )
    .unwrap();
    let cfg = RetrievalTrainConfig {
        steps: 60,
        batch: 16,
        max_frames: 64,
        lr: 1e-3,
        warmup_frac: 0.0,
        ..Default::default()
    };
    let model = RetrievalModel::new(
        RetrievalConfig {
            width: 32,
            embed_dim: 32,
            seed: 7,
        },
        &Device::Cpu,
    )
    .unwrap();
    let log = train_retrieval(
        &model,
        &clips,
        &normalizer,
        &sentences,
        &cfg,
        &mut |_, _, _| true,
    )
    .unwrap();
    assert_eq!(log.len(), 60);
    let mean = |s: &[(usize, f64)]| s.iter().map(|(_, l)| l).sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&log[..10]), mean(&log[50..]));
    eprintln!("InfoNCE: first 10 steps {first:.3}, last 10 {last:.3}");
    assert!(last < first - 0.3, "loss {first:.3} → {last:.3}");
}

#[test]
fn shipped_evaluator_matches_held_out_motion_with_its_own_caption() {
    let dir = crate::lm::resolve::models_dir().join("eval");
    let ev = Evaluator::load(&dir, &Device::Cpu).expect("the shipped evaluator in models/eval");
    let clips = load_captioned(&demo(), Split::Test, 16).unwrap();
    let motion: Vec<Vec<f32>> = clips
        .iter()
        .map(|c| ev.embed_motion(&c.features).unwrap())
        .collect();
    let captions: Vec<&String> = clips.iter().map(|c| &c.captions[0].0).collect();
    let owned: Vec<String> = captions.iter().map(|s| (*s).clone()).collect();
    let text = ev.embed_texts(&owned).unwrap();
    for e in motion.iter().chain(&text) {
        let n: f32 = e.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4, "embeddings are unit vectors");
    }
    let margin = matched_margin(&motion, &text, &captions);
    eprintln!("held-out demo clips: matched − unmatched cosine = {margin:.3}");
    assert!(margin > 0.1, "margin {margin:.3}");
}
