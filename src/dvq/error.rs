//! Errors of the tokenizer: every one names the file or the setting that is wrong.

use std::path::PathBuf;

use crate::motion::MotionError;

/// What can go wrong loading, training or running the DVQ tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum DvqError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Motion(#[from] MotionError),
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = DvqError> = std::result::Result<T, E>;

impl DvqError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Self::Checkpoint {
            path: path.into(),
            msg: msg.to_string(),
        }
    }
}
