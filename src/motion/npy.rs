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
/// is not a numpy header, the dtype is not a float of 4 or 8 bytes, the array is Fortran-ordered,
/// or the file ends before the data does.
pub fn read_npy<F: NpyFloat>(path: &Path) -> Result<NpyArray<F>> {
    let npy_err = |msg: String| MotionError::Npy {
        path: path.to_path_buf(),
        msg,
    };
    let file = File::open(path).map_err(|e| MotionError::io(path, e))?;
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
    let expected: usize = shape.iter().product();
    if data.len() != expected {
        return Err(npy_err(format!(
            "header shape {shape:?} needs {expected} values, file holds {}",
            data.len()
        )));
    }
    Ok(NpyArray { shape, data })
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
