//! Headless render (`geomotion render`): selects the requested clip and frame, lets the scene
//! settle, writes a screenshot of the window to PNG and exits. The scene is the interactive one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use crate::app::RenderRequest;
use crate::app::library::{Library, LoadedClips, Problems, SelectClip, Slot};
use crate::app::playback::Playback;

/// Frames rendered with the final pose before the screenshot is taken.
const SETTLE_FRAMES: u32 = 20;
/// Give up after this many frames without a capture.
const TIMEOUT_FRAMES: u32 = 1200;

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
            })
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
    mut select: MessageWriter<SelectClip>,
    mut exit: MessageWriter<AppExit>,
) {
    state.frames += 1;
    let fail = |state: &CaptureState, exit: &mut MessageWriter<AppExit>, why: String| {
        error!("render: {why}");
        state.exit_code.store(1, Ordering::SeqCst);
        exit.write(AppExit::error());
    };
    if state.frames > TIMEOUT_FRAMES {
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
    let on_clip = clips.primary.as_ref().is_some_and(|c| c.id == request.clip);
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
    playback.playing = false;
    playback.seek(request.frame);
    state.settled += 1;
    if state.settled < SETTLE_FRAMES {
        return;
    }
    state.shot = true;
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
