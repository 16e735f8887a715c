//! Where tests find the real motion data, in two tiers, both run on real capture files.
//!
//! - **Full tier**: `$GEOMOTION_SHARED_DATA` when set (and not empty), else `../shared/data`
//!   beside the repository when it holds its `README.md`. Tests assert the numbers of the whole
//!   data set (e.g. 1,645 corpus sources).
//! - **Fixture tier**: otherwise the small subset committed in `tests/data/shared/` (same layout,
//!   a few takes of each source; its `README.md` lists them and their licences), so a clone with
//!   no `../shared` beside it still passes `cargo test --release`. Tests assert exact numbers
//!   counted from the fixture files there.
//!
//! `GEOMOTION_REQUIRE_FULL_DATA=1` forbids the fallback: when the full data is not found, every
//! test that reads data panics and says where it looked. CI sets it, so CI can never go green on
//! the fixture tier by accident.
//!
//! `tests/render.rs` includes this file with `#[path]`, so the integration tests resolve the
//! data by the same rule.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The data folder the tests read and whether it is the full data.
struct Resolved {
    dir: PathBuf,
    full: bool,
}

/// The committed fixture subset, `tests/data/shared`.
fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/shared")
}

/// Resolves the data folder once per test binary (the environment does not change meanwhile).
/// A failed resolution panics in every test that asks, not only the first.
fn resolved() -> &'static Resolved {
    static RESOLVED: OnceLock<Resolved> = OnceLock::new();
    RESOLVED.get_or_init(|| {
        let fixture = fixture_dir();
        let require_full =
            std::env::var("GEOMOTION_REQUIRE_FULL_DATA").is_ok_and(|v| !v.is_empty() && v != "0");
        let from_env = std::env::var_os("GEOMOTION_SHARED_DATA").filter(|v| !v.is_empty());
        let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        let (dir, looked) = match from_env {
            // An explicit folder is used as given; a wrong one is an error, not a fallback.
            Some(v) => {
                let dir = PathBuf::from(v);
                assert!(
                    dir.join("README.md").exists(),
                    "GEOMOTION_SHARED_DATA={} has no README.md: not the shared data folder",
                    dir.display()
                );
                (dir, "GEOMOTION_SHARED_DATA")
            }
            None if beside.join("README.md").exists() => (beside, "../shared/data"),
            None => {
                assert!(
                    !require_full,
                    "GEOMOTION_REQUIRE_FULL_DATA is set but the full test data is missing: \
                     GEOMOTION_SHARED_DATA is not set and {} has no README.md (the fixture \
                     subset {} is not allowed when the full data is required)",
                    beside.display(),
                    fixture.display()
                );
                (fixture.clone(), "the fixture tier")
            }
        };
        // Pointing GEOMOTION_SHARED_DATA at the fixture selects the fixture tier explicitly.
        let same = |a: &Path, b: &Path| {
            a.canonicalize()
                .ok()
                .is_some_and(|a| b.canonicalize().is_ok_and(|b| a == b))
        };
        let full = !same(&dir, &fixture);
        assert!(
            full || !require_full,
            "GEOMOTION_REQUIRE_FULL_DATA is set but {looked} points at the fixture subset {}",
            dir.display()
        );
        Resolved { dir, full }
    })
}

/// The shared data folder the tests read (see the module doc for the rule).
pub fn shared_data() -> PathBuf {
    resolved().dir.clone()
}

/// `true` on the full data, `false` on the committed fixture subset: tests pick their expected
/// counts with it (or with [`by_tier`]).
pub fn full_data() -> bool {
    resolved().full
}

/// `full` on the full data, `fixture` on the fixture subset.
pub fn by_tier<T>(full: T, fixture: T) -> T {
    if full_data() { full } else { fixture }
}

/// `<data>/humanml3d`: official Mean/Std, split lists and clip 012314.
pub fn humanml3d() -> PathBuf {
    shared_data().join("humanml3d")
}

/// max |a − b| over all elements of two same-shape tensors (for tests).
#[cfg(test)]
pub fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}
