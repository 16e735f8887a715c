//! Parity with the T2M evaluator: `tests/fixtures/t2m-evaluator/make.py` builds its three
//! networks in PyTorch with random weights and the released key names, saves them as
//! `finest.tar` with a GloVe vocabulary and the evaluator's Mean/Std, and records the
//! embeddings of a real clip (whole, and cut to 61 frames) and of four tagged captions (one
//! longer than 20 tokens, words outside the vocabulary).

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::T2mEvaluator;
use super::words::{WordVectors, caption_tokens};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/t2m-evaluator")
}

fn reference(name: &str) -> Vec<f32> {
    let r = candle_core::safetensors::load(fixture().join("reference.safetensors"), &Device::Cpu)
        .unwrap();
    r[name].to_vec1().unwrap()
}

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: width");
    let d = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d < 1e-4, "{what}: embeddings differ by {d}");
}

#[test]
fn t2m_evaluator_embeds_motions_and_texts_as_the_reference() {
    let dev = Device::Cpu;
    let ev = T2mEvaluator::load(&fixture().join("t2m"), &dev).unwrap();
    let glove = WordVectors::load(&fixture().join("glove"), "our_vab").unwrap();
    let clip = crate::motion::Features::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/shared/humanml3d/new_joint_vecs/012314.npy"),
    )
    .unwrap();
    for (i, frames) in [clip.frames(), 61].into_iter().enumerate() {
        let got = ev
            .embed_motion(&clip.as_slice()[..frames * crate::motion::N_FEATURES])
            .unwrap();
        close(
            &got,
            &reference(&format!("motion.{i}")),
            &format!("motion of {frames} frames"),
        );
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("reference.json")).unwrap())
            .unwrap();
    for (i, c) in r["captions"].as_array().unwrap().iter().enumerate() {
        let tokens: Vec<String> = c.as_str().unwrap().split(' ').map(String::from).collect();
        let got = ev.embed_text(&tokens, &glove).unwrap();
        close(
            &got,
            &reference(&format!("text.{i}")),
            &format!("caption {i}"),
        );
    }
}

#[test]
fn caption_tokens_are_cut_and_padded_as_the_dataset_does() {
    let t = |n: usize| (0..n).map(|i| format!("w{i}/NOUN")).collect::<Vec<_>>();
    let (toks, len) = caption_tokens(&t(3));
    assert_eq!((toks.len(), len), (22, 5));
    assert_eq!(toks[0], "sos/OTHER");
    assert_eq!(toks[4], "eos/OTHER");
    assert_eq!(toks[5], "unk/OTHER");
    let (toks, len) = caption_tokens(&t(25));
    assert_eq!((toks.len(), len), (22, 22));
    assert_eq!(toks[20], "w19/NOUN");
    assert_eq!(toks[21], "eos/OTHER");
}

#[test]
fn t2m_evaluator_problems_are_named() {
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().unwrap();
    let e = T2mEvaluator::load(dir.path(), &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("finest.tar"), "{e}");
    let e = WordVectors::load(dir.path(), "our_vab")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("our_vab_data.npy"), "{e}");
    // Word pickles that are not a list and a dict.
    let glove = fixture().join("glove");
    for f in ["our_vab_data.npy", "our_vab_idx.pkl"] {
        std::fs::copy(glove.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::copy(
        glove.join("our_vab_idx.pkl"),
        dir.path().join("our_vab_words.pkl"),
    )
    .unwrap();
    let e = WordVectors::load(dir.path(), "our_vab")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("our_vab_words.pkl") && e.contains("not a list"),
        "{e}"
    );
}

/// Predicted captions are tagged with the references' most frequent tag per word (the reference
/// uses spaCy); unseen words are OTHER.
#[test]
fn predicted_captions_take_the_references_most_frequent_tags() {
    use super::protocol::{Item, lexicon, tag_caption};
    let refs = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let items = vec![Item {
        id: "x".into(),
        motion: vec![],
        references: vec![
            refs("a/DET person/NOUN walk/VERB forward/ADV"),
            refs("a/DET walk/NOUN in/ADP a/DET circle/NOUN"),
            refs("someone/PRON walk/VERB slowly/ADV"),
        ],
    }];
    let lex = lexicon(&items);
    assert_eq!(lex["walk"], "VERB", "2 VERB to 1 NOUN");
    assert_eq!(lex["a"], "DET");
    assert_eq!(
        tag_caption("A person walks, quickly!", &lex),
        vec!["a/DET", "person/NOUN", "walks/OTHER", "quickly/OTHER"]
    );
}

/// T2M's Diversity: mean distance of 300 random pairs; 0 for identical embeddings, the
/// distance itself for two points repeated, and none below 300 embeddings.
#[test]
fn diversity_is_the_mean_distance_of_random_pairs() {
    use super::protocol::{DIVERSITY_TIMES, diversity};
    assert_eq!(
        diversity(&vec![vec![1.0, 2.0]; 400], DIVERSITY_TIMES, 0),
        Some(0.0)
    );
    assert_eq!(diversity(&vec![vec![0.0]; 299], DIVERSITY_TIMES, 0), None);
    // Points at 0 and 3 on a line: each pair is 0 or 3 apart; the mean lies between.
    let pts: Vec<Vec<f32>> = (0..600).map(|i| vec![3.0 * (i % 2) as f32]).collect();
    let d = diversity(&pts, DIVERSITY_TIMES, 7).unwrap();
    assert!(d > 1.0 && d < 2.0, "{d}");
    assert_eq!(diversity(&pts, DIVERSITY_TIMES, 7), Some(d), "seeded");
}
