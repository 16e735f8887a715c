//! `geomotion generate`: text to motion with an LM trained on both directions
//! (`train lm --tasks m2t,t2m`) and its tokenizer's decoder.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::lm::model_path;
use crate::dvq::Tokenizer;
use crate::lm::MotionDecoding;
use crate::lm::train::{load_captioner, require_t2m};

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// What the motion should be, e.g. "a person walks forward".
    #[arg(long)]
    text: String,
    /// Length in seconds (the nearest whole number of codes); by default the LM ends the motion
    /// itself (at most 50 codes: 20 s at 20 fps).
    #[arg(long)]
    seconds: Option<f32>,
    /// Sample with this temperature (0: greedy, the default).
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Sample among the k most probable codes (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The first codes of the motion (pose control: e.g. a clip's first codes from `encode`),
    /// comma-separated; the rest is generated.
    #[arg(long, value_delimiter = ',')]
    prefix: Vec<u32>,
    /// Write the `(T, F)` features here (`.npy`; F = 263, or 251 with a KIT-ML tokenizer).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the motion as BVH on the SMPL skeleton (centimetres; joint names of the
    /// `smpl` rig map, so `import` and Blender read it back; HumanML3D tokenizers only).
    #[arg(long)]
    bvh: Option<PathBuf>,
    /// An LM trained with `--tasks` including `t2m`.
    #[arg(long, default_value = "models/lm")]
    model: PathBuf,
    /// The tokenizer whose codes the LM writes.
    #[arg(long, default_value = "models/dvq")]
    dvq: PathBuf,
    /// Backbone (default: the one the LM was trained from, through the resolver).
    #[arg(long)]
    lm: Option<PathBuf>,
    /// cpu, cuda, metal or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Generates, prints the codes as JSON and what the motion does (length, where the root went,
/// how high the wrists got), and writes the features when asked.
pub fn generate(a: GenerateArgs) -> Result<()> {
    let device = crate::device::select(&a.device)?;
    let dvq = Tokenizer::load(&model_path(&a.dvq), &device)?;
    let (cap, ckpt) = load_captioner(&model_path(&a.model), a.lm.as_deref(), None, &device)?;
    require_t2m(&ckpt, &a.model)?;
    let skeleton = dvq.skeleton();
    if a.bvh.is_some() && skeleton != crate::motion::Skeleton::HumanMl3d {
        bail!(
            "--bvh writes the SMPL skeleton; {} is a {} tokenizer",
            a.dvq.display(),
            skeleton.name()
        );
    }
    let mut opts = MotionDecoding {
        temperature: a.temperature,
        top_k: a.top_k,
        seed: a.seed,
        prefix: a.prefix.clone(),
        max_prompt_tokens: ckpt.train.max_caption_tokens,
        ..Default::default()
    };
    if let Some(s) = a.seconds {
        if !(s > 0.0 && s <= 60.0) {
            bail!("--seconds {s}: give a length between 0 and 60 s");
        }
        opts = opts.with_seconds(s, skeleton.fps(), dvq.frames_per_code());
    }
    let t0 = std::time::Instant::now();
    let codes = cap.generate_motion(&a.text, &opts, &mut |_| true)?;
    let gen_s = t0.elapsed().as_secs_f64();
    println!("{}", serde_json::json!({ "codes": codes }));
    let features = dvq.decode(&codes)?;
    let frames = features.len() / dvq.width();
    let joints = skeleton.joints_in_metres(&features);
    let facts = crate::eval::physics::MotionFacts::of(&joints, skeleton);
    eprintln!(
        "{} codes → {frames} frames ({:.2} s at {} fps) in {gen_s:.2} s; root moved {:.2} m \
         forward, {:.2} m sideways; wrists up to {:.2} m ({:+.2} m from the head; \
         the lower one {:+.2} m)",
        codes.len(),
        frames as f32 / skeleton.fps(),
        skeleton.fps(),
        facts.forward_m,
        facts.sideways_m,
        facts.wrist_max_m,
        facts.wrist_above_head_m,
        facts.both_wrists_above_head_m,
    );
    if let Some(out) = &a.out {
        crate::motion::npy::write_npy_f32(out, &[frames, dvq.width()], &features)?;
        eprintln!("wrote {}", out.display());
    }
    if let Some(path) = &a.bvh {
        let j = crate::motion::Joints::with_skeleton(joints, skeleton, path)?;
        crate::motion::bvh_export::write_bvh(path, &j, skeleton.fps())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
