//! KIT-ML features from real motion: HumanML3D's clip 012314 (its `new_joints`) mapped onto the
//! KIT-ML skeleton, and a KIT-ML-layout folder made from real Bandai-Namco takes.

use std::path::Path;

use super::convert::process_joints_of;
use super::kit_layout::{kit_features_from_smpl, smpl_to_kit, write_kit_dataset};
use super::resample::resample_fps;
use crate::motion::{Dataset, Features, Joints, Skeleton, Split, kit, recover_from_ric};
use crate::testdata::humanml3d;

fn smpl_012314() -> Vec<[f64; 3]> {
    let j = Joints::load(&humanml3d().join("new_joints/012314.npy")).unwrap();
    j.as_slice().iter().map(|p| p.map(f64::from)).collect()
}

fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|c| (a[c] - b[c]).powi(2)).sum::<f64>().sqrt()
}

/// KIT-ML's `process_file` on real motion: 251 features a frame at 12.5 fps whose
/// `recover_from_ric` gives back the processed positions (the pipeline's own round trip), bones
/// kept at the motion's own lengths (no KIT target skeleton), on the floor, facing +Z.
#[test]
fn kit_features_of_real_motion_recover_their_joints() {
    let smpl = smpl_012314();
    assert_eq!(smpl.len(), 170 * 22);
    let kit_joints = smpl_to_kit(&smpl);
    let (at_12_5, frames) = resample_fps(&kit_joints, 21, 20.0, 12.5, Path::new("012314")).unwrap();
    // 170 frames at 20 fps span 8.45 s: 106 frames at 12.5 fps.
    assert_eq!(frames, 106);
    let p = process_joints_of(Skeleton::KitMl, &at_12_5);
    assert_eq!(p.features.len(), 105);
    assert!(p.features.iter().all(|r| r.len() == 251));
    let flat: Vec<f64> = p.features.iter().flatten().copied().collect();
    let rec = recover_from_ric(&flat, 251);
    let mut worst = 0.0f64;
    for t in 0..105 {
        for j in 0..21 {
            worst = worst.max(dist(rec[t * 21 + j], p.aligned_global(t, j)));
        }
    }
    println!("KIT-ML recover_from_ric round trip: max |Δ| = {worst:.2e} mm");
    assert!(worst < 1e-6, "{worst} mm");
    // Bones keep the motion's own lengths, in millimetres: the right shin (knee 12 → ankle 13)
    // is SMPL's right knee 5 → ankle 8.
    let shin = dist(p.global[0][12], p.global[0][13]);
    let smpl_shin = 1000.0 * dist(smpl[5], smpl[8]);
    assert!((shin - smpl_shin).abs() < 1e-6, "{shin} vs {smpl_shin}");
    // On the floor, a standing person's head 1.3–2 m up, the root starting at x = z = 0.
    let lowest = p
        .global
        .iter()
        .flatten()
        .map(|v| v[1])
        .fold(f64::MAX, f64::min);
    assert!(lowest.abs() < 1e-9);
    let head = p.global[0][4][1];
    assert!((1300.0..2000.0).contains(&head), "head at {head} mm");
    assert!(p.global[0][0][0].abs() < 1e-9 && p.global[0][0][2].abs() < 1e-9);
    // Facing +Z on frame 0: right hip − left hip + right shoulder − left shoulder points −X.
    let g = &p.global[0];
    let across: Vec<f64> = (0..3)
        .map(|c| g[11][c] - g[16][c] + g[5][c] - g[8][c])
        .collect();
    assert!(
        across[0] < 0.0 && across[2].abs() < 0.05 * across[0].abs(),
        "{across:?}"
    );
    // Foot contacts are the last 4 features and only 0 or 1.
    assert!(
        flat.chunks(251)
            .all(|r| r[247..].iter().all(|&c| c == 0.0 || c == 1.0))
    );

    // The library entry point gives the same features as float32.
    let f = kit_features_from_smpl(&smpl, Path::new("012314")).unwrap();
    assert_eq!(
        (f.frames(), f.width(), f.skeleton()),
        (105, 251, Skeleton::KitMl)
    );
    let joints = f.joints();
    assert_eq!(joints.frame(0).len(), 21);
    // In metres once recovered: the head 1.3–2 m up.
    assert!((1.3..2.0).contains(&joints.frame(0)[4][1]));
}

/// A KIT-ML-layout folder built from real takes (the dataset-2 waves with the left hand and
/// walks turning left, through our corpus builder, then [`write_kit_dataset`]) opens as KIT-ML:
/// 251-d features, 21 joints in metres, 12.5 fps, `new_joints` in millimetres, Mean/Std of 251,
/// the clips 12.5/20 as many frames as their HumanML3D-layout originals.
#[test]
fn a_kit_ml_folder_from_real_takes_opens_as_kit_ml() {
    let corpus =
        crate::motion::import::corpus::dataset2_corpus(&["wave-left-hand", "walk-turn-left"]);
    // A caption of 1–2 s of a clip, as HumanML3D's texts have them.
    let src = Dataset::open(corpus.path()).unwrap();
    let ranged = src.split_ids(Split::Test)[0].to_string();
    let texts = src.texts_path(&ranged);
    let mut t = std::fs::read_to_string(&texts).unwrap();
    t.push_str("a person waves.#a/DET person/NOUN wave/VERB#1.0#2.0\n");
    std::fs::write(&texts, t).unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = write_kit_dataset(corpus.path(), out.path()).unwrap();
    assert_eq!(report.clips, src.ids().len(), "{:?}", report.skipped);
    let ds = Dataset::open(out.path()).unwrap();
    assert_eq!(ds.skeleton(), Skeleton::KitMl);
    assert_eq!(ds.normalizer().unwrap().width(), 251);
    assert_eq!(
        ds.split_ids(Split::Train).len(),
        src.split_ids(Split::Train).len()
    );
    for id in ds.split_ids(Split::Test) {
        let clip = ds.load_clip(id).unwrap();
        assert_eq!(clip.features.skeleton(), Skeleton::KitMl);
        assert_eq!(clip.joints.skeleton().fps(), kit::FPS);
        assert_eq!(clip.joints.frame(0).len(), 21);
        assert!(!clip.captions.is_empty());
        // T frames at 20 fps span (T − 1)/20 s: ⌊(T − 1)·12.5/20⌋ + 1 frames at 12.5 fps, one
        // fewer rows of features.
        let t20 = src.load_features(id).unwrap().frames();
        let t = clip.features.frames();
        assert_eq!(t, (t20 - 1) * 125 / 200, "{id}: {t} rows from {t20}");
        let stored = Joints::load(&ds.joints_path(id)).unwrap();
        assert_eq!(stored.skeleton(), Skeleton::KitMl);
        let d = stored
            .as_slice()
            .iter()
            .zip(clip.joints.as_slice())
            .map(|(a, b)| (0..3).map(|c| (a[c] - b[c]).abs()).fold(0.0f32, f32::max))
            .fold(0.0f32, f32::max);
        assert!(
            d < 1e-4,
            "{id}: new_joints differ from recover_from_ric by {d} m"
        );
    }
    // The range keeps its seconds under the loader's int(tag·20) rule: 1–2 s is frames 12–25 at
    // 12.5 fps, tags 0.625–1.25.
    let kit_texts = std::fs::read_to_string(ds.texts_path(&ranged)).unwrap();
    assert!(
        kit_texts.ends_with("a person waves.#a/DET person/NOUN wave/VERB#0.625#1.25\n"),
        "{kit_texts}"
    );
    // A HumanML3D clip dropped into the KIT-ML folder is refused by name.
    std::fs::copy(
        humanml3d().join("new_joint_vecs/012314.npy"),
        out.path().join("new_joint_vecs/012314.npy"),
    )
    .unwrap();
    let ds = Dataset::open(out.path()).unwrap();
    let e = ds.load_clip("012314").unwrap_err().to_string();
    assert!(
        e.contains("012314.npy") && e.contains("KIT-ML dataset"),
        "{e}"
    );
    // And a KIT-ML features file reads as KIT-ML wherever it is.
    let id = &ds.split_ids(Split::Test)[0];
    let f = Features::load(&ds.features_path(id)).unwrap();
    assert_eq!(f.skeleton(), Skeleton::KitMl);
}
