//! Every crash the fuzzer found (and the ones the issue reported), as a unit test on the exact
//! input, asserting the error that replaced it: what it names and says.

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::{fixture, repo};
use crate::motion::import::file::{ImportOptions, import_motion};

/// The error of importing `text` written to `dir/name`, panicking if it imports.
fn import_error(dir: &Path, name: &str, text: &str, options: &ImportOptions) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    match import_motion(&path, options) {
        Ok(_) => panic!("{name} imported"),
        Err(e) => e.to_string(),
    }
}

fn bandai_take(frames: usize) -> String {
    super::bvh_seed(
        "bandai/dataset-2/dataset-2_walk-turn-left_active_001.bvh.gz",
        frames,
    )
}

fn set_line(text: &str, prefix: &str, line: &str) -> String {
    text.lines()
        .map(|l| if l.starts_with(prefix) { line } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Was: `capacity overflow` panic (`Frames` × channels wrapped) or a 10 GB allocation abort.
#[test]
fn bvh_frame_counts_near_2_pow_64_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let take = bandai_take(30);
    let o = ImportOptions::default();
    for frames in ["18446744073709551615", "9223372036854775807", "10000001"] {
        let e = import_error(
            dir.path(),
            "f.bvh",
            &set_line(&take, "Frames:", &format!("Frames: {frames}")),
            &o,
        );
        assert!(e.contains("f.bvh:") && e.contains("limit"), "{frames}: {e}");
    }
    // Under the frame limit but past the 2 GiB of values: refused before any allocation.
    let e = import_error(
        dir.path(),
        "f.bvh",
        &set_line(&take, "Frames:", "Frames: 9999999"),
        &o,
    );
    assert!(e.contains("f.bvh") && e.contains("2 GiB"), "{e}");
}

/// Was: `capacity overflow` panic (`Vec::with_capacity` of the channel count) and a 4 GiB
/// allocation for `CHANNELS 4294967295`.
#[test]
fn bvh_channel_counts_near_2_pow_64_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let take = bandai_take(30);
    for n in ["18446744073709551615", "4294967295"] {
        let text = take.replacen(
            "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation",
            &format!("CHANNELS {n} Xposition"),
            1,
        );
        let e = import_error(dir.path(), "c.bvh", &text, &ImportOptions::default());
        assert!(
            e.contains("c.bvh:6:") && e.contains("unknown channel"),
            "{n}: {e}"
        );
    }
}

/// Was: a stack overflow abort (recursive descent; 9,000 levels were enough).
#[test]
fn bvh_25000_nested_joints_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n",
    );
    for i in 0..25_000 {
        text += &format!("JOINT j{i}\n{{\nOFFSET 0 1 0\nCHANNELS 1 Zrotation\n");
    }
    text += &"}\n".repeat(25_001);
    text += "MOTION\nFrames: 1\nFrame Time: 0.0333\n0\n";
    let e = import_error(dir.path(), "deep.bvh", &text, &ImportOptions::default());
    assert!(
        e.contains("deep.bvh:") && e.contains("more than 10000 joints"),
        "{e}"
    );
}

/// Was: `Frame Time: 1000` resampled 30 frames into 580,000 (4.5 s; minutes on a long take);
/// an `inf` OFFSET imported as NaN joints.
#[test]
fn bvh_absurd_frame_time_and_infinite_offset_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let take = bandai_take(30);
    let o = ImportOptions::default();
    let slow = set_line(&take, "Frame Time:", "Frame Time: 1000");
    let e = import_error(dir.path(), "slow.bvh", &slow, &o);
    assert!(
        e.contains("slow.bvh") && e.contains("0.001 frames per second"),
        "{e}"
    );
    let inf = take.replacen("OFFSET 0.0 0.0 0.0", "OFFSET inf 0.0 0.0", 1);
    let e = import_error(dir.path(), "inf.bvh", &inf, &o);
    assert!(
        e.contains("inf.bvh:4:") && e.contains("not a finite number"),
        "{e}"
    );
    let fps = ImportOptions {
        fps: Some(0.0001),
        ..Default::default()
    };
    let e = import_error(dir.path(), "fps.bvh", &take, &fps);
    assert!(e.contains("fps.bvh") && e.contains("--fps"), "{e}");
}

/// Was: exit 0 with `+inf` joints written (root translation 1e39 file units).
#[test]
fn root_translations_of_1e39_are_errors_not_infinite_joints() {
    let dir = tempfile::tempdir().unwrap();
    let take = bandai_take(30);
    let motion = take.lines().position(|l| l == "MOTION").unwrap();
    let far: Vec<String> = take
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i > motion + 2 {
                let mut t: Vec<&str> = l.split_whitespace().collect();
                t[0] = "1e39";
                t.join(" ")
            } else {
                l.to_string()
            }
        })
        .collect();
    let e = import_error(
        dir.path(),
        "far.bvh",
        &far.join("\n"),
        &ImportOptions::default(),
    );
    assert!(
        e.contains("far.bvh: frame 0: joint `pelvis`") && e.contains("100000 m limit"),
        "{e}"
    );
    assert!(e.contains("rig `bandai`"), "{e}");

    // The same through AMC.
    let amc_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("cmu/asfamc/02/02.asf"),
        amc_dir.path().join("02.asf"),
    )
    .unwrap();
    let mut amc = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(fixture("cmu/asfamc/02/02_01.amc.gz")).unwrap(),
        ),
        &mut amc,
    )
    .unwrap();
    let root = amc
        .lines()
        .find(|l| l.starts_with("root "))
        .unwrap()
        .to_string();
    let far = amc.replacen(&root, "root 1e39 16.7 -30.1 -2.5 -9.8 -3.0", 1);
    let e = import_error(amc_dir.path(), "02_01.amc", &far, &ImportOptions::default());
    assert!(
        e.contains("02_01.amc: frame 0:") && e.contains("limit"),
        "{e}"
    );
}

/// Was: 311 s (quadratic name lookups and hierarchy ordering) for a 100,000-bone chain.
#[test]
fn asf_100000_bone_chain_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s =
        String::from(":units\n  length 0.45\n:root\n  order TX TY TZ RX RY RZ\n:bonedata\n");
    for i in 0..100_000 {
        s += &format!("  begin\n    name b{i}\n    direction 0 1 0\n    length 1\n  end\n");
    }
    let path = dir.path().join("chain.asf");
    std::fs::write(&path, s).unwrap();
    let t0 = std::time::Instant::now();
    let e = crate::motion::import::asf::read_asf(&path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("chain.asf:") && e.contains("more than 10000 bones"),
        "{e}"
    );
    assert!(t0.elapsed().as_secs_f64() < 2.0);
}

/// Was: `attempt to add with overflow` with overflow checks on (`prev + 1`).
#[test]
fn amc_frame_number_2_pow_64_minus_1_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let sk = crate::motion::import::asf::read_asf(&fixture("cmu/asfamc/02/02.asf")).unwrap();
    let path = dir.path().join("big.amc");
    let frame: String = sk
        .bones
        .iter()
        .filter(|b| !b.dof.is_empty())
        .map(|b| format!("{} {}\n", b.name, vec!["0"; b.dof.len()].join(" ")))
        .collect();
    let root = "root 0 0 0 0 0 0\n";
    std::fs::write(
        &path,
        format!(":DEGREES\n18446744073709551615\n{root}{frame}0\n{root}{frame}"),
    )
    .unwrap();
    let e = crate::motion::import::amc::read_amc(&path, &sk)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("frame 0 follows frame 18446744073709551615"),
        "{e}"
    );
}

/// Was: 4 GiB and 631 MiB allocations from a header length of 2^32 − 1 or a flipped bit in it.
#[test]
fn npy_header_lengths_and_shapes_past_the_file_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut good = std::fs::read(fixture("humanml3d/new_joint_vecs/012314.npy")).unwrap();
    let path = dir.path().join("h.npy");
    // Version 2 header whose u32 length is 2^32 − 1.
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend(u32::MAX.to_le_bytes());
    v2.extend(&good[10..200]);
    std::fs::write(&path, &v2).unwrap();
    let e = crate::motion::Features::load(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("h.npy") && e.contains("header"), "{e}");
    // The real header with its shape made 99999999999 × 263.
    let text = String::from_utf8_lossy(&good[..128]).into_owned();
    let rows = text
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let at = text.find(&format!("({rows},")).unwrap() + 1;
    good.splice(at..at + rows.len(), b"99999999999".iter().copied());
    good[8] += (11 - rows.len()) as u8; // keep the header length right
    std::fs::write(&path, &good).unwrap();
    let e = crate::motion::Features::load(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("h.npy") && e.contains("data ends early"), "{e}");
}

/// Was: the error named the motion file only (`rig needs joint …`); a wrong-format rig and an
/// `at` of NaN went unchecked.
#[test]
fn rig_errors_name_the_rig_file() {
    let dir = tempfile::tempdir().unwrap();
    let bandai = std::fs::read_to_string(repo("assets/rigs/bandai.toml")).unwrap();
    let rig_path = dir.path().join("mine.toml");
    let take = bandai_take(30);
    let import = |rig_text: &str| {
        std::fs::write(&rig_path, rig_text).unwrap();
        let rig = crate::motion::import::rig::Rig::load(&rig_path)?;
        let o = ImportOptions {
            rig: Some(rig),
            ..Default::default()
        };
        std::fs::write(dir.path().join("take.bvh"), &take).unwrap();
        import_motion(&dir.path().join("take.bvh"), &o).map(|_| ())
    };
    let e = import(&bandai.replace("left_hip = \"UpperLeg_L\"", "left_hip = \"Thigh_L\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("mine.toml") && e.contains("`Thigh_L`"), "{e}");
    let e = import(&bandai.replace("format = \"bvh\"", "format = \"asf\""))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("mine.toml") && e.contains("is for Asf files"),
        "{e}"
    );
    let e = import(&bandai.replace("at = 0.5", "at = nan"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&rig_path.display().to_string()) && e.contains("at = NaN"),
        "{e}"
    );
    let e = import(&bandai.replace("metres_per_unit = 0.01", "metres_per_unit = 1e300"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("take.bvh") && e.contains("mine.toml") && e.contains("limit"),
        "{e}"
    );
}

/// A copy of gpt2-tiny in `dir/name` with its `config.json` edited by `edit`.
fn gpt2_tiny_with(dir: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    let to = dir.join("hf");
    std::fs::create_dir_all(&to).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(repo("tests/fixtures/gpt2-tiny").join(f), to.join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(to.join("config.json")).unwrap();
    std::fs::write(to.join("config.json"), edit(&cfg)).unwrap();
    to
}

/// Was: `attempt to divide by zero` (n_head 0); weights of the wrong model accepted.
#[test]
fn hf_configs_with_impossible_sizes_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to, says) in [
        ("\"n_head\": 4", "\"n_head\": 0", "n_head = 0"),
        (
            "\"n_head\": 4",
            "\"n_head\": 3",
            "n_head = 3: does not divide",
        ),
        (
            "\"vocab_size\": 400",
            "\"vocab_size\": 9223372036854775807",
            "vocab_size",
        ),
        (
            "\"vocab_size\": 400",
            "\"vocab_size\": 401",
            "the config makes it [401, 64]",
        ),
        (
            "\"bos_token_id\": 0",
            "\"bos_token_id\": 4294967296",
            "bos_token_id",
        ),
    ] {
        let hf = gpt2_tiny_with(dir.path(), |c| c.replacen(from, to, 1));
        let e = crate::lm::hf::load_hf(&hf, &Device::Cpu)
            .map(|_| ())
            .expect_err(to)
            .to_string();
        assert!(
            e.contains(&hf.display().to_string()) && e.contains(says),
            "{to}: {e}"
        );
    }
    // A Llama config whose head_dim is not hidden / heads.
    let hf = gpt2_tiny_with(dir.path(), |_| {
        r#"{"model_type": "llama", "vocab_size": 400, "hidden_size": 64, "intermediate_size": 256,
            "num_hidden_layers": 2, "num_attention_heads": 4, "head_dim": 32,
            "bos_token_id": 0, "eos_token_id": 0}"#
            .into()
    });
    let e = crate::lm::hf::load_hf(&hf, &Device::Cpu)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("config.json") && e.contains("head_dim = 32"),
        "{e}"
    );
}

/// Was: `attempt to divide by zero` (alignment 0 in candle's reader; zero heads in ours), and
/// an index out of bounds for more token types than tokens.
#[test]
fn gguf_zero_alignment_heads_and_extra_token_types_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let seed = super::models::tiny_gguf();
    let at = |key: &[u8]| seed.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    let path = dir.path().join("t.gguf");
    let load = |data: &[u8]| {
        std::fs::write(&path, data).unwrap();
        let g = crate::lm::gguf::load_gguf(&path, &Device::Cpu)?;
        crate::lm::tokenizer::tokenizer_from_gguf(&g.content, &path).map(|_| ())
    };
    for (key, value, says) in [
        (&b"general.alignment"[..], 0u32, "alignment"),
        (
            b"llama.attention.head_count",
            0,
            "llama.attention.head_count = 0",
        ),
        (
            b"llama.attention.head_count_kv",
            0,
            "llama.attention.head_count_kv = 0",
        ),
    ] {
        let mut d = seed.clone();
        let v = at(key) + 4;
        d[v..v + 4].copy_from_slice(&value.to_le_bytes());
        let e = load(&d).unwrap_err().to_string();
        assert!(e.contains("t.gguf") && e.contains(says), "{e}");
    }
    let mut d = seed.clone();
    let n = at(b"tokenizer.ggml.token_type") + 8;
    d[n..n + 8].copy_from_slice(&5u64.to_le_bytes());
    // The rest of the header is then misread (five I32 need 4 more bytes): an error either way.
    let e = load(&d).unwrap_err().to_string();
    assert!(e.contains("t.gguf"), "{e}");
}

/// Was: a 6.6 TB allocation abort (DVQ `nb_code` 2^32) and a 262 GB one (retrieval `width`
/// 128,000), both sized from `config.json` before the weights were looked at.
#[test]
fn checkpoint_configs_asking_for_terabytes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dvq = dir.path().join("dvq");
    std::fs::create_dir_all(&dvq).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(repo("models/dvq").join(f), dvq.join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(dvq.join("config.json")).unwrap();
    for (from, to) in [
        ("\"nb_code\": 256", "\"nb_code\": 4294967296"),
        ("\"width\": 128", "\"width\": 1280"),
    ] {
        std::fs::write(dvq.join("config.json"), cfg.replacen(from, to, 1)).unwrap();
        let e = crate::dvq::Tokenizer::load(&dvq, &Device::Cpu)
            .map(|_| ())
            .expect_err(to)
            .to_string();
        assert!(e.contains("dvq/"), "{to}: {e}");
    }
    let eval = dir.path().join("eval");
    std::fs::create_dir_all(&eval).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(repo("models/eval").join(f), eval.join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(eval.join("config.json")).unwrap();
    for to in ["\"width\": 128000", "\"width\": 1280"] {
        std::fs::write(
            eval.join("config.json"),
            cfg.replacen("\"width\": 128", to, 1),
        )
        .unwrap();
        let e = crate::eval::retrieval::evaluator::Evaluator::load_model(&eval, &Device::Cpu)
            .map(|_| ())
            .expect_err(to)
            .to_string();
        assert!(e.contains("eval/"), "{to}: {e}");
    }
}
