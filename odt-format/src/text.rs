//! Text from the other side of the courier, on its way to a person's terminal.
//!
//! VM names, targets, network names and file names are written by the customer (or by
//! whoever edited the OVF) and shown on the provider's screen, and the other way round for
//! what the provider's servers report. One rule ([`display_problem`], docs/FORMAT.md §2.1)
//! keeps the characters that drive a terminal or reorder what it shows out of every name the
//! bundle carries, and one helper ([`printable`]) escapes them in anything else untrusted
//! that is printed: a terminal escape or a bidi override never reaches a screen raw.

use std::borrow::Cow;

/// True for the Unicode bidirectional formatting controls: the embeddings and overrides
/// U+202A–U+202E, the isolates U+2066–U+2069, the marks U+200E, U+200F and U+061C. They make
/// a terminal show text in another order than it is stored (`exe.txt` shown as `txt.exe`).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

/// True for a character no name may hold and [`printable`] escapes: a control character (C0
/// U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F), a bidi control ([`is_bidi_control`]), or
/// the line and paragraph separators U+2028 and U+2029.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Why `s` may not be shown as a name, or `None` if it may (docs/FORMAT.md §2.1).
pub fn display_problem(s: &str) -> Option<&'static str> {
    if s.chars().any(char::is_control) {
        Some("contains a control character")
    } else if s.chars().any(is_bidi_control) {
        Some("contains a Unicode bidirectional control")
    } else if s.chars().any(is_unsafe_char) {
        Some("contains a Unicode line or paragraph separator")
    } else {
        None
    }
}

/// `s` with every [`is_unsafe_char`] written as `\u{XX}` (as Rust's `{:?}` writes it), for
/// printing untrusted text on one line. Borrowed when there is nothing to escape.
pub fn printable(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

/// Like [`printable`], but keeps newlines and tabs: for multi-line messages (an error with
/// its causes) whose parts may quote untrusted text.
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n' || c == '\t')
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe_char(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_unsafe_char(c) && !keep(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/SECURITY.md §S4: untrusted text never reaches a terminal raw.
    #[test]
    fn printable_escapes_controls_and_bidi_and_nothing_else() {
        assert!(matches!(printable("web-01 (copy) ünï"), Cow::Borrowed(_)));
        assert_eq!(printable("a\x1b[2Jb\x07"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(printable("x\u{9b}31m\u{7f}"), "x\\u{9b}31m\\u{7f}");
        assert_eq!(
            printable("\u{202e}gpj.exe\u{2066}\u{200f}\u{61c}\u{2028}"),
            "\\u{202e}gpj.exe\\u{2066}\\u{200f}\\u{61c}\\u{2028}"
        );
        assert_eq!(printable("a\nb\tc"), "a\\u{a}b\\u{9}c");
        assert_eq!(printable_lines("a\nb\tc\r\x1b"), "a\nb\tc\\u{d}\\u{1b}");
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            let p = printable_lines(c.encode_utf8(&mut [0; 4])).into_owned();
            assert!(
                p.chars()
                    .all(|c| !is_unsafe_char(c) || c == '\n' || c == '\t'),
                "{c:?}"
            );
        }
    }

    /// docs/SECURITY.md §S4: names are validated.
    #[test]
    fn the_display_rule() {
        for ok in [
            "web",
            "Shop vApp",
            "db (copy) #2",
            "ünïcødé",
            "名前",
            "a\u{200d}b",
        ] {
            assert_eq!(display_problem(ok), None, "{ok:?}");
        }
        for (bad, why) in [
            ("a\x1b[31m", "control"),
            ("bell\x07", "control"),
            ("tab\t", "control"),
            ("nl\n", "control"),
            ("del\x7f", "control"),
            ("csi\u{9b}", "control"),
            ("rlo\u{202e}", "bidirectional"),
            ("lre\u{202a}", "bidirectional"),
            ("fsi\u{2068}", "bidirectional"),
            ("pdi\u{2069}", "bidirectional"),
            ("lrm\u{200e}", "bidirectional"),
            ("rlm\u{200f}", "bidirectional"),
            ("alm\u{61c}", "bidirectional"),
            ("ls\u{2028}", "separator"),
            ("ps\u{2029}", "separator"),
        ] {
            let p = display_problem(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(p.contains(why), "{bad:?}: {p}");
        }
    }
}
