//! Fuzzing the motion readers: BVH, ASF, AMC (each through the whole import: forward
//! kinematics, rig, resampling, features), `.npy`, `texts/` caption files, split lists and
//! rig TOML files.

use std::path::{Path, PathBuf};

use super::mutate::Mutator;
use super::{Campaign, SEED, all_finite, bvh_seed, fixture, gunzip, message, repo};
use crate::cli::terminal::printable_line;
use crate::motion::import::asf::read_asf;
use crate::motion::import::file::{ImportOptions, import_motion};
use crate::motion::import::rig::Rig;
use crate::motion::limits::MAX_COORD_METRES;
use crate::motion::npy::read_npy;
use crate::motion::texts::read_texts;
use crate::motion::{Dataset, Features, Joints, Normalizer};

/// Random cases per reader (plus each reader's hand-made absurd inputs).
const BVH_CASES: usize = 2500;
const ASF_CASES: usize = 1500;
const AMC_CASES: usize = 2000;
const NPY_CASES: usize = 3000;
const TEXTS_CASES: usize = 3000;
const SPLIT_CASES: usize = 1500;
const RIG_CASES: usize = 2000;

/// A real AMC trial cut to its first `frames` frames.
fn amc_seed(frames: usize) -> String {
    let text = gunzip(&fixture("cmu/asfamc/02/02_01.amc.gz"));
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim() == (frames + 1).to_string() {
            break;
        }
        out.push(line);
    }
    out.join("\n") + "\n"
}

/// Imports `path` as the CLI does (`geomotion import`): joints, features, and the joints
/// recovered from the features must all be finite, the joints within the coordinate limit.
fn check_import(path: &Path, options: &ImportOptions) -> Result<(), String> {
    let m = message(import_motion(path, options))?;
    if let Some(v) = m
        .joints
        .iter()
        .flatten()
        .find(|v| !v.is_finite() || v.abs() > MAX_COORD_METRES)
    {
        return Err(format!("BUG: imported joint coordinate {v}"));
    }
    let f = message(m.features(0..m.frames()))?;
    all_finite(f.as_slice(), "feature")?;
    all_finite(f.joints().as_slice().iter().flatten(), "recovered joint")
}

/// `count` random mutations of the seeds in turn, written to `path` and checked by `case`
/// (after checking that every seed passes as it is).
fn mutate_seeds(
    campaign: &mut Campaign,
    seed: u64,
    seeds: &[(&str, Vec<u8>)],
    count: usize,
    path: &Path,
    names: &[&str],
    case: impl Fn() -> Result<(), String>,
) {
    // Each seed unmutated must pass: the cases are then about the mutations.
    for (label, bytes) in seeds {
        std::fs::write(path, bytes).unwrap();
        if let Err(e) = case() {
            panic!("seed {label} fails unmutated: {e}");
        }
    }
    let mut m = Mutator::new(SEED ^ seed);
    for i in 0..count {
        let (label, bytes) = &seeds[i % seeds.len()];
        let (data, what) = m.mutate(bytes);
        std::fs::write(path, &data).unwrap();
        campaign.run(&format!("{label}: {what}"), names, &case);
    }
}

#[test]
fn fuzz_bvh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.bvh");
    let bandai = bvh_seed(
        "bandai/dataset-2/dataset-2_walk-turn-left_active_001.bvh.gz",
        30,
    );
    let cmu = bvh_seed("cmu/bvh/002/002_01.bvh.gz", 30);
    let options = ImportOptions::default();
    let import = || check_import(&path, &options);
    let mut c = Campaign::new("BVH");
    let seeds = [
        (
            "bandai walk-turn-left_active_001",
            bandai.clone().into_bytes(),
        ),
        ("CMU 002_01", cmu.into_bytes()),
    ];
    mutate_seeds(&mut c, 1, &seeds, BVH_CASES, &path, &["fuzz.bvh"], import);

    // Hand-made absurd inputs, each from the Bandai take.
    let header = |key: &str, value: &str| {
        let mut lines: Vec<String> = bandai.lines().map(String::from).collect();
        let at = lines.iter().position(|l| l.starts_with(key)).unwrap();
        lines[at] = format!("{key} {value}");
        lines.join("\n")
    };
    let mut specials: Vec<(String, String)> = Vec::new();
    for frames in [
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "10000001",
        "9999999",
        "-1",
    ] {
        specials.push((format!("Frames: {frames}"), header("Frames:", frames)));
    }
    for time in ["1000", "1e-300", "0", "-0.0333", "1e-5", "NaN", "inf"] {
        specials.push((format!("Frame Time: {time}"), header("Frame Time:", time)));
    }
    let root_channels = "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation";
    for n in ["18446744073709551615", "4294967296", "7", "5", "0"] {
        let text = bandai.replacen(root_channels, &format!("CHANNELS {n} Xposition"), 1);
        specials.push((format!("root CHANNELS {n}"), text));
    }
    // Root translation 1e39 on every frame (once imported as +inf joints).
    let mut far = Vec::new();
    let mut in_motion = false;
    for (i, l) in bandai.lines().enumerate() {
        if in_motion && i > 0 && !l.starts_with("Frame") {
            let mut t: Vec<&str> = l.split_whitespace().collect();
            t[0] = "1e39";
            far.push(t.join(" "));
        } else {
            in_motion |= l.trim() == "MOTION";
            far.push(l.to_string());
        }
    }
    specials.push(("root X translation 1e39".into(), far.join("\n")));
    specials.push(("25,000 nested JOINTs".into(), nested_joints(25_000)));
    specials.push(("9,000 nested JOINTs".into(), nested_joints(9_000)));
    specials.push(("20,000 end sites".into(), many_end_sites(20_000)));
    for text in ["", "HIERARCHY", "MOTION", "HIERARCHY\nROOT", "\u{1b}[2J"] {
        specials.push((format!("file {text:?}"), text.to_string()));
    }
    for (what, text) in &specials {
        std::fs::write(&path, text).unwrap();
        c.run(what, &["fuzz.bvh"], import);
    }
    c.finish();
}

/// A BVH whose root has `depth` JOINTs nested one in another, one frame of zeros.
fn nested_joints(depth: usize) -> String {
    let mut s = String::from(
        "HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n",
    );
    for i in 0..depth {
        s += &format!("JOINT j{i}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n");
    }
    s += &"}\n".repeat(depth + 1);
    s += &format!(
        "MOTION\nFrames: 2\nFrame Time: 0.0333\n{0}\n{0}\n",
        vec!["0"; 6 + 3 * depth].join(" ")
    );
    s
}

/// A BVH whose root has `n` end sites.
fn many_end_sites(n: usize) -> String {
    let mut s = String::from(
        "HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n",
    );
    s += &"End Site\n{\nOFFSET 0 1 0\n}\n".repeat(n);
    s += "}\nMOTION\nFrames: 1\nFrame Time: 0.0333\n0 0 0\n";
    s
}

/// The ASF and a 12-frame AMC of CMU subject 02 in `dir` as `fuzz.asf` and `fuzz_01.amc`.
fn asf_amc_pair(dir: &Path) -> (PathBuf, PathBuf, ImportOptions) {
    let asf = dir.join("fuzz.asf");
    let amc = dir.join("fuzz_01.amc");
    std::fs::copy(fixture("cmu/asfamc/02/02.asf"), &asf).unwrap();
    std::fs::write(&amc, amc_seed(12)).unwrap();
    let options = ImportOptions {
        asf: Some(asf.clone()),
        ..Default::default()
    };
    (asf, amc, options)
}

#[test]
fn fuzz_asf() {
    let dir = tempfile::tempdir().unwrap();
    let (asf, amc, options) = asf_amc_pair(dir.path());
    let seed = std::fs::read(&asf).unwrap();
    // The skeleton alone, then the import of a real trial on it (whose errors may name either).
    let case = || {
        message(read_asf(&asf))?;
        check_import(&amc, &options)
    };
    let names = ["fuzz.asf", "fuzz_01.amc"];
    let mut c = Campaign::new("ASF");
    mutate_seeds(
        &mut c,
        2,
        &[("02.asf", seed.clone())],
        ASF_CASES,
        &asf,
        &names,
        case,
    );

    let text = String::from_utf8(seed).unwrap();
    let mut specials = vec![
        ("100,000-bone chain".to_string(), bone_chain(100_000)),
        ("9,000-bone chain".to_string(), bone_chain(9_000)),
        (
            "hierarchy cycle lhipjoint → lfemur → lhipjoint".into(),
            text.replace(
                "root lhipjoint rhipjoint lowerback",
                "root rhipjoint lowerback\n    lfemur lhipjoint",
            ),
        ),
        (
            "lowerback with a second parent".into(),
            text.replace(
                ":hierarchy\n  begin",
                ":hierarchy\n  begin\n    lfemur lowerback",
            ),
        ),
        (
            ":units length 0".into(),
            text.replace("length 0.45", "length 0"),
        ),
    ];
    for (what, from, to) in [
        ("bone length 1e308", "length 2.52691", "length 1e308"),
        ("direction 1e200", "direction 0.34202", "direction 1e200"),
        ("axis order XXY", "XYZ", "XXY"),
        ("dof rx rx", "dof rx ry rz", "dof rx rx"),
        ("root position 1e39", "position 0 0 0", "position 1e39 0 0"),
    ] {
        specials.push((what.to_string(), text.replacen(from, to, 1)));
    }
    for (what, body) in &specials {
        std::fs::write(&asf, body).unwrap();
        c.run(what, &names, case);
    }
    c.finish();
}

/// An ASF whose `n` bones form one chain from the root (no AMC frame fits it).
fn bone_chain(n: usize) -> String {
    let mut s = String::from(
        ":version 1.10\n:name chain\n:units\n  mass 1.0\n  length 0.45\n  angle deg\n:root\n  order TX TY TZ RX RY RZ\n  axis XYZ\n  position 0 0 0\n  orientation 0 0 0\n:bonedata\n",
    );
    for i in 0..n {
        s += &format!(
            "  begin\n    id {i}\n    name b{i}\n    direction 0 1 0\n    length 1\n    axis 0 0 0 XYZ\n    dof rx\n  end\n"
        );
    }
    s += ":hierarchy\n  begin\n    root b0\n";
    for i in 1..n {
        s += &format!("    b{} b{i}\n", i - 1);
    }
    s += "  end\n";
    s
}

#[test]
fn fuzz_amc() {
    let dir = tempfile::tempdir().unwrap();
    let (_asf, amc, options) = asf_amc_pair(dir.path());
    let seed = std::fs::read(&amc).unwrap();
    let case = || check_import(&amc, &options);
    let names = ["fuzz_01.amc"];
    let mut c = Campaign::new("AMC");
    mutate_seeds(
        &mut c,
        3,
        &[("02_01 (12 frames)", seed.clone())],
        AMC_CASES,
        &amc,
        &names,
        case,
    );

    let text = String::from_utf8(seed).unwrap();
    let root = text.lines().find(|l| l.starts_with("root ")).unwrap();
    let specials = [
        (
            "frame 18446744073709551615 then 0",
            text.replacen("\n1\n", "\n18446744073709551615\n", 1)
                .replacen("\n2\n", "\n0\n", 1),
        ),
        (
            "root translation 1e39 in frame 1",
            text.replacen(root, "root 1e39 16.7 -30.1 -2.5 -9.8 -3.0", 1),
        ),
        (
            ":RADIANS and angles of 1e300",
            text.replacen(":DEGREES", ":RADIANS", 1).replacen(
                root,
                "root 10 16 -30 1e300 1e300 1e300",
                1,
            ),
        ),
        ("200,000 empty frames", {
            let mut s = String::from(":FULLY-SPECIFIED\n:DEGREES\n");
            for f in 1..=200_000 {
                s += &format!("{f}\n");
            }
            s
        }),
        ("no frames", ":FULLY-SPECIFIED\n:DEGREES\n".to_string()),
    ];
    for (what, body) in &specials {
        std::fs::write(&amc, body).unwrap();
        c.run(what, &names, case);
    }
    c.finish();
}

#[test]
fn fuzz_npy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.npy");
    let seeds = [
        (
            "new_joint_vecs/012314.npy",
            std::fs::read(fixture("humanml3d/new_joint_vecs/012314.npy")).unwrap(),
        ),
        (
            "new_joints/012314.npy",
            std::fs::read(fixture("humanml3d/new_joints/012314.npy")).unwrap(),
        ),
        (
            "Mean.npy",
            std::fs::read(fixture("humanml3d/Mean.npy")).unwrap(),
        ),
    ];
    // Every reader of `.npy`: raw f32 and f64, features (and their joints), joints.
    let case = || {
        let a = read_npy::<f32>(&path).map(|a| a.data.len());
        let b = read_npy::<f64>(&path).map(|a| a.data.len());
        if a.is_ok() != b.is_ok() {
            return Err(format!("BUG: f32 read {a:?} but f64 read {b:?}"));
        }
        if let Ok(f) = Features::load(&path) {
            let _ = f.joints();
        }
        let _ = Joints::load(&path);
        message(a).map(|_| ())
    };
    let mut c = Campaign::new(".npy");
    let mut m = Mutator::new(SEED ^ 4);
    for i in 0..NPY_CASES {
        let (label, bytes) = &seeds[i % seeds.len()];
        // Most mutations go to the header (its first 128 bytes), the rest anywhere.
        let (data, what) = if i % 4 == 3 {
            m.mutate(bytes)
        } else {
            m.mutate_within(bytes, 0..128)
        };
        std::fs::write(&path, &data).unwrap();
        c.run(&format!("{label}: {what}"), &["fuzz.npy"], case);
    }
    let header = |dict: &str, version: u8| {
        let mut h = b"\x93NUMPY".to_vec();
        h.extend([version, 0]);
        let len = dict.len() as u32;
        if version == 1 {
            h.extend((len as u16).to_le_bytes());
        } else {
            h.extend(len.to_le_bytes());
        }
        h.extend(dict.as_bytes());
        h.extend([0u8; 64]);
        h
    };
    let dict =
        |shape: &str| format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}\n");
    let specials = [
        (
            "shape (99999999999, 263)",
            header(&dict("(99999999999, 263)"), 1),
        ),
        (
            "shape (2^63, 2^63)",
            header(&dict("(9223372036854775808, 9223372036854775808)"), 1),
        ),
        (
            "60,000 nested tuples",
            header(
                &dict(&format!("{}1{}", "(".repeat(30_000), ")".repeat(30_000))),
                1,
            ),
        ),
        ("header length 2^32 - 1", {
            let mut h = header(&dict("(1, 263)"), 2);
            h[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
            h
        }),
        (
            "descr '<f8' with 2 values",
            header(&dict("(2,)").replace("<f4", "<f8"), 1),
        ),
        ("empty", Vec::new()),
    ];
    for (what, bytes) in &specials {
        std::fs::write(&path, bytes).unwrap();
        c.run(what, &["fuzz.npy"], case);
    }
    // Mean.npy mutated beside a real Std.npy: the normalizer's reader.
    std::fs::copy(fixture("humanml3d/Std.npy"), dir.path().join("Std.npy")).unwrap();
    let mean = dir.path().join("Mean.npy");
    let normalizer = || message(Normalizer::load(dir.path())).map(|_| ());
    mutate_seeds(
        &mut c,
        5,
        &seeds[2..],
        NPY_CASES / 6,
        &mean,
        &["Mean.npy"],
        normalizer,
    );
    c.finish();
}

/// Caption files as the HumanML3D texts and the corpus builder write them.
const TEXTS_SEEDS: [&str; 2] = [
    "a man walks forward.#a/DET man/NOUN walk/VERB forward/ADV#0.0#0.0\n\
     then he jumps#then/ADV he/PRON jump/VERB#2.5#4.0\n\
     someone waves#someone/PRON wave/VERB#nan#nan\n",
    "a person walks and turns left, energetically.#a person walks and turns left energetically#0.0#0.0\n\
     someone walks and turns left energetically.#someone walks and turns left energetically#0.0#0.0\n",
];

#[test]
fn fuzz_texts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.txt");
    let case = || {
        let captions = message(read_texts(&path))?;
        for cap in &captions {
            let range = cap.frame_range(200);
            if range.start > range.end || range.end > 200 {
                return Err(format!("BUG: frame range {range:?} of 200 frames"));
            }
            if printable_line(&cap.text).chars().any(char::is_control) {
                return Err("BUG: a control character survives printable_line".into());
            }
        }
        Ok(())
    };
    let seeds: Vec<(&str, Vec<u8>)> = TEXTS_SEEDS
        .iter()
        .map(|s| ("texts", s.as_bytes().to_vec()))
        .collect();
    let mut c = Campaign::new("texts/");
    mutate_seeds(&mut c, 6, &seeds, TEXTS_CASES, &path, &["fuzz.txt"], case);
    let specials = [
        (
            "a 100,000-word caption",
            format!("{}#x#0#0\n", "word ".repeat(100_000)),
        ),
        ("1 MB of #", "#".repeat(1 << 20)),
        (
            "escape codes in a caption",
            "\u{1b}[2J\u{1b}[31ma man walks\u{7}#a#0#0\n".to_string(),
        ),
        ("CRLF lines", TEXTS_SEEDS[0].replace('\n', "\r\n")),
        ("start inf, end -inf", "ok#ok#inf#-inf\n".to_string()),
    ];
    for (what, text) in &specials {
        std::fs::write(&path, text).unwrap();
        c.run(what, &["fuzz.txt"], case);
    }
    c.finish();
}

#[test]
fn fuzz_split_lists() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("new_joint_vecs")).unwrap();
    std::fs::create_dir_all(root.join("texts")).unwrap();
    std::fs::copy(
        fixture("humanml3d/new_joint_vecs/012314.npy"),
        root.join("new_joint_vecs/012314.npy"),
    )
    .unwrap();
    std::fs::write(root.join("texts/012314.txt"), TEXTS_SEEDS[0]).unwrap();
    let path = root.join("train.txt");
    let case = || {
        let ds = message(Dataset::open(root))?;
        let listed = ds.split_ids(crate::motion::Split::Train).len();
        if listed > ds.ids().len() {
            return Err(format!(
                "BUG: {listed} train ids of {} clips",
                ds.ids().len()
            ));
        }
        let _ = ds.listed_without_features();
        message(ds.load_clip("012314")).map(|_| ())
    };
    let seeds = [
        (
            "humanml3d/train.txt",
            std::fs::read(fixture("humanml3d/train.txt")).unwrap(),
        ),
        (
            "splits/cmu_test.txt",
            std::fs::read(fixture("splits/cmu_test.txt")).unwrap(),
        ),
    ];
    let mut c = Campaign::new("split lists");
    mutate_seeds(&mut c, 7, &seeds, SPLIT_CASES, &path, &["train.txt"], case);
    let specials = [
        ("a 1 MB id", "x".repeat(1 << 20)),
        (
            "100,000 ids",
            (0..100_000).map(|i| format!("{i:06}\n")).collect(),
        ),
        (
            "ids with paths",
            "../../etc/passwd\n/012314\n012314/../012314\n".into(),
        ),
        (
            "binary",
            String::from_utf8_lossy(&[0u8, 255, 10, 13, 27]).into_owned(),
        ),
    ];
    for (what, text) in &specials {
        std::fs::write(&path, text).unwrap();
        c.run(what, &["train.txt"], case);
    }
    c.finish();
}

#[test]
fn fuzz_rig_toml() {
    let dir = tempfile::tempdir().unwrap();
    let rig_path = dir.path().join("fuzz_rig.toml");
    // A real take for each rig (by its root joint): Bandai, CMU CC_Base, CMU under RL_BoneRoot.
    let takes: Vec<(&str, PathBuf)> = [
        (
            "joint_Root",
            "bandai/dataset-2/dataset-2_walk-turn-left_active_001.bvh.gz",
        ),
        ("CC_Base_Hip", "cmu/bvh/003/003_02.bvh.gz"),
        ("RL_BoneRoot", "cmu/bvh/002/002_01.bvh.gz"),
    ]
    .iter()
    .map(|(root, rel)| {
        let path = dir.path().join(format!("take_{root}.bvh"));
        std::fs::write(&path, bvh_seed(rel, 30)).unwrap();
        (*root, path)
    })
    .collect();
    let (_asf, amc, asf_options) = asf_amc_pair(dir.path());
    // The rig alone, then an import through it of a real take of its format.
    let case = || {
        let rig = message(Rig::load(&rig_path))?;
        let (motion, asf) = match rig.format {
            crate::motion::import::rig::Format::Asf => (&amc, asf_options.asf.clone()),
            crate::motion::import::rig::Format::Bvh => {
                let root = rig.root.as_deref().unwrap_or("");
                let take = takes.iter().find(|(r, _)| *r == root).unwrap_or(&takes[0]);
                (&take.1, None)
            }
        };
        let options = ImportOptions {
            rig: Some(rig),
            asf,
            ..Default::default()
        };
        check_import(motion, &options)
    };
    let seeds: Vec<(&str, Vec<u8>)> = [
        "bandai.toml",
        "cmu_asf.toml",
        "cmu_cc_base.toml",
        "cmu_cc_base_boneroot.toml",
        "smpl.toml",
    ]
    .iter()
    .map(|f| (*f, std::fs::read(repo("assets/rigs").join(f)).unwrap()))
    .collect();
    // The seeds with a take in the fixture import unmutated (no SMPL-named take there).
    for (label, bytes) in &seeds[..4] {
        std::fs::write(&rig_path, bytes).unwrap();
        if let Err(e) = case() {
            panic!("seed {label} fails unmutated: {e}");
        }
    }
    let mut c = Campaign::new("rig TOML");
    let mut m = Mutator::new(SEED ^ 8);
    // Errors a rig causes name the rig file; the take's own errors may name the take.
    let names = ["fuzz_rig.toml", "take_", "fuzz_01.amc"];
    for i in 0..RIG_CASES {
        let (label, bytes) = &seeds[i % seeds.len()];
        let (data, what) = m.mutate(bytes);
        std::fs::write(&rig_path, &data).unwrap();
        c.run(&format!("{label}: {what}"), &names, case);
    }
    c.finish();
}
