//! A caption review session, independent of the UI so it can be driven headless: an annotator
//! walks the clips of a split and accepts, edits or rejects each generated caption. Every
//! change rewrites the session's JSONL file (one line per reviewed clip) through a temporary
//! file, fsync and rename, so killing the app loses nothing; reopening the file resumes at the
//! first clip not yet reviewed. Undo/redo cover every change. Exports: the HumanML3D `texts/`
//! layout (`caption#tokens#0.0#0.0`) and CSV.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::motion::import::captions::plain_tokens;

/// What the annotator decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    Edited,
    Rejected,
}

/// One reviewed clip (one line of the JSONL file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewEntry {
    pub clip: String,
    /// The captioner's output that was reviewed.
    pub generated: String,
    pub verdict: Verdict,
    /// The caption kept: the generated one when accepted, the annotator's text when edited,
    /// empty when rejected.
    pub caption: String,
    pub annotator: String,
    /// Unix time of the decision, seconds.
    pub time: u64,
}

/// Errors name the session file and, when reading, the line.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}")]
    Parse {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("no clip to review")]
    NoClip,
}

type Result<T> = std::result::Result<T, ReviewError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReviewError + '_ {
    move |source| ReviewError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One undoable change: the clip's entry before and after.
#[derive(Clone, Debug)]
struct Change {
    clip: String,
    before: Option<ReviewEntry>,
    after: Option<ReviewEntry>,
    cursor_before: usize,
}

/// The session: the batch order, the cursor, the entries, undo/redo history.
#[derive(Debug)]
pub struct ReviewSession {
    path: PathBuf,
    pub annotator: String,
    order: Vec<String>,
    cursor: usize,
    entries: BTreeMap<String, ReviewEntry>,
    undo: Vec<Change>,
    redo: Vec<Change>,
}

impl ReviewSession {
    /// Opens (or starts) the session file at `path` over the clips `order` (a split, in batch
    /// order). Existing entries are read back; the cursor goes to the first unreviewed clip.
    ///
    /// Errors: an unreadable file, or a line that is not a review entry (file and line named).
    pub fn open(path: &Path, order: Vec<String>, annotator: &str) -> Result<Self> {
        let mut entries = BTreeMap::new();
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(io(path))?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let e: ReviewEntry =
                    serde_json::from_str(line).map_err(|e| ReviewError::Parse {
                        path: path.to_path_buf(),
                        line: i + 1,
                        msg: e.to_string(),
                    })?;
                entries.insert(e.clip.clone(), e);
            }
        }
        let mut s = Self {
            path: path.to_path_buf(),
            annotator: annotator.to_string(),
            order,
            cursor: 0,
            entries,
            undo: Vec::new(),
            redo: Vec::new(),
        };
        s.cursor = s.first_unreviewed().unwrap_or(0);
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn first_unreviewed(&self) -> Option<usize> {
        self.order
            .iter()
            .position(|id| !self.entries.contains_key(id))
    }

    /// The clip under the cursor.
    pub fn current(&self) -> Option<&str> {
        self.order.get(self.cursor).map(String::as_str)
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn entry(&self, clip: &str) -> Option<&ReviewEntry> {
        self.entries.get(clip)
    }

    /// `(reviewed clips of the batch, clips in the batch)`.
    pub fn progress(&self) -> (usize, usize) {
        let done = self
            .order
            .iter()
            .filter(|id| self.entries.contains_key(*id))
            .count();
        (done, self.order.len())
    }

    /// Moves to the next clip (J).
    pub fn next(&mut self) {
        if self.cursor + 1 < self.order.len() {
            self.cursor += 1;
        }
    }

    /// Moves to the previous clip (K).
    pub fn prev(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// Jumps to `clip` if it is in the batch.
    pub fn go_to(&mut self, clip: &str) {
        if let Some(i) = self.order.iter().position(|c| c == clip) {
            self.cursor = i;
        }
    }

    /// Accepts `generated` for the current clip (A), saves, moves on.
    pub fn accept(&mut self, generated: &str) -> Result<()> {
        self.decide(generated, Verdict::Accepted, generated)
    }

    /// Keeps the annotator's `text` instead of `generated` (E), saves, moves on.
    pub fn edit(&mut self, generated: &str, text: &str) -> Result<()> {
        self.decide(generated, Verdict::Edited, text.trim())
    }

    /// Rejects `generated` (R), saves, moves on.
    pub fn reject(&mut self, generated: &str) -> Result<()> {
        self.decide(generated, Verdict::Rejected, "")
    }

    fn decide(&mut self, generated: &str, verdict: Verdict, caption: &str) -> Result<()> {
        let clip = self.current().ok_or(ReviewError::NoClip)?.to_string();
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let after = ReviewEntry {
            clip: clip.clone(),
            generated: generated.to_string(),
            verdict,
            caption: caption.to_string(),
            annotator: self.annotator.clone(),
            time,
        };
        let change = Change {
            before: self.entries.get(&clip).cloned(),
            after: Some(after.clone()),
            clip: clip.clone(),
            cursor_before: self.cursor,
        };
        self.entries.insert(clip, after);
        self.undo.push(change);
        self.redo.clear();
        self.next();
        self.save()
    }

    fn apply(&mut self, clip: &str, value: Option<ReviewEntry>) {
        match value {
            Some(e) => self.entries.insert(clip.to_string(), e),
            None => self.entries.remove(clip),
        };
    }

    /// Undoes the last change (Ctrl+Z) and returns to its clip; `false` when there is none.
    pub fn undo(&mut self) -> Result<bool> {
        let Some(c) = self.undo.pop() else {
            return Ok(false);
        };
        self.apply(&c.clip, c.before.clone());
        self.cursor = c.cursor_before;
        self.redo.push(c);
        self.save()?;
        Ok(true)
    }

    /// Redoes the last undone change (Ctrl+Shift+Z); `false` when there is none.
    pub fn redo(&mut self) -> Result<bool> {
        let Some(c) = self.redo.pop() else {
            return Ok(false);
        };
        self.apply(&c.clip, c.after.clone());
        self.cursor = c.cursor_before;
        self.next();
        self.undo.push(c);
        self.save()?;
        Ok(true)
    }

    /// Rewrites the JSONL file atomically (temporary file, fsync, rename, fsync of the folder).
    fn save(&self) -> Result<()> {
        let mut text = String::new();
        for e in self.entries.values() {
            text.push_str(&serde_json::to_string(e).expect("entries serialize"));
            text.push('\n');
        }
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
        tmp.write_all(text.as_bytes()).map_err(io(&self.path))?;
        tmp.as_file().sync_all().map_err(io(&self.path))?;
        tmp.persist(&self.path).map_err(|e| ReviewError::Io {
            path: self.path.clone(),
            source: e.error,
        })?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Writes one `texts/<clip>.txt` per accepted or edited clip under `dir` in the HumanML3D
    /// layout (`caption#tokens#0.0#0.0`; tokens lowercased words without POS tags); returns how
    /// many files were written.
    pub fn export_texts(&self, dir: &Path) -> Result<usize> {
        let texts = dir.join("texts");
        std::fs::create_dir_all(&texts).map_err(io(&texts))?;
        let mut n = 0;
        for e in self
            .entries
            .values()
            .filter(|e| e.verdict != Verdict::Rejected)
        {
            let path = texts.join(format!("{}.txt", e.clip));
            let line = format!("{}#{}#0.0#0.0\n", e.caption, plain_tokens(&e.caption));
            std::fs::write(&path, line).map_err(io(&path))?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes every entry as CSV (`clip,verdict,caption,generated,annotator,time`); returns
    /// the number of rows.
    pub fn export_csv(&self, path: &Path) -> Result<usize> {
        let mut w = csv::Writer::from_path(path).map_err(|e| ReviewError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        let csv_err = |e: csv::Error| ReviewError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        };
        w.write_record([
            "clip",
            "verdict",
            "caption",
            "generated",
            "annotator",
            "time",
        ])
        .map_err(csv_err)?;
        for e in self.entries.values() {
            let verdict = serde_json::to_value(e.verdict).expect("verdict serializes");
            w.write_record([
                e.clip.as_str(),
                verdict.as_str().unwrap_or(""),
                &e.caption,
                &e.generated,
                &e.annotator,
                &e.time.to_string(),
            ])
            .map_err(csv_err)?;
        }
        w.flush().map_err(io(path))?;
        Ok(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::{Dataset, Split};

    fn demo_test_ids() -> Vec<String> {
        let demo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
        let ds = Dataset::open(&demo).unwrap();
        ds.split_ids(Split::Test)
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn review_accept_edit_undo_autosave_reload_and_export() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("review.jsonl");
        let ids = demo_test_ids();
        assert!(ids.len() >= 4);
        let mut s = ReviewSession::open(&path, ids.clone(), "ann").unwrap();
        assert_eq!(s.current(), Some(ids[0].as_str()));
        s.accept("a person walks forward.").unwrap();
        s.edit("a person jumps", "  a person hops twice.  ")
            .unwrap();
        s.reject("nonsense").unwrap();
        assert_eq!(s.progress(), (3, ids.len()));
        assert_eq!(s.current(), Some(ids[3].as_str()));
        // Undo the reject: back on clip 2, which is unreviewed again; redo restores it.
        assert!(s.undo().unwrap());
        assert_eq!(s.current(), Some(ids[2].as_str()));
        assert!(s.entry(&ids[2]).is_none());
        assert!(s.redo().unwrap());
        assert_eq!(s.entry(&ids[2]).unwrap().verdict, Verdict::Rejected);
        assert!(s.undo().unwrap());
        // "Kill" the app: drop the session without any explicit save, reopen the file.
        drop(s);
        let lines = std::fs::read_to_string(&path).unwrap();
        assert_eq!(lines.lines().count(), 2, "{lines}");
        let s = ReviewSession::open(&path, ids.clone(), "ann").unwrap();
        assert_eq!(
            s.current(),
            Some(ids[2].as_str()),
            "resumes at the first unreviewed"
        );
        assert_eq!(s.entry(&ids[1]).unwrap().caption, "a person hops twice.");
        assert_eq!(s.entry(&ids[0]).unwrap().verdict, Verdict::Accepted);
        // Exports.
        let out = dir.path().join("export");
        assert_eq!(s.export_texts(&out).unwrap(), 2);
        let t = std::fs::read_to_string(out.join("texts").join(format!("{}.txt", ids[1]))).unwrap();
        assert_eq!(t, "a person hops twice.#a person hops twice#0.0#0.0\n");
        let parsed = crate::motion::texts::parse_texts(&t, &out).unwrap();
        assert_eq!(parsed[0].text, "a person hops twice.");
        let csv_path = dir.path().join("review.csv");
        assert_eq!(s.export_csv(&csv_path).unwrap(), 2);
        let csv = std::fs::read_to_string(&csv_path).unwrap();
        assert!(
            csv.starts_with("clip,verdict,caption,generated,annotator,time\n"),
            "{csv}"
        );
        assert!(
            csv.contains(",edited,a person hops twice.,a person jumps,ann,"),
            "{csv}"
        );
        // A broken line is reported with file and line.
        std::fs::write(&path, "{\"clip\": 1}\n").unwrap();
        let e = ReviewSession::open(&path, ids, "ann")
            .unwrap_err()
            .to_string();
        assert!(e.contains("review.jsonl:1:"), "{e}");
    }
}
