//! The tokenizer in the studio: the token timeline under the scrub bar, the reconstruction ghost
//! with per-frame MPJPE, "play this code", the bone tint of the current code, codebook usage
//! over the open split and the codebook's Gram-matrix heatmap. All tokenizer work runs on
//! background threads and reports through a channel.

mod ghost;
mod jobs;
mod plots;
mod state;
mod timeline;

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;

pub use jobs::clip_tokens;
pub(crate) use jobs::{pick_tokenizer, skeleton_mismatch};
pub use state::{ClipTokens, GhostMode, GramView, SplitUsage, Tokens, code_color};

use crate::app::UiSystems;

/// Another feature trained (or picked) a tokenizer: load the one in this folder.
#[derive(Message, Debug, Clone)]
pub struct ReloadTokenizer(pub std::path::PathBuf);

/// A captioner was loaded: show the Gram matrix of its motion-token rows beside the codebook's.
#[derive(Message, Debug, Clone)]
pub struct CaptionerGram(pub GramView);

/// Applies the messages other features send.
fn read_messages(
    mut reload: MessageReader<ReloadTokenizer>,
    mut gram: MessageReader<CaptionerGram>,
    mut tokens: ResMut<Tokens>,
) {
    for ReloadTokenizer(dir) in reload.read() {
        tokens.reload_from(dir);
    }
    for CaptionerGram(g) in gram.read() {
        tokens.set_lm_gram(g.clone());
    }
}

/// The tokenizer the studio starts with: `models/dvq` by default, or `--dvq PATH` in any form
/// [`crate::dvq::Tokenizer::open`] reads, with `--mean-std DIR` (default: the dataset opened at
/// start) for a released one.
#[derive(Resource, Clone, Debug, Default)]
pub struct TokenizerSource {
    pub dvq: Option<std::path::PathBuf>,
    /// Given for one of our tokenizer folders, replaces its stored statistics.
    pub mean_std: Option<std::path::PathBuf>,
    /// The dataset opened at start (`--data`): a released tokenizer's statistics by default.
    pub dataset: Option<std::path::PathBuf>,
}

#[derive(Default)]
pub struct TokensPlugin {
    pub source: TokenizerSource,
}

impl Plugin for TokensPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Tokens>()
            .insert_resource(self.source.clone())
            .add_message::<ReloadTokenizer>()
            .add_message::<CaptionerGram>()
            .add_systems(Startup, jobs::load_tokenizer)
            .add_systems(
                Update,
                (
                    read_messages,
                    jobs::drain_token_jobs,
                    jobs::track_primary,
                    jobs::track_usage,
                    ghost::draw_token_overlays,
                )
                    .chain(),
            )
            .add_systems(
                EguiPrimaryContextPass,
                timeline::timeline_ui.in_set(UiSystems::Timeline),
            )
            .add_systems(
                EguiPrimaryContextPass,
                plots::plots_ui.in_set(UiSystems::Plots),
            );
    }
}
