//! Differential emulation: recorded terminal sessions (tests/fixtures/
//! streams: vim with scroll regions and the alternate screen, less, top,
//! 256-colour and truecolour output, wide characters and combining marks)
//! are played, cut at several points, through `bottle debug emulate` and
//! through tmux at the same size; the visible screens must be identical.

mod common;

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

    /// The screen tmux shows after `file` is written to a pane.
    fn screen(&self, file: &Path, n: usize) -> Vec<String> {
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
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", &session])
            .output()
            .expect("capture-pane");
        let _ = self.cmd().args(["kill-session", "-t", &session]).status();
        normalise(&String::from_utf8_lossy(&out.stdout))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn ours(file: &Path) -> Vec<String> {
    let out = Command::new(common::bottle_bin())
        .args(["debug", "emulate"])
        .arg(file)
        .args(["--size", &format!("{ROWS}x{COLS}")])
        .output()
        .expect("bottle debug emulate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    normalise(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn recorded_sessions_render_like_tmux() {
    let have_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::require("tmux (the reference terminal)", have_tmux) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = Tmux::new(dir.path());
    let mut n = 0;
    let mut failures = Vec::new();
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
            let (want, got) = (tmux.screen(&part, n), ours(&part));
            if want != got {
                failures.push(format!(
                    "{} cut at {cut}/{}:\n--- tmux\n{}\n--- bottle\n{}",
                    stream.display(),
                    bytes.len(),
                    want.join("\n"),
                    got.join("\n")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
