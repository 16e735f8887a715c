//! BVH (Biovision Hierarchy) reader and forward kinematics.
//!
//! Any channel order and rotation order, position channels on any joint, end sites, frame time.
//! Rotations are Euler angles in degrees, composed in the order the channels are listed
//! (`Zrotation Xrotation Yrotation` → `R = Rz · Rx · Ry`, column vectors:
//! [`euler_intrinsic`](crate::motion::rotation::euler_intrinsic)), and a joint's world
//! transform is its parent's times `T(translation) · R`. What position channels mean differs
//! between exporters (added to the OFFSET, or replacing it), so the rig file says
//! ([`PositionChannels`]). No BVH crate on crates.io is maintained; the format is small.

use std::path::{Path, PathBuf};

use super::{Capture, read_text};
use crate::motion::error::{MotionError, Result};
use crate::motion::limits::{MAX_JOINTS, MAX_SOURCE_FRAMES, check_array_size};
use crate::motion::rotation::{IDENTITY, euler_intrinsic, mat_mul, mat_vec};

/// One animation channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Xposition,
    Yposition,
    Zposition,
    Xrotation,
    Yrotation,
    Zrotation,
}

impl Channel {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "xposition" => Self::Xposition,
            "yposition" => Self::Yposition,
            "zposition" => Self::Zposition,
            "xrotation" => Self::Xrotation,
            "yrotation" => Self::Yrotation,
            "zrotation" => Self::Zrotation,
            _ => return None,
        })
    }

    /// 0, 1, 2 for an X, Y, Z channel.
    fn axis(self) -> usize {
        match self {
            Self::Xposition | Self::Xrotation => 0,
            Self::Yposition | Self::Yrotation => 1,
            Self::Zposition | Self::Zrotation => 2,
        }
    }

    fn is_rotation(self) -> bool {
        matches!(self, Self::Xrotation | Self::Yrotation | Self::Zrotation)
    }
}

/// How a joint's position channels combine with its OFFSET.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PositionChannels {
    /// translation = OFFSET + channels (Blender, iClone).
    #[default]
    Add,
    /// translation = channels (MotionBuilder exports that key every joint's position).
    Replace,
}

/// A joint or end site of the hierarchy.
#[derive(Clone, Debug)]
pub struct BvhJoint {
    pub name: String,
    pub parent: Option<usize>,
    /// Rest offset from the parent, file units.
    pub offset: [f64; 3],
    pub channels: Vec<Channel>,
    /// Index of this joint's first channel in a frame's values.
    pub first_channel: usize,
}

/// A parsed BVH file.
#[derive(Clone, Debug)]
pub struct Bvh {
    pub source: PathBuf,
    /// Joints in file order (parents before children); end sites are named `<parent>_End`.
    pub joints: Vec<BvhJoint>,
    /// Seconds per frame as written in the header.
    pub frame_time: f64,
    pub frames: usize,
    /// `(frames, channels)` values, row-major.
    pub values: Vec<f64>,
    pub n_channels: usize,
}

struct Tokens<'a> {
    items: Vec<(&'a str, usize)>,
    pos: usize,
    path: &'a Path,
}

impl<'a> Tokens<'a> {
    fn next(&mut self) -> Result<(&'a str, usize)> {
        let t = self
            .items
            .get(self.pos)
            .copied()
            .ok_or_else(|| MotionError::Text {
                path: self.path.to_path_buf(),
                line: self.items.last().map_or(1, |t| t.1),
                msg: "file ends inside the HIERARCHY section".into(),
            })?;
        self.pos += 1;
        Ok(t)
    }

    fn expect(&mut self, want: &str) -> Result<usize> {
        let (t, line) = self.next()?;
        if !t.eq_ignore_ascii_case(want) {
            return Err(self.err(line, format!("expected `{want}`, found `{t}`")));
        }
        Ok(line)
    }

    /// A finite number (an OFFSET coordinate).
    fn number(&mut self) -> Result<f64> {
        let (t, line) = self.next()?;
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(self.err(line, format!("`{t}` is not a finite number"))),
            Err(_) => Err(self.err(line, format!("`{t}` is not a number"))),
        }
    }

    fn err(&self, line: usize, msg: String) -> MotionError {
        MotionError::Text {
            path: self.path.to_path_buf(),
            line,
            msg,
        }
    }
}

/// Reads a BVH file (plain or `.gz`).
pub fn read_bvh(path: &Path) -> Result<Bvh> {
    parse_bvh(&read_text(path)?, path)
}

/// Parses BVH text; `path` names it in errors (with 1-based line numbers).
///
/// Errors: a malformed hierarchy, an unknown channel, a non-finite OFFSET, more than
/// [`MAX_JOINTS`] joints and end sites (however deeply nested: the hierarchy is read with an
/// explicit stack), a `Frames`/`Frame Time` header missing or not a positive number, more than
/// [`MAX_SOURCE_FRAMES`] frames or channel values or positions past
/// [`MAX_ARRAY_BYTES`](crate::motion::limits::MAX_ARRAY_BYTES), a data
/// line with the wrong number of values or a non-number, fewer data lines than `Frames`
/// (truncated file), NaN/infinite values (with the frame). Memory is never reserved beyond what
/// the text can hold, whatever the header declares.
pub fn parse_bvh(text: &str, path: &Path) -> Result<Bvh> {
    let motion_line = text
        .lines()
        .position(|l| l.trim().eq_ignore_ascii_case("MOTION"))
        .ok_or_else(|| MotionError::Invalid {
            path: path.to_path_buf(),
            msg: "no MOTION section (truncated or not a BVH file)".into(),
        })?;
    let mut tokens = Tokens {
        items: text
            .lines()
            .take(motion_line)
            .enumerate()
            .flat_map(|(i, l)| l.split_whitespace().map(move |t| (t, i + 1)))
            .collect(),
        pos: 0,
        path,
    };
    tokens.expect("HIERARCHY")?;
    let mut joints = Vec::new();
    let mut n_channels = 0;
    let (kw, line) = tokens.next()?;
    if !kw.eq_ignore_ascii_case("ROOT") {
        return Err(tokens.err(line, format!("expected `ROOT`, found `{kw}`")));
    }
    parse_hierarchy(&mut tokens, &mut joints, &mut n_channels)?;
    if let Some(&(t, line)) = tokens.items.get(tokens.pos) {
        return Err(tokens.err(line, format!("unexpected `{t}` after the root joint")));
    }

    // MOTION section.
    let mut lines = text.lines().enumerate().skip(motion_line + 1);
    let mut header = |key: &str| -> Result<(String, usize)> {
        let (i, l) = lines.next().ok_or_else(|| MotionError::Text {
            path: path.to_path_buf(),
            line: motion_line + 1,
            msg: format!("missing `{key}` line after MOTION"),
        })?;
        let value = l
            .trim()
            .strip_prefix(key)
            .ok_or_else(|| MotionError::Text {
                path: path.to_path_buf(),
                line: i + 1,
                msg: format!("expected `{key}`"),
            })?;
        Ok((value.trim().to_string(), i + 1))
    };
    let (frames_s, frames_line) = header("Frames:")?;
    let frames: usize = frames_s.parse().map_err(|_| MotionError::Text {
        path: path.to_path_buf(),
        line: frames_line,
        msg: format!("frame count `{frames_s}` is not a whole number"),
    })?;
    if frames > MAX_SOURCE_FRAMES {
        return Err(MotionError::Text {
            path: path.to_path_buf(),
            line: frames_line,
            msg: format!("{frames} frames: more than the limit of {MAX_SOURCE_FRAMES}"),
        });
    }
    let n_values = frames.saturating_mul(n_channels);
    check_array_size(path, "BVH channel values (frames × channels)", n_values, 8)?;
    let n_positions = frames.saturating_mul(joints.len());
    check_array_size(path, "joint positions (frames × joints)", n_positions, 24)?;
    let (ft_s, ft_line) = header("Frame Time:")?;
    let frame_time: f64 = ft_s
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .ok_or_else(|| MotionError::Text {
            path: path.to_path_buf(),
            line: ft_line,
            msg: format!("frame time `{ft_s}` is not a positive number of seconds"),
        })?;
    // Each value takes at least two bytes of text ("0 "): never reserve more than that.
    let mut values = Vec::with_capacity(n_values.min(text.len() / 2 + 1));
    let mut read = 0usize;
    let mut last_line = ft_line;
    for (i, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        if read == frames {
            return Err(MotionError::Text {
                path: path.to_path_buf(),
                line: i + 1,
                msg: format!("more data lines than the {frames} frames the header declares"),
            });
        }
        let before = values.len();
        for tok in l.split_whitespace() {
            let v: f64 = tok.parse().map_err(|_| MotionError::Text {
                path: path.to_path_buf(),
                line: i + 1,
                msg: format!("`{tok}` is not a number"),
            })?;
            if !v.is_finite() {
                return Err(MotionError::NonFinite {
                    path: path.to_path_buf(),
                    frame: read,
                    index: values.len() - before,
                    value: v,
                });
            }
            values.push(v);
        }
        let got = values.len() - before;
        if got != n_channels {
            return Err(MotionError::Text {
                path: path.to_path_buf(),
                line: i + 1,
                msg: format!(
                    "frame {read} has {got} values, the hierarchy declares {n_channels} channels"
                ),
            });
        }
        read += 1;
        last_line = i + 1;
    }
    if read < frames {
        return Err(MotionError::Text {
            path: path.to_path_buf(),
            line: last_line,
            msg: format!("truncated: header declares {frames} frames, file has {read}"),
        });
    }
    Ok(Bvh {
        source: path.to_path_buf(),
        joints,
        frame_time,
        frames,
        values,
        n_channels,
    })
}

/// Parses the hierarchy after the `ROOT` keyword up to the root's closing brace, appending
/// joints and end sites in file order. Open joints are kept on an explicit stack (no recursion),
/// and more than [`MAX_JOINTS`] joints and end sites is an error.
fn parse_hierarchy(
    tokens: &mut Tokens,
    joints: &mut Vec<BvhJoint>,
    n_channels: &mut usize,
) -> Result<()> {
    let mut open = vec![open_joint(tokens, None, joints, n_channels)?];
    while let Some(&current) = open.last() {
        let (t, line) = tokens.next()?;
        match t {
            "}" => {
                open.pop();
            }
            t if t.eq_ignore_ascii_case("JOINT") => {
                open.push(open_joint(tokens, Some(current), joints, n_channels)?);
            }
            t if t.eq_ignore_ascii_case("End") => {
                check_joint_count(tokens, joints, line)?;
                tokens.expect("Site")?;
                tokens.expect("{")?;
                tokens.expect("OFFSET")?;
                let offset = [tokens.number()?, tokens.number()?, tokens.number()?];
                tokens.expect("}")?;
                joints.push(BvhJoint {
                    name: format!("{}_End", joints[current].name),
                    parent: Some(current),
                    offset,
                    channels: Vec::new(),
                    first_channel: *n_channels,
                });
            }
            t => {
                let name = &joints[current].name;
                return Err(tokens.err(line, format!("unexpected `{t}` in joint `{name}`")));
            }
        }
    }
    Ok(())
}

/// Errors when the hierarchy already has [`MAX_JOINTS`] joints and end sites.
fn check_joint_count(tokens: &Tokens, joints: &[BvhJoint], line: usize) -> Result<()> {
    if joints.len() >= MAX_JOINTS {
        return Err(tokens.err(
            line,
            format!("more than {MAX_JOINTS} joints and end sites (the limit)"),
        ));
    }
    Ok(())
}

/// Parses `NAME { OFFSET x y z CHANNELS n ...` after a ROOT/JOINT keyword, appends the joint
/// and returns its index; its children and closing brace are left to [`parse_hierarchy`].
fn open_joint(
    tokens: &mut Tokens,
    parent: Option<usize>,
    joints: &mut Vec<BvhJoint>,
    n_channels: &mut usize,
) -> Result<usize> {
    let (name, line) = tokens.next()?;
    check_joint_count(tokens, joints, line)?;
    tokens.expect("{")?;
    tokens.expect("OFFSET")?;
    let offset = [tokens.number()?, tokens.number()?, tokens.number()?];
    tokens.expect("CHANNELS")?;
    let (n_s, line) = tokens.next()?;
    let n: usize = n_s
        .parse()
        .map_err(|_| tokens.err(line, format!("channel count `{n_s}` is not a number")))?;
    // Each channel is a token of the file, so `n` bounds nothing: reserve the six that exist.
    let mut channels = Vec::with_capacity(n.min(6));
    for _ in 0..n {
        let (c, line) = tokens.next()?;
        channels.push(
            Channel::parse(c).ok_or_else(|| tokens.err(line, format!("unknown channel `{c}`")))?,
        );
    }
    joints.push(BvhJoint {
        name: name.to_string(),
        parent,
        offset,
        first_channel: *n_channels,
        channels,
    });
    *n_channels += n;
    Ok(joints.len() - 1)
}

impl Bvh {
    /// Frames per second from the header, or `fps_override` when the header lies.
    pub fn fps(&self, fps_override: Option<f64>) -> f64 {
        fps_override.unwrap_or(1.0 / self.frame_time)
    }

    /// World positions of every joint and end site, in metres (`metres_per_unit` × file units).
    pub fn forward_kinematics(
        &self,
        metres_per_unit: f64,
        position_channels: PositionChannels,
        fps_override: Option<f64>,
    ) -> Capture {
        let nj = self.joints.len();
        let mut positions = Vec::with_capacity(self.frames * nj);
        let mut rot = vec![IDENTITY; nj];
        let mut pos = vec![[0.0f64; 3]; nj];
        for f in 0..self.frames {
            let row = &self.values[f * self.n_channels..(f + 1) * self.n_channels];
            for (j, joint) in self.joints.iter().enumerate() {
                let values = &row[joint.first_channel..][..joint.channels.len()];
                let channels = || joint.channels.iter().zip(values);
                let mut t = joint.offset;
                let mut replaced = false;
                for (ch, &v) in channels().filter(|(ch, _)| !ch.is_rotation()) {
                    if position_channels == PositionChannels::Replace && !replaced {
                        t = [0.0; 3];
                        replaced = true;
                    }
                    t[ch.axis()] += v;
                }
                let r = euler_intrinsic(
                    channels()
                        .filter(|(ch, _)| ch.is_rotation())
                        .map(|(ch, &v)| (ch.axis(), v.to_radians())),
                );
                let (prot, ppos) = match joint.parent {
                    Some(p) => (rot[p], pos[p]),
                    None => (IDENTITY, [0.0; 3]),
                };
                let d = mat_vec(&prot, t);
                pos[j] = [ppos[0] + d[0], ppos[1] + d[1], ppos[2] + d[2]];
                rot[j] = mat_mul(&prot, &r);
            }
            positions.extend(pos.iter().map(|p| p.map(|v| v * metres_per_unit)));
        }
        Capture {
            source: self.source.clone(),
            joint_names: self.joints.iter().map(|j| j.name.clone()).collect(),
            fps: self.fps(fps_override),
            frames: self.frames,
            positions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n  JOINT Knee\n  {\n    OFFSET 0 -40 0\n    CHANNELS 3 Zrotation Xrotation Yrotation\n    End Site\n    {\n      OFFSET 0 -40 0\n    }\n  }\n}\nMOTION\nFrames: 2\nFrame Time: 0.0333333\n0 90 0 0 0 0 0 0 0\n10 90 0 0 0 0 90 0 0\n";

    #[test]
    fn parses_and_runs_forward_kinematics() {
        let p = Path::new("tiny.bvh");
        let b = parse_bvh(TINY, p).unwrap();
        assert_eq!(b.joints.len(), 3);
        assert_eq!(b.joints[2].name, "Knee_End");
        assert_eq!(b.n_channels, 9);
        let c = b.forward_kinematics(0.01, PositionChannels::Add, None);
        assert!((c.fps - 30.0).abs() < 1e-3);
        // Frame 0: straight leg down from 0.9 m.
        let f0 = c.frame(0);
        assert!((f0[2][1] - 0.1).abs() < 1e-9, "{:?}", f0[2]);
        // Frame 1: knee bent 90° about Z: the shin points along +X.
        let f1 = c.frame(1);
        assert!((f1[1][0] - 0.1).abs() < 1e-9 && (f1[1][1] - 0.5).abs() < 1e-9);
        assert!(
            (f1[2][0] - 0.5).abs() < 1e-9 && (f1[2][1] - 0.5).abs() < 1e-9,
            "{:?}",
            f1[2]
        );
    }

    #[test]
    fn bad_files_name_file_and_line() {
        let p = Path::new("bad.bvh");
        let truncated = TINY.rsplit_once("10 90").unwrap().0;
        let e = parse_bvh(truncated, p).unwrap_err().to_string();
        assert!(e.contains("bad.bvh:19") && e.contains("truncated"), "{e}");
        let wrong = TINY.replace("10 90 0 0 0 0 90 0 0", "10 90 0 0 0 0 90 0");
        let e = parse_bvh(&wrong, p).unwrap_err().to_string();
        assert!(e.contains("bad.bvh:20") && e.contains("8 values"), "{e}");
        let nan = TINY.replace("10 90 0 0 0 0 90 0 0", "10 90 0 0 0 0 nan 0 0");
        let e = parse_bvh(&nan, p).unwrap_err().to_string();
        assert!(e.contains("frame 1") && e.contains("not finite"), "{e}");
        let chan = TINY.replace(
            "Zrotation Xrotation Yrotation\n    End",
            "Zrotation Xrotation Wrotation\n    End",
        );
        let e = parse_bvh(&chan, p).unwrap_err().to_string();
        assert!(e.contains("bad.bvh:9") && e.contains("Wrotation"), "{e}");
        let e = parse_bvh("HIERARCHY\nROOT Hips\n{\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no MOTION"), "{e}");
    }
}
