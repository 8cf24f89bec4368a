//! tmux as the reference terminal: a private tmux server (its own socket,
//! no user config) to play streams into or to run the workspace inside,
//! and `capture-pane -e` parsed into cells (text, colours, attributes) so
//! two screens can be compared cell by cell.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Whether tmux is here; prints NOT RUN (or fails under
/// `BOTTLE_REQUIRE_ALL=1`) when it is not.
pub fn available() -> bool {
    let have = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    super::require("tmux (the reference terminal)", have)
}

pub struct Tmux {
    socket: String,
    conf: PathBuf,
}

impl Tmux {
    /// A server of its own (socket named after `name` and this process),
    /// its config in `dir`: no status line, xterm-256color inside.
    pub fn new(dir: &Path, name: &str) -> Tmux {
        let conf = dir.join(format!("tmux-{name}.conf"));
        std::fs::write(
            &conf,
            "set -g status off\nset -g default-terminal xterm-256color\n",
        )
        .expect("conf");
        Tmux {
            socket: format!("bottle-{name}-{}", std::process::id()),
            conf,
        }
    }

    pub fn socket(&self) -> &str {
        &self.socket
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket).arg("-f").arg(&self.conf);
        c
    }

    /// Starts a detached session `name` of `rows`×`cols` running `script`
    /// (a shell command line).
    pub fn start(&self, name: &str, rows: u16, cols: u16, script: &str) {
        let ok = self
            .cmd()
            .args(["new-session", "-d", "-s", name])
            .args(["-x", &cols.to_string(), "-y", &rows.to_string()])
            .arg(script)
            .status()
            .expect("tmux");
        assert!(ok.success(), "tmux new-session {name}");
    }

    /// `capture-pane -p` of session `name`, with `extra` flags.
    pub fn capture(&self, name: &str, extra: &[&str]) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", name])
            .args(extra)
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys typed into session `name` (`send-keys`, tmux key names).
    pub fn keys(&self, name: &str, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", name])
            .args(keys)
            .status()
            .expect("send-keys");
        assert!(ok.success());
    }

    pub fn kill(&self, name: &str) {
        let _ = self.cmd().args(["kill-session", "-t", name]).status();
    }

    /// The screen tmux shows after `file` is written to a pane of
    /// `rows`×`cols`: its text, and its cells with colours and attributes.
    pub fn play(
        &self,
        file: &Path,
        n: usize,
        rows: u16,
        cols: u16,
    ) -> (Vec<String>, Vec<Vec<Cell>>) {
        let session = format!("s{n}");
        let script = format!(
            // No echo: tmux answers the stream's terminal queries into
            // the pane's input, which must not show up on its screen.
            "stty -echo -icanon; cat '{}'; tmux -L {} wait-for -S done-{n}; sleep 600",
            file.display(),
            self.socket
        );
        self.start(&session, rows, cols, &script);
        let waited = self
            .cmd()
            .args(["wait-for", &format!("done-{n}")])
            .status()
            .expect("tmux wait-for");
        assert!(waited.success());
        let (text, attrs) = (
            self.capture(&session, &[]),
            self.capture(&session, &["-e", "-N"]),
        );
        self.kill(&session);
        (normalise(&text), cells(&attrs))
    }

    /// Waits (up to the harness timeout) until `pred` holds for session
    /// `name`'s plain text; panics with the screen when it never does.
    pub fn wait_for(&self, name: &str, what: &str, pred: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let text = self.capture(name, &[]);
            if pred(&text) {
                return;
            }
            assert!(
                start.elapsed() < super::TIMEOUT,
                "timed out waiting for {what}; screen:\n{text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// Rows with trailing blanks and trailing empty rows dropped.
pub fn normalise(text: &str) -> Vec<String> {
    let mut rows: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while rows.last().is_some_and(|r| r.is_empty()) {
        rows.pop();
    }
    rows
}

/// One cell as both sides print it: the character and what it looks like.
/// Underline styles (curly, dotted, double) compare as underline: the
/// workspace draws them as a plain underline (ARCHITECTURE.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    pub ch: String,
    pub fg: Option<String>,
    pub bg: Option<String>,
    pub underline_color: Option<String>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
    pub blink: bool,
    pub inverse: bool,
    pub hidden: bool,
    pub strikethrough: bool,
}

impl Cell {
    /// Any colour or attribute at all.
    pub fn styled(&self) -> bool {
        self.fg.is_some() || self.bg.is_some() || !self.plain_attrs()
    }

    fn plain_attrs(&self) -> bool {
        !(self.bold
            || self.dim
            || self.italic
            || self.underline
            || self.blink
            || self.inverse
            || self.hidden
            || self.strikethrough)
    }

    /// A blank with nothing on it but maybe a background: trailing ones
    /// are dropped, because `capture-pane` leaves out the cells an erase
    /// painted past a line's text (tmux draws them, it does not print them).
    fn is_plain_blank(&self) -> bool {
        self.ch == " " && !self.inverse && !self.underline && !self.strikethrough
    }
}

/// Parses rows of text with SGR sequences (`capture-pane -e`, `debug
/// emulate --attrs`) into cells, trailing plain blanks and empty rows
/// dropped (see `grid`).
pub fn cells(text: &str) -> Vec<Vec<Cell>> {
    let mut rows = grid(text);
    for row in &mut rows {
        trim(row);
    }
    while rows.last().is_some_and(|r| r.is_empty()) {
        rows.pop();
    }
    rows
}

/// Drops a row's trailing plain blanks.
pub fn trim(row: &mut Vec<Cell>) {
    while row.last().is_some_and(Cell::is_plain_blank) {
        row.pop();
    }
}

/// Rows of cells, one per column: the right half of a wide character is
/// an empty cell. Colours are normalised (30–37/90–97 and `38;5;n` are the
/// same palette index); what a blank cannot show (its foreground, bold,
/// italic) is dropped.
pub fn grid(text: &str) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    let mut pen = Cell::default();
    for line in text.lines() {
        let mut row: Vec<Cell> = Vec::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' && chars.peek() == Some(&'[') {
                chars.next();
                let mut params = String::new();
                let mut fin = ' ';
                for p in chars.by_ref() {
                    if p.is_ascii_digit() || p == ';' || p == ':' {
                        params.push(p);
                    } else {
                        fin = p;
                        break;
                    }
                }
                if fin == 'm' {
                    sgr(&mut pen, &params);
                }
                continue;
            }
            let width = unicode_width::UnicodeWidthChar::width(c);
            // Combining marks belong to the cell before (past the empty
            // right half of a wide one).
            if width == Some(0) {
                if let Some(last) = row.iter_mut().rev().find(|c| !c.ch.is_empty()) {
                    last.ch.push(c);
                    continue;
                }
            }
            let mut cell = pen.clone();
            cell.ch = c.to_string();
            if !cell.underline {
                // Nothing shows the underline colour of a cell without one.
                cell.underline_color = None;
            }
            if c == ' ' {
                cell.fg = None;
                cell.bold = false;
                cell.dim = false;
                cell.italic = false;
            }
            let wide = width == Some(2);
            let right = Cell {
                ch: String::new(),
                ..cell.clone()
            };
            row.push(cell);
            if wide {
                row.push(right);
            }
        }
        rows.push(row);
    }
    rows
}

fn sgr(pen: &mut Cell, params: &str) {
    let parts: Vec<&str> = if params.is_empty() {
        vec!["0"]
    } else {
        params.split(';').collect()
    };
    let mut i = 0;
    while i < parts.len() {
        // `4:3` (curly underline) and other colon forms: the first number.
        let sub: Vec<&str> = parts[i].split(':').collect();
        let n: u32 = sub[0].parse().unwrap_or(0);
        let colour = |i: &mut usize| -> Option<String> {
            // Colon form: `58:5:n`, `38:2::r:g:b`, `38:2:r:g:b`.
            if sub.len() > 1 {
                let nums: Vec<&str> = sub[1..].to_vec();
                return match nums.first().copied() {
                    Some("5") => Some(format!("idx{}", nums.get(1)?)),
                    Some("2") => {
                        let rgb = &nums[nums.len().checked_sub(3)?..];
                        Some(format!("rgb{},{},{}", rgb[0], rgb[1], rgb[2]))
                    }
                    _ => None,
                };
            }
            match parts.get(*i + 1).copied() {
                Some("5") => {
                    *i += 2;
                    Some(format!("idx{}", parts.get(*i)?))
                }
                Some("2") => {
                    *i += 4;
                    Some(format!(
                        "rgb{},{},{}",
                        parts.get(*i - 2)?,
                        parts.get(*i - 1)?,
                        parts.get(*i)?
                    ))
                }
                _ => None,
            }
        };
        match n {
            0 => *pen = Cell::default(),
            1 => pen.bold = true,
            2 => pen.dim = true,
            3 => pen.italic = true,
            4 => pen.underline = sub.get(1) != Some(&"0"),
            5 | 6 => pen.blink = true,
            7 => pen.inverse = true,
            8 => pen.hidden = true,
            9 => pen.strikethrough = true,
            21 => pen.underline = true,
            22 => {
                pen.bold = false;
                pen.dim = false;
            }
            23 => pen.italic = false,
            24 => pen.underline = false,
            25 => pen.blink = false,
            27 => pen.inverse = false,
            28 => pen.hidden = false,
            29 => pen.strikethrough = false,
            30..=37 => pen.fg = Some(format!("idx{}", n - 30)),
            90..=97 => pen.fg = Some(format!("idx{}", n - 90 + 8)),
            40..=47 => pen.bg = Some(format!("idx{}", n - 40)),
            100..=107 => pen.bg = Some(format!("idx{}", n - 100 + 8)),
            38 => pen.fg = colour(&mut i),
            48 => pen.bg = colour(&mut i),
            58 => pen.underline_color = colour(&mut i),
            39 => pen.fg = None,
            49 => pen.bg = None,
            59 => pen.underline_color = None,
            _ => {}
        }
        i += 1;
    }
}

/// The first differing cell, for a failure message.
pub fn first_difference(want: &[Vec<Cell>], got: &[Vec<Cell>]) -> String {
    for r in 0..want.len().max(got.len()) {
        let (w, g) = (want.get(r), got.get(r));
        if w != g {
            let (w, g) = (
                w.cloned().unwrap_or_default(),
                g.cloned().unwrap_or_default(),
            );
            for c in 0..w.len().max(g.len()) {
                if w.get(c) != g.get(c) {
                    return format!(
                        "row {r} col {c}: reference {:?}, bottle {:?}",
                        w.get(c),
                        g.get(c)
                    );
                }
            }
        }
    }
    String::new()
}

/// The recorded terminal sessions (`tests/fixtures/streams/*.bin`), sorted.
pub fn streams() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("streams")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    v.sort();
    v
}
