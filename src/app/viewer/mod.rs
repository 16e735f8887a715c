//! The 3-D view: shaded skeletons (left/right colours), joints, ground grid, root trajectory,
//! foot-contact highlight, and an orbit/pan/zoom camera that can follow the root.

mod camera;
mod labels;
mod scene;
mod state;
mod tint;
mod ui;

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;

pub use scene::pose_at;
pub use state::{COMPARE_OFFSET, ViewerSettings};
pub use tint::SkeletonTint;

use crate::app::UiSystems;

pub struct ViewerPlugin;

impl Plugin for ViewerPlugin {
    fn build(&self, app: &mut App) {
        bevy::asset::load_internal_asset!(
            app,
            tint::TINT_SHADER,
            "../../../shaders/token_tint.wgsl",
            Shader::from_wgsl
        );
        app.add_plugins(MaterialPlugin::<tint::TintedMaterial>::default())
            .init_resource::<SkeletonTint>()
            .init_resource::<tint::TintedHandles>()
            .init_resource::<ViewerSettings>()
            .add_systems(Startup, (scene::spawn_scene, camera::spawn_camera))
            .add_systems(
                Update,
                (
                    scene::pose_skeletons,
                    tint::update_tint,
                    scene::draw_ground_and_trajectory,
                    camera::camera_keys,
                    camera::orbit_camera,
                    camera::fit_viewport,
                )
                    .chain(),
            )
            .add_systems(
                EguiPrimaryContextPass,
                (ui::view_options_ui, labels::compare_labels_ui).in_set(UiSystems::Overlay),
            );
    }
}
