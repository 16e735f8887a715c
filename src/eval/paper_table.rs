//! The motion-to-text table in the papers' form (MotionGPT Table 5, GeoMotionGPT's M2T table:
//! R@1, R@2, R@3 and MM-Dist as fractions and distances; BLEU@1, BLEU@4, ROUGE-L, CIDEr-D and
//! BERTScore ×100), with the header naming which evaluator and which BERTScore gave the numbers,
//! so a row can be pasted beside TM2T's or MotionGPT's only when both are the papers' own.

use super::captions::CaptionScores;
use super::retrieval::metrics::MatchingScores;

/// Where the R-Precision / MM-Dist columns came from.
pub enum Matching<'a> {
    /// The T2M evaluator (Guo et al.), as papers.
    T2m(Option<&'a MatchingScores>),
    /// Our retrieval evaluator (TMR-style, unit-length embeddings: another scale).
    Ours(Option<&'a MatchingScores>),
    None,
}

/// One method's row.
pub struct PaperRow<'a> {
    pub method: &'a str,
    pub scores: &'a CaptionScores,
    pub matching: Matching<'a>,
    /// BERTScore F1 and the scorer's name (`bertscore-roberta-l17-idf-rescaled` as papers).
    pub bertscore: Option<(f64, &'a str)>,
}

/// The Markdown table with a header line saying which evaluator and BERTScore each column is,
/// and whether the row compares with published ones.
pub fn paper_table(rows: &[PaperRow]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let matching_name = match first.matching {
        Matching::T2m(_) => "T2M evaluator (Guo et al. 2022), as papers",
        Matching::Ours(_) => "our retrieval evaluator (not the T2M evaluator: not comparable)",
        Matching::None => "none",
    };
    let bert_name = first.bertscore.map_or("none", |(_, n)| n);
    let comparable = matches!(first.matching, Matching::T2m(_))
        && bert_name.starts_with("bertscore-roberta-l17-idf-rescaled");
    let mut s = format!(
        "M2T table in the papers' form (BLEU, ROUGE-L, CIDEr-D, BERTScore ×100). R-Precision and \
         MM-Dist: {matching_name}. BERTScore: {bert_name}. {}\n\n",
        if comparable {
            "Comparable with published rows (same evaluator, same BERTScore)."
        } else {
            "Not comparable with published rows."
        }
    );
    s.push_str(
        "| method | R@1 ↑ | R@2 ↑ | R@3 ↑ | MM-Dist ↓ | BLEU@1 ↑ | BLEU@4 ↑ | ROUGE-L ↑ | CIDEr-D ↑ | BERTScore ↑ |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let m = match r.matching {
            Matching::T2m(m) | Matching::Ours(m) => m,
            Matching::None => None,
        };
        let (r1, r2, r3, mm) = m.map_or_else(
            || (String::new(), String::new(), String::new(), String::new()),
            |m| {
                (
                    format!("{:.3}", m.r_precision[0].mean),
                    format!("{:.3}", m.r_precision[1].mean),
                    format!("{:.3}", m.r_precision[2].mean),
                    format!("{:.3}", m.mm_dist.mean),
                )
            },
        );
        let c = r.scores;
        s.push_str(&format!(
            "| {} | {r1} | {r2} | {r3} | {mm} | {:.2} | {:.2} | {:.2} | {:.2} | {} |\n",
            r.method,
            100.0 * c.bleu[0],
            100.0 * c.bleu[3],
            100.0 * c.rouge_l,
            100.0 * c.cider_d,
            r.bertscore
                .map_or(String::new(), |(f, _)| format!("{:.2}", 100.0 * f)),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::TextVariant;
    use crate::eval::retrieval::metrics::MeanCi;

    #[test]
    fn the_paper_table_scales_text_metrics_and_names_its_sources() {
        let scores = CaptionScores {
            variant: TextVariant::Raw,
            n: 100,
            bleu: [0.482, 0.3, 0.2, 0.1247],
            rouge_l: 0.374,
            cider_d: 0.292,
        };
        let ci = |mean| MeanCi { mean, ci95: 0.0 };
        let m = MatchingScores {
            n: 100,
            repeats: 20,
            r_precision: [ci(0.461), ci(0.641), ci(0.787)],
            mm_dist: ci(2.901),
        };
        let row = |matching, bert| PaperRow {
            method: "ours",
            scores: &scores,
            matching,
            bertscore: bert,
        };
        let t = paper_table(&[row(
            Matching::T2m(Some(&m)),
            Some((0.324, "bertscore-roberta-l17-idf-rescaled")),
        )]);
        assert!(
            t.contains(
                "| ours | 0.461 | 0.641 | 0.787 | 2.901 | 48.20 | 12.47 | 37.40 | 29.20 | 32.40 |"
            ),
            "{t}"
        );
        assert!(t.contains("Comparable with published rows"), "{t}");
        let t = paper_table(&[row(
            Matching::Ours(Some(&m)),
            Some((0.9, "bertscore-minilm-l6-idf")),
        )]);
        assert!(
            t.contains("Not comparable") && t.contains("our retrieval evaluator"),
            "{t}"
        );
    }
}
