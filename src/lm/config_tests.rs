//! Decoder configs that make no decoder are errors naming the file, the field and its value, in
//! every place a config is read: Hugging Face `config.json` (Llama and GPT-2), GGUF metadata,
//! and [`Llama::from_tensors`] (tensor shapes against the config). No case panics.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use serde_json::json;

use super::config::{Arch, LlamaConfig};
use super::gguf::load_gguf;
use super::hf::load_hf;
use super::llama::{Llama, linear};

/// A valid Llama `config.json` (64 wide, 4 heads of 16, 2 KV heads), changed by `edit`.
fn llama_json(edit: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let mut v = json!({
        "model_type": "llama", "vocab_size": 50, "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
        "bos_token_id": 1, "eos_token_id": 2
    });
    edit(&mut v);
    v
}

/// `load_hf`'s error on a folder holding only `config` as `config.json`.
fn hf_error(config: serde_json::Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let e = match load_hf(dir.path(), &Device::Cpu) {
        Ok(_) => panic!("a folder with no weights loaded"),
        Err(e) => e.to_string(),
    };
    let prefix = path.display().to_string();
    if e.contains("no .safetensors") {
        return "valid".into();
    }
    assert!(e.starts_with(&prefix), "the error names {prefix}: {e}");
    e[prefix.len() + 2..].to_string()
}

/// What is changed, the change, the error expected.
type Case = (&'static str, fn(&mut serde_json::Value), &'static str);

#[test]
fn hf_llama_configs_that_make_no_decoder_name_the_field_and_value() {
    let cases: [Case; 8] = [
        (
            "zero heads",
            |v| v["num_attention_heads"] = json!(0),
            "num_attention_heads = 0: must be at least 1",
        ),
        (
            "zero kv heads",
            |v| v["num_key_value_heads"] = json!(0),
            "num_key_value_heads = 0: must be at least 1",
        ),
        (
            "kv heads not dividing heads",
            |v| {
                v["num_attention_heads"] = json!(8);
                v["num_key_value_heads"] = json!(3);
            },
            "num_key_value_heads = 3: does not divide the 8 attention heads",
        ),
        (
            "heads not dividing the width",
            |v| v["num_attention_heads"] = json!(6),
            "num_attention_heads = 6: does not divide the model width 64",
        ),
        (
            "odd head width",
            |v| {
                v["hidden_size"] = json!(12);
                v["num_key_value_heads"] = json!(4);
            },
            "num_attention_heads = 4: gives an odd head width 12/4 = 3; RoPE needs an even one",
        ),
        (
            "zero vocabulary",
            |v| v["vocab_size"] = json!(0),
            "vocab_size = 0: must be at least 1",
        ),
        (
            "a vocabulary past MAX_VOCAB",
            |v| v["vocab_size"] = json!(1u64 << 60),
            "vocab_size = 1152921504606846976: must be at most 16777216",
        ),
        (
            "negative ε",
            |v| v["rms_norm_eps"] = json!(-1.0),
            "rms_norm_eps = -1: must be finite and positive",
        ),
    ];
    for (what, edit, want) in cases {
        assert_eq!(hf_error(llama_json(edit)), want, "{what}");
    }
    assert_eq!(hf_error(llama_json(|_| {})), "valid");
}

#[test]
fn an_hf_head_dim_that_disagrees_with_the_width_is_an_error_and_an_agreeing_one_is_fine() {
    assert_eq!(
        hf_error(llama_json(|v| v["head_dim"] = json!(32))),
        "head_dim = 32: differs from hidden_size / num_attention_heads = 64 / 4 = 16; a head \
         width decoupled from the model width is not supported"
    );
    assert_eq!(hf_error(llama_json(|v| v["head_dim"] = json!(16))), "valid");
}

#[test]
fn gpt2_configs_name_gpt2_fields() {
    let gpt2 = |edit: fn(&mut serde_json::Value)| {
        let mut v = json!({
            "model_type": "gpt2", "vocab_size": 50, "n_embd": 64, "n_layer": 1, "n_head": 4,
            "bos_token_id": 0, "eos_token_id": 0
        });
        edit(&mut v);
        hf_error(v)
    };
    assert_eq!(gpt2(|_| {}), "valid");
    assert_eq!(
        gpt2(|v| v["n_head"] = json!(0)),
        "n_head = 0: must be at least 1"
    );
    assert_eq!(
        gpt2(|v| v["n_head"] = json!(5)),
        "n_head = 5: does not divide the model width 64"
    );
    // 4 · n_embd would wrap.
    assert_eq!(
        gpt2(|v| v["n_embd"] = json!(u64::MAX / 2)),
        format!("n_embd = {}: too large", u64::MAX / 2)
    );
    assert_eq!(
        gpt2(|v| v["n_positions"] = json!(0)),
        "n_positions = 0: must be at least 1"
    );
}

/// Writes a GGUF with Llama metadata (64 wide, `heads`/`kv` heads) plus `extra`, and the two
/// tensors whose shapes carry sizes (vocabulary 50, MLP width 96).
fn gguf(dir: &Path, heads: u32, kv: u32, extra: &[(&str, u32)]) -> std::path::PathBuf {
    use gguf_file::Value;
    let path = dir.join("model.gguf");
    let mut md: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("llama.attention.head_count".into(), Value::U32(heads)),
        ("llama.attention.head_count_kv".into(), Value::U32(kv)),
        ("llama.embedding_length".into(), Value::U32(64)),
        ("llama.block_count".into(), Value::U32(1)),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-5),
        ),
    ];
    md.extend(extra.iter().map(|(k, v)| (k.to_string(), Value::U32(*v))));
    let q = |rows: usize| {
        QTensor::quantize(
            &Tensor::zeros((rows, 64), candle_core::DType::F32, &Device::Cpu).unwrap(),
            GgmlDType::F32,
        )
        .unwrap()
    };
    let (embd, gate) = (q(50), q(96));
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(&path).unwrap();
    gguf_file::write(
        &mut f,
        &md_refs,
        &[
            ("token_embd.weight", &embd),
            ("blk.0.ffn_gate.weight", &gate),
        ],
    )
    .unwrap();
    path
}

fn gguf_error(heads: u32, kv: u32, extra: &[(&str, u32)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = gguf(dir.path(), heads, kv, extra);
    let e = match load_gguf(&path, &Device::Cpu) {
        Ok(_) => panic!("a GGUF without block weights loaded"),
        Err(e) => e.to_string(),
    };
    let prefix = format!("{}: ", path.display());
    assert!(e.starts_with(&prefix), "the error names the file: {e}");
    let e = e[prefix.len()..].to_string();
    if e.starts_with("tensor `output_norm.weight`") {
        return "valid".into();
    }
    e
}

#[test]
fn gguf_metadata_that_makes_no_decoder_names_the_key_and_value() {
    assert_eq!(gguf_error(4, 2, &[]), "valid");
    assert_eq!(
        gguf_error(0, 0, &[]),
        "llama.attention.head_count = 0: must be at least 1"
    );
    assert_eq!(
        gguf_error(4, 0, &[]),
        "llama.attention.head_count_kv = 0: must be at least 1"
    );
    assert_eq!(
        gguf_error(8, 3, &[]),
        "llama.attention.head_count_kv = 3: does not divide the 8 attention heads"
    );
    assert_eq!(
        gguf_error(4, 2, &[("llama.attention.key_length", 32)]),
        "llama.attention.key_length = 32: differs from embedding_length / head_count = 64 / 4 = \
         16; a head width decoupled from the model width is not supported"
    );
    assert_eq!(
        gguf_error(4, 2, &[("llama.attention.key_length", 16)]),
        "valid"
    );
}

/// A valid one-block Llama config, 16 wide, 2 heads of 8, 1 KV head.
fn tiny() -> LlamaConfig {
    LlamaConfig {
        arch: Arch::Llama,
        vocab_size: 10,
        hidden_size: 16,
        intermediate_size: 24,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_position_embeddings: 32,
        tie_word_embeddings: true,
    }
}

fn tiny_tensors(c: &LlamaConfig) -> HashMap<String, Tensor> {
    let (d, ff, hd) = (c.hidden_size, c.intermediate_size, c.head_dim());
    let z = |s: &[usize]| Tensor::zeros(s, candle_core::DType::F32, &Device::Cpu).unwrap();
    let p = "model.layers.0";
    [
        (
            "model.embed_tokens.weight".to_string(),
            z(&[c.vocab_size, d]),
        ),
        ("model.norm.weight".into(), z(&[d])),
        (format!("{p}.input_layernorm.weight"), z(&[d])),
        (format!("{p}.post_attention_layernorm.weight"), z(&[d])),
        (format!("{p}.self_attn.q_proj.weight"), z(&[2 * hd, d])),
        (format!("{p}.self_attn.k_proj.weight"), z(&[hd, d])),
        (format!("{p}.self_attn.v_proj.weight"), z(&[hd, d])),
        (format!("{p}.self_attn.o_proj.weight"), z(&[d, 2 * hd])),
        (format!("{p}.mlp.gate_proj.weight"), z(&[ff, d])),
        (format!("{p}.mlp.up_proj.weight"), z(&[ff, d])),
        (format!("{p}.mlp.down_proj.weight"), z(&[d, ff])),
    ]
    .into_iter()
    .collect()
}

#[test]
fn from_tensors_checks_the_config_and_every_weight_shape() {
    let c = tiny();
    let mut t = tiny_tensors(&c);
    assert!(Llama::from_tensors(&c, &t).is_ok());
    let bad = LlamaConfig {
        num_key_value_heads: 3,
        ..tiny()
    };
    let e = Llama::from_tensors(&bad, &t).err().unwrap().to_string();
    assert_eq!(
        e,
        "decoder config: num_key_value_heads = 3: does not divide the 2 attention heads"
    );
    // A k projection as wide as q: the engine would read keys past the cache's rows.
    t.insert(
        "model.layers.0.self_attn.k_proj.weight".into(),
        Tensor::zeros((16, 16), candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let e = Llama::from_tensors(&c, &t).err().unwrap().to_string();
    assert_eq!(
        e,
        "weight `model.layers.0.self_attn.k_proj.weight` is [16, 16], the config makes it [8, 16]"
    );
}

#[test]
fn a_linear_layer_on_a_scalar_is_an_error() {
    let w = Tensor::zeros((3, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
    let x = Tensor::new(1f32, &Device::Cpu).unwrap();
    let e = linear(&x, &w).unwrap_err().to_string();
    assert!(e.contains("rank ≥ 1, got a scalar"), "{e}");
    let y = linear(
        &Tensor::ones(4, candle_core::DType::F32, &Device::Cpu).unwrap(),
        &w,
    )
    .unwrap();
    assert_eq!(y.dims(), [3]);
}

#[test]
fn the_engine_refuses_inputs_that_do_not_fit_instead_of_panicking() {
    use super::infer::{DecodeWeights, Engine};
    let c = tiny();
    let llama = Llama::from_tensors(&c, &tiny_tensors(&c)).unwrap();
    let mut engine = Engine::new(&llama, DecodeWeights::F32).unwrap();
    let e = engine.forward(&[], 0).err().unwrap().to_string();
    assert!(
        e.contains("t ≥ 1 input rows of width 16; got 0 values for t = 0"),
        "{e}"
    );
    let e = engine.forward(&[0.0; 15], 1).err().unwrap().to_string();
    assert!(e.contains("got 15 values for t = 1"), "{e}");
    // t · d would wrap: refused before any buffer is sized.
    assert!(engine.forward(&[0.0; 16], usize::MAX / 8).is_err());
    assert_eq!(engine.len(), 0, "a refused call leaves the cache alone");
    assert_eq!(engine.forward(&[0.0; 32], 2).unwrap().len(), c.vocab_size);
    assert_eq!(engine.len(), 2);
}

/// A draft checked in one pass ([`super::infer::Engine::forward_all`]) gives the logits of
/// decoding it token by token, and dropping the unconfirmed tail
/// ([`super::infer::Engine::truncate`]) leaves the cache as if it had never been fed.
#[test]
fn the_engine_checks_a_draft_in_one_pass_and_drops_what_was_not_confirmed() {
    use super::infer::{DecodeWeights, Engine};
    let c = tiny();
    let tensors: HashMap<String, Tensor> = tiny_tensors(&c)
        .into_iter()
        .map(|(k, t)| {
            let r = Tensor::randn(0f32, 0.5, t.dims(), &Device::Cpu).unwrap();
            let r = if k.ends_with("norm.weight") {
                (r + 1.0).unwrap()
            } else {
                r
            };
            (k, r)
        })
        .collect();
    let llama = Llama::from_tensors(&c, &tensors).unwrap();
    let d = c.hidden_size;
    let x: Vec<f32> = (0..6 * d)
        .map(|i| ((i * 37 % 23) as f32 / 11.0) - 1.0)
        .collect();
    let row = |i: usize| &x[i * d..(i + 1) * d];
    let mut one = Engine::new(&llama, DecodeWeights::F32).unwrap();
    let steps: Vec<Vec<f32>> = (0..6)
        .map(|i| one.forward(row(i), 1).unwrap().to_vec())
        .collect();
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-4);
    let mut e = Engine::new(&llama, DecodeWeights::F32).unwrap();
    e.forward(&x[..2 * d], 2).unwrap();
    let all = e.forward_all(&x[2 * d..], 4).unwrap().to_vec();
    assert_eq!(all.len(), 4 * c.vocab_size);
    for (j, got) in all.chunks_exact(c.vocab_size).enumerate() {
        assert!(close(got, &steps[2 + j]), "position {}", 2 + j);
    }
    assert_eq!(e.len(), 6);
    // Keep one drafted position: the next one decodes as after three tokens.
    e.truncate(3);
    assert_eq!(e.len(), 3);
    assert!(close(e.forward(row(3), 1).unwrap(), &steps[3]));
    e.truncate(99);
    assert_eq!(e.len(), 4, "truncating past the end changes nothing");
}

/// `train lm --preset paper`: the authors' recipe, and its schedule equal to PyTorch's
/// `CosineAnnealingLR(T_max=200, eta_min=1e-6)` stepped per epoch (values printed by torch 2.15
/// for an AdamW at lr 1e-4 at epochs 0, 1, 50, 99 and 100).
#[test]
fn paper_preset_follows_cosine_annealing_per_epoch() {
    let cfg = super::train::LmTrainConfig::paper(8092);
    assert_eq!(
        (cfg.batch_size, cfg.lr, cfg.weight_decay),
        (320, 1e-4, 0.01)
    );
    assert_eq!(cfg.ortho_weight, 1e-2);
    let spe = 8092usize.div_ceil(320);
    assert_eq!(cfg.steps, 100 * spe);
    let torch = [
        (0, 1e-4),
        (1, 9.99938933078422e-05),
        (50, 8.55017856687341e-05),
        (99, 5.1277512206935114e-05),
        (100, 5.049999999999999e-05),
    ];
    for (epoch, want) in torch {
        // Every step of the epoch has the epoch's rate.
        for step in [epoch * spe, epoch * spe + spe - 1] {
            let lr = cfg.lr * cfg.lr_scale(step);
            assert!(
                (lr - want).abs() < 1e-12,
                "epoch {epoch}, step {step}: {lr} vs torch {want}"
            );
        }
    }
    // Saved and read back, the schedule is kept; configs from before it read as warm-up + cosine.
    let json = serde_json::to_string(&cfg).unwrap();
    let back: super::train::LmTrainConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old.as_object_mut().unwrap().remove("schedule");
    let old: super::train::LmTrainConfig = serde_json::from_value(old).unwrap();
    assert_eq!(old.schedule, super::train::LrSchedule::WarmupCosine);
}
