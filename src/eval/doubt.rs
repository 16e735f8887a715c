//! Whether a caption should be shown as a guess, and why: the signals a speaker or annotator
//! needs before trusting it. Three independent checks, each measured on the demo corpus in the
//! captioner's model card:
//! - the model's own token probabilities ([`Confidence::unsure`]: a chosen word was less likely
//!   than not);
//! - the caption does not name the action of the nearest training take
//!   ([`Neighbour::agrees`]), or of most of the [`NEIGHBOURS`] nearest;
//! - the motion is out of domain: farther from every training take than 98 % of the training
//!   takes are from theirs ([`Neighbour::far`]).
//!
//! When all three neighbour checks fail at once ([`shows_nearest`]) the caption shown is the
//! nearest training take's, not the captioner's ([`shown`]). Measured with the shipped captioner
//! (model card, *Confidence*): on the 5 validation and test clips where that happens, the
//! captioner's own caption named the action once (a CMU jump, inside a playground caption) and
//! the nearest take's twice (two runs the captioner called dashes); one check alone is no
//! reason to overrule it (of the 17 test captions the nearest take disagrees with, 12 name the
//! action).

use serde::Serialize;

use super::nearest::{NearestIndex, Neighbour};
use crate::lm::captioner::Confidence;

/// One reason to doubt a caption.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Doubt {
    /// The least likely chosen token had probability `min_prob` < [`Confidence::UNSURE_BELOW`].
    Guessing { min_prob: f32 },
    /// The nearest training take (`id`) is captioned `caption`, a different action.
    DisagreesWithNearest { id: String, caption: String },
    /// Only `agree` of the `of` nearest training takes with an action label name the caption's
    /// action (fewer than half).
    FewNeighboursAgree { agree: usize, of: usize },
    /// Distance `distance` to the nearest training take is above the index's `far_distance`.
    OutOfDomain { distance: f32, far_distance: f32 },
    /// The captioner's own caption, `caption`, failed every neighbour check ([`shows_nearest`]):
    /// the nearest training take's caption is shown instead ([`shown`]).
    ShowsNearest { caption: String },
    /// A released model's caption ([`crate::lm::released`]): no nearest-take index checks it and
    /// its token probabilities are not calibrated here; `min_prob` is its least likely token's.
    Unrated { min_prob: f32 },
}

impl std::fmt::Display for Doubt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Guessing { min_prob } => {
                write!(f, "the model is guessing (a word at p = {min_prob:.2})")
            }
            Self::DisagreesWithNearest { caption, .. } => {
                write!(f, "the nearest training take says \"{caption}\"")
            }
            Self::FewNeighboursAgree { agree, of } => write!(
                f,
                "only {agree} of the {of} nearest training takes name this action"
            ),
            Self::OutOfDomain {
                distance,
                far_distance,
            } => write!(
                f,
                "unlike the training takes (distance {distance:.1} > {far_distance:.1})"
            ),
            Self::ShowsNearest { caption } => write!(
                f,
                "the captioner said \"{caption}\", which the nearest training take and most of \
                 the {NEIGHBOURS} nearest contradict: the nearest take's caption is shown"
            ),
            Self::Unrated { min_prob } => write!(
                f,
                "a released model, not checked here (no nearest-take index; least token p = \
                 {min_prob:.2}): read it as its guess"
            ),
        }
    }
}

/// How many nearest training takes [`doubts`] reads: a caption that fewer than half of them (with
/// an action label) agree with is shown as unsure. Chosen on the validation split of the corpus
/// the shipped captioner trained on (Bandai-Namco and CMU, 338 clips), where it turned 7 of the
/// 10 wrong captions shown as sure into unsure ones and 3 of 320 right ones (3 nearest: 7 and
/// 19; model card, *Confidence*).
pub const NEIGHBOURS: usize = 5;

/// The [`NEIGHBOURS`] nearest training takes that [`doubts`] reads for a motion given as raw
/// `(T, 263)` features, nearest first; empty without an index or frames.
pub fn neighbours(index: Option<&NearestIndex>, features: &[f32]) -> Vec<Neighbour> {
    index.map_or_else(Vec::new, |i| i.nearest(features, NEIGHBOURS, None))
}

/// Every reason to doubt `caption`, given the model's `confidence` and, when the captioner has a
/// nearest-take index, the motion's `neighbours`: its [`NEIGHBOURS`] nearest training takes,
/// nearest first (empty: no index). Empty: shown as sure.
pub fn doubts(caption: &str, confidence: &Confidence, neighbours: &[Neighbour]) -> Vec<Doubt> {
    let mut out = Vec::new();
    if confidence.unsure() {
        out.push(Doubt::Guessing {
            min_prob: confidence.min_prob,
        });
    }
    out.extend(neighbour_doubts(caption, neighbours));
    out
}

/// The neighbour checks of [`doubts`] alone (a caption not written by the model has no token
/// probabilities to check).
fn neighbour_doubts(caption: &str, neighbours: &[Neighbour]) -> Vec<Doubt> {
    let mut out = Vec::new();
    if let Some(n) = neighbours.first() {
        if n.agrees(caption) == Some(false) {
            out.push(Doubt::DisagreesWithNearest {
                id: n.take.id.clone(),
                caption: n.take.caption.clone(),
            });
        }
        let votes: Vec<bool> = neighbours
            .iter()
            .filter_map(|n| n.agrees(caption))
            .collect();
        let agree = votes.iter().filter(|v| **v).count();
        if votes.len() > 1 && 2 * agree < votes.len() {
            out.push(Doubt::FewNeighboursAgree {
                agree,
                of: votes.len(),
            });
        }
        if n.far() {
            out.push(Doubt::OutOfDomain {
                distance: n.distance,
                far_distance: n.far_distance,
            });
        }
    }
    out
}

/// Whether the nearest training take's caption should be shown instead of the captioner's,
/// given the doubts of the captioner's caption ([`doubts`]): the motion is out of domain, the
/// nearest take names another action, and fewer than half of the [`NEIGHBOURS`] nearest name the
/// caption's (see the module's notes for the measurement).
pub fn shows_nearest(doubts: &[Doubt]) -> bool {
    let has = |f: fn(&Doubt) -> bool| doubts.iter().any(f);
    has(|d| matches!(d, Doubt::OutOfDomain { .. }))
        && has(|d| matches!(d, Doubt::DisagreesWithNearest { .. }))
        && has(|d| matches!(d, Doubt::FewNeighboursAgree { .. }))
}

/// A caption as the studio and the CLI show it, with its doubts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shown {
    pub text: String,
    /// Empty: shown as sure. Holds [`Doubt::ShowsNearest`] (first) when `text` is the nearest
    /// training take's caption.
    pub doubts: Vec<Doubt>,
}

impl Shown {
    /// The captioner's own caption when the nearest take's is shown.
    pub fn replaced(&self) -> Option<&str> {
        self.doubts.iter().find_map(|d| match d {
            Doubt::ShowsNearest { caption } => Some(caption.as_str()),
            _ => None,
        })
    }
}

/// The caption to show for the captioner's `caption` (with its `confidence`) and the motion's
/// `neighbours` (nearest first; empty: no index), with its doubts: the captioner's caption and
/// [`doubts`], or, when `fallback` and [`shows_nearest`], the nearest take's caption with
/// [`Doubt::ShowsNearest`] and the neighbour checks of that caption (still out of domain: never
/// shown as sure).
pub fn shown(
    caption: &str,
    confidence: &Confidence,
    neighbours: &[Neighbour],
    fallback: bool,
) -> Shown {
    let own = doubts(caption, confidence, neighbours);
    match neighbours.first() {
        Some(n) if fallback && shows_nearest(&own) => {
            let mut d = vec![Doubt::ShowsNearest {
                caption: caption.to_string(),
            }];
            d.extend(neighbour_doubts(&n.take.caption, neighbours));
            Shown {
                text: n.take.caption.clone(),
                doubts: d,
            }
        }
        _ => Shown {
            text: caption.to_string(),
            doubts: own,
        },
    }
}

/// One row of the calibration table: clips shown one way, and how many of them name the right
/// action ([`names_action`](super::labels::names_action); clips without an action label count
/// in `clips` only).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CalibrationRow {
    pub shown: String,
    pub clips: usize,
    pub action_right: usize,
    pub action_wrong: usize,
}

/// How well the doubts separate right from wrong captions: rows for clips shown as sure, as
/// unsure, and unsure for each reason (a clip with two reasons counts in both), from each clip's
/// doubts and whether its caption names its action.
pub fn calibration<'a>(
    items: impl IntoIterator<Item = (&'a [Doubt], Option<bool>)>,
) -> Vec<CalibrationRow> {
    let names = [
        "sure".to_string(),
        "unsure (any reason)".into(),
        "  guessing (least token p < 0.5)".into(),
        "  disagrees with the nearest training take".into(),
        format!("  fewer than half of the {NEIGHBOURS} nearest training takes agree"),
        "  out of domain (far from every training take)".into(),
        "  the nearest take's caption shown (all three neighbour checks failed)".into(),
    ];
    let mut rows: Vec<CalibrationRow> = names
        .into_iter()
        .map(|shown| CalibrationRow {
            shown,
            ..Default::default()
        })
        .collect();
    for (doubts, right) in items {
        let hit = |r: &mut CalibrationRow| {
            r.clips += 1;
            match right {
                Some(true) => r.action_right += 1,
                Some(false) => r.action_wrong += 1,
                None => {}
            }
        };
        if doubts.is_empty() {
            hit(&mut rows[0]);
            continue;
        }
        hit(&mut rows[1]);
        for (k, row) in rows[2..].iter_mut().enumerate() {
            let has = doubts.iter().any(|d| {
                matches!(
                    (k, d),
                    (0, Doubt::Guessing { .. })
                        | (1, Doubt::DisagreesWithNearest { .. })
                        | (2, Doubt::FewNeighboursAgree { .. })
                        | (3, Doubt::OutOfDomain { .. })
                        | (4, Doubt::ShowsNearest { .. })
                )
            });
            if has {
                hit(row);
            }
        }
    }
    rows
}

/// The calibration table as Markdown.
///
/// When no clip carries an action label (a plain HumanML3D folder), the right/wrong columns
/// would be all zeros: the table says so instead of showing them.
pub fn calibration_markdown(rows: &[CalibrationRow]) -> String {
    if rows.iter().all(|r| r.action_right + r.action_wrong == 0) {
        let mut s = String::from(
            "no clip has an action label, so right and wrong cannot be counted\n\n| shown as | clips |\n|---|---|\n",
        );
        for r in rows {
            s.push_str(&format!(
                "| {} | {} |\n",
                r.shown.replace("  ", "&nbsp;&nbsp;"),
                r.clips
            ));
        }
        return s;
    }
    let mut s =
        String::from("| shown as | clips | action right | action wrong |\n|---|---|---|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.shown.replace("  ", "&nbsp;&nbsp;"),
            r.clips,
            r.action_right,
            r.action_wrong
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::eval::nearest::IndexedTake;

    fn walk(distance: f32) -> Neighbour {
        Neighbour {
            take: IndexedTake {
                id: "dataset-2_walk_normal_003".into(),
                caption: "a person walks forward.".into(),
                labels: BTreeMap::from([
                    ("content".to_string(), "walk".to_string()),
                    ("style".to_string(), "normal".to_string()),
                ]),
                mirrored: false,
                source: "bandai/dataset-2/dataset-2_walk_normal_003.bvh.gz".into(),
            },
            distance,
            far_distance: 30.0,
        }
    }

    #[test]
    fn each_check_adds_its_reason() {
        let sure = Confidence {
            mean_logprob: -0.05,
            min_prob: 0.9,
            tokens: 6,
        };
        assert!(doubts("someone walks forward.", &sure, &[walk(5.0)]).is_empty());
        assert!(doubts("someone walks forward.", &sure, &[]).is_empty());
        let d = doubts("a person runs forward.", &sure, &[walk(5.0)]);
        assert!(
            matches!(&d[..], [Doubt::DisagreesWithNearest { caption, .. }] if caption == "a person walks forward.")
        );
        let d = doubts("a person walks forward.", &sure, &[walk(45.0)]);
        assert_eq!(
            d,
            vec![Doubt::OutOfDomain {
                distance: 45.0,
                far_distance: 30.0
            }]
        );
        let guess = Confidence {
            min_prob: 0.3,
            ..sure
        };
        let d = doubts("a person runs forward.", &guess, &[walk(45.0)]);
        assert_eq!(d.len(), 3);
        assert_eq!(
            d[0].to_string(),
            "the model is guessing (a word at p = 0.30)"
        );
        assert_eq!(
            d[1].to_string(),
            "the nearest training take says \"a person walks forward.\""
        );
    }

    /// The nearest agrees but most of the five do not: unsure, with the count; three of five
    /// agreeing, or takes without an action label, do not count against it.
    #[test]
    fn most_of_the_nearest_takes_must_agree() {
        let sure = Confidence {
            mean_logprob: -0.05,
            min_prob: 0.9,
            tokens: 6,
        };
        let run = |d: f32| {
            let mut n = walk(d);
            n.take.caption = "a person runs forward.".into();
            n.take.labels.insert("content".into(), "run".into());
            n
        };
        let mut unlabelled = walk(9.0);
        unlabelled.take.labels.clear();
        let two_of_five = [walk(5.0), run(6.0), walk(7.0), run(8.0), run(9.0)];
        let d = doubts("a person walks forward.", &sure, &two_of_five);
        assert_eq!(d, vec![Doubt::FewNeighboursAgree { agree: 2, of: 5 }]);
        assert_eq!(
            d[0].to_string(),
            "only 2 of the 5 nearest training takes name this action"
        );
        let three_of_five = [walk(5.0), run(6.0), walk(7.0), walk(8.0), run(9.0)];
        assert!(doubts("a person walks forward.", &sure, &three_of_five).is_empty());
        let two_of_four = [walk(5.0), run(6.0), walk(7.0), run(8.0), unlabelled];
        assert!(doubts("a person walks forward.", &sure, &two_of_four).is_empty());
        // The nearest disagrees and so do the rest: both reasons.
        let d = doubts(
            "a person walks forward.",
            &sure,
            &[run(5.0), run(6.0), walk(7.0)],
        );
        assert!(matches!(
            &d[..],
            [
                Doubt::DisagreesWithNearest { .. },
                Doubt::FewNeighboursAgree { agree: 1, of: 3 }
            ]
        ));
    }

    /// Only when the motion is out of domain, the nearest take disagrees and so do most of the
    /// five is the nearest take's caption shown, saying what the captioner said.
    #[test]
    fn the_nearest_caption_is_shown_only_when_every_neighbour_check_fails() {
        let sure = Confidence {
            mean_logprob: -0.05,
            min_prob: 0.9,
            tokens: 6,
        };
        let far = [walk(45.0), walk(46.0), walk(47.0)];
        let s = shown("a person runs forward.", &sure, &far, true);
        assert_eq!(s.text, "a person walks forward.");
        assert_eq!(s.replaced(), Some("a person runs forward."));
        assert_eq!(
            s.doubts,
            vec![
                Doubt::ShowsNearest {
                    caption: "a person runs forward.".into()
                },
                Doubt::OutOfDomain {
                    distance: 45.0,
                    far_distance: 30.0
                }
            ]
        );
        assert!(
            s.doubts[0]
                .to_string()
                .contains("\"a person runs forward.\"")
        );
        // Without the fallback, in domain, or with most of the five agreeing: the captioner's.
        let own = shown("a person runs forward.", &sure, &far, false);
        assert_eq!(own.text, "a person runs forward.");
        assert_eq!(own.replaced(), None);
        assert_eq!(own.doubts.len(), 3);
        let near = [walk(5.0), walk(6.0), walk(7.0)];
        let s = shown("a person runs forward.", &sure, &near, true);
        assert_eq!(s.text, "a person runs forward.");
        assert_eq!(s.doubts.len(), 2);
        let mut run = walk(46.0);
        run.take.caption = "a person runs forward.".into();
        run.take.labels.insert("content".into(), "run".into());
        let s = shown(
            "a person runs forward.",
            &sure,
            &[walk(45.0), run.clone(), run],
            true,
        );
        assert_eq!(s.text, "a person runs forward.");
        assert!(s.replaced().is_none());
        assert!(
            shown("a person runs forward.", &sure, &[], true)
                .doubts
                .is_empty()
        );
        // A guessed caption that is replaced: the shown caption is not the model's guess.
        let guess = Confidence {
            min_prob: 0.2,
            ..sure
        };
        let s = shown("a person runs forward.", &guess, &far, true);
        assert!(!s.doubts.iter().any(|d| matches!(d, Doubt::Guessing { .. })));
        let rows = calibration([(&s.doubts[..], Some(true))]);
        assert_eq!(rows.last().unwrap().clips, 1);
    }

    #[test]
    fn calibration_counts_each_reason() {
        let g = Doubt::Guessing { min_prob: 0.2 };
        let d = Doubt::DisagreesWithNearest {
            id: "x".into(),
            caption: "a person walks forward.".into(),
        };
        let both = [g.clone(), d.clone()];
        let rows = calibration([
            (&[][..], Some(true)),
            (&[][..], Some(false)),
            (&[][..], None),
            (&both[..], Some(false)),
            (&[d][..], Some(false)),
            (&[g][..], Some(true)),
        ]);
        let got: Vec<(usize, usize, usize)> = rows
            .iter()
            .map(|r| (r.clips, r.action_right, r.action_wrong))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, 1, 1),
                (3, 1, 2),
                (2, 1, 1),
                (2, 0, 2),
                (0, 0, 0),
                (0, 0, 0),
                (0, 0, 0)
            ]
        );
        assert!(calibration_markdown(&rows).contains("| sure | 3 | 1 | 1 |"));
        // No clip with an action label: counts of clips only, and the reason why.
        let unlabelled = calibration([(&[][..], None), (&both[..], None)]);
        let md = calibration_markdown(&unlabelled);
        assert!(md.starts_with("no clip has an action label"), "{md}");
        assert!(md.contains("| sure | 1 |\n"), "{md}");
        assert!(!md.contains("action right"), "{md}");
    }
}
