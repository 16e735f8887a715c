//! Seeded mutations of a file's bytes, each described in words so a failing case can be read
//! and rebuilt: truncation, bit flips, a number replaced by a hostile one, lines duplicated,
//! deleted, swapped or repeated, junk or terminal escape codes inserted, the file emptied.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Numbers a parser must survive in place of any number of a file: past every integer type,
/// past f32 and f64, not numbers at all, negative, zero, tiny, and plain off-by-one kinds.
pub const HOSTILE_NUMBERS: [&str; 30] = [
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "4294967296",
    "4294967295",
    "99999999999999999999999",
    "1e39",
    "-1e39",
    "1e308",
    "-1e308",
    "1e400",
    "1e-300",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "infinity",
    "-1",
    "-0",
    "0",
    "0.0",
    "1",
    "2",
    "7",
    "1000",
    "1e-9",
    "3.5",
    "0x10",
    "",
    "1.2.3",
];

/// A deterministic mutator: the same seed gives the same cases on every machine.
pub struct Mutator {
    pub rng: StdRng,
}

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Applies 1 to 3 random mutations to `seed`; returns the bytes and what was done.
    pub fn mutate(&mut self, seed: &[u8]) -> (Vec<u8>, String) {
        let mut data = seed.to_vec();
        let n = self.rng.random_range(1..=3);
        let mut done = Vec::with_capacity(n);
        for _ in 0..n {
            done.push(self.one(&mut data));
        }
        (data, done.join("; "))
    }

    /// Like [`Mutator::mutate`] but every mutation falls inside `data[range]` (e.g. a binary
    /// file's header), which may shrink or grow; the rest of the file is kept as it is.
    pub fn mutate_within(
        &mut self,
        seed: &[u8],
        range: std::ops::Range<usize>,
    ) -> (Vec<u8>, String) {
        let (head, tail) = (&seed[..range.end], &seed[range.end..]);
        let (mut region, what) = self.mutate(&head[range.start..]);
        let mut out = head[..range.start].to_vec();
        out.append(&mut region);
        out.extend_from_slice(tail);
        (out, what)
    }

    fn one(&mut self, data: &mut Vec<u8>) -> String {
        // Number replacement is the most telling for text formats: give it a third of the draws.
        match self.rng.random_range(0..12) {
            0..=3 => self.replace_number(data),
            4 => {
                let at = self.rng.random_range(0..=data.len());
                data.truncate(at);
                format!("truncated at byte {at}")
            }
            5 if !data.is_empty() => {
                let k = self.rng.random_range(1..=4);
                let mut at = Vec::with_capacity(k);
                for _ in 0..k {
                    let i = self.rng.random_range(0..data.len());
                    data[i] ^= 1 << self.rng.random_range(0..8);
                    at.push(i);
                }
                format!("flipped a bit at bytes {at:?}")
            }
            6 => self.edit_lines(data, LineEdit::Duplicate),
            7 => self.edit_lines(data, LineEdit::Delete),
            8 => self.edit_lines(data, LineEdit::Swap),
            9 => self.edit_lines(data, LineEdit::Repeat),
            10 => {
                let junk: &[u8] = match self.rng.random_range(0..5) {
                    0 => b"\x1b[2J\x1b[31m",
                    1 => b"}",
                    2 => b"{",
                    3 => b"\xff\xfe\x00",
                    _ => b"#",
                };
                let at = self.rng.random_range(0..=data.len());
                data.splice(at..at, junk.iter().copied());
                format!("inserted {:?} at byte {at}", String::from_utf8_lossy(junk))
            }
            _ if self.rng.random_range(0..8) == 0 => {
                data.clear();
                "emptied".into()
            }
            _ => self.replace_number(data),
        }
    }

    /// Replaces one number of the text (digits with sign, point and exponent) by a hostile one
    /// or a near one (±1, ×10, negated).
    fn replace_number(&mut self, data: &mut Vec<u8>) -> String {
        let spans = number_spans(data);
        if spans.is_empty() {
            return "no number to replace".into();
        }
        let (a, b) = spans[self.rng.random_range(0..spans.len())];
        let old = String::from_utf8_lossy(&data[a..b]).into_owned();
        let new = match self.rng.random_range(0..4) {
            0 => match old.parse::<f64>() {
                Ok(v) => {
                    let near = [v + 1.0, v - 1.0, v * 10.0, -v, v * 1000.0];
                    let x = near[self.rng.random_range(0..near.len())];
                    if old.contains(['.', 'e', 'E']) {
                        format!("{x}")
                    } else {
                        format!("{}", x as i64)
                    }
                }
                Err(_) => "0".into(),
            },
            _ => HOSTILE_NUMBERS[self.rng.random_range(0..HOSTILE_NUMBERS.len())].to_string(),
        };
        data.splice(a..b, new.bytes());
        format!("number `{old}` at byte {a} → `{new}`")
    }

    fn edit_lines(&mut self, data: &mut Vec<u8>, edit: LineEdit) -> String {
        let mut lines: Vec<Vec<u8>> = data.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
        let n = lines.len();
        let i = self.rng.random_range(0..n);
        let what = match edit {
            LineEdit::Duplicate => {
                lines.insert(i, lines[i].clone());
                format!("duplicated line {}", i + 1)
            }
            LineEdit::Delete => {
                let k = self.rng.random_range(1..=3).min(n - i);
                lines.drain(i..i + k);
                format!("deleted lines {}..={}", i + 1, i + k)
            }
            LineEdit::Swap => {
                let j = self.rng.random_range(0..n);
                lines.swap(i, j);
                format!("swapped lines {} and {}", i + 1, j + 1)
            }
            LineEdit::Repeat => {
                let k = [10, 100, 2000][self.rng.random_range(0..3)];
                let copy = lines[i].clone();
                lines.splice(i..i, std::iter::repeat_n(copy, k));
                format!("repeated line {} {k} more times", i + 1)
            }
        };
        *data = lines.join(&b'\n');
        what
    }
}

#[derive(Clone, Copy)]
enum LineEdit {
    Duplicate,
    Delete,
    Swap,
    Repeat,
}

/// Byte ranges of the numbers of a text: an optional sign, digits with an optional point, an
/// optional exponent; not inside a word (the `2` of `dataset-2` is left alone, the `6` of
/// `CHANNELS 6` and the `0.0333` of `Frame Time: 0.0333` are numbers).
pub fn number_spans(data: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    let in_word = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.');
    while i < data.len() {
        let c = data[i];
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < data.len() && in_word(data[i]) {
                i += 1; // a word, digits and dashes included (`dataset-2`, `x2y`)
            }
            continue;
        }
        let starts = c.is_ascii_digit()
            || ((c == b'-' || c == b'+') && data.get(i + 1).is_some_and(u8::is_ascii_digit));
        if !starts {
            i += 1;
            continue;
        }
        let a = i;
        i += 1;
        while i < data.len() && (data[i].is_ascii_digit() || data[i] == b'.') {
            i += 1;
        }
        if i < data.len() && (data[i] == b'e' || data[i] == b'E') {
            let mut j = i + 1;
            if j < data.len() && (data[j] == b'-' || data[j] == b'+') {
                j += 1;
            }
            if j < data.len() && data[j].is_ascii_digit() {
                i = j;
                while i < data.len() && data[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        if i < data.len() && (data[i].is_ascii_alphabetic() || data[i] == b'_') {
            continue; // the start of a word such as `2nd`
        }
        spans.push((a, i));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_found_and_mutations_repeat_with_the_seed() {
        let text = b"CHANNELS 6 Xposition\nFrame Time: 0.0333\nOFFSET -1.5e-3 2\ndataset-2 x2y";
        let spans: Vec<&str> = number_spans(text)
            .iter()
            .map(|&(a, b)| std::str::from_utf8(&text[a..b]).unwrap())
            .collect();
        assert_eq!(spans, ["6", "0.0333", "-1.5e-3", "2"]);
        let (a, wa) = Mutator::new(7).mutate(text);
        let (b, wb) = Mutator::new(7).mutate(text);
        assert_eq!((a, wa), (b, wb));
    }
}
