//! The workspace multiplexer end to end, in a real PTY with real bottles:
//! open → a running bottle's pane shows its prompt → typing reaches it →
//! a second bottle opens beside it → resizing the outer terminal reaches
//! `tput cols` inside → quit (bottles keep running) → reopen → both panes
//! are back with their screens.

use crate::support::{Engine, Pty, PtyApp};
use std::path::Path;

struct Bottles<'a>(&'a Engine, &'a Path, Vec<String>);

impl Drop for Bottles<'_> {
    fn drop(&mut self) {
        for slug in &self.2 {
            let _ = self.0.bottle(self.1, None, &["rm", slug]);
        }
    }
}

fn open(home: &Path, dir: &Path, ws: &Path, rows: u16, cols: u16) -> PtyApp {
    let (h, hh) = (home.display().to_string(), dir.display().to_string());
    Pty::open(rows, cols).spawn(
        &[],
        &[("BOTTLE_HOME", h.as_str()), ("HOME", hh.as_str())],
        ws,
    )
}

/// Rows of the screen between two columns (one pane's inside).
fn region(app: &PtyApp, from: usize, to: usize) -> String {
    app.screen_rows()
        .iter()
        .map(|r| r.chars().skip(from).take(to - from).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn panes_attach_type_resize_and_come_back() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let mut slugs = Vec::new();
    for _ in 0..2 {
        slugs.push(e.start_shell(&home));
    }
    let guard = Bottles(&e, &home, slugs.clone());
    let (a, b) = (slugs[0].clone(), slugs[1].clone());

    let mut app = open(&home, dir.path(), &ws, 40, 140);
    app.wait_for("both bottles in the sidebar", |s| {
        s.contains(&a) && s.contains(&b)
    });
    // The sidebar lists the three built-in agents, then the bottles.
    let first_row = if app.screen_text().find(&a) < app.screen_text().find(&b) {
        3
    } else {
        4
    };
    for _ in 0..first_row {
        app.send(b"\x1b[B");
    }
    app.send(b"\r");
    app.wait_for("the first pane's prompt", |s| {
        s.contains(&format!("agent@{a}"))
    });
    app.send(b"echo hi-$((40+2))\r");
    app.wait_for("typing reaches the pane", |s| s.contains("hi-42"));

    // The second bottle beside it.
    app.send(b"\x02\t");
    let second_row = if first_row == 3 { 4 } else { 3 };
    for _ in first_row..second_row {
        app.send(b"\x1b[B");
    }
    for _ in second_row..first_row {
        app.send(b"\x1b[A");
    }
    app.send(b"\r");
    app.wait_for("two panes with prompts", |s| {
        s.matches("agent@").count() >= 2
    });

    // Resize the outer terminal: the focused (second) pane's width follows.
    app.resize(40, 160);
    // 160 - 32 (sidebar) = 128, two panes of 64, minus borders.
    let start = std::time::Instant::now();
    let mut tries = 0;
    while !app_rows_contain(&app, "cols=62") && start.elapsed() < crate::support::TIMEOUT {
        app.send(b"echo cols=$(tput cols)\r");
        std::thread::sleep(std::time::Duration::from_millis(400));
        tries += 1;
        // A window-size signal can be lost under load (as with any
        // terminal); resizing again, as a user would, must recover.
        if tries % 5 == 0 {
            app.resize(40, 159);
            app.resize(40, 160);
        }
    }
    app.wait_for("tput cols in the resized pane", |_| {
        app_rows_contain(&app, "cols=62")
    });

    // Quit: the bottles keep running.
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    for slug in [&a, &b] {
        let running = e.cli(&[
            "inspect",
            "-f",
            "{{.State.Running}}",
            &format!("bottle-{slug}-agent"),
        ]);
        assert_eq!(running, "true", "{slug} keeps running after quit");
    }

    // Reopen in the same directory: both panes come back with their screens.
    let app = open(&home, dir.path(), &ws, 40, 160);
    app.wait_for("both panes restored", |s| {
        s.contains(&format!(" {a} ")) && s.contains(&format!(" {b} ")) && s.contains("hi-42")
    });
    let left = region(&app, 32, 96);
    assert!(
        left.contains("hi-42"),
        "the first pane's screen is restored:\n{left}"
    );
    let mut app = app;
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    drop(guard);
}

fn app_rows_contain(app: &PtyApp, what: &str) -> bool {
    app.screen_rows().iter().any(|r| r.contains(what))
}

/// An agent that exits leaves its pane showing the status; `r` runs the
/// session again in the same bottle (same volumes), in the same pane.
#[test]
fn an_exited_session_restarts_in_its_pane() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let slug = e.start_shell(&home);
    let guard = Bottles(&e, &home, vec![slug.clone()]);

    let mut app = open(&home, dir.path(), &ws, 30, 120);
    app.wait_for("the bottle in the sidebar", |s| s.contains(&slug));
    for _ in 0..3 {
        app.send(b"\x1b[B");
    }
    app.send(b"\r");
    app.wait_for("the pane's prompt", |s| {
        s.contains(&format!("agent@{slug}"))
    });
    app.send(b"touch /workspace/kept-$((1+1)); exit 3\r");
    app.wait_for("the exit status with the restart hint", |s| {
        s.contains("exited 3 · r restarts")
    });
    app.send(b"r");
    app.wait_for("a new session in the same pane", |s| {
        !s.contains("exited 3") && s.contains(&format!("agent@{slug}"))
    });
    // `find`, not `ls`: Debian's runsc (2022) fails statx on volumes.
    app.send(b"find /workspace; echo listed-$((2+2))\r");
    app.wait_for("the work volume kept the file", |s| {
        s.contains("kept-2") && s.contains("listed-4")
    });
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    drop(guard);
}

/// The launch flow end to end: `n` opens the picker, typing filters,
/// Enter prepares, the preflight shows the plan, `y` launches into a new
/// pane that shows the progress and then the agent's prompt.
#[test]
fn the_picker_launches_a_bottle_into_a_pane() {
    let e = Engine::default_docker();
    // With Podman beside Docker the backend picker comes up, and the
    // bottle goes to Podman; without it the picker is skipped.
    let podman = crate::support::engine("podman").and_then(|p| p.host);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::write(ws.join("hello.txt"), "from the workspace\n").expect("write");
    // An agent whose bottle asks for a value and grants routes.
    std::fs::create_dir_all(home.join("bottles")).expect("mkdir");
    std::fs::create_dir_all(home.join("agents")).expect("mkdir");
    std::fs::write(
        home.join("bottles/deploy.md"),
        "---\nagent_provider: { template: shell }\nenv:\n  DEPLOY_TOKEN: \"?Deploy token\"\negress:\n  routes:\n    - host: api.github.com\n      path_allowlist: [\"/repos/acme/\"]\n      methods: [GET]\n---\n",
    )
    .expect("write");
    std::fs::write(
        home.join("agents/deployer.md"),
        "---\nbottle: deploy\n---\nDeploys.\n",
    )
    .expect("write");
    let mut env: Vec<(String, String)> = vec![
        ("BOTTLE_HOME".into(), home.display().to_string()),
        ("HOME".into(), dir.path().display().to_string()),
    ];
    if let Some(h) = &podman {
        env.push(("CONTAINER_HOST".into(), h.clone()));
    }
    let bottle = |args: &[&str]| {
        let out = std::process::Command::new(crate::support::bottle_bin())
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&ws)
            .output()
            .expect("run bottle");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    struct Cleanup<'a>(&'a dyn Fn(&[&str]) -> String);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            (self.0)(&["cleanup", "-y", "--all"]);
        }
    }
    let _cleanup = Cleanup(&bottle);
    let _ = &e;

    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut app = Pty::open(30, 120).spawn(&[], &env_refs, &ws);
    app.wait_for("the sidebar", |s| s.contains("agents (4)"));
    app.send(b"n");
    app.wait_for("the picker", |s| s.contains("new agent"));
    app.send(b"deplo");
    app.wait_for("the filtered picker", |s| s.contains("> deplo"));
    // A first task, typed in the picker's task field.
    app.send(b"\t");
    app.wait_for("the task field", |s| s.contains("first task ·"));
    app.send(b"echo task-ran-$((6*7))");
    app.wait_for("the typed task", |s| s.contains("task: echo task-ran-"));
    app.send(b"\r");
    if podman.is_some() {
        app.wait_for("the backend picker with both engines", |s| {
            s.contains("run deployer on") && s.contains("docker") && s.contains("podman")
        });
        // The default engine first, then CONTAINER_HOST's.
        app.wait_for("podman second", |s| s.contains("2  podman"));
        app.send(b"2");
    }
    app.wait_for("the masked prompt", |s| {
        s.contains("asks for DEPLOY_TOKEN") && s.contains("Deploy token")
    });
    app.send(b"hunter2-deploy");
    app.wait_for("the value masked", |s| s.contains("••••••••••••••"));
    assert!(!app.screen_text().contains("hunter2"), "never drawn");
    app.send(b"\r");
    app.wait_for("the preflight with the routes and the task", |s| {
        s.contains("launch deployer-")
            && s.contains("egress     api.github.com")
            && s.contains("paths /repos/acme/")
            && s.contains("task       echo")
            && s.contains("y launches")
    });
    app.send(b"y");
    app.wait_for(
        "the task's output, then the agent's prompt in the new pane",
        |s| s.contains("task-ran-42") && s.contains("agent@deployer-") && s.contains("/workspace$"),
    );
    // Honest chrome: the status line no longer says "launching", and the
    // pane's title says the launch proved the bottle's isolation.
    app.wait_for("launching gone, isolated in the pane title", |s| {
        !s.contains("launching deployer-")
            && s.lines()
                .any(|l| l.contains("┌ deployer-") && l.contains(" · isolated "))
    });
    app.send(b"echo token-length-${#DEPLOY_TOKEN}\r");
    app.wait_for("the answer reached the session", |s| {
        s.contains("token-length-14")
    });
    app.send(b"cat hello.txt\r");
    app.wait_for("the workspace copy in the bottle", |s| {
        s.contains("from the workspace")
    });
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    let list = bottle(&["list", "--json"]);
    let want = if podman.is_some() { "podman" } else { "docker" };
    assert!(
        list.contains(&format!("\"backend\": \"{want}\"")),
        "the bottle runs on {want}: {list}"
    );
}

/// Every way out of the launch flow leaves nothing running, and a home full
/// of broken definitions still opens, with its problems on view.
#[test]
fn esc_paths_launch_nothing_and_a_broken_home_still_opens() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(home.join("bottles")).expect("mkdir");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::write(home.join("bottles/dev.md"), "---\negres: {}\n---\n").expect("write");
    std::fs::write(home.join("bottles/bad.md"), "---\n: : :\n---\n").expect("write");
    let mut app = open(&home, dir.path(), &ws, 30, 120);
    app.wait_for("the status line counts the problems", |s| {
        s.contains("problem(s)")
    });
    app.send(b"p");
    app.wait_for("the problems view, as bottle check prints them", |s| {
        s.contains("problems (2)") && s.contains("Esc closes") && s.contains("dev.md:2:1")
    });
    // (Each Esc is waited on: an Esc followed at once by a key reads as Alt.)
    app.send(b"\x1b");
    app.wait_for("the problems view closed", |s| !s.contains("Esc closes"));
    // Picker: Esc closes it.
    app.send(b"n");
    app.wait_for("the picker", |s| s.contains("type to filter"));
    app.send(b"\x1b");
    app.wait_for("the picker closed", |s| !s.contains("type to filter"));
    // Preflight: Esc says no.
    app.send(b"n");
    app.wait_for("the picker again", |s| s.contains("type to filter"));
    app.send(b"shell\r");
    app.wait_for("the preflight", |s| s.contains("y launches"));
    app.send(b"\x1b");
    app.wait_for("not launched", |s| s.contains("not launched"));
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    let home_hash = {
        let out = e.bottle(&home, None, &["list", "--json"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        home_hash.contains("\"bottles\": []"),
        "nothing was launched: {home_hash}"
    );
}

/// A stopped bottle comes back from the sidebar: Enter shows the resume
/// preflight (what changed since its launch), `y` brings it back on the
/// same volumes and the session opens in a pane.
#[test]
fn a_stopped_bottle_resumes_from_the_sidebar() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let slug = e.start_shell(&home);
    let _guard = Bottles(&e, &home, vec![slug.clone()]);
    let out = e.bottle(
        &home,
        None,
        &[
            "exec",
            &slug,
            "--",
            "sh",
            "-c",
            "echo kept-across-resume > /workspace/note",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = e.bottle(&home, None, &["stop", &slug]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut app = open(&home, dir.path(), &ws, 30, 120);
    app.wait_for("the stopped bottle in the sidebar", |s| {
        s.contains(&slug) && s.contains("stopped")
    });
    // Three built-in agents, then the bottle.
    for _ in 0..3 {
        app.send(b"\x1b[B");
    }
    app.send(b"\r");
    app.wait_for("the resume preflight", |s| {
        s.contains(&format!("resume {slug}?"))
            && s.contains("kept in the work volume")
            && s.contains("no changes since the last launch")
    });
    app.send(b"y");
    app.wait_for("the resumed session's prompt", |s| {
        s.contains(&format!("agent@{slug}")) && s.contains("/workspace$")
    });
    app.send(b"cat note\r");
    app.wait_for("the work volume survived", |s| {
        s.contains("kept-across-resume")
    });
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
}
