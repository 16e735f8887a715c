//! `geomotion eval score`: caption metrics for any prediction set.

use std::path::Path;

use anyhow::{Context, Result};

use crate::eval::{CaptionScores, CaptionSet, TextVariant, score_captions};

/// Reads `{"id", "prediction", "references": [...]}` lines; errors name the file and line.
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

/// A Markdown table of raw and normalized scores.
pub fn markdown(rows: &[CaptionScores]) -> String {
    let mut s = String::from(
        "| text | n | BLEU-1 | BLEU-4 | ROUGE-L | CIDEr-D |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {:?} | {} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
            r.variant, r.n, r.bleu[0], r.bleu[3], r.rouge_l, r.cider_d
        ));
    }
    s
}

pub fn score(input: &Path, json_out: Option<&Path>) -> Result<()> {
    let sets = read_sets(input)?;
    let rows = [TextVariant::Raw, TextVariant::Normalized].map(|v| score_captions(&sets, v));
    print!("{}", markdown(&rows));
    if let Some(out) = json_out {
        std::fs::write(out, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("writing {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
