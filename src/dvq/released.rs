//! Tokenizers trained with the field's Python code, opened as their authors save them:
//!
//! | form | file | keys | quantizer |
//! | --- | --- | --- | --- |
//! | GeoMotionGPT DVQ | `dvq-gsst.pt` (torch.save of a state_dict) | `vqvae.encoder.model.*` | [`Quantizer::Gumbel`] (`quantizer.codebook.weight`, an `nn.Embedding`) |
//! | GeoMotionGPT, Hugging Face export | a folder with `config.json` + `model.safetensors` | `motion_tokenizer.*` | Gumbel |
//! | T2M-GPT / MotionGPT VQ-VAE | `net_last.pth` (`{"net": state_dict}`) | `vqvae.*` / `motion_vae.*` | [`Quantizer::Nearest`] (`quantizer.codebook`, a buffer) |
//!
//! Also read: a Lightning checkpoint (`{"state_dict": …}`) and a bare `.safetensors` file with any
//! of those prefixes. The module layout is JYe16/GeoMotionGPT `dvq/encdec.py` (= T2M-GPT
//! `models/encdec.py`): `encoder.model = [Conv(k3), ReLU, down_t × (Conv(k4, s2), Resnet1D),
//! Conv(k3)]`, `decoder.model = [Conv(k3), ReLU, down_t × (Resnet1D, Upsample, Conv(k3)),
//! Conv(k3), ReLU, Conv(k3)]`, `Resnet1D.model.{j}.conv1/conv2` with reversed dilations.
//!
//! Every size (input width, K, D, width, down_t, depth) comes from the tensors' shapes. The
//! dilation growth rate is not in the weights: it is read from the Hugging Face config
//! (`motion_dilation_growth_rate`) and is otherwise 3, the value of every released config
//! (T2M-GPT `--dilation-growth-rate 3`, GeoMotionGPT `dvq_train.py`). Normalisation layers and
//! other strides than 2 are refused by name. Such files carry no Mean/Std: the caller gives the
//! dataset's (as the authors' demo loads `Mean.npy`/`Std.npy` of the dataset folder).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::config::{DvqConfig, Quantizer};
use super::error::{DvqError, Result};

/// Which released form a file was read as (for the studio's and the CLI's "loaded …" line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleasedForm {
    /// GeoMotionGPT `dvq-gsst.pt` or its Hugging Face export.
    GeoMotionGpt,
    /// T2M-GPT / MotionGPT VQ-VAE `net_last.pth`.
    VqVae,
}

impl ReleasedForm {
    pub fn label(self) -> &'static str {
        match self {
            Self::GeoMotionGpt => "GeoMotionGPT DVQ",
            Self::VqVae => "T2M-GPT VQ-VAE",
        }
    }
}

/// A released tokenizer's architecture and its weights under our names (those
/// [`super::DvqModel::params`] uses), ready for [`super::params::Params::assign`].
pub struct Released {
    pub form: ReleasedForm,
    pub config: DvqConfig,
    pub tensors: HashMap<String, Tensor>,
}

/// Whether `path` looks like a released tokenizer rather than one of our tokenizer folders:
/// a `.pt`/`.pth`/`.ckpt`/`.tar`/`.safetensors` file, or a folder whose `config.json` is a
/// Hugging Face config (it has `model_type` or a `motion_*` field, where ours has `model`).
pub fn is_released(path: &Path) -> bool {
    if path.is_file() {
        return true;
    }
    let Ok(text) = std::fs::read_to_string(path.join("config.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| v.get("model").is_none())
        .unwrap_or(false)
}

/// Reads a released tokenizer (any form in the module table) from `path` onto `device`.
///
/// Errors (naming the file): unreadable or not a torch/safetensors file; no
/// `…encoder.model.0.weight` key or several tokenizers in one file; a missing tensor, a shape
/// that disagrees with the others, normalisation layers, a stride other than 2, or a last
/// encoder layer that is neither K (GeoMotionGPT) nor D (VQ-VAE) wide.
pub fn load(path: &Path, device: &Device) -> Result<Released> {
    let (file, config_dir) = if path.is_dir() {
        (path.join("model.safetensors"), Some(path))
    } else {
        (path.to_path_buf(), path.parent())
    };
    let rate = match config_dir {
        Some(dir) if dir.join("config.json").is_file() => hf_dilation_rate(dir)?,
        _ => 3,
    };
    let all = read_state_dict(&file, device)?;
    let sd = strip_prefix(all, &file)?;
    let dims = |name: &str| -> Result<Vec<usize>> {
        sd.get(name)
            .map(|t| t.dims().to_vec())
            .ok_or_else(|| DvqError::checkpoint(&file, format!("missing tensor `{name}`")))
    };
    if let Some(k) = sd
        .keys()
        .find(|k| k.contains(".norm1.") || k.contains(".norm2."))
    {
        return Err(DvqError::checkpoint(
            &file,
            format!("`{k}`: residual blocks with normalisation layers are not supported"),
        ));
    }
    let conv_in = dims("encoder.model.0.weight")?;
    let [width, input_dim, 3] = conv_in[..] else {
        return Err(shape_error(&file, "encoder.model.0.weight", &conv_in));
    };
    let down_t = (2..)
        .take_while(|i| sd.contains_key(&format!("encoder.model.{i}.0.weight")))
        .count();
    for i in 0..down_t {
        let name = format!("encoder.model.{}.0.weight", 2 + i);
        let d = dims(&name)?;
        if d != [width, width, 4] {
            return Err(DvqError::checkpoint(
                &file,
                format!(
                    "`{name}` is {d:?}; only stride-2 stages (kernel 4, {width} channels) are \
                     supported"
                ),
            ));
        }
    }
    let depth = (0..)
        .take_while(|j| sd.contains_key(&format!("encoder.model.2.1.model.{j}.conv1.weight")))
        .count();
    let (codebook_key, quantizer, form) = if sd.contains_key("quantizer.codebook.weight") {
        (
            "quantizer.codebook.weight",
            Quantizer::Gumbel,
            ReleasedForm::GeoMotionGpt,
        )
    } else {
        (
            "quantizer.codebook",
            Quantizer::Nearest,
            ReleasedForm::VqVae,
        )
    };
    let cb = dims(codebook_key)?;
    let [nb_code, code_dim] = cb[..] else {
        return Err(shape_error(&file, codebook_key, &cb));
    };
    let last = format!("encoder.model.{}.weight", 2 + down_t);
    let enc_out = dims(&last)?;
    let want = quantizer.encoder_out(nb_code, code_dim);
    if enc_out != [want, width, 3] {
        return Err(DvqError::checkpoint(
            &file,
            format!(
                "`{last}` is {enc_out:?}; a {} tokenizer with K = {nb_code}, D = {code_dim} \
                 needs [{want}, {width}, 3]",
                form.label()
            ),
        ));
    }
    let config = DvqConfig {
        input_dim,
        nb_code,
        code_dim,
        width,
        down_t,
        depth,
        dilation_growth_rate: rate,
        quantizer,
    };
    config
        .validate()
        .map_err(|e| DvqError::checkpoint(&file, e.to_string()))?;
    let mut tensors = HashMap::new();
    let mut take = |ours: String, theirs: String| -> Result<()> {
        for part in ["weight", "bias"] {
            let t = sd.get(&format!("{theirs}.{part}")).ok_or_else(|| {
                DvqError::checkpoint(&file, format!("missing tensor `{theirs}.{part}`"))
            })?;
            tensors.insert(format!("{ours}.{part}"), t.clone());
        }
        Ok(())
    };
    take("encoder.conv_in".into(), "encoder.model.0".into())?;
    for i in 0..down_t {
        take(
            format!("encoder.down.{i}"),
            format!("encoder.model.{}.0", 2 + i),
        )?;
        for j in 0..depth {
            for c in ["conv1", "conv2"] {
                take(
                    format!("encoder.res.{i}.{j}.{c}"),
                    format!("encoder.model.{}.1.model.{j}.{c}", 2 + i),
                )?;
                take(
                    format!("decoder.res.{i}.{j}.{c}"),
                    format!("decoder.model.{}.0.model.{j}.{c}", 2 + i),
                )?;
            }
        }
        take(
            format!("decoder.up.{i}"),
            format!("decoder.model.{}.2", 2 + i),
        )?;
    }
    take(
        "encoder.conv_out".into(),
        format!("encoder.model.{}", 2 + down_t),
    )?;
    take("decoder.conv_in".into(), "decoder.model.0".into())?;
    take(
        "decoder.conv_mid".into(),
        format!("decoder.model.{}", 2 + down_t),
    )?;
    take(
        "decoder.conv_out".into(),
        format!("decoder.model.{}", 4 + down_t),
    )?;
    tensors.insert("quantizer.codebook".into(), sd[codebook_key].clone());
    Ok(Released {
        form,
        config,
        tensors,
    })
}

fn shape_error(file: &Path, name: &str, dims: &[usize]) -> DvqError {
    DvqError::checkpoint(file, format!("`{name}` has an unexpected shape {dims:?}"))
}

/// `motion_dilation_growth_rate` of a Hugging Face export's `config.json` (3 when absent, or
/// when the file is not JSON: a `config.json` beside a `.pt` may be anything).
fn hf_dilation_rate(dir: &Path) -> Result<usize> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| DvqError::io(&path, e))?;
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(3);
    };
    match v.get("motion_dilation_growth_rate") {
        None => Ok(3),
        Some(r) => r.as_u64().map(|r| r as usize).ok_or_else(|| {
            DvqError::checkpoint(&path, "motion_dilation_growth_rate is not an integer")
        }),
    }
}

/// Every tensor of a `.safetensors` file or a torch pickle (`torch.save` zip): a bare
/// state_dict, `{"net": state_dict}` (T2M-GPT) or `{"state_dict": …}` (Lightning), as f32.
/// Also what [`crate::lm::released`] reads a released captioner with.
///
/// Errors (naming `file`): missing, not a zip torch file or safetensors, no tensors in it.
pub fn read_state_dict(file: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if file.extension().is_some_and(|e| e == "safetensors") {
        return candle_core::safetensors::load(file, device)
            .map_err(|e| DvqError::checkpoint(file, e))?
            .into_iter()
            .map(|(k, t)| Ok((k, t.to_dtype(DType::F32)?)))
            .collect();
    }
    let torch = TorchFile::open(file)?;
    let mut first_error = None;
    for key in [Some("net"), Some("state_dict"), None] {
        match torch.dict(key, device) {
            Ok(t) if !t.is_empty() => return Ok(t),
            Ok(_) => {}
            Err(e @ DvqError::Io { .. }) => return Err(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| DvqError::checkpoint(file, "no tensors in it")))
}

/// A torch zip (`torch.save`) checked once: its pickle stream ([`check_pickle`]) and the size of
/// every storage entry, so that each dict read from it ([`Self::dict`]) can check every tensor's
/// shape against its storage's bytes: a corrupt file never allocates what it claims.
pub struct TorchFile<'a> {
    file: &'a Path,
    sizes: HashMap<String, u64>,
}

impl<'a> TorchFile<'a> {
    /// Errors (naming `file`): missing, not a torch zip, a pickle string past its stream.
    pub fn open(file: &'a Path) -> Result<Self> {
        if !file.exists() {
            return Err(DvqError::checkpoint(file, "no such file"));
        }
        check_pickle(file)?;
        Ok(Self {
            file,
            sizes: zip_entry_sizes(file)?,
        })
    }

    /// The tensors of the dict under `key` (`None`: the top level), as f32. A panic inside
    /// candle's pickle reader becomes an error.
    ///
    /// Errors (naming the file): no `key`, a tensor its storage cannot hold.
    pub fn dict(&self, key: Option<&str>, device: &Device) -> Result<HashMap<String, Tensor>> {
        let (file, sizes) = (self.file, &self.sizes);
        // candle's pickle reader indexes its stack unchecked on some corrupt streams.
        let pth = std::panic::catch_unwind(|| candle_core::pickle::PthTensors::new(file, key))
            .unwrap_or_else(|_| {
                Err(candle_core::Error::Msg(
                    "the pickle stream is corrupt (the reader failed inside)".into(),
                ))
            })
            .map_err(|e| DvqError::checkpoint(file, format!("not a torch checkpoint: {e}")))?;
        let mut out = HashMap::new();
        for (name, info) in pth.tensor_infos() {
            // The bytes the shape and strides reach must be in the file: a corrupt shape would
            // otherwise allocate what it claims before the read fails.
            let layout = &info.layout;
            let reach = layout
                .dims()
                .iter()
                .zip(layout.stride())
                .try_fold(layout.start_offset(), |acc, (&d, &s)| {
                    d.checked_sub(1)
                        .map_or(Some(acc), |d1| d1.checked_mul(s)?.checked_add(acc))
                })
                .and_then(|last| last.checked_add(1))
                .and_then(|n| n.checked_mul(info.dtype.size_in_bytes()));
            let has = sizes.get(&info.path).copied().unwrap_or(0);
            let empty = layout.dims().contains(&0);
            if !empty && reach.is_none_or(|r| r as u64 > has) {
                return Err(DvqError::checkpoint(
                    file,
                    format!(
                        "tensor `{name}`: shape {:?} needs {} bytes, its storage `{}` holds {has}",
                        layout.dims(),
                        reach.map_or("more than usize::MAX".into(), |r| r.to_string()),
                        info.path
                    ),
                ));
            }
            let t = pth
                .get(name)
                .map_err(|e| DvqError::checkpoint(file, format!("tensor `{name}`: {e}")))?;
            if let Some(t) = t {
                out.insert(name.clone(), t.to_device(device)?.to_dtype(DType::F32)?);
            }
        }
        Ok(out)
    }
}

/// Walks the `data.pkl` of the torch zip `file` over the opcodes candle's reader knows and
/// refuses a string whose stated length runs past the end of the stream: candle allocates the
/// stated length before reading, so a corrupt length would ask for gigabytes. Unknown opcodes
/// end the walk (candle's reader then refuses them by name).
fn check_pickle(file: &Path) -> Result<()> {
    use std::io::Read;
    let f = std::fs::File::open(file).map_err(|e| DvqError::io(file, e))?;
    let bad = |msg: String| DvqError::checkpoint(file, msg);
    let Ok(mut z) = zip::ZipArchive::new(std::io::BufReader::new(f)) else {
        return Ok(()); // candle's reader names what is wrong
    };
    let name = z
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .find(|n| n.ends_with("data.pkl"));
    let Some(name) = name else {
        return Ok(());
    };
    let mut entry = z
        .by_name(&name)
        .map_err(|e| bad(format!("`{name}`: {e}")))?;
    if entry.size() > MAX_PICKLE_BYTES {
        return Err(bad(format!(
            "`{name}` is {} bytes; a state_dict's pickle is far smaller (at most {MAX_PICKLE_BYTES})",
            entry.size()
        )));
    }
    let mut pkl = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut pkl)
        .map_err(|e| bad(format!("`{name}`: {e}")))?;
    let mut i = 0usize;
    let arg = |i: usize, n: usize| -> Option<&[u8]> { pkl.get(i..i.checked_add(n)?) };
    while let Some(&op) = pkl.get(i) {
        i += 1;
        let skip = match op {
            b'.' => return Ok(()),
            0x80 | b'q' | b'h' | b'K' => 1,
            b'M' => 2,
            b'r' | b'j' | b'J' => 4,
            b'G' => 8,
            0x8a => 1 + arg(i, 1).map_or(0, |b| b[0] as usize),
            b'c' => {
                // Two newline-terminated names.
                let mut rest = i;
                for _ in 0..2 {
                    match pkl[rest.min(pkl.len())..].iter().position(|&b| b == b'\n') {
                        Some(p) => rest += p + 1,
                        None => return Ok(()),
                    }
                }
                rest - i
            }
            b'X' => {
                let Some(b) = arg(i, 4) else { return Ok(()) };
                let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                if len > pkl.len() - i - 4 {
                    return Err(bad(format!(
                        "`{name}`: a string of {len} bytes at byte {} runs past the end ({} bytes)",
                        i - 1,
                        pkl.len()
                    )));
                }
                4 + len
            }
            b')' | b'R' | b'(' | b't' | b'Q' | 0x85 | 0x86 | 0x87 | 0x88 | 0x89 | b'N' | b's'
            | b'u' | b'}' | b'd' | b'b' | 0x81 | b']' | b'a' | b'e' => 0,
            _ => return Ok(()),
        };
        i = i.saturating_add(skip);
    }
    Ok(())
}

/// The largest `data.pkl` read (the tensors live in other zip entries; a GPT-2 checkpoint's
/// pickle with optimizer state is a few MB).
const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// The uncompressed size of every entry of the torch zip `file`.
fn zip_entry_sizes(file: &Path) -> Result<HashMap<String, u64>> {
    let f = std::fs::File::open(file).map_err(|e| DvqError::io(file, e))?;
    let mut z = zip::ZipArchive::new(std::io::BufReader::new(f))
        .map_err(|e| DvqError::checkpoint(file, format!("not a torch checkpoint: {e}")))?;
    let mut sizes = HashMap::new();
    for i in 0..z.len() {
        let entry = z
            .by_index(i)
            .map_err(|e| DvqError::checkpoint(file, format!("zip entry {i}: {e}")))?;
        let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
        sizes.insert(name, entry.size());
    }
    Ok(sizes)
}

/// The tokenizer's tensors with their prefix (`vqvae.`, `motion_tokenizer.`, `motion_vae.`,
/// `vae.`, none) removed: the prefix is what stands before `encoder.model.0.weight`.
///
/// Errors: no such key, or several (two tokenizers in one file).
fn strip_prefix(all: HashMap<String, Tensor>, file: &Path) -> Result<HashMap<String, Tensor>> {
    const ANCHOR: &str = "encoder.model.0.weight";
    let prefixes: Vec<String> = all
        .keys()
        .filter_map(|k| k.strip_suffix(ANCHOR))
        .filter(|p| p.is_empty() || p.ends_with('.'))
        .map(str::to_string)
        .collect();
    let prefix = match &prefixes[..] {
        [p] => p.clone(),
        [] => {
            return Err(DvqError::checkpoint(
                file,
                format!(
                    "no motion tokenizer in it (no `…{ANCHOR}` among its {} tensors)",
                    all.len()
                ),
            ));
        }
        many => {
            return Err(DvqError::checkpoint(
                file,
                format!("several motion tokenizers in it (prefixes {many:?})"),
            ));
        }
    };
    Ok(all
        .into_iter()
        .filter_map(|(k, t)| k.strip_prefix(&prefix).map(|s| (s.to_string(), t)))
        .collect())
}
