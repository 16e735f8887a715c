//! Resampling joint positions to HumanML3D's 20 fps.

use crate::motion::FPS;

/// Resamples `(T, J, 3)` positions at `fps` to 20 fps: frame k is the source at time `k / 20` s,
/// linearly interpolated between the two nearest source frames (an exact pick when `fps` is a
/// multiple of 20, e.g. 60 → every 3rd frame, 120 → every 6th). Returns the new frame count.
pub fn resample_to_20fps(
    positions: &[[f64; 3]],
    joints: usize,
    fps: f64,
) -> (Vec<[f64; 3]>, usize) {
    let frames = positions.len() / joints;
    if frames == 0 {
        return (Vec::new(), 0);
    }
    let step = fps / FPS as f64;
    let out_frames = ((frames - 1) as f64 / step).floor() as usize + 1;
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
    (out, out_frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ratios_pick_frames_and_30fps_interpolates() {
        let src: Vec<[f64; 3]> = (0..121).map(|t| [t as f64, 0.0, 0.0]).collect();
        let (o, n) = resample_to_20fps(&src, 1, 120.0);
        assert_eq!(n, 21);
        assert_eq!(o[1][0], 6.0);
        assert_eq!(o[20][0], 120.0);
        let (o, n) = resample_to_20fps(&src[..31], 1, 30.0);
        assert_eq!(n, 21);
        assert!((o[1][0] - 1.5).abs() < 1e-12);
        assert_eq!(o[20][0], 30.0);
    }
}
