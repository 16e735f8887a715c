//! The text-to-motion box in a headless app: an LM trained with `--tasks m2t,t2m` (tiny GPT-2,
//! 3 steps on real takes) loads, a prompt generates on a background thread, the codes stream in,
//! and the motion becomes the primary clip at the length asked for, with the prompt as its
//! caption, and can be saved into a dataset folder; an LM trained for captions only is refused by name.

use std::time::{Duration, Instant};

use super::state::TextToMotion;
use crate::app::library::{LoadedClips, Problems};

fn run_until(app: &mut bevy::prelude::App, done: impl Fn(&bevy::prelude::World) -> bool) {
    let t0 = Instant::now();
    while !done(app.world()) {
        assert!(t0.elapsed() < Duration::from_secs(120), "timed out");
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn train(tasks: Vec<crate::lm::train::Task>) -> tempfile::TempDir {
    let corpus = crate::motion::import::corpus::dataset2_corpus(&["wave-left-hand"]);
    let out = tempfile::tempdir().unwrap();
    let mut req = crate::lm::tiny_train_request(corpus.path(), out.path());
    req.train.tasks = tasks;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    crate::lm::train::train(&req, &candle_core::Device::Cpu, &cancel, &mut |_| {}).unwrap();
    out
}

#[test]
fn a_prompt_becomes_the_primary_clip() {
    use crate::lm::train::Task;
    let lm = train(vec![Task::M2t, Task::T2m]);
    let mut app = crate::app::testing::headless();
    let gpt2 = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny");
    app.add_plugins(super::GeneratePlugin {
        lm: Some(lm.path().to_path_buf()),
        backbone: Some(gpt2.clone()),
        open: true,
    });
    let tok = crate::dvq::Tokenizer::load(
        &crate::lm::resolve::models_dir().join("dvq"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let tok = std::sync::Arc::new(tok);
    app.world_mut()
        .resource_mut::<crate::app::tokens::Tokens>()
        .tokenizer = Some(tok.clone());
    run_until(&mut app, |w| w.resource::<TextToMotion>().lm.is_some());
    // Codes reach the timeline as they come, with the length asked for, and leave it when the
    // job ends (here, as a failed one).
    {
        let mut t = app.world_mut().resource_mut::<TextToMotion>();
        t.expected = 10;
        for c in [3, 5] {
            t.tx.send(super::state::Msg::Code(c)).unwrap();
        }
    }
    app.update();
    let streaming = |app: &bevy::prelude::App| {
        app.world()
            .resource::<crate::app::tokens::Tokens>()
            .streaming
            .clone()
    };
    assert_eq!(streaming(&app), Some((vec![3, 5], 10)));
    app.world()
        .resource::<TextToMotion>()
        .tx
        .send(super::state::Msg::Done(Err("cancelled".into())))
        .unwrap();
    app.update();
    assert_eq!(streaming(&app), None);
    {
        let mut t = app.world_mut().resource_mut::<TextToMotion>();
        t.prompt = "a person waves with the left hand".into();
        t.seconds = 4.0;
        super::jobs::start(&mut t, tok);
        assert!(t.busy());
    }
    run_until(&mut app, |w| !w.resource::<TextToMotion>().busy());
    // The codes left the timeline with the motion.
    assert!(
        app.world()
            .resource::<crate::app::tokens::Tokens>()
            .streaming
            .is_none()
    );
    let t = app.world().resource::<TextToMotion>();
    // 4 s at 20 fps, 8 frames a code: 10 codes, 80 frames.
    assert_eq!(t.streamed.len(), 10, "{}", t.status);
    let clip = app
        .world()
        .resource::<LoadedClips>()
        .primary
        .clone()
        .unwrap();
    assert_eq!(clip.id, "generated: a person waves with the left hand");
    assert_eq!(clip.joints.frames(), 80);
    assert_eq!(clip.captions[0].text, "a person waves with the left hand");
    assert!(
        t.status.starts_with("10 codes, 4.0 s of motion"),
        "{}",
        t.status
    );

    // Saved into a dataset folder, it opens as one of its clips with the prompt as its caption.
    let data = tempfile::tempdir().unwrap();
    let humanml3d = crate::testdata::humanml3d();
    std::fs::create_dir_all(data.path().join("new_joint_vecs")).unwrap();
    for f in ["Mean.npy", "Std.npy"] {
        std::fs::copy(humanml3d.join(f), data.path().join(f)).unwrap();
    }
    let id = super::jobs::save_into(data.path(), &clip).unwrap();
    let ds = crate::motion::Dataset::open(data.path()).unwrap();
    let saved = ds.load_clip(&id).unwrap();
    assert_eq!(saved.features, clip.features);
    assert_eq!(saved.captions[0].text, "a person waves with the left hand");
    assert_ne!(super::jobs::save_into(data.path(), &clip).unwrap(), id);

    // An LM trained for captions only is refused, and said so.
    let m2t = train(vec![Task::M2t]);
    app.world_mut()
        .resource_mut::<TextToMotion>()
        .load(m2t.path().to_path_buf(), Some(gpt2));
    run_until(&mut app, |w| !w.resource::<Problems>().entries.is_empty());
    let e = &app.world().resource::<Problems>().entries[0].1;
    assert!(e.contains("motion → text only"), "{e}");
}
