//! The real binary in a real PTY: the workspace opens, lists agents (repo
//! agents marked) and problems, quits with prefix+q, and restores the
//! terminal exactly on quit, SIGTERM, SIGHUP and panic.

mod common;

use common::{Pty, PtyApp};
use std::path::Path;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("agents")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("ws/.bottle/agents")).expect("mkdir");
        std::fs::write(
            home.join("agents/reviewer.md"),
            "---\nbottle: shell\n---\nReview.\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("ws/.bottle/agents/helper.md"),
            "---\nbottle: shell\n---\nHelp.\n",
        )
        .expect("write");
        Env { dir }
    }
    fn home(&self) -> String {
        self.dir.path().join("home").display().to_string()
    }
    fn ws(&self) -> std::path::PathBuf {
        self.dir.path().join("ws")
    }
    fn start(&self, extra_env: &[(&str, &str)]) -> (PtyApp, String) {
        let pty = Pty::open(30, 100);
        let before = pty.stty();
        let home = self.home();
        let mut env = vec![("BOTTLE_HOME", home.as_str()), ("HOME", home.as_str())];
        env.extend_from_slice(extra_env);
        let app = pty.spawn(&[], &env, &self.ws());
        (app, before)
    }
}

fn opened(app: &PtyApp) {
    app.wait_for("the agent list", |s| {
        s.contains("reviewer") && s.contains("helper (repo)") && s.contains("Ctrl-b q")
    });
}

#[test]
fn opens_shows_agents_and_quits_with_prefix_q_restoring_the_terminal() {
    let env = Env::new();
    let (mut app, before) = env.start(&[]);
    opened(&app);
    assert!(
        app.screen_text().contains("shell"),
        "embedded agents are listed"
    );
    app.send(b"q");
    app.send(b"\x02?");
    app.wait_for("the help overlay", |s| s.contains("quit the workspace"));
    app.send(b"\x1b");
    app.wait_for("the help to close", |s| !s.contains("quit the workspace"));
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    assert_eq!(app.stty(), before, "terminal settings restored after quit");
    assert!(
        app.raw_output().contains("\x1b[?1049l"),
        "left the alternate screen"
    );
}

fn signal_restores(sig: i32, code: u32) {
    let env = Env::new();
    let (mut app, before) = env.start(&[]);
    opened(&app);
    assert_ne!(
        app.stty(),
        before,
        "the workspace put the terminal in raw mode"
    );
    app.signal(sig);
    assert_eq!(app.wait_exit(), code);
    assert_eq!(
        app.stty(),
        before,
        "terminal settings restored after signal {sig}"
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    signal_restores(libc::SIGTERM, 128 + libc::SIGTERM as u32);
}

#[test]
fn sighup_restores_the_terminal() {
    signal_restores(libc::SIGHUP, 128 + libc::SIGHUP as u32);
}

#[test]
fn a_panic_restores_the_terminal_and_leaves_a_crash_file() {
    let env = Env::new();
    let (mut app, before) = env.start(&[("BOTTLE_DEBUG_PANIC", "1")]);
    assert_eq!(
        app.wait_exit(),
        101,
        "a panic exits with Rust's panic status"
    );
    assert_eq!(
        app.stty(),
        before,
        "terminal settings restored after a panic"
    );
    let logs = Path::new(&env.home()).join("logs");
    let crash: Vec<_> = std::fs::read_dir(&logs)
        .expect("logs dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("crash-"))
        .collect();
    assert_eq!(crash.len(), 1, "one crash file in {}", logs.display());
    let text = std::fs::read_to_string(crash[0].path()).expect("read crash file");
    assert!(
        text.contains("BOTTLE_DEBUG_PANIC")
            && text.contains("backtrace:")
            && text.contains("last log lines:"),
        "{text}"
    );
    assert!(
        text.contains("start"),
        "recent log lines are included:\n{text}"
    );
    assert!(
        app.raw_output().contains("crash report:"),
        "the path is printed"
    );

    // The next start offers the report; Enter opens it in the log viewer.
    let name = crash[0].file_name().to_string_lossy().into_owned();
    let (mut app, _) = env.start(&[]);
    app.wait_for("the offer to open the crash report", |s| {
        s.contains("The last run of bottle crashed") && s.contains(&name)
    });
    app.send(b"\r");
    app.wait_for("the crash report in the viewer", |s| {
        s.contains("deliberate crash") && s.contains("f follow")
    });
    // Search: the match is found, and the application log is a source too.
    app.send(b"/last log lines\r");
    app.wait_for("the search landed", |s| {
        s.contains("last log lines:") && !s.contains("Enter finds")
    });
    app.send(b"\t");
    app.wait_for("the application log", |s| s.contains(" log 20"));
    app.send(b"q");
    app.wait_for("the viewer closed", |s| !s.contains("f follow"));
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    // Offered once: the start after that just opens.
    let (mut app, _) = env.start(&[]);
    opened(&app);
    assert!(!app.screen_text().contains("crashed"));
    // prefix-l opens the viewer by hand.
    app.send(b"\x02l");
    app.wait_for("the viewer with the crash listed", |s| {
        s.contains("crash 20") && s.contains("f follow")
    });
    app.send(b"q");
    app.wait_for("the viewer closed", |s| !s.contains("f follow"));
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
}

#[test]
fn a_definitions_directory_full_of_errors_still_opens() {
    let env = Env::new();
    let bottles = Path::new(&env.home()).join("bottles");
    std::fs::create_dir_all(&bottles).expect("mkdir");
    std::fs::write(bottles.join("broken.md"), "---\negres: {}\n---\n").expect("write");
    std::fs::write(bottles.join("worse.md"), "no frontmatter\n").expect("write");
    let (mut app, before) = env.start(&[]);
    app.wait_for("the problems", |s| {
        s.contains("Definition problems (2 errors)") && s.contains("did you mean `egress`?")
    });
    opened(&app);
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    assert_eq!(app.stty(), before);
}
