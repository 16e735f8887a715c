//! The captioned clips of one split of a dataset folder, as the evaluation commands read them:
//! from `manifest.json` when the folder has one (our corpus: caption kinds, labels, windows),
//! else from a plain HumanML3D (or KIT-ML) folder's split list and `texts/`, the way the field's
//! motion-to-text loader does. That loader is MotionGPT's `mGPT/data/humanml/dataset_m2t.py`
//! (`Text2MotionDatasetM2T`, the test set of its `m2t` evaluation):
//! - a clip of fewer than 40 or of 200 or more frames is left out, with all its captions;
//! - captions with `start = end = 0` are the clip's references;
//! - a caption with a time range becomes a sub-clip of its own (id
//!   [`sub_clip_id`](crate::motion::subclip::sub_clip_id), frames `int(start·20)..int(end·20)`)
//!   with that one caption, kept when it has 40 to 199 frames;
//! - a clip with no whole-clip caption is not a clip of the set (its sub-clips are).

use std::collections::BTreeMap;
use std::path::Path;

use super::captions::CaptionKind;
use super::corpus::{ManifestCaption, ManifestEntry, read_manifest};
use crate::motion::error::Result;
use crate::motion::subclip::{frames_of, sub_clip_id};
use crate::motion::{Dataset, Split};

/// Shortest clip (and sub-clip) the protocol keeps, frames at 20 fps (`min_motion_length`).
pub const MIN_FRAMES: usize = 40;
/// Clips (and sub-clips) of this many frames or more are left out (`len(motion) >= 200`).
pub const MAX_FRAMES: usize = 200;

/// The clip lengths a plain folder's set keeps: `min..max` frames at 20 fps. MotionGPT's
/// ([`MIN_FRAMES`]`..`[`MAX_FRAMES`]) by default; GeoMotionGPT's test config
/// (`configs/test/m2t_o1e-2.yaml`) sets `MIN_MOTION_LEN: 20`, `MAX_MOTION_LEN: 196`.
pub type Lengths = std::ops::Range<usize>;

/// The captioned clips of `split` in `corpus`: its `manifest.json` entries of that split, or,
/// when there is no manifest, the clips and sub-clips HumanML3D's loader makes from the split
/// list and `texts/` (module docs). Entries without captions are left out either way.
///
/// Errors: an unreadable manifest, split list, texts file (with its line) or features file.
pub fn split_entries(corpus: &Path, split: Split) -> Result<Vec<ManifestEntry>> {
    split_entries_within(corpus, split, MIN_FRAMES..MAX_FRAMES)
}

/// [`split_entries`] with the clip lengths a plain folder's set keeps (a manifest's entries are
/// not filtered by length).
pub fn split_entries_within(
    corpus: &Path,
    split: Split,
    lengths: Lengths,
) -> Result<Vec<ManifestEntry>> {
    if corpus.join("manifest.json").exists() {
        return Ok(read_manifest(corpus)?
            .into_iter()
            .filter(|e| e.split == split.name() && !e.captions.is_empty())
            .collect());
    }
    entries_from_texts(&Dataset::open(corpus)?, split, lengths)
}

/// The clips and sub-clips of `split` made from a HumanML3D-layout folder's `texts/` (module
/// docs), in split-list order, each clip after its sub-clips as the reference lists them; clips
/// and sub-clips kept when their length is in `lengths`.
pub fn entries_from_texts(
    ds: &Dataset,
    split: Split,
    lengths: Lengths,
) -> Result<Vec<ManifestEntry>> {
    let keep = |frames: usize| lengths.contains(&frames);
    let mut out = Vec::new();
    for id in ds.split_ids(split) {
        let captions = ds.captions(id)?;
        if captions.is_empty() {
            continue;
        }
        let frames = ds.load_features(id)?.frames();
        if !keep(frames) {
            continue;
        }
        let mirrored = id
            .strip_prefix('M')
            .is_some_and(|plain| ds.split_of(plain).is_some());
        // `source`: the clip's features file, shared by its sub-clips (the nearest-take index
        // leaves a whole source out when one of its clips asks for neighbours).
        let entry =
            |clip_id: String, range: std::ops::Range<usize>, texts: Vec<String>| ManifestEntry {
                id: clip_id,
                dataset: "humanml3d".into(),
                source: format!("new_joint_vecs/{id}.npy"),
                rig: String::new(),
                source_fps: crate::motion::FPS as f64,
                frames_20fps: [range.start, range.end],
                licence: String::new(),
                split: split.name().into(),
                whole_take: true,
                mirrored,
                captions: texts
                    .into_iter()
                    .map(|text| ManifestCaption {
                        text,
                        kind: CaptionKind::HumanSentence,
                    })
                    .collect(),
                labels: BTreeMap::new(),
            };
        let mut whole = Vec::new();
        for c in captions {
            if c.is_whole_clip() {
                whole.push(c.text);
                continue;
            }
            let r = frames_of(c.start_secs, c.end_secs, frames);
            if keep(r.len()) {
                out.push(entry(
                    sub_clip_id(id, c.start_secs, c.end_secs),
                    r,
                    vec![c.text],
                ));
            }
        }
        if !whole.is_empty() {
            out.push(entry(id.to_string(), 0..frames, whole));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::import::corpus::dataset2_corpus;

    /// A plain HumanML3D-layout folder made from real takes: our corpus of two dataset-2
    /// contents with its `manifest.json` removed and `texts/` rewritten in the official format
    /// (POS-tagged tokens, time ranges). The clips and sub-clips read back are the ones
    /// MotionGPT's `Text2MotionDatasetM2T` makes, and the evaluation readers take the folder.
    #[test]
    fn a_humanml3d_folder_without_manifest_gives_the_m2t_loaders_clips_and_sub_clips() {
        let corpus = dataset2_corpus(&["wave-left-hand", "wave-right-hand"]);
        let root = corpus.path();
        let with_manifest = split_entries(root, Split::Test).unwrap();
        assert!(with_manifest.iter().all(|e| !e.labels.is_empty()));
        std::fs::remove_file(root.join("manifest.json")).unwrap();
        // HumanML3D's own Mean/Std (two dataset-2 contents have constant foot contacts).
        for f in ["Mean.npy", "Std.npy"] {
            std::fs::copy(crate::testdata::humanml3d().join(f), root.join(f)).unwrap();
        }
        let ds = Dataset::open(root).unwrap();
        let frames = |id: &str| ds.load_features(id).unwrap().frames();
        let test = ds.split_ids(Split::Test);
        // Clip a: whole captions plus a 2.5 s range (kept) and a 1 s one (20 frames: dropped);
        // clip b: only a range caption, so only its sub-clip is in the set.
        let a = *test
            .iter()
            .find(|id| (80..200).contains(&frames(id)))
            .unwrap();
        let b = *test
            .iter()
            .find(|id| **id != a && (60..200).contains(&frames(id)))
            .unwrap();
        let line = |text: &str, from: f32, to: f32| {
            let tokens: Vec<String> = text
                .trim_end_matches('.')
                .split(' ')
                .map(|w| format!("{w}/NOUN"))
                .collect();
            format!("{text}#{}#{from:?}#{to:?}\n", tokens.join(" "))
        };
        let write = |id: &str, body: String| {
            std::fs::write(root.join("texts").join(format!("{id}.txt")), body).unwrap()
        };
        write(
            a,
            line("a person waves a hand.", 0.0, 0.0)
                + &line("a person lifts an arm.", 0.5, 3.0)
                + &line("someone waves.", 0.0, 0.0)
                + &line("a short part.", 1.0, 2.0),
        );
        write(b, line("a person lowers the hand.", 1.0, 3.0));
        let entries = split_entries(root, Split::Test).unwrap();
        let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
        // Every other test clip of 40..200 frames keeps its corpus captions as references.
        let expected: Vec<String> = test
            .iter()
            .filter(|id| **id != b && (MIN_FRAMES..MAX_FRAMES).contains(&frames(id)))
            .flat_map(|id| {
                let mut v = Vec::new();
                if *id == a {
                    v.push(format!("{a}_0.500000_3.000000"));
                }
                v.push(id.to_string());
                if *id == b {
                    v.clear();
                }
                v
            })
            .collect();
        let mut expected_with_b = expected.clone();
        let at = test.iter().position(|id| *id == b).unwrap();
        let before = test[..at]
            .iter()
            .filter(|id| (MIN_FRAMES..MAX_FRAMES).contains(&frames(id)))
            .map(|id| if *id == a { 2 } else { 1 })
            .sum::<usize>();
        expected_with_b.insert(before, format!("{b}_1.000000_3.000000"));
        assert_eq!(ids, expected_with_b);
        // GeoMotionGPT's test config keeps clips from 20 frames: the 1 s range is a sub-clip too.
        let geo = split_entries_within(root, Split::Test, 20..196).unwrap();
        let short = format!("{a}_1.000000_2.000000");
        assert!(geo.iter().any(|e| e.id == short));
        assert!(!entries.iter().any(|e| e.id == short));
        let sub = entries
            .iter()
            .find(|e| e.id == format!("{a}_0.500000_3.000000"))
            .unwrap();
        assert_eq!(sub.frames_20fps, [10, 60]);
        assert_eq!(sub.captions.len(), 1);
        assert_eq!(sub.captions[0].text, "a person lifts an arm.");
        assert_eq!(sub.source, format!("new_joint_vecs/{a}.npy"));
        let whole = entries.iter().find(|e| e.id == a).unwrap();
        let texts: Vec<&str> = whole.captions.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["a person waves a hand.", "someone waves."]);
        assert_eq!(whole.frames_20fps, [0, frames(a)]);
        assert!(entries.iter().all(|e| e.whole_take && e.split == "test"));
        assert!(entries.iter().any(|e| e.mirrored) && entries.iter().any(|e| !e.mirrored));
        // A sub-clip's features are its clip's frames int(start·20)..int(end·20).
        let w = crate::motion::N_FEATURES;
        let clip = ds.load_features(a).unwrap();
        let part = ds.load_features(&sub.id).unwrap();
        assert_eq!(part.frames(), 50);
        assert_eq!(part.as_slice(), &clip.as_slice()[10 * w..60 * w]);
        // The studio loads a sub-clip as a clip: its frames, its range's captions, its clip's
        // split; every range of a clip is a sub-clip there (the 1 s one too).
        let clip_of_sub = ds.load_clip(&sub.id).unwrap();
        assert_eq!(clip_of_sub.joints.frames(), 50);
        assert_eq!(clip_of_sub.split, Some(Split::Test));
        let texts: Vec<&str> = clip_of_sub
            .captions
            .iter()
            .map(|c| c.text.as_str())
            .collect();
        assert_eq!(texts, ["a person lifts an arm."]);
        assert_eq!(
            crate::motion::subclip::sub_clip_ids(a, &ds.captions(a).unwrap()),
            [sub.id.clone(), format!("{a}_1.000000_2.000000")]
        );
        assert!(ds.load_clip(&format!("{a}_0.100000")).is_err());
        let err = ds
            .load_features(&format!("{a}_50.000000_60.000000"))
            .unwrap_err();
        assert!(err.to_string().contains("has no frame"), "{err}");
        // The readers of `eval captions` and the retrieval evaluator take the folder.
        let baseline = crate::eval::baseline::RetrievalBaseline::from_corpus(root).unwrap();
        assert!(baseline.len() >= 2);
        let norm = ds.normalizer().unwrap();
        let d = crate::eval::baseline::clip_descriptor(&ds, &norm, &sub.id).unwrap();
        assert!(!baseline.caption(&d).is_empty());
        let clips = crate::eval::retrieval::load_captioned(root, Split::Test, 16).unwrap();
        let got = clips.iter().find(|c| c.id == sub.id).unwrap();
        assert_eq!(got.frames, 50);
        // `train lm` reads the same clips: the sub-clip is a pair of its own, with its caption.
        let dvq = crate::dvq::Tokenizer::load(
            &crate::lm::resolve::models_dir().join("dvq"),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let pairs = crate::lm::data::load_pairs(
            root,
            Split::Test,
            &dvq,
            &crate::lm::data::no_context,
            &mut |_, _| true,
        )
        .unwrap();
        let of = |id: &str| -> Vec<&str> {
            pairs
                .iter()
                .filter(|p| p.id == id)
                .map(|p| p.caption.as_str())
                .collect()
        };
        assert_eq!(of(&sub.id), ["a person lifts an arm."]);
        assert_eq!(of(a), ["a person waves a hand.", "someone waves."]);
        assert!(of(b).is_empty());
        let sub_pair = pairs.iter().find(|p| p.id == sub.id).unwrap();
        assert_eq!(sub_pair.codes.len(), 50 / dvq.frames_per_code());
    }
}
