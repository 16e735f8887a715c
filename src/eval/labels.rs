//! Action and style accuracy: does a caption name the take's content and style label?
//!
//! One documented rule per label, applied to the caption lowercased with runs of whitespace
//! collapsed:
//! - **Bandai content** (`walk-back`, `wave-left-hand`, …): the caption contains the content's
//!   template phrase ([`bandai_content`]: "walks backwards", "waves the left hand"), with left
//!   and right swapped on a mirrored clip. `dance-long` and `dance-short` both read "dances".
//! - **Bandai style**: the caption contains the style's phrase ([`bandai_style`]: "looking
//!   tired"); for `normal`, the caption contains none of the style phrases.
//! - **CMU description** (`walk`, `run/jog`, `bend over, scoop up`): the caption contains a
//!   word that is one of the description's verbs ([`VERBS`]) or starts with it when the verb has
//!   3+ letters ("walks", "walking" for `walk`). A description without such a verb
//!   (`swordplay`) has no action label. CMU trials have no style label.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::motion::import::captions::{
    BANDAI_STYLE_PHRASES, VERBS, bandai_content, bandai_style, mirror_caption,
};

/// The labels of one clip, from its corpus manifest entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClipLabels {
    /// Bandai content label (`walk-back`).
    pub content: Option<String>,
    /// Bandai style label (`tired`).
    pub style: Option<String>,
    /// CMU trial description (`run/jog`).
    pub description: Option<String>,
    /// Left/right mirrored copy: the content phrase is mirrored too.
    pub mirrored: bool,
}

impl ClipLabels {
    /// From a manifest entry's `labels` map (`content`, `style`, `description`).
    pub fn from_manifest(labels: &BTreeMap<String, String>, mirrored: bool) -> Self {
        Self {
            content: labels.get("content").cloned(),
            style: labels.get("style").cloned(),
            description: labels.get("description").cloned(),
            mirrored,
        }
    }
}

fn clean(text: &str) -> String {
    text.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `caption` names the clip's action; `None` when the clip has no usable action label.
pub fn names_action(caption: &str, labels: &ClipLabels) -> Option<bool> {
    let caption = clean(caption);
    if let Some(content) = &labels.content {
        let phrase = bandai_content(content)?;
        let phrase = if labels.mirrored {
            mirror_caption(phrase)
        } else {
            phrase.to_string()
        };
        return Some(caption.contains(&phrase));
    }
    let description = labels.description.as_deref()?.to_lowercase();
    let verbs: Vec<&str> = description
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| VERBS.contains(w))
        .collect();
    if verbs.is_empty() {
        return None;
    }
    let words: Vec<&str> = caption
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .collect();
    Some(words.iter().any(|w| {
        verbs
            .iter()
            .any(|v| *w == *v || (v.len() >= 3 && w.starts_with(v)))
    }))
}

/// Whether `caption` names the clip's style; `None` when the clip has no known style label.
pub fn names_style(caption: &str, labels: &ClipLabels) -> Option<bool> {
    let phrase = bandai_style(labels.style.as_deref()?)?;
    let caption = clean(caption);
    Some(if phrase.is_empty() {
        !BANDAI_STYLE_PHRASES.iter().any(|p| caption.contains(p))
    } else {
        caption.contains(phrase)
    })
}

/// A fraction with its counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Accuracy {
    pub correct: usize,
    /// Clips with a label of this kind.
    pub n: usize,
}

impl Accuracy {
    /// `correct / n`, `None` when no clip has the label.
    pub fn value(&self) -> Option<f64> {
        (self.n > 0).then(|| self.correct as f64 / self.n as f64)
    }

    /// Counts `rule`'s verdicts over (caption, labels) pairs, skipping clips without the label.
    pub fn count<'a>(
        items: impl IntoIterator<Item = (&'a str, &'a ClipLabels)>,
        rule: fn(&str, &ClipLabels) -> Option<bool>,
    ) -> Self {
        let mut a = Self::default();
        for (caption, labels) in items {
            if let Some(ok) = rule(caption, labels) {
                a.n += 1;
                a.correct += ok as usize;
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::import::captions::{bandai_captions, cmu_sentence};

    fn bandai(content: &str, style: &str, mirrored: bool) -> ClipLabels {
        ClipLabels {
            content: Some(content.into()),
            style: Some(style.into()),
            description: None,
            mirrored,
        }
    }

    fn cmu(description: &str) -> ClipLabels {
        ClipLabels {
            description: Some(description.into()),
            ..Default::default()
        }
    }

    #[test]
    fn every_template_names_its_own_labels_and_no_other() {
        let contents = [
            "walk",
            "run",
            "dash",
            "walk-back",
            "walk-left",
            "walk-right",
            "bow",
            "bye",
            "guide",
            "byebye",
            "respond",
            "call",
            "punch",
            "kick",
            "slash",
            "dance-short",
            "walk-turn-left",
            "walk-turn-right",
            "wave-both-hands",
            "wave-left-hand",
            "wave-right-hand",
            "raise-up-both-hands",
            "raise-up-left-hand",
            "raise-up-right-hand",
        ];
        let styles = [
            "normal",
            "happy",
            "sad",
            "angry",
            "proud",
            "not-confident",
            "masculinity",
            "feminine",
            "childish",
            "old",
            "tired",
            "active",
            "musical",
            "giant",
            "chimpira",
            "elderly",
            "exhausted",
            "youthful",
            "masculine",
        ];
        for c in contents {
            for s in styles {
                for mirrored in [false, true] {
                    for text in bandai_captions(c, s).unwrap() {
                        let text = if mirrored {
                            mirror_caption(&text)
                        } else {
                            text
                        };
                        let own = bandai(c, s, mirrored);
                        assert_eq!(names_action(&text, &own), Some(true), "{text} / {c}");
                        assert_eq!(names_style(&text, &own), Some(true), "{text} / {s}");
                        for other in contents.iter().filter(|o| **o != c) {
                            let l = bandai(other, s, mirrored);
                            assert_eq!(names_action(&text, &l), Some(false), "{text} / {other}");
                        }
                        for other in styles.iter().filter(|o| bandai_style(o) != bandai_style(s)) {
                            let l = bandai(c, other, mirrored);
                            assert_eq!(names_style(&text, &l), Some(false), "{text} / {other}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn mirrored_clips_swap_the_side_and_cmu_uses_the_description_verbs() {
        let l = bandai("wave-left-hand", "normal", true);
        assert_eq!(
            names_action("a person waves the right hand.", &l),
            Some(true)
        );
        assert_eq!(
            names_action("a person waves the left hand.", &l),
            Some(false)
        );
        assert_eq!(names_action("A  person WALKS.", &cmu("walk")), Some(true));
        assert_eq!(
            names_action("someone walks forward.", &cmu("walk")),
            Some(true)
        );
        assert_eq!(
            names_action("a person runs forward.", &cmu("run/jog")),
            Some(true)
        );
        assert_eq!(
            names_action("a person is jogging", &cmu("run/jog")),
            Some(true)
        );
        assert_eq!(
            names_action("a person walks.", &cmu("run/jog")),
            Some(false)
        );
        assert_eq!(names_action("a person bows.", &cmu("swordplay")), None);
        assert_eq!(
            names_action(&cmu_sentence("punch/strike"), &cmu("punch/strike")),
            Some(true)
        );
        assert_eq!(names_style("a person walks.", &cmu("walk")), None);
        let acc = Accuracy::count(
            [
                ("a person walks.", &cmu("walk")),
                ("a person bows.", &cmu("walk")),
                ("x", &cmu("swordplay")),
            ],
            names_action,
        );
        assert_eq!((acc.correct, acc.n), (1, 2));
        assert_eq!(acc.value(), Some(0.5));
    }
}
