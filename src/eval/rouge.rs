//! ROUGE-L as pycocoevalcap's `Rouge` computes it (Lin 2004): per candidate, the longest common
//! subsequence with each reference, the maximum precision and maximum recall over references
//! (taken separately), `F = (1 + β²) P R / (R + β² P)` with β = 1.2; the corpus score is the mean.
//! Tokens are `split(" ")`, as the reference does.

/// Length of the longest common subsequence (`my_lcs`), O(|a|·|b|) time, O(|b|) memory.
pub fn lcs(a: &[&str], b: &[&str]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut diag = 0;
        for (j, y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
            diag = up;
        }
    }
    row[b.len()]
}

/// ROUGE-L F-measure of one candidate against its references (β = 1.2).
pub fn rouge_l(candidate: &str, references: &[String]) -> f64 {
    const BETA: f64 = 1.2;
    let c: Vec<&str> = candidate.split(' ').collect();
    let (mut p_max, mut r_max) = (0.0f64, 0.0f64);
    for r in references {
        let r: Vec<&str> = r.split(' ').collect();
        let l = lcs(&r, &c) as f64;
        p_max = p_max.max(l / c.len() as f64);
        r_max = r_max.max(l / r.len() as f64);
    }
    if p_max != 0.0 && r_max != 0.0 {
        (1.0 + BETA * BETA) * p_max * r_max / (r_max + BETA * BETA * p_max)
    } else {
        0.0
    }
}
