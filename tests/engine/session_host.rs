//! Agent sessions outlive their clients (SPEC §5.2): the session holder in
//! a real bottle keeps the agent's screen while nobody is attached,
//! re-attaching restores it, a client's terminal size reaches the agent,
//! two clients see the same output, the agent's cursor-position query gets
//! exactly one answer whether or not anyone is attached, killing a client
//! never stops the agent, and the exit status reaches `list --json` and
//! metadata.json.

use crate::support::{Engine, Pty, PtyApp};
use std::io::Read;
use std::path::Path;

#[test]
fn sessions_outlive_their_clients() {
    outlive(&Engine::default_docker());
}

#[test]
fn under_podman_sessions_outlive_their_clients() {
    if let Some(e) = crate::support::engine("podman") {
        outlive(&e);
    }
}

struct Ctx<'a> {
    e: &'a Engine,
    home: &'a Path,
    dir: &'a Path,
    slug: String,
}

impl Ctx<'_> {
    fn attach(&self, rows: u16, cols: u16) -> PtyApp {
        let (h, hh) = (
            self.home.display().to_string(),
            self.dir.display().to_string(),
        );
        let mut env = vec![("BOTTLE_HOME", h.as_str()), ("HOME", hh.as_str())];
        if let Some(host) = &self.e.host {
            env.push(("DOCKER_HOST", host.as_str()));
        }
        Pty::open(rows, cols).spawn(&["attach", &self.slug], &env, self.dir)
    }

    fn inside(&self, script: &str) -> String {
        let out = self.e.bottle(
            self.home,
            None,
            &["exec", &self.slug, "--", "bash", "-c", script],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn running(&self) -> bool {
        self.e.cli(&[
            "inspect",
            "-f",
            "{{.State.Running}}",
            &format!("bottle-{}-agent", self.slug),
        ]) == "true"
    }

    /// Waits for a file in the agent container to hold `what`.
    fn wait_file(&self, path: &str, what: &str) -> String {
        let start = std::time::Instant::now();
        loop {
            let text = self.inside(&format!("cat {path} 2>/dev/null"));
            if text.contains(what) || start.elapsed() > crate::support::TIMEOUT {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }
}

/// Sends a command until the screen shows `expect` (a shell may drop
/// keystrokes typed before its prompt is ready).
fn run_until(app: &mut PtyApp, cmd: &str, expect: &str) {
    app.wait_for("the prompt", |s| s.contains('$'));
    app.send(format!("{cmd}\r").as_bytes());
    app.wait_for(expect, |s| s.contains(expect));
}

fn outlive(e: &Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let slug = e.start_shell(&home);
    let ctx = Ctx {
        e,
        home: &home,
        dir: dir.path(),
        slug: slug.clone(),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(&ctx)));
    let rm = e.bottle(&home, None, &["rm", &slug]);
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

fn scenario(ctx: &Ctx) {
    // Colours and the client's width reach the agent.
    let mut a = ctx.attach(24, 90);
    run_until(
        &mut a,
        "clear; printf '\\033[31mRED\\033[0m-done\\n'; tput cols",
        "RED-done",
    );
    a.wait_for("tput cols, then the prompt", |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines
            .iter()
            .position(|l| l.trim() == "90")
            .is_some_and(|i| {
                lines
                    .get(i + 1)
                    .is_some_and(|n| n.trim_end().ends_with('$'))
            })
    });
    let before = a.screen_rows();
    a.send(b"\x02d");
    assert_eq!(a.wait_exit(), 0, "detach exits cleanly");
    assert!(ctx.running(), "the agent keeps running after detach");
    // The client inside the container left with it (the engine keeps an
    // exec's TTY open, so it must leave by itself).
    let start = std::time::Instant::now();
    let mut clients = String::new();
    while start.elapsed() < crate::support::TIMEOUT {
        clients = ctx.inside("pgrep -fc '[s]ession-host attach' || true");
        if clients.trim() == "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(clients.trim(), "0", "no attach client left behind");

    // Re-attach: the same screen, colours included.
    let mut b = ctx.attach(24, 90);
    // The redraw may arrive in several reads: wait for all of it.
    b.wait_for("the restored screen", |_| b.screen_rows() == before);
    assert_eq!(b.screen_rows(), before, "re-attach restores the screen");
    let formatted = String::from_utf8_lossy(&b.screen_formatted()).into_owned();
    assert!(
        formatted.contains("31mRED"),
        "colours restored: {formatted:?}"
    );

    // The client's size follows it.
    b.resize(30, 100);
    let start = std::time::Instant::now();
    while !b.screen_text().contains("30 100") && start.elapsed() < crate::support::TIMEOUT {
        b.send(b"stty size\r");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    b.wait_for("the resized session", |s| s.contains("30 100"));

    // Two clients at once see the same output.
    let mut c = ctx.attach(30, 100);
    c.wait_for("the second client's screen", |s| s.contains("30 100"));
    c.send(b"echo both-$((40+2))\r");
    b.wait_for("output in the first client", |s| s.contains("both-42"));
    c.wait_for("output in the second client", |s| s.contains("both-42"));

    // A cursor-position query with clients attached: exactly one answer
    // (the test terminals answer 6n too, but never see it).
    // Echo off first: an answer arriving before `read -s` starts must not
    // be echoed onto the screen by the line discipline.
    c.send(b"stty -echo; printf '\\033[6n'; read -rs -t 5 -d R a1; read -rs -t 2 -d R a2; stty echo; echo \"one=${a1#*[} two=${a2#*[}.\"\r");
    c.wait_for("the attached answer", |s| s.contains("two=."));
    let line = c
        .screen_text()
        .lines()
        .find(|l| l.starts_with("one="))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.len() > "one= two=.".len() && line.ends_with("two=."),
        "exactly one answer: {line}\n{}",
        c.screen_text()
    );

    // Killing a client (SIGKILL) never stops the agent.
    b.signal(libc::SIGKILL);
    let _ = b.wait_exit();
    assert!(ctx.running(), "the agent survives a killed client");
    // Closing the terminal (SIGHUP) neither.
    let h = ctx.attach(30, 100);
    h.wait_for("the screen", |s| s.contains("both-42"));
    h.signal(libc::SIGHUP);
    let mut h = h;
    let _ = h.wait_exit();
    assert!(ctx.running(), "the agent survives a hung-up client");

    // The query again with nobody attached.
    c.send(b"sleep 4; stty -echo; printf '\\033[6n'; read -rs -t 5 -d R a1; read -rs -t 2 -d R a2; echo \"one=${a1#*[} two=${a2#*[}.\" > /tmp/dsr; stty echo\r");
    std::thread::sleep(std::time::Duration::from_millis(500));
    c.send(b"\x02d");
    assert_eq!(c.wait_exit(), 0);
    let dsr = ctx.wait_file("/tmp/dsr", "two=");
    assert!(
        dsr.starts_with("one=")
            && dsr.len() > "one= two=.\n".len()
            && dsr.trim_end().ends_with("two=."),
        "exactly one answer with nobody attached: {dsr:?}"
    );

    // The agent's exit status reaches list --json and metadata.json.
    let mut d = ctx.attach(24, 80);
    d.wait_for("the screen", |s| s.contains('$'));
    d.send(b"exit 7\r");
    assert_eq!(d.wait_exit(), 7, "attach returns the agent's status");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ctx.home.join("state").join(&ctx.slug).join("metadata.json"))
            .expect("metadata"),
    )
    .expect("json");
    assert_eq!(meta["exit_status"], 7, "{meta}");
    let list = ctx.e.bottle(ctx.home, None, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).expect("list --json");
    let status = v["bottles"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["slug"] == ctx.slug.as_str()))
        .map(|b| b["status"].clone());
    assert_eq!(status, Some(serde_json::json!("exited 7")), "{v}");
}

/// Reads a pane until the emulated screen satisfies `pred`.
fn pane_until(
    out: &mut (dyn std::io::Read + Send),
    screen: &mut vt100::Parser,
    what: &str,
    pred: impl Fn(&str) -> bool,
) {
    let start = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    while !pred(&screen.screen().contents()) {
        assert!(
            start.elapsed() < crate::support::TIMEOUT,
            "timed out waiting for {what}: {}",
            screen.screen().contents()
        );
        let n = out.read(&mut buf).expect("pane output");
        assert!(n > 0, "the pane ended waiting for {what}");
        screen.process(&buf[..n]);
    }
}

/// The pane seam (`backends::PaneIo`) on Docker goes through the holder:
/// output, input and resize work; closing detaches (the agent keeps
/// running); a pane whose agent exits reports the status.
#[test]
fn a_pane_attaches_through_the_holder_and_detaches() {
    use bottle::backends::docker::pane::attach_pane;
    use bottle::state::names::Slug;
    use std::io::Write;
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let slug = e.start_shell(&home);
    let result = std::panic::catch_unwind(|| {
        let parsed = Slug::parse(&slug).expect("slug");
        let host = bottle::backends::host_of(&home.join("state").join(&slug));
        let mut pane = attach_pane(&host, &parsed, 24, 80).expect("pane");
        let mut screen = vt100::Parser::new(
            std::num::NonZeroU16::new(24).expect("rows"),
            std::num::NonZeroU16::new(80).expect("cols"),
            0,
        );
        pane_until(&mut *pane.output, &mut screen, "the prompt", |s| {
            s.contains('$')
        });
        pane.input
            .write_all(b"echo pane-$((6*7))\r")
            .expect("input");
        pane_until(&mut *pane.output, &mut screen, "the echo", |s| {
            s.contains("pane-42")
        });
        pane.ctl.resize(30, 100).expect("resize");
        screen.set_size(
            std::num::NonZeroU16::new(30).expect("rows"),
            std::num::NonZeroU16::new(100).expect("cols"),
        );
        pane.input.write_all(b"stty size\r").expect("input");
        pane_until(&mut *pane.output, &mut screen, "the new size", |s| {
            s.contains("30 100")
        });
        pane.ctl.close();
        assert_eq!(pane.ctl.wait().expect("wait"), None, "closing detaches");
        let start = std::time::Instant::now();
        loop {
            let out = e.bottle(
                &home,
                None,
                &[
                    "exec",
                    &slug,
                    "--",
                    "sh",
                    "-c",
                    "pgrep -fc '[s]ession-host attach' || true",
                ],
            );
            let n = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if n == "0" {
                break;
            }
            assert!(
                start.elapsed() < crate::support::TIMEOUT,
                "the pane's client lingers: {n}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let running = e.cli(&[
            "inspect",
            "-f",
            "{{.State.Running}}",
            &format!("bottle-{slug}-agent"),
        ]);
        assert_eq!(running, "true", "the agent keeps running");

        let mut again = attach_pane(&host, &parsed, 30, 100).expect("pane");
        pane_until(
            &mut *again.output,
            &mut screen,
            "the replayed screen",
            |s| s.contains("pane-42"),
        );
        again.input.write_all(b"exit 5\r").expect("input");
        let mut rest = Vec::new();
        let _ = again.output.read_to_end(&mut rest);
        assert_eq!(
            again.ctl.wait().expect("wait"),
            Some(5),
            "the agent's status"
        );
    });
    let rm = e.bottle(&home, None, &["rm", &slug]);
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
