//! Panes keep the operator's theme: the real workspace runs inside a real
//! outer terminal (tmux), its pane (the fake backend: a local PTY) plays a
//! recorded stream, and the cells the workspace drew for the pane — cut
//! out of the outer terminal's screen with `capture-pane -e` — must be the
//! cells tmux shows when it plays the same stream itself at the pane's
//! size: text, colours (default stays default) and every attribute
//! (reverse, bold, dim, italic, underline and its colour, blink, hidden,
//! strikethrough). And reverse video leaves the workspace as SGR 7, never
//! as black on white.

use crate::support::tmux::{self, first_difference, grid, trim, Cell, Tmux};
use crate::support::TIMEOUT;
use bottle::backends::fake::{FakeBackend, FakeBottle, SCHEME};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROWS: u16 = 40;
const COLS: u16 = 140;
const SLUG: &str = "shell-theme1";

/// A home, a workspace folder and a fake engine whose one bottle runs
/// `script` in its pane.
struct Setup {
    dir: tempfile::TempDir,
    host: String,
}

impl Setup {
    /// `script(dir)`: the pane's command line, given the scratch folder.
    fn new(script: impl FnOnce(&Path) -> String) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = script(dir.path());
        for d in ["home", "ws"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let hash = bottle::state::Home {
            root: dir.path().join("home"),
        }
        .label_hash();
        let host = format!("{SCHEME}{}", dir.path().join("engine").display());
        FakeBackend::new(&host)
            .set_bottles(&[FakeBottle {
                slug: SLUG.into(),
                agent: "shell".into(),
                home: hash,
                status: "running".into(),
                command: vec!["/bin/sh".into(), "-c".into(), script],
            }])
            .expect("fake bottles");
        Setup { dir, host }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The workspace as a shell command line for tmux, started once
    /// `go` exists (so the outer pane can be piped first).
    fn workspace(&self) -> String {
        format!(
            "while [ ! -e '{go}' ]; do sleep 0.05; done; cd '{ws}' && exec env \
             BOTTLE_HOME='{home}' HOME='{root}' DOCKER_HOST='{host}' CONTAINER_HOST='{host}' '{bin}'",
            go = self.path("go").display(),
            ws = self.path("ws").display(),
            home = self.path("home").display(),
            root = self.dir.path().display(),
            host = self.host,
            bin = crate::support::bottle_bin().display(),
        )
    }

    /// Starts the workspace in session `name` of the outer tmux (its
    /// output piped to `outer.bytes`) and opens the bottle's pane.
    fn open(&self, outer: &Tmux, name: &str) {
        outer.start(name, ROWS, COLS, &self.workspace());
        let pipe = format!("cat > '{}'", self.path("outer.bytes").display());
        let ok = outer
            .cmd()
            .args(["pipe-pane", "-O", "-t", name, &pipe])
            .status()
            .expect("pipe-pane");
        assert!(ok.success());
        std::fs::write(self.path("go"), "").expect("go");
        outer.wait_for(name, "the fake bottle in the sidebar", |s| s.contains(SLUG));
        // The sidebar lists the three built-in agents, then the bottle.
        outer.keys(name, &["Down", "Down", "Down", "Enter"]);
    }
}

fn wait_for_file(path: &Path, what: &str) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The pane's inner cells in the outer terminal's screen: below and right
/// of the corner of the border titled with the bottle, `rows`×`cols`.
fn pane_cells(outer: &Tmux, name: &str, rows: u16, cols: u16) -> Option<Vec<Vec<Cell>>> {
    let screen = grid(&outer.capture(name, &["-e", "-N"]));
    let title: Vec<char> = format!("┌ {SLUG} ").chars().collect();
    let (top, left) = screen.iter().enumerate().find_map(|(r, row)| {
        let chars: Vec<&str> = row.iter().map(|c| c.ch.as_str()).collect();
        (0..chars.len()).find_map(|c| {
            let hit = title
                .iter()
                .enumerate()
                .all(|(i, t)| chars.get(c + i).is_some_and(|x| *x == t.to_string()));
            hit.then_some((r, c))
        })
    })?;
    let mut inner: Vec<Vec<Cell>> = screen
        .iter()
        .skip(top + 1)
        .take(rows as usize)
        .map(|row| {
            let mut cut: Vec<Cell> = row
                .iter()
                .skip(left + 1)
                .take(cols as usize)
                .cloned()
                .collect();
            trim(&mut cut);
            cut
        })
        .collect();
    while inner.last().is_some_and(|r| r.is_empty()) {
        inner.pop();
    }
    Some(inner)
}

#[test]
fn panes_reach_the_outer_terminal_with_the_programs_own_colours_and_attributes() {
    if !tmux::available() {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let outer = Tmux::new(scratch.path(), "theme-outer");
    let reference = Tmux::new(scratch.path(), "theme-ref");
    let mut failures = Vec::new();
    let mut styled = 0usize;
    for (n, stream) in crate::support::tmux::streams().into_iter().enumerate() {
        let name = format!("w{n}");
        // The pane waits for a key (so the layout has settled), notes its
        // size, plays the stream and says so.
        let setup = Setup::new(|dir| {
            format!(
                "stty -echo -icanon; head -c1 >/dev/null; stty size > '{size}.tmp'; \
                 mv '{size}.tmp' '{size}'; cat '{stream}'; touch '{done}'; exec sleep 1000",
                size = dir.join("size").display(),
                done = dir.join("done").display(),
                stream = stream.display(),
            )
        });
        setup.open(&outer, &name);
        outer.wait_for(&name, "the pane's border", |s| {
            s.contains(&format!("┌ {SLUG} "))
        });
        outer.keys(&name, &["g"]);
        wait_for_file(&setup.path("done"), "the pane to play its stream");
        let size = std::fs::read_to_string(setup.path("size")).expect("size");
        let (rows, cols) = size
            .trim()
            .split_once(' ')
            .and_then(|(r, c)| Some((r.parse::<u16>().ok()?, c.parse::<u16>().ok()?)))
            .expect("stty size");
        let (_, want) = reference.play(&stream, n, rows, cols);
        // The workspace draws at its frame rate: wait for the pane to match.
        let start = Instant::now();
        let got = loop {
            let got = pane_cells(&outer, &name, rows, cols);
            if got.as_ref() == Some(&want) || start.elapsed() > TIMEOUT {
                break got;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        outer.kill(&name);
        match got {
            Some(got) if got == want => {
                styled += got.iter().flatten().filter(|c| c.styled()).count();
            }
            Some(got) => failures.push(format!(
                "{} in a {rows}x{cols} pane: {}",
                stream.display(),
                first_difference(&want, &got)
            )),
            None => failures.push(format!("{}: no pane titled {SLUG}", stream.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The comparison must not pass by seeing no colours or attributes.
    assert!(styled > 500, "only {styled} styled cells compared");
}

#[test]
fn reverse_video_leaves_the_workspace_as_reverse_and_default_colours_as_default() {
    if !tmux::available() {
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let outer = Tmux::new(scratch.path(), "theme-rev");
    let setup = Setup::new(|_| "printf 'plain \\033[7mREV\\033[0m after'; exec sleep 1000".into());
    setup.open(&outer, "rev");
    outer.wait_for("rev", "the pane's text", |s| s.contains("plain REV after"));
    let screen = grid(&outer.capture("rev", &["-e", "-N"]));
    let row = screen
        .iter()
        .find(|r| {
            r.iter()
                .map(|c| c.ch.as_str())
                .collect::<String>()
                .contains("plain REV after")
        })
        .expect("the pane's row");
    let text: String = row.iter().map(|c| c.ch.as_str()).collect();
    let at = text.find("plain REV after").expect("text");
    let start = text[..at].chars().count();
    let cell = |i: usize| &row[start + i];
    for i in [0, 4, 10, 14] {
        let c = cell(i);
        assert!(
            !c.styled(),
            "plain text in the pane reaches the outer terminal in its default colours: {c:?}"
        );
    }
    for i in 6..9 {
        let c = cell(i);
        assert!(
            c.inverse && c.fg.is_none() && c.bg.is_none(),
            "`ESC[7m` reaches the outer terminal as reverse video over the default colours: {c:?}"
        );
    }
    let bytes = std::fs::read(setup.path("outer.bytes")).expect("outer bytes");
    let bytes = String::from_utf8_lossy(&bytes);
    assert!(bytes.contains("\x1b[7m"), "SGR 7 in the workspace's output");
    assert!(
        !bytes.contains("48;5;15"),
        "no white background stands in for reverse video"
    );
}
