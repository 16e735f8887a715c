//! For talks: a PNG screenshot (F12), a GIF of the current clip's playback with the caption
//! overlaid (G; also an MP4 when `ffmpeg` is on the PATH), and presentation mode (P), which
//! hides the panels and enlarges the caption. Files go to `~/Pictures/geomotion/` (or
//! `~/.local/share/geomotion/exports/` when there is no pictures folder).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::app::library::{LoadedClips, Problems};
use crate::app::playback::Playback;
use crate::app::{StudioUi, UiFrame, UiSystems};

/// GIF frame rate: every second frame of the 20 fps clip.
const GIF_STRIDE: usize = 2;
/// Frames rendered after a seek before its screenshot.
const SETTLE: u32 = 2;

/// Where exports are written.
pub fn export_dir() -> PathBuf {
    match dirs::picture_dir() {
        Some(p) => p.join("geomotion"),
        None => dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("geomotion")
            .join("exports"),
    }
}

type Frames = Arc<Mutex<Vec<(usize, image::RgbaImage)>>>;

struct GifCapture {
    clip: String,
    frames: Vec<usize>,
    next: usize,
    settle: u32,
    shots: Frames,
    was_visible: bool,
}

#[derive(Resource)]
pub struct Export {
    /// Presentation mode: panels hidden, caption enlarged.
    pub presentation: bool,
    pub message: String,
    /// The file the message says was saved: clicking the message opens its folder.
    pub saved: Option<PathBuf>,
    /// A PNG is being captured: notices and hints stay out of it.
    capturing: Arc<std::sync::atomic::AtomicBool>,
    gif: Option<GifCapture>,
    tx: Sender<Result<(String, PathBuf), String>>,
    rx: Receiver<Result<(String, PathBuf), String>>,
}

impl Default for Export {
    fn default() -> Self {
        let (tx, rx) = unbounded();
        Self {
            presentation: false,
            message: String::new(),
            saved: None,
            capturing: Default::default(),
            gif: None,
            tx,
            rx,
        }
    }
}

impl Export {
    /// A notice that is not about a saved file.
    fn say(&mut self, message: impl Into<String>) {
        self.message = message.into();
        self.saved = None;
    }
}

fn stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Takes a PNG of the window; the export notices are hidden until it is captured.
fn screenshot_png(commands: &mut Commands, export: &mut Export, clip: &str, frame: usize) {
    use std::sync::atomic::Ordering;
    let dir = export_dir();
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{clip}-f{frame}-{}.png", stamp()));
    export.capturing.store(true, Ordering::SeqCst);
    let capturing = export.capturing.clone();
    commands
        .spawn(Screenshot::primary_window())
        .observe(save_to_disk(path.clone()))
        .observe(move |_: On<ScreenshotCaptured>| capturing.store(false, Ordering::SeqCst));
    export.message = format!("saved {}", path.display());
    export.saved = Some(path);
}

/// The window title while a GIF records: its progress and how to cancel (the panels are hidden
/// and anything drawn in the window would be recorded).
fn gif_title(g: &GifCapture) -> String {
    format!(
        "{TITLE} — recording {}: frame {} of {} (Esc cancels)",
        g.clip,
        g.next.min(g.frames.len()),
        g.frames.len()
    )
}

/// The studio window's title.
pub const TITLE: &str = "GeoMotion Studio";

/// Keeps the window title on the GIF's progress while it records.
fn gif_progress_title(export: Res<Export>, mut windows: Query<&mut Window, With<PrimaryWindow>>) {
    let Ok(mut window) = windows.single_mut() else {
        return;
    };
    match &export.gif {
        Some(g) => {
            let title = gif_title(g);
            if window.title != title {
                window.title = title;
            }
        }
        None if window.title != TITLE => window.title = TITLE.to_string(),
        None => {}
    }
}

fn start_gif(export: &mut Export, clips: &LoadedClips, studio: &mut StudioUi) {
    let Some(clip) = clips.primary.as_ref() else {
        export.say("no clip to export");
        return;
    };
    export.gif = Some(GifCapture {
        clip: clip.id.clone(),
        frames: (0..clip.joints.frames()).step_by(GIF_STRIDE).collect(),
        next: 0,
        settle: 0,
        shots: Arc::new(Mutex::new(Vec::new())),
        was_visible: studio.visible,
    });
    // The GIF shows what presentation mode shows: skeleton and caption.
    studio.visible = false;
    export.say(format!("recording {}…", clip.id));
}

/// Keys: F12 screenshot, G GIF, P presentation mode.
fn export_keys(
    keys: Res<ButtonInput<KeyCode>>,
    frame: Res<UiFrame>,
    mut commands: Commands,
    mut export: ResMut<Export>,
    mut studio: ResMut<StudioUi>,
    clips: Res<LoadedClips>,
    playback: Res<Playback>,
) {
    if let Some(g) = &export.gif {
        if keys.just_pressed(KeyCode::Escape) {
            studio.visible = g.was_visible && !export.presentation;
            let notice = format!("GIF of {} cancelled", g.clip);
            export.say(notice);
            export.gif = None;
        }
        return;
    }
    if frame.keyboard_in_ui {
        return;
    }
    if keys.just_pressed(KeyCode::F12) {
        let id = clips.primary.as_ref().map_or("studio", |c| c.id.as_str());
        screenshot_png(&mut commands, &mut export, id, playback.frame());
    }
    if keys.just_pressed(KeyCode::KeyP) {
        export.presentation = !export.presentation;
        studio.visible = !export.presentation;
    }
    if keys.just_pressed(KeyCode::KeyG) {
        start_gif(&mut export, &clips, &mut studio);
    }
}

/// Steps through the clip, one screenshot per GIF frame, then encodes in the background.
fn drive_gif(
    mut commands: Commands,
    mut export: ResMut<Export>,
    mut playback: ResMut<Playback>,
    mut studio: ResMut<StudioUi>,
    mut problems: ResMut<Problems>,
) {
    while let Ok(r) = export.rx.try_recv() {
        match r {
            Ok((m, path)) => {
                export.message = m;
                export.saved = Some(path);
            }
            Err(e) => problems.push(e),
        }
    }
    let tx = export.tx.clone();
    let Some(g) = export.gif.as_mut() else {
        return;
    };
    playback.playing = false;
    let captured = g.shots.lock().map_or(0, |s| s.len());
    if g.next < g.frames.len() {
        if g.settle == 0 {
            playback.seek(g.frames[g.next]);
        }
        g.settle += 1;
        if g.settle > SETTLE && captured == g.next {
            let (shots, index) = (g.shots.clone(), g.frames[g.next]);
            commands.spawn(Screenshot::primary_window()).observe(
                move |c: On<ScreenshotCaptured>| {
                    if let Ok(img) = c.image.clone().try_into_dynamic()
                        && let Ok(mut s) = shots.lock()
                    {
                        s.push((index, img.to_rgba8()));
                    }
                },
            );
            g.next += 1;
            g.settle = 0;
        }
        return;
    }
    if captured < g.frames.len() {
        return;
    }
    let g = export.gif.take().expect("checked");
    studio.visible = g.was_visible && !export.presentation;
    export.say(format!("encoding {} frames…", g.frames.len()));
    crate::app::background::spawn("export", move || {
        let shots = std::mem::take(&mut *g.shots.lock().expect("not poisoned"));
        let _ = tx.send(encode(&g.clip, shots));
    });
}

/// Writes the GIF (half size, 10 fps) and, when ffmpeg is installed, an MP4.
/// Returns the notice and the GIF's path.
fn encode(
    clip: &str,
    mut shots: Vec<(usize, image::RgbaImage)>,
) -> Result<(String, PathBuf), String> {
    use image::codecs::gif::{GifEncoder, Repeat};
    shots.sort_by_key(|s| s.0);
    let dir = export_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let base = dir.join(format!("{clip}-{}", stamp()));
    let gif_path = base.with_extension("gif");
    let file =
        std::fs::File::create(&gif_path).map_err(|e| format!("{}: {e}", gif_path.display()))?;
    let mut enc = GifEncoder::new_with_speed(std::io::BufWriter::new(file), 10);
    enc.set_repeat(Repeat::Infinite)
        .map_err(|e| format!("{}: {e}", gif_path.display()))?;
    let delay = image::Delay::from_numer_denom_ms(1000 * GIF_STRIDE as u32, 20);
    for (_, img) in &shots {
        let small = image::imageops::resize(
            img,
            img.width() / 2,
            img.height() / 2,
            image::imageops::FilterType::Triangle,
        );
        enc.encode_frame(image::Frame::from_parts(small, 0, 0, delay))
            .map_err(|e| format!("{}: {e}", gif_path.display()))?;
    }
    drop(enc);
    let mut msg = format!("saved {} ({} frames)", gif_path.display(), shots.len());
    if let Some(mp4) = ffmpeg_mp4(&base, &shots) {
        msg.push_str(&format!(" and {}", mp4.display()));
    }
    Ok((msg, gif_path))
}

/// Pipes the frames to `ffmpeg` (if installed) as an H.264 MP4 at 10 fps.
fn ffmpeg_mp4(base: &std::path::Path, shots: &[(usize, image::RgbaImage)]) -> Option<PathBuf> {
    use std::io::Write;
    let (w, h) = shots
        .first()
        .map(|s| (s.1.width() & !1, s.1.height() & !1))?;
    let out = base.with_extension("mp4");
    let mut child = std::process::Command::new("ffmpeg")
        .args([
            "-y",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgba",
        ])
        .args([
            "-s",
            &format!("{w}x{h}"),
            "-r",
            &(20 / GIF_STRIDE).to_string(),
            "-i",
            "-",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:v", "libx264"])
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    for (_, img) in shots {
        let cropped = image::imageops::crop_imm(img, 0, 0, w, h).to_image();
        stdin.write_all(cropped.as_raw()).ok()?;
    }
    drop(stdin);
    child.wait().ok()?.success().then_some(out)
}

/// The export buttons beside Train / Review, and the last message.
fn export_ui(
    mut contexts: EguiContexts,
    mut frame: ResMut<UiFrame>,
    mut studio: ResMut<StudioUi>,
    mut export: ResMut<Export>,
    mut commands: Commands,
    clips: Res<LoadedClips>,
    playback: Res<Playback>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let area = frame.free;
    let capturing = export.capturing.load(std::sync::atomic::Ordering::SeqCst);
    if !studio.visible {
        if presentation_hint_shown(&export, capturing) {
            egui::Area::new(egui::Id::new("present_hint"))
                .fixed_pos(egui::pos2(area.right() - 170.0, area.bottom() - 24.0))
                .interactable(false)
                .show(ctx, |ui| {
                    ui.label(egui::RichText::new("P: leave presentation").small().weak());
                });
        }
        return Ok(());
    }
    // The one notice area: bottom-right of the view, growing upwards, half the view wide at most.
    let shown = egui::Area::new(egui::Id::new("export_buttons"))
        .fixed_pos(egui::pos2(area.right() - 8.0, area.bottom() - 8.0))
        .pivot(egui::Align2::RIGHT_BOTTOM)
        .order(egui::Order::Background)
        .show(ctx, |ui| {
            ui.set_max_width((area.width() * 0.5).max(180.0));
            // Right-aligned: the buttons stay at the corner whatever the notice's width.
            ui.with_layout(egui::Layout::top_down(egui::Align::Max), |ui| {
                // In the right-aligned layout a row runs right to left: PNG, GIF, Present read left
                // to right on screen.
                ui.horizontal(|ui| {
                    if ui
                        .button("Present")
                        .on_hover_text("hide panels, enlarge the caption (P)")
                        .clicked()
                    {
                        export.presentation = true;
                        studio.visible = false;
                    }
                    if ui
                        .button("GIF")
                        .on_hover_text(
                            "the clip's playback with its caption (G); MP4 too with ffmpeg",
                        )
                        .clicked()
                    {
                        start_gif(&mut export, &clips, &mut studio);
                    }
                    if ui.button("PNG").on_hover_text("screenshot (F12)").clicked() {
                        let id = clips.primary.as_ref().map_or("studio", |c| c.id.as_str());
                        screenshot_png(&mut commands, &mut export, id, playback.frame());
                    }
                });
                // Read again: the PNG button above may have just started a capture.
                let capturing = export.capturing.load(std::sync::atomic::Ordering::SeqCst);
                if let Some(message) = notice_shown(&export, capturing) {
                    let text = egui::RichText::new(message).size(12.0);
                    match export.saved.clone() {
                        Some(path) => {
                            let folder = path.parent().unwrap_or(&path).to_path_buf();
                            let link = ui
                                .link(text)
                                .on_hover_text(format!("open {}", folder.display()));
                            if link.clicked()
                                && let Err(e) = opener::open(&folder)
                            {
                                export.message = format!("cannot open {}: {e}", folder.display());
                                export.saved = None;
                            }
                        }
                        None => {
                            ui.label(text.color(egui::Color32::from_gray(200)));
                        }
                    }
                }
            });
        });
    frame.overlay("export", shown.response.rect);
    Ok(())
}

/// The notice the studio shows (the last export's "saved …", a cancelled GIF…), or none while a
/// PNG is being captured: a notice never ends up in an export.
fn notice_shown(export: &Export, capturing: bool) -> Option<&str> {
    (!export.message.is_empty() && !capturing).then_some(export.message.as_str())
}

/// Whether the presentation-mode hint is drawn: in presentation mode, but neither while a PNG is
/// captured nor while a GIF records.
fn presentation_hint_shown(export: &Export, capturing: bool) -> bool {
    export.presentation && !capturing && export.gif.is_none()
}

pub struct ExportPlugin;

impl Plugin for ExportPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Export>()
            .add_systems(Update, (export_keys, drive_gif, gif_progress_title).chain())
            .add_systems(EguiPrimaryContextPass, export_ui.in_set(UiSystems::Overlay));
    }
}

#[cfg(test)]
mod tests {
    use bevy::input::keyboard::Key;

    use super::*;
    use crate::app::keyboard::key_message;

    /// A PNG export never holds a notice or hint: F12 starts a capture with the previous
    /// export's "saved …" notice on screen and in presentation mode; while the capture is pending
    /// neither the notice nor the presentation hint is drawn, and once it is captured the new
    /// "saved …" notice (a link to the folder) is. While a GIF records the hint stays hidden.
    #[test]
    fn notices_and_the_presentation_hint_stay_out_of_exports() {
        use std::sync::atomic::Ordering;
        let mut app = crate::app::testing::headless();
        app.init_resource::<Export>()
            .add_systems(Update, (export_keys, gif_progress_title).chain());
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
        let clip = crate::motion::Dataset::open(&demo)
            .unwrap()
            .load_clip("cmu_02_01")
            .unwrap();
        app.world_mut().resource_mut::<LoadedClips>().primary = Some(clip);
        app.world_mut().spawn((Window::default(), PrimaryWindow));
        {
            let mut e = app.world_mut().resource_mut::<Export>();
            e.say("GIF of cmu_02_01 cancelled");
            e.presentation = true;
        }
        let e = app.world().resource::<Export>();
        assert_eq!(notice_shown(e, false), Some("GIF of cmu_02_01 cancelled"));
        assert!(presentation_hint_shown(e, false));
        app.world_mut()
            .write_message(key_message(KeyCode::F12, Key::F12, true));
        app.update();
        let e = app.world().resource::<Export>();
        let capturing = e.capturing.load(Ordering::SeqCst);
        assert!(capturing, "F12 starts a capture");
        assert_eq!(notice_shown(e, capturing), None);
        assert!(!presentation_hint_shown(e, capturing));
        // Captured: the new notice names the file.
        e.capturing.store(false, Ordering::SeqCst);
        let shown = notice_shown(e, false).unwrap();
        assert!(
            shown.starts_with("saved ") && shown.ends_with(".png"),
            "{shown}"
        );
        assert!(e.saved.is_some());
        // A GIF recording hides the hint too.
        app.world_mut()
            .write_message(key_message(KeyCode::KeyG, Key::Character("g".into()), true));
        app.update();
        let e = app.world().resource::<Export>();
        assert!(e.gif.is_some());
        assert!(!presentation_hint_shown(e, false));
    }

    /// G starts a GIF: the panels hide, the window title shows the progress and that Esc
    /// cancels; Esc cancels it, brings the panels back, restores the title and says so. (The
    /// screenshots themselves need the renderer: `drive_gif` is left out here.)
    #[test]
    fn a_gif_shows_its_progress_in_the_title_and_esc_cancels_it() {
        let mut app = crate::app::testing::headless();
        app.init_resource::<Export>()
            .add_systems(Update, (export_keys, gif_progress_title).chain());
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
        let clip = crate::motion::Dataset::open(&demo)
            .unwrap()
            .load_clip("cmu_02_01")
            .unwrap();
        let frames = clip.joints.frames();
        app.world_mut().resource_mut::<LoadedClips>().primary = Some(clip);
        let window = app
            .world_mut()
            .spawn((Window::default(), PrimaryWindow))
            .id();
        let press = |app: &mut App, code: KeyCode, key: Key| {
            app.world_mut()
                .write_message(key_message(code, key.clone(), true));
            app.update();
            app.world_mut().write_message(key_message(code, key, false));
            app.update();
        };
        let title = |app: &App| app.world().get::<Window>(window).unwrap().title.clone();
        press(&mut app, KeyCode::KeyG, Key::Character("g".into()));
        let export = app.world().resource::<Export>();
        assert!(export.gif.is_some());
        assert_eq!(export.message, "recording cmu_02_01…");
        assert!(!app.world().resource::<StudioUi>().visible);
        let gif_frames = frames.div_ceil(GIF_STRIDE);
        assert_eq!(
            title(&app),
            format!("{TITLE} — recording cmu_02_01: frame 0 of {gif_frames} (Esc cancels)")
        );
        press(&mut app, KeyCode::Escape, Key::Escape);
        let export = app.world().resource::<Export>();
        assert!(export.gif.is_none());
        assert_eq!(export.message, "GIF of cmu_02_01 cancelled");
        assert!(export.saved.is_none());
        assert!(app.world().resource::<StudioUi>().visible);
        assert_eq!(title(&app), TITLE);
    }
}
