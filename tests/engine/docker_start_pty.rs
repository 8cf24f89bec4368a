//! `bottle start shell` in a real PTY gives an interactive shell in the
//! bottle: commands run as uid 1000, a terminal resize reaches the
//! container's TTY, Ctrl-b d detaches (the bottle keeps running),
//! `bottle attach` re-attaches, and `exit` ends it with its status shown;
//! the terminal is restored each time.

use crate::support::{Engine, Pty};

fn slug_on(screen: &str) -> String {
    let at = screen.find("slug ").expect("slug in the preflight") + 5;
    screen[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

#[test]
fn start_gives_an_interactive_shell_that_detaches_and_reattaches() {
    interactive_shell(&Engine::default_docker());
}

#[test]
fn under_podman_start_gives_an_interactive_shell() {
    if let Some(e) = crate::support::engine("podman") {
        interactive_shell(&e);
    }
}

fn interactive_shell(e: &Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("bottle-home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::write(ws.join("hello.txt"), "hi\n").expect("write");
    let (h, hh) = (home.display().to_string(), dir.path().display().to_string());
    let mut env = vec![("BOTTLE_HOME", h.as_str()), ("HOME", hh.as_str())];
    if let Some(host) = &e.host {
        env.push(("DOCKER_HOST", host.as_str()));
    }

    let pty = Pty::open(30, 100);
    let before = pty.stty();
    let mut app = pty.spawn(&["start", "shell", "-y"], &env, &ws);
    app.wait_for("the shell prompt", |s| {
        s.contains("agent@") && s.contains("$")
    });
    let slug = slug_on(&app.raw_output());
    let cleanup = Cleanup {
        engine: e.clone(),
        home: home.clone(),
        slug: slug.clone(),
    };
    app.send(b"echo uid=$(id -u) sum=$((6*7)); echo /workspace/*\r");
    app.wait_for("the command's output", |s| {
        s.contains("uid=1000 sum=42") && s.contains("hello.txt")
    });
    app.resize(33, 101);
    // The resize travels asynchronously (SIGWINCH → engine API); ask until
    // the shell sees it.
    let start = std::time::Instant::now();
    while !app.screen_text().contains("33 101") && start.elapsed() < crate::support::TIMEOUT {
        app.send(b"stty size\r");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    app.wait_for("the resized TTY", |s| s.contains("33 101"));
    app.send(b"\x02d");
    assert_eq!(app.wait_exit(), 0, "detach exits cleanly");
    assert!(app.raw_output().contains("detached from"));
    assert_eq!(app.stty(), before, "terminal restored after detach");
    let running = e.cli(&[
        "inspect",
        "-f",
        "{{.State.Running}}",
        &format!("bottle-{slug}-agent"),
    ]);
    assert_eq!(running, "true", "the bottle keeps running after detach");

    // A plain shell beside the agent, as the agent user.
    let pty = Pty::open(30, 100);
    let mut sh = pty.spawn(&["shell", &slug], &env, &ws);
    sh.send(b"echo shell-uid=$(id -u)\r");
    sh.wait_for("the plain shell", |s| s.contains("shell-uid=1000"));
    sh.send(b"exit 4\r");
    assert_eq!(sh.wait_exit(), 4, "the shell's exit status is propagated");

    let pty = Pty::open(30, 100);
    let mut again = pty.spawn(&["attach", &slug], &env, &ws);
    again.send(b"echo back-$((40+2))\r");
    again.wait_for("output after re-attaching", |s| s.contains("back-42"));
    again.send(b"exit 3\r");
    assert_eq!(
        again.wait_exit(),
        3,
        "the agent's exit status is the command's: {}",
        again.screen_text()
    );
    assert!(again.raw_output().contains("exited with status 3"));
    assert_eq!(
        again.stty(),
        before,
        "terminal restored after the agent exits"
    );
    drop(cleanup);
}

struct Cleanup {
    engine: Engine,
    home: std::path::PathBuf,
    slug: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let out = self.engine.bottle(&self.home, None, &["rm", &self.slug]);
        assert!(out.status.success(), "rm {}", self.slug);
    }
}
