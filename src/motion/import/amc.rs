//! Reader for Acclaim AMC motions, the motion half of the CMU Graphics Lab Motion Capture
//! Database's ASF/AMC pairs, posed by forward kinematics on their ASF skeleton
//! ([`super::asf`]).
//!
//! An **AMC** file has a header (`#` comments, `:FULLY-SPECIFIED`, `:DEGREES` or `:RADIANS`),
//! then frames: a line holding only the frame number, then one line per joint, `name v1 v2
//! ...`, one value per channel of the ASF root `order` or the bone's `dof` list. Root
//! translations are in ASF units. AMC files carry no frame rate: see [`AMC_FPS`].

use std::collections::HashMap;
use std::path::Path;

use super::asf::{AsfSkeleton, DEG, invalid, number, text_err};
use super::asf_kinematics::AsfKinematics;
use super::{Capture, read_text};
use crate::motion::error::Result;
use crate::motion::limits::{MAX_SOURCE_FRAMES, check_array_size};

/// Frames per second of AMC data. AMC files have no frame-rate field; the CMU database
/// captured at 120 fps (`cmu_descriptions.csv` lists 120 for every trial stored here).
pub const AMC_FPS: f64 = 120.0;

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
    let mut values = vec![0.0; rig.n_values()];
    let mut seen = vec![false; n_joints];
    let mut current: Option<(u64, usize)> = None; // (frame number, its line)
    let (mut positions, mut frames, mut last_line) = (Vec::new(), 0usize, 0);
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |msg: String| text_err(path, line, msg);
        let toks = super::asf::line_tokens(raw);
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
    use std::path::PathBuf;

    use super::*;
    use crate::motion::import::asf::read_asf;

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
