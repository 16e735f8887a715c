use bevy::camera::Viewport;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use super::scene::pose_at;
use super::state::{COMPARE_OFFSET, OrbitCamera, ViewerSettings};
use crate::app::UiFrame;
use crate::app::library::{LoadedClips, Slot};
use crate::app::playback::Playback;

pub(super) fn spawn_camera(mut commands: Commands) {
    let orbit = OrbitCamera::default();
    commands.spawn((Camera3d::default(), orbit.transform(), orbit));
}

/// F toggles follow-root; C resets the camera.
pub(super) fn camera_keys(
    keys: Res<ButtonInput<KeyCode>>,
    frame: Res<UiFrame>,
    mut settings: ResMut<ViewerSettings>,
    mut cameras: Query<&mut OrbitCamera>,
) {
    if frame.keyboard_in_ui {
        return;
    }
    if keys.just_pressed(KeyCode::KeyF) {
        settings.follow_root = !settings.follow_root;
    }
    if keys.just_pressed(KeyCode::KeyC) {
        for mut cam in &mut cameras {
            reset(&mut cam, &mut settings);
        }
    }
}

pub(super) fn reset(cam: &mut OrbitCamera, settings: &mut ViewerSettings) {
    let focus = cam.focus;
    *cam = OrbitCamera { focus, ..default() };
    settings.follow_root = true;
}

/// Left drag orbits, right or middle drag pans (and stops following), the wheel zooms.
pub(super) fn orbit_camera(
    mouse: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    frame: Res<UiFrame>,
    clips: Res<LoadedClips>,
    playback: Res<Playback>,
    mut settings: ResMut<ViewerSettings>,
    mut cameras: Query<(&mut OrbitCamera, &mut Transform)>,
) {
    let Ok((mut cam, mut transform)) = cameras.single_mut() else {
        return;
    };
    let mouse_free = !frame.pointer_over_ui;
    if mouse_free {
        let d = motion.delta;
        if mouse.pressed(MouseButton::Left) {
            cam.yaw -= d.x * 0.008;
            cam.pitch = (cam.pitch + d.y * 0.006).clamp(-0.2, 1.45);
        }
        if mouse.pressed(MouseButton::Right) || mouse.pressed(MouseButton::Middle) {
            if d != Vec2::ZERO {
                settings.follow_root = false;
            }
            let right = transform.right();
            let up = transform.up();
            let k = cam.distance * 0.0015;
            cam.focus += (-d.x * k) * *right + (d.y * k) * *up;
        }
        let lines = match scroll.unit {
            MouseScrollUnit::Line => scroll.delta.y,
            MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
        };
        if lines != 0.0 {
            cam.distance = (cam.distance * 0.9f32.powf(lines)).clamp(0.5, 40.0);
        }
    }
    if settings.follow_root {
        if let Some(clip) = clips.get(Slot::Primary) {
            let root = pose_at(clip, playback.position)[0];
            let mut focus = Vec3::new(root.x, 0.9, root.z);
            if clips.get(Slot::Compare).is_some() {
                focus += COMPARE_OFFSET * 0.5;
            }
            cam.focus = focus;
        }
    }
    *transform = cam.transform();
}

/// Fits the camera's viewport to the window area the panels leave free.
pub(super) fn fit_viewport(
    frame: Res<UiFrame>,
    window: Query<&Window, With<PrimaryWindow>>,
    mut cameras: Query<&mut Camera, With<OrbitCamera>>,
) {
    let Ok(window) = window.single() else { return };
    let Ok(mut camera) = cameras.single_mut() else {
        return;
    };
    let scale = window.scale_factor();
    let size = window.physical_size();
    let r = frame.free;
    let min = UVec2::new(
        (r.min.x * scale).max(0.0) as u32,
        (r.min.y * scale).max(0.0) as u32,
    );
    let max = UVec2::new(
        ((r.max.x * scale) as u32).min(size.x),
        ((r.max.y * scale) as u32).min(size.y),
    );
    // Before the first UI pass the free area is egui's empty rectangle (min +∞, max −∞), which
    // casts to min = u32::MAX: hence the saturating sums.
    let viewport =
        (max.x > min.x.saturating_add(16) && max.y > min.y.saturating_add(16)).then(|| Viewport {
            physical_position: min,
            physical_size: max - min,
            ..default()
        });
    let same = match (&camera.viewport, &viewport) {
        (Some(a), Some(b)) => {
            a.physical_position == b.physical_position && a.physical_size == b.physical_size
        }
        (None, None) => true,
        _ => false,
    };
    if !same {
        camera.viewport = viewport;
    }
}
