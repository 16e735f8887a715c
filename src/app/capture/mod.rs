//! Headless render (`geomotion render`): selects the requested clip and frame, lets the scene
//! settle, writes a screenshot of the window to PNG and exits. The scene is the interactive one.
//! With a prompt (`render --studio --prompt`), the clip's scene is followed by a generation in
//! the "Text to motion" window, and the generated motion is drawn instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use crate::app::RenderRequest;
use crate::app::caption::LiveCaption;
use crate::app::library::{Library, LoadedClips, Problems, SelectClip, Slot};
use crate::app::playback::Playback;
use crate::app::tokens::Tokens;

/// Frames rendered with the final pose before the screenshot is taken.
const SETTLE_FRAMES: u32 = 20;
/// Give up after this many frames without a capture.
const TIMEOUT_FRAMES: u32 = 1200;
/// A studio render waits for the tokenizer's plots and the live caption at most this long, s.
const STUDIO_TIMEOUT_SECS: f32 = 240.0;

pub struct CapturePlugin {
    pub request: RenderRequest,
    /// Set to 1 when the render fails; read by [`crate::app::run`] after the app exits.
    pub exit_code: Arc<AtomicU8>,
}

#[derive(Resource)]
struct CaptureState {
    exit_code: Arc<AtomicU8>,
    requested: bool,
    settled: u32,
    frames: u32,
    shot: bool,
    /// The prompt's generation: not started, running, or done (its clip is the primary one).
    generation: Generation,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Generation {
    NotStarted,
    Running,
    Done,
}

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(self.request.clone())
            .insert_resource(CaptureState {
                exit_code: self.exit_code.clone(),
                requested: false,
                settled: 0,
                frames: 0,
                shot: false,
                generation: Generation::NotStarted,
            })
            .add_message::<crate::app::library::SelectClip>()
            .add_systems(Last, drive_capture);
    }
}

fn drive_capture(
    mut commands: Commands,
    request: Res<RenderRequest>,
    library: Res<Library>,
    clips: Res<LoadedClips>,
    problems: Res<Problems>,
    mut playback: ResMut<Playback>,
    mut state: ResMut<CaptureState>,
    tokens: Res<Tokens>,
    live: Res<LiveCaption>,
    mut t2m: Option<ResMut<crate::app::generate::TextToMotion>>,
    time: Res<Time>,
    frame_times: Option<Res<crate::app::perf::FrameTimes>>,
    ui_frame: Res<crate::app::UiFrame>,
    mut select: MessageWriter<SelectClip>,
    mut exit: MessageWriter<AppExit>,
) {
    state.frames += 1;
    let fail = |state: &CaptureState, exit: &mut MessageWriter<AppExit>, why: String| {
        error!("render: {why}");
        state.exit_code.store(1, Ordering::SeqCst);
        exit.write(AppExit::error());
    };
    let studio_wait = request.studio && time.elapsed_secs() < STUDIO_TIMEOUT_SECS;
    if state.frames > TIMEOUT_FRAMES && !studio_wait {
        fail(
            &state,
            &mut exit,
            format!("no capture after {TIMEOUT_FRAMES} frames"),
        );
        return;
    }
    if state.shot {
        return;
    }
    if library.dataset.is_none() {
        if let Some((_, e)) = problems.entries.last() {
            fail(&state, &mut exit, e.clone());
        }
        return;
    }
    let target = match (&request.prompt, state.generation) {
        (Some(prompt), Generation::Running | Generation::Done) => format!("generated: {prompt}"),
        _ => request.clip.clone(),
    };
    let on_clip = clips.primary.as_ref().is_some_and(|c| c.id == target)
        || state.generation == Generation::Running;
    if !on_clip && state.generation == Generation::Done {
        fail(&state, &mut exit, "the generated clip was replaced".into());
        return;
    }
    if !on_clip {
        if !state.requested {
            select.write(SelectClip {
                id: request.clip.clone(),
                slot: Slot::Primary,
            });
            state.requested = true;
        } else if state.frames > 60 {
            let why = problems
                .entries
                .last()
                .map_or("clip did not load".to_string(), |e| e.1.clone());
            fail(&state, &mut exit, why);
        }
        return;
    }
    if let Some(prompt) = &request.prompt
        && state.generation != Generation::Done
    {
        let Some(t2m) = t2m.as_mut() else {
            fail(
                &state,
                &mut exit,
                "--prompt: no text-to-motion window".into(),
            );
            return;
        };
        match state.generation {
            Generation::NotStarted => {
                if let (true, Some(tok)) = (t2m.ready(), tokens.tokenizer.clone()) {
                    t2m.generate(prompt, tok);
                    if !t2m.busy() {
                        fail(&state, &mut exit, format!("--prompt: {}", t2m.status));
                        return;
                    }
                    state.generation = Generation::Running;
                } else if !studio_wait {
                    fail(&state, &mut exit, format!("--prompt: {}", t2m.status));
                }
            }
            _ if t2m.busy() => {}
            _ => {
                // `target` is the generated clip's id while the generation runs.
                if !clips.primary.as_ref().is_some_and(|c| c.id == target) {
                    fail(&state, &mut exit, format!("--prompt: {}", t2m.status));
                    return;
                }
                info!("text to motion, \"{prompt}\": {}", t2m.status);
                state.generation = Generation::Done;
            }
        }
        return;
    }
    let frames = clips.primary.as_ref().map_or(1, |c| c.joints.frames());
    playback.playing = false;
    playback.seek(request.frame.min(frames.saturating_sub(1)));
    let unreadable = clips.primary.as_ref().is_some_and(|c| {
        tokens.tokenizer.as_ref().is_some_and(|t| {
            crate::app::tokens::skeleton_mismatch(t, c.features.skeleton()).is_some()
        })
    });
    if request.studio && studio_wait && !studio_ready(&tokens, &live, &target, unreadable) {
        return;
    }
    state.settled += 1;
    if state.settled < SETTLE_FRAMES {
        return;
    }
    state.shot = true;
    if request.prompt.is_some() {
        let done = live.done && live.key.as_ref().is_some_and(|k| k.clip == target);
        info!(
            "round-trip caption of {target}: {}",
            if done { &live.text } else { &live.status }
        );
    }
    if let Some(ft) = frame_times {
        info!(
            "frame times: mean {:.1} ms, longest of the last 2 s {:.1} ms, idle longest {}, longest during background work {}",
            ft.mean_ms(),
            ft.longest_ms(),
            ft.idle_longest_ms
                .map_or("–".into(), |v| format!("{v:.1} ms")),
            ft.busy_longest_ms
                .map_or("–".into(), |v| format!("{v:.1} ms")),
        );
    }
    if let Some(path) = &request.layout {
        let layout = crate::app::ui_frame::Layout::of(&ui_frame);
        let json = serde_json::to_string_pretty(&layout).expect("layout serializes");
        if let Err(e) = std::fs::write(path, json) {
            fail(&state, &mut exit, format!("{}: {e}", path.display()));
            return;
        }
    }
    let out = request.out.clone();
    commands
        .spawn(Screenshot::primary_window())
        .observe(save_to_disk(out))
        .observe(
            |_: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
                exit.write(AppExit::Success);
            },
        );
}

/// Whether the studio has everything it will show for `clip`: its tokens and usage (or no
/// tokenizer, or one that cannot read the clip: `unreadable`) and its caption (or the reason
/// there is none).
fn studio_ready(tokens: &Tokens, live: &LiveCaption, clip: &str, unreadable: bool) -> bool {
    let tokens_done = tokens.tokenizer.is_none() && tokens.status.starts_with("no tokenizer")
        || unreadable
        || tokens.clip.as_ref().is_some_and(|c| c.id == clip) && tokens.usage.is_some();
    let caption_done = live.status.starts_with("no captioner")
        || live.blocked.is_some()
        || live.done && live.key.as_ref().is_some_and(|k| k.clip == clip);
    tokens_done && caption_done
}
