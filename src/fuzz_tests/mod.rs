//! A seeded mutation fuzzer over every reader of user files, run with the rest of the suite.
//!
//! Each reader gets real seed files (the committed fixture tier `tests/data/shared/`, the rigs
//! of `assets/rigs/`, the checkpoints of `models/` and `tests/fixtures/`, a GGUF built here),
//! and thousands of deterministic mutations of them ([`mutate`]: truncations, bit flips,
//! numbers replaced by huge, non-finite, negative or off-by-one ones, lines duplicated,
//! deleted, swapped or repeated 2,000 times, escape codes, empty files), plus hand-made absurd
//! inputs (25,000 nested BVH joints, a 100,000-bone ASF chain, `Frames:` near 2^64, …). Every
//! case must end in `Ok` or in an error whose message names the file, never in a panic (caught
//! and reported with the mutation that caused it), within [`CASE_SECONDS`] and without an
//! allocation past [`CASE_LARGEST_ALLOC`] ([`alloc`] tracks them). Imports must yield finite
//! joints and features. The seeds are fixed, so a failure repeats exactly; each test prints its
//! case count and wall time (`cargo test --release fuzz -- --nocapture`;
//! `GEOMOTION_FUZZ_SHOW_ALL=1` lists every failure, not the first 20).
//!
//! | file | owns |
//! | --- | --- |
//! | `mutate.rs` | the seeded mutations, each described in words |
//! | `alloc.rs` | the test binary's allocator: per-case largest and total allocation |
//! | `motion.rs` | BVH, ASF, AMC (whole imports), `.npy`, `texts/`, split lists, rig TOML |
//! | `models.rs` | safetensors, GGUF, DVQ / captioner / retrieval / Hugging Face `config.json` |
//! | `regressions.rs` | every crash found, as a unit test on the exact input |

mod alloc;
mod models;
mod motion;
mod mutate;
mod regressions;
mod released;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most seconds one case may take: 2 (every case takes under 0.2 s; before the fixes
/// `Frame Time: 1000` on a 30-frame take took 4.5 s and a 100,000-bone ASF chain 311 s).
pub const CASE_SECONDS: f64 = 2.0;

/// Largest single allocation one case may make: 512 MiB.
pub const CASE_LARGEST_ALLOC: usize = 512 << 20;

/// Most bytes one case may allocate in all (cumulative, so an upper bound of its peak): 4 GiB.
pub const CASE_TOTAL_ALLOC: usize = 4 << 30;

/// The seed every fuzz test's generator starts from, mixed with the test's own number.
pub const SEED: u64 = 0x6765_6f6d_6f74_696f;

/// The committed fixture tier: the fuzzer's seeds never depend on which data tier is present.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/shared")
        .join(rel)
}

/// The text of a gzipped fixture file.
pub fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut s,
    )
    .unwrap();
    s
}

/// A real BVH take cut to its first `frames` frames (the `Frames:` header set to match).
pub fn bvh_seed(rel: &str, frames: usize) -> String {
    let text = gunzip(&fixture(rel));
    let lines: Vec<&str> = text.lines().collect();
    let motion = lines.iter().position(|l| l.trim() == "MOTION").unwrap();
    let mut out: Vec<String> = lines[..=motion].iter().map(|l| l.to_string()).collect();
    out.push(format!("Frames: {frames}"));
    out.push(lines[motion + 2].to_string());
    out.extend(
        lines[motion + 3..motion + 3 + frames]
            .iter()
            .map(|l| l.to_string()),
    );
    out.join("\n") + "\n"
}

/// A file of the repository.
pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Counts and failures of one reader's run.
pub struct Campaign {
    name: &'static str,
    started: Instant,
    cases: usize,
    ok: usize,
    slowest: (Duration, String),
    largest: (usize, String),
    failures: Vec<String>,
}

impl Campaign {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            started: Instant::now(),
            cases: 0,
            ok: 0,
            slowest: (Duration::ZERO, String::new()),
            largest: (0, String::new()),
            failures: Vec::new(),
        }
    }

    /// Runs one case. `what` describes the input (seed and mutations); `names` are the file
    /// names an error may name (any one will do); `case` returns `Err` with the error's message
    /// when the reader refused the input, or `Err` starting with `BUG:` when the result broke
    /// an invariant (e.g. non-finite joints).
    pub fn run(&mut self, what: &str, names: &[&str], case: impl FnOnce() -> Result<(), String>) {
        self.cases += 1;
        let t0 = Instant::now();
        let tracked = alloc::Tracked::start(what);
        let outcome = catch_unwind(AssertUnwindSafe(case));
        let usage = tracked.finish();
        let took = t0.elapsed();
        if took > self.slowest.0 {
            self.slowest = (took, what.to_string());
        }
        if usage.largest > self.largest.0 {
            self.largest = (usage.largest, what.to_string());
        }
        let problem = match outcome {
            Err(panic) => Some(format!("PANIC ({})", panic_message(&panic))),
            Ok(Ok(())) => {
                self.ok += 1;
                None
            }
            Ok(Err(msg)) if msg.starts_with("BUG:") => Some(msg),
            Ok(Err(msg)) if !names.iter().any(|n| msg.contains(n)) => {
                Some(format!("error names none of {names:?}: {msg}"))
            }
            Ok(Err(_)) => None,
        };
        let problem = problem
            .or_else(|| {
                (took.as_secs_f64() > CASE_SECONDS)
                    .then(|| format!("took {:.1} s (limit {CASE_SECONDS})", took.as_secs_f64()))
            })
            .or_else(|| {
                (usage.largest > CASE_LARGEST_ALLOC || usage.total > CASE_TOTAL_ALLOC).then(|| {
                    format!(
                        "allocated {} MiB at once, {} MiB in all",
                        usage.largest >> 20,
                        usage.total >> 20
                    )
                })
            });
        if let Some(p) = problem {
            self.failures.push(format!("{what}: {p}"));
        }
    }

    /// Prints the summary and fails the test on any failure, listing the first 20 (all with
    /// `GEOMOTION_FUZZ_SHOW_ALL=1`).
    pub fn finish(self) {
        let show = match std::env::var("GEOMOTION_FUZZ_SHOW_ALL") {
            Ok(v) if v == "1" => usize::MAX,
            _ => 20,
        };
        eprintln!(
            "fuzz {}: {} cases ({} ok, {} refused) in {:.1} s; slowest {:.0} ms ({}); \
             largest allocation {} KiB ({})",
            self.name,
            self.cases,
            self.ok,
            self.cases - self.ok - self.failures.len(),
            self.started.elapsed().as_secs_f64(),
            self.slowest.0.as_secs_f64() * 1e3,
            self.slowest.1,
            self.largest.0 >> 10,
            self.largest.1,
        );
        assert!(
            self.failures.is_empty(),
            "fuzz {}: {} of {} cases failed:\n{}",
            self.name,
            self.failures.len(),
            self.cases,
            self.failures
                .iter()
                .take(show)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into())
}

/// `Ok(())` or the error's message.
pub fn message<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// A `BUG:` unless every value is finite; `what` names the array.
pub fn all_finite<'a>(values: impl IntoIterator<Item = &'a f32>, what: &str) -> Result<(), String> {
    match values.into_iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(format!("BUG: {what} value {i} is not finite")),
    }
}
