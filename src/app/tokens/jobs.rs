//! The tokenizer's background work: loading it, encoding the primary clip (codes,
//! reconstruction, per-frame MPJPE), code usage over the open split, single-code primitives.

use std::sync::Arc;

use bevy::prelude::*;
use candle_core::Device;

use super::state::{ClipTokens, GramView, Primitive, SplitUsage, TokenJob, Tokens};
use crate::app::library::{Library, LoadedClips, Problems};
use crate::dvq::Tokenizer;
use crate::dvq::metrics::{
    gram_stats, per_frame_mpjpe_mm, per_frame_root_relative_mpjpe_mm, usage_stats,
};
use crate::motion::{Clip, Dataset, Features, Split};

/// Repeats of a code when it is decoded alone ("play this code"): 4 × 8 frames = 1.6 s.
const PRIMITIVE_REPEATS: usize = 4;

/// Loads the shipped tokenizer (`models/dvq`) off the render thread. Not for a plain `render`,
/// which shows the skeleton only: whether the reconstruction ghost made it into that frame
/// would depend on how fast the load was.
pub(super) fn load_tokenizer(
    tokens: Res<Tokens>,
    source: Res<super::TokenizerSource>,
    render: Option<Res<crate::app::RenderRequest>>,
) {
    if render.is_some_and(|r| !r.studio) {
        return;
    }
    match &source.dvq {
        None => spawn_load(&tokens, crate::lm::resolve::models_dir().join("dvq"), None),
        Some(path) => {
            let released = crate::dvq::released::is_released(path);
            let stats = source.mean_std.clone().or_else(|| {
                released
                    .then(|| {
                        source
                            .dataset
                            .clone()
                            .or_else(crate::app::library::default_dataset)
                    })
                    .flatten()
            });
            spawn_load(&tokens, path.clone(), stats);
        }
    }
}

/// Loads the tokenizer at `dir` (any form [`Tokenizer::open`] reads; `mean_std` for a released
/// one) on a thread; it replaces the current one when it arrives.
pub(super) fn spawn_load(
    tokens: &Tokens,
    dir: std::path::PathBuf,
    mean_std: Option<std::path::PathBuf>,
) {
    let tx = tokens.tx.clone();
    crate::app::background::spawn("tokens", move || {
        let r = Tokenizer::open(&dir, mean_std.as_deref(), &Device::Cpu)
            .and_then(|t| {
                let values = t.gram()?;
                let k = t.nb_code();
                let (fro, _) = gram_stats(&values, k);
                let gram = GramView {
                    title: match t.released() {
                        Some(form) => format!("{} codebook", form.label()),
                        None => "DVQ codebook".into(),
                    },
                    k,
                    values,
                    fro,
                };
                let name = dir
                    .file_name()
                    .map_or(String::new(), |n| format!(" ({})", n.to_string_lossy()));
                Ok((Arc::new(t), gram, name))
            })
            .map_err(|e| format!("tokenizer {}: {e}", dir.display()));
        let _ = tx.send(TokenJob::Loaded(r));
    });
}

/// Starts a native file picker for a released tokenizer (GeoMotionGPT `dvq-gsst.pt` or the
/// `model.safetensors` of its Hugging Face export, T2M-GPT `net_last.pth`) on a thread.
pub(crate) fn pick_tokenizer(tokens: &Tokens) {
    let tx = tokens.tx.clone();
    std::thread::spawn(move || {
        let picked = rfd::FileDialog::new()
            .set_title("Open a tokenizer (GeoMotionGPT .pt / .safetensors, T2M-GPT .pth)")
            .add_filter("tokenizer", &["pt", "pth", "ckpt", "tar", "safetensors"])
            .pick_file();
        if let Some(path) = picked {
            let _ = tx.send(TokenJob::Picked(path));
        }
    });
}

pub(super) fn drain_token_jobs(
    mut tokens: ResMut<Tokens>,
    mut problems: ResMut<Problems>,
    library: Res<Library>,
) {
    while let Ok(job) = tokens.rx.try_recv() {
        match job {
            TokenJob::Picked(path) => {
                // A released tokenizer reads features normalised with the open dataset's
                // Mean/Std, as the authors' scripts do with their dataset folder.
                let stats = library.dataset.as_ref().map(|d| d.root().to_path_buf());
                tokens.status = format!("loading the tokenizer from {}…", path.display());
                spawn_load(&tokens, path, stats);
            }
            TokenJob::Loaded(Ok((t, gram, name))) => {
                tokens.status = match t.released() {
                    Some(_) => format!("{}{name}", t.describe()),
                    None => t.describe(),
                };
                tokens.tokenizer = Some(t);
                tokens.gram = Some(gram);
                tokens.gram_texture = None;
                // Everything computed with the previous tokenizer is stale.
                tokens.clip = None;
                tokens.usage = None;
                tokens.primitive = None;
            }
            TokenJob::Loaded(Err(e)) => {
                tokens.status = format!("no tokenizer: {e}");
                problems.push(e);
            }
            TokenJob::Clip(r) => {
                tokens.pending_clip = None;
                match r {
                    Ok(c) => {
                        tokens.selected = None;
                        tokens.selection = None;
                        tokens.clip = Some(c);
                    }
                    Err(e) => problems.push(e),
                }
            }
            TokenJob::UsageProgress(split, done, total) => {
                tokens.usage_progress = Some((split, done, total));
            }
            TokenJob::UsageCancelled(split) => {
                tokens.usage_progress = None;
                tokens.usage_skipped = Some(split);
            }
            TokenJob::Usage(r) => {
                tokens.usage_progress = None;
                match r {
                    Ok(u) => tokens.usage = Some(u),
                    Err(e) => problems.push(e),
                }
            }
            TokenJob::Primitive(Ok(p)) => tokens.primitive = Some(p),
            TokenJob::Primitive(Err(e)) => problems.push(e),
        }
    }
}

/// Codes, reconstruction and per-frame MPJPE (global and root-relative) of `clip`.
pub fn clip_tokens(tok: &Tokenizer, clip: &Clip) -> Result<ClipTokens, String> {
    let what = |e: crate::dvq::DvqError| format!("{}: tokenizer: {e}", clip.id);
    if tok.width() != clip.features.width() {
        return Err(format!(
            "{}: a {} clip ({}-d features), the tokenizer reads {}-d {} features",
            clip.id,
            clip.features.skeleton().name(),
            clip.features.width(),
            tok.width(),
            tok.skeleton().name()
        ));
    }
    let q = tok.frames_per_code();
    let t8 = clip.features.frames() / q * q;
    if t8 == 0 {
        return Err(format!(
            "{}: {} frames, fewer than one code ({q})",
            clip.id,
            clip.features.frames()
        ));
    }
    // The whole clip: the tokenizer crops it as its reference does (GeoMotionGPT's reads
    // every frame); the reconstruction has t8 frames either way.
    let (codes, rec) = tok.reconstruct(clip.features.as_slice()).map_err(what)?;
    let skeleton = tok.skeleton();
    let recon = skeleton.joints_in_metres(&rec);
    let gt = &clip.joints.as_slice()[..recon.len()];
    Ok(ClipTokens {
        id: clip.id.clone(),
        codes,
        mpjpe_mm: per_frame_mpjpe_mm(gt, &recon, skeleton.n_joints()),
        root_relative_mpjpe_mm: per_frame_root_relative_mpjpe_mm(gt, &recon, skeleton.n_joints()),
        recon,
    })
}

/// Starts an encode job when the primary clip changes.
pub(super) fn track_primary(clips: Res<LoadedClips>, mut tokens: ResMut<Tokens>) {
    let Some(tok) = tokens.tokenizer.clone() else {
        return;
    };
    let Some(clip) = clips.primary.as_ref() else {
        tokens.clip = None;
        return;
    };
    if let Some(why) = skeleton_mismatch(&tok, clip.features.skeleton()) {
        // Nothing to encode: say why once, in the status line, instead of failing each frame.
        tokens.clip = None;
        if tokens.status != why {
            tokens.status = why;
        }
        return;
    }
    let current = tokens.clip.as_ref().is_some_and(|c| c.id == clip.id);
    if current || tokens.pending_clip.as_deref() == Some(clip.id.as_str()) {
        return;
    }
    tokens.pending_clip = Some(clip.id.clone());
    tokens.primitive = None;
    let (tx, clip) = (tokens.tx.clone(), clip.clone());
    crate::app::background::spawn("tokens", move || {
        let _ = tx.send(TokenJob::Clip(clip_tokens(&tok, &clip)));
    });
}

/// Why `tok` cannot read motion of `skeleton` (HumanML3D vs KIT-ML), or `None` when it can.
pub(crate) fn skeleton_mismatch(
    tok: &Tokenizer,
    skeleton: crate::motion::Skeleton,
) -> Option<String> {
    (tok.skeleton() != skeleton).then(|| {
        format!(
            "the tokenizer reads {} motion, this is {}: open a {} tokenizer (File menu, Open \
             tokenizer…)",
            tok.skeleton().name(),
            skeleton.name(),
            skeleton.name()
        )
    })
}

/// The split whose usage the histogram shows: the browser's filter, else test.
fn open_split(library: &Library) -> Split {
    library.split_filter.unwrap_or(Split::Test)
}

/// Starts the usage job for the open split when it has none.
pub(super) fn track_usage(library: Res<Library>, mut tokens: ResMut<Tokens>) {
    let (Some(tok), Some(ds)) = (tokens.tokenizer.clone(), library.dataset.as_ref()) else {
        return;
    };
    if skeleton_mismatch(&tok, ds.skeleton()).is_some() {
        return;
    }
    let split = open_split(&library);
    let have = tokens.usage.as_ref().is_some_and(|u| u.split == split);
    let running = tokens.usage_progress.is_some_and(|(s, _, _)| s == split);
    if have || running || tokens.usage_skipped == Some(split) {
        return;
    }
    tokens.usage_progress = Some((split, 0, 0));
    // A fresh flag: a job of another split still winding down keeps its own.
    tokens.usage_cancel = Default::default();
    let cancel = tokens.usage_cancel.clone();
    let tx = tokens.tx.clone();
    let root = ds.root().to_path_buf();
    crate::app::background::spawn("tokens", move || {
        // `Ok(None)`: cancelled.
        let r = (|| -> Result<Option<SplitUsage>, String> {
            let ds = Dataset::open(&root).map_err(|e| e.to_string())?;
            let ids = ds.split_ids(split);
            let mut counts = vec![0u64; tok.nb_code()];
            let mut clips = 0;
            for (i, id) in ids.iter().enumerate() {
                if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(None);
                }
                let path = ds.features_path(id);
                let f = Features::load(&path).map_err(|e| e.to_string())?;
                if f.frames() >= tok.frames_per_code() {
                    let codes = tok
                        .encode(f.as_slice())
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    for c in codes {
                        counts[c as usize] += 1;
                    }
                    clips += 1;
                }
                if i % 8 == 0 || i + 1 == ids.len() {
                    let _ = tx.send(TokenJob::UsageProgress(split, i + 1, ids.len()));
                }
            }
            let (perplexity, used_pct, _) = usage_stats(&counts);
            Ok(Some(SplitUsage {
                split,
                counts,
                perplexity,
                used_pct,
                clips,
            }))
        })();
        let _ = tx.send(match r {
            Ok(None) => TokenJob::UsageCancelled(split),
            Ok(Some(u)) => TokenJob::Usage(Ok(u)),
            Err(e) => TokenJob::Usage(Err(e)),
        });
    });
}

/// Decodes `code` alone, repeated, in the background ("play this code").
pub(super) fn request_primitive(tokens: &Tokens, code: u32) {
    let Some(tok) = tokens.tokenizer.clone() else {
        return;
    };
    let tx = tokens.tx.clone();
    crate::app::background::spawn("tokens", move || {
        let r = tok
            .primitive(code, PRIMITIVE_REPEATS)
            .map(|f| Primitive {
                code,
                joints: tok.skeleton().joints_in_metres(&f),
            })
            .map_err(|e| format!("code {code}: {e}"));
        let _ = tx.send(TokenJob::Primitive(r));
    });
}
