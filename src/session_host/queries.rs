//! Terminal queries in the agent's output (SPEC §5.2): the session holder
//! is the only party that answers them, whether or not anyone is attached,
//! and strips them from what clients see so no terminal answers twice.
//!
//! `Splitter` cuts the output stream into plain data and queries, holding
//! back an escape sequence split across reads; `answer` builds the reply
//! from the holder's screen model.

/// A query the holder answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// `CSI 6 n`: cursor position.
    CursorPosition,
    /// `CSI 5 n`: device status.
    Status,
    /// `CSI c` / `CSI 0 c`: primary device attributes.
    PrimaryAttributes,
    /// `CSI > c` / `CSI > 0 c`: secondary device attributes.
    SecondaryAttributes,
    /// `CSI ? Ps $ p` (private) or `CSI Ps $ p` (ANSI): is mode Ps set?
    Mode { private: bool, mode: u16 },
    /// `OSC 10 ; ?` (foreground) / `OSC 11 ; ?` (background); `st` is the
    /// terminator the query used, echoed in the reply.
    Colour { which: u8, st: Vec<u8> },
    /// `CSI ? u`: kitty keyboard protocol flags.
    KittyKeyboard,
    /// `CSI 18 t`: text area size in characters.
    TextAreaSize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Data(Vec<u8>),
    Query(Query),
}

/// The longest escape sequence held back waiting for its end; anything
/// longer is not a query and passes through.
const MAX_PENDING: usize = 256;

#[derive(Debug, Default)]
pub struct Splitter {
    pending: Vec<u8>,
}

enum Scan {
    /// A complete sequence of this length; a query or not.
    Complete(usize, Option<Query>),
    /// Not complete yet.
    Partial,
}

fn parse_csi(body: &[u8]) -> Option<Query> {
    // body: parameters/intermediates and the final byte.
    let (&fin, params) = body.split_last()?;
    let text = std::str::from_utf8(params).ok()?;
    match (fin, text) {
        (b'n', "6") => Some(Query::CursorPosition),
        (b'n', "5") => Some(Query::Status),
        (b'c', "" | "0") => Some(Query::PrimaryAttributes),
        (b'c', ">" | ">0") => Some(Query::SecondaryAttributes),
        (b'u', "?") => Some(Query::KittyKeyboard),
        (b't', "18") => Some(Query::TextAreaSize),
        (b'p', t) if t.ends_with('$') => {
            let t = &t[..t.len() - 1];
            let (private, num) = match t.strip_prefix('?') {
                Some(n) => (true, n),
                None => (false, t),
            };
            num.parse().ok().map(|mode| Query::Mode { private, mode })
        }
        _ => None,
    }
}

/// Looks at one escape sequence at the start of `buf` (which starts with ESC).
fn scan(buf: &[u8]) -> Scan {
    match buf.get(1) {
        None => Scan::Partial,
        Some(b'[') => {
            // CSI: parameter and intermediate bytes 0x20-0x3f, final 0x40-0x7e.
            for (i, &b) in buf.iter().enumerate().skip(2) {
                match b {
                    0x20..=0x3f => continue,
                    0x40..=0x7e => return Scan::Complete(i + 1, parse_csi(&buf[2..=i])),
                    // Malformed: not a query; let it through as it is.
                    _ => return Scan::Complete(i, None),
                }
            }
            Scan::Partial
        }
        Some(b']') => {
            // OSC: ends with BEL or ST (ESC \).
            let mut i = 2;
            while i < buf.len() {
                let (end, st): (Option<usize>, &[u8]) = match buf[i] {
                    0x07 => (Some(i + 1), b"\x07"),
                    0x1b => match buf.get(i + 1) {
                        Some(b'\\') => (Some(i + 2), b"\x1b\\"),
                        None => return Scan::Partial,
                        _ => return Scan::Complete(i, None),
                    },
                    _ => (None, b""),
                };
                if let Some(end) = end {
                    let body = &buf[2..i];
                    let q = match body {
                        b"10;?" => Some(Query::Colour {
                            which: 10,
                            st: st.to_vec(),
                        }),
                        b"11;?" => Some(Query::Colour {
                            which: 11,
                            st: st.to_vec(),
                        }),
                        _ => None,
                    };
                    return Scan::Complete(end, q);
                }
                i += 1;
            }
            Scan::Partial
        }
        // Any other escape: two bytes, never a query.
        Some(_) => Scan::Complete(2, None),
    }
}

impl Splitter {
    /// Splits the next chunk of output. Bytes of an unfinished escape
    /// sequence are kept for the next call.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Piece> {
        let mut joined = std::mem::take(&mut self.pending);
        let buf: &[u8] = if joined.is_empty() {
            chunk
        } else {
            joined.extend_from_slice(chunk);
            &joined
        };
        let mut out = Vec::new();
        let mut data = Vec::with_capacity(buf.len());
        let mut i = 0;
        while i < buf.len() {
            // Text up to the next escape goes through in one copy.
            let Some(k) = memchr::memchr(0x1b, &buf[i..]) else {
                data.extend_from_slice(&buf[i..]);
                break;
            };
            data.extend_from_slice(&buf[i..i + k]);
            i += k;
            match scan(&buf[i..]) {
                Scan::Complete(len, Some(q)) => {
                    if !data.is_empty() {
                        out.push(Piece::Data(std::mem::take(&mut data)));
                    }
                    out.push(Piece::Query(q));
                    i += len;
                }
                Scan::Complete(len, None) => {
                    data.extend_from_slice(&buf[i..i + len.max(1)]);
                    i += len.max(1);
                }
                Scan::Partial if buf.len() - i <= MAX_PENDING => {
                    self.pending = buf[i..].to_vec();
                    break;
                }
                Scan::Partial => {
                    data.extend_from_slice(&buf[i..]);
                    break;
                }
            }
        }
        if !data.is_empty() {
            out.push(Piece::Data(data));
        }
        out
    }
}

/// What the holder knows to answer with.
pub struct TermState {
    /// (row, col), 0-based.
    pub cursor: (u16, u16),
    /// (rows, cols)
    pub size: (u16, u16),
    /// DEC private modes the model tracks, and whether each is set.
    pub modes: Vec<(u16, bool)>,
}

/// The reply to `q`, as a terminal (xterm-like, 256 colours, dark
/// background) would give it.
pub fn answer(q: &Query, state: &TermState) -> Vec<u8> {
    match q {
        Query::CursorPosition => {
            format!("\x1b[{};{}R", state.cursor.0 + 1, state.cursor.1 + 1).into_bytes()
        }
        Query::Status => b"\x1b[0n".to_vec(),
        Query::PrimaryAttributes => b"\x1b[?62;22c".to_vec(),
        Query::SecondaryAttributes => b"\x1b[>1;10;0c".to_vec(),
        Query::Mode { private, mode } => {
            // 1 set, 2 reset, 0 not recognised.
            let value = if *private {
                match state.modes.iter().find(|(m, _)| m == mode) {
                    Some((_, true)) => 1,
                    Some((_, false)) => 2,
                    None => 0,
                }
            } else {
                0
            };
            let p = if *private { "?" } else { "" };
            format!("\x1b[{p}{mode};{value}$y").into_bytes()
        }
        Query::Colour { which, st } => {
            let rgb = if *which == 10 {
                "ffff/ffff/ffff"
            } else {
                "0000/0000/0000"
            };
            let mut reply = format!("\x1b]{which};rgb:{rgb}").into_bytes();
            reply.extend_from_slice(st);
            reply
        }
        Query::KittyKeyboard => b"\x1b[?0u".to_vec(),
        Query::TextAreaSize => format!("\x1b[8;{};{}t", state.size.0, state.size.1).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut s = Splitter::default();
        let mut out: Vec<Piece> = Vec::new();
        for c in chunks {
            for p in s.feed(c) {
                match (out.last_mut(), p) {
                    (Some(Piece::Data(d)), Piece::Data(more)) => d.extend(more),
                    (_, p) => out.push(p),
                }
            }
        }
        out
    }

    #[test]
    fn queries_are_cut_out_even_across_reads() {
        let got = all(&[
            b"ab\x1b[",
            b"6nc\x1b[1mX\x1b]11;?\x1b",
            b"\\d\x1b[?u\x1b[?2004$p",
        ]);
        assert_eq!(
            got,
            vec![
                Piece::Data(b"ab".to_vec()),
                Piece::Query(Query::CursorPosition),
                Piece::Data(b"c\x1b[1mX".to_vec()),
                Piece::Query(Query::Colour {
                    which: 11,
                    st: b"\x1b\\".to_vec()
                }),
                Piece::Data(b"d".to_vec()),
                Piece::Query(Query::KittyKeyboard),
                Piece::Query(Query::Mode {
                    private: true,
                    mode: 2004
                }),
            ]
        );
        assert_eq!(
            all(&[b"\x1b[c\x1b[>c\x1b[5n\x1b]10;?\x07\x1b[18t"]),
            vec![
                Piece::Query(Query::PrimaryAttributes),
                Piece::Query(Query::SecondaryAttributes),
                Piece::Query(Query::Status),
                Piece::Query(Query::Colour {
                    which: 10,
                    st: b"\x07".to_vec()
                }),
                Piece::Query(Query::TextAreaSize),
            ]
        );
    }

    #[test]
    fn other_sequences_pass_through_untouched() {
        let text: &[u8] = b"\x1b[2J\x1b[?1049h\x1b]0;title\x07\x1b(B\x1b[38;5;196mred\x1b[0m";
        assert_eq!(all(&[text]), vec![Piece::Data(text.to_vec())]);
        let mut s = Splitter::default();
        // An unterminated OSC longer than the limit is let through.
        let long = [b"\x1b]0;".as_slice(), &[b'x'; 300]].concat();
        assert_eq!(s.feed(&long), vec![Piece::Data(long.clone())]);
    }

    #[test]
    fn answers() {
        let state = TermState {
            cursor: (4, 9),
            size: (24, 80),
            modes: vec![(2004, true), (1, false)],
        };
        assert_eq!(answer(&Query::CursorPosition, &state), b"\x1b[5;10R");
        let mode = |private, mode| answer(&Query::Mode { private, mode }, &state);
        assert_eq!(mode(true, 2004), b"\x1b[?2004;1$y");
        assert_eq!(mode(true, 2026), b"\x1b[?2026;0$y");
        assert_eq!(mode(true, 1), b"\x1b[?1;2$y");
        assert_eq!(mode(false, 4), b"\x1b[4;0$y");
        assert_eq!(
            answer(
                &Query::Colour {
                    which: 11,
                    st: b"\x07".to_vec()
                },
                &state
            ),
            b"\x1b]11;rgb:0000/0000/0000\x07"
        );
        assert_eq!(answer(&Query::TextAreaSize, &state), b"\x1b[8;24;80t");
    }
}
