//! `geomotion bench ...`: performance figures printed beside their targets.

use std::path::Path;
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
}

pub fn run(which: Which) -> Result<()> {
    match which {
        Which::Open { ids } => bench_open(ids),
    }
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
