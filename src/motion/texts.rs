//! HumanML3D caption files (`texts/<id>.txt`): one caption per line,
//! `caption#pos-tagged tokens#start#end`, start/end in seconds (`0.0#0.0` = the whole clip;
//! `nan` is read as 0 as in the reference `dataset.py`).

use std::path::Path;

use super::error::{MotionError, Result};
use super::limits::MAX_CAPTION_LINE_BYTES;

/// One caption of a clip, possibly of a sub-range of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Caption {
    /// The sentence as written.
    pub text: String,
    /// Space-separated `word/POS` tokens (may be plain lowercase words).
    pub tokens: String,
    /// Start of the described range, seconds from the clip start (0 = clip start).
    pub start_secs: f64,
    /// End of the described range, seconds (0 = clip end).
    pub end_secs: f64,
}

impl Caption {
    /// Whether the caption describes the whole clip (`start = end = 0`).
    pub fn is_whole_clip(&self) -> bool {
        self.start_secs == 0.0 && self.end_secs == 0.0
    }

    /// The described frame range at 20 fps, clamped to `0..frames`
    /// ([`super::subclip::frames_of`] for a time range).
    pub fn frame_range(&self, frames: usize) -> std::ops::Range<usize> {
        if self.is_whole_clip() {
            return 0..frames;
        }
        super::subclip::frames_of(self.start_secs, self.end_secs, frames)
    }
}

/// Parses the text of a captions file; `path` names it in errors.
///
/// Errors: a non-blank line with fewer than 4 `#`-separated fields, an empty caption, a
/// start/end that is not a number, a line longer than [`MAX_CAPTION_LINE_BYTES`] (line numbers
/// are 1-based); a file with no caption line. Caption text is kept as written, control
/// characters included: whoever prints it to a terminal escapes them.
pub fn parse_texts(content: &str, path: &Path) -> Result<Vec<Caption>> {
    let mut captions = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |msg: String| MotionError::Text {
            path: path.to_path_buf(),
            line: i + 1,
            msg,
        };
        if line.len() > MAX_CAPTION_LINE_BYTES {
            return Err(err(format!(
                "{} bytes: longer than the {MAX_CAPTION_LINE_BYTES}-byte limit of a caption line",
                line.len()
            )));
        }
        let fields: Vec<&str> = line.split('#').collect();
        if fields.len() < 4 {
            return Err(err(format!(
                "expected `caption#tokens#start#end`, found {} field(s)",
                fields.len()
            )));
        }
        let text = fields[0].trim();
        if text.is_empty() {
            return Err(err("empty caption".into()));
        }
        // f64, as the reference's `float()`: `int(start*20)` is then computed as it is there.
        let secs = |s: &str, what: &str| -> Result<f64> {
            let v: f64 = s
                .trim()
                .parse()
                .map_err(|_| err(format!("{what} `{s}` is not a number of seconds")))?;
            Ok(if v.is_nan() { 0.0 } else { v })
        };
        captions.push(Caption {
            text: text.to_string(),
            tokens: fields[1].trim().to_string(),
            start_secs: secs(fields[2], "start")?,
            end_secs: secs(fields[3], "end")?,
        });
    }
    if captions.is_empty() {
        return Err(MotionError::Invalid {
            path: path.to_path_buf(),
            msg: "captions file has no caption lines".into(),
        });
    }
    Ok(captions)
}

/// Reads and parses a captions file (see [`parse_texts`]).
pub fn read_texts(path: &Path) -> Result<Vec<Caption>> {
    let content = std::fs::read_to_string(path).map_err(|e| MotionError::io(path, e))?;
    parse_texts(&content, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_and_sub_range_captions() {
        let p = Path::new("t.txt");
        let c = parse_texts(
            "a man walks forward.#a/DET man/NOUN walk/VERB forward/ADV#0.0#0.0\n\
             \n\
             then he jumps#then/ADV he/PRON jump/VERB#2.5#4.0\n\
             someone waves#someone/PRON wave/VERB#nan#nan\n",
            p,
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert!(c[0].is_whole_clip());
        assert_eq!(c[0].text, "a man walks forward.");
        assert_eq!(c[1].frame_range(200), 50..80);
        assert!(c[2].is_whole_clip());
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let p = Path::new("t.txt");
        let e = parse_texts("ok#ok/X#0#0\nbroken line\n", p).unwrap_err();
        assert!(e.to_string().contains("t.txt:2"), "{e}");
        let e = parse_texts("ok#ok/X#zero#0\n", p).unwrap_err();
        assert!(
            e.to_string().contains("t.txt:1") && e.to_string().contains("zero"),
            "{e}"
        );
        let e = parse_texts("\n  \n", p).unwrap_err();
        assert!(e.to_string().contains("no caption"), "{e}");
        // A 100,000-word caption once took minutes downstream: the line is refused.
        let long = format!("ok#ok/X#0#0\n{}#x#0#0\n", "word ".repeat(100_000));
        let e = parse_texts(&long, p).unwrap_err().to_string();
        assert!(e.contains("t.txt:2") && e.contains("limit"), "{e}");
    }
}
