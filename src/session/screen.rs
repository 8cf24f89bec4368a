//! The pane emulator behind a small trait of our own, so the
//! implementation (vt100 today) can be swapped without touching panes,
//! the session holder or the UI.

use std::num::NonZeroU16;

pub trait Screen: Send {
    fn process(&mut self, bytes: &[u8]);
    /// (rows, cols)
    fn size(&self) -> (u16, u16);
    fn resize(&mut self, rows: u16, cols: u16);
    /// Every visible row as plain text, trailing blanks trimmed.
    fn text_rows(&self) -> Vec<String>;
    /// (row, col), 0-based.
    fn cursor(&self) -> (u16, u16);
}

pub struct Vt100Screen {
    parser: vt100::Parser,
}

fn nz(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

impl Vt100Screen {
    pub fn new(rows: u16, cols: u16, scrollback: usize) -> Self {
        Vt100Screen {
            parser: vt100::Parser::new(nz(rows), nz(cols), scrollback),
        }
    }
}

impl Screen for Vt100Screen {
    fn process(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }
    fn size(&self) -> (u16, u16) {
        let (r, c) = self.parser.screen().size();
        (r.get(), c.get())
    }
    fn resize(&mut self, rows: u16, cols: u16) {
        self.parser.set_size(nz(rows), nz(cols));
    }
    fn text_rows(&self) -> Vec<String> {
        let (_, cols) = self.size();
        self.parser
            .screen()
            .rows(0, cols)
            .map(|r| r.trim_end().to_string())
            .collect()
    }
    fn cursor(&self) -> (u16, u16) {
        self.parser.screen().cursor_position()
    }
}

/// Parses `ROWSxCOLS` (as in `--size 24x80`).
pub fn parse_size(text: &str) -> Result<(u16, u16), String> {
    let (r, c) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{text}` is not ROWSxCOLS (like 24x80)"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|n| (1..=4096).contains(n))
    };
    match (parse(r), parse(c)) {
        (Some(r), Some(c)) => Ok((r, c)),
        _ => Err(format!("`{text}`: rows and columns must be 1 to 4096")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulates_cursor_movement_and_wrapping() {
        let mut s = Vt100Screen::new(3, 5, 0);
        s.process(b"abcdefg\x1b[3;1Hz");
        assert_eq!(s.text_rows(), vec!["abcde", "fg", "z"]);
        assert_eq!(s.cursor(), (2, 1));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("24x80"), Ok((24, 80)));
        assert!(
            parse_size("0x80").is_err() && parse_size("24").is_err() && parse_size("ax1").is_err()
        );
    }
}
