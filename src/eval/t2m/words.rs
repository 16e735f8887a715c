//! The T2M evaluator's word inputs: GloVe vectors of its vocabulary and the part-of-speech
//! one-hot of each `word/POS` token (EricGuo5513/text-to-motion `utils/word_vectorizer.py`,
//! `WordVectorizer`), and the caption's token sequence as `Text2MotionDatasetV2` builds it.

use std::collections::HashMap;
use std::path::Path;

use crate::lm::LmError;

/// `POS_enumerator`: the one-hot index of each tag (15 in all).
pub const POS_TAGS: [&str; 15] = [
    "VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV", "Loc_VIP", "Body_VIP",
    "Obj_VIP", "Act_VIP", "Desc_VIP", "OTHER",
];

/// `VIP_dict`: words whose tag is replaced by their group's, in the reference's order.
const VIP: [(&str, &[&str]); 5] = [
    (
        "Loc_VIP",
        &[
            "left",
            "right",
            "clockwise",
            "counterclockwise",
            "anticlockwise",
            "forward",
            "back",
            "backward",
            "up",
            "down",
            "straight",
            "curve",
        ],
    ),
    (
        "Body_VIP",
        &[
            "arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee",
            "shoulder", "thigh",
        ],
    ),
    (
        "Obj_VIP",
        &[
            "stair",
            "dumbbell",
            "chair",
            "window",
            "floor",
            "car",
            "ball",
            "handrail",
            "baseball",
            "basketball",
        ],
    ),
    (
        "Act_VIP",
        &[
            "walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop",
            "dance", "jump", "turn", "stumble", "stop", "sit", "lift", "lower", "raise", "wash",
            "stand", "kneel", "stroll", "rub", "bend", "balance", "flap", "jog", "shuffle", "lean",
            "rotate", "spin", "spread", "climb",
        ],
    ),
    (
        "Desc_VIP",
        &[
            "slowly",
            "carefully",
            "fast",
            "careful",
            "slow",
            "quickly",
            "happy",
            "angry",
            "sad",
            "happily",
            "angrily",
            "sadly",
        ],
    ),
];

/// Tokens a caption keeps (`max_text_len`); with `sos`/`eos` and `unk` padding, 22 in all.
pub const MAX_TEXT_LEN: usize = 20;

/// The evaluator's vocabulary: `our_vab_data.npy` `(N, 300)` rows by `our_vab_idx.pkl`, for
/// the words of `our_vab_words.pkl`.
pub struct WordVectors {
    dim: usize,
    rows: Vec<f32>,
    index: HashMap<String, usize>,
}

impl WordVectors {
    /// Reads `{prefix}_data.npy`, `{prefix}_words.pkl` and `{prefix}_idx.pkl` from `dir` (the
    /// released files use the prefix `our_vab`).
    ///
    /// Errors (naming the file): missing or unreadable; the pickles not a list of words and a
    /// word → row dict; a row index past the vectors; no `unk` word.
    pub fn load(dir: &Path, prefix: &str) -> Result<Self, LmError> {
        let data = dir.join(format!("{prefix}_data.npy"));
        let npy = crate::motion::npy::read_npy::<f32>(&data)?;
        let (shape, rows) = (npy.shape, npy.data);
        let [n, dim] = shape[..] else {
            return Err(LmError::format(
                data,
                format!("shape {shape:?}, expected (N, dim)"),
            ));
        };
        let pickle = |name: &str| -> Result<(std::path::PathBuf, serde_pickle::Value), LmError> {
            let path = dir.join(format!("{prefix}_{name}.pkl"));
            let bytes = std::fs::read(&path).map_err(|e| LmError::io(&path, e))?;
            let v = serde_pickle::value_from_slice(&bytes, serde_pickle::DeOptions::new())
                .map_err(|e| LmError::format(path.clone(), format!("not a pickle: {e}")))?;
            Ok((path, v))
        };
        let (words_path, words) = pickle("words")?;
        let (idx_path, idx) = pickle("idx")?;
        let serde_pickle::Value::List(words) = words else {
            return Err(LmError::format(words_path, "not a list of words"));
        };
        let serde_pickle::Value::Dict(idx) = idx else {
            return Err(LmError::format(idx_path, "not a dict of word → row"));
        };
        let mut rows_of = HashMap::new();
        for (k, v) in idx {
            if let (serde_pickle::HashableValue::String(w), serde_pickle::Value::I64(i)) = (k, v) {
                rows_of.insert(w, i);
            }
        }
        let mut index = HashMap::new();
        for w in words {
            let serde_pickle::Value::String(w) = w else {
                return Err(LmError::format(words_path, "a word that is not a string"));
            };
            let Some(&i) = rows_of.get(&w) else {
                return Err(LmError::format(
                    &words_path,
                    format!(
                        "lists the word `{w}`, which {} has no row for",
                        idx_path.display()
                    ),
                ));
            };
            let i = usize::try_from(i).ok().filter(|&i| i < n).ok_or_else(|| {
                LmError::format(
                    idx_path.clone(),
                    format!("row {i} of `{w}` is past the {n} vectors"),
                )
            })?;
            index.insert(w, i);
        }
        if !index.contains_key("unk") {
            return Err(LmError::format(words_path, "no `unk` word"));
        }
        Ok(Self { dim, rows, index })
    }

    /// Width of a word vector (300 for the released GloVe).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `WordVectorizer.__getitem__`: the vector of `word/POS` and its tag one-hot; a word in the
    /// VIP lists takes its group's tag; an unknown word is `unk` tagged `OTHER`.
    pub fn vectorize(&self, token: &str) -> (&[f32], [f32; 15]) {
        let (word, pos) = token.rsplit_once('/').unwrap_or((token, "OTHER"));
        let (row, tag) = match self.index.get(word) {
            Some(&row) => {
                let vip = VIP
                    .iter()
                    .find(|(_, ws)| ws.contains(&word))
                    .map(|(t, _)| *t);
                (row, vip.unwrap_or(pos))
            }
            None => (self.index["unk"], "OTHER"),
        };
        let mut onehot = [0.0; 15];
        let i = POS_TAGS.iter().position(|&t| t == tag).unwrap_or(14);
        onehot[i] = 1.0;
        (&self.rows[row * self.dim..(row + 1) * self.dim], onehot)
    }
}

/// `Text2MotionDatasetV2.__getitem__`'s token list of a caption's `word/POS` tokens: `sos`, the
/// first [`MAX_TEXT_LEN`] tokens, `eos`, and `unk` padding to 22; with the length the text
/// encoder reads (`sent_len`: the tokens before the padding).
pub fn caption_tokens(tokens: &[String]) -> (Vec<String>, usize) {
    let kept = &tokens[..tokens.len().min(MAX_TEXT_LEN)];
    let mut out = vec!["sos/OTHER".to_string()];
    out.extend(kept.iter().cloned());
    out.push("eos/OTHER".into());
    let len = out.len();
    out.resize(MAX_TEXT_LEN + 2, "unk/OTHER".into());
    (out, len)
}
