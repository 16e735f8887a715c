//! `.npy` reading and writing through the `npyz` crate. Float32 and float64 arrays, C order.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use npyz::{DType, TypeChar, WriterBuilder};

use super::error::{MotionError, Result};

/// A float array read from a `.npy` file, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray<F> {
    pub shape: Vec<usize>,
    pub data: Vec<F>,
}

/// Element types a `.npy` file can be read into: `f32` and `f64`. A float32 file read as `f64`
/// is widened exactly; a float64 file read as `f32` is rounded to nearest.
pub trait NpyFloat: Copy + 'static {
    fn from_f32(v: f32) -> Self;
    fn from_f64(v: f64) -> Self;
}
impl NpyFloat for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}
impl NpyFloat for f64 {
    fn from_f32(v: f32) -> Self {
        v as f64
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// Reads a float32 or float64 `.npy` array of any rank.
///
/// Errors: [`MotionError::Io`] if the file cannot be opened, [`MotionError::Npy`] if the header
/// is not a numpy header (or is longer than [`MAX_HEADER_BYTES`] or nested deeper than
/// [`MAX_HEADER_DEPTH`]), the dtype is not a float of 4 or 8 bytes, the array is
/// Fortran-ordered, the shape's element count overflows, or the file ends before the data does
/// (checked against the header's shape before anything is read, so a huge shape in a small
/// file allocates nothing).
pub fn read_npy<F: NpyFloat>(path: &Path) -> Result<NpyArray<F>> {
    let npy_err = |msg: String| MotionError::Npy {
        path: path.to_path_buf(),
        msg,
    };
    let mut file = File::open(path).map_err(|e| MotionError::io(path, e))?;
    check_header(path, &mut file)?;
    let npy = npyz::NpyFile::new(BufReader::new(file))
        .map_err(|e| npy_err(format!("bad header ({e})")))?;
    if npy.order() != npyz::Order::C {
        return Err(npy_err("Fortran-ordered arrays are not supported".into()));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let width = match npy.dtype() {
        DType::Plain(ts) if ts.type_char() == TypeChar::Float => ts.size_field(),
        other => {
            return Err(npy_err(format!(
                "dtype {} is not float32 or float64",
                other.descr()
            )));
        }
    };
    let truncated = |e: std::io::Error| npy_err(format!("data ends early or is unreadable ({e})"));
    let data: Vec<F> = match width {
        4 => npy
            .into_vec::<f32>()
            .map_err(truncated)?
            .into_iter()
            .map(F::from_f32)
            .collect(),
        8 => npy
            .into_vec::<f64>()
            .map_err(truncated)?
            .into_iter()
            .map(F::from_f64)
            .collect(),
        w => return Err(npy_err(format!("float{} is not supported", w * 8))),
    };
    let expected = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if expected != Some(data.len()) {
        return Err(npy_err(format!(
            "header shape {shape:?} does not match the {} values the file holds",
            data.len()
        )));
    }
    Ok(NpyArray { shape, data })
}

/// Longest `.npy` header accepted: 64 KiB (numpy writes about 128 bytes, and its reader
/// refuses more than 10,000 by default).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Deepest bracket nesting accepted in an `.npy` header (numpy writes 2: the dict and the shape
/// tuple; a structured dtype a few more). Deeper is refused before the header's Python-literal
/// parser sees it.
pub const MAX_HEADER_DEPTH: usize = 8;

/// Checks what `npyz` would trust without checking: the magic, the header length and nesting,
/// and that the shape's element count neither overflows nor exceeds what the rest of the file
/// holds. Leaves `file` at its start.
fn check_header(path: &Path, file: &mut File) -> Result<()> {
    use std::io::{Read, Seek};
    let npy_err = |msg: String| MotionError::Npy {
        path: path.to_path_buf(),
        msg,
    };
    let io = |e| MotionError::io(path, e);
    let file_len = file.metadata().map_err(io)?.len();
    let mut pre = [0u8; 12];
    let got = file.read(&mut pre).map_err(io)?;
    let got = got + file.read(&mut pre[got..]).map_err(io)?;
    if got < 10 || &pre[..6] != b"\x93NUMPY" {
        return Err(npy_err(
            "bad header (no numpy magic: not an .npy file)".into(),
        ));
    }
    let (header_len, start) = match pre[6] {
        1 => (u16::from_le_bytes([pre[8], pre[9]]) as u64, 10u64),
        2 | 3 if got == 12 => (
            u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as u64,
            12,
        ),
        v => return Err(npy_err(format!("bad header (format version {v})"))),
    };
    if header_len > MAX_HEADER_BYTES as u64 {
        return Err(npy_err(format!(
            "bad header ({header_len} bytes, more than the {MAX_HEADER_BYTES}-byte limit)"
        )));
    }
    if start + header_len > file_len {
        return Err(npy_err("bad header (the file ends inside it)".into()));
    }
    let mut header = vec![0u8; header_len as usize];
    file.seek(std::io::SeekFrom::Start(start)).map_err(io)?;
    file.read_exact(&mut header).map_err(io)?;
    file.rewind().map_err(io)?;
    let text = String::from_utf8_lossy(&header);
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_HEADER_DEPTH {
            return Err(npy_err(format!(
                "bad header (nested deeper than {MAX_HEADER_DEPTH} brackets)"
            )));
        }
    }
    // Only what numpy writes is checked here; anything else is left to npyz to accept or refuse.
    let Some(shape) = header_shape(&text) else {
        return Ok(());
    };
    let count = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
    let bytes = count.and_then(|n| n.checked_mul(header_item_bytes(&text)));
    let data = file_len - start - header_len;
    match bytes {
        None => Err(npy_err(format!(
            "bad header (shape {shape:?} has more values than fit in memory)"
        ))),
        Some(b) if b > data => Err(npy_err(format!(
            "data ends early or is unreadable (header shape {shape:?} needs {b} bytes of \
             data, the file holds {data})"
        ))),
        Some(_) => Ok(()),
    }
}

/// The `'shape': (a, b, ...)` tuple of a numpy header, if it is written as numpy writes it.
fn header_shape(header: &str) -> Option<Vec<u64>> {
    let after = &header[header.find("'shape'")? + "'shape'".len()..];
    let tuple = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('(')?;
    let inner = &tuple[..tuple.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse::<u64>().ok())
        .collect()
}

/// Bytes per value of the header's `'descr'` (`'<f4'` → 4); 1 when it cannot tell, which
/// only weakens the size check.
fn header_item_bytes(header: &str) -> u64 {
    let Some(at) = header.find("'descr'") else {
        return 1;
    };
    let after = &header[at + "'descr'".len()..];
    let Some(descr) = after
        .trim_start()
        .strip_prefix(':')
        .and_then(|a| a.trim_start().strip_prefix('\''))
        .and_then(|a| a.split('\'').next())
    else {
        return 1;
    };
    let digits: String = descr.chars().skip_while(|c| !c.is_ascii_digit()).collect();
    digits.parse::<u64>().ok().filter(|&n| n > 0).unwrap_or(1)
}

/// Writes a float32 `.npy` array of the given shape (C order).
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    write_npy(path, shape, data)
}

/// Writes a float64 `.npy` array of the given shape (C order).
pub fn write_npy_f64(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    write_npy(path, shape, data)
}

fn write_npy<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[usize],
    data: &[T],
) -> Result<()> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(MotionError::Invalid {
            path: path.to_path_buf(),
            msg: format!("shape {shape:?} needs {n} values, got {}", data.len()),
        });
    }
    let io = |e| MotionError::io(path, e);
    let file = File::create(path).map_err(io)?;
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(io)?;
    writer.extend(data.iter().copied()).map_err(io)?;
    writer.finish().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_f32_and_f64() {
        let dir = std::env::temp_dir().join(format!("geomotion-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p32 = dir.join("a32.npy");
        let p64 = dir.join("a64.npy");
        let v: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
        write_npy_f32(&p32, &[2, 3], &v).unwrap();
        let v64: Vec<f64> = v.iter().map(|&x| x as f64 + 1e-12).collect();
        write_npy_f64(&p64, &[3, 2], &v64).unwrap();
        let a: NpyArray<f32> = read_npy(&p32).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, v);
        let b: NpyArray<f64> = read_npy(&p64).unwrap();
        assert_eq!(b.shape, vec![3, 2]);
        assert_eq!(b.data, v64);
        std::fs::remove_dir_all(&dir).ok();
    }
}
