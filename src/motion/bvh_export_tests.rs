//! BVH export read back by the studio's own importer (the SMPL rig map, detected from the joint
//! names): real demo clips come back joint for joint.

use std::path::PathBuf;

use super::*;
use crate::motion::import::file::{ImportOptions, import_motion};

fn demo_joints(id: &str) -> Joints {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let ds = crate::motion::Dataset::open(&demo).unwrap();
    ds.load_clip(id).unwrap().features.joints()
}

/// Written and imported again (rig `smpl` detected, centimetres, 20 fps), a real walk and a
/// real bow keep every joint within 1 mm in every frame (0.1 mm measured), and
/// the end effectors the facts are measured on (wrists, head, feet) within the same bound.
#[test]
fn exported_bvh_imports_back_to_the_same_joints() {
    for id in ["dataset-1_walk_angry_001", "dataset-1_bow_giant_001"] {
        let joints = demo_joints(id);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{id}.bvh"));
        write_bvh(&path, &joints, 20.0).unwrap();
        let back = import_motion(&path, &ImportOptions::default()).unwrap();
        assert_eq!(back.rig, "smpl");
        assert_eq!(back.frames(), joints.frames(), "{id}");
        let (mut worst, mut sum, mut n) = (0.0f64, 0.0f64, 0usize);
        for t in 0..joints.frames() {
            for j in 0..22 {
                let a = joints.frame(t)[j];
                let b = back.joints[t * 22 + j];
                let d = ((a[0] as f64 - b[0]).powi(2)
                    + (a[1] as f64 - b[1]).powi(2)
                    + (a[2] as f64 - b[2]).powi(2))
                .sqrt();
                worst = worst.max(d);
                sum += d;
                n += 1;
            }
        }
        eprintln!("{id}: worst {:.4} m, mean {:.5} m", worst, sum / n as f64);
        assert!(worst < 0.001, "{id}: worst joint error {worst} m");
        assert!(
            sum / (n as f64) < 0.0002,
            "{id}: mean joint error {}",
            sum / n as f64
        );
    }
}

/// The header names the 22 joints once each, root first, with end sites on the five leaves; a
/// KIT-ML clip, a single frame and a zero frame rate are refused by name.
#[test]
fn the_hierarchy_is_smpl_and_bad_input_is_refused() {
    let joints = demo_joints("dataset-1_walk_angry_001");
    let text = joints_to_bvh(&joints, 20.0, Path::new("x.bvh")).unwrap();
    assert!(text.starts_with("HIERARCHY\nROOT Pelvis\n"));
    for name in BVH_JOINT_NAMES.iter().skip(1) {
        assert_eq!(
            text.matches(&format!("JOINT {name}\n")).count(),
            1,
            "{name}"
        );
    }
    assert_eq!(text.matches("End Site").count(), 5);
    assert!(text.contains(&format!(
        "Frames: {}\nFrame Time: 0.050000\n",
        joints.frames()
    )));
    let e = joints_to_bvh(&joints, 0.0, Path::new("x.bvh"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.bvh") && e.contains("frame rate"), "{e}");
    let one = Joints::new(joints.frame(0).to_vec(), Path::new("one")).unwrap();
    assert!(joints_to_bvh(&one, 20.0, Path::new("x.bvh")).is_err());
    let kit =
        Joints::with_skeleton(vec![[0.0; 3]; 21 * 2], Skeleton::KitMl, Path::new("k")).unwrap();
    let e = joints_to_bvh(&kit, 12.5, Path::new("k.bvh"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("SMPL"), "{e}");
}

/// A real walk turned 1.5 times about the vertical over its length: no channel jumps by 90° or
/// more between frames (a wrap at ±180°, a switch to the other Euler triple or a locked middle
/// angle would), the root's yaw (its Yrotation, the last channel) runs on past 180° to span more than a turn, and
/// the importer still gives back every joint within 1 mm.
#[test]
fn angles_stay_continuous_through_whole_turns() {
    let joints = demo_joints("dataset-1_walk_angry_001");
    let n = joints.frames();
    let turned: Vec<[f32; 3]> = (0..n)
        .flat_map(|t| {
            let a = 3.0 * std::f32::consts::PI * t as f32 / n as f32;
            let (s, c) = a.sin_cos();
            joints
                .frame(t)
                .iter()
                .map(move |p| [c * p[0] + s * p[2], p[1], -s * p[0] + c * p[2]])
                .collect::<Vec<_>>()
        })
        .collect();
    let turned = Joints::new(turned, Path::new("turned")).unwrap();
    let text = joints_to_bvh(&turned, 20.0, Path::new("t.bvh")).unwrap();
    let rows: Vec<Vec<f64>> = text
        .split("Frame Time: 0.050000\n")
        .nth(1)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), n);
    for w in rows.windows(2) {
        for (c, (a, b)) in w[0].iter().zip(&w[1]).enumerate().skip(3) {
            let j = (c - 3) / 3 * 3 + 3;
            assert!(
                (a - b).abs() < 90.0,
                "channel {c}: {a} → {b}; joint's zyx {:?} → {:?}",
                &w[0][j..j + 3],
                &w[1][j..j + 3]
            );
        }
    }
    let spread = rows.iter().map(|r| r[5]).fold(f64::MIN, f64::max)
        - rows.iter().map(|r| r[5]).fold(f64::MAX, f64::min);
    assert!(spread > 360.0, "the root's yaw spans {spread}°");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turned.bvh");
    std::fs::write(&path, text).unwrap();
    let back = import_motion(&path, &ImportOptions::default()).unwrap();
    for t in 0..n {
        for j in 0..22 {
            let (a, b) = (turned.frame(t)[j], back.joints[t * 22 + j]);
            let d = (0..3)
                .map(|k| (a[k] as f64 - b[k]).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(d < 0.001, "frame {t} joint {j}: {d} m");
        }
    }
}

/// A frame whose hips coincide has no pelvis frame: refused, naming the frame.
#[test]
fn a_frame_without_a_pelvis_frame_is_named() {
    let joints = demo_joints("dataset-1_walk_angry_001");
    let mut p = joints.as_slice().to_vec();
    p[3 * 22 + 1] = p[3 * 22 + 2];
    let bad = Joints::new(p, Path::new("bad")).unwrap();
    let e = joints_to_bvh(&bad, 20.0, Path::new("bad.bvh"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.bvh") && e.contains("frame 3"), "{e}");
}

/// Both channel orders give back the rotation they decompose, as the reader composes it
/// (`euler_intrinsic`, in listed order), including at the locked middle angle ±90°, and the
/// other equivalent triple that `continuous` may pick is the same rotation.
#[test]
fn euler_angles_compose_back_in_channel_order() {
    use crate::motion::rotation::euler_intrinsic;
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let axes = |o: EulerOrder| match o {
        EulerOrder::Zyx => [2, 1, 0],
        EulerOrder::Zxy => [2, 0, 1],
    };
    for order in [EulerOrder::Zyx, EulerOrder::Zxy] {
        let ax = axes(order);
        let compose = |a: [f64; 3]| euler_intrinsic((0..3).map(|i| (ax[i], a[i])));
        let locked = std::f64::consts::FRAC_PI_2;
        let mut cases: Vec<[f64; 3]> = (0..200)
            .map(|_| std::array::from_fn(|_| rng.random_range(-3.1..3.1)))
            .collect();
        cases.push([0.4, locked, -0.3]);
        cases.push([-1.0, -locked, 0.7]);
        for a in cases {
            let m = compose(a);
            let nm = Matrix3::from_fn(|r, c| m[r][c]);
            let got = order.angles(&nm);
            let pi = std::f64::consts::PI;
            for b in [got, [got[0] + pi, pi - got[1], got[2] + pi]] {
                let back = compose(b);
                for r in 0..3 {
                    for c in 0..3 {
                        assert!(
                            (back[r][c] - m[r][c]).abs() < 1e-9,
                            "{order:?} {a:?} → {b:?}"
                        );
                    }
                }
            }
        }
    }
}
