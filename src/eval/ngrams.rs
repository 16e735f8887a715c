//! n-gram counting over interned tokens (shared by BLEU and CIDEr-D).

use std::collections::HashMap;

/// Highest n-gram order of BLEU-4 and CIDEr-D.
pub const MAX_N: usize = 4;

/// An n-gram of interned token ids (`len` ≤ 4; unused slots are 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ngram {
    pub ids: [u32; MAX_N],
    pub len: u8,
}

/// Interns tokens to ids, so n-grams hash as small fixed arrays.
#[derive(Default)]
pub struct Vocab {
    ids: HashMap<String, u32>,
}

impl Vocab {
    /// Token ids of a whitespace-split sentence (`s.split()`).
    pub fn encode(&mut self, sentence: &str) -> Vec<u32> {
        sentence
            .split_whitespace()
            .map(|w| {
                let next = self.ids.len() as u32 + 1;
                *self.ids.entry(w.to_string()).or_insert(next)
            })
            .collect()
    }
}

/// Counts of every n-gram of order 1..=4 (`precook`).
pub fn count_ngrams(tokens: &[u32]) -> HashMap<Ngram, u32> {
    let mut counts = HashMap::with_capacity(tokens.len() * MAX_N);
    for n in 1..=MAX_N {
        for w in tokens.windows(n) {
            let mut ids = [0u32; MAX_N];
            ids[..n].copy_from_slice(w);
            *counts.entry(Ngram { ids, len: n as u8 }).or_insert(0) += 1;
        }
    }
    counts
}
