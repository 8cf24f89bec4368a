//! Differential emulation: recorded terminal sessions (tests/fixtures/
//! streams: vim with scroll regions and the alternate screen, less, top,
//! 256-colour and truecolour output, wide characters and combining marks,
//! the first screens of the real Claude Code 2.1.330 and Codex 0.169.0,
//! recorded with scripts/record-stream in a container without network)
//! are played, cut at several points, through `bottle debug emulate` and
//! through tmux at the same size; the visible screens must be identical,
//! text and colours and attributes (`capture-pane -e` against
//! `debug emulate --attrs`).

use std::path::{Path, PathBuf};
use std::process::Command;

const ROWS: u16 = 24;
const COLS: u16 = 80;

fn streams() -> Vec<PathBuf> {
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

fn normalise(text: &str) -> Vec<String> {
    let mut rows: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while rows.last().is_some_and(|r| r.is_empty()) {
        rows.pop();
    }
    rows
}

struct Tmux {
    socket: String,
    conf: PathBuf,
}

impl Tmux {
    fn new(dir: &Path) -> Tmux {
        let conf = dir.join("tmux.conf");
        std::fs::write(
            &conf,
            "set -g status off\nset -g default-terminal xterm-256color\n",
        )
        .expect("conf");
        Tmux {
            socket: format!("bottle-emulation-{}", std::process::id()),
            conf,
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket).arg("-f").arg(&self.conf);
        c
    }

    /// The screen tmux shows after `file` is written to a pane: its text,
    /// and its cells with colours and attributes.
    fn screen(&self, file: &Path, n: usize) -> (Vec<String>, Vec<Vec<Cell>>) {
        let session = format!("s{n}");
        let script = format!(
            // No echo: tmux answers the stream's terminal queries into
            // the pane's input, which must not show up on its screen.
            "stty -echo -icanon; cat '{}'; tmux -L {} wait-for -S done-{n}; sleep 600",
            file.display(),
            self.socket
        );
        let ok = self
            .cmd()
            .args(["new-session", "-d", "-s", &session])
            .args(["-x", &COLS.to_string(), "-y", &ROWS.to_string()])
            .arg(script)
            .status()
            .expect("tmux");
        assert!(ok.success());
        let waited = self
            .cmd()
            .args(["wait-for", &format!("done-{n}")])
            .status()
            .expect("tmux wait-for");
        assert!(waited.success());
        let capture = |extra: &[&str]| {
            let out = self
                .cmd()
                .args(["capture-pane", "-p", "-t", &session])
                .args(extra)
                .output()
                .expect("capture-pane");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let (text, attrs) = (capture(&[]), capture(&["-e", "-N"]));
        let _ = self.cmd().args(["kill-session", "-t", &session]).status();
        (normalise(&text), cells(&attrs))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn ours(file: &Path) -> (Vec<String>, Vec<Vec<Cell>>) {
    let run = |extra: &[&str]| {
        let out = Command::new(crate::support::bottle_bin())
            .args(["debug", "emulate"])
            .arg(file)
            .args(["--size", &format!("{ROWS}x{COLS}")])
            .args(extra)
            .output()
            .expect("bottle debug emulate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    (normalise(&run(&[])), cells(&run(&["--attrs"])))
}

/// One cell as both sides print it: the character and what it looks like.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Cell {
    ch: String,
    fg: Option<String>,
    bg: Option<String>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    inverse: bool,
}

/// Parses rows of text with SGR sequences (`capture-pane -e`, `debug
/// emulate --attrs`) into cells. Colours are normalised (30–37/90–97 and
/// `38;5;n` are the same palette index); what a blank cannot show (its
/// foreground, bold, italic) is dropped, and trailing plain blanks too.
fn cells(text: &str) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    let mut pen = Cell::default();
    for line in text.lines() {
        let mut row = Vec::new();
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
            let mut cell = pen.clone();
            cell.ch = c.to_string();
            // Combining marks belong to the cell before.
            if unicode_width::UnicodeWidthChar::width(c) == Some(0) && !row.is_empty() {
                if let Some(last) = row.last_mut() {
                    let last: &mut Cell = last;
                    last.ch.push(c);
                }
                continue;
            }
            if c == ' ' {
                cell.fg = None;
                cell.bold = false;
                cell.dim = false;
                cell.italic = false;
            }
            row.push(cell);
        }
        while row
            .last()
            .is_some_and(|c| c.ch == " " && c.bg.is_none() && !c.inverse && !c.underline)
        {
            row.pop();
        }
        rows.push(row);
    }
    while rows.last().is_some_and(|r| r.is_empty()) {
        rows.pop();
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
        let n: u32 = parts[i]
            .split(':')
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        let colour = |i: &mut usize| -> Option<String> {
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
            4 => pen.underline = parts[i] != "4:0",
            7 => pen.inverse = true,
            22 => {
                pen.bold = false;
                pen.dim = false;
            }
            23 => pen.italic = false,
            24 => pen.underline = false,
            27 => pen.inverse = false,
            30..=37 => pen.fg = Some(format!("idx{}", n - 30)),
            90..=97 => pen.fg = Some(format!("idx{}", n - 90 + 8)),
            40..=47 => pen.bg = Some(format!("idx{}", n - 40)),
            100..=107 => pen.bg = Some(format!("idx{}", n - 100 + 8)),
            38 => pen.fg = colour(&mut i),
            48 => pen.bg = colour(&mut i),
            39 => pen.fg = None,
            49 => pen.bg = None,
            _ => {}
        }
        i += 1;
    }
}

/// The first differing cell, for the failure message.
fn first_difference(want: &[Vec<Cell>], got: &[Vec<Cell>]) -> String {
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
                        "row {r} col {c}: tmux {:?}, bottle {:?}",
                        w.get(c),
                        g.get(c)
                    );
                }
            }
        }
    }
    String::new()
}

#[test]
fn recorded_sessions_render_like_tmux() {
    let have_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !crate::support::require("tmux (the reference terminal)", have_tmux) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = Tmux::new(dir.path());
    let mut n = 0;
    let mut failures = Vec::new();
    // Cells with a colour or an attribute that both sides agreed on: the
    // comparison must not pass by seeing no colours at all.
    let mut styled = 0usize;
    for stream in streams() {
        let bytes = std::fs::read(&stream).expect("stream");
        for cut in [
            bytes.len() / 4,
            bytes.len() / 2,
            bytes.len() * 3 / 4,
            bytes.len(),
        ] {
            n += 1;
            let part = dir.path().join(format!("part-{n}.bin"));
            std::fs::write(&part, &bytes[..cut]).expect("write");
            let ((want, want_cells), (got, got_cells)) = (tmux.screen(&part, n), ours(&part));
            if want != got {
                failures.push(format!(
                    "{} cut at {cut}/{}:\n--- tmux\n{}\n--- bottle\n{}",
                    stream.display(),
                    bytes.len(),
                    want.join("\n"),
                    got.join("\n")
                ));
            } else if want_cells != got_cells {
                failures.push(format!(
                    "{} cut at {cut}/{}: same text, different colours or attributes: {}",
                    stream.display(),
                    bytes.len(),
                    first_difference(&want_cells, &got_cells)
                ));
            } else {
                styled += got_cells
                    .iter()
                    .flatten()
                    .filter(|c| c.fg.is_some() || c.bg.is_some() || c.bold || c.inverse)
                    .count();
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(styled > 500, "only {styled} styled cells compared");
}
