//! The window fits the screen it opens on: the studio asks for its last size (remembered in the
//! settings file) or 1440×900 (logical pixels), which is larger than a 1366×768 laptop screen,
//! whose transport bar and timeline then fell off the bottom. Once winit reports the monitors,
//! the window is shrunk to the primary monitor's size less room for a taskbar and title bar,
//! never below [`MIN_SIZE`], and centred.

use bevy::prelude::*;
use bevy::window::{Monitor, PrimaryMonitor, PrimaryWindow, WindowPosition};

/// The size the studio's layout is made for at least, logical pixels.
pub const MIN_SIZE: Vec2 = Vec2::new(1024.0, 600.0);
/// Room left on the screen for a taskbar, a dock and the title bar, logical pixels.
const SCREEN_MARGIN: Vec2 = Vec2::new(40.0, 96.0);

/// The window size for `wanted` on a screen of `screen` logical pixels: `wanted` where it fits,
/// else the screen less [`SCREEN_MARGIN`], but never below [`MIN_SIZE`].
pub fn fit(wanted: Vec2, screen: Vec2) -> Vec2 {
    wanted.min(screen - SCREEN_MARGIN).max(MIN_SIZE)
}

/// Resizes the primary window once, when the primary monitor is known (interactive runs only).
pub fn fit_to_monitor(
    monitors: Query<&Monitor, With<PrimaryMonitor>>,
    mut windows: Query<&mut Window, With<PrimaryWindow>>,
    mut done: Local<bool>,
) {
    if *done {
        return;
    }
    let (Ok(monitor), Ok(mut window)) = (monitors.single(), windows.single_mut()) else {
        return;
    };
    *done = true;
    let scale = monitor.scale_factor.max(0.5) as f32;
    let screen = Vec2::new(
        monitor.physical_width as f32,
        monitor.physical_height as f32,
    ) / scale;
    let wanted = Vec2::new(window.resolution.width(), window.resolution.height());
    let size = fit(wanted, screen);
    if size != wanted {
        info!(
            "window {}×{} on a {}×{} screen: {}×{}",
            wanted.x, wanted.y, screen.x, screen.y, size.x, size.y
        );
        window.resolution.set(size.x, size.y);
        window.position = WindowPosition::Centered(bevy::window::MonitorSelection::Primary);
    }
}

/// Remembers the window's size (in the settings file) once it has not changed for a second.
/// Resizes in the first 3 s are the studio's own (opening, fitting to the screen): a window
/// shrunk to a small screen is not remembered for the next, larger one.
pub fn remember_size(
    mut resized: MessageReader<bevy::window::WindowResized>,
    primary: Query<Entity, With<PrimaryWindow>>,
    time: Res<Time<Real>>,
    mut pending: Local<Option<((u32, u32), std::time::Instant)>>,
) {
    if time.elapsed_secs() < 3.0 {
        resized.clear();
        return;
    }
    let primary = primary.single().ok();
    for r in resized.read() {
        if Some(r.window) == primary && r.width >= 1.0 && r.height >= 1.0 {
            let size = (r.width.round() as u32, r.height.round() as u32);
            *pending = Some((size, std::time::Instant::now()));
        }
    }
    if let Some((size, at)) = *pending
        && at.elapsed().as_secs_f32() > 1.0
    {
        *pending = None;
        crate::app::settings::StudioSettings::update(|s| s.window = Some(size));
    }
}

/// The notice shown while the window is smaller than [`MIN_SIZE`] (a screen smaller than the
/// minimum, or a window manager that ignores the size constraint), or `None`.
pub fn too_small_notice(window: Vec2) -> Option<String> {
    (window.x + 0.5 < MIN_SIZE.x || window.y + 0.5 < MIN_SIZE.y).then(|| {
        format!(
            "This window is {:.0}×{:.0}; the studio is laid out for at least {:.0}×{:.0}, so \
             panels may overlap. Enlarge the window or hide the panels (P).",
            window.x, window.y, MIN_SIZE.x, MIN_SIZE.y
        )
    })
}

/// Says so, at the top of the view, while the window is smaller than [`MIN_SIZE`] (interactive
/// runs with the panels shown).
pub fn too_small_ui(
    mut contexts: bevy_egui::EguiContexts,
    windows: Query<&Window, With<PrimaryWindow>>,
    studio: Res<crate::app::ui_frame::StudioUi>,
    mut frame: ResMut<crate::app::ui_frame::UiFrame>,
) -> Result {
    let Ok(window) = windows.single() else {
        return Ok(());
    };
    let size = Vec2::new(window.resolution.width(), window.resolution.height());
    let (Some(text), true) = (too_small_notice(size), studio.visible) else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let area = frame.free;
    let shown = bevy_egui::egui::Area::new(bevy_egui::egui::Id::new("window_too_small"))
        .fixed_pos(area.center_top() + bevy_egui::egui::vec2(0.0, 8.0))
        .pivot(bevy_egui::egui::Align2::CENTER_TOP)
        .order(bevy_egui::egui::Order::Background)
        .interactable(false)
        .show(ctx, |ui| {
            ui.set_max_width(area.width() - 16.0);
            bevy_egui::egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.colored_label(bevy_egui::egui::Color32::from_rgb(255, 200, 90), text);
            });
        });
    frame.overlay("window_too_small", shown.response.rect);
    Ok(())
}

#[test]
fn a_window_below_the_minimum_says_so() {
    assert_eq!(too_small_notice(MIN_SIZE), None);
    assert_eq!(too_small_notice(Vec2::new(1366.0, 768.0)), None);
    let n = too_small_notice(Vec2::new(800.0, 600.0)).unwrap();
    assert!(n.contains("800×600") && n.contains("1024×600"), "{n}");
}

#[test]
fn the_window_fits_common_screens() {
    let wanted = Vec2::new(1440.0, 900.0);
    assert_eq!(fit(wanted, Vec2::new(1920.0, 1080.0)), wanted);
    // A 1366×768 laptop: the whole window is on screen, title bar and taskbar included.
    let s = fit(wanted, Vec2::new(1366.0, 768.0));
    assert!(
        s.x <= 1366.0 - 40.0 && s.y <= 768.0 - 96.0 && s.y >= 600.0,
        "{s}"
    );
    // Smaller than the layout's minimum: the minimum (the window overhangs).
    assert_eq!(fit(wanted, Vec2::new(800.0, 480.0)), MIN_SIZE);
}
