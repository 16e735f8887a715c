use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::eval::doubt::Doubt;
use crate::eval::nearest::{NearestIndex, Neighbour};
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
    /// A released GeoMotionGPT captioner; when set it captions instead of `captioner`.
    pub released: Option<Arc<crate::lm::released::ReleasedCaptioner>>,
    /// The captioner's nearest-training-take index (`None` when its folder has none).
    pub index: Option<Arc<NearestIndex>>,
    /// `CPU`, `CUDA:0` or `Metal`.
    pub device: String,
    /// Loading or failure message.
    pub status: String,
    /// Whether the last load failed (the studio offers Retry).
    pub failed: bool,
    /// Why the captioner does not caption the open tokenizer's codes (a tokenizer it was not
    /// trained on is loaded); shown instead of a caption.
    pub blocked: Option<String>,
    /// What `text` describes.
    pub key: Option<CaptionKey>,
    /// The caption so far (streams in token by token).
    pub text: String,
    pub done: bool,
    /// How sure the model was of the finished caption.
    pub confidence: Option<crate::lm::captioner::Confidence>,
    /// The selection's nearest training take, when the captioner has an index.
    pub nearest: Option<Neighbour>,
    /// The style a style-tagged captioner read, with the classifier's read and probability.
    pub style: Option<crate::eval::nearest::StyleRead>,
    /// Why the finished caption should be read as a guess (`eval::doubt`); empty: sure.
    pub doubts: Vec<Doubt>,
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
            released: None,
            index: None,
            device: String::new(),
            status: "loading the captioner…".into(),
            failed: false,
            blocked: None,
            key: None,
            text: String::new(),
            done: false,
            confidence: None,
            nearest: None,
            style: None,
            doubts: Vec::new(),
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
        self.failed = false;
        self.key = None;
        self.released = None;
        super::jobs::spawn_load(self, dir.to_path_buf());
    }

    /// Whether a captioning job is running.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }
}

pub(super) enum CaptionMsg {
    /// The captioner, its nearest-take index, its device, and the Gram matrix of its K
    /// motion-token rows.
    Loaded(Result<Loaded, String>),
    Partial(CaptionKey, String),
    /// A released captioner picked in the studio: its weights and GPT-2 folder.
    OpenReleased(std::path::PathBuf, Option<std::path::PathBuf>),
    /// A released captioner and its device.
    LoadedReleased(Result<(Arc<crate::lm::released::ReleasedCaptioner>, String), String>),
    /// A released captioner's finished caption.
    DoneReleased(
        CaptionKey,
        Result<crate::lm::released::ReleasedCaption, String>,
    ),
    /// The finished caption with what the index says about the selection.
    Done(CaptionKey, Result<Finished, String>),
}

/// A finished caption job.
pub(super) struct Finished {
    pub scored: crate::lm::captioner::ScoredCaption,
    /// The selection's [`crate::eval::doubt::NEIGHBOURS`] nearest training takes, nearest first
    /// (empty: no index).
    pub neighbours: Vec<Neighbour>,
    /// The style a style-tagged captioner read ([`crate::eval::nearest::NearestIndex::style_read`]).
    pub style: Option<crate::eval::nearest::StyleRead>,
}

pub(super) struct Loaded {
    pub captioner: Arc<Captioner>,
    pub index: Option<Arc<NearestIndex>>,
    pub device: String,
    pub gram: crate::app::tokens::GramView,
}
