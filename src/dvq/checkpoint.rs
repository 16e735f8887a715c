//! A tokenizer directory: `config.json` (model + training settings), `model.safetensors`
//! (weights, codebook, and the corpus `mean`/`std` the model was trained with),
//! `train_state.safetensors` (AdamW moments and step, for exact resume) and `train_log.csv`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::config::{CheckpointConfig, DvqConfig};
use super::error::{DvqError, Result};
use super::model::DvqModel;
use super::optim::AdamW;
use crate::motion::Normalizer;

pub const CONFIG_FILE: &str = "config.json";
pub const MODEL_FILE: &str = "model.safetensors";
pub const STATE_FILE: &str = "train_state.safetensors";
pub const LOG_FILE: &str = "train_log.csv";

/// Reads `config.json` of a tokenizer directory and checks its model sizes
/// ([`DvqConfig::validate`]).
///
/// Errors (naming the file): unreadable, not the config's JSON, or sizes that make no model
/// (the field, its value and why).
pub fn read_config(dir: &Path) -> Result<CheckpointConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| DvqError::io(&path, e))?;
    let config: CheckpointConfig =
        serde_json::from_str(&text).map_err(|e| DvqError::checkpoint(&path, e))?;
    config.model.validate().map_err(|e| match e {
        DvqError::Config(msg) => DvqError::checkpoint(&path, msg),
        other => other,
    })?;
    Ok(config)
}

/// Checks the sizes `config` gives against the weights file's tensors before a model is built
/// from them (building allocates what the config says): `encoder.conv_in.weight` is
/// `(width, input_dim, 3)`, `quantizer.codebook` is `(nb_code, code_dim)`, there are `down_t`
/// encoder stages of `depth` residual blocks.
fn check_sizes(config: &DvqConfig, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let dims = |name: &str| tensors.get(name).map(|t| t.dims().to_vec());
    let has = |name: String| tensors.contains_key(&name);
    let (w, t, n) = (config.width, config.down_t, config.depth);
    let expected = [
        ("encoder.conv_in.weight", vec![w, config.input_dim, 3]),
        ("quantizer.codebook", vec![config.nb_code, config.code_dim]),
    ];
    for (name, want) in expected {
        match dims(name) {
            Some(got) if got == want => {}
            Some(got) => {
                let msg = format!("tensor `{name}` is {got:?}, the config expects {want:?}");
                return Err(DvqError::checkpoint(path, msg));
            }
            None => {
                let msg = format!("missing tensor `{name}` (the config expects {want:?})");
                return Err(DvqError::checkpoint(path, msg));
            }
        }
    }
    let stages_match = (t == 0 || has(format!("encoder.down.{}.weight", t - 1)))
        && !has(format!("encoder.down.{t}.weight"));
    let blocks_match = t == 0
        || ((n == 0 || has(format!("encoder.res.0.{}.conv1.weight", n - 1)))
            && !has(format!("encoder.res.0.{n}.conv1.weight")));
    if !(stages_match && blocks_match) {
        return Err(DvqError::checkpoint(
            path,
            format!("the weights do not have the config's down_t {t} stages of depth {n}"),
        ));
    }
    Ok(())
}

/// Writes `config.json` and `model.safetensors` atomically (temporary file, then rename).
pub fn save_model(
    dir: &Path,
    config: &CheckpointConfig,
    model: &DvqModel,
    normalizer: &Normalizer,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| DvqError::io(dir, e))?;
    let json = serde_json::to_string_pretty(config).expect("config serializes");
    write_atomic(&dir.join(CONFIG_FILE), json.as_bytes())?;
    let mut tensors = model.params().tensors();
    let n = normalizer.mean.len();
    tensors.insert(
        "mean".into(),
        Tensor::from_slice(&normalizer.mean, n, &Device::Cpu)?,
    );
    tensors.insert(
        "std".into(),
        Tensor::from_slice(&normalizer.std, n, &Device::Cpu)?,
    );
    save_tensors(&dir.join(MODEL_FILE), &tensors)
}

/// Writes the optimiser moments and step to `train_state.safetensors`.
pub fn save_state(dir: &Path, opt: &AdamW) -> Result<()> {
    let mut tensors = opt.state();
    tensors.insert(
        "step".into(),
        Tensor::new(&[opt.step as u32], &Device::Cpu)?,
    );
    save_tensors(&dir.join(STATE_FILE), &tensors)
}

/// Loads a model and its normalizer from a tokenizer directory onto `device`.
///
/// Errors (naming the file): [`read_config`]'s, a missing or unreadable `model.safetensors`, a
/// tensor missing or of another shape than the config's (the sizes are compared before the
/// model is built), a `mean`/`std` of the wrong width or with a non-finite mean or a std that
/// is not finite and positive.
pub fn load_model(dir: &Path, device: &Device) -> Result<(CheckpointConfig, DvqModel, Normalizer)> {
    let config = read_config(dir)?;
    let path = dir.join(MODEL_FILE);
    let tensors = load_tensors(&path, device)?;
    check_sizes(&config.model, &tensors, &path)?;
    let model = DvqModel::new(&config.model, 0, device)?;
    model.params().assign(&tensors, &path)?;
    let vector = |name: &str| -> Result<Vec<f32>> {
        let t = tensors
            .get(name)
            .ok_or_else(|| DvqError::checkpoint(&path, format!("missing tensor `{name}`")))?;
        t.flatten_all()
            .and_then(|t| t.to_dtype(candle_core::DType::F32))
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| DvqError::checkpoint(&path, format!("tensor `{name}`: {e}")))
    };
    let normalizer = Normalizer {
        mean: vector("mean")?,
        std: vector("std")?,
    };
    if normalizer.mean.len() != config.model.input_dim
        || normalizer.std.len() != config.model.input_dim
    {
        return Err(DvqError::checkpoint(
            &path,
            "mean/std width differs from input_dim",
        ));
    }
    if let Some(problem) = normalizer.problem() {
        return Err(DvqError::checkpoint(&path, problem));
    }
    Ok((config, model, normalizer))
}

/// Restores AdamW moments and step from `train_state.safetensors`.
pub fn load_state(dir: &Path, opt: &mut AdamW, device: &Device) -> Result<usize> {
    let path = dir.join(STATE_FILE);
    let tensors = load_tensors(&path, device)?;
    let step = tensors
        .get("step")
        .and_then(|t| {
            t.flatten_all()
                .ok()?
                .to_vec1::<u32>()
                .ok()?
                .first()
                .copied()
        })
        .ok_or_else(|| DvqError::checkpoint(&path, "missing or malformed `step` (one u32)"))?
        as usize;
    if let Some(missing) = opt.load_state(&tensors, step) {
        return Err(DvqError::checkpoint(
            &path,
            format!("missing tensor `{missing}`"),
        ));
    }
    Ok(step)
}

pub(crate) fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        return Err(DvqError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    candle_core::safetensors::load(path, device).map_err(|e| DvqError::checkpoint(path, e))
}

pub(crate) fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| DvqError::io(dir, e))?;
    candle_core::safetensors::save(tensors, tmp.path())
        .map_err(|e| DvqError::checkpoint(path, e))?;
    tmp.persist(path).map_err(|e| DvqError::io(path, e.error))?;
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same folder, fsync, then rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| DvqError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| DvqError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| DvqError::io(path, e))?;
    tmp.persist(path).map_err(|e| DvqError::io(path, e.error))?;
    Ok(())
}
