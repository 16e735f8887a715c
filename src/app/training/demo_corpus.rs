//! "Build the demo corpus and open it": the fix the training panel offers when the open dataset
//! has nothing to train on (the embedded `assets/demo` ships a test split only). The corpus is
//! built from the shared motion data (`geomotion data build`'s library function, about 5 s on
//! 2 cores) into `$XDG_DATA_HOME/geomotion/corpus` on a background thread, then opened.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use crossbeam_channel::{Receiver, unbounded};

use crate::app::library::{OpenDataset, Problems};
use crate::motion::import::corpus::build_corpus;

/// The build running in the background, and what it said last.
#[derive(Resource, Default)]
pub struct DemoCorpus {
    pub status: String,
    job: Option<Receiver<Result<PathBuf, String>>>,
}

impl DemoCorpus {
    pub fn building(&self) -> bool {
        self.job.is_some()
    }

    /// Starts building the corpus from the shared data folder `from` into `out`
    /// ([`corpus_dir`] from the panel).
    pub fn start(&mut self, from: PathBuf, out: PathBuf) {
        let (tx, rx) = unbounded();
        self.status = format!("building the demo corpus from {} …", from.display());
        self.job = Some(rx);
        crate::app::background::spawn("demo-corpus", move || {
            let r = build_corpus(&from, &out, None, &|_, _| {})
                .map(|_| out.clone())
                .map_err(|e| format!("building the demo corpus from {}: {e}", from.display()));
            let _ = tx.send(r);
        });
    }
}

/// Where the studio builds the demo corpus.
pub fn corpus_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("geomotion")
        .join("corpus")
}

/// The shared motion data folder (`bandai/`, `cmu/`, `splits/`) beside the working directory or
/// the source tree, if there is one.
pub fn shared_data() -> Option<PathBuf> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [PathBuf::from("../shared/data"), here.join("../shared/data")]
        .into_iter()
        .find(|p| p.join("splits").is_dir() && p.join("bandai").is_dir())
}

/// Opens the corpus once it is built; a failure goes to the Problems panel.
pub fn finish_build(
    mut demo: ResMut<DemoCorpus>,
    mut open: MessageWriter<OpenDataset>,
    mut problems: ResMut<Problems>,
) {
    let Some(r) = demo.job.as_ref().and_then(|rx| rx.try_recv().ok()) else {
        return;
    };
    demo.job = None;
    match r {
        Ok(path) => {
            demo.status = format!("built {}; opened", path.display());
            open.write(OpenDataset(path));
        }
        Err(e) => {
            demo.status = e.clone();
            problems.push(e);
        }
    }
}

/// The panel's fix works end to end: the corpus builds on a thread from the shared data (the
/// committed fixture subset without ../shared) and the library opens it, with a train split.
#[test]
fn the_demo_corpus_builds_in_the_background_and_opens() {
    use crate::app::library::{Library, LibraryPlugin};
    use crate::motion::Split;
    let mut app = crate::app::testing::headless();
    app.add_plugins((super::TrainingPlugin, LibraryPlugin { data: None }));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("corpus");
    app.world_mut()
        .resource_mut::<DemoCorpus>()
        .start(crate::testdata::shared_data(), out.clone());
    let t0 = std::time::Instant::now();
    let opened = |w: &World| {
        w.resource::<Library>()
            .dataset
            .as_ref()
            .is_some_and(|d| d.root() == out.as_path() && !d.split_ids(Split::Train).is_empty())
    };
    while !opened(app.world()) {
        assert!(
            t0.elapsed().as_secs() < 300,
            "not opened: {}",
            app.world().resource::<DemoCorpus>().status
        );
        app.update();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let demo = app.world().resource::<DemoCorpus>();
    assert!(
        !demo.building() && demo.status.starts_with("built"),
        "{}",
        demo.status
    );
}
