//! Definitions appear live: files written into `$BOTTLE_HOME/agents`, the
//! repository's `.bottle/agents` and `config.yaml` while the workspace runs
//! show in its sidebar, picker, problems view and keys, without a restart.
//! The workspace runs on the fake backend (no engine).

use crate::support::{Pty, PtyApp};
use bottle::backends::fake::{FakeBackend, SCHEME};
use std::path::{Path, PathBuf};

struct Live {
    _dir: tempfile::TempDir,
    home: PathBuf,
    ws: PathBuf,
    app: PtyApp,
}

/// The workspace over an empty home and workspace, its built-in agents
/// drawn.
fn start() -> Live {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::create_dir_all(&home).expect("mkdir");
    let host = format!("{SCHEME}{}", dir.path().join("engine").display());
    FakeBackend::new(&host)
        .set_bottles(&[])
        .expect("fake bottles");
    let (h, hh) = (home.display().to_string(), dir.path().display().to_string());
    let app = Pty::open(40, 140).spawn(
        &[],
        &[
            ("BOTTLE_HOME", h.as_str()),
            ("HOME", hh.as_str()),
            ("DOCKER_HOST", host.as_str()),
            ("CONTAINER_HOST", host.as_str()),
        ],
        &ws,
    );
    app.wait_for("the built-in agents", |s| s.contains("agents (3)"));
    Live {
        _dir: dir,
        home,
        ws,
        app,
    }
}

/// Writes `path` as an editor would: a temporary file renamed over it.
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

#[test]
fn a_new_home_agent_appears_in_the_running_workspace() {
    let mut l = start();
    write(
        &l.home.join("agents/reviewer.md"),
        "---\nbottle: shell\n---\nReviews.\n",
    );
    l.app.wait_for("the new agent in the sidebar", |s| {
        s.contains("agents (4)") && s.contains("reviewer") && s.contains("new agent reviewer")
    });
    // The picker lists it too.
    l.app.send(b"\x02n");
    l.app.wait_for("the picker with the new agent", |s| {
        s.matches("reviewer").count() >= 2
    });
    l.app.send(b"\x1b\x1b");
    l.app.send(b"\x02q");
    assert_eq!(l.app.wait_exit(), 0);
}

#[test]
fn a_new_repo_agent_appears_untrusted() {
    let mut l = start();
    // `.bottle` does not exist when the workspace starts.
    write(
        &l.ws.join(".bottle/agents/helper.md"),
        "---\nbottle: shell\n---\nHelps.\n",
    );
    l.app.wait_for("the repo agent, marked untrusted", |s| {
        s.contains("helper (repo) untrusted")
    });
    // A second one in the now-watched directory.
    write(
        &l.ws.join(".bottle/agents/other.md"),
        "---\nbottle: shell\n---\nAlso.\n",
    );
    l.app.wait_for("the second repo agent", |s| {
        s.contains("other (repo) untrusted")
    });
    l.app.send(b"\x02q");
    assert_eq!(l.app.wait_exit(), 0);
}

#[test]
fn a_broken_definition_shows_as_a_problem_until_it_is_fixed() {
    let mut l = start();
    let file = l.home.join("agents/broken.md");
    write(&file, "---\nbotle: shell\n---\n");
    l.app.wait_for("the problem count in the status line", |s| {
        s.contains("2 problem(s)")
    });
    l.app.send(b"\x02p");
    let at = format!("{}:2:1: error: unknown key `botle`", file.display());
    l.app
        .wait_for("the problem with file:line:col", |s| s.contains(&at));
    l.app.send(b"\x1b");
    write(&file, "---\nbottle: shell\n---\nFixed.\n");
    l.app.wait_for("the problem gone, the agent listed", |s| {
        !s.contains("problem(s)") && s.contains("broken") && s.contains("definitions fine again")
    });
    // config.yaml applies live: a new prefix.
    write(&l.home.join("config.yaml"), "keys:\n  prefix: C-a\n");
    l.app.wait_for("the new prefix in the hints", |s| {
        s.contains("Ctrl-a ? help")
    });
    l.app.send(b"\x01q");
    assert_eq!(l.app.wait_exit(), 0);
}
