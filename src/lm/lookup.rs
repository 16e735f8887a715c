//! Prompt lookup decoding (Saxena 2023; `PromptLookupCandidateGenerator` in Hugging Face
//! transformers' `generation/candidate_generator.py`): drafts for greedy decoding copied from
//! the sequence itself. A retrieval-augmented caption mostly repeats words of the retrieved
//! captions in its prompt, so the tokens that followed the last few generated ones there are
//! likely next; the model checks a whole draft in one pass and keeps the longest prefix its own
//! argmax agrees with, so the caption is the greedy one, made in fewer sequential steps.

/// Longest n-gram matched, as transformers' default `max_matching_ngram_size`.
pub const MAX_NGRAM: usize = 2;

/// Most tokens drafted at once, as transformers' default `prompt_lookup_num_tokens`.
pub const MAX_DRAFT: usize = 10;

/// The draft after `seq`: for n from `max_ngram` down to 1, the first earlier place where
/// `seq`'s last n tokens occur with something after them gives up to `max` tokens that
/// followed, cut before the first of `stops` (the boundary between two retrieved captions:
/// a caption never runs on into the next); empty when no n-gram recurs (or `max` is 0). As
/// the reference, the earliest match wins and a longer n-gram beats a shorter one.
pub fn draft<'a>(seq: &'a [u32], max_ngram: usize, max: usize, stops: &[u32]) -> &'a [u32] {
    let len = seq.len();
    if max == 0 {
        return &[];
    }
    for n in (1..=max_ngram.min(len.saturating_sub(1))).rev() {
        let tail = &seq[len - n..];
        // Windows starting before len − n: the tail's own place has nothing after it.
        if let Some(i) = seq[..len - 1].windows(n).position(|w| w == tail) {
            let start = i + n;
            let d = &seq[start..(start + max).min(len)];
            let cut = d.iter().position(|t| stops.contains(t)).unwrap_or(d.len());
            return &d[..cut];
        }
    }
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_what_followed_the_earliest_longest_match() {
        // "… | a person walks forward | a person runs" then generated "a person":
        // the bigram (a, person) first occurs at 1, followed by walks forward.
        let seq = [9, 1, 2, 3, 4, 8, 1, 2, 5, 7, 1, 2];
        assert_eq!(draft(&seq, 2, 10, &[]), &[3, 4, 8, 1, 2, 5, 7, 1, 2]);
        assert_eq!(draft(&seq, 2, 2, &[]), &[3, 4]);
        // A stop token ends the draft before it.
        assert_eq!(draft(&seq, 2, 10, &[8]), &[3, 4]);
        assert!(draft(&seq, 2, 10, &[3]).is_empty());
        // A bigram that does not recur falls back to the last token alone.
        let seq = [1, 2, 3, 6, 2];
        assert_eq!(draft(&seq, 2, 10, &[]), &[3, 6, 2]);
        // Nothing recurs, or nothing may be drafted.
        assert!(draft(&[1, 2, 3], 2, 10, &[]).is_empty());
        assert!(draft(&[1, 2, 1], 2, 0, &[]).is_empty());
        assert!(draft(&[], 2, 10, &[]).is_empty());
        assert!(draft(&[4], 2, 10, &[]).is_empty());
        // The draft may run up to the end of the sequence, as the reference's.
        assert_eq!(draft(&[5, 5], 2, 10, &[]), &[5]);
    }
}
