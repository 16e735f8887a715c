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
            let body = clips
                .get(Slot::Primary)
                .map_or(1.7, |clip| body_height(&pose_at(clip, playback.position)));
            cam.distance = zoom(cam.distance, lines, body);
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

/// Height of a pose, metres (`(J, 3)` joints, y up), at least 1 m (a crouch still frames well).
fn body_height(joints: &[Vec3]) -> f32 {
    let (lo, hi) = joints.iter().fold((f32::MAX, f32::MIN), |(lo, hi), j| {
        (lo.min(j.y), hi.max(j.y))
    });
    if hi > lo { (hi - lo).max(1.0) } else { 1.7 }
}

/// The camera distance after `lines` wheel notches (positive: closer), 10 % a notch, kept
/// between 1.2 and 15 body heights: the wheel cannot take the camera into the skeleton or lose
/// it in the distance.
pub(super) fn zoom(distance: f32, lines: f32, body: f32) -> f32 {
    (distance * 0.9f32.powf(lines)).clamp(1.2 * body, 15.0 * body)
}

#[test]
fn the_wheel_stays_outside_the_body_and_within_sight() {
    let body = body_height(&[Vec3::new(0.0, 0.05, 0.0), Vec3::new(0.1, 1.75, 0.0)]);
    assert!((body - 1.7).abs() < 1e-6);
    let mut d = 4.0;
    for _ in 0..5 {
        d = zoom(d, 1.0, body);
    }
    assert!((d - 4.0 * 0.9f32.powi(5)).abs() < 1e-5, "5 notches: {d}");
    for _ in 0..50 {
        d = zoom(d, 1.0, body);
    }
    assert!((d - 1.2 * body).abs() < 1e-5, "nearest: {d}");
    assert!((zoom(4.0, -100.0, body) - 15.0 * body).abs() < 1e-4);
}
