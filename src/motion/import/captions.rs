//! Captions for the demo corpus: Bandai content/style labels through sentence templates, and CMU
//! trial descriptions turned into a sentence (and kept verbatim).

use serde::{Deserialize, Serialize};

/// Where a caption comes from, so training can weight it and evaluation can filter it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptionKind {
    /// Written by a person as a sentence (HumanML3D / KIT-ML texts).
    HumanSentence,
    /// A person's short description, verbatim (CMU's trial descriptions).
    HumanTerse,
    /// Generated from labels or a description by a template.
    Template,
}

/// What a Bandai content label shows, as a verb phrase for "a person ..." (`walk-back` →
/// "walks backwards"); `None` for an unknown label.
pub fn bandai_content(content: &str) -> Option<&'static str> {
    Some(match content {
        "walk" => "walks forward",
        "run" => "runs forward",
        "dash" => "dashes forward at full speed",
        "walk-back" => "walks backwards",
        "walk-left" => "walks sideways to the left",
        "walk-right" => "walks sideways to the right",
        "bow" => "bows",
        "bye" => "waves goodbye with one hand",
        "byebye" => "waves goodbye with both hands",
        "guide" => "gestures with an arm to show someone the way",
        "respond" => "responds to someone with a gesture",
        "call" => "calls someone over with a wave of the hand",
        "punch" => "throws punches",
        "kick" => "kicks",
        "slash" => "slashes with a sword",
        "dance-long" | "dance-short" => "dances",
        "walk-turn-left" => "walks and turns left",
        "walk-turn-right" => "walks and turns right",
        "wave-both-hands" => "waves both hands",
        "wave-left-hand" => "waves the left hand",
        "wave-right-hand" => "waves the right hand",
        "raise-up-both-hands" => "raises both hands",
        "raise-up-left-hand" => "raises the left hand",
        "raise-up-right-hand" => "raises the right hand",
        _ => return None,
    })
}

/// How a Bandai style label reads, as an adverbial phrase ("" for normal); `None` for an
/// unknown label.
pub fn bandai_style(style: &str) -> Option<&'static str> {
    Some(match style {
        "normal" => "",
        "happy" => "happily",
        "sad" => "looking sad",
        "angry" => "angrily",
        "proud" => "proudly, chest out",
        "not-confident" => "timidly, without confidence",
        "masculinity" | "masculine" => "in a masculine way",
        "feminine" => "in a feminine way",
        "childish" => "like a child",
        "old" => "like an old person",
        "elderly" => "like an elderly person",
        "tired" => "looking tired",
        "exhausted" => "looking exhausted",
        "active" => "energetically",
        "youthful" => "in a youthful, lively way",
        "musical" => "theatrically, as if in a musical",
        "giant" => "with heavy, lumbering steps like a giant",
        "chimpira" => "with the swagger of a street thug",
        _ => return None,
    })
}

/// Three template sentences for a Bandai take (e.g. `walk-back` + `tired` → "a person walks
/// backwards, looking tired."). `None` for labels without a phrase.
pub fn bandai_captions(content: &str, style: &str) -> Option<Vec<String>> {
    let c = bandai_content(content)?;
    let s = bandai_style(style)?;
    let join = |subject: &str, sep: &str| {
        if s.is_empty() {
            format!("{subject} {c}.")
        } else {
            format!("{subject} {c}{sep}{s}.")
        }
    };
    Some(vec![
        join("a person", ", "),
        join("someone", " "),
        join("the person", ", "),
    ])
}

/// A Bandai take's first caption ([`bandai_captions`]: "a person walks forward, happily.") with
/// its style `from` replaced by style `to` ("a person walks forward, angrily."; normal has no
/// style clause). `None` for a label without a phrase or a caption not of that form.
pub fn swap_bandai_style(caption: &str, from: &str, to: &str) -> Option<String> {
    let (old, new) = (bandai_style(from)?, bandai_style(to)?);
    let body = caption.trim().strip_suffix('.')?;
    let base = if old.is_empty() {
        body
    } else {
        body.strip_suffix(old)?.strip_suffix(", ")?
    };
    if !base.starts_with("a person ") {
        return None;
    }
    Some(if new.is_empty() {
        format!("{base}.")
    } else {
        format!("{base}, {new}.")
    })
}

/// Every style phrase [`bandai_style`] can give (normal's empty one left out).
pub const BANDAI_STYLE_PHRASES: [&str; 17] = [
    "happily",
    "looking sad",
    "angrily",
    "proudly, chest out",
    "timidly, without confidence",
    "in a masculine way",
    "in a feminine way",
    "like a child",
    "like an old person",
    "like an elderly person",
    "looking tired",
    "looking exhausted",
    "energetically",
    "in a youthful, lively way",
    "theatrically, as if in a musical",
    "with heavy, lumbering steps like a giant",
    "with the swagger of a street thug",
];

/// The verbs a CMU description's items start with, in their base form.
pub const VERBS: [&str; 30] = [
    "balance", "bend", "climb", "dangle", "descend", "dribble", "drop", "go", "hang", "hold",
    "jog", "jump", "lean", "lift", "lower", "pull", "punch", "rise", "rock", "run", "scoop",
    "shoot", "sit", "strike", "swing", "turn", "walk", "wash", "kick", "dance",
];

fn third_person(verb: &str) -> String {
    if verb == "go" {
        "goes".into()
    } else if verb.ends_with("sh") || verb.ends_with("ch") || verb.ends_with('s') {
        format!("{verb}es")
    } else {
        format!("{verb}s")
    }
}

/// `climb` → `climbs`, `punch/strike` → `punches or strikes`; other phrases unchanged.
fn conjugate(item: &str) -> String {
    let item = item.trim();
    if item.contains('/') && item.split('/').all(|w| VERBS.contains(&w.trim())) {
        return item
            .split('/')
            .map(|w| third_person(w.trim()))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    match item.split_once(' ') {
        Some((first, rest)) if VERBS.contains(&first) => format!("{} {rest}", third_person(first)),
        None if VERBS.contains(&item) => third_person(item),
        _ => item.to_string(),
    }
}

/// A sentence from a CMU trial description: "playground - climb, hang, swing" → "a person on a
/// playground climbs, hangs, swings."; "bend over, scoop up" → "a person bends over, scoops up.".
pub fn cmu_sentence(description: &str) -> String {
    let d = description.trim().to_lowercase();
    let (topic, rest) = match d.split_once(" - ") {
        Some((t, r)) => (Some(t.trim().to_string()), r.trim().to_string()),
        None => (None, d.clone()),
    };
    let items: Vec<String> = rest.split(',').map(conjugate).collect();
    let verbal = items
        .iter()
        .all(|i| i.split(' ').next().is_some_and(|w| w.ends_with('s')));
    let body = items.join(", ");
    let prefix = match topic.as_deref() {
        Some("playground") => "a person on a playground".to_string(),
        Some("basketball") => "a person playing basketball".to_string(),
        Some("dance") => "a person dancing ballet".to_string(),
        Some(t) => format!("a person ({t})"),
        None => "a person".to_string(),
    };
    match (topic.is_some(), verbal) {
        (_, true) => format!("{prefix} {body}."),
        (true, false) => format!("{prefix}: {body}."),
        (false, false) => format!("a person does a {body}."),
    }
}

/// Swaps "left" and "right" in a caption (for mirrored motion).
pub fn mirror_caption(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            let (core, tail) = w.split_at(w.trim_end_matches(|c: char| !c.is_alphanumeric()).len());
            let swapped = match core {
                "left" => "right",
                "right" => "left",
                "Left" => "Right",
                "Right" => "Left",
                other => other,
            };
            format!("{swapped}{tail}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Plain lowercase word tokens of a caption (the corpus's POS field).
pub fn plain_tokens(text: &str) -> String {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_caption_swaps_its_style_clause() {
        let c = &bandai_captions("walk-right", "proud").unwrap()[0];
        assert_eq!(
            swap_bandai_style(c, "proud", "tired").as_deref(),
            Some("a person walks sideways to the right, looking tired.")
        );
        assert_eq!(
            swap_bandai_style(c, "proud", "normal").as_deref(),
            Some("a person walks sideways to the right.")
        );
        let n = &bandai_captions("bow", "normal").unwrap()[0];
        assert_eq!(
            swap_bandai_style(n, "normal", "chimpira").as_deref(),
            Some("a person bows, with the swagger of a street thug.")
        );
        // The caption must carry the style it is said to have, in the first template.
        assert_eq!(swap_bandai_style(c, "tired", "happy"), None);
        assert_eq!(swap_bandai_style(c, "proud", "unknown"), None);
        let other = &bandai_captions("walk-right", "proud").unwrap()[1];
        assert_eq!(swap_bandai_style(other, "proud", "happy"), None);
    }

    #[test]
    fn templates_read_well() {
        let c = bandai_captions("walk-back", "tired").unwrap();
        assert_eq!(c[0], "a person walks backwards, looking tired.");
        assert_eq!(
            bandai_captions("bow", "normal").unwrap()[1],
            "someone bows."
        );
        assert!(bandai_captions("kick", "chimpira").unwrap()[0].contains("street thug"));
        assert_eq!(
            cmu_sentence("playground - climb, hang, swing"),
            "a person on a playground climbs, hangs, swings."
        );
        assert_eq!(
            cmu_sentence("bend over, scoop up, rise, lift arm"),
            "a person bends over, scoops up, rises, lifts arm."
        );
        assert_eq!(cmu_sentence("punch/strike"), "a person punches or strikes.");
        assert_eq!(cmu_sentence("walk"), "a person walks.");
        assert_eq!(cmu_sentence("slow walk"), "a person does a slow walk.");
        assert_eq!(
            cmu_sentence("basketball - forward dribble, 90-degree left turns"),
            "a person playing basketball: forward dribble, 90-degree left turns."
        );
        assert_eq!(
            mirror_caption("waves the left hand, then right."),
            "waves the right hand, then left."
        );
        assert_eq!(
            plain_tokens("A person walks, looking tired."),
            "a person walks looking tired"
        );
    }
}
