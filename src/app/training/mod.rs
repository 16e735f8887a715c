//! The training panel: tokenizer training, then captioner fine-tuning, on the open corpus,
//! without a terminal. The run goes on a background thread through the same library functions
//! as `geomotion train dvq|lm`; progress (losses, codebook usage of each batch, ETA) comes back
//! through a channel. Pause stops at the next step with a checkpoint; Resume continues from it
//! (exactly: the checkpoints hold the optimiser state); Cancel stops for good. When a stage
//! finishes, its model loads into the viewer.

pub mod demo_corpus;
mod ui;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bevy::prelude::*;
use bevy_egui::EguiPrimaryContextPass;
use crossbeam_channel::{Receiver, Sender, unbounded};

use crate::app::UiSystems;
use crate::app::library::{Library, Problems};
use crate::app::perf::FrameTimes;
use crate::dvq::{DvqConfig, TrainConfig, TrainEnd, TrainRequest};
use crate::lm::FineTune;
use crate::lm::lora::LoraConfig;
use crate::lm::train::{LmProgress, LmTrainConfig, LmTrainRequest};
use crate::motion::Split;

/// Which stage a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Tokenizer,
    Captioner,
}

/// Settings the panel edits.
#[derive(Clone, Debug)]
pub struct TrainingSettings {
    pub dvq_preset: String,
    pub dvq_steps: usize,
    pub lm_steps: usize,
    /// Run the captioner stage after the tokenizer.
    pub then_captioner: bool,
    pub out: PathBuf,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        Self {
            dvq_preset: "cpu".into(),
            dvq_steps: TrainConfig::for_preset("cpu").steps,
            lm_steps: LmTrainConfig::default().steps,
            then_captioner: true,
            out: dirs::data_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("geomotion")
                .join("runs")
                .join("studio"),
        }
    }
}

/// Live figures of the running stage.
#[derive(Clone, Debug, Default)]
pub struct Curves {
    /// `(step, total loss, recon)` for the tokenizer; `(step, caption loss, 0)` for the captioner.
    pub loss: Vec<(usize, f32, f32)>,
    /// Codebook usage summed over the recent batches, `(K,)`.
    pub usage: Vec<u64>,
    pub step: usize,
    pub steps: usize,
    pub eta_s: f64,
    pub rate: String,
}

pub(super) enum TrainMsg {
    Dvq(crate::dvq::TrainProgress),
    Lm(LmProgress),
    StageEnded(Stage, Result<TrainEnd, String>),
}

/// The panel's state and the running job.
#[derive(Resource)]
pub struct Training {
    pub open: bool,
    pub settings: TrainingSettings,
    pub stage: Option<Stage>,
    /// Paused at a checkpoint: Resume continues this stage.
    pub paused: Option<Stage>,
    pub curves: Curves,
    pub log: Vec<String>,
    cancel: Arc<AtomicBool>,
    /// Whether a pause (not a cancel) was asked for.
    pause: bool,
    tx: Sender<TrainMsg>,
    rx: Receiver<TrainMsg>,
}

impl Default for Training {
    fn default() -> Self {
        let (tx, rx) = unbounded();
        Self {
            open: false,
            settings: TrainingSettings::default(),
            stage: None,
            paused: None,
            curves: Curves::default(),
            log: Vec::new(),
            cancel: Arc::new(AtomicBool::new(false)),
            pause: false,
            tx,
            rx,
        }
    }
}

impl Training {
    pub fn running(&self) -> bool {
        self.stage.is_some()
    }

    fn dvq_dir(&self) -> PathBuf {
        self.settings.out.join("dvq")
    }

    fn lm_dir(&self) -> PathBuf {
        self.settings.out.join("lm")
    }

    /// Starts (or, with `resume`, continues) `stage` on the corpus at `data`.
    pub fn start(&mut self, stage: Stage, data: PathBuf, resume: bool) {
        self.cancel = Arc::new(AtomicBool::new(false));
        self.pause = false;
        self.stage = Some(stage);
        self.paused = None;
        if !resume {
            self.curves = Curves::default();
        }
        let (tx, cancel) = (self.tx.clone(), self.cancel.clone());
        let s = self.settings.clone();
        let (dvq_dir, lm_dir) = (self.dvq_dir(), self.lm_dir());
        self.log.push(format!(
            "{} {stage:?} on {}",
            if resume { "resuming" } else { "starting" },
            data.display()
        ));
        crate::app::background::spawn("training", move || {
            let device = candle_core::Device::Cpu;
            let r = match stage {
                Stage::Tokenizer => (|| {
                    let mut train = TrainConfig::for_preset(&s.dvq_preset);
                    train.steps = s.dvq_steps;
                    let req = TrainRequest {
                        data,
                        split: Split::Train,
                        out: dvq_dir,
                        model: DvqConfig::preset(&s.dvq_preset)?,
                        train,
                        resume,
                        stop_at: None,
                    };
                    crate::dvq::train(&req, &device, &cancel, &mut |p| {
                        let _ = tx.send(TrainMsg::Dvq(p.clone()));
                    })
                })()
                .map_err(|e| e.to_string()),
                Stage::Captioner => {
                    let req = LmTrainRequest {
                        data,
                        split: Split::Train,
                        dvq: dvq_dir,
                        backbone: None,
                        out: lm_dir,
                        mode: FineTune::Lora,
                        lora: LoraConfig::default(),
                        train: LmTrainConfig {
                            steps: s.lm_steps,
                            ..LmTrainConfig::default()
                        },
                        resume,
                        init: None,
                        stop_at: None,
                        summary_tokens: None,
                        retrieved: None,
                        style_tag: false,
                    };
                    crate::lm::train::train(&req, &device, &cancel, &mut |p| {
                        let _ = tx.send(TrainMsg::Lm(p.clone()));
                    })
                    .map_err(|e| e.to_string())
                }
            };
            let _ = tx.send(TrainMsg::StageEnded(stage, r));
        });
    }

    /// Stops at the next step with a checkpoint; `resume` continues.
    pub fn pause(&mut self) {
        self.pause = true;
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Stops at the next step for good (the checkpoint stays on disk).
    pub fn cancel(&mut self) {
        self.pause = false;
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// Batches of codebook usage kept in the live histogram.
const USAGE_DECAY: f64 = 0.98;

fn drain_training(
    mut training: ResMut<Training>,
    mut problems: ResMut<Problems>,
    library: Res<Library>,
    mut frame_times: ResMut<FrameTimes>,
    mut reload_tokenizer: MessageWriter<crate::app::tokens::ReloadTokenizer>,
    mut reload_captioner: MessageWriter<crate::app::caption::ReloadCaptioner>,
) {
    let t = &mut *training;
    while let Ok(msg) = t.rx.try_recv() {
        match msg {
            TrainMsg::Dvq(p) => {
                let c = &mut t.curves;
                c.loss.push((p.step, p.loss.total, p.loss.recon));
                if c.usage.len() != p.batch_usage.len() {
                    c.usage = vec![0; p.batch_usage.len()];
                }
                for (u, &b) in c.usage.iter_mut().zip(&p.batch_usage) {
                    *u = (*u as f64 * USAGE_DECAY) as u64 + b as u64;
                }
                (c.step, c.steps, c.eta_s) = (p.step, p.steps, p.eta_s);
                c.rate = format!(
                    "{:.0} crops/s · ppl {:.0}",
                    p.samples_per_s, p.loss.perplexity
                );
            }
            TrainMsg::Lm(LmProgress::Preparing { done, total }) => {
                t.curves.rate = format!("encoding the corpus: {done}/{total}");
            }
            TrainMsg::Lm(LmProgress::Note(n)) => t.log.push(n),
            TrainMsg::Lm(LmProgress::Step(s)) => {
                let c = &mut t.curves;
                c.loss.push((s.step, s.caption_loss, 0.0));
                (c.step, c.steps, c.eta_s) = (s.step, s.steps, s.eta_s);
                c.rate = format!("{:.0} caption tokens/s", s.tokens_per_s);
            }
            TrainMsg::StageEnded(stage, r) => {
                t.stage = None;
                match r {
                    Ok(TrainEnd::Finished) => {
                        t.log.push(format!("{stage:?} finished"));
                        match stage {
                            Stage::Tokenizer => {
                                reload_tokenizer
                                    .write(crate::app::tokens::ReloadTokenizer(t.dvq_dir()));
                                if t.settings.then_captioner
                                    && let Some(ds) = library.dataset.as_ref()
                                {
                                    let data = ds.root().to_path_buf();
                                    t.start(Stage::Captioner, data, false);
                                }
                            }
                            Stage::Captioner => {
                                t.log
                                    .push(format!("captioner written to {}", t.lm_dir().display()));
                                reload_captioner
                                    .write(crate::app::caption::ReloadCaptioner(t.lm_dir()));
                            }
                        }
                    }
                    Ok(TrainEnd::Cancelled { step }) => {
                        if t.pause {
                            t.paused = Some(stage);
                            t.log.push(format!("{stage:?} paused at step {step}"));
                        } else {
                            t.log.push(format!("{stage:?} cancelled at step {step}"));
                        }
                    }
                    Err(e) => {
                        t.log.push(format!("{stage:?} failed: {e}"));
                        problems.push(format!("training ({stage:?}): {e}"));
                    }
                }
            }
        }
    }
    frame_times.busy = t.running();
}

pub struct TrainingPlugin;

impl Plugin for TrainingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Training>()
            .init_resource::<demo_corpus::DemoCorpus>()
            .init_resource::<crate::app::library::Problems>()
            .add_message::<crate::app::tokens::ReloadTokenizer>()
            .add_message::<crate::app::caption::ReloadCaptioner>()
            .add_message::<crate::app::library::OpenDataset>()
            .add_systems(Update, (drain_training, demo_corpus::finish_build))
            .add_systems(
                EguiPrimaryContextPass,
                ui::training_ui.in_set(UiSystems::Overlay),
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::import::corpus::{Source, build_corpus};

    /// Waits for the end of the running stage; returns it and how many step reports came.
    fn wait_stage(t: &Training) -> (Stage, Result<TrainEnd, String>, usize) {
        let mut steps = 0;
        loop {
            match t
                .rx
                .recv_timeout(std::time::Duration::from_secs(600))
                .expect("a message")
            {
                TrainMsg::Dvq(_) | TrainMsg::Lm(LmProgress::Step(_)) => steps += 1,
                TrainMsg::Lm(_) => {}
                TrainMsg::StageEnded(s, r) => return (s, r, steps),
            }
        }
    }

    /// A finished stage tells the feature that owns the model to reload it, by message: the
    /// tokens feature loads the new tokenizer, the caption feature the new captioner.
    #[test]
    fn a_finished_stage_reloads_its_model_in_the_owning_feature() {
        use crate::app::testing::{headless, update_until};
        let mut app = headless();
        app.add_plugins((
            TrainingPlugin,
            crate::app::tokens::TokensPlugin::default(),
            crate::app::caption::CaptionPlugin::default(),
        ));
        let out = tempfile::tempdir().unwrap();
        {
            let mut t = app.world_mut().resource_mut::<Training>();
            t.settings.out = out.path().to_path_buf();
            t.settings.then_captioner = false;
        }
        app.update();
        let t = app.world().resource::<Training>();
        let (dvq, lm) = (t.dvq_dir(), t.lm_dir());
        for stage in [Stage::Tokenizer, Stage::Captioner] {
            t.tx.send(TrainMsg::StageEnded(stage, Ok(TrainEnd::Finished)))
                .unwrap();
        }
        let names = |w: &World, dir: &std::path::Path| {
            let d = dir.display().to_string();
            let problems = &w.resource::<crate::app::library::Problems>().entries;
            problems.iter().any(|(_, m)| m.contains(&d))
                || w.resource::<crate::app::tokens::Tokens>()
                    .status
                    .contains(&d)
                || w.resource::<crate::app::caption::LiveCaption>()
                    .status
                    .contains(&d)
        };
        assert!(update_until(&mut app, |w| names(w, &dvq) && names(w, &lm)));
    }

    /// What the panel's Start, Pause and Resume do, on a small real corpus: tokenizer training
    /// paused at a checkpoint and resumed to the end, then captioner fine-tuning on its codes.
    #[test]
    fn training_panel_pauses_resumes_and_runs_both_stages() {
        use crate::testdata::by_tier;
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus");
        let keep =
            |s: &Source| s.id.starts_with("cmu_02_") || s.id == "cmu_01_01" || s.id == "cmu_05_01";
        let report = build_corpus(
            &crate::testdata::shared_data(),
            &corpus,
            Some(&keep),
            &|_, _| {},
        )
        .unwrap();
        // Full: 02_01-02_10 (test), 01_01 and 05_01 (train). Fixture: 02_01 and 05_01, each a
        // whole take plus its mirror.
        assert_eq!(report.sources, by_tier(10 + 2, 1 + 1), "{report:?}");
        assert!(report.skipped.is_empty(), "{report:?}");
        if !crate::testdata::full_data() {
            assert_eq!(
                (report.per_split["train"], report.per_split["test"]),
                (2, 2),
                "{report:?}"
            );
        }
        let mut t = Training::default();
        t.settings.dvq_steps = 4;
        t.settings.lm_steps = 2;
        t.settings.out = dir.path().join("run");
        t.start(Stage::Tokenizer, corpus.clone(), false);
        // Pause as soon as the first step reports.
        match t
            .rx
            .recv_timeout(std::time::Duration::from_secs(600))
            .unwrap()
        {
            TrainMsg::Dvq(p) => assert_eq!(p.step, 1),
            _ => panic!("expected a tokenizer step first"),
        }
        t.pause();
        let (stage, end, _) = wait_stage(&t);
        assert_eq!(stage, Stage::Tokenizer);
        let Ok(TrainEnd::Cancelled { step }) = end else {
            panic!("{end:?}")
        };
        assert!(step < 4, "paused at {step}");
        t.start(Stage::Tokenizer, corpus.clone(), true);
        let (_, end, steps) = wait_stage(&t);
        assert_eq!(end, Ok(TrainEnd::Finished));
        assert_eq!(steps, 4 - step, "resume continues from the checkpoint");
        assert!(t.dvq_dir().join("model.safetensors").exists());
        t.start(Stage::Captioner, corpus, false);
        let (stage, end, steps) = wait_stage(&t);
        assert_eq!(
            (stage, end, steps),
            (Stage::Captioner, Ok(TrainEnd::Finished), 2)
        );
        assert!(t.lm_dir().join("config.json").exists());
    }
}
