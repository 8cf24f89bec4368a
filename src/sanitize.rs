//! Making untrusted text inert before it is shown outside a pane (SPEC §4.9):
//! no escape sequences, no control, bidi, zero-width, tag or other
//! invisible characters. Each is replaced by a visible `\u{…}` so the
//! operator sees that it was there.
//!
//! The rule is a family, not a list of tricks: a character is hidden when
//! it draws nothing or draws something the operator cannot tell from a
//! blank or from a plain space:
//! - every control (Unicode `Cc`: C0, DEL, C1);
//! - every format character (`Cf`: bidi marks, embeddings, overrides and
//!   isolates, zero-width space/joiners, word joiner, invisible operators,
//!   soft hyphen, BOM, Arabic/Syriac/Kaithi marks, interlinear
//!   annotation, the whole tag block U+E0000–E007F);
//! - the line and paragraph separators (`Zl`, `Zp`: U+2028, U+2029);
//! - every other default-ignorable code point: combining grapheme joiner,
//!   Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), Khmer inherent
//!   vowels, Mongolian variation selectors, the variation selectors
//!   U+FE00–FE0F and U+E0100–E01EF (the whole U+E0000–E0FFF block);
//! - blanks that are not the ASCII space: every other space separator
//!   (`Zs`: no-break, en/em, thin, ideographic…) and the braille blank
//!   U+2800;
//! - private-use code points (their glyph is whatever a font decides, a
//!   blank included) and noncharacters.
//!
//! Combining marks are legitimate in moderation (accents, scripts that
//! stack a vowel sign and a tone mark), so [`inline`] keeps up to
//! [`MAX_MARKS`] of them on a base character and escapes the rest of the
//! run ("Zalgo" text that paints over neighbouring lines), and escapes a
//! mark with no base (it would combine with the framing before it).
//!
//! Unassigned code points are not escaped (that needs the Unicode tables of
//! a version the operator's terminal may not share); they draw as a
//! replacement box in practice.

use unicode_width::UnicodeWidthChar;

/// Combining marks kept on one base character.
pub const MAX_MARKS: usize = 3;

pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // Cf: format characters.
            '\u{00ad}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061c}'
            | '\u{06dd}'
            | '\u{070f}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            // Zl, Zp.
            | '\u{2028}'..='\u{2029}'
            // Default-ignorables: CGJ, Hangul fillers, Khmer inherent
            // vowels, Mongolian FVS, variation selectors, the tag and
            // variation-selector supplement block.
            | '\u{034f}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{ffa0}'
            | '\u{e0000}'..='\u{e0fff}'
            // Blanks other than the ASCII space.
            | '\u{00a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '\u{2800}'
            // Private use and noncharacters.
            | '\u{e000}'..='\u{f8ff}'
            | '\u{f0000}'..='\u{10ffff}'
            | '\u{fdd0}'..='\u{fdef}')
        || (c as u32 & 0xfffe) == 0xfffe
}

/// A combining (zero-width, non-hidden) character: it draws on the
/// character before it.
fn is_mark(c: char) -> bool {
    !is_hidden(c) && c.width() == Some(0)
}

/// The first character [`inline`] would escape (ignoring newlines and
/// tabs when `multiline`), with its index in chars: hidden characters,
/// marks beyond [`MAX_MARKS`] on one base, and a mark with no base.
pub fn first_hidden(text: &str, multiline: bool) -> Option<(usize, char)> {
    let mut marks = None::<usize>;
    for (i, c) in text.chars().enumerate() {
        if multiline && (c == '\n' || c == '\t') {
            marks = None;
            continue;
        }
        if is_hidden(c) {
            return Some((i, c));
        }
        if is_mark(c) {
            match &mut marks {
                Some(n) if *n < MAX_MARKS => *n += 1,
                _ => return Some((i, c)),
            }
        } else {
            marks = Some(0);
        }
    }
    None
}

fn escape(out: &mut String, c: char) {
    out.push_str(&format!("\\u{{{:x}}}", c as u32));
}

/// One line of display text: newlines and tabs are escaped too.
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Marks on the current base; `None`: no base to draw on.
    let mut marks = None::<usize>;
    for c in text.chars() {
        if is_hidden(c) {
            escape(&mut out, c);
            marks = None;
        } else if is_mark(c) {
            match &mut marks {
                Some(n) if *n < MAX_MARKS => {
                    *n += 1;
                    out.push(c);
                }
                _ => escape(&mut out, c),
            }
        } else {
            out.push(c);
            marks = Some(0);
        }
    }
    out
}

/// Several lines of display text: each line as [`inline`], joined with
/// `\n` (a `\r` is escaped like any other control).
pub fn lines(text: &str) -> String {
    text.split('\n').map(inline).collect::<Vec<_>>().join("\n")
}

/// Sanitizes a byte stream line by line (`bottle logs`): complete lines
/// come out at once; a line split across reads waits for its end (or for
/// [`LineStream::finish`]), so neither a UTF-8 sequence nor an escape
/// sequence is ever cut in two. A line that grows past `MAX_PENDING`
/// bytes without an end is emitted in pieces (each sanitized whole).
#[derive(Debug, Default)]
pub struct LineStream {
    pending: Vec<u8>,
}

const MAX_PENDING: usize = 64 * 1024;

impl LineStream {
    pub fn feed(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        if let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') {
            let done: Vec<u8> = self.pending.drain(..=end).collect();
            out.push_str(&lines(&String::from_utf8_lossy(&done[..end])));
            out.push('\n');
        }
        if self.pending.len() > MAX_PENDING {
            out.push_str(&self.finish());
            out.push('\n');
        }
        out
    }

    /// The rest, sanitized (no newline added).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        inline(&String::from_utf8_lossy(&rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_bidi_and_zero_width() {
        assert_eq!(inline("ok\x1b[31mred"), "ok\\u{1b}[31mred");
        assert_eq!(
            inline("a\u{202e}b\u{200b}c\nd"),
            "a\\u{202e}b\\u{200b}c\\u{a}d"
        );
        assert_eq!(inline("bücher ✓"), "bücher ✓");
    }

    #[test]
    fn every_class_of_invisible_character_is_escaped() {
        for (c, class) in [
            ('\u{7}', "C0 bell"),
            ('\u{7f}', "DEL"),
            ('\u{9b}', "C1 CSI"),
            ('\u{85}', "C1 NEL"),
            ('\u{ad}', "soft hyphen"),
            ('\u{61c}', "Arabic letter mark"),
            ('\u{180e}', "Mongolian vowel separator"),
            ('\u{200b}', "zero-width space"),
            ('\u{200d}', "zero-width joiner"),
            ('\u{2066}', "LRI"),
            ('\u{2069}', "PDI"),
            ('\u{2062}', "invisible times"),
            ('\u{feff}', "BOM"),
            ('\u{fffa}', "interlinear annotation"),
            ('\u{1d173}', "musical format"),
            ('\u{2028}', "line separator"),
            ('\u{2029}', "paragraph separator"),
            ('\u{e0001}', "language tag"),
            ('\u{e0041}', "tag A"),
            ('\u{e007f}', "cancel tag"),
            ('\u{34f}', "combining grapheme joiner"),
            ('\u{115f}', "Hangul choseong filler"),
            ('\u{1160}', "Hangul jungseong filler"),
            ('\u{3164}', "Hangul filler"),
            ('\u{ffa0}', "halfwidth Hangul filler"),
            ('\u{17b4}', "Khmer inherent vowel"),
            ('\u{180b}', "Mongolian FVS"),
            ('\u{fe0f}', "variation selector 16"),
            ('\u{e0100}', "variation selector 17"),
            ('\u{e01ef}', "variation selector 256"),
            ('\u{a0}', "no-break space"),
            ('\u{2003}', "em space"),
            ('\u{3000}', "ideographic space"),
            ('\u{2800}', "braille blank"),
            ('\u{e000}', "private use"),
            ('\u{f8ff}', "private use"),
            ('\u{10fffd}', "supplementary private use"),
            ('\u{fdd0}', "noncharacter"),
            ('\u{ffff}', "noncharacter"),
            ('\u{1fffe}', "noncharacter"),
        ] {
            let text = format!("a{c}b");
            assert!(is_hidden(c), "{class}");
            assert_eq!(
                inline(&text),
                format!("a\\u{{{:x}}}b", c as u32),
                "{class} escaped"
            );
            assert_eq!(first_hidden(&text, true), Some((1, c)), "{class} found");
        }
        for ok in ['a', 'é', '✓', '中', '→', '😀', ' ', '\u{fffd}'] {
            assert!(!is_hidden(ok), "{ok:?} is visible");
        }
    }

    #[test]
    fn combining_marks_are_bounded_and_need_a_base() {
        // Decomposed accents and a stacked vowel sign pass.
        assert_eq!(inline("e\u{301}te\u{301}"), "e\u{301}te\u{301}");
        assert_eq!(first_hidden("Vie\u{302}\u{323}t", false), None);
        // A run beyond the bound: the rest is escaped.
        let zalgo = format!("a{}", "\u{300}".repeat(6));
        assert_eq!(
            inline(&zalgo),
            format!("a{}{}", "\u{300}".repeat(3), "\\u{300}".repeat(3))
        );
        assert_eq!(first_hidden(&zalgo, false), Some((4, '\u{300}')));
        // No base: at the start, after a newline, after an escape.
        assert_eq!(inline("\u{301}x"), "\\u{301}x");
        assert_eq!(first_hidden("ok\n\u{301}", true), Some((3, '\u{301}')));
        assert_eq!(inline("\u{200b}\u{301}"), "\\u{200b}\\u{301}");
    }

    #[test]
    fn lines_keep_newlines_only() {
        assert_eq!(
            lines("a\r\nb\x1b]52;c;eA==\x07"),
            "a\\u{d}\nb\\u{1b}]52;c;eA==\\u{7}"
        );
    }

    #[test]
    fn the_line_stream_never_cuts_a_sequence() {
        let mut s = LineStream::default();
        let mut out = s.feed(b"one\ntw\xc3");
        out += &s.feed(b"\xa9\x1b");
        out += &s.feed(b"]0;t\x07\nend");
        out += &s.finish();
        assert_eq!(out, "one\ntw\u{e9}\\u{1b}]0;t\\u{7}\nend");
    }
}
