//! What the motion readers accept at most, so that a corrupt or hostile file is an error and
//! never an allocation of terabytes, a stack overflow or an hour of work. Every limit is far
//! above real data (each constant says how far); the fuzzer (`src/fuzz_tests/`) checks that
//! absurd sizes end in these errors.

use std::path::Path;

use super::error::{MotionError, Result};

/// Most source frames a BVH `Frames:` header may declare or an AMC file may hold: 10 million
/// (23 hours at 120 fps; the longest take of `../shared/data` has a few thousand).
pub const MAX_SOURCE_FRAMES: usize = 10_000_000;

/// Most joints of a BVH hierarchy (joints and end sites) or bones of an ASF skeleton: 10,000
/// (real rigs have 20–200). It also bounds the BVH nesting depth: the hierarchy is parsed with an
/// explicit stack, never by recursion, so 25,000 nested `JOINT`s are this error and not a stack
/// overflow.
pub const MAX_JOINTS: usize = 10_000;

/// Largest array a reader sizes from a file's header or contents: 2 GiB (BVH channel values
/// `frames × channels × 8` bytes, forward-kinematics positions `frames × joints × 24` bytes).
/// A 10-minute 120 fps take of a 100-joint rig needs 170 MB.
pub const MAX_ARRAY_BYTES: usize = 2 << 30;

/// Slowest source frame rate accepted (BVH `Frame Time`, `--fps`): 1 frame per second. A slower
/// rate would be resampled into 20 or more frames per source frame (`Frame Time: 1000` asked
/// for 20,000 each).
pub const MIN_FPS: f64 = 1.0;

/// Fastest source frame rate accepted: 10,000 frames per second (motion capture runs at 24–480).
pub const MAX_FPS: f64 = 10_000.0;

/// Most frames at 20 fps one import produces: 1 million (13.9 hours).
pub const MAX_FRAMES_20FPS: usize = 1_000_000;

/// Largest distance from the origin, on any axis, of an imported joint: 100 km. A larger
/// coordinate is a corrupt translation or offset (a root translation of 1e39 file units once
/// gave `+inf` joints), not a capture.
pub const MAX_COORD_METRES: f64 = 1e5;

/// Largest text file (BVH, ASF, AMC, once gunzipped) the importer reads: 1 GiB (real takes are
/// under 10 MB); a gzip bomb stops here instead of filling memory.
pub const MAX_TEXT_BYTES: usize = 1 << 30;

/// Longest line of a `texts/` caption file: 16 KiB (HumanML3D's longest is under 1 KiB).
pub const MAX_CAPTION_LINE_BYTES: usize = 16 * 1024;

/// Errors unless `count` items of `item_bytes` bytes each fit in [`MAX_ARRAY_BYTES`] (an
/// overflowing product does not). `what` says what the array holds, e.g. "BVH channel values".
pub fn check_array_size(path: &Path, what: &str, count: usize, item_bytes: usize) -> Result<()> {
    match count.checked_mul(item_bytes) {
        Some(bytes) if bytes <= MAX_ARRAY_BYTES => Ok(()),
        _ => Err(MotionError::Invalid {
            path: path.to_path_buf(),
            msg: format!(
                "{what}: {count} values of {item_bytes} bytes exceed the {} GiB limit \
                 (a corrupt size in the header?)",
                MAX_ARRAY_BYTES >> 30
            ),
        }),
    }
}

/// Errors unless `fps` is within [`MIN_FPS`]`..=`[`MAX_FPS`]; `what` names where it came from.
pub fn check_fps(path: &Path, fps: f64, what: &str) -> Result<()> {
    if (MIN_FPS..=MAX_FPS).contains(&fps) {
        return Ok(());
    }
    Err(MotionError::Invalid {
        path: path.to_path_buf(),
        msg: format!(
            "{fps} frames per second ({what}) is outside {MIN_FPS}..={MAX_FPS}; \
             pass the right rate with --fps"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates_past_the_limits_are_errors_naming_the_file() {
        let p = Path::new("take.bvh");
        assert!(check_array_size(p, "values", 1000, 8).is_ok());
        let e = check_array_size(p, "values", usize::MAX, 8).unwrap_err();
        assert!(e.to_string().starts_with("take.bvh: values"), "{e}");
        assert!(check_array_size(p, "values", MAX_ARRAY_BYTES / 8 + 1, 8).is_err());
        assert!(check_fps(p, 30.0, "Frame Time").is_ok());
        for bad in [0.001, 0.0, -30.0, f64::NAN, f64::INFINITY, 1e300] {
            let e = check_fps(p, bad, "Frame Time").unwrap_err().to_string();
            assert!(e.contains("take.bvh") && e.contains("--fps"), "{e}");
        }
    }
}
