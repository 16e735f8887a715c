//! Errors of the language-model side: every one names the file, package or setting at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LmError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// A download failed: `url` and what went wrong (HTTP status, network or TLS error, hash).
    #[error("{url}: {msg}")]
    Fetch { url: String, msg: String },
    /// No source of the model worked; `tried` lists each place and why it failed.
    #[error("could not find {what}; tried:\n{tried}")]
    NotFound { what: String, tried: String },
    #[error("{0}")]
    Tokenizer(String),
    /// Weights that do not fit the architecture (a missing tensor, a wrong shape).
    #[error("{0}")]
    Weights(String),
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Motion(#[from] crate::motion::MotionError),
    #[error(transparent)]
    Dvq(#[from] crate::dvq::DvqError),
    /// Training data or settings that cannot be used.
    #[error("{0}")]
    Data(String),
    /// Stopped by the caller (a cancel while the training pairs were prepared).
    #[error("cancelled")]
    Cancelled,
}

pub type Result<T, E = LmError> = std::result::Result<T, E>;

impl LmError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn fetch(url: impl Into<String>, msg: impl std::fmt::Display) -> Self {
        Self::Fetch {
            url: url.into(),
            msg: msg.to_string(),
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        Self::Format {
            path: path.into(),
            msg: msg.to_string(),
        }
    }
}
