//! The studio: a Bevy app with one plugin per feature folder. The UI edits state held in
//! resources; long work runs on threads and reports through channels.

pub mod background;
pub mod caption;
pub mod capture;
pub mod export;
pub mod generate;
pub mod keyboard;
pub mod library;
pub mod perf;
pub mod playback;
pub mod review;
pub mod settings;
#[cfg(test)]
mod testing;
pub mod tokens;
pub mod training;
pub mod ui_frame;
pub mod viewer;
pub mod window_fit;

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::window::{ExitCondition, WindowResolution};
use bevy_egui::{EguiGlobalSettings, EguiPlugin, EguiPrimaryContextPass};

pub use ui_frame::{StudioUi, UiFrame, UiSystems};

/// How the studio starts.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Dataset to open; `None` opens the default (see [`library::default_dataset`]).
    pub data: Option<PathBuf>,
    /// Draw one frame to a PNG and exit, instead of running interactively.
    pub render: Option<RenderRequest>,
    /// The tokenizer to start with (`--dvq`, `--mean-std`).
    pub tokenizer: tokens::TokenizerSource,
    /// A released captioner to start with (`--model`, `--lm`).
    pub captioner: caption::ReleasedSource,
    /// An LM trained with `--tasks m2t,t2m` for the text-to-motion box (`--t2m`).
    pub t2m: Option<PathBuf>,
    /// Open the "Text to motion" window at start (`--text-to-motion`).
    pub open_t2m: bool,
}

/// A headless render: the scene of `clip` at `frame`, written to `out`.
#[derive(Clone, Debug, Resource)]
pub struct RenderRequest {
    pub clip: String,
    /// 0-based frame at 20 fps.
    pub frame: usize,
    pub out: PathBuf,
    /// Window size in pixels (width, height).
    pub size: (u32, u32),
    /// Draw the whole studio (panels included), as a user sees it.
    pub studio: bool,
    /// Also write the panels' rectangles to this JSON file ([`ui_frame::Layout`]).
    pub layout: Option<PathBuf>,
    /// With `studio`: after `clip` opens, generate this prompt in the "Text to motion" window
    /// (the shipped LM, or `--t2m`) and draw the generated motion at `frame` (clamped to its
    /// length) once its round-trip caption is done; the generation time is logged.
    pub prompt: Option<String>,
}

/// Builds and runs the studio. Returns when the window closes (or the render is written).
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    let size = match &options.render {
        Some(r) => r.size,
        None => settings::StudioSettings::load()
            .window
            .unwrap_or((1440, 900)),
    };
    let interactive = options.render.is_none();
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            // A render takes its screenshot a fixed number of frames after the pose is set;
            // pipelines compiled in the background could still be missing then (a skeleton
            // missing from 1 render in 8 on 2 busy cores), so a render compiles them at once.
            .set(bevy::render::RenderPlugin {
                synchronous_pipeline_compilation: options.render.is_some(),
                ..default()
            })
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: export::TITLE.into(),
                    resolution: WindowResolution::new(size.0, size.1),
                    // Smaller than this, panels overlap (`window_fit`); a render takes its own size.
                    resize_constraints: if interactive {
                        bevy::window::WindowResizeConstraints {
                            min_width: window_fit::MIN_SIZE.x,
                            min_height: window_fit::MIN_SIZE.y,
                            ..default()
                        }
                    } else {
                        default()
                    },
                    ..default()
                }),
                exit_condition: ExitCondition::OnPrimaryClosed,
                ..default()
            }),
    )
    .add_plugins(EguiPlugin::default())
    // egui gets its own full-window camera (`spawn_ui_camera`), not the 3-D one.
    .insert_resource(EguiGlobalSettings {
        auto_create_primary_context: false,
        // Keys reach egui through `keyboard::forward_keys`, with their own modifiers.
        input_system_settings: bevy_egui::EguiInputSystemSettings {
            run_write_keyboard_input_messages_system: false,
            ..default()
        },
        ..default()
    })
    .add_systems(
        PreUpdate,
        keyboard::forward_keys.in_set(bevy_egui::EguiInputSet::ReadBevyMessages),
    )
    .add_systems(
        Update,
        (window_fit::fit_to_monitor, window_fit::remember_size).run_if(move || interactive),
    )
    .insert_resource(ClearColor(Color::srgb(0.11, 0.11, 0.12)))
    .insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 350.0,
        ..default()
    })
    .init_resource::<UiFrame>()
    .add_systems(Startup, ui_frame::spawn_ui_camera)
    .insert_resource(StudioUi {
        visible: options.render.as_ref().is_none_or(|r| r.studio),
    })
    .configure_sets(
        EguiPrimaryContextPass,
        (
            UiSystems::Begin,
            UiSystems::Menu,
            UiSystems::Side,
            UiSystems::Timeline,
            UiSystems::Bottom,
            UiSystems::Plots,
            UiSystems::Overlay,
            UiSystems::End,
        )
            .chain(),
    )
    .add_systems(
        EguiPrimaryContextPass,
        (
            ui_frame::begin_ui_frame.in_set(UiSystems::Begin),
            window_fit::too_small_ui.in_set(UiSystems::Overlay),
            ui_frame::end_ui_frame.in_set(UiSystems::End),
        ),
    )
    .add_plugins((
        library::LibraryPlugin {
            data: options.data.clone(),
        },
        playback::PlaybackPlugin,
        viewer::ViewerPlugin,
        tokens::TokensPlugin {
            source: options.tokenizer.clone(),
        },
        caption::CaptionPlugin {
            released: options.captioner.clone(),
        },
        perf::PerfPlugin,
        review::ReviewPlugin,
        training::TrainingPlugin,
        export::ExportPlugin,
        generate::GeneratePlugin {
            lm: options.t2m.clone(),
            backbone: None,
            open: options.open_t2m,
        },
    ));
    let exit_code = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
    if let Some(req) = options.render.clone() {
        app.add_plugins(capture::CapturePlugin {
            request: req,
            exit_code: exit_code.clone(),
        });
    }
    let exit = app.run();
    if let Some(req) = &options.render {
        if !exit.is_success() || exit_code.load(std::sync::atomic::Ordering::SeqCst) != 0 {
            anyhow::bail!(
                "render of {} failed (see messages above)",
                req.out.display()
            );
        }
        if !req.out.exists() {
            anyhow::bail!("render finished but {} was not written", req.out.display());
        }
    }
    Ok(())
}
