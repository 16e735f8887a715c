//! Caption text handling shared by the metrics: the two tokenization variants and the
//! motion-to-text reference protocol.

/// How captions are tokenized before scoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TextVariant {
    /// Whitespace split, case and punctuation kept (`" ".join(s.split())`).
    Raw,
    /// Lowercased, every character that is neither a word character nor whitespace replaced by
    /// a space, then whitespace split (`re.sub(r"[^\w\s]", " ", s.lower())`).
    Normalized,
}

/// The caption as space-joined tokens of the variant.
pub fn tokenize(text: &str, variant: TextVariant) -> String {
    match variant {
        TextVariant::Raw => text.split_whitespace().collect::<Vec<_>>().join(" "),
        TextVariant::Normalized => {
            let lowered = text.to_lowercase();
            let cleaned: String = lowered
                .chars()
                .map(|c| {
                    if c.is_alphanumeric() || c == '_' || c.is_whitespace() {
                        c
                    } else {
                        ' '
                    }
                })
                .collect();
            cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    }
}

/// The motion-to-text reference protocol: at most 3 references; a clip with two is scored
/// against A, B, A (as TM2T / MotionGPT evaluation code does).
pub fn protocol_references(references: &[String]) -> Vec<String> {
    let r = &references[..references.len().min(3)];
    match r {
        [a, b] => vec![a.clone(), b.clone(), a.clone()],
        _ => r.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_and_protocol() {
        assert_eq!(
            tokenize("  A person,  walks. ", TextVariant::Raw),
            "A person, walks."
        );
        assert_eq!(
            tokenize("A person,walks-back. It's", TextVariant::Normalized),
            "a person walks back it s"
        );
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(protocol_references(&r(&["a", "b"])), r(&["a", "b", "a"]));
        assert_eq!(
            protocol_references(&r(&["a", "b", "c", "d"])),
            r(&["a", "b", "c"])
        );
        assert_eq!(protocol_references(&r(&["a"])), r(&["a"]));
    }
}
