//! Differential emulation: recorded terminal sessions (tests/fixtures/
//! streams: vim with scroll regions and the alternate screen, less, top,
//! htop,
//! 256-colour and truecolour output, wide characters and combining marks,
//! the first screens of the real Claude Code 2.1.330 and Codex 0.169.0,
//! recorded with scripts/record-stream in a container without network;
//! every SGR attribute alone and mixed, written by hand: attributes.bin)
//! are played, cut at several points, through `bottle debug emulate` and
//! through tmux at the same size; the visible screens must be identical,
//! text and colours and attributes (`capture-pane -e` against
//! `debug emulate --attrs`).

use crate::support::tmux::{self, cells, first_difference, normalise, Cell, Tmux};
use std::path::Path;
use std::process::Command;

const ROWS: u16 = 24;
const COLS: u16 = 80;

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

#[test]
fn recorded_sessions_render_like_tmux() {
    if !tmux::available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = Tmux::new(dir.path(), "emulation");
    let mut n = 0;
    let mut failures = Vec::new();
    // Cells with a colour or an attribute that both sides agreed on: the
    // comparison must not pass by seeing no colours at all.
    let mut styled = 0usize;
    for stream in crate::support::tmux::streams() {
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
            let ((want, want_cells), (got, got_cells)) =
                (tmux.play(&part, n, ROWS, COLS), ours(&part));
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
                styled += got_cells.iter().flatten().filter(|c| c.styled()).count();
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(styled > 500, "only {styled} styled cells compared");
}
