//! Fuzzing the model-file readers: safetensors and GGUF headers, and the `config.json` of the
//! DVQ tokenizer, the captioner, the retrieval evaluator and Hugging Face backbones. A model
//! that loads is also built and run on two tokens (decoders) so a config that passes the
//! checks but breaks the forward pass is caught too.

use std::path::Path;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};

use super::mutate::Mutator;
use super::{Campaign, SEED, message, repo};
use crate::dvq::checkpoint::read_config;
use crate::eval::retrieval::evaluator::Evaluator;
use crate::lm::Llama;
use crate::lm::gguf::load_gguf;
use crate::lm::hf::load_hf;
use crate::lm::tokenizer::tokenizer_from_gguf;
use crate::lm::train::read_checkpoint_config;

const SAFETENSORS_CASES: usize = 1500;
const GGUF_CASES: usize = 2000;
const DVQ_CONFIG_CASES: usize = 600;
const CAPTIONER_CONFIG_CASES: usize = 2000;
const HF_CONFIG_CASES: usize = 1500;
const RETRIEVAL_CONFIG_CASES: usize = 600;

/// Builds a decoder from loaded weights and runs it on two tokens: it must not panic, and it
/// must build (the loader checked the weights); the forward pass may refuse.
fn build_and_run(
    config: &crate::lm::LlamaConfig,
    tensors: &std::collections::HashMap<String, Tensor>,
) -> Result<(), String> {
    let model = Llama::from_tensors(config, tensors)
        .map_err(|e| format!("BUG: the loader accepted weights the decoder refuses: {e}"))?;
    let last = config.vocab_size.saturating_sub(1) as u32;
    let ids = Tensor::new(&[[0u32, last.min(1)]], &Device::Cpu).unwrap();
    let _ = model.forward(&ids, None);
    Ok(())
}

/// Copies the files of `from` into a new folder `dir/name`.
fn copy_dir(from: &Path, dir: &Path, name: &str) -> std::path::PathBuf {
    let to = dir.join(name);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    to
}

#[test]
fn fuzz_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let hf = copy_dir(&repo("tests/fixtures/gpt2-tiny"), dir.path(), "fuzz-hf");
    for extra in ["reference.safetensors", "reference.json", "make.py"] {
        std::fs::remove_file(hf.join(extra)).unwrap();
    }
    let path = hf.join("model.safetensors");
    let seed = std::fs::read(&path).unwrap();
    let header_end = 8 + u64::from_le_bytes(seed[..8].try_into().unwrap()) as usize;
    let case = || {
        let (config, tensors, _, _) = message(load_hf(&hf, &Device::Cpu))?;
        build_and_run(&config, &tensors)
    };
    let mut c = Campaign::new("safetensors");
    let mut m = Mutator::new(SEED ^ 11);
    for i in 0..SAFETENSORS_CASES {
        // Mostly the 8-byte length and the JSON header; sometimes anywhere.
        let (data, what) = if i % 8 == 7 {
            m.mutate(&seed)
        } else {
            m.mutate_within(&seed, 0..header_end)
        };
        std::fs::write(&path, &data).unwrap();
        c.run(
            &format!("gpt2-tiny model.safetensors: {what}"),
            &["fuzz-hf"],
            case,
        );
    }
    let with_len = |len: u64| {
        let mut d = seed.clone();
        d[..8].copy_from_slice(&len.to_le_bytes());
        d
    };
    let specials = [
        ("header length 2^64 - 1", with_len(u64::MAX)),
        ("header length 2^40", with_len(1 << 40)),
        ("header length 0", with_len(0)),
        ("7 bytes", seed[..7].to_vec()),
    ];
    for (what, data) in &specials {
        std::fs::write(&path, data).unwrap();
        c.run(what, &["fuzz-hf"], case);
    }
    c.finish();
}

/// A tiny Llama GGUF: byte-level BPE metadata (4 tokens, 1 merge), d_model 8, 2 heads, 1 KV
/// head, MLP 16, one block, explicit `general.alignment` 32.
pub(super) fn tiny_gguf() -> Vec<u8> {
    use gguf_file::Value;
    let s = |v: &str| Value::String(v.to_string());
    let tokens = ["a", "b", "ab", "<|endoftext|>"];
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", s("llama")),
        ("general.alignment", Value::U32(32)),
        ("llama.attention.head_count", Value::U32(2)),
        ("llama.attention.head_count_kv", Value::U32(1)),
        ("llama.embedding_length", Value::U32(8)),
        ("llama.block_count", Value::U32(1)),
        ("llama.context_length", Value::U32(32)),
        ("llama.rope.freq_base", Value::F32(10_000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", s("gpt2")),
        ("tokenizer.ggml.pre", s("smollm")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| s(t)).collect()),
        ),
        ("tokenizer.ggml.merges", Value::Array(vec![s("a b")])),
        (
            "tokenizer.ggml.token_type",
            Value::Array([1, 1, 1, 3].map(Value::I32).to_vec()),
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(3)),
        ("tokenizer.ggml.eos_token_id", Value::U32(3)),
    ];
    let dev = Device::Cpu;
    let t = |shape: &[usize], k: usize| {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 7 + k) % 13) as f32 / 13.0 - 0.5)
            .collect();
        QTensor::quantize(&Tensor::from_vec(v, shape, &dev).unwrap(), GgmlDType::F32).unwrap()
    };
    let tensors = [
        ("token_embd.weight", t(&[4, 8], 1)),
        ("output_norm.weight", t(&[8], 2)),
        ("blk.0.attn_q.weight", t(&[8, 8], 3)),
        ("blk.0.attn_k.weight", t(&[4, 8], 4)),
        ("blk.0.attn_v.weight", t(&[4, 8], 5)),
        ("blk.0.attn_output.weight", t(&[8, 8], 6)),
        ("blk.0.attn_norm.weight", t(&[8], 7)),
        ("blk.0.ffn_norm.weight", t(&[8], 8)),
        ("blk.0.ffn_gate.weight", t(&[16, 8], 9)),
        ("blk.0.ffn_up.weight", t(&[16, 8], 10)),
        ("blk.0.ffn_down.weight", t(&[8, 16], 11)),
    ];
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (*k, v)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md, &ts).unwrap();
    out.into_inner()
}

#[test]
fn fuzz_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.gguf");
    let seed = tiny_gguf();
    let case = || {
        let g = message(load_gguf(&path, &Device::Cpu))?;
        message(tokenizer_from_gguf(&g.content, &path))?;
        build_and_run(&g.config, &g.tensors)
    };
    // The unmutated seed must load: the fuzzer's cases are then about the mutations.
    std::fs::write(&path, &seed).unwrap();
    case().unwrap();
    let mut c = Campaign::new("GGUF");
    let mut m = Mutator::new(SEED ^ 12);
    for _ in 0..GGUF_CASES {
        let (data, what) = m.mutate(&seed);
        std::fs::write(&path, &data).unwrap();
        c.run(&format!("tiny GGUF: {what}"), &["fuzz.gguf"], case);
    }
    // Hand-made: values the header holds as binary numbers, set to absurd ones.
    let find = |needle: &[u8]| {
        seed.windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
            + needle.len()
    };
    let set_u32 = |key: &str, v: u32| {
        let at = find(key.as_bytes()) + 4; // the value type, then the value
        let mut d = seed.clone();
        d[at..at + 4].copy_from_slice(&v.to_le_bytes());
        d
    };
    let mut specials = vec![
        (
            "general.alignment 0".to_string(),
            set_u32("general.alignment", 0),
        ),
        (
            "head_count 0".into(),
            set_u32("llama.attention.head_count", 0),
        ),
        (
            "head_count_kv 0".into(),
            set_u32("llama.attention.head_count_kv", 0),
        ),
        (
            "head_count_kv 3".into(),
            set_u32("llama.attention.head_count_kv", 3),
        ),
        (
            "block_count 2^32 - 1".into(),
            set_u32("llama.block_count", u32::MAX),
        ),
        (
            "embedding_length 0".into(),
            set_u32("llama.embedding_length", 0),
        ),
        (
            "bos id 10^9".into(),
            set_u32("tokenizer.ggml.bos_token_id", 1_000_000_000),
        ),
    ];
    // token_embd's first dimension (u64, after name, n_dims) set to 2^40: 2^43 elements.
    let at = find(b"token_embd.weight") + 4;
    let mut huge = seed.clone();
    huge[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    huge[at + 8..at + 16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    specials.push(("token_embd of 2^40 × 2^40".into(), huge));
    // Five token types for four tokens (once an index out of bounds).
    let types_at = find(b"tokenizer.ggml.token_type") + 8; // value type, element type
    let mut types = seed.clone();
    types[types_at..types_at + 8].copy_from_slice(&5u64.to_le_bytes());
    specials.push(("5 token types for 4 tokens".into(), types));
    for (what, data) in &specials {
        std::fs::write(&path, data).unwrap();
        c.run(what, &["fuzz.gguf"], case);
    }
    c.finish();
}

#[test]
fn fuzz_dvq_config() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = copy_dir(&repo("models/dvq"), dir.path(), "fuzz-dvq");
    let path = ckpt.join("config.json");
    let seed = std::fs::read(&path).unwrap();
    let original = read_config(&ckpt).unwrap().model;
    // The config alone; then, when the model part changed, the tokenizer with the real weights.
    let case = || {
        let cfg = message(read_config(&ckpt))?;
        if cfg.model != original {
            message(crate::dvq::Tokenizer::load(&ckpt, &Device::Cpu))?;
        }
        Ok(())
    };
    let mut c = Campaign::new("DVQ config.json");
    let mut m = Mutator::new(SEED ^ 13);
    for _ in 0..DVQ_CONFIG_CASES {
        let (data, what) = m.mutate(&seed);
        std::fs::write(&path, &data).unwrap();
        c.run(
            &format!("models/dvq/config.json: {what}"),
            &["fuzz-dvq"],
            case,
        );
    }
    let text = String::from_utf8(seed).unwrap();
    for (what, from, to) in [
        ("width 2^40", "\"width\": 128", "\"width\": 1099511627776"),
        ("down_t 64", "\"down_t\": 3", "\"down_t\": 64"),
        ("depth 1000", "\"depth\": 3", "\"depth\": 1000"),
        (
            "dilation_growth_rate 2^32",
            "\"dilation_growth_rate\": 3",
            "\"dilation_growth_rate\": 4294967296",
        ),
        ("nb_code 1", "\"nb_code\": 256", "\"nb_code\": 1"),
    ] {
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        c.run(what, &["fuzz-dvq"], case);
    }
    c.finish();
}

#[test]
fn fuzz_captioner_config() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("fuzz-lm");
    std::fs::create_dir_all(&ckpt).unwrap();
    let path = ckpt.join("config.json");
    let seed = std::fs::read(repo("models/lm/config.json")).unwrap();
    std::fs::write(&path, &seed).unwrap();
    read_checkpoint_config(&ckpt).unwrap();
    let case = || message(read_checkpoint_config(&ckpt)).map(|_| ());
    let mut c = Campaign::new("captioner config.json");
    let mut m = Mutator::new(SEED ^ 14);
    for _ in 0..CAPTIONER_CONFIG_CASES {
        let (data, what) = m.mutate(&seed);
        std::fs::write(&path, &data).unwrap();
        c.run(
            &format!("models/lm/config.json: {what}"),
            &["fuzz-lm"],
            case,
        );
    }
    c.finish();
}

/// gpt2-tiny's `config.json` and a Llama one (SmolLM2's sizes), each loaded with gpt2-tiny's
/// weights and tokenizer (the Llama one fails on the weights, after its config is checked).
#[test]
fn fuzz_hf_config() {
    let dir = tempfile::tempdir().unwrap();
    let hf = copy_dir(&repo("tests/fixtures/gpt2-tiny"), dir.path(), "fuzz-hf");
    let path = hf.join("config.json");
    let gpt2 = std::fs::read(&path).unwrap();
    let llama = br#"{
  "architectures": ["LlamaForCausalLM"],
  "model_type": "llama",
  "vocab_size": 49152,
  "hidden_size": 576,
  "intermediate_size": 1536,
  "num_hidden_layers": 30,
  "num_attention_heads": 9,
  "num_key_value_heads": 3,
  "head_dim": 64,
  "rms_norm_eps": 1e-05,
  "rope_theta": 100000,
  "max_position_embeddings": 8192,
  "tie_word_embeddings": true,
  "bos_token_id": 1,
  "eos_token_id": [2, 0]
}
"#
    .to_vec();
    let case = || {
        let (config, tensors, _, _) = message(load_hf(&hf, &Device::Cpu))?;
        build_and_run(&config, &tensors)
    };
    let mut c = Campaign::new("HF config.json");
    let mut m = Mutator::new(SEED ^ 15);
    let seeds = [
        ("gpt2-tiny", gpt2.clone()),
        ("llama (SmolLM2 sizes)", llama),
    ];
    for i in 0..HF_CONFIG_CASES {
        let (label, bytes) = &seeds[i % 2];
        let (data, what) = m.mutate(bytes);
        std::fs::write(&path, &data).unwrap();
        c.run(&format!("{label} config.json: {what}"), &["fuzz-hf"], case);
    }
    let text = String::from_utf8(gpt2).unwrap();
    for (what, from, to) in [
        ("n_head 0", "\"n_head\": 4", "\"n_head\": 0"),
        ("n_head 3", "\"n_head\": 4", "\"n_head\": 3"),
        (
            "n_embd 2^62",
            "\"n_embd\": 64",
            "\"n_embd\": 4611686018427387904",
        ),
        (
            "n_layer 2^40",
            "\"n_layer\": 2",
            "\"n_layer\": 1099511627776",
        ),
        (
            "n_positions 0",
            "\"n_positions\": 128",
            "\"n_positions\": 0",
        ),
        (
            "bos 2^32",
            "\"bos_token_id\": 0",
            "\"bos_token_id\": 4294967296",
        ),
        ("eos 400", "\"eos_token_id\": 0", "\"eos_token_id\": 400"),
        ("layer_norm_epsilon -1", "1e-05", "-1"),
    ] {
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        c.run(what, &["fuzz-hf"], case);
    }
    c.finish();
}

#[test]
fn fuzz_retrieval_config() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = copy_dir(&repo("models/eval"), dir.path(), "fuzz-eval");
    let path = ckpt.join("config.json");
    let seed = std::fs::read(&path).unwrap();
    let case = || message(Evaluator::load_model(&ckpt, &Device::Cpu)).map(|_| ());
    case().unwrap();
    let mut c = Campaign::new("retrieval config.json");
    let mut m = Mutator::new(SEED ^ 16);
    for _ in 0..RETRIEVAL_CONFIG_CASES {
        let (data, what) = m.mutate(&seed);
        std::fs::write(&path, &data).unwrap();
        c.run(
            &format!("models/eval/config.json: {what}"),
            &["fuzz-eval"],
            case,
        );
    }
    c.finish();
}
