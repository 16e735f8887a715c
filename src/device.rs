//! Compute device selection shared by the tokenizer, the captioner and the app.

use candle_core::Device;

/// `cpu`, `cuda`, `metal`, or `auto` (CUDA, then Metal, when built with that feature; else CPU).
///
/// Errors: an unknown name, or a backend this binary was not built with (`--features cuda`).
pub fn select(name: &str) -> candle_core::Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0),
        "metal" => Device::new_metal(0),
        "auto" => {
            if candle_core::utils::cuda_is_available() {
                Device::new_cuda(0)
            } else if candle_core::utils::metal_is_available() {
                Device::new_metal(0)
            } else {
                Ok(Device::Cpu)
            }
        }
        other => Err(candle_core::Error::Msg(format!(
            "unknown device `{other}` (cpu, cuda, metal or auto)"
        ))),
    }
}

/// A short name for display: `CPU`, `CUDA:0`, `Metal`.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => "CPU".into(),
        Device::Cuda(_) => "CUDA:0".into(),
        Device::Metal(_) => "Metal".into(),
    }
}
