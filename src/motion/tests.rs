//! Tests of the motion core on the real HumanML3D reference files, and of every kind of bad
//! input (built in a temporary folder from the real files). Both data tiers hold Mean/Std and
//! clip 012314; the fixture tier's split lists are trimmed (see `crate::testdata`).

use std::path::Path;

use super::npy::{read_npy, write_npy_f32, write_npy_f64};
use super::*;
use crate::testdata::{by_tier, humanml3d};

fn max_abs_diff(a: &[[f32; 3]], b: &[[f32; 3]]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(p, q)| (0..3).map(move |k| (p[k] - q[k]).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn recover_from_ric_reproduces_new_joints_f32() {
    let root = humanml3d();
    let features = Features::load(&root.join("new_joint_vecs/012314.npy")).unwrap();
    let reference = Joints::load(&root.join("new_joints/012314.npy")).unwrap();
    assert_eq!(features.frames(), 170);
    let joints = features.joints();
    let err = max_abs_diff(joints.as_slice(), reference.as_slice());
    println!("012314 recover_from_ric f32: max |Δ| = {err:.3e} m over 170×22 joints");
    assert!(err <= 1e-5, "max error {err} m");
}

#[test]
fn recover_from_ric_reproduces_new_joints_f64() {
    let root = humanml3d();
    // Read the float32 file as float64 and run the whole recovery in float64.
    let f = read_npy::<f64>(&root.join("new_joint_vecs/012314.npy")).unwrap();
    let reference = read_npy::<f64>(&root.join("new_joints/012314.npy")).unwrap();
    let joints = recover_from_ric(&f.data, N_FEATURES);
    let err = joints
        .iter()
        .flatten()
        .zip(&reference.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("012314 recover_from_ric f64: max |Δ| = {err:.3e} m");
    assert!(err <= 1e-5, "max error {err} m");

    // And a float64 file on disk reads the same.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("012314_f64.npy");
    write_npy_f64(&p, &f.shape, &f.data).unwrap();
    let again = Features::load(&p).unwrap();
    assert_eq!(again.frames(), 170);
    let err = max_abs_diff(
        again.joints().as_slice(),
        Joints::load(&root.join("new_joints/012314.npy"))
            .unwrap()
            .as_slice(),
    );
    assert!(err <= 1e-5, "float64 file: max error {err} m");
}

#[test]
fn opens_reference_folder_and_loads_clip() {
    let ds = Dataset::open(&humanml3d()).unwrap();
    assert_eq!(ds.ids(), ["012314"]);
    assert_eq!(ds.split_of("012314"), Some(Split::Train));
    // Full: 23,384 + 1,460 + 4,384 listed. Fixture: the lists trimmed to 10 + 5 + 5 ids
    // (012314, M012314 and the first 8 train ids; the first 5 val and test ids). One of them
    // has features here.
    assert_eq!(ds.listed_without_features(), by_tier(29_228, 20) - 1);
    let clip = ds.load_clip("012314").unwrap();
    assert_eq!(clip.joints.frames(), 170);
    assert!(clip.captions.is_empty(), "HumanML3D texts are not shipped");
    let n = ds.normalizer().unwrap();
    assert_eq!(n.mean.len(), 263);
    let mut x = clip.features.as_slice().to_vec();
    n.normalize(&mut x);
    n.denormalize(&mut x);
    let err = x
        .iter()
        .zip(clip.features.as_slice())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-4, "normalise round trip {err}");
    // Foot contacts are 0/1 and the feet touch the ground at some point in a tennis serve.
    let contacts: usize = (0..170)
        .map(|t| clip.features.foot_contact(t).iter().filter(|c| **c).count())
        .sum();
    assert!(contacts > 0);
}

/// A copy of the reference folder's layout with one clip, for corrupting.
fn scratch_dataset() -> tempfile::TempDir {
    let src = humanml3d();
    let dir = tempfile::tempdir().unwrap();
    for sub in ["new_joint_vecs", "new_joints", "texts"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for f in ["Mean.npy", "Std.npy", "train.txt", "val.txt", "test.txt"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::copy(
        src.join("new_joint_vecs/012314.npy"),
        dir.path().join("new_joint_vecs/012314.npy"),
    )
    .unwrap();
    dir
}

fn err_of(ds: &Dataset, id: &str) -> String {
    match ds.load_clip(id) {
        Ok(_) => panic!("{id}: bad input was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_npy_files_are_named() {
    let dir = scratch_dataset();
    let vecs = dir.path().join("new_joint_vecs");
    let good = std::fs::read(vecs.join("012314.npy")).unwrap();
    let real = read_npy::<f32>(&vecs.join("012314.npy")).unwrap();

    // Short: half the data is missing.
    std::fs::write(vecs.join("short.npy"), &good[..good.len() / 2]).unwrap();
    // Corrupt: not a numpy header at all.
    std::fs::write(vecs.join("corrupt.npy"), b"this is not an npy file").unwrap();
    // KIT-ML's width (251).
    let kit: Vec<f32> = real
        .data
        .chunks_exact(263)
        .flat_map(|r| r[..251].to_vec())
        .collect();
    write_npy_f32(&vecs.join("kit.npy"), &[170, 251], &kit).unwrap();
    // Another wrong width.
    write_npy_f32(&vecs.join("narrow.npy"), &[170, 3], &kit[..510]).unwrap();
    // NaN frames.
    let mut nan = real.data.clone();
    for v in &mut nan[42 * 263 + 10..42 * 263 + 20] {
        *v = f32::NAN;
    }
    write_npy_f32(&vecs.join("nan.npy"), &[170, 263], &nan).unwrap();
    // Zero frames.
    write_npy_f32(&vecs.join("empty.npy"), &[0, 263], &[]).unwrap();

    let ds = Dataset::open(dir.path()).unwrap();
    let e = err_of(&ds, "short");
    assert!(e.contains("short.npy") && e.contains("ends early"), "{e}");
    let e = err_of(&ds, "corrupt");
    assert!(e.contains("corrupt.npy") && e.contains("header"), "{e}");
    let e = err_of(&ds, "kit");
    assert!(
        e.contains("kit.npy") && e.contains("KIT-ML") && e.contains("HumanML3D dataset"),
        "{e}"
    );
    let e = err_of(&ds, "narrow");
    assert!(e.contains("narrow.npy") && e.contains("[170, 3]"), "{e}");
    let e = err_of(&ds, "nan");
    assert!(
        e.contains("nan.npy") && e.contains("frame 42") && e.contains("value 10"),
        "{e}"
    );
    let e = err_of(&ds, "empty");
    assert!(e.contains("empty.npy"), "{e}");
    let e = err_of(&ds, "missing");
    assert!(e.contains("no clip with id `missing`"), "{e}");
    // The good clip still loads beside the bad ones.
    assert!(ds.load_clip("012314").is_ok());
}

#[test]
fn bad_texts_files_are_named() {
    let dir = scratch_dataset();
    let texts = dir.path().join("texts");
    let ds = Dataset::open(dir.path()).unwrap();
    assert!(ds.load_clip("012314").unwrap().captions.is_empty());

    std::fs::write(texts.join("012314.txt"), "").unwrap();
    let e = err_of(&ds, "012314");
    assert!(e.contains("012314.txt") && e.contains("no caption"), "{e}");

    std::fs::write(
        texts.join("012314.txt"),
        "a person serves a tennis ball.#a/DET person/NOUN#0.0#0.0\nno hashes here\n",
    )
    .unwrap();
    let e = err_of(&ds, "012314");
    assert!(e.contains("012314.txt:2"), "{e}");

    std::fs::write(
        texts.join("012314.txt"),
        "a person serves a tennis ball.#a/DET person/NOUN serve/VERB#0.0#0.0\n",
    )
    .unwrap();
    let clip = ds.load_clip("012314").unwrap();
    assert_eq!(clip.captions[0].text, "a person serves a tennis ball.");
}

#[test]
fn missing_or_bad_mean_std_is_named() {
    let dir = scratch_dataset();
    std::fs::remove_file(dir.path().join("Mean.npy")).unwrap();
    let ds = Dataset::open(dir.path()).unwrap();
    let e = ds.normalizer().unwrap_err().to_string();
    assert!(e.contains("Mean.npy") && e.contains("missing"), "{e}");

    std::fs::copy(humanml3d().join("Mean.npy"), dir.path().join("Mean.npy")).unwrap();
    write_npy_f32(&dir.path().join("Std.npy"), &[251], &[1.0; 251]).unwrap();
    let e = ds.normalizer().unwrap_err().to_string();
    assert!(e.contains("Std.npy") && e.contains("(263,)"), "{e}");

    let mut std = vec![1.0f32; 263];
    std[100] = 0.0;
    write_npy_f32(&dir.path().join("Std.npy"), &[263], &std).unwrap();
    let e = ds.normalizer().unwrap_err().to_string();
    assert!(e.contains("Std.npy") && e.contains("feature 100"), "{e}");
}

#[test]
fn not_a_dataset_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = Dataset::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("new_joint_vecs"), "{e}");
    let e = Dataset::open(Path::new("/nonexistent/geomotion"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/geomotion"), "{e}");
}
