//! The workspace with no engine at all: the fake backend (`fake:///dir`,
//! its bottles in a file, panes as local PTYs) stands in for Docker through
//! the `Backend` seam. The sidebar lists its bottles, a pane attaches and
//! takes typing, a second pane opens beside it, and quitting leaves the
//! bottles as they were.

use crate::support::{Pty, PtyApp};
use bottle::backends::fake::{FakeBackend, SCHEME};

#[test]
fn the_workspace_runs_panes_on_the_fake_backend_without_an_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::create_dir_all(&home).expect("mkdir");
    let hash = bottle::state::Home { root: home.clone() }.label_hash();
    let host = format!("{SCHEME}{}", dir.path().join("engine").display());
    let fake = FakeBackend::new(&host);
    let (a, b) = ("shell-aaaaa1", "shell-bbbbb2");
    fake.set_bottles(&[
        crate::support::fake_shell(a, &hash),
        crate::support::fake_shell(b, &hash),
    ])
    .expect("fake bottles");

    let (h, hh) = (home.display().to_string(), dir.path().display().to_string());
    let mut app: PtyApp = Pty::open(40, 140).spawn(
        &[],
        &[
            ("BOTTLE_HOME", h.as_str()),
            ("HOME", hh.as_str()),
            // The only engine: nothing reaches Docker or Podman.
            ("DOCKER_HOST", host.as_str()),
            ("CONTAINER_HOST", host.as_str()),
        ],
        &ws,
    );
    app.wait_for("both fake bottles in the sidebar", |s| {
        s.contains(a) && s.contains(b)
    });
    // The sidebar lists the three built-in agents, then the bottles.
    for _ in 0..3 {
        app.send(b"\x1b[B");
    }
    app.send(b"\r");
    app.wait_for("the first pane's prompt", |s| {
        s.contains(&format!("fake@{a}$"))
    });
    app.send(b"echo hi-$((40+2))\r");
    app.wait_for("typing reaches the pane", |s| s.contains("hi-42"));

    // The second bottle beside it.
    app.send(b"\x02\t");
    app.send(b"\x1b[B");
    app.send(b"\r");
    app.wait_for("two panes with prompts", |s| {
        s.contains(&format!("fake@{a}$")) && s.contains(&format!("fake@{b}$"))
    });

    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    let left = fake.bottles().expect("bottles");
    assert!(
        left.iter().all(|x| x.status == "running"),
        "quitting leaves the bottles running: {left:?}"
    );
}

/// An agent that exits at once (a rejected login, a bad flag): its pane
/// keeps what it printed, with the exit status beside it.
#[test]
fn an_agent_that_exits_at_once_leaves_its_last_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::create_dir_all(&home).expect("mkdir");
    let hash = bottle::state::Home { root: home.clone() }.label_hash();
    let host = format!("{SCHEME}{}", dir.path().join("engine").display());
    let fake = FakeBackend::new(&host);
    let slug = "shell-ccccc3";
    let mut b = crate::support::fake_shell(slug, &hash);
    b.command = vec![
        "/bin/sh".into(),
        "-c".into(),
        "echo \"login rejected: bad token\"; exit 3".into(),
    ];
    fake.set_bottles(&[b]).expect("fake bottles");
    let (h, hh) = (home.display().to_string(), dir.path().display().to_string());
    let mut app: PtyApp = Pty::open(40, 140).spawn(
        &[],
        &[
            ("BOTTLE_HOME", h.as_str()),
            ("HOME", hh.as_str()),
            ("DOCKER_HOST", host.as_str()),
            ("CONTAINER_HOST", host.as_str()),
        ],
        &ws,
    );
    app.wait_for("the fake bottle in the sidebar", |s| s.contains(slug));
    for _ in 0..3 {
        app.send(b"\x1b[B");
    }
    app.send(b"\r");
    app.wait_for("the agent's last words and its exit status", |s| {
        s.contains("login rejected: bad token") && s.contains("exited 3")
    });
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
}
