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
