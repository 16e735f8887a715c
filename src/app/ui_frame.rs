//! Panel layout shared by the features' UI systems. Each system draws its panel into the space
//! the previous ones left free ([`UiFrame::free`]); what remains is the 3D view, which the camera
//! viewport and the mouse controls use.

use bevy::camera::CameraOutputMode;
use bevy::camera::visibility::RenderLayers;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy_egui::{EguiContexts, PrimaryEguiContext, egui};

/// Order of the UI systems in `EguiPrimaryContextPass`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UiSystems {
    Begin,
    Menu,
    Side,
    /// Bottom panels drawn first sit lowest: the token timeline goes under the transport bar.
    Timeline,
    Bottom,
    /// Above the transport bar: the plots strip.
    Plots,
    Overlay,
}

/// Whether panels are drawn (off for headless renders and presentation).
#[derive(Resource, Debug)]
pub struct StudioUi {
    pub visible: bool,
}

/// The part of the window not yet taken by panels, in egui points (= logical pixels).
#[derive(Resource, Debug)]
pub struct UiFrame {
    pub free: egui::Rect,
    /// Whether the pointer is over a panel or egui is using it (camera controls then ignore it).
    pub pointer_over_ui: bool,
    /// Whether egui has keyboard focus (a text field): shortcuts are then ignored.
    pub keyboard_in_ui: bool,
}

impl Default for UiFrame {
    fn default() -> Self {
        Self {
            free: egui::Rect::NOTHING,
            pointer_over_ui: false,
            keyboard_in_ui: false,
        }
    }
}

impl UiFrame {
    /// A root `Ui` covering the free area, on the background layer (panels go into it).
    pub fn root(&self, ctx: &egui::Context, id: &'static str) -> egui::Ui {
        egui::Ui::new(
            ctx.clone(),
            egui::Id::new(id),
            egui::UiBuilder::new()
                .layer_id(egui::LayerId::background())
                .max_rect(self.free),
        )
    }

    /// Takes what `root` left free, and refreshes the pointer/keyboard flags.
    pub fn finish(&mut self, ctx: &egui::Context, root: &egui::Ui) {
        self.free = root.available_rect_before_wrap();
        self.pointer_over_ui = ctx
            .pointer_hover_pos()
            .is_some_and(|p| !self.free.contains(p))
            || ctx.egui_wants_pointer_input()
            || ctx.egui_is_using_pointer();
        self.keyboard_in_ui = ctx.egui_wants_keyboard_input();
    }
}

/// Resets the free area to the whole window at the start of each UI pass.
pub fn begin_ui_frame(mut contexts: EguiContexts, mut frame: ResMut<UiFrame>) -> Result {
    let ctx = contexts.ctx_mut()?;
    frame.free = ctx.viewport_rect();
    frame.pointer_over_ui = false;
    Ok(())
}

/// egui draws through its own camera over the whole window, after the 3-D camera (whose
/// viewport is only the free area), so panels are never clipped by the 3-D viewport.
pub fn spawn_ui_camera(mut commands: Commands) {
    commands.spawn((
        PrimaryEguiContext,
        Camera2d,
        RenderLayers::none(),
        Camera {
            order: 1,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
}
