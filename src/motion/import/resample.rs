//! Resampling joint positions to HumanML3D's 20 fps (or KIT-ML's 12.5).

use std::path::Path;

use crate::motion::FPS;
use crate::motion::error::{MotionError, Result};
use crate::motion::limits::{MAX_FRAMES_20FPS, check_fps};

/// Resamples `(T, J, 3)` positions at `fps` to 20 fps: frame k is the source at time `k / 20` s,
/// linearly interpolated between the two nearest source frames (an exact pick when `fps` is a
/// multiple of 20, e.g. 60 → every 3rd frame, 120 → every 6th). Returns the positions
/// `(T', J, 3)` and the new frame count T'.
///
/// Errors (naming `source`): `joints` is 0, `fps` outside
/// [`MIN_FPS`](crate::motion::limits::MIN_FPS)`..=`[`MAX_FPS`](crate::motion::limits::MAX_FPS),
/// or more than [`MAX_FRAMES_20FPS`] output frames; nothing is allocated before these checks.
pub fn resample_to_20fps(
    positions: &[[f64; 3]],
    joints: usize,
    fps: f64,
    source: &Path,
) -> Result<(Vec<[f64; 3]>, usize)> {
    resample_fps(positions, joints, fps, FPS as f64, source)
}

/// [`resample_to_20fps`] to any `target` rate (frames per second, e.g. KIT-ML's 12.5): frame k
/// is the source at time `k / target` s. Errors as [`resample_to_20fps`], and for a target rate
/// outside the accepted range.
pub fn resample_fps(
    positions: &[[f64; 3]],
    joints: usize,
    fps: f64,
    target: f64,
    source: &Path,
) -> Result<(Vec<[f64; 3]>, usize)> {
    if joints == 0 {
        return Err(MotionError::Invalid {
            path: source.to_path_buf(),
            msg: "no joints to resample".into(),
        });
    }
    check_fps(source, fps, "source frame rate")?;
    check_fps(source, target, "target frame rate")?;
    let frames = positions.len() / joints;
    if frames == 0 {
        return Ok((Vec::new(), 0));
    }
    let step = fps / target;
    let out_frames = ((frames - 1) as f64 / step).floor() + 1.0;
    if out_frames > MAX_FRAMES_20FPS as f64 {
        return Err(MotionError::Invalid {
            path: source.to_path_buf(),
            msg: format!(
                "{frames} frames at {fps} fps make {out_frames} frames at {target} fps, more \
                 than the limit of {MAX_FRAMES_20FPS}"
            ),
        });
    }
    let out_frames = out_frames as usize;
    let mut out = Vec::with_capacity(out_frames * joints);
    for k in 0..out_frames {
        let src = k as f64 * step;
        let i = src.floor() as usize;
        let w = src - i as f64;
        let (a, b) = (i.min(frames - 1), (i + 1).min(frames - 1));
        for j in 0..joints {
            let (p, q) = (positions[a * joints + j], positions[b * joints + j]);
            out.push(if w < 1e-9 {
                p
            } else {
                std::array::from_fn(|c| p[c] + w * (q[c] - p[c]))
            });
        }
    }
    Ok((out, out_frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ratios_pick_frames_and_30fps_interpolates() {
        let src: Vec<[f64; 3]> = (0..121).map(|t| [t as f64, 0.0, 0.0]).collect();
        let p = Path::new("take.bvh");
        let (o, n) = resample_to_20fps(&src, 1, 120.0, p).unwrap();
        assert_eq!(n, 21);
        assert_eq!(o[1][0], 6.0);
        assert_eq!(o[20][0], 120.0);
        let (o, n) = resample_to_20fps(&src[..31], 1, 30.0, p).unwrap();
        assert_eq!(n, 21);
        assert!((o[1][0] - 1.5).abs() < 1e-12);
        assert_eq!(o[20][0], 30.0);
    }

    /// `Frame Time: 1000` once resampled 300 frames into 6 million; zero joints divided by zero.
    #[test]
    fn absurd_rates_and_lengths_are_errors_before_any_allocation() {
        let p = Path::new("take.bvh");
        let src = vec![[0.0; 3]; 300 * 22];
        let e = resample_to_20fps(&src, 22, 0.001, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("take.bvh") && e.contains("0.001"), "{e}");
        for fps in [0.0, -20.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(resample_to_20fps(&src, 22, fps, p).is_err(), "{fps}");
        }
        assert!(resample_to_20fps(&src, 0, 30.0, p).is_err());
        // 60,000 frames at 1 fps: 1.2 million frames at 20 fps, over the limit.
        let long = vec![[0.0; 3]; 60_000];
        let e = resample_to_20fps(&long, 1, 1.0, p).unwrap_err().to_string();
        assert!(e.contains("more than the limit"), "{e}");
        assert_eq!(resample_to_20fps(&long, 1, 20.0, p).unwrap().1, 60_000);
    }
}
