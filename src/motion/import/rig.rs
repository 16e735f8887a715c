//! Rig maps: how a source skeleton's joints become the 22 SMPL joints. Each rig is a small TOML
//! file (`assets/rigs/*.toml`, built in; more can be given by path) naming, per SMPL joint, a rig
//! joint or a point part-way between two. A file's rig is detected from its joint names, so a
//! new rig needs a TOML file and no code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Capture;
use super::bvh::PositionChannels;
use crate::motion::error::{MotionError, Result};
use crate::motion::skeleton::JOINT_NAMES;

/// The rigs shipped with GeoMotion (`assets/rigs/`), most specific first.
const BUILTIN: [(&str, &str); 5] = [
    (
        "bandai.toml",
        include_str!("../../../assets/rigs/bandai.toml"),
    ),
    (
        "cmu_cc_base.toml",
        include_str!("../../../assets/rigs/cmu_cc_base.toml"),
    ),
    (
        "cmu_cc_base_boneroot.toml",
        include_str!("../../../assets/rigs/cmu_cc_base_boneroot.toml"),
    ),
    (
        "cmu_asf.toml",
        include_str!("../../../assets/rigs/cmu_asf.toml"),
    ),
    ("smpl.toml", include_str!("../../../assets/rigs/smpl.toml")),
];

/// Source file format a rig applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Bvh,
    Asf,
}

/// The range of [`JointSource::Between`]'s `at`: a point between the two joints (0..1) or up
/// to one joint-distance beyond either; further out it is a typo, and NaN or infinity would give
/// non-finite joints.
pub const MIN_AT: f64 = -1.0;
/// See [`MIN_AT`].
pub const MAX_AT: f64 = 2.0;

/// Where one SMPL joint comes from.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum JointSource {
    /// A rig joint (BVH joint or end site; ASF bone end point or `root`).
    Joint(String),
    /// The point `a + at · (b − a)` between two rig joints.
    Between { between: [String; 2], at: f64 },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RigFile {
    name: String,
    #[serde(default)]
    description: String,
    format: Format,
    root: Option<String>,
    #[serde(default = "one")]
    metres_per_unit: f64,
    #[serde(default)]
    position_channels: PositionChannels,
    joints: BTreeMap<String, JointSource>,
}

fn one() -> f64 {
    1.0
}

/// A resolved rig map.
#[derive(Clone, Debug)]
pub struct Rig {
    pub name: String,
    pub description: String,
    pub format: Format,
    /// The root joint's name in the source files (used for detection), if the rig fixes it.
    pub root: Option<String>,
    /// Metres per file unit (BVH; ASF units come from the file).
    pub metres_per_unit: f64,
    pub position_channels: PositionChannels,
    /// Source of each SMPL joint, in HumanML3D joint order.
    pub joints: [JointSource; 22],
    /// Where the rig was read from.
    pub origin: String,
}

impl Rig {
    /// Parses a rig TOML; `origin` names it in errors.
    ///
    /// Errors (all naming `origin`): TOML syntax or an unknown key (with the TOML line), a key
    /// that is not one of the 22 SMPL joints, a joint missing, `metres_per_unit` not positive
    /// and finite, a `between` point's `at` outside [`MIN_AT`]`..=`[`MAX_AT`].
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let bad = |msg: String| MotionError::Invalid {
            path: origin.to_path_buf(),
            msg,
        };
        let file: RigFile = toml::from_str(text).map_err(|e| bad(format!("bad rig file: {e}")))?;
        if let Some(unknown) = file
            .joints
            .keys()
            .find(|k| !JOINT_NAMES.contains(&k.as_str()))
        {
            return Err(bad(format!(
                "`{unknown}` is not one of the 22 SMPL joints ({})",
                JOINT_NAMES.join(", ")
            )));
        }
        let mut joints = Vec::with_capacity(22);
        for name in JOINT_NAMES {
            joints.push(
                file.joints
                    .get(name)
                    .cloned()
                    .ok_or_else(|| bad(format!("no entry for SMPL joint `{name}`")))?,
            );
        }
        if !(file.metres_per_unit.is_finite() && file.metres_per_unit > 0.0) {
            return Err(bad("metres_per_unit must be a positive number".into()));
        }
        for (name, source) in JOINT_NAMES.iter().zip(&joints) {
            if let JointSource::Between { at, .. } = source
                && !(MIN_AT..=MAX_AT).contains(at)
            {
                return Err(bad(format!(
                    "`{name}`: at = {at} is not a number in {MIN_AT}..={MAX_AT}"
                )));
            }
        }
        Ok(Self {
            name: file.name,
            description: file.description,
            format: file.format,
            root: file.root,
            metres_per_unit: file.metres_per_unit,
            position_channels: file.position_channels,
            joints: joints.try_into().map_err(|_| bad("joint count".into()))?,
            origin: origin.display().to_string(),
        })
    }

    /// Reads a rig TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| MotionError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// The built-in rigs (`assets/rigs/*.toml`, compiled in).
    pub fn builtin() -> Vec<Rig> {
        BUILTIN
            .iter()
            .map(|(file, text)| {
                let origin = PathBuf::from("assets/rigs").join(file);
                Rig::parse(text, &origin)
                    .unwrap_or_else(|e| panic!("built-in rig {file} is invalid: {e}"))
            })
            .collect()
    }

    /// A built-in rig by name, or a rig file by path.
    pub fn named(name_or_path: &str) -> Result<Self> {
        let path = Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            return Self::load(path);
        }
        Self::builtin()
            .into_iter()
            .find(|r| r.name == name_or_path)
            .ok_or_else(|| MotionError::Invalid {
                path: path.to_path_buf(),
                msg: format!(
                    "no rig named `{name_or_path}` (built in: {})",
                    Self::builtin()
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// Rig joint names this map reads.
    fn referenced(&self) -> impl Iterator<Item = &str> {
        self.joints.iter().flat_map(|s| match s {
            JointSource::Joint(n) => vec![n.as_str()],
            JointSource::Between { between, .. } => vec![between[0].as_str(), between[1].as_str()],
        })
    }

    /// Whether this rig fits a skeleton with these joint names (case-insensitive) and root.
    pub fn matches(&self, format: Format, root: &str, joint_names: &[String]) -> bool {
        self.format == format
            && self
                .root
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case(root))
            && self
                .referenced()
                .all(|n| joint_names.iter().any(|j| j.eq_ignore_ascii_case(n)))
    }

    /// The first rig of `rigs` that fits; the error lists the joint names seen and rigs tried.
    pub fn detect<'a>(
        rigs: &'a [Rig],
        format: Format,
        root: &str,
        joint_names: &[String],
        source: &Path,
    ) -> Result<&'a Rig> {
        rigs.iter()
            .find(|r| r.matches(format, root, joint_names))
            .ok_or_else(|| MotionError::Invalid {
                path: source.to_path_buf(),
                msg: format!(
                    "unknown rig: root `{root}`, joints [{}]; tried {}. Add a rig file \
                     (see assets/rigs/ and the README) and pass it with --rig FILE.toml",
                    joint_names.join(", "),
                    rigs.iter()
                        .map(|r| format!("{} ({})", r.name, r.origin))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The 22 SMPL joints of every frame, `(T, 22, 3)` metres, from a capture on this rig.
    ///
    /// Errors: the capture lacks a joint the rig reads (naming the motion file, the joint, and
    /// the rig with the file it came from).
    pub fn map(&self, capture: &Capture) -> Result<Vec<[f64; 3]>> {
        let index = |name: &str| -> Result<usize> {
            capture
                .joint_names
                .iter()
                .position(|j| j.eq_ignore_ascii_case(name))
                .ok_or_else(|| MotionError::Invalid {
                    path: capture.source.clone(),
                    msg: format!(
                        "rig `{}` ({}) needs joint `{name}`, which the file lacks",
                        self.name, self.origin
                    ),
                })
        };
        let mut plan = Vec::with_capacity(22);
        for src in &self.joints {
            plan.push(match src {
                JointSource::Joint(n) => (index(n)?, index(n)?, 0.0),
                JointSource::Between { between, at } => {
                    (index(&between[0])?, index(&between[1])?, *at)
                }
            });
        }
        let mut out = Vec::with_capacity(capture.frames * 22);
        for t in 0..capture.frames {
            let f = capture.frame(t);
            for &(a, b, w) in &plan {
                out.push(std::array::from_fn(|k| f[a][k] + w * (f[b][k] - f[a][k])));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rigs_parse_and_bad_rigs_are_named() {
        let rigs = Rig::builtin();
        assert_eq!(rigs.len(), 5);
        let e = Rig::parse(
            "name='x'\nformat='bvh'\n[joints]\npelvis='Hips'\n",
            Path::new("x.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("x.toml") && e.contains("left_hip"), "{e}");
        let e = Rig::parse(
            "name='x'\nformat='bvh'\n[joints]\ntail='T'\n",
            Path::new("x.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`tail` is not one of"), "{e}");
    }

    #[test]
    fn unknown_rig_lists_joints_and_rigs() {
        let rigs = Rig::builtin();
        let names = vec!["Root".to_string(), "Spine".to_string()];
        let e = Rig::detect(&rigs, Format::Bvh, "Root", &names, Path::new("mine.bvh"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mine.bvh") && e.contains("Root, Spine") && e.contains("bandai"),
            "{e}"
        );
    }
}
