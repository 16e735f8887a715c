//! Sizes from a config file or a clip that would wrap or divide by zero are named errors: the
//! model config is checked before anything is allocated, and a convolution given fewer frames
//! than one window fails on both of its paths (fused CPU op, tensor ops) instead of wrapping.

use candle_core::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::checkpoint::read_config;
use super::config::{DvqConfig, MAX_WEIGHTS};
use super::conv::{Conv1d, ConvSpec};
use super::params::Params;

fn err(c: &DvqConfig) -> String {
    c.validate().unwrap_err().to_string()
}

#[test]
fn model_configs_that_make_no_model_name_the_field_and_value() {
    let base = DvqConfig::cpu();
    assert!(base.validate().is_ok());
    assert!(DvqConfig::paper().validate().is_ok());
    let with = |f: fn(&mut DvqConfig)| {
        let mut c = base.clone();
        f(&mut c);
        err(&c)
    };
    assert_eq!(
        with(|c| c.width = 0),
        "invalid configuration: width = 0: must be at least 1"
    );
    assert_eq!(
        with(|c| c.nb_code = 1),
        "invalid configuration: nb_code = 1: must be at least 2"
    );
    assert_eq!(
        with(|c| c.dilation_growth_rate = 0),
        "invalid configuration: dilation_growth_rate = 0: must be at least 1"
    );
    // 1 << 64 would wrap (or shift by 0 in release).
    assert_eq!(
        with(|c| c.down_t = 64),
        "invalid configuration: down_t = 64: one code per 2^down_t frames; at most 2^16 is \
         supported"
    );
    // 3^99 would overflow; refused on depth alone.
    assert_eq!(
        with(|c| c.depth = 100),
        "invalid configuration: depth = 100: at most 64 residual blocks per stage are supported"
    );
    assert_eq!(
        with(|c| c.depth = 20),
        "invalid configuration: depth = 20: the largest dilation, dilation_growth_rate^(depth \
         − 1) = 3^19, is more than the 65536 supported"
    );
    // Terabytes of weights are an error before any allocation.
    let e = with(|c| c.width = 1 << 20);
    assert!(e.contains(&format!("more than the {MAX_WEIGHTS}")), "{e}");
    let e = with(|c| c.width = usize::MAX / 2);
    assert!(e.contains("more than usize::MAX weights"), "{e}");
    // frames_per_code and dilations saturate rather than wrap on configs validate rejects.
    let c = DvqConfig {
        down_t: 200,
        dilation_growth_rate: usize::MAX,
        ..base.clone()
    };
    assert_eq!(c.frames_per_code(), usize::MAX);
    assert_eq!(c.dilations()[0], usize::MAX);
}

#[test]
fn a_tokenizer_config_file_with_bad_sizes_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/dvq");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shipped.join("config.json")).unwrap())
            .unwrap();
    assert!(read_config(&shipped).is_ok());
    json["model"]["down_t"] = serde_json::json!(99);
    let path = dir.path().join("config.json");
    std::fs::write(&path, json.to_string()).unwrap();
    let e = read_config(dir.path()).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: ", path.display())), "{e}");
    assert!(e.contains("down_t = 99"), "{e}");
}

#[test]
fn a_convolution_shorter_than_its_window_is_an_error_on_both_paths() {
    let spec = ConvSpec {
        c_in: 2,
        c_out: 3,
        kernel: 4,
        stride: 2,
        padding: 1,
        dilation: 1,
    };
    // PyTorch's length: (t + 2 − 3 − 1)/2 + 1, defined from t = 2 on.
    assert_eq!(spec.out_len(2), Some(1));
    assert_eq!(spec.out_len(8), Some(4));
    assert_eq!(spec.out_len(1), None);
    assert_eq!(spec.out_len(0), None);
    assert_eq!(ConvSpec { stride: 0, ..spec }.out_len(8), None);
    assert_eq!(ConvSpec { kernel: 0, ..spec }.out_len(8), None);
    assert_eq!(
        ConvSpec {
            dilation: usize::MAX,
            ..spec
        }
        .out_len(8),
        None
    );
    let mut p = Params::new();
    let mut rng = StdRng::seed_from_u64(1);
    let mut conv = Conv1d::new(&mut p, "c", spec, &mut rng, &Device::Cpu).unwrap();
    let x = Tensor::zeros((1, 1, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    let want = "1 input frames do not fill one window (kernel 4, dilation 1, padding 1, stride 2)";
    let fused = conv.forward(&x).unwrap_err().to_string();
    assert!(fused.contains(want), "{fused}");
    let ops = conv.forward_tensor_ops(&x).unwrap_err().to_string();
    assert!(ops.contains(want), "{ops}");
    conv.freeze().unwrap();
    let frozen = conv.forward(&x).unwrap_err().to_string();
    assert!(frozen.contains(want), "{frozen}");
    // Zero frames, up-sampled: 2·0 frames still fill nothing.
    let x0 = Tensor::zeros((1, 0, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(conv.forward_upsampled(&x0).is_err());
}

/// The `paper` preset trains as `dvq_train.py` does: batches of 512 windows of exactly 32 frames.
#[test]
fn paper_preset_trains_on_the_references_batches_and_windows() {
    let t = super::config::TrainConfig::for_preset("paper");
    assert_eq!((t.batch_size, t.crop_min, t.crop_max), (512, 32, 32));
    assert_eq!(
        t.val_every, 45,
        "about one reference epoch, best model kept"
    );
    assert_eq!((t.lr, t.codebook_lr, t.warmup_frac), (2e-4, 1e-4, 0.03));
    t.validate(&super::DvqConfig::paper()).unwrap();
    // The CPU preset keeps its measured settings.
    let c = super::config::TrainConfig::for_preset("cpu");
    assert_eq!((c.batch_size, c.crop_min, c.crop_max), (64, 32, 64));
}
