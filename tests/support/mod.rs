//! Test harness: the real `bottle` binary in a real PTY (portable-pty), its
//! output always drained into a vt100 screen, with predicates waited on
//! (generous timeouts, never bare sleeps) and the screen dumped on failure.
#![allow(dead_code)]

pub mod gitserver;
pub mod standin;
pub mod tmux;

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize, SlavePty};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn bottle_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bottle"))
}

pub struct PtyApp {
    child: Box<dyn Child + Send + Sync>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    screen: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
    master: Box<dyn MasterPty + Send>,
    _slave: Box<dyn SlavePty + Send>,
}

/// Opens a PTY and returns (master, slave, tty path) without a child yet,
/// so a test can read the terminal settings before anything runs.
pub struct Pty {
    pub master: Box<dyn MasterPty + Send>,
    pub slave: Box<dyn SlavePty + Send>,
}

impl Pty {
    pub fn open(rows: u16, cols: u16) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        Pty {
            master: pair.master,
            slave: pair.slave,
        }
    }

    pub fn tty(&self) -> PathBuf {
        self.master.tty_name().expect("tty name")
    }

    /// `stty -g` of this PTY, read from outside.
    pub fn stty(&self) -> String {
        stty(&self.tty())
    }

    pub fn spawn(self, args: &[&str], env: &[(&str, &str)], cwd: &Path) -> PtyApp {
        let mut cmd = CommandBuilder::new(bottle_bin());
        cmd.args(args);
        cmd.cwd(cwd);
        cmd.env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = self.slave.spawn_command(cmd).expect("spawn bottle");
        let mut reader = self.master.try_clone_reader().expect("reader");
        let writer = Arc::new(Mutex::new(self.master.take_writer().expect("writer")));
        let size = self.master.get_size().expect("size");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(size.rows).expect("rows"),
            std::num::NonZeroU16::new(size.cols).expect("cols"),
            0,
        )));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (s2, r2, w2) = (screen.clone(), raw.clone(), writer.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut parser = s2.lock().expect("screen");
                parser.process(&buf[..n]);
                // Answer cursor-position queries as a real terminal does.
                if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                    let (row, col) = parser.screen().cursor_position();
                    let reply = format!("\x1b[{};{}R", row + 1, col + 1);
                    let _ = w2.lock().expect("writer").write_all(reply.as_bytes());
                }
                drop(parser);
                r2.lock().expect("raw").extend_from_slice(&buf[..n]);
            }
        });
        PtyApp {
            child,
            writer,
            screen,
            raw,
            master: self.master,
            _slave: self.slave,
        }
    }
}

pub fn stty(tty: &Path) -> String {
    let out = std::process::Command::new("stty")
        .arg("-g")
        .arg("-F")
        .arg(tty)
        .output()
        .expect("run stty");
    assert!(
        out.status.success(),
        "stty failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl PtyApp {
    pub fn send(&mut self, bytes: &[u8]) {
        let mut w = self.writer.lock().expect("writer");
        w.write_all(bytes).expect("write to pty");
        w.flush().expect("flush");
    }

    pub fn screen_text(&self) -> String {
        self.screen.lock().expect("screen").screen().contents()
    }

    /// The visible rows as text.
    pub fn screen_rows(&self) -> Vec<String> {
        let screen = self.screen.lock().expect("screen");
        let (_, cols) = screen.screen().size();
        screen.screen().rows(0, cols.get()).collect()
    }

    /// The visible contents with their colours and attributes.
    pub fn screen_formatted(&self) -> Vec<u8> {
        self.screen
            .lock()
            .expect("screen")
            .screen()
            .contents_formatted()
            .into_bytes()
    }

    pub fn raw_output(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().expect("raw")).into_owned()
    }

    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) {
        self.wait_for_within(what, TIMEOUT, pred)
    }

    /// `wait_for` with a longer limit (a real agent CLI's first screen or
    /// turn).
    pub fn wait_for_within(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if pred(&self.screen_text()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "timed out waiting for {what}; screen:\n{}",
            self.screen_text()
        );
    }

    pub fn pid(&self) -> i32 {
        self.child.process_id().expect("pid") as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0, "kill failed");
    }

    /// Waits until the reader has taken what the exited program wrote:
    /// the harness keeps the PTY's other end open, so there is no end of
    /// file to wait for; the output stops growing instead (a loaded
    /// machine may still be copying the last bytes when the exit is seen).
    fn drain(&self) {
        let start = Instant::now();
        let mut last = usize::MAX;
        let mut still = 0;
        while still < 3 && start.elapsed() < TIMEOUT {
            let now = self.raw.lock().expect("raw").len();
            still = if now == last { still + 1 } else { 0 };
            last = now;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the exit and for its last output; returns the exit code.
    pub fn wait_exit(&mut self) -> u32 {
        let start = Instant::now();
        while start.elapsed() < TIMEOUT {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.drain();
                return status.exit_code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("bottle did not exit; screen:\n{}", self.screen_text());
    }

    pub fn stty(&self) -> String {
        stty(&self.master.tty_name().expect("tty name"))
    }

    /// Resizes the PTY (the child gets SIGWINCH) and the screen model.
    pub fn resize(&self, rows: u16, cols: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize pty");
        self.screen.lock().expect("screen").set_size(
            std::num::NonZeroU16::new(rows).expect("rows"),
            std::num::NonZeroU16::new(cols).expect("cols"),
        );
    }
}

/// Whether an optional tool is here. When it is not, prints a loud NOT RUN
/// line, and fails under `BOTTLE_REQUIRE_ALL=1` (CI installs everything).
pub fn require(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    let msg = format!("NOT RUN: {what} is not available on this machine");
    eprintln!("\n==================== {msg} ====================\n");
    assert!(
        std::env::var_os("BOTTLE_REQUIRE_ALL").is_none_or(|v| v != "1"),
        "{msg} (BOTTLE_REQUIRE_ALL=1)"
    );
    false
}

/// The runtimes the engine offers (from `docker info`).
pub fn engine_runtimes() -> String {
    let out = std::process::Command::new("docker")
        .args([
            "info",
            "--format",
            "{{range $k, $v := .Runtimes}}{{$k}} {{end}}",
        ])
        .output()
        .expect("docker info");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `bottle [--workspace WS] ARGS` with `BOTTLE_HOME=home` and `HOME`
/// its parent (so the workspace refusals see a real home), no
/// `BOTTLE_RUNTIME` from the caller's environment.
/// Writes `bottles/<name>.md` with this frontmatter and an agent of the
/// same name that uses it.
pub fn define(home: &Path, name: &str, frontmatter: &str) {
    std::fs::create_dir_all(home.join("bottles")).expect("mkdir");
    std::fs::create_dir_all(home.join("agents")).expect("mkdir");
    std::fs::write(
        home.join(format!("bottles/{name}.md")),
        format!("---\n{frontmatter}---\n"),
    )
    .expect("write");
    std::fs::write(
        home.join(format!("agents/{name}.md")),
        format!("---\nbottle: {name}\n---\nTests.\n"),
    )
    .expect("write");
}

pub fn run_bottle(home: &Path, ws: Option<&Path>, args: &[&str]) -> std::process::Output {
    Engine::default_docker().bottle(home, ws, args)
}

/// An engine the real-engine tests run against: Docker (the caller's
/// `DOCKER_HOST` or the local socket) under a chosen runtime, or Podman's
/// socket (`BOTTLE_TEST_PODMAN_HOST`, which scripts/test starts when
/// Podman is installed).
#[derive(Clone, Debug)]
pub struct Engine {
    pub name: &'static str,
    /// `DOCKER_HOST` for both `bottle` and the inspecting `docker` CLI.
    pub host: Option<String>,
    /// `--runtime` for `start`; `None` leaves the choice to bottle.
    pub runtime: Option<&'static str>,
}

impl Engine {
    pub fn default_docker() -> Engine {
        Engine {
            name: "docker",
            host: None,
            runtime: None,
        }
    }

    pub fn docker(runtime: &'static str) -> Engine {
        Engine {
            name: "docker",
            host: None,
            runtime: Some(runtime),
        }
    }

    /// Podman's Docker-compatible socket, if the test setup started one.
    pub fn podman() -> Option<Engine> {
        let host = std::env::var("BOTTLE_TEST_PODMAN_HOST").ok()?;
        let engine = Engine {
            name: "podman",
            host: Some(host),
            runtime: None,
        };
        let answers = engine
            .command("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
            .is_ok_and(|o| o.status.success());
        answers.then_some(engine)
    }

    pub fn is_podman(&self) -> bool {
        self.name == "podman"
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        if let Some(h) = &self.host {
            cmd.env("DOCKER_HOST", h);
        }
        cmd
    }

    /// The `docker` CLI against this engine (tests only inspect with it);
    /// trimmed stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.command("docker").args(args).output().expect("docker");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `bottle` against this engine (see `run_bottle`); `start` gets the
    /// runtime when one is set.
    /// Starts a detached `shell` bottle (no workspace copy) in `home`; its slug.
    #[allow(dead_code)]
    pub fn start_shell(&self, home: &Path) -> String {
        let out = self.bottle(
            home,
            None,
            &["start", "shell", "--detach", "-y", "--no-workspace"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn bottle(&self, home: &Path, ws: Option<&Path>, args: &[&str]) -> std::process::Output {
        self.bottle_cmd(home, ws, args)
            .output()
            .expect("run bottle")
    }

    /// The `bottle` command of `bottle`, not yet run.
    pub fn bottle_cmd(
        &self,
        home: &Path,
        ws: Option<&Path>,
        args: &[&str],
    ) -> std::process::Command {
        let mut cmd = self.command(bottle_bin());
        if let Some(ws) = ws {
            cmd.arg("--workspace").arg(ws);
        }
        cmd.args(args);
        if let (Some(rt), Some(&"start")) = (self.runtime, args.first()) {
            cmd.args(["--runtime", rt]);
        }
        cmd.env("BOTTLE_HOME", home)
            .env("HOME", home.parent().expect("BOTTLE_HOME has a parent"))
            .env_remove("BOTTLE_RUNTIME");
        cmd
    }
}

/// The engines the isolation tests attack: Docker under runc, under runsc
/// (when registered), and Podman (when its socket is up). A missing one is
/// reported NOT RUN (a failure under `BOTTLE_REQUIRE_ALL=1`).
pub fn engine(which: &str) -> Option<Engine> {
    match which {
        "runc" => Some(Engine::docker("runc")),
        "runsc" => {
            let offered = engine_runtimes().split_whitespace().any(|r| r == "runsc");
            require("gVisor (runsc registered with the engine)", offered)
                .then(|| Engine::docker("runsc"))
        }
        "podman" => {
            let podman = Engine::podman();
            require(
                "Podman (its socket in BOTTLE_TEST_PODMAN_HOST; scripts/test starts it when podman is installed)",
                podman.is_some(),
            )
            .then_some(podman)
            .flatten()
        }
        other => panic!("no test engine {other}"),
    }
}

/// A recording DNS stub on the address dockerd uses as its upstream
/// resolver (`BOTTLE_TEST_DNS_STUB`, set up by .ci/run): every query name
/// it receives is kept. It answers only names a test registered (A
/// records, TTL 0), and never forwards.
pub struct DnsStub {
    seen: Arc<Mutex<Vec<(String, u16)>>>,
    answers: Arc<Mutex<std::collections::HashMap<String, Answers>>>,
}

/// A registered name's answers: each A query takes the next one; the last
/// one stays.
type Answers = std::collections::VecDeque<Vec<std::net::Ipv4Addr>>;

/// The first question's end and type.
fn question(query: &[u8]) -> Option<(usize, u16)> {
    let mut at = 12;
    while *query.get(at)? != 0 {
        at += 1 + usize::from(*query.get(at)?);
    }
    let qtype = u16::from_be_bytes([*query.get(at + 1)?, *query.get(at + 2)?]);
    Some((at + 5, qtype))
}

/// A DNS answer to `query` with these A records (TTL 0).
fn dns_answer(query: &[u8], ips: &[std::net::Ipv4Addr]) -> Option<Vec<u8>> {
    let (question_end, _) = question(query)?;
    let mut out = Vec::new();
    out.extend_from_slice(query.get(..2)?);
    out.extend_from_slice(&[0x81, 0x80, 0, 1]);
    out.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(query.get(12..question_end)?);
    for ip in ips {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

static DNS_STUB: std::sync::OnceLock<Option<DnsStub>> = std::sync::OnceLock::new();

/// The first question's name of a DNS message, lowercased.
fn query_name(packet: &[u8]) -> Option<String> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*packet.get(at)?);
        if len == 0 {
            break;
        }
        let label = packet.get(at + 1..at + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_lowercase());
        at += 1 + len;
    }
    Some(labels.join("."))
}

impl DnsStub {
    pub fn get() -> Option<&'static DnsStub> {
        DNS_STUB
            .get_or_init(|| {
                let addr = std::env::var("BOTTLE_TEST_DNS_STUB").ok()?;
                let sock = std::net::UdpSocket::bind((addr.as_str(), 53))
                    .map_err(|e| eprintln!("DNS stub on {addr}:53: {e}"))
                    .ok()?;
                let seen = Arc::new(Mutex::new(Vec::new()));
                let answers: Arc<Mutex<std::collections::HashMap<String, Answers>>> =
                    Arc::default();
                let (record, known) = (seen.clone(), answers.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1500];
                    while let Ok((n, from)) = sock.recv_from(&mut buf) {
                        let packet = &buf[..n];
                        let (Some(name), Some((_, qtype))) = (query_name(packet), question(packet))
                        else {
                            continue;
                        };
                        let ips =
                            known
                                .lock()
                                .expect("stub")
                                .get_mut(&name)
                                .map(|list| match qtype {
                                    1 if list.len() > 1 => list.pop_front().unwrap_or_default(),
                                    1 => list.front().cloned().unwrap_or_default(),
                                    _ => Vec::new(),
                                });
                        record.lock().expect("stub").push((name, qtype));
                        if let Some(reply) = ips.and_then(|ips| dns_answer(packet, &ips)) {
                            let _ = sock.send_to(&reply, from);
                        }
                    }
                });
                Some(DnsStub { seen, answers })
            })
            .as_ref()
    }

    /// From now on, answer `name` with these addresses.
    pub fn answer(&self, name: &str, ips: &[std::net::Ipv4Addr]) {
        self.answer_in_turn(name, &[ips]);
    }

    /// From now on, answer `name`'s A queries with these address lists in
    /// turn; the last one stays (a rebinding name).
    pub fn answer_in_turn(&self, name: &str, turns: &[&[std::net::Ipv4Addr]]) {
        self.answers.lock().expect("stub").insert(
            name.to_lowercase(),
            turns.iter().map(|ips| ips.to_vec()).collect(),
        );
    }

    /// How many A queries for exactly `name` arrived so far.
    pub fn a_queries(&self, name: &str) -> usize {
        self.seen
            .lock()
            .expect("stub")
            .iter()
            .filter(|(n, t)| n == name && *t == 1)
            .count()
    }

    /// Whether any query name received so far contains `needle`.
    pub fn saw(&self, needle: &str) -> bool {
        self.seen
            .lock()
            .expect("stub")
            .iter()
            .any(|(n, _)| n.contains(needle))
    }

    pub fn wait_for(&self, needle: &str) -> bool {
        let start = Instant::now();
        while start.elapsed() < TIMEOUT {
            if self.saw(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// A fake-backend bottle (`fake:///dir`) whose pane is a local shell with
/// the prompt `fake@<slug>$ `.
pub fn fake_shell(slug: &str, home_hash: &str) -> bottle::backends::fake::FakeBottle {
    bottle::backends::fake::FakeBottle {
        slug: slug.into(),
        agent: "shell".into(),
        home: home_hash.into(),
        status: "running".into(),
        command: vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("PS1='fake@{slug}$ ' exec /bin/sh -i"),
        ],
    }
}
