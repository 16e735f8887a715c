//! Which instruction set the engine's kernels use: AVX-512, AVX2 + FMA, NEON or portable
//! scalar code. The build targets the baseline of each architecture (x86-64 without AVX,
//! aarch64 with NEON), so the wider paths are compiled with `#[target_feature]` and chosen at
//! run time: the widest this CPU has, or the one `GEOMOTION_SIMD` names
//! (`avx512 | avx2 | neon | scalar`), to compare paths or to work around a kernel.

use std::fmt;

/// An instruction-set path of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Simd {
    /// AVX-512 F + BW (16 f32 lanes).
    Avx512,
    /// AVX2 + FMA (8 f32 lanes): most x86-64 laptops and desktops since 2013–2015.
    Avx2,
    /// Advanced SIMD on aarch64 (4 f32 lanes): Apple silicon, Graviton, Raspberry Pi 4/5.
    Neon,
    /// Plain Rust (what the compiler makes of it for the baseline target).
    Scalar,
}

/// The environment variable that forces a path.
pub const ENV: &str = "GEOMOTION_SIMD";

impl Simd {
    /// Every path, widest first.
    pub const ALL: [Simd; 4] = [Simd::Avx512, Simd::Avx2, Simd::Neon, Simd::Scalar];

    pub fn name(self) -> &'static str {
        match self {
            Simd::Avx512 => "avx512",
            Simd::Avx2 => "avx2",
            Simd::Neon => "neon",
            Simd::Scalar => "scalar",
        }
    }

    /// Whether this CPU can run the path (detected at run time, cached by std).
    pub fn supported(self) -> bool {
        match self {
            Simd::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "aarch64")]
            Simd::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The paths this CPU can run, widest first (scalar last).
    pub fn available() -> Vec<Simd> {
        Self::ALL.into_iter().filter(|s| s.supported()).collect()
    }

    /// The widest path this CPU can run.
    pub fn best() -> Simd {
        Self::available()[0]
    }

    /// The path `GEOMOTION_SIMD` asks for, or [`Self::best`] when it is unset or empty.
    ///
    /// Errors: a name that is not a path, or a path this CPU cannot run (both named, with the
    /// paths it can).
    pub fn from_env() -> Result<Simd, String> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => {
                let s: Simd = v.trim().parse()?;
                if !s.supported() {
                    return Err(format!(
                        "{ENV}={v}: this CPU cannot run the {} kernels (it can run: {})",
                        s.name(),
                        Self::names(&Self::available())
                    ));
                }
                Ok(s)
            }
            _ => Ok(Self::best()),
        }
    }

    /// `a, b, c` of the paths' names.
    pub fn names(paths: &[Simd]) -> String {
        paths
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A path this CPU was checked to run: the only way the kernels take one, so the
/// `#[target_feature]` functions behind it are never called on a CPU without the feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Supported(Simd);

impl Supported {
    /// `None` when this CPU cannot run `simd`.
    pub fn new(simd: Simd) -> Option<Self> {
        simd.supported().then_some(Self(simd))
    }

    /// The widest path this CPU runs.
    pub fn best() -> Self {
        Self(Simd::best())
    }

    /// What `GEOMOTION_SIMD` asks for (see [`Simd::from_env`]).
    pub fn from_env() -> Result<Self, String> {
        Simd::from_env().map(Self)
    }

    /// Every path this CPU runs, widest first.
    pub fn all() -> Vec<Self> {
        Simd::available().into_iter().map(Self).collect()
    }

    pub fn get(self) -> Simd {
        self.0
    }
}

impl std::str::FromStr for Simd {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s.to_ascii_lowercase())
            .ok_or_else(|| format!("{ENV}={s}: expected one of {}", Self::names(&Self::ALL)))
    }
}

impl fmt::Display for Simd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_scalar_is_always_available() {
        for s in Simd::ALL {
            assert_eq!(s.name().parse::<Simd>().unwrap(), s);
        }
        assert_eq!("AVX2".parse::<Simd>().unwrap(), Simd::Avx2);
        assert!(
            "sse9"
                .parse::<Simd>()
                .unwrap_err()
                .contains("expected one of")
        );
        let a = Simd::available();
        assert_eq!(a.last(), Some(&Simd::Scalar));
        assert_eq!(Simd::best(), a[0]);
        #[cfg(target_arch = "x86_64")]
        assert!(!Simd::Neon.supported());
        #[cfg(target_arch = "aarch64")]
        assert!(Simd::Neon.supported() && !Simd::Avx2.supported());
        assert!(Supported::new(Simd::Scalar).is_some());
        assert_eq!(Supported::all().len(), a.len());
        #[cfg(target_arch = "x86_64")]
        assert!(Supported::new(Simd::Neon).is_none());
    }
}
