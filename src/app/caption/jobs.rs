//! Loading the captioner and captioning the current selection off the render thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bevy::prelude::*;

use super::state::{CaptionKey, CaptionMsg, Finished, Job, LiveCaption, Loaded};
use crate::app::library::{LoadedClips, Problems};
use crate::app::tokens::{GramView, Tokens};
use crate::lm::captioner::MAX_NEW_TOKENS;

/// Loads `models/lm` on SmolLM2 (through the resolver) with Q8_0 decode copies, on the best
/// device this build has.
/// Not for a plain `render`, which shows no caption.
pub(super) fn load_captioner(
    mut live: ResMut<LiveCaption>,
    source: Res<super::released::ReleasedSource>,
    render: Option<Res<crate::app::RenderRequest>>,
) {
    if render.is_some_and(|r| !r.studio) {
        live.status = "no captioner: a plain render shows the skeleton only".into();
        return;
    }
    if let Some(model) = &source.model {
        live.status = format!("loading the captioner from {}…", model.display());
        super::released::spawn_load_released(&live, model.clone(), source.backbone.clone());
        return;
    }
    spawn_load(&live, crate::lm::resolve::models_dir().join("lm"));
}

/// Loads the captioner in `dir` on a thread; it replaces the current one when it arrives.
pub(super) fn spawn_load(live: &LiveCaption, dir: std::path::PathBuf) {
    let tx = live.tx.clone();
    crate::app::background::spawn("caption", move || {
        let r = (|| -> Result<Loaded, String> {
            let device = crate::device::select("auto").map_err(|e| e.to_string())?;
            let err = |e: &dyn std::fmt::Display| format!("captioner {}: {e}", dir.display());
            let (cap, ckpt) = crate::lm::train::load_captioner(
                &dir,
                None,
                crate::lm::infer::DecodeWeights::for_device(&device, false),
                &device,
            )
            .map_err(|e| err(&e))?;
            let k = ckpt.captioner.nb_code;
            let values = (|| -> Result<Vec<f32>, crate::lm::LmError> {
                let rows = cap.motion_rows()?.narrow(0, 0, k)?;
                Ok(crate::lm::motion_vocab::gram(&rows)?
                    .flatten_all()?
                    .to_vec1::<f32>()?)
            })()
            .map_err(|e| err(&e))?;
            let (fro, _) = crate::dvq::metrics::gram_stats(&values, k);
            let gram = GramView {
                title: "captioner motion tokens".into(),
                k,
                values,
                fro,
            };
            let index = crate::eval::nearest::NearestIndex::load(&dir)
                .map_err(|e| err(&e))?
                .map(Arc::new);
            Ok(Loaded {
                captioner: Arc::new(cap),
                index,
                device: crate::device::describe(&device),
                gram,
            })
        })();
        let _ = tx.send(CaptionMsg::Loaded(r));
    });
}

/// The key the current selection asks for: the tokens selected on the timeline when the
/// selection spans two or more, else the whole clip; with its codes and its `(T, 263)` features
/// (the frames its tokens cover, 8 per token).
fn wanted(clips: &LoadedClips, tokens: &Tokens) -> Option<(CaptionKey, Vec<u32>, Vec<f32>)> {
    let primary = clips.primary.as_ref()?;
    let tc = tokens.clip.as_ref().filter(|c| c.id == primary.id)?;
    let (range, whole) = match tokens.selection.clone() {
        Some(r) if r.len() >= 2 => (r, false),
        _ => (0..tc.codes.len(), true),
    };
    let codes = tc.codes[range.clone()].to_vec();
    let all = primary.features.as_slice();
    let w = primary.features.width();
    let frames = all.len() / w;
    let q = tokens.tokenizer.as_ref().map_or(8, |t| t.frames_per_code());
    let (start, end) = if whole {
        (0, frames)
    } else {
        ((range.start * q).min(frames), (range.end * q).min(frames))
    };
    Some((
        CaptionKey {
            clip: primary.id.clone(),
            tokens: range,
            whole,
        },
        codes,
        all[start * w..end * w].to_vec(),
    ))
}

/// Why a captioner with `config` cannot read `tok`'s codes, or `None` when it can: it reads our
/// tokenizer with its codebook size and code width; a released tokenizer's codes (GeoMotionGPT,
/// T2M-GPT) index another codebook.
fn cannot_read(
    config: &crate::lm::captioner::CaptionerConfig,
    tok: &crate::dvq::Tokenizer,
) -> Option<String> {
    let c = &tok.model().config;
    if let Some(form) = tok.released() {
        return Some(format!(
            "no caption: the captioner reads the shipped tokenizer's codes, not the {}'s \
             (File > Shipped tokenizer)",
            form.label()
        ));
    }
    (c.nb_code != config.nb_code || c.code_dim != config.code_dim).then(|| {
        format!(
            "no caption: the captioner reads K = {}, D = {} codes; this tokenizer has K = {}, \
             D = {}",
            config.nb_code, config.code_dim, c.nb_code, c.code_dim
        )
    })
}

/// Starts a job when the selection changes; a new selection cancels the running job.
pub(super) fn track_selection(
    clips: Res<LoadedClips>,
    tokens: Res<Tokens>,
    mut live: ResMut<LiveCaption>,
) {
    let released = live.released.clone();
    let cap = live.captioner.clone();
    if released.is_none() && cap.is_none() {
        return;
    }
    // Codes of another tokenizer mean other motions to this captioner: a caption of them
    // would be a confident guess, so none is made.
    let blocked = tokens
        .tokenizer
        .as_ref()
        .and_then(|t| match (&released, &cap) {
            (Some(r), _) => super::released::cannot_read_released(r, t),
            (None, Some(c)) => cannot_read(&c.config, t),
            (None, None) => None,
        })
        // A clip the tokenizer cannot read (KIT-ML vs HumanML3D) has no codes to caption.
        .or_else(|| {
            let (t, clip) = (tokens.tokenizer.as_ref()?, clips.primary.as_ref()?);
            crate::app::tokens::skeleton_mismatch(t, clip.features.skeleton())
        });
    if blocked != live.blocked {
        if let Some(old) = live.job.take() {
            old.cancel.store(true, Ordering::Relaxed);
        }
        live.key = None;
        live.text.clear();
        live.done = false;
        live.blocked = blocked;
    }
    if live.blocked.is_some() {
        return;
    }
    let Some((key, codes, features)) = wanted(&clips, &tokens) else {
        return;
    };
    if live.key.as_ref() == Some(&key) {
        return;
    }
    if let Some(old) = live.job.take() {
        old.cancel.store(true, Ordering::Relaxed);
    }
    let cancel = Arc::new(AtomicBool::new(false));
    live.key = Some(key.clone());
    live.text.clear();
    live.done = false;
    live.confidence = None;
    live.nearest = None;
    live.style = None;
    live.doubts.clear();
    live.first_ms = None;
    live.total_ms = None;
    live.job = Some(Job {
        key: key.clone(),
        cancel: cancel.clone(),
        started: Instant::now(),
    });
    let tx = live.tx.clone();
    let index = live.index.clone();
    let Some(cap) = cap.filter(|_| released.is_none()) else {
        if let Some(r) = released {
            super::released::spawn_caption(r, key, codes, cancel, tx);
        }
        return;
    };
    crate::app::background::spawn("caption", move || {
        let r = cap
            .context(index.as_deref(), &features, None)
            .and_then(|context| {
                cap.generate_scored(&codes, &context, MAX_NEW_TOKENS, &mut |s| {
                    let _ = tx.send(CaptionMsg::Partial(key.clone(), s.to_string()));
                    !cancel.load(Ordering::Relaxed)
                })
            });
        let reads_style = cap.config.style_tag;
        let r = r
            .map(|scored| Finished {
                scored,
                neighbours: crate::eval::doubt::neighbours(index.as_deref(), &features),
                style: index
                    .as_ref()
                    .filter(|_| reads_style)
                    .and_then(|i| i.style_read(&features)),
            })
            .map_err(|e| e.to_string());
        let _ = tx.send(CaptionMsg::Done(key, r));
    });
}

pub(super) fn drain_caption_jobs(
    mut live: ResMut<LiveCaption>,
    mut gram: MessageWriter<crate::app::tokens::CaptionerGram>,
    mut problems: ResMut<Problems>,
) {
    while let Ok(msg) = live.rx.try_recv() {
        match msg {
            CaptionMsg::Loaded(Ok(loaded)) => {
                gram.write(crate::app::tokens::CaptionerGram(loaded.gram));
                live.status = format!("captioner on {}", loaded.device);
                if loaded.index.is_none() {
                    live.status
                        .push_str(" (no nearest-take index: token doubts only)");
                }
                live.device = loaded.device;
                live.captioner = Some(loaded.captioner);
                live.index = loaded.index;
            }
            CaptionMsg::Loaded(Err(e)) => {
                live.failed = true;
                // A download the user cancelled is their choice, not a problem to list.
                if crate::lm::pypi::DOWNLOAD.take_cancelled() {
                    live.status =
                        "no captioner: the language model's download was cancelled".into();
                } else {
                    live.status = format!("no captioner: {e}");
                    problems.push(e);
                }
            }
            CaptionMsg::OpenReleased(model, backbone) => {
                live.status = format!("loading the captioner from {}…", model.display());
                super::released::spawn_load_released(&live, model, backbone);
            }
            CaptionMsg::LoadedReleased(Ok((cap, device))) => {
                live.status = format!(
                    "GeoMotionGPT captioner {} ({} motion tokens) on {device}",
                    cap.source
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
                    cap.nb_code()
                );
                live.device = device;
                live.released = Some(cap);
                live.failed = false;
                live.key = None;
            }
            CaptionMsg::LoadedReleased(Err(e)) => {
                live.status = format!("no captioner: {e}");
                problems.push(e);
            }
            CaptionMsg::DoneReleased(key, r) => {
                if live.job.as_ref().is_some_and(|j| j.key == key) {
                    let job = live.job.take().expect("checked");
                    live.total_ms = Some(job.started.elapsed().as_secs_f64() * 1e3);
                }
                if live.key.as_ref() == Some(&key) {
                    match r {
                        Ok(c) => {
                            live.text = c.text;
                            live.confidence = None;
                            live.nearest = None;
                            live.style = None;
                            live.doubts = vec![crate::eval::doubt::Doubt::Unrated {
                                min_prob: c.min_prob,
                            }];
                            live.done = true;
                        }
                        Err(e) => problems.push(format!("caption of {}: {e}", key.clip)),
                    }
                }
            }
            CaptionMsg::Partial(key, text) => {
                if live.key.as_ref() == Some(&key) {
                    if live.first_ms.is_none()
                        && let Some(j) = &live.job
                    {
                        live.first_ms = Some(j.started.elapsed().as_secs_f64() * 1e3);
                    }
                    live.text = text;
                }
            }
            CaptionMsg::Done(key, r) => {
                let current = live.key.as_ref() == Some(&key);
                let is_job = live.job.as_ref().is_some_and(|j| j.key == key);
                if is_job {
                    let job = live.job.take().expect("checked");
                    live.total_ms = Some(job.started.elapsed().as_secs_f64() * 1e3);
                }
                if current {
                    match r {
                        Ok(Finished {
                            scored,
                            neighbours,
                            style,
                        }) => {
                            let shown = crate::eval::doubt::shown(
                                &scored.text,
                                &scored.confidence,
                                &neighbours,
                                true,
                            );
                            live.doubts = shown.doubts;
                            live.text = shown.text;
                            live.confidence = Some(scored.confidence);
                            live.nearest = neighbours.into_iter().next();
                            live.style = style;
                            live.done = true;
                        }
                        Err(e) => problems.push(format!("caption of {}: {e}", key.clip)),
                    }
                }
            }
        }
    }
}
