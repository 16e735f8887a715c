//! `geomotion train lm` and `geomotion caption`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::dvq::cancel_on_ctrlc;
use super::terminal::printable_line;
use crate::dvq::{Tokenizer, TrainEnd};
use crate::lm::captioner::{FineTune, MAX_NEW_TOKENS};
use crate::lm::lora::LoraConfig;
use crate::lm::resolve::models_dir;
use crate::lm::train::{LmProgress, LmTrainConfig, LmTrainRequest, load_captioner};
use crate::motion::import::corpus::ManifestEntry;
use crate::motion::import::file::{ImportOptions, import_motion};
use crate::motion::import::rig::Rig;
use crate::motion::{Dataset, Features, Split};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// HumanML3D-layout corpus with captions (e.g. built by `geomotion data build`).
    #[arg(long)]
    data: PathBuf,
    /// DVQ tokenizer directory.
    #[arg(long, default_value = "models/dvq")]
    dvq: PathBuf,
    /// `lora` (adapters + motion rows; small checkpoint) or `full` (every weight).
    #[arg(long, default_value = "lora")]
    mode: FineTune,
    /// `paper`: the authors' recipe (full fine-tuning, AdamW 1e-4, weight decay 0.01, batch 320,
    /// λ 1e-2, 100 epochs under CosineAnnealingLR(T_max 200, eta_min 1e-6) stepped per epoch);
    /// needs --lm with the GPT-2 folder the paper fine-tunes. --steps, --lr and --batch-size
    /// still override it.
    #[arg(long, value_enum)]
    preset: Option<LmPreset>,
    /// Output captioner directory.
    #[arg(long)]
    out: PathBuf,
    /// Backbone: a Llama-architecture GGUF, or a Hugging Face folder (config.json, *.safetensors,
    /// tokenizer.json); default SmolLM2-135M-Instruct through the resolver.
    #[arg(long)]
    lm: Option<PathBuf>,
    #[arg(long)]
    steps: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    /// Peak learning rate of the motion summary map (default: --lr).
    #[arg(long)]
    summary_lr: Option<f64>,
    /// LoRA rank.
    #[arg(long)]
    rank: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// The codebook's projection into the embedding space of a fresh captioner: `sparse` (the
    /// reference code's, the default), `selection` (the paper's selection matrix, an exact
    /// isometry of the codebook's Gram matrix) or `none` (the paper's random-init ablation:
    /// motion rows drawn at random, the codebook unused).
    #[arg(long, value_enum)]
    projection: Option<crate::lm::motion_vocab::ProjectionKind>,
    /// The regulariser on the motion rows: `orthonormal` (the paper's, default) or
    /// `pairwise-cosine` (the authors' ablation: the mean off-diagonal cosine).
    #[arg(long, value_enum)]
    geometry_loss: Option<crate::lm::motion_vocab::GeometryLoss>,
    /// The directions learnt: `m2t` (motion to text, the default), `t2m` (text to motion,
    /// MotionGPT's `Generate motion: …`), or both: `m2t,t2m`.
    #[arg(long, value_enum, value_delimiter = ',')]
    tasks: Option<Vec<crate::lm::train::Task>>,
    /// With `--tasks m2t,t2m`: multiplies the sampling weight of each text-to-motion example
    /// (1, the default, = as many motion as caption examples; 1/3 = a quarter motion).
    #[arg(long)]
    t2m_weight: Option<f64>,
    /// Balanced sampling across label groups (Bandai dataset/content, CMU): each pair's weight
    /// is divided by its group's size to this power (0 off, 1 every group alike).
    #[arg(long)]
    balance: Option<f64>,
    /// Sampling weight of a clip's captions after its first, relative to the first (the
    /// dataset's canonical phrasing): 1 (default) = every caption alike, 0 = the first only.
    #[arg(long)]
    other_captions: Option<f64>,
    /// Style-tagged captioner: share (0..=1) of each Bandai first caption's sampling weight
    /// given to a style-swapped copy (another style, or none, in both the caption and the tag;
    /// see `style_swapped` in `src/lm/data.rs`). 0 (default) = no copies.
    #[arg(long)]
    style_swap: Option<f64>,
    /// A JSON file of training settings (any subset of LmTrainConfig's fields).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Resume from the checkpoint in --out.
    #[arg(long)]
    resume: bool,
    /// Start from this trained captioner's weights (fresh optimiser, this run's schedule).
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Stop after this step (resume later with --resume).
    #[arg(long)]
    stop_at: Option<usize>,
    /// Give the captioner a motion summary read as this many soft tokens before the codes (the
    /// nearest-take index's principal components through a learned linear map; see
    /// `src/lm/summary.rs`). Off by default: the captioner reads the codes only.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    summary_tokens: Option<u64>,
    /// Make the captioner retrieval-augmented: its prompt gives the first captions of this many
    /// nearest training takes after the motion (SmallCap-style; see `src/lm/context.rs`). In
    /// training a take's own source is left out. Off by default.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=16))]
    retrieved: Option<u64>,
    /// Make the captioner style-tagged: its prompt gives the style label predicted by a linear
    /// classifier on the motion summary, fitted with the nearest-take index (see
    /// `src/eval/style_classifier.rs`). Off by default.
    #[arg(long)]
    style_tag: bool,
    /// cpu, cuda, metal or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

#[derive(Args, Debug)]
pub struct CaptionArgs {
    /// A corpus to take the clip from (with --clip).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Clip id in --data.
    #[arg(long)]
    clip: Option<String>,
    /// A motion file instead: .bvh / .amc (plain or .gz), or a (T, 263) features .npy.
    #[arg(long)]
    motion: Option<PathBuf>,
    /// ASF skeleton for an .amc file.
    #[arg(long)]
    asf: Option<PathBuf>,
    /// Rig map name or TOML file (detected by default).
    #[arg(long)]
    rig: Option<String>,
    /// Frame range at 20 fps, START..END (end exclusive).
    #[arg(long, value_parser = parse_range)]
    frames: Option<std::ops::Range<usize>>,
    /// Captioner: one of our folders, or a released GeoMotionGPT captioner (the Lightning
    /// `GeoMotionGPT.ckpt`, or the Hugging Face export folder) with --lm the GPT-2 folder it was
    /// fine-tuned from.
    #[arg(long, default_value = "models/lm")]
    model: PathBuf,
    /// Tokenizer, in any form `encode --dvq` takes (with a released captioner, default: the
    /// tokenizer stored with it).
    #[arg(long, default_value = "models/dvq")]
    dvq: PathBuf,
    /// Backbone: a Llama-architecture GGUF or a Hugging Face folder (default: SmolLM2 through the
    /// resolver); for a released captioner, its GPT-2 folder (`config.json`, `tokenizer.json`).
    #[arg(long)]
    lm: Option<PathBuf>,
    /// The `Mean.npy`/`Std.npy` folder of a released tokenizer (default: --data, or the
    /// HumanML3D folder the --motion file is in).
    #[arg(long)]
    mean_std: Option<PathBuf>,
    /// cpu, cuda, metal or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Caption with f32 weights instead of Q8_0 ones (CPU).
    #[arg(long)]
    f32: bool,
}

fn parse_range(s: &str) -> std::result::Result<std::ops::Range<usize>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("`{s}`: expected START..END"))?;
    let a: usize = a.parse().map_err(|_| format!("`{s}`: bad start"))?;
    let b: usize = b.parse().map_err(|_| format!("`{s}`: bad end"))?;
    if b <= a {
        return Err(format!("`{s}`: END must be after START"));
    }
    Ok(a..b)
}

/// `models/…` defaults resolve against the project's models folder when run from elsewhere.
pub(super) fn model_path(p: &Path) -> PathBuf {
    match p.strip_prefix("models") {
        Ok(rest) if !p.exists() => models_dir().join(rest),
        _ => p.to_path_buf(),
    }
}

/// Named training recipes of `train lm --preset`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LmPreset {
    /// GeoMotionGPT's own setting ([`LmTrainConfig::paper`]).
    Paper,
}

pub fn train(a: TrainArgs) -> Result<()> {
    let device = crate::device::select(&a.device)?;
    let mut mode = a.mode;
    let mut train = match (&a.config, a.preset) {
        (Some(p), _) => serde_json::from_str::<LmTrainConfig>(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("{}: not a training config", p.display()))?,
        (None, Some(LmPreset::Paper)) => {
            if a.lm.is_none() {
                bail!(
                    "--preset paper fine-tunes GPT-2 as the paper does: give --lm with a GPT-2 \
                     folder (config.json, model.safetensors, tokenizer.json)"
                );
            }
            // An epoch is every caption pair of the train split once.
            let pairs: usize =
                crate::motion::import::humanml3d::split_entries(&a.data, Split::Train)?
                    .iter()
                    .map(|e| e.captions.len())
                    .sum();
            mode = FineTune::Full;
            let t = LmTrainConfig::paper(pairs);
            eprintln!(
                "paper preset: {pairs} train caption pairs, {} steps of {} per epoch, {} steps \
                 (100 epochs), full fine-tuning",
                t.steps / 100,
                t.batch_size,
                t.steps
            );
            t
        }
        (None, None) => LmTrainConfig::default(),
    };
    if let Some(s) = a.steps {
        train.steps = s;
    }
    if let Some(b) = a.batch_size {
        train.batch_size = b;
    }
    if let Some(lr) = a.lr {
        train.lr = lr;
    }
    if let Some(lr) = a.summary_lr {
        train.summary_lr = Some(lr);
    }
    if let Some(g) = a.geometry_loss {
        train.geometry_loss = g;
    }
    if let Some(t) = &a.tasks {
        train.tasks = t.clone();
    }
    if let Some(w) = a.t2m_weight {
        train.t2m_weight = w;
    }
    if let Some(p) = a.projection {
        train.projection = p;
    }
    if let Some(s) = a.seed {
        train.seed = s;
    }
    if let Some(w) = a.style_swap {
        train.weights.style_swap = w;
    }
    if let Some(w) = a.other_captions {
        train.weights.other_captions = w;
    }
    if let Some(b) = a.balance {
        train.weights.balance = b;
    }
    let mut lora = LoraConfig::default();
    if let Some(r) = a.rank {
        lora.alpha = 2.0 * r as f64;
        lora.rank = r;
    }
    let req = LmTrainRequest {
        data: a.data,
        split: Split::Train,
        dvq: model_path(&a.dvq),
        backbone: a.lm,
        out: a.out,
        mode,
        lora,
        train,
        resume: a.resume,
        init: a.init,
        stop_at: a.stop_at,
        summary_tokens: a.summary_tokens.map(|t| t as usize),
        retrieved: a.retrieved.map(|n| n as usize),
        style_tag: a.style_tag,
    };
    let cancel = cancel_on_ctrlc()?;
    eprintln!(
        "fine-tuning the captioner ({:?}) on {} with codes from {}, {}",
        req.mode,
        req.data.display(),
        req.dvq.display(),
        crate::device::describe(&device)
    );
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} {msg}  [{elapsed_precise} < {eta_precise}]",
    )?);
    let end = crate::lm::train::train(&req, &device, &cancel, &mut |p| match p {
        LmProgress::Preparing { done, total } => {
            bar.set_length(*total as u64);
            bar.set_position(*done as u64);
            bar.set_message("clips encoded");
        }
        LmProgress::Note(n) => bar.println(n),
        LmProgress::Step(s) => {
            bar.set_length(s.steps as u64);
            bar.set_position(s.step as u64);
            bar.set_message(format!(
                "steps  caption loss {:.3}  ortho {:.4}  {:.0} tok/s",
                s.caption_loss, s.ortho, s.tokens_per_s
            ));
        }
    })?;
    bar.finish();
    match end {
        TrainEnd::Finished => eprintln!("done: {}", req.out.display()),
        TrainEnd::Cancelled { step } => eprintln!(
            "stopped at step {step}; continue with --resume --out {}",
            req.out.display()
        ),
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct NearestArgs {
    /// The corpus the captioner was trained on (its train split is indexed).
    #[arg(long)]
    data: PathBuf,
    /// The captioner's directory, where the index is written.
    #[arg(long, default_value = "models/lm")]
    out: PathBuf,
}

pub fn build_nearest(a: NearestArgs) -> Result<()> {
    let t0 = Instant::now();
    let index =
        crate::eval::nearest::NearestIndex::build(&a.data, crate::eval::nearest::COMPONENTS)?;
    index.save(&a.out)?;
    eprintln!(
        "indexed {} train whole takes of {} in {:.1} s; out of domain above distance {:.2}; wrote {}",
        index.len(),
        a.data.display(),
        t0.elapsed().as_secs_f64(),
        index.far_distance(),
        a.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct AverageArgs {
    /// Captioner folder A (e.g. a run's earlier checkpoint, copied aside).
    a: PathBuf,
    /// Captioner folder B, of the same model (its config and nearest-take index are kept).
    b: PathBuf,
    /// w in (1 − w)·A + w·B.
    #[arg(long, default_value_t = 0.5)]
    weight: f64,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

pub fn average(a: AverageArgs) -> Result<()> {
    let t0 = Instant::now();
    let r = crate::lm::average::average_checkpoints(&a.a, &a.b, a.weight, &a.out)?;
    eprintln!(
        "wrote {} = {:.3}·{} + {:.3}·{} in {:.1} s ({} LoRA targets mixed through their weight \
         changes; largest rank cut {:.4} of a change's norm)",
        a.out.display(),
        1.0 - r.weight_b,
        r.a.display(),
        r.weight_b,
        r.b.display(),
        t0.elapsed().as_secs_f64(),
        r.lora_targets,
        r.worst_rank_cut
    );
    Ok(())
}

/// The `(T, 263)` features the caption command reads, with a label for the output.
fn features_of(a: &CaptionArgs) -> Result<(Features, String)> {
    match (&a.data, &a.clip, &a.motion) {
        (Some(data), Some(clip), None) => {
            let ds = Dataset::open(data)?;
            // A clip id, or a sub-clip id from a plain HumanML3D folder's report.
            let f = ds.load_features(clip)?;
            Ok((crop(f, a.frames.clone(), clip)?, clip.clone()))
        }
        (_, None, Some(file)) => {
            let name = file.display().to_string();
            if name.ends_with(".npy") {
                let f = Features::load(file)?;
                return Ok((crop(f, a.frames.clone(), &name)?, name));
            }
            let options = ImportOptions {
                rig: a.rig.as_deref().map(Rig::named).transpose()?,
                asf: a.asf.clone(),
                ..Default::default()
            };
            let m = import_motion(file, &options)?;
            let range = a.frames.clone().unwrap_or(0..m.frames());
            Ok((m.features(range)?, name))
        }
        _ => bail!("give either --data CORPUS --clip ID, or --motion FILE"),
    }
}

fn crop(f: Features, range: Option<std::ops::Range<usize>>, what: &str) -> Result<Features> {
    let Some(r) = range else { return Ok(f) };
    if r.end > f.frames() {
        bail!(
            "{what}: --frames {}..{} but the clip has {} frames",
            r.start,
            r.end,
            f.frames()
        );
    }
    Ok(f.frames_range(r, Path::new(what))?)
}

/// The captioner's nearest-training-take index, or `None` (said on stderr) when `dir` has none.
fn load_nearest_index(dir: &Path) -> Result<Option<crate::eval::nearest::NearestIndex>> {
    let index = crate::eval::nearest::NearestIndex::load(dir)?;
    if index.is_none() {
        eprintln!(
            "no nearest-take index in {} (build it: geomotion train nearest --data CORPUS --out {}): \
             doubts come from token probabilities only",
            dir.display(),
            dir.display()
        );
    }
    Ok(index)
}

pub fn caption(a: CaptionArgs) -> Result<()> {
    if crate::lm::released::is_released(&model_path(&a.model)) {
        return caption_released(&a);
    }
    let device = crate::device::select(&a.device)?;
    let (features, label) = features_of(&a)?;
    let t0 = Instant::now();
    let dvq = Tokenizer::load(&model_path(&a.dvq), &device)?;
    let decode = crate::lm::infer::DecodeWeights::for_device(&device, a.f32);
    let (cap, _) = load_captioner(&model_path(&a.model), a.lm.as_deref(), decode, &device)?;
    let load_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let codes = dvq.encode(features.as_slice())?;
    let index = load_nearest_index(&model_path(&a.model))?;
    let context = cap
        .context(index.as_ref(), features.as_slice(), None)
        .with_context(|| label.clone())?;
    let scored = cap.generate_scored(&codes, &context, MAX_NEW_TOKENS, &mut |_| true)?;
    let neighbours = crate::eval::doubt::neighbours(index.as_ref(), features.as_slice());
    let near = neighbours.first();
    let c = scored.confidence;
    let crate::eval::doubt::Shown {
        text: caption,
        doubts,
    } = crate::eval::doubt::shown(&scored.text, &c, &neighbours, true);
    eprintln!(
        "{label}: {} frames, {} codes; {} (load {load_s:.2} s, caption {:.0} ms)",
        features.frames(),
        codes.len(),
        crate::device::describe(&device),
        1e3 * t1.elapsed().as_secs_f64()
    );
    eprintln!(
        "least likely word p = {:.2}, mean log p {:.2} over {} tokens",
        c.min_prob, c.mean_logprob, c.tokens
    );
    if let Some(n) = near {
        eprintln!(
            "nearest training take: {} \"{}\" (distance {:.1}; out of domain above {:.1})",
            printable_line(&n.take.id),
            printable_line(&n.take.caption),
            n.distance,
            n.far_distance
        );
    }
    if let (Some(_), Some(index)) = (&context.style, &index)
        && let Some(read) = index.style_read(features.as_slice())
    {
        eprintln!(
            "style read (the index's style classifier): {}",
            printable_line(&read.to_string())
        );
    }
    if doubts.is_empty() {
        eprintln!("sure");
    } else {
        let why: Vec<String> = doubts.iter().map(|d| d.to_string()).collect();
        eprintln!("unsure: {}", printable_line(&why.join("; ")));
    }
    println!("{}", printable_line(&caption));
    Ok(())
}

/// `caption --model` a released GeoMotionGPT captioner: its tokenizer (`--dvq`, default the one
/// stored with it) encodes the motion, the GPT-2 captions greedily as the authors' code does
/// ([`crate::lm::released`]). Prints the caption on stdout; ids, timing and the least token
/// probability on stderr.
///
/// Errors: an unreadable captioner or tokenizer (named), a tokenizer whose K differs from the
/// captioner's motion tokens, features [`features_of`] cannot read.
fn caption_released(a: &CaptionArgs) -> Result<()> {
    use crate::lm::released::ReleasedCaptioner;
    let device = crate::device::select(&a.device)?;
    let (features, label) = features_of(a)?;
    let t0 = Instant::now();
    let model = model_path(&a.model);
    let cap = ReleasedCaptioner::load(&model, a.lm.as_deref(), &device)?;
    let fallback = match (&a.motion, &a.data) {
        (Some(file), _) => super::codes::dataset_of_features(file),
        (None, data) => data.clone(),
    };
    let dvq = if a.dvq == Path::new("models/dvq") {
        super::codes::open_tokenizer(&model, a.mean_std.as_deref(), fallback.as_deref(), &device)
            .with_context(|| {
                format!(
                    "{} holds no tokenizer that opens: give it with --dvq (e.g. dvq-gsst.pt)",
                    model.display()
                )
            })?
    } else {
        super::codes::open_tokenizer(&a.dvq, a.mean_std.as_deref(), fallback.as_deref(), &device)?
    };
    if dvq.nb_code() != cap.nb_code() {
        bail!(
            "the tokenizer has K = {} codes, the captioner {} motion tokens: not a pair",
            dvq.nb_code(),
            cap.nb_code()
        );
    }
    let load_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let codes = dvq.encode(features.as_slice())?;
    let out = cap.caption(&codes, &mut |_| true)?;
    eprintln!(
        "{label}: {} frames, {} codes; GeoMotionGPT captioner {} on {} (load {load_s:.2} s, \
         caption {:.0} ms)",
        features.frames(),
        codes.len(),
        cap.source.display(),
        crate::device::describe(&device),
        1e3 * t1.elapsed().as_secs_f64()
    );
    eprintln!(
        "least likely token p = {:.2} over {} tokens; a released model has no nearest-take \
         index here: read the caption as its guess",
        out.min_prob,
        out.generated_ids.len()
    );
    println!("{}", printable_line(&out.text));
    Ok(())
}

/// The motion-to-text length filter of a plain HumanML3D folder (a manifest's clips are not
/// filtered), shared by `eval captions` and `eval t2m`.
#[derive(Args, Debug, Clone)]
pub(super) struct LengthArgs {
    /// A folder without manifest.json: shortest clip or sub-clip kept, frames at 20 fps
    /// (MotionGPT's m2t loader: 40; GeoMotionGPT's test config: 20).
    #[arg(long, default_value_t = crate::motion::import::humanml3d::MIN_FRAMES)]
    pub min_frames: usize,
    /// A folder without manifest.json: clips of this many frames or more are left out
    /// (MotionGPT: 200; GeoMotionGPT's test config: 196).
    #[arg(long, default_value_t = crate::motion::import::humanml3d::MAX_FRAMES)]
    pub max_frames: usize,
}

impl LengthArgs {
    /// `min_frames..max_frames`; an error when empty.
    pub fn range(&self) -> Result<std::ops::Range<usize>> {
        if self.min_frames >= self.max_frames {
            bail!(
                "--min-frames {} must be below --max-frames {}",
                self.min_frames,
                self.max_frames
            );
        }
        Ok(self.min_frames..self.max_frames)
    }
}

#[derive(Args, Debug)]
pub struct EvalCaptionsArgs {
    /// HumanML3D-layout corpus with captions (and manifest.json for caption kinds).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "test")]
    split: Split,
    #[command(flatten)]
    lengths: LengthArgs,
    /// Score each clip's first reference against its others (the "GT" ceiling row).
    #[arg(long)]
    refs_only: bool,
    /// Also score windows of longer takes (their captions describe the whole take).
    #[arg(long)]
    include_windows: bool,
    #[arg(long, default_value = "models/lm")]
    model: PathBuf,
    #[arg(long, default_value = "models/dvq")]
    dvq: PathBuf,
    #[arg(long)]
    lm: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    device: String,
    /// Leave out BERTScore (which loads all-MiniLM-L6-v2).
    #[arg(long)]
    no_bertscore: bool,
    /// Caption with f32 weights instead of Q8_0 ones (CPU).
    #[arg(long)]
    f32: bool,
    /// Retrieval evaluator for R-Precision and MM-Dist (left out when the folder is missing).
    #[arg(long, default_value = "models/eval")]
    retrieval: PathBuf,
    /// Leave out the retrieval baseline row.
    #[arg(long)]
    no_baseline: bool,
    /// Score the captioner's own captions everywhere: no nearest take's caption shown where
    /// every neighbour check fails (`eval::doubt::shows_nearest`; the ablation row).
    #[arg(long)]
    captioner_only: bool,
    /// No captioner: only the retrieval baseline and its diagnostic rows through the tokenizer
    /// `--dvq` (its codes, its reconstructions), to judge a tokenizer before training a
    /// captioner on it.
    #[arg(long, conflicts_with_all = ["refs_only", "no_baseline"])]
    tokenizer_only: bool,
    /// Score only the first N clips of the split (in manifest order).
    #[arg(long)]
    limit: Option<usize>,
    /// Write report.json, report.md and predictions.jsonl here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also print the M2T table in the papers' form (R@1–3, MM-Dist, BLEU@1/4, ROUGE-L,
    /// CIDEr-D, BERTScore ×100), its header naming the evaluator and BERTScore used.
    #[arg(long)]
    paper_table: bool,
    /// With --paper-table: the T2M evaluator's `t2m` folder (with --glove) for R-Precision and
    /// MM-Dist as papers compute them (default: our retrieval evaluator, labelled).
    #[arg(long, requires = "glove")]
    t2m: Option<PathBuf>,
    /// The T2M evaluator's GloVe folder (`our_vab_*`).
    #[arg(long, requires = "t2m")]
    glove: Option<PathBuf>,
    /// With --paper-table, BERTScore as papers report it (default: our MiniLM variant,
    /// labelled).
    #[command(flatten)]
    paper_bert: super::eval::PaperBertArgs,
}

/// `eval captions --paper-table`: the captioner's and the baseline's rows in the papers' form,
/// with the T2M evaluator and roberta BERTScore when their folders are given.
fn paper_table_markdown(
    a: &EvalCaptionsArgs,
    rows: &[crate::eval::report::ReportRow],
    clips: &[crate::eval::report::ClipCaptions],
    baseline: Option<(
        &[crate::eval::report::ReportRow],
        &[crate::eval::report::ClipCaptions],
    )>,
) -> Result<String> {
    use crate::eval::paper_table::{Matching, PaperRow, paper_table};
    use crate::eval::report::sets_for;
    let dev = candle_core::Device::Cpu;
    let roberta = a.paper_bert.scorer()?;
    let t2m = match (&a.t2m, &a.glove) {
        (Some(t), Some(g)) => {
            let ev = crate::eval::t2m::T2mEvaluator::load(t, &dev)?;
            let glove = crate::eval::t2m::words::WordVectors::load(g, "our_vab")?;
            let items = crate::eval::t2m::protocol::embed_split(
                &ev,
                &a.data,
                a.split,
                a.lengths.range()?,
                &mut |_, _| {},
            )?;
            Some((ev, glove, items))
        }
        _ => None,
    };
    let mut owned = Vec::new();
    let mut entries: Vec<(
        &str,
        &crate::eval::report::ReportRow,
        &[crate::eval::report::ClipCaptions],
    )> = vec![(
        if a.refs_only {
            "references (GT)"
        } else {
            "captioner"
        },
        &rows[0],
        clips,
    )];
    if let Some((b, bc)) = baseline {
        entries.push(("retrieval baseline", &b[0], bc));
    }
    for (name, row, cl) in &entries {
        let sets = sets_for(cl, None, a.refs_only);
        let bert = match &roberta {
            Some(r) => {
                let s = r.score(&sets, true)?;
                Some((s.f1, s.name))
            }
            None => row
                .bertscore_idf_f1
                .map(|f| (f, "bertscore-minilm-l6-idf (our variant)".to_string())),
        };
        let t2m_scores = match &t2m {
            Some((ev, glove, items)) => {
                let preds = sets
                    .iter()
                    .map(|s| (s.id.clone(), s.prediction.clone()))
                    .collect();
                let lex = crate::eval::t2m::protocol::lexicon(items);
                Some(
                    crate::eval::t2m::protocol::predictions_row(
                        ev, glove, items, &preds, &lex, 20, 0,
                    )?
                    .1,
                )
            }
            None => None,
        };
        owned.push((
            name.to_string(),
            row.scores.clone(),
            row.matching.clone(),
            bert,
            t2m_scores,
        ));
    }
    let table_rows: Vec<PaperRow> = owned
        .iter()
        .map(|(name, scores, ours, bert, t2m)| PaperRow {
            method: name,
            scores,
            matching: match t2m {
                Some(m) => Matching::T2m(m.as_ref()),
                None => Matching::Ours(ours.as_ref()),
            },
            bertscore: bert.as_ref().map(|(f, n)| (*f, n.as_str())),
        })
        .collect();
    Ok(paper_table(&table_rows))
}

/// The retrieval baseline's caption of every clip in `entries` (the first caption of the
/// nearest train whole take of `data`).
fn baseline_predictions(data: &Path, entries: &[ManifestEntry]) -> Result<Vec<String>> {
    use crate::eval::baseline::{RetrievalBaseline, clip_descriptor};
    let t = Instant::now();
    let nn = RetrievalBaseline::from_corpus(data)?;
    let ds = Dataset::open(data)?;
    let norm = ds.normalizer()?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let d = clip_descriptor(&ds, &norm, &e.id)?;
        out.push(nn.caption(&d));
    }
    eprintln!(
        "retrieval baseline: {} train whole takes indexed, {} clips looked up in {:.1} s",
        nn.len(),
        entries.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// The diagnostic retrieval baselines through the tokenizer: each clip takes the first caption
/// of the train whole take nearest by code histograms, and by the descriptor of the DVQ
/// reconstruction (train and query both reconstructed).
fn tokenizer_baseline_predictions(
    data: &Path,
    tokenizer: &Tokenizer,
    entries: &[ManifestEntry],
) -> Result<(Vec<String>, Vec<String>)> {
    use crate::eval::baseline::{RetrievalBaseline, clip_tokenizer_descriptors, train_whole_takes};
    let ds = Dataset::open(data)?;
    let norm = ds.normalizer()?;
    let (mut codes, mut recon) = (Vec::new(), Vec::new());
    for e in train_whole_takes(data)? {
        let caption = e.captions[0].text.clone();
        let (c, r) = clip_tokenizer_descriptors(&ds, &norm, tokenizer, &e.id)?;
        codes.push((e.id.clone(), c, caption.clone()));
        recon.push((e.id, r, caption));
    }
    let (codes, recon) = (RetrievalBaseline::new(codes), RetrievalBaseline::new(recon));
    let (mut by_codes, mut by_recon) = (Vec::new(), Vec::new());
    for e in entries {
        let (c, r) = clip_tokenizer_descriptors(&ds, &norm, tokenizer, &e.id)?;
        by_codes.push(codes.caption(&c));
        by_recon.push(recon.caption(&r));
    }
    Ok((by_codes, by_recon))
}

/// Each clip of `entries` with its prediction (same order), references and labels.
fn clip_captions(
    entries: &[ManifestEntry],
    preds: &[String],
) -> Vec<crate::eval::report::ClipCaptions> {
    entries
        .iter()
        .zip(preds)
        .map(|(e, p)| crate::eval::report::ClipCaptions {
            id: e.id.clone(),
            prediction: p.clone(),
            references: e
                .captions
                .iter()
                .map(|c| (c.text.clone(), c.kind))
                .collect(),
            labels: crate::eval::labels::ClipLabels::from_manifest(&e.labels, e.mirrored),
        })
        .collect()
}

/// `eval captions --tokenizer-only`: the retrieval baseline on the features, on the codes and on
/// the reconstructions of the tokenizer `--dvq`, with action / style accuracy (no BERTScore, no
/// R-Precision: the lookup's captions are train captions either way).
fn diagnose_tokenizer(a: &EvalCaptionsArgs, entries: &[ManifestEntry]) -> Result<()> {
    use crate::eval::report::{markdown, report};
    let t0 = Instant::now();
    let device = crate::device::select(&a.device)?;
    let dvq = Tokenizer::load(&model_path(&a.dvq), &device)?;
    let clips_with = |preds: &[String]| clip_captions(entries, preds);
    let features = report(
        &clips_with(&baseline_predictions(&a.data, entries)?),
        false,
        None,
        None,
    )?;
    let (codes, recon) = tokenizer_baseline_predictions(&a.data, &dvq, entries)?;
    let codes = report(&clips_with(&codes), false, None, None)?;
    let recon = report(&clips_with(&recon), false, None, None)?;
    let table = |rows: &[crate::eval::report::ReportRow], skip: usize| {
        markdown(&rows[..2.min(rows.len())])
            .lines()
            .skip(skip)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    let md = format!(
        "retrieval baseline of the {} split of {}, {} whole takes, through the tokenizer {} ({:.1} s): \
         rows on the features, on the codes (histograms, whole and in 4 segments), on the \
         reconstructions\n\n{}{}{}",
        a.split.name(),
        a.data.display(),
        entries.len(),
        a.dvq.display(),
        t0.elapsed().as_secs_f64(),
        table(&features, 0),
        table(&codes, 2),
        table(&recon, 2)
    );
    write_report(
        a.out.as_deref(),
        &md,
        &serde_json::json!({
            "retrieval_baseline": features,
            "retrieval_baseline_on_codes": codes,
            "retrieval_baseline_on_reconstructions": recon,
        }),
    )
}

/// Prints a caption report and, with `out`, writes it there as `report.md` and `report.json`.
fn write_report(out: Option<&Path>, md: &str, json: &serde_json::Value) -> Result<()> {
    print!("{md}");
    if let Some(out) = out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        std::fs::write(out.join("report.md"), md)?;
        std::fs::write(out.join("report.json"), serde_json::to_string_pretty(json)?)?;
    }
    Ok(())
}

pub fn eval_captions(a: EvalCaptionsArgs) -> Result<()> {
    use crate::eval::doubt::{Shown, calibration, calibration_markdown, shown as shown_of};
    use crate::eval::report::{ClipCaptions, comparison_markdown, markdown, report};
    let split = a.split.name();
    // manifest.json when the folder has one, else a plain HumanML3D folder's texts/ with
    // MotionGPT's motion-to-text rules (sub-clips, length filter).
    let entries: Vec<_> = crate::motion::import::humanml3d::split_entries_within(
        &a.data,
        a.split,
        a.lengths.range()?,
    )?
    .into_iter()
    .filter(|e| a.include_windows || e.whole_take)
    .take(a.limit.unwrap_or(usize::MAX))
    .collect();
    if entries.is_empty() {
        bail!(
            "{}: no captioned clip in the {split} split",
            a.data.display()
        );
    }
    if a.tokenizer_only {
        return diagnose_tokenizer(&a, &entries);
    }
    let ds = Dataset::open(&a.data)?;
    let t0 = Instant::now();
    let model = if a.refs_only {
        None
    } else {
        let device = crate::device::select(&a.device)?;
        let dvq = Tokenizer::load(&model_path(&a.dvq), &device)?;
        let decode = crate::lm::infer::DecodeWeights::for_device(&device, a.f32);
        let (cap, _) = load_captioner(&model_path(&a.model), a.lm.as_deref(), decode, &device)?;
        let index = load_nearest_index(&model_path(&a.model))?;
        eprintln!(
            "captioning {} {split} clips on {}",
            entries.len(),
            crate::device::describe(&device)
        );
        Some((dvq, cap, index))
    };
    let bar = ProgressBar::new(entries.len() as u64);
    let mut predictions = Vec::with_capacity(entries.len());
    let mut neighbours = Vec::with_capacity(entries.len());
    let mut styles = Vec::with_capacity(entries.len());
    let mut style_reads = Vec::with_capacity(entries.len());
    for e in &entries {
        let (scored, near_takes) = match &model {
            Some((dvq, cap, index)) => {
                let f = ds.load_features(&e.id)?;
                let codes = dvq.encode(f.as_slice())?;
                let context = cap
                    .context(index.as_ref(), f.as_slice(), None)
                    .with_context(|| e.id.clone())?;
                styles.push(context.style.clone());
                style_reads.push(
                    index
                        .as_ref()
                        .filter(|_| context.style.is_some())
                        .and_then(|i| i.style_read(f.as_slice())),
                );
                (
                    Some(cap.generate_scored(&codes, &context, MAX_NEW_TOKENS, &mut |_| true)?),
                    crate::eval::doubt::neighbours(index.as_ref(), f.as_slice()),
                )
            }
            None => (None, Vec::new()),
        };
        predictions.push(scored);
        neighbours.push(near_takes);
        bar.inc(1);
    }
    let shown: Vec<Option<Shown>> = predictions
        .iter()
        .zip(&neighbours)
        .map(|(p, n)| {
            p.as_ref()
                .map(|p| shown_of(&p.text, &p.confidence, n, !a.captioner_only))
        })
        .collect();
    bar.finish_and_clear();
    let replaced = shown
        .iter()
        .flatten()
        .filter(|s| s.replaced().is_some())
        .count();
    if model.is_some() && !a.captioner_only {
        eprintln!(
            "{replaced} of {} captions are the nearest training take's (every neighbour check \
             failed; --captioner-only scores the captioner's own)",
            shown.len()
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let clips_with = |preds: &[String]| clip_captions(&entries, preds);
    let ours: Vec<String> = shown
        .iter()
        .map(|s| s.as_ref().map(|s| s.text.clone()).unwrap_or_default())
        .collect();
    let clips = clips_with(&ours);
    let baseline = if a.refs_only || a.no_baseline {
        None
    } else {
        Some(clips_with(&baseline_predictions(&a.data, &entries)?))
    };
    let tokenizer_baselines = match (&model, &baseline) {
        (Some((dvq, _, _)), Some(_)) => {
            let (codes, recon) = tokenizer_baseline_predictions(&a.data, dvq, &entries)?;
            Some((clips_with(&codes), clips_with(&recon)))
        }
        _ => None,
    };
    let tb = Instant::now();
    let bert = if a.no_bertscore {
        None
    } else {
        Some(crate::eval::bertscore::BertScorer::load(
            None,
            &candle_core::Device::Cpu,
        )?)
    };
    let retrieval_dir = model_path(&a.retrieval);
    let skeleton = crate::motion::Dataset::open(&a.data)?.skeleton();
    let evaluator = if skeleton != crate::motion::Skeleton::HumanMl3d {
        eprintln!(
            "the retrieval evaluator reads HumanML3D's 263-d features, this is {}: R-Precision \
             and MM-Dist left out",
            skeleton.name()
        );
        None
    } else if retrieval_dir.join("config.json").exists() {
        let ev =
            crate::eval::retrieval::Evaluator::load(&retrieval_dir, &candle_core::Device::Cpu)?;
        let takes = crate::eval::retrieval::load_captioned(&a.data, a.split, 16)?;
        let motion = super::retrieval::motion_embeddings(&ev, &takes)?;
        Some((ev, motion))
    } else {
        eprintln!(
            "no retrieval evaluator in {}: R-Precision and MM-Dist left out",
            retrieval_dir.display()
        );
        None
    };
    let retrieval = evaluator
        .as_ref()
        .map(|(evaluator, motion)| crate::eval::report::RetrievalInput { evaluator, motion });
    let rows = report(&clips, a.refs_only, bert.as_ref(), retrieval.as_ref())?;
    let baseline_rows = match &baseline {
        Some(b) => Some(report(b, false, bert.as_ref(), retrieval.as_ref())?),
        None => None,
    };
    let tokenizer_baseline_rows = match &tokenizer_baselines {
        Some((codes, recon)) => Some((
            report(codes, false, None, retrieval.as_ref())?,
            report(recon, false, None, retrieval.as_ref())?,
        )),
        None => None,
    };
    // The CMU held-out subject on its own: out of the Bandai domain, few clips.
    let cmu = |c: &[ClipCaptions]| -> Vec<ClipCaptions> {
        c.iter()
            .zip(&entries)
            .filter(|(_, e)| e.dataset == "cmu")
            .map(|(c, _)| c.clone())
            .collect()
    };
    let cmu_rows = match &baseline {
        Some(b) if !cmu(&clips).is_empty() => Some((
            report(&cmu(&clips), false, bert.as_ref(), None)?,
            report(&cmu(b), false, bert.as_ref(), None)?,
        )),
        _ => None,
    };
    if bert.is_some() {
        eprintln!(
            "metrics incl. BERTScore (MiniLM-L6, our variant) in {:.1} s",
            tb.elapsed().as_secs_f64()
        );
    }
    let title = if a.refs_only {
        "references scored against the others (GT)".to_string()
    } else if a.captioner_only {
        "generated captions (the captioner's own everywhere)".to_string()
    } else {
        format!(
            "generated captions ({replaced} where every neighbour check failed are the nearest \
             training take's: `eval::doubt::shows_nearest`)"
        )
    };
    let mut md = format!(
        "{title}, {split} split of {}, {} clips{} ({secs:.1} s)\n\n{}",
        a.data.display(),
        clips.len(),
        if a.include_windows {
            ""
        } else {
            ", whole takes only"
        },
        markdown(&rows)
    );
    if let Some(b) = &baseline_rows {
        md.push_str(&format!(
            "\nretrieval baseline (each clip takes the first caption of the nearest train whole \
             take; `eval::baseline`)\n\n{}\ncaptioner vs retrieval baseline, all references, raw \
             text, {} clips\n\n{}",
            markdown(b),
            clips.len(),
            comparison_markdown(&rows, b)
        ));
    }
    if let Some((codes, recon)) = &tokenizer_baseline_rows {
        md.push_str(&format!(
            "\ndiagnostic: does the tokenizer keep what the lookup sees? The same retrieval \
             baseline on the clip's DVQ codes (histograms, whole and in 4 segments), then on \
             its DVQ reconstruction (train and query both reconstructed)\n\n{}{}",
            markdown(&codes[..2.min(codes.len())]),
            markdown(&recon[..2.min(recon.len())])
                .lines()
                .skip(2)
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        ));
    }
    if let Some((ours, theirs)) = &cmu_rows {
        md.push_str(&format!(
            "\nthe CMU clips of the split (held-out subject), {} clips\n\n{}",
            cmu(&clips).len(),
            comparison_markdown(ours, theirs)
        ));
    }
    let calibration = (!a.refs_only).then(|| {
        calibration(shown.iter().zip(&clips).map(|(s, c)| {
            (
                s.as_ref().map_or(&[][..], |s| &s.doubts[..]),
                crate::eval::labels::names_action(&c.prediction, &c.labels),
            )
        }))
    });
    if let Some(rows) = &calibration {
        md.push_str(&format!(
            "\nshown as sure or unsure (`eval::doubt`: least token p < {}, the caption does not \
             name the nearest training take's action or that of at least half of the {} nearest, \
             or the motion is out of domain), against whether the caption names the clip's \
             action\n\n{}",
            crate::lm::captioner::Confidence::UNSURE_BELOW,
            crate::eval::doubt::NEIGHBOURS,
            calibration_markdown(rows)
        ));
    }
    if a.paper_table {
        let base = baseline_rows.as_deref().zip(baseline.as_deref());
        md.push_str(&format!(
            "\n{}",
            paper_table_markdown(&a, &rows, &clips, base)?
        ));
    }
    write_report(
        a.out.as_deref(),
        &md,
        &serde_json::json!({
            "captioner": rows,
            "retrieval_baseline": baseline_rows,
            "retrieval_baseline_on_codes": tokenizer_baseline_rows.as_ref().map(|r| &r.0),
            "retrieval_baseline_on_reconstructions": tokenizer_baseline_rows.as_ref().map(|r| &r.1),
            "calibration": calibration,
        }),
    )?;
    if let Some(out) = &a.out {
        let lines: Vec<String> = clips
            .iter()
            .enumerate()
            .map(|(i, c)| {
                serde_json::json!({
                    "id": c.id,
                    "prediction": c.prediction,
                    "confidence": predictions[i].as_ref().map(|p| p.confidence),
                    "nearest": neighbours[i].first().map(|n| serde_json::json!({
                        "id": n.take.id, "caption": n.take.caption, "distance": n.distance,
                    })),
                    "doubts": shown[i].as_ref().map_or(&[][..], |s| &s.doubts[..]),
                    "captioner": shown[i].as_ref().map(|s| s.replaced().unwrap_or(&s.text)),
                    "predicted_style": styles.get(i).cloned().flatten(),
                    "style_read": style_reads.get(i).cloned().flatten(),
                    "baseline": baseline.as_ref().map(|b| &b[i].prediction),
                    "references": c.references.iter().map(|r| &r.0).collect::<Vec<_>>(),
                })
                .to_string()
            })
            .collect();
        std::fs::write(out.join("predictions.jsonl"), lines.join("\n") + "\n")?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
