//! Corpus BLEU-1..4 as pycocoevalcap's `BleuScorer` computes it (Papineni et al. 2002, with the
//! coco-caption conventions): clipped n-gram counts against the per-n-gram maximum over the
//! references, the closest reference length per sentence (ties to the shorter), corpus-level
//! sums, geometric mean of the first k precisions with `tiny = 1e-15`, `small = 1e-9`, and the
//! brevity penalty `exp(1 − r/c)` when the total candidate length is shorter.

use std::collections::HashMap;

use super::ngrams::{MAX_N, Ngram, count_ngrams};

/// Per-sentence statistics (`cook_test`).
#[derive(Clone, Debug, Default)]
pub struct BleuStats {
    pub test_len: usize,
    pub ref_len: usize,
    pub guess: [usize; MAX_N],
    pub correct: [usize; MAX_N],
}

/// Statistics of one candidate (token ids) against its references.
pub fn sentence_stats(candidate: &[u32], references: &[Vec<u32>]) -> BleuStats {
    let mut max_counts: HashMap<Ngram, u32> = HashMap::new();
    for r in references {
        for (g, c) in count_ngrams(r) {
            let e = max_counts.entry(g).or_insert(0);
            *e = (*e).max(c);
        }
    }
    let test_len = candidate.len();
    // closest: min over (|l − c|, l)
    let ref_len = references
        .iter()
        .map(|r| (r.len().abs_diff(test_len), r.len()))
        .min()
        .map_or(0, |(_, l)| l);
    let mut s = BleuStats {
        test_len,
        ref_len,
        ..Default::default()
    };
    for k in 0..MAX_N {
        s.guess[k] = (test_len + 1).saturating_sub(k + 1);
    }
    for (g, c) in count_ngrams(candidate) {
        s.correct[g.len as usize - 1] += c.min(max_counts.get(&g).copied().unwrap_or(0)) as usize;
    }
    s
}

/// Corpus BLEU-1..4 from per-sentence statistics.
pub fn corpus_bleu(stats: &[BleuStats]) -> [f64; MAX_N] {
    const TINY: f64 = 1e-15;
    const SMALL: f64 = 1e-9;
    let mut guess = [0usize; MAX_N];
    let mut correct = [0usize; MAX_N];
    let (mut test_len, mut ref_len) = (0usize, 0usize);
    for s in stats {
        test_len += s.test_len;
        ref_len += s.ref_len;
        for k in 0..MAX_N {
            guess[k] += s.guess[k];
            correct[k] += s.correct[k];
        }
    }
    let mut bleus = [0.0; MAX_N];
    let mut product = 1.0f64;
    for k in 0..MAX_N {
        product *= (correct[k] as f64 + TINY) / (guess[k] as f64 + SMALL);
        bleus[k] = product.powf(1.0 / (k as f64 + 1.0));
    }
    let ratio = (test_len as f64 + TINY) / (ref_len as f64 + SMALL);
    if ratio < 1.0 {
        let bp = (1.0 - 1.0 / ratio).exp();
        bleus.iter_mut().for_each(|b| *b *= bp);
    }
    bleus
}
