use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bevy::prelude::*;
use crossbeam_channel::Sender;

use super::state::{Msg, TextToMotion};
use crate::app::library::{LoadedClips, Problems};
use crate::app::playback::Playback;
use crate::lm::MotionDecoding;
use crate::lm::train::{load_captioner, require_t2m};
use crate::motion::{Caption, Clip, Features};

/// Loads the LM in `dir` (on `backbone`, default through the resolver) on a thread.
pub(super) fn spawn_load(tx: Sender<Msg>, dir: PathBuf, backbone: Option<PathBuf>) {
    crate::app::background::spawn("t2m", move || {
        let r = (|| -> Result<_, String> {
            let err = |e: &dyn std::fmt::Display| format!("text-to-motion LM: {e}");
            let (cap, ckpt) =
                load_captioner(&dir, backbone.as_deref(), None, &candle_core::Device::Cpu)
                    .map_err(|e| err(&e))?;
            require_t2m(&ckpt, &dir).map_err(|e| err(&e))?;
            Ok((Arc::new(cap), dir.clone(), ckpt.train.max_caption_tokens))
        })();
        let _ = tx.send(Msg::Loaded(r));
    });
}

/// A native folder picker for an LM folder, on a thread.
pub(crate) fn pick_lm(t2m: &TextToMotion) {
    let tx = t2m.tx.clone();
    std::thread::spawn(move || {
        if let Some(dir) = rfd::FileDialog::new()
            .set_title("Open an LM trained with --tasks m2t,t2m (its folder)")
            .pick_folder()
        {
            let _ = tx.send(Msg::Picked(dir));
        }
    });
}

/// Starts generating `t2m.prompt` with `tok`'s codes; the motion arrives as [`Msg::Done`].
pub(super) fn start(t2m: &mut TextToMotion, tok: Arc<crate::dvq::Tokenizer>) {
    let Some(cap) = t2m.lm.clone() else {
        return;
    };
    if cap.config.nb_code != tok.nb_code() {
        t2m.status = format!(
            "the LM writes codes of a K = {} tokenizer; the open one has K = {}",
            cap.config.nb_code,
            tok.nb_code()
        );
        return;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    t2m.running = Some(cancel.clone());
    t2m.streamed.clear();
    t2m.status = "generating…".into();
    let skeleton = tok.skeleton();
    let opts = MotionDecoding {
        temperature: t2m.temperature,
        top_k: 0,
        seed: t2m.seed,
        max_prompt_tokens: t2m.max_prompt_tokens,
        ..Default::default()
    }
    .with_seconds(t2m.seconds, skeleton.fps(), tok.frames_per_code());
    t2m.expected = opts.max_codes;
    let (prompt, tx) = (t2m.prompt.trim().to_string(), t2m.tx.clone());
    crate::app::background::spawn("t2m", move || {
        let t0 = std::time::Instant::now();
        let r = (|| -> Result<(Clip, f64), String> {
            let codes = cap
                .generate_motion(&prompt, &opts, &mut |c| {
                    let _ = tx.send(Msg::Code(c));
                    !cancel.load(Ordering::Relaxed)
                })
                .map_err(|e| e.to_string())?;
            if cancel.load(Ordering::Relaxed) {
                return Err("cancelled".into());
            }
            let y = tok.decode(&codes).map_err(|e| e.to_string())?;
            let id = format!("generated: {prompt}");
            let features = Features::with_skeleton(y, skeleton, std::path::Path::new(&id))
                .map_err(|e| e.to_string())?;
            let clip = Clip {
                id,
                split: None,
                joints: features.joints(),
                features,
                captions: vec![Caption {
                    text: prompt.clone(),
                    tokens: String::new(),
                    start_secs: 0.0,
                    end_secs: 0.0,
                }],
            };
            Ok((clip, t0.elapsed().as_secs_f64()))
        })();
        let _ = tx.send(Msg::Done(r));
    });
}

pub(super) fn drain(
    mut t2m: ResMut<TextToMotion>,
    mut clips: ResMut<LoadedClips>,
    mut playback: ResMut<Playback>,
    mut problems: ResMut<Problems>,
    mut tokens: ResMut<crate::app::tokens::Tokens>,
) {
    while let Ok(m) = t2m.rx.try_recv() {
        match m {
            Msg::Picked(dir) => t2m.load(dir, None),
            Msg::Loaded(Ok((cap, dir, max_prompt_tokens))) => {
                t2m.status = format!("LM: {}", dir.display());
                t2m.lm = Some(cap);
                t2m.lm_is_shipped = is_shipped_lm(&dir);
                t2m.lm_dir = Some(dir);
                t2m.max_prompt_tokens = max_prompt_tokens;
            }
            Msg::Loaded(Err(e)) => {
                t2m.status = e.clone();
                problems.push(e);
            }
            Msg::Code(c) => {
                t2m.streamed.push(c);
                t2m.status = format!("generating: {} codes…", t2m.streamed.len());
                let expected = t2m.expected;
                tokens
                    .streaming
                    .get_or_insert_with(|| (Vec::new(), expected))
                    .0
                    .push(c);
            }
            Msg::Done(Ok((clip, secs))) => {
                t2m.running = None;
                tokens.streaming = None;
                t2m.status = format!(
                    "{} codes, {:.1} s of motion in {secs:.1} s",
                    t2m.streamed.len(),
                    clip.joints.frames() as f32 / clip.joints.skeleton().fps()
                );
                playback.reset_at(clip.joints.frames(), clip.joints.skeleton().fps());
                playback.playing = true;
                clips.primary = Some(clip);
            }
            Msg::Done(Err(e)) => {
                t2m.running = None;
                tokens.streaming = None;
                t2m.status = e;
            }
        }
    }
}

/// Saves a generated `clip` into the dataset folder `root` in its layout: its features as
/// `new_joint_vecs/<id>.npy` and its prompt as `texts/<id>.txt` (one whole-clip caption), the id
/// `generated_<unix seconds>` (a suffix added if taken). Returns the id; the clip joins no split
/// list, and the browser lists it once the dataset is opened again.
///
/// Errors: a clip of the other dataset's skeleton; a file that cannot be written (named).
pub(super) fn save_into(root: &std::path::Path, clip: &Clip) -> Result<String, String> {
    let ds = crate::motion::Dataset::open(root).map_err(|e| e.to_string())?;
    ds.require(clip.features.skeleton(), "a generated clip")
        .map_err(|e| e.to_string())?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut id = format!("generated_{stamp}");
    let mut n = 1;
    while ds.features_path(&id).exists() || ds.texts_path(&id).exists() {
        n += 1;
        id = format!("generated_{stamp}_{n}");
    }
    clip.features
        .save(&ds.features_path(&id))
        .map_err(|e| e.to_string())?;
    let texts = ds.texts_path(&id);
    if let Some(dir) = texts.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let prompt = clip.captions.first().map_or("", |c| c.text.as_str());
    let line = format!(
        "{prompt}#{}#0.0#0.0\n",
        crate::motion::import::captions::plain_tokens(prompt)
    );
    std::fs::write(&texts, line).map_err(|e| format!("{}: {e}", texts.display()))?;
    Ok(id)
}

/// Whether `dir` is the shipped LM folder (`models/lm`), whose measured text-to-motion quality
/// the window states.
fn is_shipped_lm(dir: &std::path::Path) -> bool {
    let shipped = crate::lm::resolve::models_dir().join("lm");
    match (dir.canonicalize(), shipped.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
