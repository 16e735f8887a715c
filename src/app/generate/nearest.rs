//! The real clip a generated motion is compared with: the nearest training take that the
//! captioner's index ([`crate::eval::nearest`], the descriptor the retrieval baseline and the
//! confidence check use) finds when the round-trip caption of the whole generated clip is done.

use crate::app::caption::LiveCaption;
use crate::motion::Dataset;

/// The nearest real clip of a generated one.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct NearestReal {
    /// Its id in the open dataset.
    pub id: String,
    /// Distance in the index's component space.
    pub distance: f32,
    /// Farther than the index's out-of-domain threshold: no training take is like the motion.
    pub far: bool,
}

/// The nearest real clip of the generated clip `clip_id`, or why there is none to show yet: the
/// round-trip caption of the whole clip is not finished, the captioner has no nearest-take
/// index, or the open dataset (`None`: none open) does not hold the take.
pub(super) fn nearest_real_clip(
    live: &LiveCaption,
    clip_id: &str,
    dataset: Option<&Dataset>,
) -> Result<NearestReal, String> {
    let this = live
        .key
        .as_ref()
        .is_some_and(|k| k.clip == clip_id && k.whole);
    if !this || !live.done {
        return Err("waiting for the round-trip caption of the whole motion".into());
    }
    let Some(n) = &live.nearest else {
        return Err("the captioner has no nearest-take index (nearest.safetensors)".into());
    };
    let id = &n.take.id;
    match dataset {
        Some(ds) if ds.ids().binary_search(id).is_ok() => Ok(NearestReal {
            id: id.clone(),
            distance: n.distance,
            far: n.far(),
        }),
        Some(ds) => Err(format!(
            "the nearest training take, {id}, is not in {}",
            ds.root().display()
        )),
        None => Err(format!(
            "the nearest training take is {id}: open its dataset to compare"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::caption::CaptionKey;
    use crate::eval::nearest::{IndexedTake, Neighbour};

    /// Only for the finished caption of the whole generated clip, only with an index, and only
    /// when the open dataset holds the take; far takes are flagged.
    #[test]
    fn the_nearest_real_clip_is_offered_when_the_round_trip_is_done() {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
        let ds = Dataset::open(&demo).unwrap();
        let gen_id = "generated: a person bows";
        let mut live = LiveCaption::default();
        assert!(nearest_real_clip(&live, gen_id, Some(&ds)).is_err());
        live.key = Some(CaptionKey {
            clip: gen_id.into(),
            tokens: 0..5,
            whole: true,
        });
        live.done = true;
        let e = nearest_real_clip(&live, gen_id, Some(&ds)).unwrap_err();
        assert!(e.contains("index"), "{e}");
        let take = |id: &str| IndexedTake {
            id: id.into(),
            caption: "a person bows.".into(),
            labels: Default::default(),
            mirrored: false,
            source: String::new(),
        };
        live.nearest = Some(Neighbour {
            take: take("dataset-1_bow_giant_001"),
            distance: 12.0,
            far_distance: 49.0,
        });
        let n = nearest_real_clip(&live, gen_id, Some(&ds)).unwrap();
        assert_eq!(
            n,
            NearestReal {
                id: "dataset-1_bow_giant_001".into(),
                distance: 12.0,
                far: false
            }
        );
        // Another clip's caption, or one still streaming, says nothing about this one.
        assert!(nearest_real_clip(&live, "generated: other", Some(&ds)).is_err());
        live.done = false;
        assert!(nearest_real_clip(&live, gen_id, Some(&ds)).is_err());
        live.done = true;
        let e = nearest_real_clip(&live, gen_id, None).unwrap_err();
        assert!(e.contains("dataset-1_bow_giant_001"), "{e}");
        live.nearest.as_mut().unwrap().take = take("not-a-demo-clip");
        let e = nearest_real_clip(&live, gen_id, Some(&ds)).unwrap_err();
        assert!(e.contains("not-a-demo-clip") && e.contains("demo"), "{e}");
        live.nearest = Some(Neighbour {
            take: take("dataset-1_bow_giant_001"),
            distance: 60.0,
            far_distance: 49.0,
        });
        assert!(nearest_real_clip(&live, gen_id, Some(&ds)).unwrap().far);
    }
}
