use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::egui;
use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::dvq::Tokenizer;
use crate::motion::Split;

/// What the tokenizer says about the primary clip.
#[derive(Clone, Debug)]
pub struct ClipTokens {
    pub id: String,
    /// One code per 8 frames (the last `T mod 8` frames have none).
    pub codes: Vec<u32>,
    /// `(8N, 22, 3)` joints of the DVQ reconstruction, metres.
    pub recon: Vec<[f32; 3]>,
    /// Global MPJPE per frame, millimetres, `(8N,)`: grows with the drift of the trajectory the
    /// decoder integrates from its root velocities.
    pub mpjpe_mm: Vec<f32>,
    /// Root-relative MPJPE per frame (each frame's pelvis subtracted), millimetres, `(8N,)`: the
    /// pose error alone.
    pub root_relative_mpjpe_mm: Vec<f32>,
}

impl ClipTokens {
    /// Mean of the per-frame MPJPE, millimetres.
    pub fn mean_mpjpe_mm(&self) -> f32 {
        mean(&self.mpjpe_mm)
    }

    /// Mean of the per-frame root-relative MPJPE, millimetres.
    pub fn mean_root_relative_mpjpe_mm(&self) -> f32 {
        mean(&self.root_relative_mpjpe_mm)
    }
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

/// Code usage over every clip of one split.
#[derive(Clone, Debug)]
pub struct SplitUsage {
    pub split: Split,
    pub counts: Vec<u64>,
    pub perplexity: f64,
    pub used_pct: f64,
    pub clips: usize,
}

/// A Gram matrix `(K, K)` of normalized rows, for the heatmap.
#[derive(Clone, Debug)]
pub struct GramView {
    pub title: String,
    pub k: usize,
    pub values: Vec<f32>,
    /// ‖G − I‖_F.
    pub fro: f64,
}

/// One code decoded alone (repeated), looped beside the skeleton.
#[derive(Clone, Debug)]
pub struct Primitive {
    pub code: u32,
    /// `(T, 22, 3)` joints, metres.
    pub joints: Vec<[f32; 3]>,
}

/// How the reconstruction ghost is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GhostMode {
    Off,
    Over,
    Beside,
}

/// The tokenizer, and what it computed for the open clip and split.
#[derive(Resource)]
pub struct Tokens {
    pub tokenizer: Option<Arc<Tokenizer>>,
    /// Loading or failure message, shown where the plots would be.
    pub status: String,
    pub clip: Option<ClipTokens>,
    /// The clip id an encode job is running for.
    pub pending_clip: Option<String>,
    pub usage: Option<SplitUsage>,
    /// `(done, total)` while the usage job runs, and for which split.
    pub usage_progress: Option<(Split, usize, usize)>,
    /// Set to stop the running usage job.
    pub usage_cancel: Arc<std::sync::atomic::AtomicBool>,
    /// The split whose usage the user cancelled: not recomputed until they ask.
    pub usage_skipped: Option<Split>,
    pub gram: Option<GramView>,
    /// The captioner's motion-token embeddings, once the captioner is loaded.
    pub lm_gram: Option<GramView>,
    /// Show `lm_gram` instead of the codebook's.
    pub show_lm_gram: bool,
    /// The token highlighted on the timeline (index into `clip.codes`).
    pub selected: Option<usize>,
    /// Tokens selected on the timeline (click, then shift-click to extend), for captioning a
    /// part of the clip.
    pub selection: Option<std::ops::Range<usize>>,
    pub ghost: GhostMode,
    pub primitive: Option<Primitive>,
    /// Sort the usage histogram by count instead of by code id.
    pub sort_usage: bool,
    /// Codes a text-to-motion job has written so far, and how many it will write: the timeline
    /// shows them as they come, in place of the clip's, until the motion arrives.
    pub streaming: Option<(Vec<u32>, usize)>,
    pub(super) tx: Sender<TokenJob>,
    pub(super) rx: Receiver<TokenJob>,
    /// The heatmap textures (codebook, captioner), made once per Gram matrix.
    pub(super) gram_texture: Option<egui::TextureHandle>,
    pub(super) lm_gram_texture: Option<egui::TextureHandle>,
}

impl Default for Tokens {
    fn default() -> Self {
        let (tx, rx) = unbounded();
        Self {
            tokenizer: None,
            status: "loading the tokenizer…".into(),
            clip: None,
            pending_clip: None,
            usage: None,
            usage_progress: None,
            usage_cancel: Default::default(),
            usage_skipped: None,
            gram: None,
            lm_gram: None,
            show_lm_gram: false,
            selected: None,
            selection: None,
            ghost: GhostMode::Over,
            primitive: None,
            sort_usage: false,
            streaming: None,
            tx,
            rx,
            gram_texture: None,
            lm_gram_texture: None,
        }
    }
}

impl Tokens {
    /// Frames `[start, end)` of token `i` (8 frames each).
    pub fn frames_of(&self, i: usize) -> std::ops::Range<usize> {
        let q = self.tokenizer.as_ref().map_or(8, |t| t.frames_per_code());
        i * q..(i + 1) * q
    }

    /// Replaces the tokenizer with the one in `dir` (loaded in the background), e.g. when the
    /// training panel finishes a run.
    pub fn reload_from(&mut self, dir: &std::path::Path) {
        self.status = format!("loading the tokenizer from {}…", dir.display());
        super::jobs::spawn_load(self, dir.to_path_buf(), None);
    }

    /// A function that opens a released tokenizer file (with the open dataset's Mean/Std), for
    /// a picker thread of another feature.
    pub fn opener(&self) -> impl FnOnce(std::path::PathBuf) + Send + 'static {
        let tx = self.tx.clone();
        move |path| {
            let _ = tx.send(TokenJob::Picked(path));
        }
    }

    /// Shows the Gram matrix of a (new) captioner's motion-token rows.
    pub fn set_lm_gram(&mut self, gram: GramView) {
        self.lm_gram = Some(gram);
        self.lm_gram_texture = None;
    }

    /// The token under frame `f`, if the clip has one there.
    pub fn token_at(&self, f: usize) -> Option<usize> {
        let q = self.tokenizer.as_ref().map_or(8, |t| t.frames_per_code());
        let n = self.clip.as_ref()?.codes.len();
        (f / q < n).then_some(f / q)
    }
}

/// Results of the tokenizer's background jobs.
pub(super) enum TokenJob {
    /// The tokenizer, its Gram view and ` (file name)`.
    Loaded(Result<(Arc<Tokenizer>, GramView, String), String>),
    /// A tokenizer file the user picked (File → Open tokenizer…).
    Picked(std::path::PathBuf),
    Clip(Result<ClipTokens, String>),
    UsageProgress(Split, usize, usize),
    /// The usage job of this split stopped on cancel.
    UsageCancelled(Split),
    Usage(Result<SplitUsage, String>),
    Primitive(Result<Primitive, String>),
}

/// A distinct, stable colour per code: hue by the golden ratio, so neighbouring ids differ.
pub fn code_color(code: u32) -> egui::Color32 {
    let h = (code as f32 * 0.618_034).fract();
    let c = Color::hsl(h * 360.0, 0.62, 0.55).to_srgba();
    egui::Color32::from_rgb(
        (c.red * 255.0) as u8,
        (c.green * 255.0) as u8,
        (c.blue * 255.0) as u8,
    )
}

/// The same colour as a Bevy linear colour (for the skeleton tint and gizmos).
pub fn code_color_linear(code: u32) -> LinearRgba {
    let c = code_color(code);
    Color::srgb_u8(c.r(), c.g(), c.b()).to_linear()
}
