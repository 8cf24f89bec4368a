//! The pane emulator behind a small trait of our own, so the
//! implementation (vt100 today) can be swapped without touching panes,
//! the session holder or the UI.

use std::num::NonZeroU16;

/// A colour as the program asked for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Color {
    #[default]
    Default,
    Idx(u8),
    Rgb(u8, u8, u8),
}

/// One cell of the visible screen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// The grapheme (may be empty: a blank).
    pub text: String,
    pub fg: Color,
    pub bg: Color,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
    pub inverse: bool,
    pub strikethrough: bool,
    pub blink: bool,
    pub hidden: bool,
    /// The underline's colour (`Default`: the text's).
    pub underline_color: Color,
    /// The right half of a wide character: draw nothing.
    pub wide_continuation: bool,
}

pub trait Screen: Send {
    fn process(&mut self, bytes: &[u8]);
    /// (rows, cols)
    fn size(&self) -> (u16, u16);
    fn resize(&mut self, rows: u16, cols: u16);
    /// Every visible row as plain text, trailing blanks trimmed.
    fn text_rows(&self) -> Vec<String>;
    /// (row, col), 0-based.
    fn cursor(&self) -> (u16, u16);
    /// Escape sequences that redraw this screen on a fresh terminal:
    /// alternate screen, contents with colours and attributes, cursor,
    /// and the input modes a client needs (application cursor/keypad,
    /// bracketed paste, mouse reporting).
    fn snapshot(&self) -> Vec<u8>;
    /// DEC private modes the model tracks (for DECRQM answers).
    fn private_modes(&self) -> Vec<(u16, bool)>;
    /// One visible cell (at the current scrollback offset).
    fn cell(&self, row: u16, col: u16) -> Option<Cell>;
    /// Calls `f(row, col, text, attrs)` for every cell in the top-left
    /// `rows`×`cols`, the text borrowed (the renderer's hot path: no
    /// allocation per cell); `attrs.text` is empty.
    fn visit_cells(&self, rows: u16, cols: u16, f: &mut dyn FnMut(u16, u16, &str, &Cell)) {
        for r in 0..rows {
            for c in 0..cols {
                if let Some(mut cell) = self.cell(r, c) {
                    let text = std::mem::take(&mut cell.text);
                    f(r, c, &text, &cell);
                }
            }
        }
    }
    fn hide_cursor(&self) -> bool;
    /// The modes key encoding depends on.
    fn key_modes(&self) -> super::keys::Modes;
    /// Rows scrolled back into history (0: the live screen).
    fn scrollback(&self) -> usize;
    /// Scrolls back `rows` into history (clamped to what is kept).
    fn set_scrollback(&mut self, rows: usize);
    /// How many times the program asked for attention (bell, OSC 9/777).
    fn attention(&self) -> u64;
    /// How many audible bells it rang.
    fn bells(&self) -> u64;
    /// Whether the cursor sits after something that reads as a prompt
    /// (`$ `, `> `, `❯`, `?`, `(y/n)`, …): the program likely waits for
    /// the operator once its output goes quiet.
    fn at_prompt(&self) -> bool {
        let (row, col) = self.cursor();
        let rows = self.text_rows();
        let Some(line) = rows.get(row as usize) else {
            return false;
        };
        let before: String = line.chars().take(col as usize).collect();
        looks_like_prompt(&before)
    }
}

/// The text left of the cursor ends like a prompt.
pub fn looks_like_prompt(before: &str) -> bool {
    let t = before.trim_end_matches([' ', '\u{a0}']);
    // A prompt inside a box (`│ > `): look past the border.
    let t = t.trim_start_matches(['│', '┃', '|', ' ']);
    if t.is_empty() {
        return false;
    }
    let lower = t.to_lowercase();
    if ["(y/n)", "[y/n]", "(yes/no)"]
        .iter()
        .any(|p| lower.contains(p))
    {
        return true;
    }
    t.ends_with(['$', '#', '>', '❯', '›', '?', ':', '%'])
}

fn color(c: vt100::Color) -> Color {
    match c {
        vt100::Color::Default => Color::Default,
        vt100::Color::Idx(i) => Color::Idx(i),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

/// Counts the program's calls for attention: bells and desktop
/// notifications (OSC 9, OSC 777;notify). Nothing is passed on.
#[derive(Debug, Default)]
pub struct Attention {
    count: u64,
    bells: u64,
}

impl vt100::Callbacks for Attention {
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.count += 1;
        self.bells += 1;
    }
    fn visual_bell(&mut self, _: &mut vt100::Screen) {
        self.count += 1;
    }
    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        if matches!(params.first(), Some(&b"9") | Some(&b"777")) {
            self.count += 1;
        }
    }
}

pub struct Vt100Screen {
    parser: vt100::Parser<Attention>,
}

fn nz(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN)
}

impl Vt100Screen {
    pub fn new(rows: u16, cols: u16, scrollback: usize) -> Self {
        Vt100Screen {
            parser: vt100::Parser::new_with_callbacks(
                nz(rows),
                nz(cols),
                scrollback,
                Attention::default(),
            ),
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
    fn snapshot(&self) -> Vec<u8> {
        let s = self.parser.screen();
        let mut out = Vec::new();
        if s.alternate_screen() {
            out.extend_from_slice(b"\x1b[?1049h");
        }
        out.extend_from_slice(b"\x1b[H\x1b[2J");
        out.extend_from_slice(s.state_formatted().as_bytes());
        out
    }
    fn cell(&self, row: u16, col: u16) -> Option<Cell> {
        let c = self.parser.screen().cell(row, col)?;
        Some(Cell {
            text: c.contents().to_string(),
            fg: color(c.fgcolor()),
            bg: color(c.bgcolor()),
            bold: c.bold(),
            dim: c.dim(),
            italic: c.italic(),
            underline: c.underline(),
            inverse: c.inverse(),
            strikethrough: c.strikethrough(),
            blink: c.blink(),
            hidden: c.hidden(),
            underline_color: color(c.underline_color()),
            wide_continuation: c.is_wide_continuation(),
        })
    }
    fn visit_cells(&self, rows: u16, cols: u16, f: &mut dyn FnMut(u16, u16, &str, &Cell)) {
        let screen = self.parser.screen();
        let mut attrs = Cell::default();
        for r in 0..rows {
            for col in 0..cols {
                let Some(c) = screen.cell(r, col) else {
                    continue;
                };
                attrs.fg = color(c.fgcolor());
                attrs.bg = color(c.bgcolor());
                attrs.bold = c.bold();
                attrs.dim = c.dim();
                attrs.italic = c.italic();
                attrs.underline = c.underline();
                attrs.inverse = c.inverse();
                attrs.strikethrough = c.strikethrough();
                attrs.blink = c.blink();
                attrs.hidden = c.hidden();
                attrs.underline_color = color(c.underline_color());
                attrs.wide_continuation = c.is_wide_continuation();
                f(r, col, c.contents(), &attrs);
            }
        }
    }
    fn hide_cursor(&self) -> bool {
        self.parser.screen().hide_cursor()
    }
    fn key_modes(&self) -> super::keys::Modes {
        let s = self.parser.screen();
        use super::keys::MouseMode;
        use vt100::MouseProtocolMode as M;
        super::keys::Modes {
            application_cursor: s.application_cursor(),
            bracketed_paste: s.bracketed_paste(),
            mouse: match s.mouse_protocol_mode() {
                M::None => MouseMode::Off,
                M::Press => MouseMode::Press,
                M::PressRelease => MouseMode::PressRelease,
                M::ButtonMotion => MouseMode::ButtonMotion,
                M::AnyMotion => MouseMode::AnyMotion,
            },
            mouse_sgr: s.mouse_protocol_encoding() == vt100::MouseProtocolEncoding::Sgr,
        }
    }
    fn scrollback(&self) -> usize {
        self.parser.screen().scrollback()
    }
    fn set_scrollback(&mut self, rows: usize) {
        self.parser.screen_mut().set_scrollback(rows);
    }
    fn attention(&self) -> u64 {
        self.parser.callbacks().count
    }
    fn bells(&self) -> u64 {
        self.parser.callbacks().bells
    }
    fn private_modes(&self) -> Vec<(u16, bool)> {
        use vt100::MouseProtocolMode as M;
        let s = self.parser.screen();
        let mouse = s.mouse_protocol_mode();
        vec![
            (1, s.application_cursor()),
            (25, !s.hide_cursor()),
            (47, s.alternate_screen()),
            (1047, s.alternate_screen()),
            (1049, s.alternate_screen()),
            (2004, s.bracketed_paste()),
            (9, mouse == M::Press),
            (1000, mouse == M::PressRelease),
            (1002, mouse == M::ButtonMotion),
            (1003, mouse == M::AnyMotion),
            (
                1006,
                s.mouse_protocol_encoding() == vt100::MouseProtocolEncoding::Sgr,
            ),
        ]
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

    /// Plain ASCII over either half of a wide character clears the other
    /// half (the fast path for ASCII leaves these to the general one).
    #[test]
    fn ascii_over_a_wide_character_clears_its_other_half() {
        let mut s = Vt100Screen::new(3, 6, 0);
        s.process("中\rA\r\n中\r\x1b[CB\r\nab中".as_bytes());
        assert_eq!(s.text_rows(), vec!["A", " B", "ab中"]);
        assert!(!s.cell(0, 1).is_some_and(|c| c.wide_continuation));
        assert_eq!(s.cell(1, 0).map(|c| c.text), Some(String::new()));
        assert!(s.cell(2, 3).is_some_and(|c| c.wide_continuation));
        s.process(b"\x1b[3;4Hz");
        assert_eq!(s.text_rows()[2], "ab z");
    }

    #[test]
    fn snapshot_redraws_the_same_screen_and_modes() {
        let mut s = Vt100Screen::new(5, 20, 0);
        s.process(b"\x1b[?1049h\x1b[?2004h\x1b[31mred\x1b[0m plain\r\nline2\x1b[3;5H");
        let mut copy = Vt100Screen::new(5, 20, 0);
        copy.process(&s.snapshot());
        assert_eq!(copy.text_rows(), s.text_rows());
        assert_eq!(copy.cursor(), (2, 4));
        assert_eq!(copy.private_modes(), s.private_modes());
        assert!(s.private_modes().contains(&(2004, true)));
        assert!(s.private_modes().contains(&(1049, true)));
    }

    #[test]
    fn every_attribute_is_kept_per_cell_and_in_the_snapshot() {
        let mut s = Vt100Screen::new(3, 20, 0);
        s.process(b"\x1b[1;2;9;5;8;4:3;58:2::1:2:3mA\x1b[0;7mB\x1b[0mC");
        let a = s.cell(0, 0).expect("cell");
        assert!(a.bold && a.dim && a.strikethrough && a.blink && a.hidden && a.underline);
        assert_eq!(a.underline_color, Color::Rgb(1, 2, 3));
        let b = s.cell(0, 1).expect("cell");
        assert!(b.inverse && !b.bold && b.fg == Color::Default && b.bg == Color::Default);
        assert_eq!(s.cell(0, 2).expect("cell").text, "C");
        let mut copy = Vt100Screen::new(3, 20, 0);
        copy.process(&s.snapshot());
        for col in 0..3 {
            assert_eq!(copy.cell(0, col), s.cell(0, col), "column {col}");
        }
    }

    #[test]
    fn bells_and_notifications_ask_for_attention() {
        let mut s = Vt100Screen::new(5, 20, 0);
        assert_eq!(s.attention(), 0);
        s.process(b"done\x07\x1b]9;build finished\x07\x1b]777;notify;t;b\x1b\\\x1b]0;title\x07");
        assert_eq!(s.attention(), 3);
        assert_eq!(s.bells(), 1);
    }

    #[test]
    fn prompts_are_recognised_left_of_the_cursor() {
        for yes in [
            "agent@x:/workspace$ ",
            "root# ",
            ">>> ",
            "│ > ",
            "❯ ",
            "Continue? ",
            "Overwrite file (y/N) ",
            "Password: ",
        ] {
            assert!(looks_like_prompt(yes), "{yes:?}");
        }
        for no in ["", "   ", "Compiling bottle v0.1.0", "│ ", "50%|█████ "] {
            assert!(!looks_like_prompt(no), "{no:?}");
        }
        let mut s = Vt100Screen::new(3, 30, 0);
        s.process(b"working...\r\n$ ");
        assert!(s.at_prompt());
        s.process(b"make\r\nbuilding");
        assert!(!s.at_prompt());
    }

    /// Lines with every kind of cell: attributes, indexed and RGB colours,
    /// underline colours, wide and combining characters, erased cells with
    /// a background, and a line long enough to wrap.
    fn varied_lines(n: usize, cols: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let line = match i % 6 {
                0 => format!("\x1b[1;3;4;7;9m{i} all\x1b[0m plain"),
                1 => format!(
                    "\x1b[38;2;{};2;3;48;5;{}m{i} rgb\x1b[58:2::9:8:7;4m ul\x1b[0m",
                    i % 256,
                    (i * 7) % 256
                ),
                2 => format!("{i} 中文 e\u{301}\u{302} \u{2764}\u{fe0f} \u{1f600}|"),
                3 => format!("\x1b[44m{i} blue \x1b[K\x1b[0m"),
                4 => format!("{i} {}", "long ".repeat(cols / 4)),
                _ => format!("\x1b[2;5;8m{i}\x1b[0m\x1b[{}Gfar", cols / 2),
            };
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Every row a small screen shows while scrolled back equals the same
    /// row of a screen tall enough never to scroll: history round-trips.
    #[test]
    fn history_keeps_every_cell_exactly() {
        let (cols, lines) = (30u16, 120usize);
        let stream = varied_lines(lines, cols as usize);
        let mut tall = Vt100Screen::new(400, cols, 0);
        tall.process(&stream);
        let mut small = Vt100Screen::new(6, cols, 1000);
        small.process(&stream);
        small.set_scrollback(usize::MAX);
        let back = small.scrollback();
        assert!(back > lines, "history kept: {back}");
        let tall_rows = tall.text_rows();
        for offset in (1..=back).rev() {
            small.set_scrollback(offset);
            // Row 0 of the view is history row `back - offset`.
            let row = (back - offset) as u16;
            assert_eq!(small.text_rows()[0], tall_rows[row as usize], "row {row}");
            for col in 0..cols {
                assert_eq!(
                    small.cell(0, col),
                    tall.cell(row, col),
                    "row {row} col {col}"
                );
            }
        }
        small.set_scrollback(0);
        assert_eq!(small.scrollback(), 0);
    }

    /// Growing the screen pulls rows back out of history, exactly; the
    /// wrapped line still reads as one.
    #[test]
    fn resize_pulls_history_back_intact() {
        let cols = 24u16;
        let stream = varied_lines(40, cols as usize);
        let mut tall = Vt100Screen::new(200, cols, 0);
        tall.process(&stream);
        let used = tall
            .text_rows()
            .iter()
            .rposition(|r| !r.is_empty())
            .unwrap_or(0)
            + 2;
        let mut s = Vt100Screen::new(8, cols, 1000);
        s.process(&stream);
        s.resize(used as u16, cols);
        for row in 0..used as u16 {
            for col in 0..cols {
                assert_eq!(s.cell(row, col), tall.cell(row, col), "row {row} col {col}");
            }
        }
        // Shrinking pushes them back into history, growing again restores.
        s.resize(5, cols);
        s.resize(used as u16, cols);
        assert_eq!(s.text_rows(), tall.text_rows()[..used].to_vec());
    }

    /// Scrolled back, new output keeps the same lines on view; scrolling
    /// a row at a time walks the history in order.
    #[test]
    fn scrolled_back_view_holds_while_output_arrives() {
        let mut s = Vt100Screen::new(4, 20, 50);
        for i in 0..30 {
            s.process(format!("line {i}\r\n").as_bytes());
        }
        s.set_scrollback(10);
        let seen = s.text_rows();
        assert_eq!(seen[0], "line 17");
        for i in 30..40 {
            s.process(format!("line {i}\r\n").as_bytes());
        }
        assert_eq!(s.scrollback(), 20);
        assert_eq!(s.text_rows(), seen);
        // Past the history limit, the oldest lines are gone.
        for i in 40..100 {
            s.process(format!("line {i}\r\n").as_bytes());
        }
        s.set_scrollback(usize::MAX);
        assert_eq!(s.scrollback(), 50);
        assert_eq!(s.text_rows()[0], "line 47");
        for step in 0..50 {
            s.set_scrollback(50 - step);
            assert_eq!(s.text_rows()[0], format!("line {}", 47 + step));
        }
    }

    /// Search (as copy mode does it: offsets, top row) finds text deep in
    /// history and in coloured, wide-character lines.
    #[test]
    fn search_reaches_into_history() {
        let mut s = Vt100Screen::new(5, 40, 10_000);
        s.process(&varied_lines(3000, 40));
        s.set_scrollback(usize::MAX);
        let max = s.scrollback();
        let found = (1..=max).find(|&o| {
            s.set_scrollback(o);
            s.text_rows()[0].starts_with("14 中文")
        });
        assert!(found.is_some_and(|o| o > max - 100), "near the oldest line");
        assert!(s.text_rows()[0].starts_with("14 中文 e\u{301}\u{302}"));
        assert_eq!(s.cell(0, 3).map(|c| c.text), Some("中".into()));
        assert!(s.cell(0, 4).is_some_and(|c| c.wide_continuation));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("24x80"), Ok((24, 80)));
        assert!(
            parse_size("0x80").is_err() && parse_size("24").is_err() && parse_size("ax1").is_err()
        );
    }
}
