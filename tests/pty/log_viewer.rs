//! The log viewer tells one bottle's story: the real binary on the fake
//! engine, a bottle stopped from the CLI and another whose pane the
//! operator attached and left, both in the application log; opened with
//! that pane focused, `b` keeps only its bottle's lines, and cycles on.

use crate::support::{Pty, PtyApp};
use bottle::backends::fake::{FakeBackend, SCHEME};

#[test]
fn the_log_viewer_filters_the_application_log_by_bottle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let h = bottle::state::Home { root: home.clone() };
    let hash = h.label_hash();
    let host = format!("{SCHEME}{}", dir.path().join("engine").display());
    let (a, b) = ("shell-aaaaa1", "shell-bbbbb2");
    FakeBackend::new(&host)
        .set_bottles(&[
            crate::support::fake_shell(a, &hash),
            crate::support::fake_shell(b, &hash),
        ])
        .expect("fake bottles");
    let (hs, hh) = (home.display().to_string(), dir.path().display().to_string());
    let env = [
        ("BOTTLE_HOME", hs.as_str()),
        ("HOME", hh.as_str()),
        ("DOCKER_HOST", host.as_str()),
        ("CONTAINER_HOST", host.as_str()),
    ];

    // b is stopped from the command line: its line is in the log.
    std::fs::create_dir_all(h.state_dir(b)).expect("state");
    let out = std::process::Command::new(crate::support::bottle_bin())
        .args(["stop", b])
        .envs(env)
        .env_remove("BOTTLE_LOG")
        .output()
        .expect("bottle stop");
    assert!(out.status.success(), "{out:?}");

    let mut app: PtyApp = Pty::open(40, 220).spawn(&[], &env, &ws);
    app.wait_for("a in the sidebar", |s| s.contains(a));
    // The sidebar lists the three built-in agents, then the bottles: a
    // pane on a, whose shell then exits (its end is a's line).
    for _ in 0..3 {
        app.send(b"\x1b[B");
    }
    app.send(b"\r");
    app.wait_for("a's prompt", |s| s.contains(&format!("fake@{a}$")));
    app.send(b"exit\r");
    app.wait_for("a's pane ended", |s| s.contains("exited 0"));

    // The viewer, opened with a's pane focused, on the application log.
    app.send(b"\x02l");
    let (line_a, line_b) = (format!("slug={a}"), format!("slug={b}"));
    app.wait_for("both bottles' lines in the log", |s| {
        s.contains(&line_b) && s.contains(&line_a) && s.contains("event=\"pane_detached\"")
    });
    app.send(b"b");
    app.wait_for("only a's lines, the filter in the title", |s| {
        s.contains(&format!("bottle {a}")) && s.contains(&line_a) && !s.contains(&line_b)
    });
    // Next: b's lines only; then every line again.
    app.send(b"b");
    app.wait_for("only b's lines", |s| {
        s.contains(&format!("bottle {b}"))
            && s.contains(&line_b)
            && s.contains("event=\"stop\"")
            && !s.contains(&line_a)
    });
    app.send(b"b");
    app.wait_for("every line again", |s| {
        s.contains(&line_a) && s.contains(&line_b) && !s.contains(&format!("bottle {b} "))
    });
    app.send(b"q");
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
}
