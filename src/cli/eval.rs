//! `geomotion eval score`: caption metrics for any prediction set.

use std::path::Path;

use anyhow::{Context, Result};

use crate::eval::{CaptionScores, CaptionSet, TextVariant, score_captions};
use crate::motion::limits::MAX_CAPTION_LINE_BYTES;

/// Reads `{"id", "prediction", "references": [...]}` lines; errors name the file and line (a
/// malformed line, no references, a caption longer than
/// [`MAX_CAPTION_LINE_BYTES`]).
pub fn read_sets(path: &Path) -> Result<Vec<CaptionSet>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut sets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let set: CaptionSet = serde_json::from_str(line).with_context(|| {
            format!(
                "{}:{}: expected {{\"id\", \"prediction\", \"references\": [...]}}",
                path.display(),
                i + 1
            )
        })?;
        let longest = std::iter::once(&set.prediction)
            .chain(&set.references)
            .map(String::len)
            .max()
            .unwrap_or(0);
        if longest > MAX_CAPTION_LINE_BYTES {
            anyhow::bail!(
                "{}:{}: a caption of {longest} bytes, longer than the {MAX_CAPTION_LINE_BYTES}-byte \
                 limit (ROUGE-L's cost grows with the product of two captions' lengths)",
                path.display(),
                i + 1
            );
        }
        if set.references.is_empty() {
            anyhow::bail!(
                "{}:{}: `{}` has no references",
                path.display(),
                i + 1,
                set.id
            );
        }
        sets.push(set);
    }
    Ok(sets)
}

/// Scores of one text variant, with BERTScore F1 (without and with idf) on raw text.
#[derive(serde::Serialize)]
pub struct ScoreRow {
    #[serde(flatten)]
    pub scores: CaptionScores,
    pub bertscore_f1: Option<f64>,
    pub bertscore_idf_f1: Option<f64>,
}

/// A Markdown table of raw and normalized scores.
pub fn markdown(rows: &[ScoreRow]) -> String {
    let mut s = String::from(
        "| text | n | BLEU-1 | BLEU-4 | ROUGE-L | CIDEr-D | BERTScore-MiniLM F1 | idf F1 |\n|---|---|---|---|---|---|---|---|\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.4}"));
    for row in rows {
        let r = &row.scores;
        s.push_str(&format!(
            "| {:?} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {} |\n",
            r.variant,
            r.n,
            r.bleu[0],
            r.bleu[3],
            r.rouge_l,
            r.cider_d,
            opt(row.bertscore_f1),
            opt(row.bertscore_idf_f1)
        ));
    }
    s
}

/// BERTScore as papers report it (`--bertscore-model`), shared by `eval score` and
/// `eval captions --paper-table`.
#[derive(clap::Args, Debug, Clone)]
pub struct PaperBertArgs {
    /// A RoBERTa folder (roberta-large: config.json, model.safetensors, tokenizer.json): adds
    /// BERTScore as papers report it (layer 17, idf, baseline-rescaled).
    #[arg(long)]
    pub bertscore_model: Option<std::path::PathBuf>,
    /// Its layer (bert-score's model2layers: 17 for roberta-large).
    #[arg(long, default_value_t = crate::eval::roberta::ROBERTA_LARGE_LAYER)]
    pub bertscore_layer: usize,
    /// bert-score's rescale baseline file for another model than roberta-large
    /// (`rescale_baseline/en/<model>.tsv`).
    #[arg(long)]
    pub bertscore_baseline: Option<std::path::PathBuf>,
}

impl PaperBertArgs {
    /// The RoBERTa scorer, rescaled, when `--bertscore-model` is given.
    pub fn scorer(&self) -> Result<Option<crate::eval::bertscore::BertScorer>> {
        self.bertscore_model
            .as_deref()
            .map(|m| {
                crate::eval::bertscore::BertScorer::roberta(
                    m,
                    self.bertscore_layer,
                    true,
                    self.bertscore_baseline.as_deref(),
                    &candle_core::Device::Cpu,
                )
            })
            .transpose()
            .map_err(Into::into)
    }
}

pub fn score(
    input: &Path,
    json_out: Option<&Path>,
    bertscore: bool,
    paper: &PaperBertArgs,
) -> Result<()> {
    let sets = read_sets(input)?;
    let t = std::time::Instant::now();
    let mut rows: Vec<ScoreRow> = [TextVariant::Raw, TextVariant::Normalized]
        .map(|v| ScoreRow {
            scores: score_captions(&sets, v),
            bertscore_f1: None,
            bertscore_idf_f1: None,
        })
        .into();
    eprintln!(
        "{} sets: BLEU, ROUGE-L, CIDEr-D in {:.3} s",
        sets.len(),
        t.elapsed().as_secs_f64()
    );
    if bertscore {
        let t = std::time::Instant::now();
        let b = crate::eval::bertscore::BertScorer::load(None, &candle_core::Device::Cpu)?;
        rows[0].bertscore_f1 = Some(b.score(&sets, false)?.f1);
        rows[0].bertscore_idf_f1 = Some(b.score(&sets, true)?.f1);
        eprintln!(
            "BERTScore (all-MiniLM-L6-v2, our variant) in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    print!("{}", markdown(&rows));
    let mut paper_score = None;
    let t = std::time::Instant::now();
    if let (Some(b), Some(model)) = (paper.scorer()?, &paper.bertscore_model) {
        let s = b.score(&sets, true)?;
        println!(
            "{} ({}; idf from the references, baseline-rescaled, as M2T papers report it): \
             P {:.4}  R {:.4}  F1 {:.4}",
            s.name,
            model.display(),
            s.precision,
            s.recall,
            s.f1
        );
        eprintln!("in {:.1} s", t.elapsed().as_secs_f64());
        paper_score = Some(s);
    }
    if let Some(out) = json_out {
        let json = serde_json::json!({ "rows": rows, "bertscore_paper": paper_score });
        std::fs::write(out, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("writing {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100,000-word prediction once kept `geomotion eval score` in ROUGE-L for minutes.
    #[test]
    fn captions_past_the_length_limit_are_refused_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sets.jsonl");
        let long = "word ".repeat(100_000);
        let sets = format!(
            "{{\"id\": \"a\", \"prediction\": \"a person walks\", \"references\": [\"walks\"]}}\n\
             {{\"id\": \"b\", \"prediction\": \"{long}\", \"references\": [\"walks\"]}}\n"
        );
        std::fs::write(&path, sets).unwrap();
        let e = format!("{:#}", read_sets(&path).unwrap_err());
        assert!(e.contains("sets.jsonl:2") && e.contains("limit"), "{e}");
    }
}
