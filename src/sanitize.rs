//! Making untrusted text inert before it is shown outside a pane (SPEC §4.9):
//! no escape sequences, no control, bidi or zero-width characters. Each is
//! replaced by a visible `\u{…}` so the operator sees that it was there.

pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' // zero-width, LRM/RLM
            | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{061c}' | '\u{feff}' | '\u{00ad}')
}

/// One line of display text: newlines and tabs are escaped too.
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::inline;

    #[test]
    fn escapes_controls_bidi_and_zero_width() {
        assert_eq!(inline("ok\x1b[31mred"), "ok\\u{1b}[31mred");
        assert_eq!(
            inline("a\u{202e}b\u{200b}c\nd"),
            "a\\u{202e}b\\u{200b}c\\u{a}d"
        );
        assert_eq!(inline("bücher ✓"), "bücher ✓");
    }
}
