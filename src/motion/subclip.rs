//! Sub-clips of a HumanML3D clip: a caption with a time range (`caption#tokens#start#end`,
//! start/end in seconds, not both 0) describes only that part of the clip, and the field's
//! loaders make it a clip of its own. The id follows MotionGPT's `mGPT/data/humanml/dataset_m2t.py`
//! (`Text2MotionDatasetM2T`: `"%s_%f_%f" % (name, f_tag, to_tag)`, frames
//! `motion[int(f_tag*20) : int(to_tag*20)]`), so predictions written by either can be joined.

use std::ops::Range;

use super::layout::FPS;

/// The id of the sub-clip of clip `clip` from `start` to `end` seconds: `012314_1.500000_4.000000`.
pub fn sub_clip_id(clip: &str, start: f64, end: f64) -> String {
    format!("{clip}_{start:.6}_{end:.6}")
}

/// The clip id and the range in seconds of a sub-clip id ([`sub_clip_id`]); `None` when `id`
/// does not end in two `_`-separated numbers with six decimals each.
pub fn parse_sub_clip_id(id: &str) -> Option<(&str, f64, f64)> {
    let (rest, end) = id.rsplit_once('_')?;
    let (clip, start) = rest.rsplit_once('_')?;
    let number = |s: &str| {
        let (whole, frac) = s.split_once('.')?;
        (!whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && frac.len() == 6
            && frac.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse::<f64>().ok())
        .flatten()
    };
    Some((clip, number(start)?, number(end)?)).filter(|(c, _, _)| !c.is_empty())
}

/// The frames at 20 fps of a range in seconds, as the reference slices them
/// (`int(start*20) : int(end*20)` in float64, as Python computes it; clamped to `0..frames` as
/// Python slicing is).
pub fn frames_of(start: f64, end: f64, frames: usize) -> Range<usize> {
    let fps = f64::from(FPS);
    let a = ((start * fps) as usize).min(frames);
    let b = ((end * fps) as usize).min(frames).max(a);
    a..b
}

/// The sub-clip ids of clip `clip` with captions `captions`: one per distinct time range, in
/// caption order; none for captions of the whole clip.
pub fn sub_clip_ids(clip: &str, captions: &[super::Caption]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in captions.iter().filter(|c| !c.is_whole_clip()) {
        let id = sub_clip_id(clip, c.start_secs, c.end_secs);
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

/// The captions of `captions` (clip `clip`'s) that describe sub-clip `sub`.
pub fn captions_of<'a>(
    clip: &'a str,
    sub: &'a str,
    captions: &'a [super::Caption],
) -> impl Iterator<Item = &'a super::Caption> + 'a {
    captions
        .iter()
        .filter(move |c| !c.is_whole_clip() && sub_clip_id(clip, c.start_secs, c.end_secs) == sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_clip_ids_round_trip_and_ordinary_ids_are_not_sub_clips() {
        let id = sub_clip_id("012314", 1.5, 4.0);
        assert_eq!(id, "012314_1.500000_4.000000");
        assert_eq!(parse_sub_clip_id(&id), Some(("012314", 1.5, 4.0)));
        let id = sub_clip_id("dataset-2_walk_normal_001", 0.0, 2.25);
        assert_eq!(
            parse_sub_clip_id(&id),
            Some(("dataset-2_walk_normal_001", 0.0, 2.25))
        );
        for plain in [
            "012314",
            "dataset-2_walk_normal_001",
            "cmu_02_01",
            "a_1.5_2.0",
            "_0.000000_1.000000",
        ] {
            assert_eq!(parse_sub_clip_id(plain), None, "{plain}");
        }
        assert_eq!(frames_of(1.5, 4.0, 200), 30..80);
        assert_eq!(frames_of(1.5, 40.0, 50), 30..50);
        assert_eq!(frames_of(9.0, 10.0, 50), 50..50);
        // Python: int(float("0.35") * 20) == 7, int(float("1.15") * 20) == 23.
        assert_eq!(frames_of(0.35, 1.15, 100), 7..23);
    }
}
