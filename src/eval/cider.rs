//! CIDEr-D as pycocoevalcap's `CiderScorer` computes it (Vedantam et al. 2015; the "-D" changes:
//! clipped n-gram weights, a gaussian length penalty with σ = 6, the mean over n = 1..4 and ×10).
//! Document frequencies come from the references of the evaluated set; `log(N)` of its size.
//! Like the reference, the length in the penalty counts bigram occurrences.

use std::collections::HashMap;

use super::ngrams::{MAX_N, Ngram, count_ngrams};

const SIGMA: f64 = 6.0;

struct TfIdf {
    vec: HashMap<Ngram, f64>,
    norm: [f64; MAX_N],
    length: f64,
}

fn counts_to_vec(counts: &HashMap<Ngram, u32>, df: &HashMap<Ngram, u32>, log_n: f64) -> TfIdf {
    let mut vec = HashMap::with_capacity(counts.len());
    let mut norm = [0.0; MAX_N];
    let mut length = 0.0;
    for (g, &tf) in counts {
        let d = (df.get(g).copied().unwrap_or(0).max(1) as f64).ln();
        let n = g.len as usize - 1;
        let v = tf as f64 * (log_n - d);
        vec.insert(*g, v);
        norm[n] += v * v;
        if n == 1 {
            length += tf as f64;
        }
    }
    TfIdf {
        vec,
        norm: norm.map(f64::sqrt),
        length,
    }
}

fn sim(h: &TfIdf, r: &TfIdf) -> [f64; MAX_N] {
    let delta = h.length - r.length;
    let mut val = [0.0; MAX_N];
    for (g, &vh) in &h.vec {
        let vr = r.vec.get(g).copied().unwrap_or(0.0);
        val[g.len as usize - 1] += vh.min(vr) * vr;
    }
    let penalty = (-(delta * delta) / (2.0 * SIGMA * SIGMA)).exp();
    for n in 0..MAX_N {
        if h.norm[n] != 0.0 && r.norm[n] != 0.0 {
            val[n] /= h.norm[n] * r.norm[n];
        }
        val[n] *= penalty;
    }
    val
}

/// CIDEr-D of every candidate (token ids) against its references; returns (mean, per set).
pub fn cider_d(sets: &[(Vec<u32>, Vec<Vec<u32>>)]) -> (f64, Vec<f64>) {
    if sets.is_empty() {
        return (0.0, Vec::new());
    }
    let cooked: Vec<(HashMap<Ngram, u32>, Vec<HashMap<Ngram, u32>>)> = sets
        .iter()
        .map(|(c, refs)| {
            (
                count_ngrams(c),
                refs.iter().map(|r| count_ngrams(r)).collect(),
            )
        })
        .collect();
    let mut df: HashMap<Ngram, u32> = HashMap::new();
    for (_, refs) in &cooked {
        let mut seen: std::collections::HashSet<Ngram> = std::collections::HashSet::new();
        for r in refs {
            seen.extend(r.keys().copied());
        }
        for g in seen {
            *df.entry(g).or_insert(0) += 1;
        }
    }
    let log_n = (cooked.len() as f64).ln();
    let scores: Vec<f64> = cooked
        .iter()
        .map(|(c, refs)| {
            let h = counts_to_vec(c, &df, log_n);
            let mut total = [0.0; MAX_N];
            for r in refs {
                let s = sim(&h, &counts_to_vec(r, &df, log_n));
                for n in 0..MAX_N {
                    total[n] += s[n];
                }
            }
            let mean = total.iter().sum::<f64>() / MAX_N as f64;
            mean / refs.len() as f64 * 10.0
        })
        .collect();
    let mean = scores.iter().sum::<f64>() / scores.len() as f64;
    (mean, scores)
}
