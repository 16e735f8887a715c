//! A released GeoMotionGPT captioner against the reference: `tests/fixtures/released-captioner/
//! make.py` builds it as `mgpt_lm.py` does (tiny GPT-2 + 43 motion tokens, briefly fine-tuned),
//! saves the Lightning checkpoint and the Hugging Face export, and records transformers' prompt
//! ids, greedy ids and cleaned captions for four code sequences.

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::released::{ReleasedCaptioner, clean_caption};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn check_against_reference(cap: &ReleasedCaptioner) {
    let text =
        std::fs::read_to_string(fixtures().join("released-captioner/reference.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(cap.nb_code() as u64, r["nb_code"].as_u64().unwrap());
    assert_eq!(cap.text_vocab() as u64, r["text_vocab"].as_u64().unwrap());
    for case in r["cases"].as_array().unwrap() {
        let codes = ids(&case["codes"]);
        let got = cap.caption(&codes, &mut |_| true).unwrap();
        assert_eq!(
            got.prompt_ids,
            ids(&case["prompt_ids"]),
            "prompt of {codes:?}"
        );
        assert_eq!(
            got.generated_ids,
            ids(&case["generated_ids"]),
            "greedy ids of {codes:?}"
        );
        assert_eq!(
            got.text,
            case["caption"].as_str().unwrap(),
            "caption of {codes:?}"
        );
    }
}

#[test]
fn lightning_checkpoint_captions_token_identical_to_the_reference() {
    let cap = ReleasedCaptioner::load(
        &fixtures().join("released-captioner/GeoMotionGPT.ckpt"),
        Some(&fixtures().join("gpt2-tiny")),
        &Device::Cpu,
    )
    .unwrap();
    check_against_reference(&cap);
}

#[test]
fn hugging_face_export_captions_token_identical_to_the_reference() {
    let cap = ReleasedCaptioner::load(
        &fixtures().join("released-captioner/hf"),
        Some(&fixtures().join("gpt2-tiny")),
        &Device::Cpu,
    )
    .unwrap();
    check_against_reference(&cap);
}

#[test]
fn released_captioner_problems_are_named() {
    let dev = Device::Cpu;
    let ckpt = fixtures().join("released-captioner/GeoMotionGPT.ckpt");
    // A checkpoint alone has no GPT-2 config or tokenizer.
    let e = ReleasedCaptioner::load(&ckpt, None, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("GeoMotionGPT.ckpt") && e.contains("--lm"), "{e}");
    // A tokenizer file is no captioner.
    let e = ReleasedCaptioner::load(
        &fixtures().join("released-tokenizers/dvq-gsst.pt"),
        Some(&fixtures().join("gpt2-tiny")),
        &dev,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("no GPT-2 language model"), "{e}");
    // Codes past K are refused, not captioned.
    let cap = ReleasedCaptioner::load(&ckpt, Some(&fixtures().join("gpt2-tiny")), &dev).unwrap();
    let e = cap
        .caption(&[3, 40], &mut |_| true)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("code 40"), "{e}");
}

#[test]
fn captions_are_cleaned_as_the_reference_cleans_them() {
    let c = |s: &str| clean_caption(s);
    assert_eq!(
        c("Generate text: <Motion_Placeholder> \n a person walks."),
        "a person walks."
    );
    assert_eq!(c("x \n 120 frames: \"a man runs.\""), "a man runs.");
    assert_eq!(c("x \n 3frame a jump"), "a jump");
    assert_eq!(c("x \n 12 people wave"), "12 people wave");
    assert_eq!(c("no separator <Motion_Placeholder>"), "no separator");
    assert_eq!(c("a \n b \n c"), "b \n c");
}
