//! Errors for bad motion data. Every variant names the file it came from.

use std::path::PathBuf;

/// What can be wrong with motion data on disk. Each variant carries the offending path and,
/// where it applies, the line (1-based) or frame (0-based) so the user can find the problem.
#[derive(Debug, thiserror::Error)]
pub enum MotionError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable .npy array: {msg}")]
    Npy { path: PathBuf, msg: String },
    #[error("{path}: expected shape {expected}, found {found:?}")]
    Shape {
        path: PathBuf,
        expected: String,
        found: Vec<usize>,
    },
    #[error("{path}: frame {frame}, value {index} is not finite ({value})")]
    NonFinite {
        path: PathBuf,
        frame: usize,
        index: usize,
        value: f64,
    },
    #[error("{path}:{line}: {msg}")]
    Text {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("{path}: missing {what}")]
    Missing { path: PathBuf, what: String },
    #[error("{path}: no clip with id `{id}`")]
    UnknownClip { path: PathBuf, id: String },
}

impl MotionError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = MotionError> = std::result::Result<T, E>;
