//! A linear style classifier on the nearest-take index's motion summary: the predicted style
//! label a style-tagged captioner reads in its prompt ([`crate::lm::context`]).
//!
//! Why: the tokenizer's codes lose most of the style (model card, "the codes lose the style"),
//! and on takes whose (content, style) pair is absent from training a captioner writes a style it
//! saw with that content — wrong by construction. A linear reading of the whole-take summary
//! generalises across contents (on the demo corpus's dataset-1 held-out pairs 22–26 of 38–40
//! right, against 12–15 for the nearest take's style). Predicted attributes fed to the language
//! model follow attribute-conditioned captioning (Wu et al., CVPR 2016, "What value do explicit
//! high level concepts have in vision to language problems?"; Yao et al., ICCV 2017, "Boosting
//! image captioning with attributes").
//!
//! Model: multinomial logistic regression, `p(c | x) = softmax(xᵀW + b)` over the `(k,)`
//! summary ([`super::nearest::NearestIndex::summary`]: principal-component coordinates with unit
//! variance on the train split), fitted on the index's train whole takes by minimising the mean
//! cross-entropy + `λ/2 ‖W‖²` ([`L2`]; scikit-learn's `LogisticRegression(C)` with
//! `C = 1 / (λ n)`) with Nesterov-accelerated gradient descent. A take without a `style` label
//! (CMU, HumanML3D) is class [`NO_STYLE`].

use nalgebra::{DMatrix, DVector};

/// Class of takes without a `style` label.
pub const NO_STYLE: &str = "none";
/// L2 weight λ of the fit (scikit-learn C ≈ 0.2 on the demo corpus's 2,508 train takes).
pub const L2: f64 = 2e-3;
/// Gradient steps of the fit.
pub const STEPS: usize = 400;

/// Fitted weights: `weight` `(k, C)` row-major, `bias` `(C,)`, class names `(C,)`.
#[derive(Clone, Debug, PartialEq)]
pub struct StyleClassifier {
    pub classes: Vec<String>,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl StyleClassifier {
    /// Fits the classifier on `rows` `(n, k)` row-major summaries with their style labels
    /// (`None`: [`NO_STYLE`]). Classes are the labels seen, sorted. `None` when fewer than two
    /// classes are seen (nothing to tell apart) or `rows` is not `n × k`.
    pub fn fit(rows: &[f32], k: usize, labels: &[Option<&str>]) -> Option<Self> {
        let n = labels.len();
        if k == 0 || rows.len() != n * k {
            return None;
        }
        let mut classes: Vec<String> = labels
            .iter()
            .map(|l| l.unwrap_or(NO_STYLE).to_string())
            .collect();
        classes.sort();
        classes.dedup();
        let c = classes.len();
        if c < 2 {
            return None;
        }
        let x = DMatrix::from_row_slice(n, k + 1, &with_ones(rows, k));
        let mut y = DMatrix::<f64>::zeros(n, c);
        for (i, l) in labels.iter().enumerate() {
            let j = classes
                .binary_search_by(|s| s.as_str().cmp(l.unwrap_or(NO_STYLE)))
                .expect("every label is a class");
            y[(i, j)] = 1.0;
        }
        // Weights with the bias as the last row; the bias is not penalised.
        let mut w = DMatrix::<f64>::zeros(k + 1, c);
        let mut prev = w.clone();
        let mut penalty = DMatrix::<f64>::from_element(k + 1, c, L2);
        penalty.row_mut(k).fill(0.0);
        // Unit-variance, uncorrelated inputs: the Hessian's largest eigenvalue is about ½, so a
        // step of 1 is safe.
        let step = 1.0;
        for t in 0..STEPS {
            let momentum = t as f64 / (t as f64 + 3.0);
            let look = &w + (&w - &prev) * momentum;
            let mut p = &x * &look;
            softmax_rows(&mut p);
            let grad = x.transpose() * (p - &y) / n as f64 + penalty.component_mul(&look);
            prev = std::mem::replace(&mut w, look - grad * step);
        }
        Some(Self {
            classes,
            weight: w.rows(0, k).transpose().iter().map(|v| *v as f32).collect(),
            bias: w.row(k).iter().map(|v| *v as f32).collect(),
        })
    }

    /// Width `k` of the summaries it reads.
    pub fn inputs(&self) -> usize {
        self.weight.len() / self.classes.len().max(1)
    }

    /// Class probabilities `(C,)` of one `(k,)` summary.
    ///
    /// Panics if `x` is not `(k,)` (callers pass the index's own summaries).
    pub fn probabilities(&self, x: &[f32]) -> Vec<f32> {
        let c = self.classes.len();
        assert_eq!(x.len() * c, self.weight.len(), "summary width");
        let mut logits = DVector::from_iterator(c, self.bias.iter().map(|b| *b as f64));
        for (xi, row) in x.iter().zip(self.weight.chunks_exact(c)) {
            for (l, w) in logits.iter_mut().zip(row) {
                *l += *xi as f64 * *w as f64;
            }
        }
        let mut p = DMatrix::from_row_slice(1, c, logits.as_slice());
        softmax_rows(&mut p);
        p.iter().map(|v| *v as f32).collect()
    }

    /// The most probable class of one `(k,)` summary, with its probability.
    pub fn predict(&self, x: &[f32]) -> (&str, f32) {
        let p = self.probabilities(x);
        let (i, best) =
            p.iter().enumerate().fold(
                (0, f32::MIN),
                |a, (i, v)| if *v > a.1 { (i, *v) } else { a },
            );
        (&self.classes[i], best)
    }
}

/// `(n, k)` → `(n, k + 1)` with a final column of ones.
fn with_ones(rows: &[f32], k: usize) -> Vec<f64> {
    rows.chunks_exact(k)
        .flat_map(|r| r.iter().map(|v| *v as f64).chain(std::iter::once(1.0)))
        .collect()
}

/// Row-wise softmax in place, stable (each row's maximum subtracted first).
fn softmax_rows(m: &mut DMatrix<f64>) {
    for mut row in m.row_iter_mut() {
        let max = row.max();
        row.apply(|v| *v = (*v - max).exp());
        let sum = row.sum();
        row /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three styles along three axes of a 4-d summary, with noise on every axis.
    fn toy(n_per: usize, seed: u64) -> (Vec<f32>, Vec<Option<&'static str>>) {
        let mut rng = seed;
        let mut noise = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((rng >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 1.2
        };
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for (axis, label) in [(0, Some("proud")), (1, Some("tired")), (2, None)] {
            for _ in 0..n_per {
                for d in 0..4 {
                    rows.push(if d == axis { 1.0 } else { 0.0 } + noise());
                }
                labels.push(label);
            }
        }
        (rows, labels)
    }

    #[test]
    fn separates_styles_it_has_not_seen_the_exact_rows_of() {
        let (rows, labels) = toy(40, 7);
        let clf = StyleClassifier::fit(&rows, 4, &labels).unwrap();
        assert_eq!(clf.classes, ["none", "proud", "tired"]);
        assert_eq!(clf.inputs(), 4);
        let (test, truth) = toy(20, 99);
        let right = test
            .chunks_exact(4)
            .zip(&truth)
            .filter(|(x, l)| clf.predict(x).0 == l.unwrap_or(NO_STYLE))
            .count();
        assert!(right >= 50, "{right} of 60 held-out rows right");
        let p = clf.probabilities(&[3.0, 0.0, 0.0, 0.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(clf.predict(&[3.0, 0.0, 0.0, 0.0]).0, "proud");
        assert!(clf.predict(&[3.0, 0.0, 0.0, 0.0]).1 > 0.8);
    }

    #[test]
    fn one_class_or_a_bad_shape_gives_no_classifier() {
        assert!(StyleClassifier::fit(&[0.0; 8], 4, &[None, None]).is_none());
        assert!(StyleClassifier::fit(&[0.0; 7], 4, &[Some("a"), None]).is_none());
    }
}
