//! The embedded sample (`assets/demo/`): a small HumanML3D-layout subset of the demo corpus, so a
//! fresh clone without `../shared` still opens real, captioned motion.
//!
//! Chosen for variety from held-out data: for every Bandai (dataset, content) one test take
//! (val when there is none), non-mirrored; every CMU test trial (its first window). Features and
//! captions only (the studio recovers joints with `recover_from_ric`), plus the corpus Mean/Std,
//! split lists and the manifest entries of the chosen clips.

use std::collections::BTreeMap;
use std::path::Path;

use super::corpus::{ManifestEntry, read_manifest};
use crate::motion::error::{MotionError, Result};

/// Picks the sample's clips from a corpus manifest (sorted ids).
pub fn choose_sample(manifest: &[ManifestEntry]) -> Vec<&ManifestEntry> {
    // Candidates per (dataset, content) for Bandai and per trial for CMU, held-out only.
    let mut groups: BTreeMap<(String, String), Vec<&ManifestEntry>> = BTreeMap::new();
    for e in manifest
        .iter()
        .filter(|e| !e.mirrored && e.split != "train")
    {
        if e.dataset == "cmu" && e.split != "test" {
            continue;
        }
        let key = if e.dataset == "cmu" {
            (e.dataset.clone(), e.source.clone())
        } else {
            (
                e.dataset.clone(),
                e.labels.get("content").cloned().unwrap_or_default(),
            )
        };
        groups.entry(key).or_default().push(e);
    }
    // Prefer test over val, whole takes over windows, the first window; among equals, rotate
    // through the candidates (so styles vary across contents).
    let tier = |e: &ManifestEntry| (e.split != "test", !e.whole_take, e.frames_20fps[0]);
    let mut chosen: Vec<&ManifestEntry> = groups
        .into_values()
        .enumerate()
        .filter_map(|(i, mut c)| {
            c.sort_by(|a, b| tier(a).cmp(&tier(b)).then(a.id.cmp(&b.id)));
            let best = tier(c.first()?);
            let top: Vec<&ManifestEntry> = c.into_iter().filter(|e| tier(e) == best).collect();
            Some(top[(i * 7) % top.len()])
        })
        .collect();
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    chosen
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| MotionError::io(from, e))
}

/// Writes the sample of `corpus` into `out`; returns (clips, bytes written).
pub fn write_sample(corpus: &Path, out: &Path) -> Result<(usize, u64)> {
    let manifest = read_manifest(corpus)?;
    let chosen = choose_sample(&manifest);
    for sub in ["new_joint_vecs", "texts"] {
        let d = out.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| MotionError::io(&d, e))?;
    }
    let mut bytes = 0u64;
    for e in &chosen {
        for (sub, ext) in [("new_joint_vecs", "npy"), ("texts", "txt")] {
            let rel = format!("{sub}/{}.{ext}", e.id);
            copy(&corpus.join(&rel), &out.join(&rel))?;
            bytes += std::fs::metadata(out.join(&rel))
                .map(|m| m.len())
                .unwrap_or(0);
        }
    }
    for f in ["Mean.npy", "Std.npy"] {
        copy(&corpus.join(f), &out.join(f))?;
    }
    for split in ["train", "val", "test"] {
        let ids: String = chosen
            .iter()
            .filter(|e| e.split == split)
            .map(|e| format!("{}\n", e.id))
            .collect();
        let p = out.join(format!("{split}.txt"));
        std::fs::write(&p, ids).map_err(|e| MotionError::io(&p, e))?;
    }
    let p = out.join("manifest.json");
    let json = serde_json::to_string_pretty(&chosen).map_err(|e| MotionError::Invalid {
        path: p.clone(),
        msg: e.to_string(),
    })?;
    std::fs::write(&p, json).map_err(|e| MotionError::io(&p, e))?;
    Ok((chosen.len(), bytes))
}
