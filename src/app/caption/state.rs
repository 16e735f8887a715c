use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::lm::Captioner;

/// What is being captioned: a clip, and the token range (all tokens when it is the whole clip).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptionKey {
    pub clip: String,
    pub tokens: Range<usize>,
    /// Whether `tokens` is the whole clip.
    pub whole: bool,
}

/// The running job: cancelled by setting `cancel` when a new selection arrives.
pub(super) struct Job {
    pub key: CaptionKey,
    pub cancel: Arc<AtomicBool>,
    pub started: Instant,
}

/// The captioner and the live caption of the current selection.
#[derive(Resource)]
pub struct LiveCaption {
    pub captioner: Option<Arc<Captioner>>,
    /// `CPU`, `CUDA:0` or `Metal`.
    pub device: String,
    /// Loading or failure message.
    pub status: String,
    /// What `text` describes.
    pub key: Option<CaptionKey>,
    /// The caption so far (streams in token by token).
    pub text: String,
    pub done: bool,
    /// How sure the model was of the finished caption.
    pub confidence: Option<crate::lm::captioner::Confidence>,
    /// Milliseconds from the request to the first streamed text and to the end.
    pub first_ms: Option<f64>,
    pub total_ms: Option<f64>,
    pub(super) job: Option<Job>,
    pub(super) tx: Sender<CaptionMsg>,
    pub(super) rx: Receiver<CaptionMsg>,
}

impl Default for LiveCaption {
    fn default() -> Self {
        let (tx, rx) = unbounded();
        Self {
            captioner: None,
            device: String::new(),
            status: "loading the captioner…".into(),
            key: None,
            text: String::new(),
            done: false,
            confidence: None,
            first_ms: None,
            total_ms: None,
            job: None,
            tx,
            rx,
        }
    }
}

impl LiveCaption {
    /// Replaces the captioner with the one in `dir` (loaded in the background), e.g. when the
    /// training panel finishes a run; the current selection is captioned again.
    pub fn reload_from(&mut self, dir: &std::path::Path) {
        self.status = format!("loading the captioner from {}…", dir.display());
        self.key = None;
        super::jobs::spawn_load(self, dir.to_path_buf());
    }

    /// Whether a captioning job is running.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }
}

pub(super) enum CaptionMsg {
    /// The captioner, its device, and the Gram matrix of its K motion-token rows.
    Loaded(Result<(Arc<Captioner>, String, crate::app::tokens::GramView), String>),
    Partial(CaptionKey, String),
    Done(
        CaptionKey,
        Result<crate::lm::captioner::ScoredCaption, String>,
    ),
}
