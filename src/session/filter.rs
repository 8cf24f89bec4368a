//! The filter between an agent's terminal output and the operator's own
//! terminal (`bottle attach`, `bottle shell`, SPEC §4.9): the same rules as
//! a pane, for a stream that is passed through rather than re-drawn.
//!
//! What passes: printable text (valid UTF-8, C1 code points excepted),
//! the harmless C0 controls (BS, HT, LF, CR, BEL), and the sequences a
//! full-screen program draws with — SGR colours and attributes, cursor
//! movement, save and restore, erase, insert and delete, scroll regions
//! and scrolling, tab stops, ANSI and DEC private modes (alternate screen,
//! bracketed paste, mouse, focus, application cursor and keypad),
//! `modifyOtherKeys` and the kitty keyboard flags (set, push, pop), cursor
//! shape, index and reverse index, and the G0 charset (ASCII or line
//! drawing).
//!
//! What is dropped, whole: every OSC (clipboard 52, hyperlinks 8, titles
//! 0/1/2, colours, notifications), DCS (DECRQSS, XTGETTCAP, tmux
//! passthrough, sixel), APC, PM and SOS strings; every query or report
//! request (DA, DSR, DECRQM, XTVERSION, XTWINOPS and every other window
//! operation, kitty flag query, DECID, ENQ); any other control or escape
//! sequence (resets, charset shifts, G1–G3, media copy, rectangle
//! operations); the C1 controls, as raw bytes or as UTF-8 code points
//! U+0080–U+009F; invalid UTF-8 becomes U+FFFD. The session holder
//! answers the agent's queries itself, so dropping them here costs nothing.
//!
//! The filter is an allowlist, so it never needs to know a sequence to
//! refuse it. It never passes a string introducer, so the outer terminal
//! is always in its ground state between the pieces that pass: a sequence
//! split across reads is held until it is complete and judged whole.

/// Longest CSI judged; a longer one is dropped whole.
const MAX_CSI: usize = 64;

#[derive(Debug, Default)]
enum State {
    #[default]
    Ground,
    /// A UTF-8 sequence in progress: its bytes so far and its length.
    Utf8(Vec<u8>, usize),
    /// After ESC.
    Esc,
    /// ESC and intermediate bytes.
    EscInter(Vec<u8>),
    /// After CSI: parameter and intermediate bytes so far.
    Csi(Vec<u8>),
    /// A CSI being dropped: until its final byte.
    CsiDrop,
    /// An OSC (`bel_ends`) or a DCS, APC, PM or SOS string being dropped.
    Str { bel_ends: bool },
}

#[derive(Debug, Default)]
pub struct OutputFilter {
    state: State,
}

const ESC: u8 = 0x1b;
const CAN: u8 = 0x18;
const SUB: u8 = 0x1a;
const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

impl OutputFilter {
    /// The bytes of `input` that may reach the operator's terminal. An
    /// unfinished sequence at the end is kept for the next call.
    pub fn feed(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            self.byte(b, &mut out);
        }
        out
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        match std::mem::take(&mut self.state) {
            State::Ground => self.ground(b, out),
            State::Utf8(mut seq, len) => {
                if (0x80..=0xbf).contains(&b) {
                    seq.push(b);
                    if seq.len() < len {
                        self.state = State::Utf8(seq, len);
                    } else {
                        emit_char(&seq, out);
                    }
                } else {
                    // Cut short: the start was invalid; this byte starts
                    // afresh.
                    out.extend_from_slice(REPLACEMENT);
                    self.ground(b, out);
                }
            }
            State::Esc => match b {
                b'[' => self.state = State::Csi(Vec::new()),
                b']' => self.state = State::Str { bel_ends: true },
                b'P' | b'X' | b'^' | b'_' => self.state = State::Str { bel_ends: false },
                0x20..=0x2f => self.state = State::EscInter(vec![b]),
                0x30..=0x7e => {
                    if matches!(b, b'7' | b'8' | b'=' | b'>' | b'D' | b'E' | b'H' | b'M') {
                        out.extend_from_slice(&[ESC, b]);
                    }
                }
                ESC => self.state = State::Esc,
                // ESC then a control or a non-ASCII byte: the escape is
                // dropped, the byte starts afresh.
                _ => self.ground(b, out),
            },
            State::EscInter(mut inter) => match b {
                0x20..=0x2f if inter.len() < 4 => {
                    inter.push(b);
                    self.state = State::EscInter(inter);
                }
                0x30..=0x7e => {
                    if inter == b"(" && matches!(b, b'B' | b'0') {
                        out.extend_from_slice(&[ESC, b'(', b]);
                    }
                }
                ESC => self.state = State::Esc,
                0x20..=0x2f | CAN | SUB => {}
                0x00..=0x1f => self.state = State::EscInter(inter),
                _ => self.ground(b, out),
            },
            State::Csi(mut body) => match b {
                0x20..=0x3f => {
                    body.push(b);
                    self.state = if body.len() > MAX_CSI {
                        State::CsiDrop
                    } else {
                        State::Csi(body)
                    };
                }
                0x40..=0x7e => {
                    if csi_allowed(&body, b) {
                        out.extend_from_slice(&[ESC, b'[']);
                        out.extend_from_slice(&body);
                        out.push(b);
                    }
                }
                ESC => self.state = State::Esc,
                CAN | SUB => {}
                // Other controls inside a CSI are dropped; the CSI goes on.
                0x00..=0x1f | 0x7f => self.state = State::Csi(body),
                _ => self.ground(b, out),
            },
            State::CsiDrop => match b {
                0x40..=0x7e | CAN | SUB => {}
                ESC => self.state = State::Esc,
                0x00..=0x3f | 0x7f => self.state = State::CsiDrop,
                _ => self.ground(b, out),
            },
            State::Str { bel_ends } => match b {
                ESC => self.state = State::Esc,
                CAN | SUB => {}
                0x07 if bel_ends => {}
                _ => self.state = State::Str { bel_ends },
            },
        }
    }

    fn ground(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            ESC => self.state = State::Esc,
            0x07..=0x0a | b'\r' | 0x20..=0x7e => out.push(b),
            0x00..=0x1f | 0x7f => {}
            0xc2..=0xdf => self.state = State::Utf8(vec![b], 2),
            0xe0..=0xef => self.state = State::Utf8(vec![b], 3),
            0xf0..=0xf4 => self.state = State::Utf8(vec![b], 4),
            _ => out.extend_from_slice(REPLACEMENT),
        }
    }
}

/// A complete UTF-8 sequence: the character unless it is invalid
/// (overlong, surrogate, out of range) or a C1 control.
fn emit_char(seq: &[u8], out: &mut Vec<u8>) {
    match std::str::from_utf8(seq) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => out.extend_from_slice(seq),
        Ok(_) => {}
        Err(_) => out.extend_from_slice(REPLACEMENT),
    }
}

/// Whether a complete CSI (`body`: parameter and intermediate bytes,
/// `fin`: the final byte) draws or sets a mode, never asks.
fn csi_allowed(body: &[u8], fin: u8) -> bool {
    let (prefix, rest) = match body.first() {
        Some(&p @ (b'<' | b'=' | b'>' | b'?')) => (Some(p), &body[1..]),
        _ => (None, body),
    };
    let params_end = rest
        .iter()
        .position(|b| !matches!(b, b'0'..=b'9' | b';' | b':'))
        .unwrap_or(rest.len());
    let (params, inter) = rest.split_at(params_end);
    if !inter.iter().all(|b| (0x20..=0x2f).contains(b)) {
        return false;
    }
    match (prefix, inter, fin) {
        // ANSI modes: insert (4) and newline (20) only, never keyboard
        // lock (2) or local echo (12).
        (None, b"", b'h' | b'l') => params
            .split(|&b| b == b';')
            .all(|p| matches!(p, b"4" | b"20")),
        // Cursor, erase, insert/delete, scroll, tabs, SGR, scroll region,
        // save/restore, repeat, ANSI modes.
        (
            None,
            b"",
            b'@'
            | b'A'..=b'M'
            | b'P'
            | b'S'
            | b'T'
            | b'X'
            | b'Z'
            | b'`'
            | b'a'
            | b'b'
            | b'd'
            | b'e'
            | b'f'
            | b'g'
            | b'm'
            | b'r'
            | b's'
            | b'u',
        ) => true,
        // DEC private modes; selective erase.
        (Some(b'?'), b"", b'h' | b'l' | b'J' | b'K') => true,
        // modifyOtherKeys; kitty keyboard flags push, pop and set.
        (Some(b'>'), b"", b'm' | b'u') | (Some(b'<' | b'='), b"", b'u') => true,
        // Cursor shape.
        (None, b" ", b'q') => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::OutputFilter;

    fn all(input: &[u8]) -> Vec<u8> {
        OutputFilter::default().feed(input)
    }

    /// The input fed one byte at a time: every split point at once.
    fn bytewise(input: &[u8]) -> Vec<u8> {
        let mut f = OutputFilter::default();
        input.iter().flat_map(|b| f.feed(&[*b])).collect()
    }

    #[test]
    fn drawing_sequences_pass_unchanged() {
        let draw: &[u8] = b"\x1b[?1049h\x1b[?25l\x1b[?2004h\x1b[?1000h\x1b[?1006h\x1b[?1h\x1b=\
            \x1b[H\x1b[2J\x1b[1;31mred\x1b[0m \x1b[38;2;10;20;30mrgb\x1b[38:5:196m\x1b[m\
            \x1b[5;10H\x1b[K\x1b[3A\x1b[2C\x1b[1;20r\x1b[S\x1b[2T\x1b7\x1b8\x1bM\x1b[4h\x1b[4l\
            \x1b[2 q\x1b[>4;1m\x1b[>1u\x1b[<u\x1b(0qqq\x1b(B\x1b[s\x1b[u\x1b[?1049l\
            tab\tline\r\nbell\x07 bs\x08 \xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80";
        assert_eq!(all(draw), draw);
        assert_eq!(bytewise(draw), draw);
    }

    #[test]
    fn strings_and_queries_are_dropped_whole() {
        for (attack, what) in [
            (&b"\x1b]52;c;ZXZpbA==\x07"[..], "OSC 52 write"),
            (b"\x1b]52;c;?\x1b\\", "OSC 52 read"),
            (b"\x1b]8;;https://evil.test/\x1b\\\x1b]8;;\x1b\\", "OSC 8"),
            (b"\x1b]0;title\x07\x1b]2;title\x1b\\", "titles"),
            (b"\x1b]10;?\x07\x1b]11;?\x1b\\", "colour queries"),
            (b"\x1bP$qm\x1b\\", "DECRQSS"),
            (b"\x1bP+q544e\x1b\\", "XTGETTCAP"),
            (
                b"\x1bPtmux;\x1b\x1b]52;c;eA==\x07\x1b\\",
                "tmux passthrough",
            ),
            (b"\x1b_Gf=100;AAAA\x1b\\", "APC"),
            (b"\x1b^pm\x1b\\\x1bXsos\x1b\\", "PM and SOS"),
            (b"\x1b[c\x1b[>c\x1b[=c\x1b[0c", "DA"),
            (b"\x1b[6n\x1b[5n\x1b[?6n", "DSR"),
            (b"\x1b[?2004$p\x1b[4$p", "DECRQM"),
            (b"\x1b[>q\x1b[>0q", "XTVERSION"),
            (
                b"\x1b[18t\x1b[21t\x1b[8;100;100t\x1b[2t\x1b[22;0t",
                "XTWINOPS",
            ),
            (b"\x1b[?u", "kitty query"),
            (b"\x1bZ\x05", "DECID and ENQ"),
            (b"\x1bc\x1b#8\x1b)0\x0e\x0f\x1b[!p", "resets and shifts"),
            (b"\x1b[5i\x1b[?5i", "media copy"),
            (b"\x1b[?1;2S", "XTSMGRAPHICS"),
            (b"\x1b[2h\x1b[12h\x1b[4;2h", "keyboard lock and local echo"),
        ] {
            assert_eq!(all(attack), b"", "{what}");
            assert_eq!(bytewise(attack), b"", "{what} byte by byte");
        }
    }

    #[test]
    fn a_hyperlink_keeps_its_text_only() {
        assert_eq!(
            all(b"\x1b]8;;https://evil.test/\x1b\\link\x1b]8;;\x1b\\"),
            b"link"
        );
    }

    #[test]
    fn raw_c1_and_invalid_utf8_become_replacements() {
        assert_eq!(all(b"a\x9b31mb"), "a\u{fffd}31mb".as_bytes());
        // C1 code points in UTF-8: the control goes, its text stays text.
        assert_eq!(
            all(b"\xc2\x9b31m\xc2\x9d52;c;eA==\xc2\x9c"),
            b"31m52;c;eA=="
        );
        assert_eq!(all(b"\xed\xa0\x80x"), "\u{fffd}x".as_bytes());
        assert_eq!(all(b"\xe2\x9cx"), "\u{fffd}x".as_bytes());
    }

    #[test]
    fn a_sequence_split_across_reads_is_judged_whole() {
        let mut f = OutputFilter::default();
        let mut out = f.feed(b"ok \x1b]5");
        out.extend(f.feed(b"2;c;ZXZpbA"));
        out.extend(f.feed(b"==\x07 \x1b[3"));
        out.extend(f.feed(b"1mred\x1b"));
        out.extend(f.feed(b"[6"));
        out.extend(f.feed(b"n \xe2\x9c"));
        out.extend(f.feed(b"\x93"));
        assert_eq!(out, "ok  \x1b[31mred \u{2713}".as_bytes());
    }

    #[test]
    fn an_escape_inside_a_string_ends_it_and_is_judged_itself() {
        // VT500 parsers end a string at any ESC: what follows is parsed
        // afresh, so it is filtered afresh.
        assert_eq!(all(b"\x1b]0;t\x1b[31mx"), b"\x1b[31mx");
        assert_eq!(all(b"\x1bPq\x1b]52;c;eA==\x07y"), b"y");
        // CAN aborts a CSI; an overlong CSI is dropped whole.
        assert_eq!(all(b"\x1b[31\x18m"), b"m");
        let long = [b"\x1b[".to_vec(), b"1;".repeat(40), b"mZ".to_vec()].concat();
        assert_eq!(all(&long), b"Z");
    }
}
