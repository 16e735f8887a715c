//! `geomotion bench ...`: performance figures printed beside their targets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use clap::Subcommand;

use crate::motion::npy::write_npy_f32;
use crate::motion::{Dataset, N_FEATURES};

#[derive(Subcommand, Debug)]
pub enum Which {
    /// Open a synthetic HumanML3D-size layout (29,228 ids) it generates; target < 1 s, < 200 MB.
    Open {
        /// Number of ids to generate.
        #[arg(long, default_value_t = 29_228)]
        ids: usize,
    },
    /// Caption metrics over N clips (target < 2 s for 4,400), beside pycocoevalcap when given.
    Metrics {
        #[arg(long, default_value_t = 4_400)]
        sets: usize,
        /// A Python with pycocoevalcap 1.2 installed, to run ../shared/bench/metrics_coco.py.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Sets BERTScore is timed on (0 leaves it out).
        #[arg(long, default_value_t = 4_400)]
        bertscore_sets: usize,
    },
    /// Tokenizer training crops/s, encode clips/s and GFLOP/s, beside PyTorch (dvq_torch.py).
    Dvq {
        /// Presets to measure.
        #[arg(long, default_values_t = ["cpu".to_string(), "paper".to_string()])]
        preset: Vec<String>,
        /// Timed training steps per preset (after 2 warm-up steps).
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// A Python with torch installed, to run ../shared/bench/dvq_torch.py.
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// Live-captioning latency of a 10 s clip and fine-tuning speed, beside caption_torch.py.
    Caption {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Timed fine-tuning forward + backward steps (0 to skip).
        #[arg(long, default_value_t = 3)]
        train_steps: usize,
        /// A Python with torch + transformers + gguf, to run ../shared/bench/caption_torch.py.
        #[arg(long)]
        python: Option<PathBuf>,
    },
}

pub fn run(which: Which) -> Result<()> {
    match which {
        Which::Dvq {
            preset,
            steps,
            python,
        } => super::bench_dvq::bench_dvq(&preset, steps, python.as_deref()),
        Which::Caption {
            runs,
            train_steps,
            python,
        } => super::bench_caption::bench_caption(runs, train_steps, python.as_deref()),
        Which::Open { ids } => bench_open(ids),
        Which::Metrics {
            sets,
            python,
            bertscore_sets,
        } => bench_metrics(sets, python.as_deref(), bertscore_sets),
    }
}

/// Caption sets for the metrics benchmark: the 250 cross-check sets of `tests/data`, repeated
/// with a per-copy word appended so n-gram statistics differ, up to `n`.
fn metric_sets(n: usize) -> Result<Vec<crate::eval::CaptionSet>> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/caption_sets_250.jsonl");
    let base = super::eval::read_sets(&path)?;
    Ok((0..n)
        .map(|i| {
            let mut s = base[i % base.len()].clone();
            s.id = format!("{}_{i}", s.id);
            if i >= base.len() {
                s.prediction.push_str(&format!(" w{}", i % 97));
            }
            s
        })
        .collect())
}

fn bench_metrics(n: usize, python: Option<&std::path::Path>, bert_n: usize) -> Result<()> {
    use crate::eval::{TextVariant, score_captions};
    let sets = metric_sets(n)?;
    let t = Instant::now();
    let raw = score_captions(&sets, TextVariant::Raw);
    let norm = score_captions(&sets, TextVariant::Normalized);
    let ours = t.elapsed().as_secs_f64();
    println!("{n} clips, BLEU-1..4 + ROUGE-L + CIDEr-D, raw and normalized text:");
    println!(
        "  geomotion       {ours:>7.3} s (target < 2 s)   CIDEr-D raw {:.4} normalized {:.4}",
        raw.cider_d, norm.cider_d
    );
    if let Some(py) = python {
        let dir = tempfile::tempdir()?;
        let input = dir.path().join("sets.jsonl");
        let lines: Vec<String> = sets
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()?;
        std::fs::write(&input, lines.join("\n"))?;
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/bench/metrics_coco.py");
        let t = Instant::now();
        let out = std::process::Command::new(py)
            .arg(&script)
            .arg(&input)
            .output()?;
        let wall = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            out.status.success(),
            "reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let scorers: f64 = v["seconds"]
            .as_object()
            .map_or(0.0, |m| m.values().filter_map(|x| x.as_f64()).sum());
        println!(
            "  pycocoevalcap   {scorers:>7.3} s in its scorers ({wall:.1} s with Python start-up)   CIDEr-D raw {:.4} normalized {:.4}",
            v["raw"]["cider"].as_f64().unwrap_or(f64::NAN),
            v["normalized"]["cider"].as_f64().unwrap_or(f64::NAN)
        );
    } else {
        println!(
            "  (pass --python /path/to/venv/bin/python with pycocoevalcap installed to time the reference in the same run)"
        );
    }
    if bert_n > 0 {
        let scorer = crate::eval::bertscore::BertScorer::load(None, &candle_core::Device::Cpu)?;
        let subset = &sets[..bert_n.min(sets.len())];
        let t = Instant::now();
        let b = scorer.score(subset, false)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "  BERTScore-MiniLM {secs:>7.1} s for {} sets ({:.1} sets/s, every distinct sentence encoded once)   F1 {:.4}",
            subset.len(),
            subset.len() as f64 / secs,
            b.f1
        );
        if let Some(py) = python {
            // The same sets, references in the protocol form we score, through `bert-score`.
            let dir = tempfile::tempdir()?;
            let input = dir.path().join("sets.jsonl");
            let lines: Vec<String> = subset
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "prediction": s.prediction,
                        "references": crate::eval::text::protocol_references(&s.references),
                    })
                    .to_string()
                })
                .collect();
            std::fs::write(&input, lines.join("\n"))?;
            let model = crate::lm::resolve::resolve(&crate::lm::resolve::MINILM_DIR, None)?;
            let script =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/bertscore_ref.py");
            let out = std::process::Command::new(py)
                .arg(&script)
                .arg(&model)
                .arg(&input)
                .output()?;
            if out.status.success() {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
                let s = v["seconds"].as_f64().unwrap_or(f64::NAN);
                println!(
                    "  bert-score {}  {s:>7.1} s for {} sets ({:.1} sets/s, batches of 64)   F1 {:.4}",
                    v["bert_score"].as_str().unwrap_or("?"),
                    subset.len(),
                    subset.len() as f64 / s,
                    v["f1"].as_f64().unwrap_or(f64::NAN)
                );
            } else {
                println!(
                    "  (bert-score reference failed: {})",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

/// Resident set size of this process in bytes (Linux `/proc/self/status` VmRSS).
fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Writes `n` ids in the HumanML3D layout: 2-frame features files, a 3-line texts file each,
/// Mean/Std, and train/val/test lists split 80/5/15 like HumanML3D's 23,384/1,460/4,384.
fn generate_layout(root: &Path, n: usize) -> Result<()> {
    std::fs::create_dir_all(root.join("new_joint_vecs"))?;
    std::fs::create_dir_all(root.join("texts"))?;
    let frame = vec![0.0f32; 2 * N_FEATURES];
    write_npy_f32(&root.join("Mean.npy"), &[N_FEATURES], &frame[..N_FEATURES])?;
    write_npy_f32(&root.join("Std.npy"), &[N_FEATURES], &[1.0; N_FEATURES])?;
    let (mut train, mut val, mut test) = (String::new(), String::new(), String::new());
    for i in 0..n {
        let id = if i < n / 2 {
            format!("{i:06}")
        } else {
            format!("M{:06}", i - n / 2)
        };
        write_npy_f32(
            &root.join(format!("new_joint_vecs/{id}.npy")),
            &[2, N_FEATURES],
            &frame,
        )?;
        std::fs::write(
            root.join(format!("texts/{id}.txt")),
            "a person walks forward.#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0\n\
             someone strolls ahead slowly.#someone/PRON stroll/VERB ahead/ADV slowly/ADV#0.0#0.0\n\
             the man takes a few steps.#the/DET man/NOUN take/VERB a/DET few/ADJ step/NOUN#0.0#0.0\n",
        )?;
        let list = match i % 20 {
            0 => &mut val,
            1..=3 => &mut test,
            _ => &mut train,
        };
        list.push_str(&id);
        list.push('\n');
    }
    std::fs::write(root.join("train.txt"), train)?;
    std::fs::write(root.join("val.txt"), val)?;
    std::fs::write(root.join("test.txt"), test)?;
    Ok(())
}

fn bench_open(n: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    generate_layout(dir.path(), n)?;
    println!(
        "generated {n} ids in {:.1} s at {}",
        t.elapsed().as_secs_f64(),
        dir.path().display()
    );

    let rss0 = rss_bytes().unwrap_or(0);
    let t = Instant::now();
    let ds = Dataset::open(dir.path())?;
    let open_secs = t.elapsed().as_secs_f64();
    let rss1 = rss_bytes().unwrap_or(0);
    let mb = (rss1.saturating_sub(rss0)) as f64 / 1e6;
    println!(
        "Dataset::open        {:>8.3} s  (target < 1 s)     {} ids, RSS +{:.1} MB (target < 200 MB)",
        open_secs,
        ds.ids().len(),
        mb
    );

    let t = Instant::now();
    let clip = ds.load_clip(&ds.ids()[n / 3])?;
    println!(
        "load_clip (first)    {:>8.3} ms (2 frames, 3 captions)",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let mut captions = 0usize;
    for id in ds.ids() {
        captions += ds.captions(id)?.len();
    }
    println!(
        "all captions         {:>8.3} s  ({captions} captions; the studio's search index, built in the background)",
        t.elapsed().as_secs_f64()
    );
    drop(clip);
    Ok(())
}

/// Runs a reference script (`script`, a path relative to the repository root) with `py` and
/// returns its standard output.
///
/// Errors: the script cannot be started, or exits non-zero (its stderr is in the message).
pub(super) fn run_reference(py: &Path, script: &str, args: &[&std::ffi::OsStr]) -> Result<String> {
    use anyhow::Context;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = std::process::Command::new(py)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", py.display(), script.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
