//! Headless `App`s for the plugins' tests: Bevy's minimal plugins and input, and the resources
//! the features share at their defaults, so one feature's plugin runs alone (its UI systems,
//! in egui's pass, do not run without a window; the render tests cover those). A plain render
//! request stops the caption plugin from loading the shipped captioner on a thread.

use bevy::prelude::*;

use super::{RenderRequest, StudioUi, UiFrame};

/// An `App` with no feature plugin yet, and every shared resource at its default.
pub fn headless() -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        bevy::input::InputPlugin,
        AssetPlugin::default(),
    ))
    // What the renderer's plugins would add: meshes, the default gizmos, and the window's
    // messages that features read (a folder dropped on the window).
    .init_asset::<Mesh>()
    .init_asset::<bevy::gizmos::GizmoAsset>()
    .init_asset::<bevy::mesh::skinning::SkinnedMeshInverseBindposes>()
    .init_resource::<bevy::gizmos::config::GizmoConfigStore>()
    .init_gizmo_group::<DefaultGizmoConfigGroup>()
    .add_message::<bevy::window::FileDragAndDrop>()
    .init_resource::<UiFrame>()
    .insert_resource(StudioUi { visible: true })
    .insert_resource(RenderRequest {
        clip: String::new(),
        frame: 0,
        out: Default::default(),
        size: (64, 64),
        studio: false,
        layout: None,
        prompt: None,
    })
    .init_resource::<super::library::Library>()
    .init_resource::<super::library::LoadedClips>()
    .init_resource::<super::library::Problems>()
    .init_resource::<super::playback::Playback>()
    .init_resource::<super::tokens::Tokens>()
    .init_resource::<super::caption::LiveCaption>()
    .init_resource::<super::generate::TextToMotion>()
    .init_resource::<super::perf::FrameTimes>()
    .init_resource::<super::viewer::SkeletonTint>();
    app
}

/// Runs `app` until `done` holds (at most 200 updates, 10 ms apart).
pub fn update_until(app: &mut App, mut done: impl FnMut(&mut World) -> bool) -> bool {
    for _ in 0..200 {
        app.update();
        if done(app.world_mut()) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// Every feature plugin that needs no renderer builds and runs a few frames alone (the viewer
/// and export plugins add render materials and screenshots: the render tests run them in the
/// whole studio under Xvfb).
#[test]
fn each_plugin_runs_alone() {
    fn run(name: &str, add: impl FnOnce(&mut App)) {
        let mut app = headless();
        add(&mut app);
        for _ in 0..3 {
            app.update();
        }
        let problems = app.world().resource::<super::library::Problems>();
        println!("{name}: ok, problems {:?}", problems.entries);
    }
    run("library", |a| {
        a.add_plugins(super::library::LibraryPlugin { data: None });
    });
    run("playback", |a| {
        a.add_plugins(super::playback::PlaybackPlugin);
    });
    run("tokens", |a| {
        a.add_plugins(super::tokens::TokensPlugin::default());
    });
    run("caption", |a| {
        a.add_plugins(super::caption::CaptionPlugin::default());
    });
    run("perf", |a| {
        a.add_plugins(super::perf::PerfPlugin);
    });
    run("review", |a| {
        a.add_plugins(super::review::ReviewPlugin);
    });
    run("training", |a| {
        a.add_plugins(super::training::TrainingPlugin);
    });
    run("generate", |a| {
        a.add_plugins(super::generate::GeneratePlugin::default());
    });
}

/// What features tell each other goes through messages: a reload request reaches the tokens
/// and caption features, and a captioner's Gram matrix reaches the tokens feature.
#[test]
fn messages_reach_the_features_that_own_the_state() {
    let mut app = headless();
    app.add_plugins((
        super::tokens::TokensPlugin::default(),
        super::caption::CaptionPlugin::default(),
    ));
    app.update();
    let dir = std::path::PathBuf::from("/nonexistent/run/lm");
    app.world_mut()
        .write_message(super::caption::ReloadCaptioner(dir.clone()));
    let shown = |w: &mut World| {
        let s = &w.resource::<super::caption::LiveCaption>().status;
        s.contains("/nonexistent/run/lm")
    };
    assert!(update_until(&mut app, shown), "the caption feature reloads");
    let gram = super::tokens::GramView {
        title: "captioner motion tokens".into(),
        k: 2,
        values: vec![1.0, 0.0, 0.0, 1.0],
        fro: 0.0,
    };
    app.world_mut()
        .write_message(super::tokens::CaptionerGram(gram));
    assert!(update_until(&mut app, |w| w
        .resource::<super::tokens::Tokens>()
        .lm_gram
        .as_ref()
        .is_some_and(|g| g.k == 2)));
    app.world_mut()
        .write_message(super::tokens::ReloadTokenizer(
            "/nonexistent/run/dvq".into(),
        ));
    assert!(update_until(&mut app, |w| {
        let t = w.resource::<super::tokens::Tokens>();
        let p = w.resource::<super::library::Problems>();
        t.status.contains("/nonexistent/run/dvq")
            || p.entries
                .iter()
                .any(|(_, m)| m.contains("/nonexistent/run/dvq"))
    }));
}
