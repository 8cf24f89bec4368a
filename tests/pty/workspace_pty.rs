//! The real binary in a real PTY: the workspace opens, lists agents (repo
//! agents marked) and problems, quits with prefix+q, and restores the
//! terminal exactly on quit, SIGTERM, SIGHUP and panic.

use crate::support::{Pty, PtyApp};
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

/// SPEC §5.4: nothing is lost when the workspace is killed mid-request.
/// The workspace is SIGKILLed while the operator types an answer, and a
/// decider killed between its claim and its decision left a claim behind;
/// the workspace started again shows the request, and one answer decides
/// it (published, audited).
#[test]
fn a_request_survives_the_workspace_killed_mid_answer_and_is_decided_after_restart() {
    let env = Env::new();
    let home = bottle::state::Home {
        root: env.dir.path().join("home"),
    };
    let slug = "dev-aaaaaa";
    let dir = home.queue_dir().join(slug);
    std::fs::create_dir_all(&dir).expect("queue dir");
    let id = bottle::queue::RequestId::generate();
    bottle::queue::write_request(
        &dir,
        &bottle::queue::RequestFile {
            id: id.to_string(),
            kind: serde_json::from_value(serde_json::json!("question")).expect("kind"),
            payload: serde_json::json!({"question": "Which branch?"}),
            reason: "a question for the operator".into(),
            created_at: "2026-11-23T00:00:00Z".into(),
        },
    )
    .expect("write");
    let banner = format!("agent {slug} asks for a question");

    let (mut app, _) = env.start(&[]);
    app.wait_for("the banner", |s| s.contains(&banner));
    app.send(b"\x02a");
    app.wait_for("the prompt", |s| s.contains("a answer"));
    std::thread::sleep(std::time::Duration::from_millis(800));
    app.send(b"a");
    app.send(b"half an ans");
    app.wait_for("the answer being typed", |s| {
        s.contains("answer: half an ans")
    });
    app.signal(libc::SIGKILL);
    app.wait_exit();
    // A decider that died between its claim and its decision.
    let mut gone = std::process::Command::new("true").spawn().expect("true");
    let dead = gone.id();
    gone.wait().expect("wait");
    std::fs::write(dir.join(format!("{id}.claim")), format!("{dead}\n")).expect("claim");

    let (mut app, _) = env.start(&[]);
    app.wait_for("the banner again", |s| s.contains(&banner));
    app.send(b"\x02a");
    app.wait_for("the prompt", |s| s.contains("a answer"));
    std::thread::sleep(std::time::Duration::from_millis(800));
    app.send(b"a");
    app.send(b"main\r");
    let decision = dir.join(format!("{id}.decision.json"));
    crate::support::standin::wait_until("the decision", || decision.exists());
    let d: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&decision).expect("read")).expect("json");
    assert_eq!(d["decision"], "answered", "{d}");
    assert_eq!(d["payload"]["answer"], "main", "{d}");
    let audit =
        std::fs::read_to_string(home.audit_dir().join(format!("{slug}.jsonl"))).expect("audit");
    assert_eq!(audit.lines().count(), 1, "{audit}");
    app.wait_for("the banner gone", |s| !s.contains(&banner));
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
}

/// Modify (SPEC §7): `e` opens the request in the operator's editor (here
/// a script named `vim`, so it is told to ignore modelines) in a private
/// directory under `$BOTTLE_HOME/tmp`; the workspace stops reading the
/// terminal meanwhile and takes it back after; the edited request is
/// approved as modified, and only what the operator wrote becomes a route.
#[test]
fn a_request_edited_in_the_editor_is_approved_as_modified() {
    let env = Env::new();
    let root = env.dir.path().join("home");
    let home = bottle::state::Home { root: root.clone() };
    let slug = "dev-abc123";
    let dir = home.queue_dir().join(slug);
    std::fs::create_dir_all(&dir).expect("queue dir");
    let egress = home.state_dir(slug).join("egress");
    std::fs::create_dir_all(&egress).expect("egress dir");
    std::fs::write(egress.join("routes.json"), r#"{"version":1,"routes":[]}"#).expect("routes");
    let id = bottle::queue::RequestId::generate();
    bottle::queue::write_request(
        &dir,
        &bottle::queue::RequestFile {
            id: id.to_string(),
            kind: serde_json::from_value(serde_json::json!("egress")).expect("kind"),
            payload: serde_json::json!({"host": "docs.example.test", "path_prefix": "/guide/"}),
            reason: "read the guide".into(),
            created_at: "2026-11-23T00:00:00Z".into(),
        },
    )
    .expect("write");
    // The "editor": logs its arguments and its directory's mode, reads a
    // line from the terminal (the workspace must not take it), narrows
    // the path.
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let log = env.dir.path().join("editor.log");
    let editor = bin.join("vim");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\nfor f; do :; done\n{{ printf '%s|' \"$@\"; echo; stat -c %a \"$(dirname \"$f\")\"; }} > {log}\necho EDITOR-OPEN\nread line\necho \"$line\" >> {log}\nsed -i 's#/guide/#/guide/v2/#' \"$f\"\n",
            log = log.display()
        ),
    )
    .expect("editor");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let editor = editor.display().to_string();
    let (mut app, _) = env.start(&[("EDITOR", editor.as_str()), ("VISUAL", "")]);
    app.wait_for("the banner", |s| {
        s.contains("agent dev-abc123 asks for network")
    });
    app.send(b"\x02a");
    app.wait_for("the prompt", |s| s.contains("e edit"));
    std::thread::sleep(std::time::Duration::from_millis(800));
    app.send(b"e");
    app.wait_for("the editor", |s| s.contains("EDITOR-OPEN"));
    app.send(b"typed-in-the-editor\r");
    app.wait_for("the decision", |s| s.contains("route added"));
    let logged = std::fs::read_to_string(&log).expect("log");
    let mut lines = logged.lines();
    let args = lines.next().unwrap_or_default();
    assert!(args.starts_with("--cmd|set nomodeline|"), "{logged}");
    let file = args.split('|').nth(2).unwrap_or_default();
    assert!(
        file.starts_with(&format!("{}/tmp/edit-", root.display()))
            && file.ends_with("/request.json"),
        "{logged}"
    );
    assert_eq!(lines.next(), Some("700"), "{logged}");
    assert_eq!(lines.next(), Some("typed-in-the-editor"), "{logged}");
    assert!(
        !std::path::Path::new(file).exists(),
        "the private copy is removed"
    );
    let d: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("{id}.decision.json"))).expect("decision"),
    )
    .expect("json");
    assert_eq!(d["decision"], "modified", "{d}");
    assert_eq!(d["payload"]["path_prefix"], "/guide/v2/", "{d}");
    let routes = std::fs::read_to_string(egress.join("routes.json")).expect("routes");
    assert!(
        routes.contains("/guide/v2/") && !routes.contains("\"/guide/\""),
        "{routes}"
    );
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
    // The application log has the decision, the workspace as its decider,
    // and none of the request's words.
    let mut log = String::new();
    for e in std::fs::read_dir(root.join("logs"))
        .expect("logs")
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("bottle.log") {
            log.push_str(&std::fs::read_to_string(e.path()).expect("log"));
        }
    }
    let fields = [
        "event=\"decision\"".to_string(),
        format!("slug={slug}"),
        format!("id={id}"),
        "decider=workspace".into(),
        "outcome=\"modified\"".into(),
    ];
    assert_eq!(
        log.lines()
            .filter(|l| fields.iter().all(|f| l.split_whitespace().any(|w| w == f)))
            .count(),
        1,
        "{log}"
    );
    assert!(!log.contains("/guide/"), "{log}");
}
