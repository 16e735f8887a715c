//! Acceptance of the joints → 263 converter against the official HumanML3D files.

use super::convert::{TARGET_BONE_LENGTHS, joints_to_features};
use crate::motion::layout::{FEATURE_GROUPS, FOOT_CONTACT, N_FEATURES};
use crate::motion::npy::read_npy;
use crate::motion::recover_from_ric;
use crate::motion::skeleton::PARENTS;
use crate::testdata::humanml3d;

/// Frames 0..=88 are untouched by the end effect of the facing smoothing (see the issue).
const CLEAN_FRAMES: usize = 89;

#[test]
fn target_bone_lengths_are_012314_frame_0() {
    let j = read_npy::<f64>(&humanml3d().join("new_joints/012314.npy")).unwrap();
    let p = |t: usize, k: usize| -> [f64; 3] {
        let i = (t * 22 + k) * 3;
        [j.data[i], j.data[i + 1], j.data[i + 2]]
    };
    for k in 1..22 {
        let parent = PARENTS[k].unwrap();
        for t in [0, 85, 169] {
            let (a, b) = (p(t, k), p(t, parent));
            let len =
                ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
            assert!(
                (len - TARGET_BONE_LENGTHS[k]).abs() < 2e-6,
                "bone {k} frame {t}: {len}"
            );
        }
    }
}

#[test]
fn official_pipeline_is_a_fixed_point_on_012314() {
    let root = humanml3d();
    let joints = read_npy::<f64>(&root.join("new_joints/012314.npy")).unwrap();
    let reference = read_npy::<f64>(&root.join("new_joint_vecs/012314.npy")).unwrap();
    let positions: Vec<[f64; 3]> = joints
        .data
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    let features = joints_to_features(&positions);
    assert_eq!(
        features.len(),
        169,
        "170 joint frames give 169 feature frames"
    );

    let group_err = |name: &str, range: std::ops::Range<usize>, frames: std::ops::Range<usize>| {
        let mut worst = 0.0f64;
        for t in frames {
            for k in range.clone() {
                worst = worst.max((features[t][k] - reference.data[t * N_FEATURES + k]).abs());
            }
        }
        let _ = name;
        worst
    };
    println!("group                 max|Δ| frames 0..=88   max|Δ| frames 89..169");
    let mut failures = Vec::new();
    for (name, range) in FEATURE_GROUPS {
        let clean = group_err(name, range.clone(), 0..CLEAN_FRAMES);
        let tail = group_err(name, range.clone(), CLEAN_FRAMES..169);
        println!("{name:20}  {clean:>20.3e}   {tail:>20.3e}");
        if range != FOOT_CONTACT && clean > 1e-4 {
            failures.push(format!("{name}: {clean:e} on frames 0..=88"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
    // Foot contacts identical on every frame.
    for t in 0..169 {
        for k in FOOT_CONTACT {
            assert_eq!(
                features[t][k],
                reference.data[t * N_FEATURES + k] as f64,
                "contact frame {t} feature {k}"
            );
        }
    }
    // recover_from_ric of the converted features reproduces new_joints on all 169 frames.
    let flat: Vec<f32> = features.iter().flatten().map(|&v| v as f32).collect();
    let recovered = recover_from_ric(&flat, N_FEATURES);
    let mut worst = 0.0f64;
    for (i, p) in recovered.iter().enumerate() {
        for c in 0..3 {
            worst = worst.max((p[c] as f64 - joints.data[i * 3 + c]).abs());
        }
    }
    println!("recover_from_ric(converted) vs new_joints, 169 frames: max |Δ| = {worst:.3e} m");
    assert!(worst <= 1e-5, "{worst} m");
}

mod real_capture {
    use std::path::PathBuf;

    use crate::motion::N_JOINTS;
    use crate::motion::import::convert::process_joints;
    use crate::motion::import::file::{ImportOptions, ImportedMotion, import_motion};
    use crate::motion::recover_from_ric;
    use crate::motion::rotation::{axis_rotation, mat_vec};
    use crate::motion::skeleton::PARENTS;
    use crate::testdata::{by_tier, full_data, shared_data};

    fn bvh(subject: u32, trial: u32) -> PathBuf {
        shared_data().join(format!(
            "cmu/bvh/{subject:03}/{subject:03}_{trial:02}.bvh.gz"
        ))
    }

    fn amc(subject: u32, trial: u32) -> PathBuf {
        shared_data().join(format!(
            "cmu/asfamc/{subject:02}/{subject:02}_{trial:02}.amc.gz"
        ))
    }

    /// Root-relative, heading-aligned joints of frame `t`: pelvis at the origin, facing +Z
    /// (facing from hips and shoulders, as HumanML3D does).
    fn canonical(m: &ImportedMotion, t: usize, scale: f64) -> [[f64; 3]; 22] {
        let p = &m.joints[t * N_JOINTS..(t + 1) * N_JOINTS];
        let across = [
            p[2][0] - p[1][0] + p[17][0] - p[16][0],
            0.0,
            p[2][2] - p[1][2] + p[17][2] - p[16][2],
        ];
        // forward = Y × across = (across.z, 0, −across.x)
        let (fx, fz) = (across[2], -across[0]);
        let yaw = fx.atan2(fz); // angle of forward from +Z about +Y
        let turn = axis_rotation(1, -yaw);
        std::array::from_fn(|j| {
            let d = [p[j][0] - p[0][0], p[j][1] - p[0][1], p[j][2] - p[0][2]];
            mat_vec(&turn, d).map(|v| scale * v)
        })
    }

    fn skeleton_length(m: &ImportedMotion) -> f64 {
        let p = &m.joints[..N_JOINTS];
        (1..22)
            .map(|j| {
                let q = p[PARENTS[j].unwrap()];
                ((p[j][0] - q[0]).powi(2) + (p[j][1] - q[1]).powi(2) + (p[j][2] - q[2]).powi(2))
                    .sqrt()
            })
            .sum()
    }

    /// (mean per-joint distance, the same after removing each joint's mean offset), metres at
    /// the ASF skeleton's scale, for the best shift of `b` against `a` in −3..=3 frames.
    fn compare(a: &ImportedMotion, b: &ImportedMotion) -> (f64, f64, i64) {
        let scale = skeleton_length(a) / skeleton_length(b);
        let mut best = (f64::INFINITY, f64::INFINITY, 0);
        for shift in -3i64..=3 {
            let pairs: Vec<(usize, usize)> = (0..a.frames())
                .filter_map(|t| {
                    let u = t as i64 + shift;
                    (u >= 0 && (u as usize) < b.frames()).then_some((t, u as usize))
                })
                .collect();
            let diffs: Vec<[[f64; 3]; 22]> = pairs
                .iter()
                .map(|&(t, u)| {
                    let (pa, pb) = (canonical(a, t, 1.0), canonical(b, u, scale));
                    std::array::from_fn(|j| std::array::from_fn(|k| pa[j][k] - pb[j][k]))
                })
                .collect();
            let n = diffs.len() as f64;
            let mean_offset: [[f64; 3]; 22] = std::array::from_fn(|j| {
                std::array::from_fn(|k| diffs.iter().map(|d| d[j][k]).sum::<f64>() / n)
            });
            let norm = |v: [f64; 3]| (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            let raw = diffs
                .iter()
                .flat_map(|d| d.iter().map(|v| norm(*v)))
                .sum::<f64>()
                / (n * 22.0);
            let centred = diffs
                .iter()
                .flat_map(|d| {
                    (0..22).map(|j| norm(std::array::from_fn(|k| d[j][k] - mean_offset[j][k])))
                })
                .sum::<f64>()
                / (n * 22.0);
            if raw < best.0 {
                best = (raw, centred, shift);
            }
        }
        best
    }

    /// Every trial present in both formats: 15 in the full data; in the fixture subset 02_01 (a
    /// `RL_BoneRoot` BVH, hierarchy modelled Z up) and 03_02 (a `CC_Base_Hip` root, Y up).
    #[test]
    fn cmu_bvh_and_asf_amc_agree() {
        let trials: Vec<(u32, u32)> = if full_data() {
            [1, 8, 14]
                .map(|t| (1, t))
                .into_iter()
                .chain((1..=10).map(|t| (2, t)))
                .chain([(3, 1), (3, 2)])
                .collect()
        } else {
            vec![(2, 1), (3, 2)]
        };
        assert_eq!(trials.len(), by_tier(15, 2));
        println!("trial   frames@20fps  shift  mean dist  after offset removal");
        let mut failures = Vec::new();
        for (s, t) in trials {
            let a = import_motion(&amc(s, t), &ImportOptions::default()).unwrap();
            let b = import_motion(&bvh(s, t), &ImportOptions::default()).unwrap();
            let (raw, centred, shift) = compare(&a, &b);
            println!(
                "{s:02}_{t:02}   {:>5}/{:<5}    {shift:>3}   {:>6.1} cm   {:>6.1} cm",
                a.frames(),
                b.frames(),
                raw * 100.0,
                centred * 100.0
            );
            if raw > 0.10 || centred > 0.05 {
                failures.push(format!(
                    "{s:02}_{t:02}: {:.1} / {:.1} cm",
                    raw * 100.0,
                    centred * 100.0
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "trials over 10 cm / 5 cm: {failures:?}"
        );
    }

    #[test]
    fn round_trip_within_1cm_of_retargeted_source() {
        for file in [
            shared_data().join("bandai/dataset-1/dataset-1_walk_normal_001.bvh.gz"),
            amc(2, 1),
            bvh(5, 1),
        ] {
            let m = import_motion(&file, &ImportOptions::default()).unwrap();
            let processed = process_joints(&m.joints);
            let flat: Vec<f32> = processed
                .features
                .iter()
                .flatten()
                .map(|&v| v as f32)
                .collect();
            let recovered = recover_from_ric(&flat, 263);
            let mut worst = 0.0f64;
            for (t, frame) in recovered.chunks_exact(N_JOINTS).enumerate() {
                for j in 0..N_JOINTS {
                    let g = processed.aligned_global(t, j);
                    for k in 0..3 {
                        worst = worst.max((frame[j][k] as f64 - g[k]).abs());
                    }
                }
            }
            println!(
                "{}: {} frames, round trip max |Δ| = {:.2e} m",
                file.display(),
                recovered.len() / 22,
                worst
            );
            assert!(worst < 0.01, "{}: {worst} m", file.display());
        }
    }
}

mod bad_input {
    use std::io::{Read, Write};
    use std::path::{Path, PathBuf};

    use crate::motion::import::file::{ImportOptions, import_motion};
    use crate::testdata::shared_data;

    const TAKE: &str = "bandai/dataset-1/dataset-1_walk_normal_001.bvh.gz";

    fn real_bvh_text() -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(shared_data().join(TAKE)).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    fn write_gz(path: &Path, text: &str) {
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
    }

    fn error_of(path: &PathBuf) -> String {
        match import_motion(path, &ImportOptions::default()) {
            Ok(_) => panic!("{}: bad input accepted", path.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_motion_files_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = real_bvh_text();
        let lines: Vec<&str> = text.lines().collect();
        let motion = lines.iter().position(|l| l.trim() == "MOTION").unwrap();
        let first_data = motion + 4; // 1-based line of the first frame

        // Truncated: the last 20 frames are missing.
        let p = dir.path().join("truncated.bvh.gz");
        write_gz(&p, &lines[..lines.len() - 20].join("\n"));
        let e = error_of(&p);
        assert!(
            e.contains("truncated.bvh.gz") && e.contains("truncated"),
            "{e}"
        );

        // Wrong channel count on one frame line.
        let mut l = lines.clone();
        let tokens: Vec<&str> = l[first_data + 9].split_whitespace().collect();
        let short = tokens[..tokens.len() - 1].join(" ");
        l[first_data + 9] = &short;
        let p = dir.path().join("channels.bvh");
        std::fs::write(&p, l.join("\n")).unwrap();
        let e = error_of(&p);
        assert!(
            e.contains(&format!("channels.bvh:{}", first_data + 10)) && e.contains("131 values"),
            "{e}"
        );

        // NaN in frame 5.
        let mut l = lines.clone();
        let nan = l[first_data + 4].replacen(' ', " nan ", 1);
        l[first_data + 4] = &nan;
        let p = dir.path().join("nan.bvh");
        std::fs::write(&p, l.join("\n")).unwrap();
        let e = error_of(&p);
        assert!(e.contains("nan.bvh") && e.contains("frame 5"), "{e}");

        // Unknown rig: the joints renamed.
        let p = dir.path().join("unknown_rig.bvh");
        std::fs::write(
            &p,
            text.replace("Hips", "Pelvis_X")
                .replace("UpperLeg_L", "Thigh_L"),
        )
        .unwrap();
        let e = error_of(&p);
        assert!(
            e.contains("unknown_rig.bvh")
                && e.contains("unknown rig")
                && e.contains("Thigh_L")
                && e.contains("bandai"),
            "{e}"
        );

        // Corrupt gzip stream.
        let mut bytes = std::fs::read(shared_data().join(TAKE)).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 64] {
            *b ^= 0x5a;
        }
        let p = dir.path().join("corrupt.bvh.gz");
        std::fs::write(&p, bytes).unwrap();
        let e = error_of(&p);
        assert!(
            e.contains("corrupt.bvh.gz") && e.contains("cannot read"),
            "{e}"
        );

        // Not a motion file.
        let p = dir.path().join("notes.txt");
        std::fs::write(&p, "hello").unwrap();
        assert!(error_of(&p).contains("not a motion file"));
    }
}

mod corpus {
    use std::collections::{HashMap, HashSet};

    use crate::motion::import::corpus::{build_corpus, discover_sources, read_manifest, windows};
    use crate::motion::import::sample::write_sample;
    use crate::motion::{Dataset, Normalizer, Split};
    use crate::testdata::{by_tier, shared_data};

    #[test]
    fn every_source_is_found_and_splits_follow_the_lists() {
        let data = shared_data();
        let mut skipped = Vec::new();
        let sources = discover_sources(&data, &mut skipped).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        // Full: 174 + 1,397 Bandai takes, 28 AMC trials, 61 − 15 BVH trials not also in AMC.
        // Fixture: 2 + 22 Bandai takes, 2 AMC trials (02_01, 03_02), 4 − 2 BVH trials not also
        // in AMC (005_01, 007_12).
        assert_eq!(sources.len(), by_tier(174 + 1397 + 28 + 46, 2 + 22 + 2 + 2));
        let list = |f: &str| -> HashSet<String> {
            std::fs::read_to_string(data.join("splits").join(f))
                .unwrap()
                .lines()
                .map(String::from)
                .collect()
        };
        let (bv, bt, cv, ct) = (
            list("bandai_val.txt"),
            list("bandai_test.txt"),
            list("cmu_val.txt"),
            list("cmu_test.txt"),
        );
        for s in &sources {
            let key = s.id.strip_prefix("cmu_").unwrap_or(&s.id).to_string();
            let want = if bv.contains(&key) || cv.contains(&key) {
                Split::Val
            } else if bt.contains(&key) || ct.contains(&key) {
                Split::Test
            } else {
                Split::Train
            };
            assert_eq!(s.split, want, "{}", s.id);
        }
        let count = |sp: Split| sources.iter().filter(|s| s.split == sp).count();
        // Bandai + CMU. Fixture val: dataset-1_walk_happy_001, dataset-2_wave-left-hand_active_009,
        // 07_12; test: one active and one elderly take of each of the three dataset-2 contents,
        // 02_01.
        assert_eq!(
            (count(Split::Val), count(Split::Test)),
            by_tier((161 + 12, 161 + 10), (2 + 1, 6 + 1))
        );
    }

    #[test]
    fn windows_cover_long_takes() {
        assert_eq!(windows(150), vec![0..150]);
        assert_eq!(windows(200), vec![0..200]);
        let w = windows(459);
        assert_eq!(w.len(), 3);
        assert!(w.iter().all(|r| r.len() <= 196));
        assert_eq!(w.last().unwrap().end, 459);
    }

    /// Builds the corpus of one Bandai content, CMU subjects 02 and 07 and two train trials, and
    /// checks what a training run relies on: no val/test take reaches train, Mean/Std official.
    /// The fixture subset has each kind: wave-left-hand takes in train, val and test, 02_01
    /// (test, ASF/AMC), 07_12 (val, BVH with a T-pose frame) and 05_01 (train, BVH); no 01_01.
    #[test]
    fn built_corpus_keeps_held_out_takes_out_of_train() {
        let out = tempfile::tempdir().unwrap();
        let keep = |s: &crate::motion::import::corpus::Source| {
            s.id.starts_with("dataset-2_wave-left-hand_")
                || s.id.starts_with("cmu_02_")
                || s.id.starts_with("cmu_07_")
                || s.id == "cmu_01_01"
                || s.id == "cmu_05_01"
        };
        let report = build_corpus(&shared_data(), out.path(), Some(&keep), &|_, _| {}).unwrap();
        println!("{report:?}");
        assert!(report.skipped.is_empty());
        assert_eq!(
            report.sources,
            by_tier(140 + 10 + 12 + 2, 8 + 1 + 1 + 1),
            "{report:?}"
        );
        // Fixture: wave-left-hand takes 5 train (active 001-003, elderly 001, 003), 1 val
        // (active 009), 2 test (active 005, elderly 004); 07_12 val, 02_01 test, 05_01 train.
        // Every take is a whole clip plus its mirror.
        if !crate::testdata::full_data() {
            let per_split = |train: usize, val: usize, test: usize| {
                std::collections::BTreeMap::from([
                    ("train".to_string(), 2 * train),
                    ("val".to_string(), 2 * val),
                    ("test".to_string(), 2 * test),
                ])
            };
            assert_eq!(
                report.per_split,
                per_split(5 + 1, 1 + 1, 2 + 1),
                "{report:?}"
            );
        }
        let manifest = read_manifest(out.path()).unwrap();
        // Every clip of a take shares the take's split; held-out takes never appear in train.
        let mut split_of_source: HashMap<&str, &str> = HashMap::new();
        for e in &manifest {
            let prev = split_of_source.insert(&e.source, &e.split);
            assert!(
                prev.is_none_or(|p| p == e.split),
                "{} in two splits",
                e.source
            );
        }
        let ds = Dataset::open(out.path()).unwrap();
        let train: HashSet<&str> = ds.split_ids(Split::Train).into_iter().collect();
        let mut held_out_cmu = 0;
        for e in &manifest {
            assert_eq!(
                train.contains(e.id.as_str()),
                e.split == "train",
                "{}",
                e.id
            );
            // By corpus id (`cmu_SS_TT`, `M` for the mirror): subject 07 exists only as BVH,
            // whose path (`cmu/bvh/007/…`) a match on the path would miss.
            let take = e.id.strip_prefix('M').unwrap_or(&e.id);
            if take.starts_with("cmu_02_") || take.starts_with("cmu_07_") {
                assert_ne!(e.split, "train", "{} of a held-out subject", e.id);
                held_out_cmu += 1;
            }
        }
        // Full: 22 trials, longer ones in several windows, each also mirrored. Fixture: 02_01
        // and 07_12, whole, and their mirrors.
        if crate::testdata::full_data() {
            assert!(held_out_cmu >= 22 * 2, "{held_out_cmu}");
        } else {
            assert_eq!(held_out_cmu, 2 * 2);
        }
        // Mirrors are there, with left/right swapped in captions.
        let m = manifest
            .iter()
            .find(|e| e.id == "Mdataset-2_wave-left-hand_active_001")
            .unwrap();
        assert!(
            m.captions[0].text.contains("right hand"),
            "{:?}",
            m.captions
        );
        // Official Std: one value per feature group.
        let n = Normalizer::load(out.path()).unwrap();
        for (_, r) in crate::motion::layout::FEATURE_GROUPS {
            assert!(n.std[r.clone()].iter().all(|&s| s == n.std[r.start]));
        }
        // Every clip loads back.
        for id in ds.ids() {
            let c = ds.load_clip(id).unwrap();
            assert!(!c.captions.is_empty(), "{id}");
        }
        // The sample writer keeps held-out clips only and stays small.
        let sample = tempfile::tempdir().unwrap();
        let (clips, bytes) = write_sample(out.path(), sample.path()).unwrap();
        assert!(clips >= 2 && bytes < 10_000_000);
        let s = Dataset::open(sample.path()).unwrap();
        assert!(s.split_ids(Split::Train).is_empty());
    }
}

#[test]
fn embedded_sample_opens() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let ds = crate::motion::Dataset::open(&root).unwrap();
    assert!(ds.ids().len() >= 30, "{}", ds.ids().len());
    ds.normalizer().unwrap();
    for id in ds.ids() {
        let c = ds.load_clip(id).unwrap();
        assert!(!c.captions.is_empty() && c.joints.frames() >= 20, "{id}");
    }
}

/// A corpus build over a data folder holding one good and one corrupt take skips the bad file,
/// names it in the report, and still writes the good one.
#[test]
fn corpus_build_skips_and_lists_bad_files() {
    use crate::motion::import::corpus::build_corpus;
    let real = crate::testdata::shared_data();
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    for sub in [
        "splits",
        "bandai/dataset-1",
        "bandai/dataset-2",
        "cmu/bvh",
        "cmu/asfamc",
    ] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
    }
    for f in [
        "bandai_val.txt",
        "bandai_test.txt",
        "cmu_val.txt",
        "cmu_test.txt",
    ] {
        std::fs::copy(real.join("splits").join(f), d.join("splits").join(f)).unwrap();
    }
    for ds in ["dataset-1", "dataset-2"] {
        for f in ["content_label.txt", "style_label.txt"] {
            std::fs::copy(
                real.join("bandai").join(ds).join(f),
                d.join("bandai").join(ds).join(f),
            )
            .unwrap();
        }
    }
    std::fs::copy(
        real.join("cmu/cmu_descriptions.csv"),
        d.join("cmu/cmu_descriptions.csv"),
    )
    .unwrap();
    std::fs::write(
        d.join("cmu/bvh/manifest.csv"),
        "file,subject,trial,true_fps,header_frame_time,frames,has_tpose_frame0,capture_fps\n",
    )
    .unwrap();
    let good = "dataset-1_walk_normal_001";
    let bad = "dataset-1_walk_happy_001";
    for name in [good, bad] {
        let src = real.join("bandai/dataset-1");
        std::fs::copy(
            src.join(format!("{name}.json")),
            d.join(format!("bandai/dataset-1/{name}.json")),
        )
        .unwrap();
        let gz = std::fs::read(src.join(format!("{name}.bvh.gz"))).unwrap();
        let bytes = if name == bad {
            gz[..gz.len() / 3].to_vec()
        } else {
            gz
        };
        std::fs::write(d.join(format!("bandai/dataset-1/{name}.bvh.gz")), bytes).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let report = build_corpus(d, out.path(), None, &|_, _| {}).unwrap();
    println!("{report:?}");
    assert_eq!(report.sources, 2);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert!(
        report.skipped[0].contains(&format!("{bad}.bvh.gz")),
        "{:?}",
        report.skipped
    );
    assert!(
        out.path()
            .join(format!("new_joint_vecs/{good}.npy"))
            .exists()
    );
    assert!(
        !out.path()
            .join(format!("new_joint_vecs/{bad}.npy"))
            .exists()
    );
}
