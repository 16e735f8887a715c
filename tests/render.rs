//! Headless rendering: `geomotion render` draws clip 012314 under Xvfb (Mesa lavapipe), and the
//! PNG must show a skeleton: left (blue) and right (red) bones present, inside the expected box.

use std::path::PathBuf;
use std::process::Command;

/// The library's test-data resolver (full data, else the committed fixture subset; see its
/// module doc), compiled into this test crate so both find the data by the same rule.
#[path = "../src/testdata.rs"]
#[allow(dead_code)]
mod testdata;

/// `humanml3d/` of the test data: clip 012314 is in both tiers.
fn shared_humanml3d() -> PathBuf {
    let p = testdata::humanml3d();
    assert!(
        p.join("new_joint_vecs/012314.npy").exists(),
        "missing clip 012314 in {}",
        p.display()
    );
    p
}

fn xvfb_run() -> &'static str {
    let ok = Command::new("sh")
        .args(["-c", "command -v xvfb-run"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "xvfb-run not found: run the README's test command (it installs xvfb)"
    );
    "xvfb-run"
}

/// Renders `clip` of the dataset `data` at `frame` to a PNG of `w`×`h` (the whole studio with
/// `studio`), keeps a copy as `target/tmp/<keep>.png` for a person to look at, returns the image.
fn render_png(
    data: &std::path::Path,
    clip: &str,
    frame: usize,
    size: (u32, u32),
    studio: bool,
    keep: &str,
) -> image::RgbImage {
    render_png_with(data, clip, frame, size, studio, keep, &[]).0
}

/// [`render_png`] with more arguments of `render` (`--layout F`, `--prompt TEXT`); also returns
/// what it logged.
fn render_png_with(
    data: &std::path::Path,
    clip: &str,
    frame: usize,
    (w, h): (u32, u32),
    studio: bool,
    keep: &str,
    extra: &[&std::ffi::OsStr],
) -> (image::RgbImage, String) {
    // Whole-studio renders run one at a time: each draws every frame in software while it waits
    // for its models, so two at once on 2 cores take longer than one after the other.
    static STUDIO: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = studio.then(|| STUDIO.lock().unwrap_or_else(|e| e.into_inner()));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("{clip}_{frame}.png"));
    let mut cmd = Command::new(xvfb_run());
    cmd.args(["-a", "-s", "-screen 0 1600x1200x24"])
        .arg(env!("CARGO_BIN_EXE_geomotion"))
        .arg("--data")
        .arg(data)
        .arg("render");
    if studio {
        cmd.arg("--studio");
    }
    cmd.args(extra);
    let output = cmd
        .args(["--clip", clip, "--frame", &frame.to_string(), "--out"])
        .arg(&out)
        .args(["--size", &format!("{w}x{h}")])
        .output()
        .expect("run geomotion render");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "render failed ({}):\n{stderr}",
        output.status
    );
    if let Some(l) = stderr.lines().find(|l| l.contains("frame times")) {
        println!("{l}");
    }
    let img = image::open(&out).expect("read rendered PNG").to_rgb8();
    let kept = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{keep}.png"));
    std::fs::copy(&out, &kept).ok();
    println!(
        "rendered {} ({}×{})",
        kept.display(),
        img.width(),
        img.height()
    );
    (img, stderr.into_owned())
}

/// One frame of `clip` of the HumanML3D reference files, scene only.
fn render(clip: &str, frame: usize, w: u32, h: u32) -> image::RgbImage {
    render_png(
        &shared_humanml3d(),
        clip,
        frame,
        (w, h),
        false,
        &format!("render_{clip}_{frame}"),
    )
}

fn is_left_blue(p: &image::Rgb<u8>) -> bool {
    let [r, g, b] = p.0.map(i32::from);
    b > 70 && b > r + 45 && b > g + 20
}

fn is_right_red(p: &image::Rgb<u8>) -> bool {
    let [r, g, b] = p.0.map(i32::from);
    r > 70 && r > g + 45 && r > b + 45
}

#[test]
fn render_012314_shows_a_skeleton() {
    let (w, h) = (640u32, 480u32);
    let img = render("012314", 60, w, h);
    assert_standing_skeleton(&img, w, h);
}

/// A KIT-ML-layout folder (`geomotion data kit` of the reference folder: clip 012314 on the
/// 21-joint KIT-ML skeleton, 251-d features, 12.5 fps) opens and its clip is drawn like any
/// other: left and right bones, a standing person in the middle of the view.
#[test]
fn render_a_kit_ml_clip_shows_its_skeleton() {
    let dir = tempfile::tempdir().unwrap();
    let kit = dir.path().join("kit");
    let o = Command::new(env!("CARGO_BIN_EXE_geomotion"))
        .args(["data", "kit", "--from"])
        .arg(shared_humanml3d())
        .arg("--out")
        .arg(&kit)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (w, h) = (640u32, 480u32);
    // Frame 37 at 12.5 fps is frame 60 at 20 fps.
    let img = render_png(&kit, "012314", 37, (w, h), false, "render_kit_012314_37");
    assert_standing_skeleton(&img, w, h);
}

fn assert_standing_skeleton(img: &image::RgbImage, w: u32, h: u32) {
    assert_eq!((img.width(), img.height()), (w, h));
    let (mut left, mut right) = (0usize, 0usize);
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        let l = is_left_blue(p);
        let r = is_right_red(p);
        left += l as usize;
        right += r as usize;
        if l || r {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    println!("left (blue) px {left}, right (red) px {right}, box x {x0}..{x1} y {y0}..{y1}");
    assert!(left > 150, "too few left-side (blue) pixels: {left}");
    assert!(right > 150, "too few right-side (red) pixels: {right}");
    // The camera frames the body in the middle of the view: limbs inside the central box,
    // and tall enough to be a standing person at ~4 m.
    assert!(
        x0 > w / 5 && x1 < w * 4 / 5,
        "skeleton x range {x0}..{x1} not centred"
    );
    assert!(
        y0 > h / 20 && y1 < h * 19 / 20,
        "skeleton y range {y0}..{y1} leaves the view"
    );
    assert!(y1 - y0 > h / 4, "skeleton only {} px tall", y1 - y0);
}

#[test]
fn render_rejects_bad_clip_and_frame() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_geomotion"))
            .arg("--data")
            .arg(shared_humanml3d())
            .arg("render")
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--clip", "nope", "--out", "/tmp/x.png"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no clip with id `nope`"));
    let o = run(&["--clip", "012314", "--frame", "500", "--out", "/tmp/x.png"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("has 170 frames"));
}

fn demo_corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

/// Pixels of `img` inside `[x0, x1) × [y0, y1)` (fractions of the size) that differ from the
/// background by more than a little, and how many distinct coarse colours they have.
fn region_stats(img: &image::RgbImage, x: (f32, f32), y: (f32, f32)) -> (usize, usize) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let mut busy = 0;
    let mut colours = std::collections::HashSet::new();
    for py in (y.0 * h) as u32..(y.1 * h) as u32 {
        for px in (x.0 * w) as u32..(x.1 * w) as u32 {
            let p = img.get_pixel(px, py).0;
            let spread = p.iter().map(|&c| c as i32).max().unwrap()
                - p.iter().map(|&c| c as i32).min().unwrap();
            let bright = p.iter().map(|&c| c as i32).sum::<i32>();
            if spread > 40 || bright > 3 * 150 {
                busy += 1;
                colours.insert(p.map(|c| c / 32));
            }
        }
    }
    (busy, colours.len())
}

/// The whole studio headless: skeleton, token timeline, plots (MPJPE, code sequence, usage
/// histogram, Gram heatmap) and the live caption, on a held-out clip of the embedded demo
/// corpus with the shipped tokenizer and captioner.
#[test]
fn render_studio_shows_timeline_plots_and_caption() {
    let (w, h) = (1440u32, 900u32);
    let img = render_png(
        &demo_corpus(),
        "cmu_02_01",
        40,
        (w, h),
        true,
        "render_studio",
    );
    // Regions as laid out at 1440×900: the timeline is the bottom strip, the plots strip is
    // above the transport bar, the caption sits at the top left of the 3-D view.
    let timeline = region_stats(&img, (0.2, 0.75), (0.965, 1.0));
    let plots = region_stats(&img, (0.2, 0.75), (0.70, 0.88));
    let caption = region_stats(&img, (0.2, 0.5), (0.085, 0.115));
    println!("timeline {timeline:?} plots {plots:?} caption {caption:?}");
    assert!(
        timeline.0 > 2000 && timeline.1 >= 6,
        "timeline cells: {timeline:?}"
    );
    assert!(plots.0 > 3000 && plots.1 >= 6, "plots: {plots:?}");
    assert!(caption.0 > 200, "caption text: {caption:?}");
}

/// Text to motion in the studio as a user drives it, at 1366×768: the clip opens, a prompt goes
/// into the "Text to motion" window (the shipped LM, loaded when the window opens), and the
/// generated motion is drawn with its round-trip caption. The log line is the window's own
/// status ("10 codes, 4.0 s of motion in … s"); the PNG is kept as
/// `target/tmp/render_studio_prompt.png`.
#[test]
fn render_studio_generates_a_typed_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layout.json");
    let (_, log) = render_png_with(
        &demo_corpus(),
        "cmu_02_01",
        30,
        (1366, 768),
        true,
        "render_studio_prompt",
        &[
            "--prompt".as_ref(),
            "a person raises the right hand.".as_ref(),
            "--layout".as_ref(),
            path.as_os_str(),
        ],
    );
    let line = log
        .lines()
        .find(|l| l.contains("text to motion, "))
        .unwrap_or_else(|| panic!("no generation logged:\n{log}"));
    println!("{line}");
    assert!(line.contains("10 codes, 4.0 s of motion in"), "{line}");
    let round_trip = log
        .lines()
        .find(|l| l.contains("round-trip caption of generated: a person raises the right hand.: "))
        .unwrap_or_else(|| panic!("no round-trip caption logged:\n{log}"));
    println!("{round_trip}");
    assert!(round_trip.contains("hand"), "{round_trip}");
    let layout: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let overlays = named_rects(&layout["overlays"]);
    for name in ["t2m_window", "live_caption"] {
        assert!(
            overlays.iter().any(|(n, _)| n == name),
            "no {name} overlay: {overlays:?}"
        );
    }
}

/// `[left, top, right, bottom]` of a layout entry.
fn rect(v: &serde_json::Value) -> [f32; 4] {
    let a: Vec<f32> = v
        .as_array()
        .expect("a rectangle")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect();
    [a[0], a[1], a[2], a[3]]
}

fn named_rects(v: &serde_json::Value) -> Vec<(String, [f32; 4])> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|e| (e[0].as_str().expect("a name").to_string(), rect(&e[1])))
        .collect()
}

/// Area shared by two rectangles (0 when they only touch).
fn overlap(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = a[2].min(b[2]) - a[0].max(b[0]);
    let h = a[3].min(b[3]) - a[1].max(b[1]);
    w.max(0.0) * h.max(0.0)
}

fn inside(r: [f32; 4], outer: [f32; 4]) -> bool {
    const SLACK: f32 = 1.0;
    r[0] >= outer[0] - SLACK
        && r[1] >= outer[1] - SLACK
        && r[2] <= outer[2] + SLACK
        && r[3] <= outer[3] + SLACK
}

/// The whole studio at a small laptop's, a common laptop's and a desktop's window size: every
/// panel (menu, browser, captions, timeline, transport bar, plots strip) lies inside the window
/// and no two overlap; every overlay (view options, Train, Review, live caption, export buttons
/// and notice, frame times) lies inside the 3-D view and no two overlap. Rectangles come from
/// egui (`render --layout`); the PNGs are kept as `target/tmp/render_studio_WxH.png`.
#[test]
fn studio_layout_fits_1024x600_1366x768_1920x1080() {
    for (w, h) in [(1024u32, 600u32), (1366, 768), (1920, 1080)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layout.json");
        render_png_with(
            &demo_corpus(),
            "cmu_02_01",
            40,
            (w, h),
            true,
            &format!("render_studio_{w}x{h}"),
            &["--layout".as_ref(), path.as_os_str()],
        );
        let layout: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let window = rect(&layout["window"]);
        assert_eq!(window, [0.0, 0.0, w as f32, h as f32], "{w}×{h}");
        let view = rect(&layout["view"]);
        let panels = named_rects(&layout["panels"]);
        let overlays = named_rects(&layout["overlays"]);
        println!("{w}×{h}: view {view:?}\n  panels {panels:?}\n  overlays {overlays:?}");
        for name in [
            "menu",
            "browser",
            "captions",
            "timeline",
            "transport",
            "plots",
        ] {
            assert!(
                panels.iter().any(|(n, _)| n == name),
                "{w}×{h}: no {name} panel"
            );
        }
        for name in [
            "view_options",
            "train_toggle",
            "review_toggle",
            "live_caption",
            "export",
        ] {
            assert!(
                overlays.iter().any(|(n, _)| n == name),
                "{w}×{h}: no {name} overlay"
            );
        }
        assert!(
            view[2] - view[0] >= 300.0 && view[3] - view[1] >= 150.0,
            "{w}×{h}: the 3-D view is only {view:?}"
        );
        for (group, within, list) in [("panel", window, &panels), ("overlay", view, &overlays)] {
            for (i, (a, ra)) in list.iter().enumerate() {
                assert!(
                    inside(*ra, within),
                    "{w}×{h}: {group} {a} {ra:?} outside {within:?}"
                );
                for (b, rb) in &list[i + 1..] {
                    assert!(
                        overlap(*ra, *rb) < 1.0,
                        "{w}×{h}: {group}s {a} {ra:?} and {b} {rb:?} overlap"
                    );
                }
            }
        }
    }
}
