//! Reader for Acclaim ASF skeletons, the skeleton half of the CMU Graphics Lab Motion Capture
//! Database's ASF/AMC pairs (the motion half: [`super::amc`]).
//!
//! The Acclaim format (Acclaim Entertainment's "ASF/AMC file format specification", as
//! documented with the CMU database) splits a capture in two text files. The **ASF** holds the
//! skeleton: `:units`, `:root` (`order`, `axis`, `position`, `orientation`), `:bonedata`
//! (`begin`/`end` blocks with `name`, `direction`, `length`, `axis`, `dof`, `limits`) and
//! `:hierarchy` (`begin`/`end`, lines `parent child1 child2 ...`). `:version`,
//! `:documentation`, `:bodyweight` and limit values are read past.
//!
//! Units: lengths and root translations are in ASF units, metres = value / `:units length`
//! (0.45 for CMU) × 0.0254; angles are degrees unless `:units angle rad` (stored as degrees).
//! How bones pose is in the forward kinematics (`asf_kinematics.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::asf_kinematics::AsfKinematics;
use super::read_text;
use crate::motion::error::{MotionError, Result};
use crate::motion::limits::MAX_JOINTS;

const METRES_PER_INCH: f64 = 0.0254;
/// Radians per degree.
pub(super) const DEG: f64 = std::f64::consts::PI / 180.0;

/// One ASF bone (`:bonedata` block).
#[derive(Debug, Clone, PartialEq)]
pub struct AsfBone {
    pub name: String,
    /// Unit vector from the bone's start to its end, world axes, at rest.
    pub direction: [f64; 3],
    /// Length in ASF units (see [`AsfSkeleton::metres_per_unit`]).
    pub length: f64,
    /// Angles of the bone's local frame, degrees, applied in `axis_order`.
    pub axis: [f64; 3],
    /// Order of the `axis` angles, upper case, e.g. `"XYZ"`.
    pub axis_order: String,
    /// Rotation channels in AMC order, lower case, e.g. `["rx", "ry", "rz"]`; may be empty.
    pub dof: Vec<String>,
    /// Index in [`AsfSkeleton::bones`] of the parent; `None` when the parent is the root.
    pub parent: Option<usize>,
}

/// The ASF `:root` section.
#[derive(Debug, Clone, PartialEq)]
pub struct AsfRoot {
    /// AMC channel order, upper case, e.g. `["TX", "TY", "TZ", "RX", "RY", "RZ"]`.
    pub order: Vec<String>,
    /// Order of the `orientation` angles, upper case, e.g. `"XYZ"`.
    pub axis_order: String,
    /// Rest position, ASF units; the TX/TY/TZ channels are added to it.
    pub position: [f64; 3],
    /// Rest orientation, degrees, applied in `axis_order`.
    pub orientation: [f64; 3],
}

/// A parsed ASF skeleton.
#[derive(Debug, Clone, PartialEq)]
pub struct AsfSkeleton {
    pub source: PathBuf,
    /// `:name` (e.g. `"VICON"`); empty when absent.
    pub name: String,
    /// `:units length`: ASF units per inch (0.45 for CMU; 1.0 when absent).
    pub length_unit: f64,
    /// `:units angle`: `true` for `deg` (the default), `false` for `rad`. Also the unit of AMC
    /// files that have neither `:DEGREES` nor `:RADIANS`.
    pub angle_degrees: bool,
    pub root: AsfRoot,
    /// Bones in file order.
    pub bones: Vec<AsfBone>,
}

impl AsfSkeleton {
    /// Metres per ASF length unit: 0.0254 / `length_unit`.
    pub fn metres_per_unit(&self) -> f64 {
        METRES_PER_INCH / self.length_unit
    }

    /// Index in `bones` of the bone called `name`.
    pub fn bone_index(&self, name: &str) -> Option<usize> {
        self.bones.iter().position(|b| b.name == name)
    }
}

/// The whitespace-separated tokens of an ASF/AMC line, without its `#` comment.
pub(super) fn line_tokens(raw: &str) -> Vec<&str> {
    raw.split('#')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect()
}

/// An error at `line` (1-based) of `path`.
pub(super) fn text_err(path: &Path, line: usize, msg: impl Into<String>) -> MotionError {
    MotionError::Text {
        path: path.to_path_buf(),
        line,
        msg: msg.into(),
    }
}

/// An error about the whole file `path`.
pub(super) fn invalid(path: &Path, msg: impl Into<String>) -> MotionError {
    MotionError::Invalid {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// A finite number, or an error naming the file and line.
pub(super) fn number(tok: &str, path: &Path, line: usize) -> Result<f64> {
    match tok.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(text_err(path, line, format!("value `{tok}` is not finite"))),
        Err(_) => Err(text_err(path, line, format!("`{tok}` is not a number"))),
    }
}

fn vec3(toks: &[&str], path: &Path, line: usize) -> Result<[f64; 3]> {
    match toks {
        [x, y, z] => Ok([
            number(x, path, line)?,
            number(y, path, line)?,
            number(z, path, line)?,
        ]),
        _ => Err(text_err(
            path,
            line,
            format!("expected 3 numbers, found {}", toks.len()),
        )),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Skip,
    Units,
    Root,
    BoneData,
    Hierarchy,
}

/// Reads an ASF skeleton (plain or `.gz`): angles in degrees, lengths in ASF units.
///
/// Errors (file and line): a malformed or non-finite number, a bone without a name, length or
/// a finite non-zero direction, a name used twice, more than [`MAX_JOINTS`] bones, an unknown
/// bone or a second parent in `:hierarchy`, a bone left out of it or a cycle, a bad axis order
/// or dof, a missing `:root` or `:hierarchy` section.
pub fn read_asf(path: &Path) -> Result<AsfSkeleton> {
    let text = read_text(path)?;
    let root = AsfRoot {
        order: vec![],
        axis_order: "XYZ".into(),
        position: [0.0; 3],
        orientation: [0.0; 3],
    };
    let mut sk = AsfSkeleton {
        source: path.to_path_buf(),
        name: String::new(),
        length_unit: 1.0,
        angle_degrees: true,
        root,
        bones: Vec::new(),
    };
    let (mut section, mut has_root) = (Section::Skip, false);
    let mut bone: Option<AsfBone> = None;
    let mut bone_lines = Vec::new(); // line of each bone's `begin`
    let mut hierarchy: Option<Vec<(usize, Vec<String>)>> = None;

    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |msg: String| text_err(path, line, msg);
        let toks = line_tokens(raw);
        let Some(&first) = toks.first() else { continue };
        let mut rest = &toks[..];
        if let Some(kw) = first.strip_prefix(':') {
            if bone.is_some() {
                return Err(err(format!("`{first}` inside a bone block")));
            }
            rest = &toks[1..];
            section = match kw.to_ascii_lowercase().as_str() {
                "name" => {
                    sk.name = rest.join(" ");
                    Section::Skip
                }
                "units" => Section::Units,
                "root" => {
                    has_root = true;
                    Section::Root
                }
                "bonedata" => Section::BoneData,
                "hierarchy" => {
                    if hierarchy.is_none() {
                        hierarchy = Some(Vec::new());
                    }
                    Section::Hierarchy
                }
                _ => Section::Skip, // :version, :documentation, :bodyweight, unknown
            };
            if section != Section::Units {
                continue;
            }
        }
        let Some(key) = rest.first().map(|t| t.to_ascii_lowercase()) else {
            continue;
        };
        let args = &rest[1..];
        match section {
            Section::Skip => {}
            Section::Units => {
                for pair in rest.chunks(2) {
                    let [unit, value] = pair else {
                        return Err(err("`:units` expects `name value` pairs".into()));
                    };
                    match (
                        unit.to_ascii_lowercase().as_str(),
                        value.to_ascii_lowercase().as_str(),
                    ) {
                        ("length", _) => sk.length_unit = number(value, path, line)?,
                        ("angle", "deg" | "degree" | "degrees") => sk.angle_degrees = true,
                        ("angle", "rad" | "radian" | "radians") => sk.angle_degrees = false,
                        ("angle", other) => {
                            return Err(err(format!("unknown angle unit `{other}`")));
                        }
                        _ => {} // mass: no effect on positions
                    }
                }
            }
            Section::Root => match key.as_str() {
                "order" => sk.root.order = args.iter().map(|t| t.to_ascii_uppercase()).collect(),
                "axis" => sk.root.axis_order = args.concat().to_ascii_uppercase(),
                "position" => sk.root.position = vec3(args, path, line)?,
                "orientation" => sk.root.orientation = vec3(args, path, line)?,
                _ => {}
            },
            Section::BoneData if key == "begin" => {
                if bone.is_some() {
                    return Err(err("`begin` inside a bone block".into()));
                }
                if sk.bones.len() >= MAX_JOINTS {
                    return Err(err(format!("more than {MAX_JOINTS} bones (the limit)")));
                }
                bone_lines.push(line);
                bone = Some(AsfBone {
                    name: String::new(),
                    direction: [0.0; 3],
                    length: -1.0, // "no length line"
                    axis: [0.0; 3],
                    axis_order: "XYZ".into(),
                    dof: Vec::new(),
                    parent: None,
                });
            }
            Section::BoneData if key == "end" => {
                sk.bones.push(
                    bone.take()
                        .ok_or_else(|| err("`end` without `begin`".into()))?,
                );
            }
            Section::BoneData => {
                let Some(b) = bone.as_mut() else {
                    return Err(err("bone data outside `begin`/`end`".into()));
                };
                match (key.as_str(), args.len()) {
                    ("name", 1) => b.name = args[0].to_string(),
                    ("direction", _) => b.direction = vec3(args, path, line)?,
                    ("length", 1) => b.length = number(args[0], path, line)?,
                    ("axis", 3 | 4) => {
                        b.axis = vec3(&args[..3], path, line)?;
                        b.axis_order = args.get(3).map_or("XYZ".into(), |o| o.to_ascii_uppercase());
                    }
                    ("dof", _) => b.dof = args.iter().map(|t| t.to_ascii_lowercase()).collect(),
                    ("name" | "length" | "axis", _) => {
                        return Err(err(format!("malformed `{key}` line")));
                    }
                    _ => {} // id, limits and their `(min max)` lines, bodymass, cofmass
                }
            }
            Section::Hierarchy if key == "begin" || key == "end" => {}
            Section::Hierarchy => {
                let names = rest.iter().map(|t| t.to_string()).collect();
                hierarchy.get_or_insert_default().push((line, names));
            }
        }
    }
    if bone.is_some() {
        let at = bone_lines.last().copied().unwrap_or(0);
        return Err(text_err(path, at, "bone block without `end`"));
    }
    let missing = |what: &str| MotionError::Missing {
        path: path.into(),
        what: what.into(),
    };
    if !has_root {
        return Err(missing("`:root` section"));
    }
    let hierarchy = hierarchy.ok_or_else(|| missing("`:hierarchy` section"))?;

    let to_degrees = |a: f64| if sk.angle_degrees { a } else { a / DEG };
    sk.root.orientation = sk.root.orientation.map(to_degrees);
    let mut by_name: HashMap<String, usize> = HashMap::with_capacity(sk.bones.len());
    for (k, &at) in bone_lines.iter().enumerate() {
        let b = &mut sk.bones[k];
        let norm = b.direction.iter().map(|v| v * v).sum::<f64>().sqrt();
        let problem = if b.name.is_empty() {
            "has no `name`"
        } else if b.name == "root" || by_name.insert(b.name.clone(), k).is_some() {
            "is named twice (or `root`)"
        } else if !(norm.is_finite() && norm >= 1e-12) {
            "has no, a zero or a huge `direction`"
        } else if b.length < 0.0 {
            "has no `length`"
        } else {
            b.direction = b.direction.map(|v| v / norm);
            b.axis = b.axis.map(to_degrees);
            continue;
        };
        return Err(text_err(path, at, format!("bone `{}` {problem}", b.name)));
    }

    let index = |name: &str, at: usize| {
        let found = by_name.get(name).copied();
        found.ok_or_else(|| text_err(path, at, format!("unknown bone `{name}` in :hierarchy")))
    };
    let mut parents: Vec<Option<Option<usize>>> = vec![None; sk.bones.len()];
    for (at, names) in &hierarchy {
        let parent = if names[0] == "root" {
            None
        } else {
            Some(index(&names[0], *at)?)
        };
        for child in &names[1..] {
            let c = index(child, *at)?;
            if parents[c].is_some() || parent == Some(c) {
                return Err(text_err(
                    path,
                    *at,
                    format!("bone `{child}` has a second parent"),
                ));
            }
            parents[c] = Some(parent);
        }
    }
    for (k, parent) in parents.into_iter().enumerate() {
        let Some(parent) = parent else {
            return Err(invalid(
                path,
                format!("bone `{}` is not in :hierarchy", sk.bones[k].name),
            ));
        };
        sk.bones[k].parent = parent;
    }
    AsfKinematics::new(&sk)?; // checks axis orders, dofs and the hierarchy
    Ok(sk)
}
