//! Backbone checks on the real SmolLM2-135M-Instruct GGUF, resolved by the project's resolver.

use std::path::PathBuf;

use candle_core::{D, Device, IndexOp, Tensor};

use super::gguf::load_gguf;
use super::llama::Llama;
use super::resolve::{SMOLLM2_GGUF, resolve};
use super::tokenizer::tokenizer_from_gguf;

fn text() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/english_text.txt");
    std::fs::read_to_string(p).unwrap()
}

/// Mean next-token negative log-likelihood and the argmax, per position, of `(T, V)` logits.
fn score(logits: &Tensor, ids: &[u32]) -> (f64, Vec<u32>) {
    let lsm = candle_nn::ops::log_softmax(logits, D::Minus1).unwrap();
    let top = logits.argmax(D::Minus1).unwrap().to_vec1::<u32>().unwrap();
    let mut nll = 0.0;
    for i in 0..ids.len() - 1 {
        nll -= lsm
            .i((i, ids[i + 1] as usize))
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
    }
    (nll / (ids.len() - 1) as f64, top)
}

#[test]
fn smollm2_gguf_matches_candle_quantized_llama() {
    let path =
        resolve(&SMOLLM2_GGUF, None).expect("resolving SmolLM2 through the project resolver");
    let dev = Device::Cpu;
    let g = load_gguf(&path, &dev).unwrap();
    assert_eq!(g.config.num_hidden_layers, 30);
    assert_eq!(g.config.hidden_size, 576);
    assert_eq!(
        (g.config.num_attention_heads, g.config.num_key_value_heads),
        (9, 3)
    );
    assert!(g.config.tie_word_embeddings);
    let (tok, special) = tokenizer_from_gguf(&g.content, &path).unwrap();
    assert_eq!((special.bos, special.eos), (1, 2));
    let text = text();
    let enc = tok.encode(text.as_str(), false).unwrap();
    assert_eq!(
        tok.decode(enc.get_ids(), false).unwrap(),
        text,
        "byte-level BPE round trip"
    );
    let ids: Vec<u32> = enc.get_ids()[..200].to_vec();

    let ours = Llama::from_tensors(&g.config, &g.tensors).unwrap();
    let x = Tensor::new(ids.as_slice(), &dev)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let logits = ours.forward(&x, None).unwrap().squeeze(0).unwrap();
    let (nll_ours, top_ours) = score(&logits, &ids);

    // KV-cached decoding gives the same logits as the whole-sequence pass.
    let mut cache = super::KvCache::default();
    let a = ours
        .forward(&x.narrow(1, 0, 150).unwrap(), Some(&mut cache))
        .unwrap();
    let b = ours
        .forward(&x.narrow(1, 150, 50).unwrap(), Some(&mut cache))
        .unwrap();
    let cached = Tensor::cat(&[a, b], 1).unwrap().squeeze(0).unwrap();
    let diff = (cached - &logits)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        diff < 1e-3,
        "cached vs whole-sequence logits differ by {diff}"
    );

    // Reference: candle-transformers' quantized Llama on the same file, one token at a time.
    let mut f = std::fs::File::open(&path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut f).unwrap();
    let mut reference = candle_transformers::models::quantized_llama::ModelWeights::from_gguf(
        content, &mut f, &dev,
    )
    .unwrap();
    let rows: Vec<Tensor> = (0..ids.len())
        .map(|i| {
            let xi = Tensor::new(&ids[i..i + 1], &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            reference.forward(&xi, i).unwrap().squeeze(0).unwrap()
        })
        .collect();
    let ref_logits = Tensor::stack(&rows, 0).unwrap();
    let (nll_ref, top_ref) = score(&ref_logits, &ids);

    let agree = top_ours
        .iter()
        .zip(&top_ref)
        .filter(|(a, b)| a == b)
        .count() as f64
        / ids.len() as f64;
    let (ppl_ours, ppl_ref) = (nll_ours.exp(), nll_ref.exp());
    eprintln!(
        "top-1 agreement {:.1}%, perplexity ours {ppl_ours:.3} vs quantized_llama {ppl_ref:.3}",
        100.0 * agree
    );
    assert!(agree >= 0.95, "top-1 agreement {agree}");
    assert!(
        (ppl_ours / ppl_ref - 1.0).abs() <= 0.03,
        "perplexity {ppl_ours} vs {ppl_ref}"
    );
    // Measured 44.2 (ours) vs 44.7 (quantized_llama) on this text without BOS; a uniform guess
    // over the 49,152-token vocabulary would be 49,152.
    assert!(
        ppl_ours < 80.0,
        "an English text should be well predicted: perplexity {ppl_ours}"
    );
}

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

/// The shipped tokenizer, through the project's models folder.
fn shipped_dvq(dev: &Device) -> crate::dvq::Tokenizer {
    let dir = super::resolve::models_dir().join("dvq");
    crate::dvq::Tokenizer::load(&dir, dev).expect("the shipped DVQ tokenizer in models/dvq")
}

/// A LoRA captioner on SmolLM2 (resolved by the project's resolver) reading the shipped codes.
fn fresh_captioner(dev: &Device) -> (super::Captioner, crate::dvq::Tokenizer) {
    let dvq = shipped_dvq(dev);
    let bb = super::backbone::load_backbone(None, dev).expect("SmolLM2 through the resolver");
    let lora = super::lora::LoraConfig {
        rank: 4,
        alpha: 8.0,
        ..Default::default()
    };
    let cap =
        super::Captioner::new(bb, dvq.model().codebook(), super::FineTune::Lora, &lora, 3).unwrap();
    (cap, dvq)
}

#[test]
fn lora_fine_tuning_trains_motion_rows_not_text_rows_and_lowers_caption_loss() {
    use crate::dvq::optim::{AdamW, GroupHyper};
    use crate::dvq::params::{Group, Params};
    let dev = Device::Cpu;
    let (cap, dvq) = fresh_captioner(&dev);
    let pairs =
        super::data::load_pairs(&demo(), crate::motion::Split::Test, &dvq, &mut |_, _| {}).unwrap();
    assert!(pairs.len() >= 20, "{} pairs", pairs.len());
    // Four fixed real pairs of different clips.
    let mut chosen = Vec::new();
    for p in &pairs {
        if chosen
            .iter()
            .all(|c: &&super::data::CaptionPair| c.id != p.id)
        {
            chosen.push(p);
        }
        if chosen.len() == 4 {
            break;
        }
    }
    let examples: Vec<_> = chosen
        .iter()
        .map(|p| cap.example(&p.codes, &p.caption, 32).unwrap())
        .collect();
    let batch: Vec<_> = examples.iter().collect();

    // The ortho loss is the one of the K code rows of the motion table.
    let k = cap.config.nb_code;
    let direct =
        super::motion_vocab::ortho_loss(&cap.motion_rows().narrow(0, 0, k).unwrap()).unwrap();
    let o = cap.ortho_loss().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(o, direct.to_scalar::<f32>().unwrap());
    assert_eq!(cap.motion_rows().dims(), &[k + 3, 576]);

    let text_before = cap
        .text_embedding()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let rows_before = cap
        .motion_rows()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mut params = Params::new();
    for (name, var) in cap.trainable() {
        let g = if name == "motion_rows" {
            Group::Codebook
        } else {
            Group::Weight
        };
        params.push_var(&name, g, var);
    }
    let mut opt = AdamW::new(&params).unwrap();
    let (first, n) = cap.caption_loss(&batch).unwrap();
    assert!(n > 10);
    let first = first.to_scalar::<f32>().unwrap();
    let mut last = first;
    for _ in 0..8 {
        let (ce, _) = cap.caption_loss(&batch).unwrap();
        let loss = (&ce + (cap.ortho_loss().unwrap() * 1e-2).unwrap()).unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads, |_| GroupHyper {
            lr: 2e-3,
            weight_decay: 0.0,
        })
        .unwrap();
        last = ce.to_scalar::<f32>().unwrap();
    }
    let (after, _) = cap.caption_loss(&batch).unwrap();
    let after = after.to_scalar::<f32>().unwrap();
    eprintln!("caption loss {first:.3} → {after:.3} (last step {last:.3})");
    assert!(after < 0.7 * first, "caption loss {first} → {after}");
    let text_after = cap
        .text_embedding()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let rows_after = cap
        .motion_rows()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(text_before, text_after, "text rows are frozen in LoRA mode");
    let moved = rows_before
        .iter()
        .zip(&rows_after)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        moved > rows_before.len() / 100,
        "motion rows changed: {moved} entries"
    );

    // Decoding always terminates within its budget, and streams what it returns.
    let mut streamed = String::new();
    let caption = cap
        .generate(&chosen[0].codes, 12, &mut |s| {
            streamed = s.to_string();
            true
        })
        .unwrap();
    assert_eq!(caption, streamed);
    let n_tokens = cap
        .example(&[], &caption, 100)
        .map(|e| e.caption.len())
        .unwrap_or(0);
    assert!(
        n_tokens <= 13,
        "{n_tokens} tokens from a budget of 12: `{caption}`"
    );
}

#[test]
fn motion_rows_start_as_the_projected_codebook_at_text_norm() {
    let dev = Device::Cpu;
    let (cap, dvq) = fresh_captioner(&dev);
    let k = cap.config.nb_code;
    let text_norm = cap
        .text_embedding()
        .sqr()
        .unwrap()
        .sum_keepdim(1)
        .unwrap()
        .sqrt()
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let rows = cap.motion_rows().narrow(0, 0, k).unwrap();
    let norms = rows
        .sqr()
        .unwrap()
        .sum_keepdim(1)
        .unwrap()
        .sqrt()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(
        norms.iter().all(|n| (n / text_norm - 1.0).abs() < 1e-4),
        "row norms {:?} vs {text_norm}",
        &norms[..4]
    );
    // Cosines between codes survive the projection approximately (sparse JL).
    let g_code = super::motion_vocab::gram(dvq.model().codebook())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let g_rows = super::motion_vocab::gram(&rows)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mad = g_code
        .iter()
        .zip(&g_rows)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / g_code.len() as f32;
    eprintln!("mean |Δcos| codebook → motion rows: {mad:.4}");
    assert!(mad < 0.1, "mean |Δcos| {mad}");
}

/// A Hugging Face-layout folder (config.json, bf16 model.safetensors, tokenizer.json) written
/// from the real SmolLM2 weights loads through `load_backbone` and predicts as the GGUF does;
/// a GPT-2 config is refused with a clear message.
#[test]
fn hf_safetensors_llama_backbone_matches_the_gguf() {
    let dev = Device::Cpu;
    let gguf = super::backbone::load_backbone(None, &dev).expect("SmolLM2 through the resolver");
    let dir = tempfile::tempdir().unwrap();
    let c = &gguf.config;
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": c.vocab_size,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads,
        "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta,
        "max_position_embeddings": c.max_position_embeddings,
        "tie_word_embeddings": c.tie_word_embeddings,
        "bos_token_id": gguf.special.bos,
        "eos_token_id": [gguf.special.eos],
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let bf16: std::collections::HashMap<String, Tensor> = gguf
        .tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.to_dtype(candle_core::DType::BF16).unwrap()))
        .collect();
    candle_core::safetensors::save(&bf16, dir.path().join("model.safetensors")).unwrap();
    drop(bf16);
    gguf.tokenizer
        .save(dir.path().join("tokenizer.json"), false)
        .unwrap();

    let hf = super::backbone::load_backbone(Some(dir.path()), &dev).expect("the HF folder");
    assert_eq!(hf.config, gguf.config);
    assert_eq!(hf.special, gguf.special);
    let text = text();
    let ids: Vec<u32> = gguf
        .tokenizer
        .encode(text.as_str(), false)
        .unwrap()
        .get_ids()[..200]
        .to_vec();
    let hf_ids = hf.tokenizer.encode(text.as_str(), false).unwrap();
    assert_eq!(&hf_ids.get_ids()[..200], ids.as_slice(), "same tokenizer");
    let x = Tensor::new(ids.as_slice(), &dev)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let run = |b: &super::captioner::Backbone| {
        let m = Llama::from_tensors(&b.config, &b.tensors).unwrap();
        score(&m.forward(&x, None).unwrap().squeeze(0).unwrap(), &ids)
    };
    let (nll_g, top_g) = run(&gguf);
    let (nll_h, top_h) = run(&hf);
    let agree =
        top_g.iter().zip(&top_h).filter(|(a, b)| a == b).count() as f64 / top_g.len() as f64;
    let (ppl_g, ppl_h) = (nll_g.exp(), nll_h.exp());
    eprintln!(
        "HF bf16 folder vs GGUF: top-1 agreement {agree:.3}, perplexity {ppl_h:.2} vs {ppl_g:.2}"
    );
    assert!(agree >= 0.95, "top-1 agreement {agree}");
    assert!(
        (ppl_h / ppl_g - 1.0).abs() < 0.03,
        "perplexity {ppl_h} vs {ppl_g}"
    );

    let gpt2 = tempfile::tempdir().unwrap();
    std::fs::write(
        gpt2.path().join("config.json"),
        r#"{"model_type": "gpt2", "vocab_size": 50257, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12}"#,
    )
    .unwrap();
    let e = super::backbone::load_backbone(Some(gpt2.path()), &dev)
        .err()
        .expect("GPT-2 is refused")
        .to_string();
    assert!(e.contains("model_type `gpt2`"), "{e}");
}
