//! `geomotion encode` and `geomotion decode`: a motion's DVQ codes and back, for scripts and for
//! inspecting a tokenizer outside the studio.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::lm::model_path;
use crate::dvq::Tokenizer;
use crate::motion::{Dataset, Features, Split};

/// Opens `--dvq` in any form [`Tokenizer::open`] reads. A released tokenizer (GeoMotionGPT
/// `.pt` or Hugging Face export, T2M-GPT `.pth`) carries no Mean/Std: they come from
/// `mean_std`, else from `fallback` (the dataset folder the command reads, as the authors'
/// scripts load the dataset's `Mean.npy`/`Std.npy`). Says on stderr which tokenizer it opened.
pub(super) fn open_tokenizer(
    dvq: &Path,
    mean_std: Option<&Path>,
    fallback: Option<&Path>,
    device: &candle_core::Device,
) -> Result<Tokenizer> {
    let path = model_path(dvq);
    let released = crate::dvq::released::is_released(&path);
    let stats = mean_std.or(if released { fallback } else { None });
    let tok = Tokenizer::open(&path, stats, device)?;
    if released {
        eprintln!(
            "{} ({}), Mean/Std of {}",
            tok.describe(),
            path.display(),
            stats.map_or(String::new(), |d| d.display().to_string())
        );
    }
    Ok(tok)
}

/// The HumanML3D folder a features file sits in (`DIR/new_joint_vecs/ID.npy` → `DIR`) when that
/// folder has `Mean.npy`: the statistics a released tokenizer reads it with by default.
pub(super) fn dataset_of_features(file: &Path) -> Option<PathBuf> {
    let dir = file.parent()?;
    if dir.file_name()? != "new_joint_vecs" {
        return None;
    }
    let root = dir.parent()?;
    root.join("Mean.npy").exists().then(|| root.to_path_buf())
}

#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Tokenizer: one of our folders (`config.json` + `model.safetensors`), a GeoMotionGPT
    /// `dvq-gsst.pt` or Hugging Face export folder, or a T2M-GPT / MotionGPT `net_last.pth`.
    #[arg(long, default_value = "models/dvq")]
    dvq: PathBuf,
    /// Folder with the `Mean.npy`/`Std.npy` a released tokenizer was trained with (default: the
    /// --data folder, or the HumanML3D folder the --motion file is in).
    #[arg(long)]
    mean_std: Option<PathBuf>,
    /// A `(T, 263)` features file (`new_joint_vecs/*.npy`, raw, 20 fps): prints
    /// `{"codes": [...]}`.
    #[arg(long, conflicts_with = "data")]
    motion: Option<PathBuf>,
    /// A HumanML3D-layout folder: prints one line `{"id", "frames", "codes"}` per clip.
    #[arg(long)]
    data: Option<PathBuf>,
    /// With --data: only this split's clips.
    #[arg(long, requires = "data")]
    split: Option<Split>,
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Prints the codes of one motion file, or JSON lines for every clip of a dataset (split).
///
/// Errors: unreadable tokenizer or features (named); a clip shorter than one code (8 frames) is
/// reported on stderr with its id and left out.
pub fn encode(a: EncodeArgs) -> Result<()> {
    let device = crate::device::select(&a.device)?;
    let fallback = match (&a.motion, &a.data) {
        (Some(file), _) => dataset_of_features(file),
        (None, data) => data.clone(),
    };
    let dvq = open_tokenizer(&a.dvq, a.mean_std.as_deref(), fallback.as_deref(), &device)?;
    let out = std::io::stdout();
    let mut out = out.lock();
    match (&a.motion, &a.data) {
        (Some(file), None) => {
            let f = Features::load(file)?;
            let codes = dvq
                .encode(f.as_slice())
                .with_context(|| file.display().to_string())?;
            writeln!(out, "{}", serde_json::json!({ "codes": codes }))?;
        }
        (None, Some(data)) => {
            let ds = Dataset::open(data)?;
            let ids: Vec<&str> = match a.split {
                Some(s) => ds.split_ids(s),
                None => ds.ids().iter().map(String::as_str).collect(),
            };
            let mut skipped = 0;
            for id in ids {
                let f = Features::load(&ds.features_path(id))?;
                if f.frames() < dvq.frames_per_code() {
                    eprintln!("{id}: {} frames, fewer than one code: left out", f.frames());
                    skipped += 1;
                    continue;
                }
                let codes = dvq.encode(f.as_slice()).with_context(|| id.to_string())?;
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "id": id, "frames": f.frames(), "codes": codes })
                )?;
            }
            if skipped > 0 {
                eprintln!("{skipped} clips left out");
            }
        }
        _ => bail!("give --motion FILE.npy or --data DIR"),
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// Tokenizer, in any form `encode --dvq` takes.
    #[arg(long, default_value = "models/dvq")]
    dvq: PathBuf,
    /// Folder with the `Mean.npy`/`Std.npy` a released tokenizer was trained with (required for
    /// one: the features are written denormalised).
    #[arg(long)]
    mean_std: Option<PathBuf>,
    /// Codes, comma-separated (`3,1,4`) or a JSON list.
    #[arg(long)]
    codes: String,
    /// Writes the denormalised `(N·2^down_t, 263)` features here (`.npy`, f32): 8 frames per
    /// code for ours and GeoMotionGPT's, 4 for T2M-GPT's.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "auto")]
    device: String,
}

/// `3,1,4`, `[3, 1, 4]` or `{"codes": [3, 1, 4]}` → codes.
fn parse_codes(s: &str) -> Result<Vec<u32>> {
    let t = s.trim();
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).context("--codes: not JSON")?;
        return serde_json::from_value(v.get("codes").cloned().unwrap_or_default())
            .context("--codes: expected {\"codes\": [non-negative integers]}");
    }
    let t = t.trim_start_matches('[').trim_end_matches(']');
    t.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<u32>()
                .with_context(|| format!("--codes: `{x}` is not a code (a non-negative integer)"))
        })
        .collect()
}

/// Decodes codes to features and writes them as `.npy`.
///
/// Errors: no codes, a code outside the codebook, an unwritable output (named).
pub fn decode(a: DecodeArgs) -> Result<()> {
    let codes = parse_codes(&a.codes)?;
    let device = crate::device::select(&a.device)?;
    let dvq = open_tokenizer(&a.dvq, a.mean_std.as_deref(), None, &device)?;
    let y = dvq.decode(&codes)?;
    let (w, fps) = (dvq.width(), dvq.skeleton().fps());
    crate::motion::npy::write_npy_f32(&a.out, &[y.len() / w, w], &y)?;
    eprintln!(
        "{} codes → {} frames ({:.2} s at {fps} fps): {}",
        codes.len(),
        y.len() / w,
        (y.len() / w) as f32 / fps,
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_codes;

    #[test]
    fn codes_parse_in_three_forms_and_bad_ones_are_named() {
        assert_eq!(parse_codes("3,1,4").unwrap(), vec![3, 1, 4]);
        assert_eq!(parse_codes("[3, 1, 4]").unwrap(), vec![3, 1, 4]);
        assert_eq!(
            parse_codes(r#"{"codes": [3, 1, 4]}"#).unwrap(),
            vec![3, 1, 4]
        );
        let e = parse_codes("3,-1").unwrap_err().to_string();
        assert!(e.contains("`-1`"), "{e}");
        assert!(parse_codes(r#"{"codes": "x"}"#).is_err());
    }
}
