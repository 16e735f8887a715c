//! Scoring a set of predicted captions against references with BLEU-1..4, ROUGE-L and CIDEr-D,
//! on raw or normalized text, following the motion-to-text protocol.

use serde::{Deserialize, Serialize};

use super::bleu::{corpus_bleu, sentence_stats};
use super::cider::cider_d;
use super::ngrams::Vocab;
use super::rouge::rouge_l;
pub use super::text::TextVariant;
use super::text::{protocol_references, tokenize};

/// One clip's prediction and references (a line of `geomotion eval score --input FILE.jsonl`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CaptionSet {
    pub id: String,
    pub prediction: String,
    pub references: Vec<String>,
}

/// Corpus-level caption metrics (fractions in 0..1, CIDEr-D in 0..10).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CaptionScores {
    pub variant: TextVariant,
    /// Number of scored clips.
    pub n: usize,
    /// BLEU-1..4.
    pub bleu: [f64; 4],
    pub rouge_l: f64,
    pub cider_d: f64,
}

/// Scores `sets` (each with ≥ 1 reference; at most 3 are used, two become A, B, A).
pub fn score_captions(sets: &[CaptionSet], variant: TextVariant) -> CaptionScores {
    let mut vocab = Vocab::default();
    let mut bleu_stats = Vec::with_capacity(sets.len());
    let mut rouge_sum = 0.0;
    let mut encoded = Vec::with_capacity(sets.len());
    for s in sets {
        let pred = tokenize(&s.prediction, variant);
        let refs: Vec<String> = protocol_references(&s.references)
            .iter()
            .map(|r| tokenize(r, variant))
            .collect();
        rouge_sum += rouge_l(&pred, &refs);
        let c = vocab.encode(&pred);
        let r: Vec<Vec<u32>> = refs.iter().map(|r| vocab.encode(r)).collect();
        bleu_stats.push(sentence_stats(&c, &r));
        encoded.push((c, r));
    }
    let (cider, _) = cider_d(&encoded);
    CaptionScores {
        variant,
        n: sets.len(),
        bleu: corpus_bleu(&bleu_stats),
        rouge_l: if sets.is_empty() {
            0.0
        } else {
            rouge_sum / sets.len() as f64
        },
        cider_d: cider,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_sets() -> Vec<CaptionSet> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/caption_sets_250.jsonl");
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Frozen values from pycocoevalcap 1.2 (`../shared/bench/metrics_coco.py`, run by
    /// `tools/crosscheck_caption_metrics.sh`) on the same 250 sets.
    #[test]
    fn matches_pycocoevalcap_on_250_sets() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/caption_sets_250.expected.json");
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let sets = load_sets();
        assert_eq!(sets.len(), 250);
        for (variant, key) in [
            (TextVariant::Raw, "raw"),
            (TextVariant::Normalized, "normalized"),
        ] {
            let got = score_captions(&sets, variant);
            let e = &expected[key];
            let pairs = [
                ("bleu_1", got.bleu[0]),
                ("bleu_2", got.bleu[1]),
                ("bleu_3", got.bleu[2]),
                ("bleu_4", got.bleu[3]),
                ("rouge_l", got.rouge_l),
                ("cider", got.cider_d),
            ];
            for (name, value) in pairs {
                let want = e[name].as_f64().unwrap();
                println!(
                    "{key:10} {name:8} ours {value:.6}  pycocoevalcap {want:.6}  |Δ| {:.1e}",
                    (value - want).abs()
                );
                assert!(
                    (value - want).abs() <= 1e-4,
                    "{key} {name}: {value} vs {want}"
                );
            }
        }
    }
}
