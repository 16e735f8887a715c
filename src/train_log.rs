//! The `train_log.csv` of a training run that can stop and resume (the tokenizer's and the
//! captioner's): one row per logged step; resuming keeps the rows up to the checkpoint's step.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Why a log could not be opened: the file, and what went wrong.
#[derive(Debug)]
pub struct TrainLogError {
    pub path: PathBuf,
    pub msg: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> TrainLogError {
    TrainLogError {
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

/// Opens the CSV log `path` for appending rows, after rewriting it to `header` followed, when
/// `resume_step > 0`, by its old rows whose first field (the step) is at most `resume_step`
/// (rows past the checkpoint are dropped: the resumed run logs them again).
///
/// The rewrite goes to `<path>.tmp`, is flushed, and then renamed over `path`: a run stopped at
/// any moment leaves the old log or the new one on disk, never an empty one. The writer is
/// flexible (a log written before a column was added resumes with its shorter rows).
///
/// Errors: the folder cannot be created, the old log is not CSV, or a write or the rename fails.
pub fn open(
    path: &Path,
    header: &[&str],
    resume_step: usize,
) -> Result<csv::Writer<File>, TrainLogError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    }
    let mut kept = Vec::new();
    if resume_step > 0 && path.exists() {
        let mut rd = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|e| err(path, e))?;
        for rec in rd.records() {
            let rec = rec.map_err(|e| err(path, e))?;
            if rec
                .get(0)
                .and_then(|s| s.parse::<usize>().ok())
                .is_some_and(|s| s <= resume_step)
            {
                kept.push(rec);
            }
        }
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(&tmp)
        .map_err(|e| err(&tmp, e))?;
    w.write_record(header).map_err(|e| err(&tmp, e))?;
    for rec in &kept {
        w.write_record(rec).map_err(|e| err(&tmp, e))?;
    }
    w.flush().map_err(|e| err(&tmp, e))?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(|e| err(path, e))?;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| err(path, e))?;
    Ok(csv::WriterBuilder::new().flexible(true).from_writer(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn resuming_keeps_the_rows_up_to_the_checkpoint_on_disk_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("train_log.csv");
        let mut w = open(&path, &["step", "loss"], 0).unwrap();
        for (s, l) in [("50", "2.0"), ("100", "1.5"), ("150", "1.2")] {
            w.write_record([s, l]).unwrap();
        }
        drop(w);
        // Reopened at the step-100 checkpoint: before any row is written or flushed, the file
        // already holds the header and the kept rows (a run killed now loses nothing kept).
        let mut w = open(&path, &["step", "loss", "root"], 100).unwrap();
        assert_eq!(lines(&path), ["step,loss,root", "50,2.0", "100,1.5"]);
        w.write_record(["150", "1.1", "0.3"]).unwrap();
        w.flush().unwrap();
        assert_eq!(
            lines(&path),
            ["step,loss,root", "50,2.0", "100,1.5", "150,1.1,0.3"]
        );
        assert!(!dir.path().join("run").join("train_log.csv.tmp").exists());
        // A fresh start (step 0) rewrites the log to its header.
        drop(w);
        open(&path, &["step", "loss"], 0).unwrap();
        assert_eq!(lines(&path), ["step,loss"]);
    }

    #[test]
    fn an_old_log_that_is_not_csv_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train_log.csv");
        std::fs::write(&path, b"step,loss\n50,\xff\xfe\n").unwrap();
        let e = open(&path, &["step", "loss"], 100).unwrap_err();
        assert_eq!(e.path, path);
        assert!(!e.msg.is_empty());
    }
}
