//! A tokenizer directory: `config.json` (model + training settings), `model.safetensors`
//! (weights, codebook, and the corpus `mean`/`std` the model was trained with),
//! `train_state.safetensors` (AdamW moments and step, for exact resume) and `train_log.csv`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::config::CheckpointConfig;
use super::error::{DvqError, Result};
use super::model::DvqModel;
use super::optim::AdamW;
use crate::motion::Normalizer;

pub const CONFIG_FILE: &str = "config.json";
pub const MODEL_FILE: &str = "model.safetensors";
pub const STATE_FILE: &str = "train_state.safetensors";
pub const LOG_FILE: &str = "train_log.csv";

/// Reads `config.json` of a tokenizer directory and checks its model sizes
/// ([`super::config::DvqConfig::validate`]).
///
/// Errors: the file cannot be read or parsed, or its sizes make no model (the file, field and
/// value named).
pub fn read_config(dir: &Path) -> Result<CheckpointConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| DvqError::io(&path, e))?;
    let config: CheckpointConfig =
        serde_json::from_str(&text).map_err(|e| DvqError::checkpoint(&path, e))?;
    config
        .model
        .validate()
        .map_err(|e| DvqError::checkpoint(&path, e))?;
    Ok(config)
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
pub fn load_model(dir: &Path, device: &Device) -> Result<(CheckpointConfig, DvqModel, Normalizer)> {
    let config = read_config(dir)?;
    let path = dir.join(MODEL_FILE);
    let tensors = load_tensors(&path, device)?;
    let model = DvqModel::new(&config.model, 0, device)?;
    model.params().assign(&tensors, &path)?;
    let vector = |name: &str| -> Result<Vec<f32>> {
        let t = tensors
            .get(name)
            .ok_or_else(|| DvqError::checkpoint(&path, format!("missing tensor `{name}`")))?;
        Ok(t.flatten_all()?.to_vec1::<f32>()?)
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
    Ok((config, model, normalizer))
}

/// Restores AdamW moments and step from `train_state.safetensors`.
pub fn load_state(dir: &Path, opt: &mut AdamW, device: &Device) -> Result<usize> {
    let path = dir.join(STATE_FILE);
    let tensors = load_tensors(&path, device)?;
    let step = tensors
        .get("step")
        .ok_or_else(|| DvqError::checkpoint(&path, "missing `step`"))?
        .to_vec1::<u32>()?[0] as usize;
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
