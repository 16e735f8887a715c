//! Text to motion on the tiny GPT-2 fixture (`tests/fixtures/gpt2-tiny`) with the shipped
//! tokenizer's codes of real demo clips: the example's layout, learning the codes of a caption,
//! the restricted and length-controlled decoding, sampling, pose control, and `train lm --tasks`.

use std::path::PathBuf;

use candle_core::Device;

use super::captioner::t2m::MotionDecoding;
use super::train::Task;

fn gpt2_tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2-tiny")
}

fn captioner(dev: &Device) -> (super::Captioner, crate::dvq::Tokenizer) {
    let dvq = crate::dvq::Tokenizer::load(&super::resolve::models_dir().join("dvq"), dev).unwrap();
    let bb = super::backbone::load_backbone(Some(&gpt2_tiny()), dev).unwrap();
    let cap = super::Captioner::new(
        bb,
        dvq.model().codebook(),
        super::FineTune::Lora,
        &super::lora::LoraConfig::default(),
        7,
        Default::default(),
    )
    .unwrap();
    (cap, dvq)
}

/// Two real clips of the demo sample with their first captions and codes (runs of a code
/// collapsed to one).
fn two_clips(dvq: &crate::dvq::Tokenizer) -> Vec<(String, Vec<u32>)> {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let ds = crate::motion::Dataset::open(&demo).unwrap();
    ["dataset-1_bow_giant_001", "dataset-1_walk_angry_001"]
        .iter()
        .map(|id| {
            let c = ds.load_clip(id).unwrap();
            // Without repeats: a code followed by itself then by another is a choice the tiny
            // model cannot learn from two examples, and the test is about decoding.
            let mut codes = dvq.encode(c.features.as_slice()).unwrap();
            codes.dedup();
            (c.captions[0].text.clone(), codes)
        })
        .collect()
}

/// The example is `Generate motion: <caption> \n <start>` → codes then `<end>`, with the same
/// prompt ids decoding starts from.
#[test]
fn a_text_to_motion_example_targets_the_codes_then_end() {
    let dev = Device::Cpu;
    let (cap, dvq) = captioner(&dev);
    let (caption, codes) = &two_clips(&dvq)[0];
    let e = cap.motion_example(caption, codes, 32).unwrap();
    assert_eq!(e.prompt, cap.motion_prompt(caption, 32).unwrap());
    assert_eq!(*e.prompt.last().unwrap(), cap.start_token());
    let want: Vec<u32> = codes.iter().map(|&c| cap.motion_token(c)).collect();
    assert_eq!(&e.caption[..codes.len()], &want[..]);
    assert_eq!(e.caption[codes.len()], cap.end_token());
    assert_eq!(e.caption.len(), codes.len() + 1);
    assert!(cap.motion_example(caption, &[9999], 32).is_err());
}

/// Trained on two captions, the LM writes each one's codes back greedily (a check that the loss
/// reaches the motion tokens and decoding reads them), always within the K codes and the
/// length asked for; sampling is seeded; a prefix is kept and continued.
#[test]
fn text_to_motion_learns_codes_and_decodes_within_the_rules() {
    use crate::dvq::optim::{AdamW, GroupHyper};
    let dev = Device::Cpu;
    let (cap, dvq) = captioner(&dev);
    let clips = two_clips(&dvq);
    let examples: Vec<_> = clips
        .iter()
        .map(|(t, c)| cap.motion_example(t, &c[..6], 32).unwrap())
        .collect();
    let batch: Vec<_> = examples.iter().collect();
    let mut opt = AdamW::new(&cap.param_groups()).unwrap();
    let first = cap
        .caption_loss(&batch)
        .unwrap()
        .0
        .to_scalar::<f32>()
        .unwrap();
    for _ in 0..150 {
        let (ce, _) = cap.caption_loss(&batch).unwrap();
        opt.step(&ce.backward().unwrap(), |_| GroupHyper {
            lr: 1e-2,
            weight_decay: 0.0,
        })
        .unwrap();
    }
    let last = cap
        .caption_loss(&batch)
        .unwrap()
        .0
        .to_scalar::<f32>()
        .unwrap();
    eprintln!("text-to-motion loss {first:.3} -> {last:.3}");
    assert!(last < 0.05 * first, "loss {first} -> {last}");
    let greedy = MotionDecoding::default();
    for (text, codes) in &clips {
        let got = cap.generate_motion(text, &greedy, &mut |_| true).unwrap();
        assert_eq!(got, codes[..6], "{text}");
    }
    // Length control: exactly 3 codes, or 9 (past where it learnt to end).
    let k = dvq.nb_code() as u32;
    for n in [3, 9] {
        let opts = MotionDecoding::default().with_seconds(n as f32 * 8.0 / 20.0, 20.0, 8);
        assert_eq!((opts.min_codes, opts.max_codes), (n, n));
        let got = cap
            .generate_motion(&clips[0].0, &opts, &mut |_| true)
            .unwrap();
        assert_eq!(got.len(), n);
        assert!(got.iter().all(|&c| c < k));
    }
    // Sampling: the same seed gives the same codes; hot enough, another seed differs.
    let hot = |seed| MotionDecoding {
        temperature: 5.0,
        top_k: 50,
        seed,
        min_codes: 8,
        max_codes: 8,
        ..Default::default()
    };
    let a = cap
        .generate_motion("a person jumps", &hot(1), &mut |_| true)
        .unwrap();
    let b = cap
        .generate_motion("a person jumps", &hot(1), &mut |_| true)
        .unwrap();
    let c = cap
        .generate_motion("a person jumps", &hot(2), &mut |_| true)
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().chain(&c).all(|&x| x < k));
    // Pose control: the prefix is kept and the rest follows it; the callback can stop early.
    let opts = MotionDecoding {
        prefix: clips[1].1[..2].to_vec(),
        ..Default::default()
    };
    let got = cap
        .generate_motion(&clips[1].0, &opts, &mut |_| true)
        .unwrap();
    assert_eq!(got[..2], clips[1].1[..2]);
    let mut seen = 0;
    let got = cap
        .generate_motion(&clips[0].0, &greedy, &mut |_| {
            seen += 1;
            seen < 2
        })
        .unwrap();
    assert_eq!(got.len(), 2);
    let bad = MotionDecoding {
        min_codes: 5,
        max_codes: 2,
        ..Default::default()
    };
    assert!(cap.generate_motion("x", &bad, &mut |_| true).is_err());
}

/// `train lm --tasks m2t,t2m` trains both directions from the same pairs (twice the examples)
/// and records the tasks; a config saved before the choice reads as motion to text only.
#[test]
fn both_tasks_train_together_and_old_configs_mean_m2t() {
    let dev = Device::Cpu;
    let corpus =
        crate::motion::import::corpus::dataset2_corpus(&["wave-left-hand", "walk-turn-left"]);
    let out = tempfile::tempdir().unwrap();
    let mut req = super::tiny_train_request(corpus.path(), out.path());
    req.train.batch_size = 4;
    req.train.tasks = vec![Task::M2t, Task::T2m];
    let cancel = std::sync::atomic::AtomicBool::new(false);
    super::train::train(&req, &dev, &cancel, &mut |_| {}).unwrap();
    let (cap, ckpt) =
        super::train::load_captioner(out.path(), Some(&gpt2_tiny()), None, &dev).unwrap();
    assert_eq!(ckpt.train.tasks, vec![Task::M2t, Task::T2m]);
    let codes = cap
        .generate_motion("a person walks", &MotionDecoding::default(), &mut |_| true)
        .unwrap();
    assert!(!codes.is_empty());
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    json["train"].as_object_mut().unwrap().remove("tasks");
    json["train"].as_object_mut().unwrap().remove("t2m_weight");
    let old: super::train::LmTrainConfig = serde_json::from_value(json["train"].clone()).unwrap();
    assert_eq!(old.tasks, vec![Task::M2t]);
    assert_eq!(old.t2m_weight, 1.0);
}

/// `--t2m-weight` scales each text-to-motion example and nothing else; a style-swapped copy
/// writes no motion and its original's motion example keeps the copy's share.
#[test]
fn t2m_weight_scales_only_motion_examples() {
    use super::data::Swap;
    use super::train::example_weight as ew;
    assert_eq!(ew(Task::M2t, Swap::Plain, 2.0, 0.0, 0.25), Some(2.0));
    assert_eq!(ew(Task::M2t, Swap::Copy, 2.0, 0.5, 0.25), Some(2.0));
    assert_eq!(ew(Task::T2m, Swap::Plain, 2.0, 0.0, 0.25), Some(0.5));
    assert_eq!(ew(Task::T2m, Swap::Plain, 2.0, 0.5, 1.0), Some(2.0));
    assert_eq!(ew(Task::T2m, Swap::Copy, 2.0, 0.5, 1.0), None);
    // The original carries half its pair's mass when swap = 0.5: its motion example gets it back.
    assert_eq!(ew(Task::T2m, Swap::Original, 1.0, 0.5, 1.0), Some(2.0));
    assert_eq!(ew(Task::T2m, Swap::Original, 1.0, 0.5, 0.5), Some(1.0));
}

/// A captioner that reads a motion summary learns text to motion too: in a batch that mixes a
/// caption example (with its summary's soft tokens) and a motion example (no summary, no
/// slots), each row is scored as it would be alone, so the loss is the token-weighted mean of
/// the two; and it decodes motion.
#[test]
fn a_summary_captioner_mixes_both_tasks_in_one_batch() {
    let dev = Device::Cpu;
    let (mut cap, dvq) = captioner(&dev);
    cap.add_summary(super::summary::SummaryConfig { dim: 3, tokens: 2 }, 5)
        .unwrap();
    let (caption, codes) = &two_clips(&dvq)[0];
    let ctx = super::context::MotionContext::summary(vec![0.5, -1.0, 2.0]);
    let m2t = cap.example(codes, &ctx, caption, 32).unwrap();
    let t2m = cap.motion_example(caption, codes, 32).unwrap();
    assert!(t2m.summary.is_none());
    let loss = |b: &[&super::captioner::Example]| {
        let (l, n) = cap.caption_loss(b).unwrap();
        (l.to_scalar::<f32>().unwrap() as f64, n as f64)
    };
    let (la, na) = loss(&[&m2t]);
    let (lb, nb) = loss(&[&t2m]);
    for batch in [[&m2t, &t2m], [&t2m, &m2t]] {
        let (l, n) = loss(&batch);
        assert_eq!(n, na + nb);
        let want = (la * na + lb * nb) / n;
        assert!(
            (l - want).abs() < 1e-4 * want.abs().max(1.0),
            "{l} vs {want}"
        );
    }
    // The summary reaches the caption row: another summary, another loss.
    let other = cap
        .example(
            codes,
            &super::context::MotionContext::summary(vec![-3.0, 0.0, 1.0]),
            caption,
            32,
        )
        .unwrap();
    assert!((loss(&[&other]).0 - la).abs() > 1e-6);
    // A caption example that lost its summary is refused, not trained on its `<mask>` slots.
    let mut lost = m2t.clone();
    lost.summary = None;
    assert!(cap.caption_loss(&[&lost, &t2m]).is_err());
    let out = cap
        .generate_motion(caption, &MotionDecoding::default(), &mut |_| true)
        .unwrap();
    assert!(!out.is_empty() && out.len() <= 50);
}

/// The shipped LM (`models/lm`, SmolLM2 through the resolver) and tokenizer, generating
/// greedily for `text` 4 s of motion (10 codes), or with `None` as long as the LM makes it (as
/// `geomotion generate` does by default): the joints `(T, 22, 3)`, metres.
fn shipped_motion() -> impl Fn(&str, Option<f32>) -> Vec<[f32; 3]> {
    let dev = Device::Cpu;
    let models = super::resolve::models_dir();
    let (cap, ckpt) = super::train::load_captioner(&models.join("lm"), None, None, &dev).unwrap();
    super::train::require_t2m(&ckpt, &models.join("lm")).unwrap();
    let dvq = crate::dvq::Tokenizer::load(&models.join("dvq"), &dev).unwrap();
    let s = crate::motion::Skeleton::HumanMl3d;
    move |text: &str, seconds: Option<f32>| {
        let mut opts = MotionDecoding {
            max_prompt_tokens: ckpt.train.max_caption_tokens,
            ..Default::default()
        };
        if let Some(secs) = seconds {
            opts = opts.with_seconds(secs, s.fps(), dvq.frames_per_code());
        }
        let codes = cap.generate_motion(text, &opts, &mut |_| true).unwrap();
        if seconds.is_some() {
            assert_eq!(codes.len(), opts.max_codes, "{text}");
        }
        assert!(!codes.is_empty(), "{text}: no code");
        s.joints_in_metres(&dvq.decode(&codes).unwrap())
    }
}

/// Highest `(wrist(frame) − head height)` over the frames of `(T, 22, 3)` joints.
fn above_head(j: &[[f32; 3]], wrist: &dyn Fn(&[[f32; 3]]) -> f32) -> f32 {
    let head = crate::motion::Skeleton::HumanMl3d.head();
    j.chunks_exact(22)
        .map(|f| wrist(f) - f[head][1])
        .fold(f32::MIN, f32::max)
}

/// The shipped LM writes motions that do what the prompt says, checked on the joints (greedy,
/// 4 s = 10 codes each): a walk forward travels forward (more than 1 m; 4.0 m measured), a run
/// farther than the walk (7.8 m), a walk backwards travels backwards (more than 0.25 m; 3.0 m),
/// raising the right hand puts the right wrist above the head (+0.15 m) and 0.2 m above the left
/// one. (Not here: the bow, whose root facts say little; both hands, below.)
#[test]
fn the_shipped_lm_writes_motion_that_does_what_the_prompt_says() {
    let s = crate::motion::Skeleton::HumanMl3d;
    let motion = shipped_motion();
    let facts = |j: &[[f32; 3]]| crate::eval::physics::MotionFacts::of(j, s);
    let [lw, rw] = s.wrists();
    let walk = facts(&motion("a person walks forward.", Some(4.0)));
    assert!(walk.forward_m > 1.0, "walks forward: {walk:?}");
    let run = facts(&motion("a person runs forward.", Some(4.0)));
    assert!(
        run.forward_m > walk.forward_m,
        "runs: {run:?}, walks: {walk:?}"
    );
    let back = facts(&motion("a person walks backwards.", Some(4.0)));
    assert!(back.forward_m < -0.25, "walks backwards: {back:?}");
    let right = motion("a person raises the right hand.", Some(4.0));
    let r_above = above_head(&right, &|p| p[rw][1]);
    let l_above = above_head(&right, &|p| p[lw][1]);
    assert!(
        r_above > 0.0 && r_above > l_above + 0.2,
        "raises the right hand: right {r_above:+.2} m, left {l_above:+.2} m from the head"
    );
}

/// "A person raises both hands." should put both wrists above the head at once while the root
/// stays within 0.5 m, at the length the LM chooses (as `geomotion generate` does by default).
/// The shipped LM (stage 14 averaged) writes 6 codes with the lower wrist 0.18 m above the head;
/// stage 9, shipped before it, raised the right hand only (the lower wrist 0.57 m under the head).
#[test]
fn the_shipped_lm_raises_both_hands() {
    let s = crate::motion::Skeleton::HumanMl3d;
    let both = shipped_motion()("a person raises both hands.", None);
    let [lw, rw] = s.wrists();
    let f = crate::eval::physics::MotionFacts::of(&both, s);
    let lower = f.both_wrists_above_head_m;
    assert!(
        lower > 0.0,
        "the lower wrist gets to {lower:+.2} m from the head (left {:+.2}, right {:+.2} at their \
         highest); {f:?}",
        above_head(&both, &|p| p[lw][1]),
        above_head(&both, &|p| p[rw][1])
    );
    assert!(f.forward_m.abs() < 0.5 && f.sideways_m < 0.5, "{f:?}");
}
