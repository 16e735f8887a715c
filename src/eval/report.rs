//! The motion-to-text report: caption metrics over a split, for all references and per caption
//! kind (human sentence / human terse / template), each with its n, raw and normalized; and the
//! "GT" ceiling row, each reference scored against the others.

use serde::Serialize;

use std::collections::HashMap;

use super::bertscore::BertScorer;
use super::captions::{CaptionScores, CaptionSet, TextVariant, score_captions};
use super::labels::{Accuracy, ClipLabels, names_action, names_style};
use super::retrieval::{Evaluator, FIELD_REPEATS, MatchingScores, matching_scores};
use crate::motion::import::captions::CaptionKind;

/// One clip's generated caption and its references with their kinds.
#[derive(Clone, Debug, Serialize)]
pub struct ClipCaptions {
    pub id: String,
    pub prediction: String,
    pub references: Vec<(String, CaptionKind)>,
    /// The clip's content/style (or CMU description) labels, for action and style accuracy.
    #[serde(skip)]
    pub labels: ClipLabels,
}

/// One row of the report.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRow {
    /// `all`, `human_sentence`, `human_terse` or `template`.
    pub subset: String,
    pub scores: CaptionScores,
    /// BERTScore F1 (MiniLM-L6 variant, without and with idf), on the raw-text rows when a
    /// scorer was given.
    pub bertscore_f1: Option<f64>,
    pub bertscore_idf_f1: Option<f64>,
    /// R-Precision and MM-Dist of the predictions against their clips' motion (retrieval
    /// evaluator), on the raw-text rows when one was given and n ≥ 32.
    pub matching: Option<MatchingScores>,
    /// Does the caption name the clip's action / style label (`eval::labels`), over the clips
    /// of this row that carry such a label; on the raw-text rows.
    pub action_accuracy: Option<Accuracy>,
    pub style_accuracy: Option<Accuracy>,
}

/// The retrieval evaluator and the motion embeddings of the clips, by id.
pub struct RetrievalInput<'a> {
    pub evaluator: &'a Evaluator,
    pub motion: &'a HashMap<String, Vec<f32>>,
}

fn matching(
    sets: &[CaptionSet],
    r: &RetrievalInput,
) -> Result<Option<MatchingScores>, crate::lm::LmError> {
    let sets: Vec<&CaptionSet> = sets
        .iter()
        .filter(|s| r.motion.contains_key(&s.id))
        .collect();
    let texts: Vec<String> = sets.iter().map(|s| s.prediction.clone()).collect();
    let text = r.evaluator.embed_texts(&texts)?;
    let motion: Vec<Vec<f32>> = sets.iter().map(|s| r.motion[&s.id].clone()).collect();
    Ok(matching_scores(&text, &motion, FIELD_REPEATS, 0))
}

fn kind_name(k: CaptionKind) -> &'static str {
    match k {
        CaptionKind::HumanSentence => "human_sentence",
        CaptionKind::HumanTerse => "human_terse",
        CaptionKind::Template => "template",
    }
}

/// Caption sets of `clips` restricted to references of `kind` (all when `None`). With
/// `refs_only`, the first such reference is the prediction and the rest its references (clips
/// with fewer than two are left out): the ceiling the field reports as "GT".
pub fn sets_for(
    clips: &[ClipCaptions],
    kind: Option<CaptionKind>,
    refs_only: bool,
) -> Vec<CaptionSet> {
    clips
        .iter()
        .filter_map(|c| {
            let refs: Vec<String> = c
                .references
                .iter()
                .filter(|(_, k)| kind.is_none_or(|want| *k == want))
                .map(|(t, _)| t.clone())
                .collect();
            if refs_only {
                let (first, rest) = refs.split_first()?;
                (!rest.is_empty()).then(|| CaptionSet {
                    id: c.id.clone(),
                    prediction: first.clone(),
                    references: rest.to_vec(),
                })
            } else {
                (!refs.is_empty()).then(|| CaptionSet {
                    id: c.id.clone(),
                    prediction: c.prediction.clone(),
                    references: refs,
                })
            }
        })
        .collect()
}

/// Every row: all references, then each kind present, each raw and normalized; BERTScore on
/// the raw rows when `bert` is given.
///
/// Errors: only from BERTScore's model.
pub fn report(
    clips: &[ClipCaptions],
    refs_only: bool,
    bert: Option<&BertScorer>,
    retrieval: Option<&RetrievalInput>,
) -> Result<Vec<ReportRow>, crate::lm::LmError> {
    let subsets = [
        None,
        Some(CaptionKind::HumanSentence),
        Some(CaptionKind::HumanTerse),
        Some(CaptionKind::Template),
    ];
    let labels: HashMap<&str, &ClipLabels> =
        clips.iter().map(|c| (c.id.as_str(), &c.labels)).collect();
    let mut rows = Vec::new();
    for kind in subsets {
        let sets = sets_for(clips, kind, refs_only);
        if sets.is_empty() {
            continue;
        }
        for v in [TextVariant::Raw, TextVariant::Normalized] {
            let (mut f1, mut idf_f1) = (None, None);
            if let (Some(b), TextVariant::Raw) = (bert, v) {
                f1 = Some(b.score(&sets, false)?.f1);
                idf_f1 = Some(b.score(&sets, true)?.f1);
            }
            let mut m = None;
            if let (Some(r), TextVariant::Raw) = (retrieval, v) {
                m = matching(&sets, r)?;
            }
            let (mut action, mut style) = (None, None);
            if v == TextVariant::Raw {
                let items = || {
                    sets.iter()
                        .map(|s| (s.prediction.as_str(), labels[s.id.as_str()]))
                };
                let known = |a: Accuracy| (a.n > 0).then_some(a);
                action = known(Accuracy::count(items(), names_action));
                style = known(Accuracy::count(items(), names_style));
            }
            rows.push(ReportRow {
                subset: kind.map_or("all", kind_name).to_string(),
                scores: score_captions(&sets, v),
                bertscore_f1: f1,
                bertscore_idf_f1: idf_f1,
                matching: m,
                action_accuracy: action,
                style_accuracy: style,
            });
        }
    }
    Ok(rows)
}

/// An accuracy as `0.912 (294/322)`, empty when no clip had the label.
fn acc(a: Option<Accuracy>) -> String {
    a.and_then(|a| a.value().map(|v| format!("{v:.3} ({}/{})", a.correct, a.n)))
        .unwrap_or_default()
}

/// The report as a Markdown table.
pub fn markdown(rows: &[ReportRow]) -> String {
    let mut s = String::from(
        "| references | text | n | BLEU-1 | BLEU-4 | ROUGE-L | CIDEr-D | BERTScore-MiniLM F1 | idf F1 | R@1 | R@3 | MM-Dist | action acc. | style acc. |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let opt = |v: Option<f64>| v.map_or("".to_string(), |x| format!("{x:.4}"));
    for r in rows {
        let c = &r.scores;
        s.push_str(&format!(
            "| {} | {:?} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.subset,
            c.variant,
            c.n,
            c.bleu[0],
            c.bleu[3],
            c.rouge_l,
            c.cider_d,
            opt(r.bertscore_f1),
            opt(r.bertscore_idf_f1),
            opt(r.matching.as_ref().map(|m| m.r_precision[0].mean)),
            opt(r.matching.as_ref().map(|m| m.r_precision[2].mean)),
            opt(r.matching.as_ref().map(|m| m.mm_dist.mean)),
            acc(r.action_accuracy),
            acc(r.style_accuracy),
        ));
    }
    s
}

/// The headline metrics of a report's raw-text row over all references: (name, value, higher
/// is better).
pub fn headline(rows: &[ReportRow]) -> Vec<(&'static str, Option<f64>, bool)> {
    let Some(r) = rows
        .iter()
        .find(|r| r.subset == "all" && r.scores.variant == TextVariant::Raw)
    else {
        return Vec::new();
    };
    let m = r.matching.as_ref();
    vec![
        ("BLEU-1", Some(r.scores.bleu[0]), true),
        ("BLEU-4", Some(r.scores.bleu[3]), true),
        ("ROUGE-L", Some(r.scores.rouge_l), true),
        ("CIDEr-D", Some(r.scores.cider_d), true),
        ("BERTScore-MiniLM F1", r.bertscore_f1, true),
        ("R@1", m.map(|m| m.r_precision[0].mean), true),
        ("R@3", m.map(|m| m.r_precision[2].mean), true),
        ("MM-Dist", m.map(|m| m.mm_dist.mean), false),
        (
            "action accuracy",
            r.action_accuracy.and_then(|a| a.value()),
            true,
        ),
        (
            "style accuracy",
            r.style_accuracy.and_then(|a| a.value()),
            true,
        ),
    ]
}

/// Our rows beside the retrieval baseline's, bench-style: one line per headline metric with
/// both figures, the difference and whether we are ahead (MM-Dist: lower is better).
pub fn comparison_markdown(ours: &[ReportRow], baseline: &[ReportRow]) -> String {
    let mut s = String::from(
        "| metric | captioner | retrieval baseline (nearest train take) | Δ | ahead |\n|---|---|---|---|---|\n",
    );
    let theirs = headline(baseline);
    for ((name, a, higher), (_, b, _)) in headline(ours).into_iter().zip(theirs) {
        let (Some(a), Some(b)) = (a, b) else {
            continue;
        };
        let ahead = if higher { a > b } else { a < b };
        let verdict = if (a - b).abs() < 5e-5 {
            "tie"
        } else if ahead {
            "yes"
        } else {
            "**no**"
        };
        s.push_str(&format!(
            "| {name} | {a:.4} | {b:.4} | {:+.4} | {verdict} |\n",
            a - b
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(id: &str, pred: &str, refs: &[(&str, CaptionKind)]) -> ClipCaptions {
        ClipCaptions {
            id: id.into(),
            prediction: pred.into(),
            references: refs.iter().map(|(t, k)| (t.to_string(), *k)).collect(),
            labels: ClipLabels::default(),
        }
    }

    #[test]
    fn kinds_filter_references_and_refs_only_needs_two() {
        use CaptionKind::*;
        let clips = [
            clip(
                "a",
                "a person walks",
                &[("a person walks forward.", Template), ("walk", HumanTerse)],
            ),
            clip(
                "b",
                "a person runs",
                &[("a person runs.", Template), ("a person jogs.", Template)],
            ),
        ];
        assert_eq!(sets_for(&clips, Some(HumanTerse), false).len(), 1);
        assert_eq!(sets_for(&clips, Some(Template), false).len(), 2);
        let gt = sets_for(&clips, Some(Template), true);
        assert_eq!(gt.len(), 1, "only b has two template references");
        assert_eq!(gt[0].prediction, "a person runs.");
        let rows = report(&clips, false, None, None).unwrap();
        let subsets: Vec<_> = rows.iter().map(|r| r.subset.as_str()).collect();
        assert_eq!(
            subsets,
            [
                "all",
                "all",
                "human_terse",
                "human_terse",
                "template",
                "template"
            ]
        );
        // A prediction equal to its only reference scores BLEU-1 = 1.
        let same = [clip(
            "c",
            "a person waves.",
            &[("a person waves.", Template)],
        )];
        assert!((report(&same, false, None, None).unwrap()[0].scores.bleu[0] - 1.0).abs() < 1e-9);
    }
}
