//! Parity of released tokenizers with their reference architectures: the fixture
//! (`tests/fixtures/released-tokenizers/make.py`) builds GeoMotionGPT's DVQ and T2M-GPT's VQ-VAE
//! in PyTorch with random weights, saves them in the authors' forms, and records the codes and
//! decoded features of a real HumanML3D clip.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::Tokenizer;
use super::released::ReleasedForm;
use crate::motion::Features;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/released-tokenizers")
}

fn humanml3d() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/shared/humanml3d")
}

fn reference(name: &str) -> (Vec<u32>, Vec<f32>) {
    let r = candle_core::safetensors::load(fixture().join("reference.safetensors"), &Device::Cpu)
        .unwrap();
    let codes: Vec<i64> = r[&format!("{name}.codes")].to_vec1().unwrap();
    let feats: Vec<f32> = r[&format!("{name}.features")]
        .flatten_all()
        .and_then(|t: Tensor| t.to_vec1())
        .unwrap();
    (codes.into_iter().map(|c| c as u32).collect(), feats)
}

/// A fixture tokenizer read with the fixture dataset's Mean/Std.
fn open(name: &str) -> Tokenizer {
    Tokenizer::open(&fixture().join(name), Some(&humanml3d()), &Device::Cpu).unwrap()
}

/// Encodes the fixture's clip and decodes the reference's codes with `tok`; checks both against
/// the reference: codes equal, features to 1e-4 relative.
fn check_parity(tok: &Tokenizer, name: &str) {
    let clip = Features::load(&humanml3d().join("new_joint_vecs/012314.npy")).unwrap();
    let (want_codes, want_feats) = reference(name);
    let codes = tok.encode(clip.as_slice()).unwrap();
    assert_eq!(
        codes, want_codes,
        "{name}: codes differ from the reference's"
    );
    let feats = tok.decode(&want_codes).unwrap();
    assert_eq!(feats.len(), want_feats.len(), "{name}: decoded length");
    let worst = feats
        .iter()
        .zip(&want_feats)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-4,
        "{name}: decoded features off by {worst} (relative)"
    );
}

#[test]
fn geomotiongpt_dvq_pt_gives_the_reference_codes_and_features() {
    let tok = open("dvq-gsst.pt");
    let c = &tok.model().config;
    // Sizes from the tensors' shapes (make.py: K 40, D 12, width 24, down_t 2, depth 2).
    assert_eq!(
        (c.nb_code, c.code_dim, c.width, c.down_t, c.depth),
        (40, 12, 24, 2, 2)
    );
    assert_eq!(tok.frames_per_code(), 4);
    assert!(
        tok.describe()
            .starts_with(ReleasedForm::GeoMotionGpt.label())
    );
    check_parity(&tok, "geomotiongpt");
}

#[test]
fn geomotiongpt_hugging_face_export_gives_the_reference_codes_and_features() {
    let tok = open("geomotiongpt-hf");
    check_parity(&tok, "geomotiongpt");
}

#[test]
fn t2m_gpt_vqvae_pth_gives_the_reference_codes_and_features() {
    let tok = open("net_last.pth");
    let c = &tok.model().config;
    assert_eq!(
        (
            c.nb_code,
            c.code_dim,
            c.width,
            c.down_t,
            c.depth,
            c.quantizer
        ),
        (48, 10, 20, 3, 3, super::Quantizer::Nearest)
    );
    assert!(tok.describe().starts_with(ReleasedForm::VqVae.label()));
    check_parity(&tok, "t2m");
}

#[test]
fn released_tokenizer_problems_are_named() {
    let dev = Device::Cpu;
    let pt = fixture().join("dvq-gsst.pt");
    // No Mean/Std: says what to give.
    let e = Tokenizer::open(&pt, None, &dev).err().unwrap().to_string();
    assert!(e.contains("dvq-gsst.pt") && e.contains("--mean-std"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    // Not a checkpoint at all.
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"not a zip").unwrap();
    let e = Tokenizer::open(&junk, Some(&humanml3d()), &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("junk.pt") && e.contains("not a torch checkpoint"),
        "{e}"
    );
    // A state dict with no tokenizer in it, and one with a tensor missing.
    let st = dir.path().join("lm.safetensors");
    let w = Tensor::zeros((4, 263, 3), candle_core::DType::F32, &dev).unwrap();
    candle_core::safetensors::save(
        &[("language_model.wte.weight".to_string(), w.clone())]
            .into_iter()
            .collect(),
        &st,
    )
    .unwrap();
    let e = Tokenizer::open(&st, Some(&humanml3d()), &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no motion tokenizer"), "{e}");
    candle_core::safetensors::save(
        &[("vqvae.encoder.model.0.weight".to_string(), w)]
            .into_iter()
            .collect(),
        &st,
    )
    .unwrap();
    let e = Tokenizer::open(&st, Some(&humanml3d()), &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("missing tensor `quantizer.codebook`"), "{e}");
}
