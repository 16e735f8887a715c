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
    /// After every window: what egui took this pass (the keyboard) is known.
    End,
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
    /// This pass's panels, in drawing order: the name given to [`Self::root`] and the rectangle
    /// the panel took.
    pub panels: Vec<(&'static str, egui::Rect)>,
    /// The window, egui points.
    pub window: egui::Rect,
    /// This pass's overlays over the 3-D view (buttons, readouts, the caption): name and rectangle.
    pub overlays: Vec<(&'static str, egui::Rect)>,
    /// Bottom of the overlay row at the top of the view (view options, Train, Review) in the last
    /// pass: the live caption goes under it.
    pub top_row_bottom: f32,
    naming: &'static str,
}

/// The studio's layout of one frame, as `geomotion render --studio --layout FILE` writes it:
/// rectangles `[left, top, right, bottom]` in egui points (logical pixels).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    pub window: [f32; 4],
    /// `(panel, rectangle)` in drawing order: `menu`, `browser`, `captions`, `timeline`,
    /// `transport`, `plots`.
    pub panels: Vec<(String, [f32; 4])>,
    /// What the panels leave for the 3-D view.
    pub view: [f32; 4],
    /// `(overlay, rectangle)`: `view_options`, `train_toggle`, `review_toggle`, `live_caption`,
    /// `export`, `frame_times`.
    pub overlays: Vec<(String, [f32; 4])>,
}

fn corners(r: egui::Rect) -> [f32; 4] {
    [r.left(), r.top(), r.right(), r.bottom()]
}

impl Layout {
    pub fn of(frame: &UiFrame) -> Self {
        Self {
            window: corners(frame.window),
            panels: frame
                .panels
                .iter()
                .map(|(n, r)| (n.to_string(), corners(*r)))
                .collect(),
            view: corners(frame.free),
            overlays: frame
                .overlays
                .iter()
                .map(|(n, r)| (n.to_string(), corners(*r)))
                .collect(),
        }
    }
}

impl Default for UiFrame {
    fn default() -> Self {
        Self {
            free: egui::Rect::NOTHING,
            pointer_over_ui: false,
            keyboard_in_ui: false,
            panels: Vec::new(),
            window: egui::Rect::NOTHING,
            overlays: Vec::new(),
            top_row_bottom: 0.0,
            naming: "",
        }
    }
}

impl UiFrame {
    /// A root `Ui` covering the free area, on the background layer (panels go into it).
    pub fn root(&mut self, ctx: &egui::Context, id: &'static str) -> egui::Ui {
        self.naming = id;
        egui::Ui::new(
            ctx.clone(),
            egui::Id::new(id),
            egui::UiBuilder::new()
                .layer_id(egui::LayerId::background())
                .max_rect(self.free),
        )
    }

    /// Records an overlay drawn over the 3-D view.
    pub fn overlay(&mut self, name: &'static str, rect: egui::Rect) {
        self.overlays.push((name, rect));
    }

    /// Takes what `root` left free and records the panel's rectangle.
    pub fn finish(&mut self, root: &egui::Ui) {
        let (before, after) = (root.max_rect(), root.available_rect_before_wrap());
        self.panels.push((self.naming, taken(before, after)));
        self.free = after;
    }
}

/// The strip of `before` that a panel took, leaving `after` (a panel takes one side).
fn taken(before: egui::Rect, after: egui::Rect) -> egui::Rect {
    let mut r = before;
    if after.left() > before.left() {
        r.max.x = after.left();
    } else if after.right() < before.right() {
        r.min.x = after.right();
    } else if after.top() > before.top() {
        r.max.y = after.top();
    } else if after.bottom() < before.bottom() {
        r.min.y = after.bottom();
    } else {
        r = egui::Rect::from_min_size(before.min, egui::Vec2::ZERO);
    }
    r
}

/// Resets the free area to the whole window at the start of each UI pass.
pub fn begin_ui_frame(mut contexts: EguiContexts, mut frame: ResMut<UiFrame>) -> Result {
    let ctx = contexts.ctx_mut()?;
    frame.free = ctx.viewport_rect();
    frame.window = frame.free;
    frame.panels.clear();
    frame.overlays.clear();
    Ok(())
}

/// Whether a text field has the keyboard and whether the pointer is on a panel or window, read
/// once after every window of this pass has run: a field focused by a click in this pass (the review window's, drawn last) already holds the next
/// frame's keys, so a letter typed right after the click goes into the field and fires no
/// shortcut. (Read by the panels before the windows, the flag lagged one frame: at the low frame
/// rates of a software renderer the first letter typed both fired its shortcut and was typed.)
pub fn end_ui_frame(mut contexts: EguiContexts, mut frame: ResMut<UiFrame>) -> Result {
    let ctx = contexts.ctx_mut()?;
    frame.keyboard_in_ui = ctx.egui_wants_keyboard_input();
    frame.pointer_over_ui = ctx
        .pointer_hover_pos()
        .is_some_and(|p| !frame.free.contains(p))
        || ctx.egui_wants_pointer_input()
        || ctx.egui_is_using_pointer();
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
