//! Checks a GGUF header for what candle's reader (`gguf_file::Content::read`) does not check and
//! would panic on: a `general.alignment` of 0 (it divides the tensor data offset by it). Walks
//! the metadata key-value pairs without keeping them; anything malformed is left to candle's
//! reader, which reports it as an error.

use std::io::{BufReader, Read, Seek};
use std::path::Path;

use super::error::{LmError, Result};

/// Deepest array nesting walked (candle's own limit is 64).
const MAX_DEPTH: usize = 64;
/// Longest key read into memory; longer keys are skipped (they are not `general.alignment`).
const MAX_KEY_BYTES: u64 = 1 << 16;

/// Errors when the GGUF at `path` sets `general.alignment` to 0, naming the file.
pub fn check_gguf_header(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| LmError::io(path, e))?;
    let len = file.metadata().map_err(|e| LmError::io(path, e))?.len();
    let mut walker = Walker {
        r: BufReader::new(file),
        len,
        wide: true,
    };
    match walker.find_alignment() {
        Some(0) => Err(LmError::format(
            path,
            "metadata `general.alignment` is 0 (tensor data cannot be aligned to 0 bytes)",
        )),
        _ => Ok(()),
    }
}

/// A GGUF header being walked: the file, its length, and whether lengths are u64 (v2, v3).
struct Walker {
    r: BufReader<std::fs::File>,
    len: u64,
    wide: bool,
}

impl Walker {
    /// The integer value of `general.alignment`, if the header has one and can be walked to it.
    fn find_alignment(&mut self) -> Option<u64> {
        if self.u32()? != 0x4655_4747 {
            return None; // not GGUF (or big-endian): candle's reader decides
        }
        self.wide = self.u32()? != 1; // v1 lengths are u32
        let _tensors = self.length()?;
        let kvs = self.length()?;
        for _ in 0..kvs {
            let key_len = self.length()?;
            let key = if key_len <= MAX_KEY_BYTES {
                let mut k = vec![0u8; key_len as usize];
                self.r.read_exact(&mut k).ok()?;
                Some(k)
            } else {
                self.skip(key_len)?;
                None
            };
            let value_type = self.u32()?;
            if key.as_deref() == Some(b"general.alignment".as_slice()) {
                return self.integer(value_type);
            }
            self.skip_value(value_type, 0)?;
        }
        None
    }

    fn u32(&mut self) -> Option<u32> {
        let mut b = [0u8; 4];
        self.r.read_exact(&mut b).ok()?;
        Some(u32::from_le_bytes(b))
    }

    fn length(&mut self) -> Option<u64> {
        if !self.wide {
            return self.u32().map(u64::from);
        }
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b).ok()?;
        Some(u64::from_le_bytes(b))
    }

    /// Bytes left after the current position.
    fn remaining(&mut self) -> Option<u64> {
        let here = self.r.stream_position().ok()?;
        Some(self.len.saturating_sub(here))
    }

    /// Skips `n` bytes; `None` past the end of the file.
    fn skip(&mut self, n: u64) -> Option<()> {
        if n > self.remaining()? {
            return None;
        }
        self.r.seek_relative(i64::try_from(n).ok()?).ok()
    }

    /// An integer value of the types candle reads `general.alignment` from (negatives as
    /// `None`: candle then uses its default).
    fn integer(&mut self, value_type: u32) -> Option<u64> {
        let size = fixed_size(value_type)? as usize;
        let mut b = [0u8; 8];
        self.r.read_exact(&mut b[..size]).ok()?;
        match value_type {
            0 | 2 | 4 => Some(u64::from_le_bytes(b)),
            1 => u64::try_from(b[0] as i8).ok(),
            3 => u64::try_from(i16::from_le_bytes([b[0], b[1]])).ok(),
            5 => u64::try_from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok(),
            _ => None, // candle ignores other types and uses its default alignment
        }
    }

    /// Skips one value; `None` when the header is malformed (candle will say how).
    fn skip_value(&mut self, value_type: u32, depth: usize) -> Option<()> {
        if let Some(size) = fixed_size(value_type) {
            return self.skip(size);
        }
        match value_type {
            8 => {
                let len = self.length()?;
                self.skip(len)
            }
            9 if depth < MAX_DEPTH => {
                let inner = self.u32()?;
                let len = self.length()?;
                if let Some(size) = fixed_size(inner) {
                    return self.skip(len.checked_mul(size)?);
                }
                // Every string or array element takes at least 4 bytes.
                if len > self.remaining()? / 4 {
                    return None;
                }
                for _ in 0..len {
                    self.skip_value(inner, depth + 1)?;
                }
                Some(())
            }
            _ => None,
        }
    }
}

/// Bytes of one value of a fixed-size GGUF value type, `None` for strings and arrays.
fn fixed_size(value_type: u32) -> Option<u64> {
    match value_type {
        0 | 1 | 7 => Some(1), // u8, i8, bool
        2 | 3 => Some(2),     // u16, i16
        4..=6 => Some(4),     // u32, i32, f32
        10..=12 => Some(8),   // u64, i64, f64
        _ => None,
    }
}
