use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::lm::Captioner;
use crate::motion::Clip;

/// What the background threads send back.
pub(super) enum Msg {
    /// The LM, its folder and its prompt cut (`max_caption_tokens`).
    Loaded(Result<(Arc<Captioner>, PathBuf, usize), String>),
    Picked(PathBuf),
    Code(u32),
    Done(Result<(Clip, f64), String>),
}

/// The prompt box's state.
#[derive(Resource)]
pub struct TextToMotion {
    pub open: bool,
    pub prompt: String,
    /// Length asked for, seconds.
    pub seconds: f32,
    /// 0: greedy.
    pub temperature: f32,
    pub seed: u64,
    pub(super) lm: Option<Arc<Captioner>>,
    pub(super) lm_dir: Option<PathBuf>,
    /// Whether `lm_dir` is the shipped LM (`models/lm`), whose measured quality the window
    /// states; set when an LM loads.
    pub(super) lm_is_shipped: bool,
    pub(super) max_prompt_tokens: usize,
    /// Codes of the running generation so far.
    pub(super) streamed: Vec<u32>,
    /// Codes the running generation will write (the length asked for).
    pub(super) expected: usize,
    pub(super) running: Option<Arc<AtomicBool>>,
    pub status: String,
    /// Whether the shipped LM (`models/lm`, which writes motion since stage 9) was loaded once
    /// for a window opened without one.
    pub(super) tried_shipped: bool,
    pub(super) tx: Sender<Msg>,
    pub(super) rx: Receiver<Msg>,
}

impl Default for TextToMotion {
    fn default() -> Self {
        let (tx, rx) = unbounded();
        Self {
            open: false,
            prompt: "a person walks forward".into(),
            seconds: 4.0,
            temperature: 0.0,
            seed: 0,
            lm: None,
            lm_dir: None,
            lm_is_shipped: false,
            max_prompt_tokens: 32,
            streamed: Vec::new(),
            expected: 0,
            running: None,
            status: "no text-to-motion LM: open one (File menu) or start with --t2m DIR \
                     (train one with `train lm --tasks m2t,t2m`)"
                .into(),
            tried_shipped: false,
            tx,
            rx,
        }
    }
}

impl TextToMotion {
    /// Loads the LM in `dir` on a thread (on `backbone`, default through the resolver); it
    /// replaces the current one when it arrives.
    pub fn load(&mut self, dir: PathBuf, backbone: Option<PathBuf>) {
        self.status = format!("loading {}…", dir.display());
        super::jobs::spawn_load(self.tx.clone(), dir, backbone);
    }

    /// Loads the shipped LM the first time the window is open without an LM (none given with
    /// `--t2m`, none loading).
    pub fn load_shipped_once(&mut self) {
        if self.tried_shipped || self.lm.is_some() || self.lm_dir.is_some() {
            return;
        }
        self.tried_shipped = true;
        self.load(crate::lm::resolve::models_dir().join("lm"), None);
    }

    pub fn busy(&self) -> bool {
        self.running.is_some()
    }

    /// Whether an LM is loaded, ready for [`TextToMotion::generate`].
    pub fn ready(&self) -> bool {
        self.lm.is_some()
    }

    /// Generates `prompt` with `tok`'s codes on a background thread, as the window's button does
    /// (the motion becomes the primary clip when done; [`TextToMotion::status`] says how long it
    /// took, or why it failed). Nothing happens without an LM ([`TextToMotion::ready`]).
    pub fn generate(&mut self, prompt: &str, tok: Arc<crate::dvq::Tokenizer>) {
        self.prompt = prompt.to_string();
        super::jobs::start(self, tok);
    }
}
