//! What a motion does and whether it is physically plausible, from its joint positions
//! `(T, J, 3)` in metres (Y up, the floor at y = 0, the first frame facing +Z as
//! `recover_from_ric` returns it): where the root went, how high the wrists got, and the three
//! figures text-to-motion papers report beside FID for physical sanity (e.g. PhysDiff, Yuan et
//! al. 2023; GMD, Karunratanakul et al. 2023): foot skating, floor penetration and jitter.

use crate::motion::Skeleton;

/// A foot joint counts as on the floor below this height, metres (GMD's 5 cm).
pub const FOOT_ON_FLOOR_M: f32 = 0.05;

/// What a motion does: the checks `geomotion generate` prints and its tests assert.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct MotionFacts {
    /// Root displacement along +Z (the first frame's facing) from the first to the last frame.
    pub forward_m: f32,
    /// Root displacement along X, absolute.
    pub sideways_m: f32,
    /// Highest wrist height over the motion.
    pub wrist_max_m: f32,
    /// Highest (wrist − head) height over the motion: > 0 when a hand went above the head.
    pub wrist_above_head_m: f32,
    /// Highest (lower wrist − head) height over the motion: > 0 when both hands were above the
    /// head in the same frame.
    pub both_wrists_above_head_m: f32,
}

impl MotionFacts {
    /// Facts of `(T, J, 3)` positions of `skeleton` (metres); all 0 for no frame.
    pub fn of(joints: &[[f32; 3]], skeleton: Skeleton) -> Self {
        let n = skeleton.n_joints();
        let frames: Vec<&[[f32; 3]]> = joints.chunks_exact(n).collect();
        let (Some(first), Some(last)) = (frames.first(), frames.last()) else {
            return Self::default();
        };
        let [l, r] = skeleton.wrists();
        let head = skeleton.head();
        let mut wrist_max = f32::MIN;
        let mut above = f32::MIN;
        let mut both = f32::MIN;
        for f in &frames {
            let w = f[l][1].max(f[r][1]);
            wrist_max = wrist_max.max(w);
            above = above.max(w - f[head][1]);
            both = both.max(f[l][1].min(f[r][1]) - f[head][1]);
        }
        Self {
            forward_m: last[0][2] - first[0][2],
            sideways_m: (last[0][0] - first[0][0]).abs(),
            wrist_max_m: wrist_max,
            wrist_above_head_m: above,
            both_wrists_above_head_m: both,
        }
    }
}

/// Physical sanity of a motion (or the mean over many).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Physics {
    /// Foot skating: mean horizontal speed (m/s) of the foot-contact joints
    /// ([`Skeleton::foot_contact_joints`]) over the frames where that joint is within
    /// [`FOOT_ON_FLOOR_M`] of the floor in both frames; 0 for a foot that never touches it.
    pub skating_m_s: f32,
    /// Floor penetration: mean over frames of how far the lowest joint is below the floor
    /// (metres, 0 when above it).
    pub penetration_m: f32,
    /// Jitter: mean magnitude of the joints' jerk (third finite difference of position, m/s³).
    pub jitter_m_s3: f32,
}

impl Physics {
    /// The figures of `(T, J, 3)` positions in metres of `skeleton` at its frame rate.
    pub fn of(joints: &[[f32; 3]], skeleton: Skeleton) -> Self {
        let n = skeleton.n_joints();
        let fps = skeleton.fps();
        let frames: Vec<&[[f32; 3]]> = joints.chunks_exact(n).collect();
        let (mut skate, mut skate_n) = (0.0f64, 0usize);
        for w in frames.windows(2) {
            for j in skeleton.foot_contact_joints() {
                let (a, b) = (w[0][j], w[1][j]);
                if a[1] < FOOT_ON_FLOOR_M && b[1] < FOOT_ON_FLOOR_M {
                    let d = ((b[0] - a[0]).powi(2) + (b[2] - a[2]).powi(2)).sqrt();
                    skate += (d * fps) as f64;
                    skate_n += 1;
                }
            }
        }
        let penetration: f64 = frames
            .iter()
            .map(|f| {
                let low = f.iter().map(|p| p[1]).fold(f32::INFINITY, f32::min);
                (-low).max(0.0) as f64
            })
            .sum();
        let (mut jerk, mut jerk_n) = (0.0f64, 0usize);
        for w in frames.windows(4) {
            for j in 0..n {
                let d: f32 = (0..3)
                    .map(|c| {
                        (w[3][j][c] - 3.0 * w[2][j][c] + 3.0 * w[1][j][c] - w[0][j][c]).powi(2)
                    })
                    .sum::<f32>()
                    .sqrt();
                jerk += (d * fps * fps * fps) as f64;
                jerk_n += 1;
            }
        }
        Self {
            skating_m_s: (skate / skate_n.max(1) as f64) as f32,
            penetration_m: (penetration / frames.len().max(1) as f64) as f32,
            jitter_m_s3: (jerk / jerk_n.max(1) as f64) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic 22-joint figure: every joint at `height` + its index·5 cm, the root moving
    /// `step` metres a frame along +Z and the feet sliding with it.
    fn walker(frames: usize, step: f32, height: f32) -> Vec<[f32; 3]> {
        (0..frames)
            .flat_map(|t| {
                (0..22).map(move |j| [0.1 * j as f32, height + 0.05 * j as f32, step * t as f32])
            })
            .collect()
    }

    #[test]
    fn facts_and_physics_of_known_motions() {
        let s = Skeleton::HumanMl3d;
        // 21 frames moving 5 cm a frame at 20 fps: 1 m forward at 1 m/s.
        let m = walker(21, 0.05, 0.0);
        let f = MotionFacts::of(&m, s);
        assert!(
            (f.forward_m - 1.0).abs() < 1e-5 && f.sideways_m == 0.0,
            "{f:?}"
        );
        // Right wrist (21) at 1.05 m, head (15) at 0.75 m.
        assert!((f.wrist_max_m - 1.05).abs() < 1e-5);
        assert!((f.wrist_above_head_m - 0.30).abs() < 1e-5);
        // The left wrist (20) at 1.00 m: the lower of the two is 0.25 m above the head.
        assert!((f.both_wrists_above_head_m - 0.25).abs() < 1e-5);
        let p = Physics::of(&m, s);
        // Foot joints 7, 10, 8, 11 sit at 0.35 m and more: never on the floor.
        assert_eq!(p.skating_m_s, 0.0);
        assert_eq!(p.penetration_m, 0.0);
        // Constant velocity: no jerk.
        assert!(p.jitter_m_s3 < 1e-3, "{p:?}");
        // Sunk 0.5 m: the feet slide on the floor at 1 m/s, the root is 0.5 m under it.
        let p = Physics::of(&walker(21, 0.05, -0.5), s);
        assert!((p.skating_m_s - 1.0).abs() < 1e-4, "{p:?}");
        assert!((p.penetration_m - 0.5).abs() < 1e-6);
        // Every joint up 1 cm every other frame: the third difference of (0, 1, 0, 1) cm is
        // 4 cm a frame³, 320 m/s³ at 20 fps.
        let mut shaky = walker(8, 0.0, 1.0);
        for t in (1..8).step_by(2) {
            for j in 0..22 {
                shaky[t * 22 + j][1] += 0.01;
            }
        }
        let p = Physics::of(&shaky, s);
        assert!((p.jitter_m_s3 - 0.04 * 8000.0).abs() < 1.0, "{p:?}");
    }
}
