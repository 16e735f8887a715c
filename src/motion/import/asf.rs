//! Reader for Acclaim ASF/AMC motion capture, the format of the CMU Graphics Lab Motion Capture
//! Database, with our own forward kinematics.
//!
//! The Acclaim format (Acclaim Entertainment's "ASF/AMC file format specification", as
//! documented with the CMU database) splits a capture in two text files:
//! - **ASF** (skeleton): `:units`, `:root` (`order`, `axis`, `position`, `orientation`),
//!   `:bonedata` (`begin`/`end` blocks with `name`, `direction`, `length`, `axis`, `dof`,
//!   `limits`) and `:hierarchy` (`begin`/`end`, lines `parent child1 child2 ...`). `:version`,
//!   `:documentation`, `:bodyweight` and limit values are read past.
//! - **AMC** (motion): a header (`#` comments, `:FULLY-SPECIFIED`, `:DEGREES` or `:RADIANS`),
//!   then frames: a line holding only the frame number, then one line per joint, `name v1 v2
//!   ...`, one value per channel of the root `order` or the bone's `dof` list.
//!
//! Conventions (column vectors; checked on the CMU files, see `shared/NOTES.md`):
//! - Rotations are per-axis rotations composed in the order given, the first applied first:
//!   axis order `XYZ` (or dof order `rx ry rz`) is `Rz · Ry · Rx`
//!   ([`euler_extrinsic`](crate::motion::rotation::euler_extrinsic)). The CMU documentation
//!   writes the same product in row-vector order.
//! - A bone's local rotation is `C · M · C⁻¹`: `C` from the bone's `axis` angles in its axis
//!   order, `M` from the frame's dof values in dof order (absent axes are zero, no dofs gives
//!   `M = I`). The root's is `C · M · C⁻¹` with `C` from the ASF root `orientation` (root `axis`
//!   order) and `M` from the RX/RY/RZ channels in `order`.
//! - A bone's global rotation `G` is its parent's `G` (the root's for top bones) times its local
//!   rotation; its end is `start + G · (direction · length)`, `start` being the parent's end or
//!   the root position. `direction` is in world axes at rest, so the rest pose has `G = I`.
//! - CMU data is Y up; lengths and root translations are in ASF units: metres = value /
//!   `:units length` (0.45 for CMU) × 0.0254. AMC files carry no frame rate: see [`AMC_FPS`].

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{Capture, read_text};
use crate::motion::error::{MotionError, Result};
use crate::motion::limits::{MAX_JOINTS, MAX_SOURCE_FRAMES, check_array_size};
use crate::motion::rotation::{IDENTITY, Mat3, conjugate, euler_extrinsic, mat_mul, mat_vec};

/// Frames per second of AMC data. AMC files have no frame-rate field; the CMU database
/// captured at 120 fps (`cmu_descriptions.csv` lists 120 for every trial stored here).
pub const AMC_FPS: f64 = 120.0;

const METRES_PER_INCH: f64 = 0.0254;
const DEG: f64 = std::f64::consts::PI / 180.0;

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

fn text_err(path: &Path, line: usize, msg: impl Into<String>) -> MotionError {
    MotionError::Text {
        path: path.to_path_buf(),
        line,
        msg: msg.into(),
    }
}

fn invalid(path: &Path, msg: impl Into<String>) -> MotionError {
    MotionError::Invalid {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// A finite number, or an error naming the file and line.
fn number(tok: &str, path: &Path, line: usize) -> Result<f64> {
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

fn axis_index(c: u8) -> Option<usize> {
    match c.to_ascii_lowercase() {
        b'x' => Some(0),
        b'y' => Some(1),
        b'z' => Some(2),
        _ => None,
    }
}

/// A permutation of `XYZ` as axis indices.
fn parse_order(s: &str) -> Option<[usize; 3]> {
    match *s.as_bytes() {
        [a, b, c] => {
            let o = [axis_index(a)?, axis_index(b)?, axis_index(c)?];
            (o[0] != o[1] && o[1] != o[2] && o[0] != o[2]).then_some(o)
        }
        _ => None,
    }
}

/// The skeleton checked and compiled for forward kinematics.
struct AsfKinematics {
    /// (is a rotation, axis) per root channel.
    root_channels: Vec<(bool, usize)>,
    root_position: [f64; 3],
    c_root: Mat3,
    /// Per bone: dof axes, `C`, bone vector in metres, parent.
    axes: Vec<Vec<usize>>,
    c: Vec<Mat3>,
    vectors: Vec<[f64; 3]>,
    parents: Vec<Option<usize>>,
    /// Bone indices, parents before children.
    order: Vec<usize>,
    /// Joint `j` (0 = root, `b + 1` = bone `b`) owns AMC values `offsets[j]..offsets[j + 1]`.
    offsets: Vec<usize>,
    scale: f64,
}

impl AsfKinematics {
    fn new(sk: &AsfSkeleton) -> Result<Self> {
        let bad = |msg: String| invalid(&sk.source, msg);
        let euler = |order: &str, deg: [f64; 3], who: &str| {
            let o =
                parse_order(order).ok_or_else(|| bad(format!("{who}: axis order `{order}`")))?;
            Ok::<_, MotionError>(euler_extrinsic(o.map(|a| (a, deg[a] * DEG))))
        };
        let scale = sk.metres_per_unit();
        if !scale.is_finite() || scale <= 0.0 {
            return Err(bad(format!(
                "length unit {} is not positive",
                sk.length_unit
            )));
        }
        let mut root_channels: Vec<(bool, usize)> = Vec::new();
        for ch in &sk.root.order {
            let parsed = match *ch.to_ascii_uppercase().as_bytes() {
                [k @ (b'T' | b'R'), a] => axis_index(a).map(|a| (k == b'R', a)),
                _ => None,
            };
            match parsed {
                Some(p) if !root_channels.contains(&p) => root_channels.push(p),
                _ => return Err(bad(format!("root: bad or repeated channel `{ch}`"))),
            }
        }
        let mut offsets = vec![0, root_channels.len()];
        let (mut axes, mut c) = (Vec::new(), Vec::new());
        for bone in &sk.bones {
            let mut dof_axes: Vec<usize> = Vec::new();
            for d in &bone.dof {
                match *d.as_bytes() {
                    [b'r' | b'R', a] if axis_index(a).is_some_and(|a| !dof_axes.contains(&a)) => {
                        dof_axes.extend(axis_index(a));
                    }
                    _ => {
                        return Err(bad(format!(
                            "bone `{}`: bad or repeated dof `{d}`",
                            bone.name
                        )));
                    }
                }
            }
            offsets.push(offsets[offsets.len() - 1] + dof_axes.len());
            axes.push(dof_axes);
            c.push(euler(&bone.axis_order, bone.axis, &bone.name)?);
        }
        let parents: Vec<Option<usize>> = sk.bones.iter().map(|b| b.parent).collect();
        let mut children = vec![Vec::new(); parents.len()];
        let mut order = Vec::with_capacity(parents.len());
        for (b, parent) in parents.iter().enumerate() {
            match *parent {
                None => order.push(b),
                Some(p) if p < parents.len() => children[p].push(b),
                Some(_) => {} // a bad index: left out of `order`, reported below
            }
        }
        let mut next = 0;
        while let Some(&p) = order.get(next) {
            order.extend_from_slice(&children[p]);
            next += 1;
        }
        if order.len() != parents.len() {
            return Err(bad(
                "bone hierarchy has a cycle or a bad parent index".into()
            ));
        }
        Ok(AsfKinematics {
            root_channels,
            root_position: sk.root.position,
            c_root: euler(&sk.root.axis_order, sk.root.orientation, "root")?,
            axes,
            c,
            vectors: sk
                .bones
                .iter()
                .map(|b| b.direction.map(|d| d * b.length * scale))
                .collect(),
            parents,
            order,
            offsets,
            scale,
        })
    }

    /// AMC values of joint `j` (0 = root, `b + 1` = bone `b`).
    fn channels(&self, j: usize) -> Range<usize> {
        self.offsets[j]..self.offsets[j + 1]
    }

    /// Appends the root position then every bone's end, metres, for one frame of AMC values
    /// (angles times `to_rad` are radians).
    fn pose(&self, values: &[f64], to_rad: f64, out: &mut Vec<[f64; 3]>) {
        let (mut t, mut steps) = (self.root_position, Vec::with_capacity(3));
        for (&(is_rotation, a), &v) in self.root_channels.iter().zip(values) {
            if is_rotation {
                steps.push((a, v * to_rad));
            } else {
                t[a] += v;
            }
        }
        let root = t.map(|x| x * self.scale);
        let g_root = conjugate(&self.c_root, &euler_extrinsic(steps));
        let n = self.axes.len();
        let (mut global, mut ends) = (vec![IDENTITY; n], vec![[0.0; 3]; n]);
        for &b in &self.order {
            let (g_parent, start) = match self.parents[b] {
                Some(p) => (global[p], ends[p]),
                None => (g_root, root),
            };
            let dofs = &values[self.channels(b + 1)];
            let m = euler_extrinsic(
                self.axes[b]
                    .iter()
                    .zip(dofs)
                    .map(|(&a, &v)| (a, v * to_rad)),
            );
            global[b] = mat_mul(&g_parent, &conjugate(&self.c[b], &m));
            let v = mat_vec(&global[b], self.vectors[b]);
            ends[b] = [0usize, 1, 2].map(|i| start[i] + v[i]);
        }
        out.push(root);
        out.extend_from_slice(&ends);
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
        let toks: Vec<&str> = raw
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
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
    AsfKinematics::new(&sk)?;
    Ok(sk)
}

/// Reads an AMC motion (plain or `.gz`) for `skeleton` and runs forward kinematics. Every frame
/// must give the root and every bone that has dofs, each once. Positions are metres, Y up (as
/// in the data), joint 0 the root, joint `k` the end of bone `k - 1`; fps is [`AMC_FPS`].
///
/// Errors (file and line): an unknown bone, a wrong value count, a repeated or missing bone in
/// a frame, a non-finite or malformed value, frame numbers out of sequence, a truncated last
/// frame, more than [`MAX_SOURCE_FRAMES`] frames or positions past the array limit.
pub fn read_amc(path: &Path, skeleton: &AsfSkeleton) -> Result<Capture> {
    let rig = AsfKinematics::new(skeleton)?;
    let text = read_text(path)?;
    let n_joints = skeleton.bones.len() + 1;
    let joint_name = |j: usize| {
        if j == 0 {
            "root"
        } else {
            skeleton.bones[j - 1].name.as_str()
        }
    };
    // The first joint with channels that the frame has not given.
    let absent = |seen: &[bool]| (0..n_joints).find(|&j| !seen[j] && !rig.channels(j).is_empty());

    let by_name: HashMap<&str, usize> = skeleton
        .bones
        .iter()
        .enumerate()
        .rev() // the first of two bones with one name wins, as in `bone_index`
        .map(|(b, bone)| (bone.name.as_str(), b + 1))
        .collect();
    // Forward kinematics appends `n_joints` positions per frame: stop at the limits first.
    let room_for_frame = |frames: usize, line: usize| -> Result<()> {
        if frames >= MAX_SOURCE_FRAMES {
            let msg = format!("more than {MAX_SOURCE_FRAMES} frames (the limit)");
            return Err(text_err(path, line, msg));
        }
        let positions = (frames + 1).saturating_mul(n_joints);
        check_array_size(path, "joint positions (frames × joints)", positions, 24)
    };
    let mut to_rad = if skeleton.angle_degrees { DEG } else { 1.0 };
    let mut values = vec![0.0; rig.offsets[n_joints]];
    let mut seen = vec![false; n_joints];
    let mut current: Option<(u64, usize)> = None; // (frame number, its line)
    let (mut positions, mut frames, mut last_line) = (Vec::new(), 0usize, 0);
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |msg: String| text_err(path, line, msg);
        let toks: Vec<&str> = raw
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let Some(&name) = toks.first() else { continue };
        last_line = line;
        if let Some(kw) = name.strip_prefix(':') {
            if current.is_some() {
                return Err(err(format!("`{name}` after the first frame")));
            }
            match kw.to_ascii_uppercase().as_str() {
                "DEGREES" => to_rad = DEG,
                "RADIANS" => to_rad = 1.0,
                _ => {} // :FULLY-SPECIFIED
            }
            continue;
        }
        if toks.len() == 1
            && let Ok(n) = name.parse::<u64>()
        {
            if let Some((prev, at)) = current {
                if prev.checked_add(1) != Some(n) {
                    return Err(err(format!("frame {n} follows frame {prev}")));
                }
                if let Some(j) = absent(&seen) {
                    let msg = format!("frame {prev} has no `{}` line", joint_name(j));
                    return Err(text_err(path, at, msg));
                }
                room_for_frame(frames, at)?;
                rig.pose(&values, to_rad, &mut positions);
                frames += 1;
            }
            current = Some((n, line));
            seen.fill(false);
            continue;
        }
        if current.is_none() {
            return Err(err(format!("`{name}` before the first frame number")));
        }
        let joint = match name {
            "root" => 0,
            _ => *by_name
                .get(name)
                .ok_or_else(|| err(format!("unknown bone `{name}`")))?,
        };
        let range = rig.channels(joint);
        if toks.len() - 1 != range.len() {
            let msg = format!(
                "`{name}` has {} values, the ASF gives it {}",
                toks.len() - 1,
                range.len()
            );
            return Err(err(msg));
        }
        if std::mem::replace(&mut seen[joint], true) {
            return Err(err(format!("`{name}` appears twice in one frame")));
        }
        for (slot, tok) in values[range].iter_mut().zip(&toks[1..]) {
            *slot = number(tok, path, line)?;
        }
    }
    let Some((last, _)) = current else {
        return Err(invalid(path, "no frames"));
    };
    if let Some(j) = absent(&seen) {
        let msg = format!(
            "file ends inside frame {last} (no `{}` line): truncated",
            joint_name(j)
        );
        return Err(text_err(path, last_line, msg));
    }
    room_for_frame(frames, last_line)?;
    rig.pose(&values, to_rad, &mut positions);
    frames += 1;
    let joint_names = (0..n_joints).map(|j| joint_name(j).to_string()).collect();
    Ok(Capture {
        source: path.to_path_buf(),
        joint_names,
        fps: AMC_FPS,
        frames,
        positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of CMU subject 02 (`02.asf`, `02_01.amc.gz`: in both data tiers).
    fn cmu(file: &str) -> PathBuf {
        crate::testdata::shared_data()
            .join("cmu/asfamc/02")
            .join(file)
    }

    #[test]
    fn cmu_02_01_forward_kinematics() {
        let sk = read_asf(&cmu("02.asf")).unwrap();
        assert_eq!(
            (sk.bones.len(), sk.length_unit, sk.angle_degrees),
            (30, 0.45, true)
        );
        assert_eq!(sk.root.order, ["TX", "TY", "TZ", "RX", "RY", "RZ"]);
        let lfoot = &sk.bones[sk.bone_index("lfoot").unwrap()];
        assert_eq!(lfoot.dof, ["rx", "rz"]);
        assert_eq!(lfoot.parent, sk.bone_index("ltibia"));
        assert_eq!(sk.bones[sk.bone_index("lhipjoint").unwrap()].parent, None);

        let amc = cmu("02_01.amc.gz");
        let cap = read_amc(&amc, &sk).unwrap();
        let text = read_text(&amc).unwrap();
        let counted = text
            .lines()
            .filter(|l| l.trim().parse::<u64>().is_ok())
            .count();
        assert_eq!((cap.frames, counted), (343, 343));
        let n = cap.joint_names.len();
        assert_eq!((n, cap.fps, cap.positions.len()), (31, AMC_FPS, 343 * 31));
        assert!(cap.positions.iter().flatten().all(|v| v.is_finite()));

        let j = |name: &str| cap.joint_names.iter().position(|s| s == name).unwrap();
        let frame = |f: usize| &cap.positions[f * n..(f + 1) * n];
        let mean_y = |joint: usize| {
            (0..cap.frames).map(|f| frame(f)[joint][1]).sum::<f64>() / cap.frames as f64
        };
        for side in ["l", "r"] {
            // tibia end = ankle, foot end = toe base, toes end = toe tip.
            let ankle = mean_y(j(&format!("{side}tibia")));
            let (base, tip) = (
                mean_y(j(&format!("{side}foot"))),
                mean_y(j(&format!("{side}toes"))),
            );
            assert!(
                base < ankle && tip < ankle,
                "{side}: toes {base} {tip}, ankle {ankle}"
            );
        }
        for f in 0..cap.frames {
            assert!(
                frame(f)[j("head")][1] > frame(f)[0][1] + 0.3,
                "frame {f}: head not above pelvis"
            );
        }
        // Height: top of the head above the lowest foot point, averaged over the walk.
        let feet = ["ltibia", "lfoot", "ltoes", "rtibia", "rfoot", "rtoes"].map(j);
        let height = (0..cap.frames)
            .map(|f| {
                frame(f)[j("head")][1]
                    - feet
                        .iter()
                        .map(|&k| frame(f)[k][1])
                        .fold(f64::INFINITY, f64::min)
            })
            .sum::<f64>()
            / cap.frames as f64;
        assert!((1.4..2.0).contains(&height), "height {height} m");
    }

    /// The first `lines` lines of 02_01 (CR dropped), each passed through `edit(line_no, text)`,
    /// written to a temporary `bad.amc`.
    fn excerpt(lines: usize, edit: impl Fn(usize, &str) -> String) -> (tempfile::TempDir, PathBuf) {
        let text = read_text(&cmu("02_01.amc.gz")).unwrap();
        let body: Vec<String> = text
            .lines()
            .take(lines)
            .enumerate()
            .map(|(i, l)| edit(i + 1, l))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.amc");
        std::fs::write(&path, body.join("\n") + "\n").unwrap();
        (dir, path)
    }

    #[test]
    fn malformed_amc_names_file_and_line() {
        let sk = read_asf(&cmu("02.asf")).unwrap();
        let text = read_text(&cmu("02_01.amc.gz")).unwrap();
        let bad = text.lines().position(|l| l.starts_with("lfemur ")).unwrap() + 1;
        assert!(bad < 34, "frame 1 is lines 4-33, frame 2 starts on line 34");
        let first_value = |value: &'static str| {
            move |i: usize, l: &str| {
                let mut toks: Vec<&str> = l.split_whitespace().collect();
                if i == bad {
                    toks[1] = value;
                }
                toks.join(" ")
            }
        };
        let read_err = |path: &Path| match read_amc(path, &sk) {
            Ok(_) => panic!("{} was read", path.display()),
            Err(e) => e.to_string(),
        };

        let (_dir, path) = excerpt(40, first_value("1.2.3x"));
        let msg = read_err(&path);
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(
            msg.contains(&format!(":{bad}:")) && msg.contains("1.2.3x"),
            "{msg}"
        );

        let (_dir, path) = excerpt(33, first_value("NaN"));
        let msg = read_err(&path);
        assert!(
            msg.contains(&format!(":{bad}:")) && msg.contains("not finite"),
            "{msg}"
        );

        // Unchanged, 40 lines end inside frame 2.
        let (_dir, path) = excerpt(40, |_, l| l.to_string());
        let msg = read_err(&path);
        assert!(msg.contains(":40:") && msg.contains("truncated"), "{msg}");

        let (_dir, path) = excerpt(63, |i, l| if i == 34 { "3".into() } else { l.to_string() });
        let msg = read_err(&path);
        assert!(
            msg.contains(":34:") && msg.contains("frame 3 follows frame 1"),
            "{msg}"
        );

        let (_dir, path) = excerpt(33, |i, l| {
            if i == bad {
                l.replacen("lfemur", "lfemurx", 1)
            } else {
                l.to_string()
            }
        });
        let msg = read_err(&path);
        assert!(
            msg.contains(&format!(":{bad}:")) && msg.contains("unknown bone `lfemurx`"),
            "{msg}"
        );

        let (_dir, path) = excerpt(33, |i, l| {
            if i == bad {
                format!("{l} 0")
            } else {
                l.to_string()
            }
        });
        assert!(read_err(&path).contains("has 4 values"));

        let (_dir, path) = excerpt(33, |_, l| l.to_string());
        let cap = read_amc(&path, &sk).unwrap();
        assert_eq!((cap.frames, cap.positions.len()), (1, 31));
    }
}
