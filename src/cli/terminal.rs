//! Text from files shown on a terminal. Captions, labels and error messages quote what files
//! contain, and a control character there (an ANSI escape sequence, a carriage return, a bell)
//! would recolour, move or clear the user's terminal: these functions show such characters
//! escaped instead (`\u{1b}`, `\r`), leaving every other character as it is.

use std::borrow::Cow;

/// `s` for one line of output: every control character escaped, newlines and tabs included.
pub fn printable_line(s: &str) -> Cow<'_, str> {
    escape_controls(s, |_| true)
}

/// `s` for several lines of output (an error with its causes): control characters escaped except
/// newlines and tabs.
pub fn printable_text(s: &str) -> Cow<'_, str> {
    escape_controls(s, |c| c != '\n' && c != '\t')
}

fn escape_controls(s: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && escape(c);
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        let caption = "a person \x1b[2J\x1b[31mwaves\x07\r\n";
        assert_eq!(
            printable_line(caption),
            "a person \\u{1b}[2J\\u{1b}[31mwaves\\u{7}\\r\\n"
        );
        assert_eq!(
            printable_text("x.bvh:3: `\x1b[0m` is not a number\n\tcause"),
            "x.bvh:3: `\\u{1b}[0m` is not a number\n\tcause"
        );
        // C1 controls (U+0080..U+009F, e.g. the one-character CSI) too; other text unchanged.
        assert_eq!(printable_line("\u{9b}31m"), "\\u{9b}31m");
        assert!(matches!(printable_line("un café, 歩く"), Cow::Borrowed(_)));
    }
}
