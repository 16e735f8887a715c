//! Paths to the real data in `../shared/data` for tests. Tests fail (they do not skip) when the
//! data is missing, saying where they looked.

use std::path::PathBuf;

/// `../shared/data` beside the repository (or `$GEOMOTION_SHARED_DATA`).
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("GEOMOTION_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        dir.join("README.md").exists(),
        "the real test data is missing: expected {} (set GEOMOTION_SHARED_DATA)",
        dir.display()
    );
    dir
}

/// `../shared/data/humanml3d`: official Mean/Std, split lists and clip 012314.
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
