//! Loading the captioner and captioning the current selection off the render thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bevy::prelude::*;

use super::state::{CaptionKey, CaptionMsg, Job, LiveCaption};
use crate::app::library::{LoadedClips, Problems};
use crate::app::tokens::{GramView, Tokens};
use crate::lm::captioner::MAX_NEW_TOKENS;

/// Loads `models/lm` on SmolLM2 (through the resolver) with Q8_0 decode copies, on the best
/// device this build has.
pub(super) fn load_captioner(live: Res<LiveCaption>) {
    spawn_load(&live, crate::lm::resolve::models_dir().join("lm"));
}

/// Loads the captioner in `dir` on a thread; it replaces the current one when it arrives.
pub(super) fn spawn_load(live: &LiveCaption, dir: std::path::PathBuf) {
    let tx = live.tx.clone();
    crate::app::background::spawn("caption", move || {
        let r = (|| -> Result<(Arc<crate::lm::Captioner>, String, GramView), String> {
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
                let rows = cap.motion_rows().narrow(0, 0, k)?;
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
            Ok((Arc::new(cap), crate::device::describe(&device), gram))
        })();
        let _ = tx.send(CaptionMsg::Loaded(r));
    });
}

/// The key the current selection asks for: the tokens selected on the timeline when the
/// selection spans two or more, else the whole clip.
fn wanted(clips: &LoadedClips, tokens: &Tokens) -> Option<(CaptionKey, Vec<u32>)> {
    let primary = clips.primary.as_ref()?;
    let tc = tokens.clip.as_ref().filter(|c| c.id == primary.id)?;
    let (range, whole) = match tokens.selection.clone() {
        Some(r) if r.len() >= 2 => (r, false),
        _ => (0..tc.codes.len(), true),
    };
    let codes = tc.codes[range.clone()].to_vec();
    Some((
        CaptionKey {
            clip: primary.id.clone(),
            tokens: range,
            whole,
        },
        codes,
    ))
}

/// Starts a job when the selection changes; a new selection cancels the running job.
pub(super) fn track_selection(
    clips: Res<LoadedClips>,
    tokens: Res<Tokens>,
    mut live: ResMut<LiveCaption>,
) {
    let Some(cap) = live.captioner.clone() else {
        return;
    };
    let Some((key, codes)) = wanted(&clips, &tokens) else {
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
    live.first_ms = None;
    live.total_ms = None;
    live.job = Some(Job {
        key: key.clone(),
        cancel: cancel.clone(),
        started: Instant::now(),
    });
    let tx = live.tx.clone();
    crate::app::background::spawn("caption", move || {
        let r = cap.generate_scored(&codes, MAX_NEW_TOKENS, &mut |s| {
            let _ = tx.send(CaptionMsg::Partial(key.clone(), s.to_string()));
            !cancel.load(Ordering::Relaxed)
        });
        let _ = tx.send(CaptionMsg::Done(key, r.map_err(|e| e.to_string())));
    });
}

pub(super) fn drain_caption_jobs(
    mut live: ResMut<LiveCaption>,
    mut tokens: ResMut<Tokens>,
    mut problems: ResMut<Problems>,
) {
    while let Ok(msg) = live.rx.try_recv() {
        match msg {
            CaptionMsg::Loaded(Ok((cap, device, gram))) => {
                tokens.set_lm_gram(gram);
                live.status = format!("captioner on {device}");
                live.device = device;
                live.captioner = Some(cap);
            }
            CaptionMsg::Loaded(Err(e)) => {
                live.status = format!("no captioner: {e}");
                problems.push(e);
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
                        Ok(scored) => {
                            live.text = scored.text;
                            live.confidence = Some(scored.confidence);
                            live.done = true;
                        }
                        Err(e) => problems.push(format!("caption of {}: {e}", key.clip)),
                    }
                }
            }
        }
    }
}
