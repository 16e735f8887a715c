//! A released GeoMotionGPT captioner in the studio ([`crate::lm::released`]): loaded from
//! `--model`/`--lm` or File → Open GeoMotionGPT captioner…, it captions the selection when the
//! open tokenizer is the GeoMotionGPT one with its K; its caption streams in like ours but is
//! shown as unrated (the released model has no nearest-take index to check it against).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::state::{CaptionKey, CaptionMsg, LiveCaption};
use crate::dvq::released::ReleasedForm;
use crate::lm::released::ReleasedCaptioner;

/// A released captioner to open at start: its weights (`GeoMotionGPT.ckpt` or the export
/// folder) and the GPT-2 folder it was fine-tuned from.
#[derive(bevy::prelude::Resource, Clone, Debug, Default)]
pub struct ReleasedSource {
    pub model: Option<PathBuf>,
    pub backbone: Option<PathBuf>,
}

/// Loads a released captioner on a thread; it replaces the current captioner when it arrives.
pub(super) fn spawn_load_released(live: &LiveCaption, model: PathBuf, backbone: Option<PathBuf>) {
    let tx = live.tx.clone();
    crate::app::background::spawn("caption", move || {
        let r = crate::device::select("auto")
            .map_err(|e| e.to_string())
            .and_then(|device| {
                ReleasedCaptioner::load(&model, backbone.as_deref(), &device)
                    .map(|c| (Arc::new(c), crate::device::describe(&device)))
                    .map_err(|e| format!("captioner {}: {e}", model.display()))
            });
        let _ = tx.send(CaptionMsg::LoadedReleased(r));
    });
}

/// File → Open GeoMotionGPT captioner…: picks the checkpoint (or an export's
/// `model.safetensors`), then, when no `tokenizer.json` sits beside it, the GPT-2 folder it was
/// fine-tuned from; loads it, and the tokenizer stored with it into the tokens feature.
pub(crate) fn pick_released_captioner(live: &LiveCaption, tokens: &crate::app::tokens::Tokens) {
    let tx = live.tx.clone();
    let open_tokenizer = tokens.opener();
    std::thread::spawn(move || {
        let Some(model) = rfd::FileDialog::new()
            .set_title("Open a GeoMotionGPT captioner (GeoMotionGPT.ckpt or model.safetensors)")
            .add_filter("captioner", &["ckpt", "pt", "safetensors"])
            .pick_file()
        else {
            return;
        };
        let beside = model.parent().map(PathBuf::from);
        let has_tokenizer = beside
            .as_ref()
            .is_some_and(|d| d.join("tokenizer.json").is_file());
        let backbone = if has_tokenizer {
            beside
        } else {
            match rfd::FileDialog::new()
                .set_title("The GPT-2 folder it was fine-tuned from (config.json, tokenizer.json)")
                .pick_folder()
            {
                Some(d) => Some(d),
                None => return,
            }
        };
        let _ = tx.send(CaptionMsg::OpenReleased(model.clone(), backbone));
        open_tokenizer(model);
    });
}

/// Why the released captioner cannot read `tok`'s codes, or `None`: it reads the codes of the
/// GeoMotionGPT tokenizer with its own K.
pub(super) fn cannot_read_released(
    cap: &ReleasedCaptioner,
    tok: &crate::dvq::Tokenizer,
) -> Option<String> {
    let k = tok.nb_code();
    if tok.released() != Some(ReleasedForm::GeoMotionGpt) {
        return Some(
            "no caption: the GeoMotionGPT captioner reads its own tokenizer's codes (File > Open \
             tokenizer: dvq-gsst.pt or the export)"
                .into(),
        );
    }
    (k != cap.nb_code()).then(|| {
        format!(
            "no caption: the captioner has {} motion tokens, the tokenizer K = {k}",
            cap.nb_code()
        )
    })
}

/// Captions `codes` with the released captioner on a thread, streaming the text.
pub(super) fn spawn_caption(
    cap: Arc<ReleasedCaptioner>,
    key: CaptionKey,
    codes: Vec<u32>,
    cancel: Arc<AtomicBool>,
    tx: crossbeam_channel::Sender<CaptionMsg>,
) {
    crate::app::background::spawn("caption", move || {
        let r = cap
            .caption(&codes, &mut |s| {
                let _ = tx.send(CaptionMsg::Partial(key.clone(), s.to_string()));
                !cancel.load(Ordering::Relaxed)
            })
            .map_err(|e| e.to_string());
        let _ = tx.send(CaptionMsg::DoneReleased(key, r));
    });
}
