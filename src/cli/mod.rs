//! The `geomotion` command line: thin wrappers over library calls. With no subcommand it opens
//! the studio.

mod bench;
mod bench_caption;
mod bench_dvq;
mod codes;
mod dvq;
mod eval;
mod eval_generate;
mod generate;
mod import;
mod info;
mod lm;
mod retrieval;
mod t2m;
pub mod terminal;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::app::{AppOptions, RenderRequest};

#[derive(Parser, Debug)]
#[command(
    name = "geomotion",
    version,
    about = "GeoMotion Studio: see what a motion-language model does"
)]
pub struct Cli {
    /// A HumanML3D-layout dataset folder to open (new_joint_vecs/, Mean.npy, ...).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// The studio's tokenizer (before any subcommand): one of our folders, a GeoMotionGPT
    /// `dvq-gsst.pt` / Hugging Face export, or a T2M-GPT `net_last.pth` (default models/dvq).
    #[arg(long)]
    dvq: Option<PathBuf>,
    /// The `Mean.npy`/`Std.npy` folder a released --dvq tokenizer was trained with (default:
    /// the dataset the studio opens).
    #[arg(long)]
    mean_std: Option<PathBuf>,
    /// The studio's captioner (before any subcommand): a released GeoMotionGPT captioner
    /// (`GeoMotionGPT.ckpt` or the Hugging Face export folder) instead of models/lm; its
    /// tokenizer defaults to the one stored with it.
    #[arg(long)]
    model: Option<PathBuf>,
    /// With --model: the GPT-2 folder it was fine-tuned from (config.json, tokenizer.json).
    #[arg(long, requires = "model")]
    lm: Option<PathBuf>,
    /// The studio's text-to-motion LM (before any subcommand): a folder written by
    /// `train lm --tasks m2t,t2m`, for View menu, "Text to motion".
    #[arg(long)]
    t2m: Option<PathBuf>,
    /// Open the studio with the "Text to motion" window showing (before any subcommand; also for
    /// `render --studio`).
    #[arg(long)]
    text_to_motion: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Draw one frame of a clip to a PNG, headless (needs an X server, e.g. xvfb-run).
    Render {
        /// Clip id (file stem in new_joint_vecs/).
        #[arg(long)]
        clip: String,
        /// Frame index, 0-based, at 20 fps.
        #[arg(long, default_value_t = 0)]
        frame: usize,
        /// Output PNG path.
        #[arg(long)]
        out: PathBuf,
        /// Image size as WIDTHxHEIGHT in pixels.
        #[arg(long, default_value = "960x720", value_parser = parse_size)]
        size: (u32, u32),
        /// Draw the whole studio (panels, browser, captions, transport), not just the scene.
        #[arg(long)]
        studio: bool,
        /// With --studio: also write the panels' rectangles (egui points) and the window size
        /// to this JSON file, to check the layout at a window size.
        #[arg(long, requires = "studio")]
        layout: Option<PathBuf>,
        /// With --studio: once the clip opens, type this prompt into the "Text to motion" window
        /// (the shipped LM, or --t2m) and draw the generated motion at --frame, with its
        /// round-trip caption; the log gives the generation time as the window states it.
        #[arg(long, requires = "studio")]
        prompt: Option<String>,
    },
    /// Print what a dataset holds, or one clip's summary.
    Info {
        /// Clip id; without it, the dataset summary.
        #[arg(long)]
        clip: Option<String>,
    },
    /// Convert BVH / AMC files into a HumanML3D-layout folder (new_joint_vecs/, new_joints/).
    Import {
        /// Motion files: .bvh, .amc (plain or .gz).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// ASF skeleton for .amc files (default: SS.asf beside SS_TT.amc).
        #[arg(long)]
        asf: Option<PathBuf>,
        /// Rig map: a built-in name (bandai, cmu_cc_base, cmu_cc_base_boneroot, cmu_asf, smpl)
        /// or a rig TOML file; detected from joint names by default.
        #[arg(long)]
        rig: Option<String>,
        /// Source frames per second, when the file's header is wrong.
        #[arg(long)]
        fps: Option<f64>,
        /// Drop the first frame (a prepended T-pose).
        #[arg(long)]
        drop_first_frame: bool,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Caption a corpus clip or a motion file with the DVQ tokenizer + captioner.
    Caption(lm::CaptionArgs),
    /// Text to motion: codes from an LM trained with `--tasks m2t,t2m`, decoded by its tokenizer.
    Generate(generate::GenerateArgs),
    /// Print a motion's DVQ codes (`{"codes": [...]}`), or one JSON line per clip of a dataset.
    Encode(codes::EncodeArgs),
    /// Decode codes to `(N·frames per code, 263)` features in a `.npy` file (any tokenizer form).
    Decode(codes::DecodeArgs),
    /// Train the tokenizer or the captioner.
    Train {
        #[command(subcommand)]
        which: TrainCommand,
    },
    /// Evaluation.
    Eval {
        #[command(subcommand)]
        which: EvalCommand,
    },
    /// Build datasets.
    Data {
        #[command(subcommand)]
        which: DataCommand,
    },
    /// Benchmarks that print our figures beside their targets or references.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

#[derive(Subcommand, Debug)]
enum TrainCommand {
    /// Train the DVQ motion tokenizer on a corpus split.
    Dvq(dvq::TrainArgs),
    /// Fine-tune the captioner (LoRA + motion rows, or full) on a corpus's train split.
    Lm(lm::TrainArgs),
    /// Train the retrieval evaluator (motion + text encoders) for R-Precision, MM-Dist, FID.
    Retrieval(retrieval::TrainRetrievalArgs),
    /// Build the nearest-training-take index a captioner's output is checked against
    /// (`nearest.safetensors` + `nearest.json`; `train lm` writes it when it finishes).
    Nearest(lm::NearestArgs),
    /// Average two checkpoints of one captioner, (1 − w)·A + w·B (checkpoint averaging; the LoRA
    /// adapters through their weight changes, cut back to their rank by SVD).
    LmAverage(lm::AverageArgs),
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// Tokenizer metrics on a split: MPJPE, normalized MSE, code usage, codebook geometry.
    Dvq(dvq::EvalArgs),
    /// Caption every clip of a split and report BLEU, ROUGE-L, CIDEr-D per caption kind.
    Captions(lm::EvalCaptionsArgs),
    /// R-Precision and MM-Dist of reference captions against real and DVQ-reconstructed motion,
    /// and the FID of the reconstructions, with the retrieval evaluator.
    Retrieval(retrieval::EvalRetrievalArgs),
    /// R-Precision and MM-Dist with the T2M evaluator the papers use (Guo et al. 2022; its
    /// released finest.tar, Mean/Std and GloVe), for the references and a captioner's predictions.
    T2m(t2m::EvalT2mArgs),
    /// Text to motion: R-Precision, MM-Dist, FID, Diversity, MultiModality and physical sanity
    /// of generated motion, beside real motion and a retrieval baseline, in one run.
    Generate(eval_generate::EvalGenerateArgs),
    /// Score predictions given as JSON lines {"id", "prediction", "references": [...]} with
    /// BLEU-1..4, ROUGE-L and CIDEr-D (pycocoevalcap conventions), raw and normalized text, and
    /// BERTScore (MiniLM-L6 variant) on raw text.
    Score {
        #[arg(long)]
        input: PathBuf,
        /// Also write the scores as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Leave out BERTScore (which loads all-MiniLM-L6-v2).
        #[arg(long)]
        no_bertscore: bool,
        #[command(flatten)]
        paper: eval::PaperBertArgs,
    },
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Build the demo corpus (HumanML3D layout) from the shared motion data.
    Build {
        /// The shared data folder (bandai/, cmu/, splits/).
        #[arg(long)]
        from: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a KIT-ML-layout copy (251-d features, 21 joints in mm, 12.5 fps) of a HumanML3D-layout
    /// dataset, its SMPL joints mapped onto the KIT-ML skeleton: real motion for trying the
    /// KIT-ML pipelines when KIT-ML itself is not at hand (its numbers are not KIT-ML's).
    Kit {
        /// A HumanML3D-layout dataset (e.g. built by `data build`).
        #[arg(long)]
        from: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the small embedded sample (assets/demo/) from a built corpus.
    Sample {
        /// A corpus built by `data build`.
        #[arg(long)]
        corpus: PathBuf,
        /// Output folder (assets/demo).
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{s}`: expected WIDTHxHEIGHT, e.g. 960x720"))?;
    let w: u32 = w.parse().map_err(|_| format!("`{s}`: bad width"))?;
    let h: u32 = h.parse().map_err(|_| format!("`{s}`: bad height"))?;
    if !(64..=8192).contains(&w) || !(64..=8192).contains(&h) {
        return Err(format!("`{s}`: each side must be 64..=8192 pixels"));
    }
    Ok((w, h))
}

/// The studio's `--dvq`/`--mean-std`; a released tokenizer's statistics default to `--data`.
fn studio_tokenizer(cli: &Cli) -> crate::app::tokens::TokenizerSource {
    crate::app::tokens::TokenizerSource {
        // A released captioner's own tokenizer, unless --dvq says otherwise.
        dvq: cli
            .dvq
            .as_ref()
            .or(cli.model.as_ref())
            .map(|p| lm::model_path(p)),
        mean_std: cli.mean_std.clone(),
        dataset: cli.data.clone(),
    }
}

/// Parses the command line and runs it.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    let tokenizer = studio_tokenizer(&cli);
    let captioner = crate::app::caption::ReleasedSource {
        model: cli.model.as_ref().map(|p| lm::model_path(p)),
        backbone: cli.lm.clone(),
    };
    match cli.command {
        None => crate::app::run(AppOptions {
            tokenizer,
            captioner,
            data: cli.data,
            render: None,
            t2m: cli.t2m,
            open_t2m: cli.text_to_motion,
        }),
        Some(Command::Render {
            clip,
            frame,
            out,
            size,
            studio,
            layout,
            prompt,
        }) => {
            let data = cli
                .data
                .ok_or_else(|| anyhow::anyhow!("render needs --data DATASET"))?;
            // Fail fast, before a window opens, on a bad dataset or clip.
            let ds = crate::motion::Dataset::open(&data)?;
            let clip_data = ds.load_clip(&clip)?;
            if frame >= clip_data.joints.frames() {
                anyhow::bail!(
                    "--frame {frame}: clip {clip} has {} frames (0..{})",
                    clip_data.joints.frames(),
                    clip_data.joints.frames() - 1
                );
            }
            crate::app::run(AppOptions {
                tokenizer,
                captioner,
                t2m: cli.t2m,
                open_t2m: cli.text_to_motion || prompt.is_some(),
                data: Some(data),
                render: Some(RenderRequest {
                    clip,
                    frame,
                    out,
                    size,
                    studio,
                    layout,
                    prompt,
                }),
            })
        }
        Some(Command::Info { clip }) => info::run(cli.data.as_deref(), clip.as_deref()),
        Some(Command::Bench { which }) => bench::run(which),
        Some(Command::Import {
            files,
            asf,
            rig,
            fps,
            drop_first_frame,
            out,
        }) => import::import_files(&files, asf, rig.as_deref(), fps, drop_first_frame, &out),
        Some(Command::Train {
            which: TrainCommand::Dvq(args),
        }) => dvq::train(args),
        Some(Command::Train {
            which: TrainCommand::Lm(args),
        }) => lm::train(args),
        Some(Command::Train {
            which: TrainCommand::Retrieval(args),
        }) => retrieval::train(args),
        Some(Command::Train {
            which: TrainCommand::Nearest(args),
        }) => lm::build_nearest(args),
        Some(Command::Train {
            which: TrainCommand::LmAverage(args),
        }) => lm::average(args),
        Some(Command::Eval {
            which: EvalCommand::Retrieval(args),
        }) => retrieval::eval(args),
        Some(Command::Eval {
            which: EvalCommand::T2m(args),
        }) => t2m::run(args),
        Some(Command::Eval {
            which: EvalCommand::Generate(args),
        }) => eval_generate::run(args),
        Some(Command::Caption(args)) => lm::caption(args),
        Some(Command::Encode(args)) => codes::encode(args),
        Some(Command::Generate(args)) => generate::generate(args),
        Some(Command::Decode(args)) => codes::decode(args),
        Some(Command::Eval {
            which: EvalCommand::Captions(args),
        }) => lm::eval_captions(args),
        Some(Command::Eval {
            which: EvalCommand::Dvq(args),
        }) => dvq::eval(args),
        Some(Command::Eval {
            which:
                EvalCommand::Score {
                    input,
                    json,
                    no_bertscore,
                    paper,
                },
        }) => eval::score(&input, json.as_deref(), !no_bertscore, &paper),
        Some(Command::Data {
            which: DataCommand::Build { from, out },
        }) => import::data_build(&from, &out),
        Some(Command::Data {
            which: DataCommand::Kit { from, out },
        }) => import::data_kit(&from, &out),
        Some(Command::Data {
            which: DataCommand::Sample { corpus, out },
        }) => {
            let (n, bytes) = crate::motion::import::sample::write_sample(&corpus, &out)?;
            println!(
                "wrote {n} clips ({:.1} MB of features and captions) to {}",
                bytes as f64 / 1e6,
                out.display()
            );
            Ok(())
        }
    }
}
