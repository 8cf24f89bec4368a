//! `bottle session-host` (SPEC §5.2): the agent container's main process.
//! It owns the agent's PTY, keeps a screen model of it, answers the
//! agent's terminal queries itself, and serves attach clients over a Unix
//! socket in the container (protocol.rs). The agent keeps running with
//! nobody attached; when it exits, the holder tells the clients, records
//! the status and exits with it, which stops the container.
//!
//! Values that must stay out of the container's configuration (`?` and
//! `${}` env, SPEC §3.1) arrive on stdin as one JSON line before the agent
//! starts; the launcher writes them through the engine's attach stream.
//!
//! As PID 1 it also reaps orphaned processes and forwards SIGTERM/SIGHUP
//! to the agent.

pub mod client;
pub mod privilege;
pub mod protocol;
pub mod queries;
pub mod selfcheck;

use crate::session::screen::{Screen, Vt100Screen};
use anyhow::{bail, Context as _, Result};
use portable_pty::{native_pty_system, CommandBuilder, PtySize};
use protocol::{ClientMsg, HolderMsg};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// Where the holder listens inside the container: a root-owned 0700
/// directory (`privilege::socket_dir`) outside the agent's `/tmp`.
pub const SOCKET: &str = "/run/bottle-session/session.sock";
/// How long the holder waits for its environment line.
const ENV_TIMEOUT: Duration = Duration::from_secs(120);
/// Per-client queue of frames; a client this far behind skips output
/// until a full redraw fits (`Clients::resync`).
const CLIENT_QUEUE: usize = 1024;
/// Rows of history the holder's screen model keeps (measured in
/// `examples/pane_costs`).
pub const SCROLLBACK: usize = 2000;

pub struct HolderConfig {
    pub socket: PathBuf,
    /// Read `{"env":{…}}` from stdin before starting the agent.
    pub env_stdin: bool,
    pub cmd: Vec<String>,
    /// The agent's uid:gid. A holder running as root starts the agent
    /// through `session-host exec-as`, which drops to these ids first.
    pub agent_ids: Option<privilege::Ids>,
}

enum Event {
    Output(Vec<u8>),
    OutputEnd,
    Client(u64, ClientMsg),
    Connected(u64, mpsc::SyncSender<Vec<u8>>),
    Gone(u64),
    /// The isolation self-check's report.
    Isolation(selfcheck::Report),
}

/// One JSON line on stdout: the holder's own log (never the agent's
/// output, never an env value).
fn log(event: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{event}");
    let _ = out.flush();
}

/// The environment line: the session's environment and, when the
/// launcher asks for it, the isolation self-check.
#[derive(Default, serde::Deserialize)]
struct EnvLine {
    env: BTreeMap<String, String>,
    #[serde(default)]
    check: Option<selfcheck::CheckSpec>,
}

fn read_env_line() -> Result<EnvLine> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = std::io::stdin().lock().read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    let line = rx
        .recv_timeout(ENV_TIMEOUT)
        .context("no session environment arrived on stdin")?
        .context("reading the session environment")?;
    if line.trim().is_empty() {
        return Ok(EnvLine::default());
    }
    serde_json::from_str(&line).context("the session environment line is not valid")
}

fn bind(socket: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let dir = socket.parent().context("socket path has no directory")?;
    privilege::socket_dir(dir)?;
    let _ = std::fs::remove_file(socket);
    let listener =
        UnixListener::bind(socket).with_context(|| format!("listening on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// The argv that starts the agent: through `exec-as` (which drops to the
/// agent's ids, after waiting for `gate` when given) when this holder is
/// root, else the command itself.
fn agent_argv(cfg: &HolderConfig, gate: Option<&Path>) -> Result<Vec<String>> {
    let ids = match cfg.agent_ids {
        Some(ids) if privilege::euid() == 0 => ids,
        None if privilege::euid() == 0 => {
            bail!("session-host runs as root without --agent-user: the agent would start as root")
        }
        _ => return Ok(cfg.cmd.clone()),
    };
    // Root runs this executable again, by the path it was started with,
    // for every attach and every exec as the agent: nobody else may be
    // able to swap what that path reaches.
    let exe = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .context("the holder was not started by an absolute path")?;
    privilege::check_root_only_path(&exe)?;
    let mut argv = vec![
        exe.display().to_string(),
        "session-host".into(),
        "exec-as".into(),
        format!("--agent-user={}:{}", ids.uid, ids.gid),
    ];
    if let Some(gate) = gate {
        argv.push(format!("--gate={}", gate.display()));
    }
    argv.push("--".into());
    argv.extend(cfg.cmd.iter().cloned());
    Ok(argv)
}

fn accept_loop(listener: UnixListener, tx: mpsc::Sender<Event>) {
    let mut next = 0u64;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        next += 1;
        let id = next;
        let Ok(mut writer) = stream.try_clone() else {
            continue;
        };
        let (out_tx, out_rx) = mpsc::sync_channel::<Vec<u8>>(CLIENT_QUEUE);
        std::thread::spawn(move || {
            // Frames waiting together go out in one write.
            while let Ok(mut batch) = out_rx.recv() {
                while batch.len() < 256 * 1024 {
                    match out_rx.try_recv() {
                        Ok(more) => batch.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                if protocol::send(&mut writer, &batch).is_err() {
                    break;
                }
            }
            let _ = writer.shutdown(std::net::Shutdown::Both);
        });
        if tx.send(Event::Connected(id, out_tx)).is_err() {
            return;
        }
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut reader = stream;
            while let Ok(Some(msg)) = protocol::read_client(&mut reader) {
                if tx.send(Event::Client(id, msg)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Event::Gone(id));
        });
    }
}

/// Reaps every exited child (the holder is PID 1); returns the agent's
/// status once it has exited (the shell convention: 128+N for signal N).
fn reap(agent: libc::pid_t) -> Option<i32> {
    let mut found = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out-pointer; WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return found;
        }
        if pid == agent {
            found = Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                1
            });
        }
    }
}

struct Clients {
    senders: BTreeMap<u64, mpsc::SyncSender<Vec<u8>>>,
    /// Clients that said Hello (others get nothing yet).
    ready: std::collections::BTreeSet<u64>,
    /// Clients whose queue overflowed: their output is skipped until a
    /// full redraw fits in the queue again (nothing shown is lost; what
    /// was skipped is replaced by the current screen).
    lagging: std::collections::BTreeSet<u64>,
}

impl Clients {
    /// Queues a frame; false if the client's queue is full.
    fn try_send(&mut self, id: u64, msg: &HolderMsg) -> bool {
        let Some(tx) = self.senders.get(&id) else {
            return false;
        };
        match tx.try_send(msg.encode()) {
            Ok(()) => true,
            Err(mpsc::TrySendError::Full(_)) => false,
            Err(mpsc::TrySendError::Disconnected(_)) => {
                self.senders.remove(&id);
                self.ready.remove(&id);
                self.lagging.remove(&id);
                false
            }
        }
    }

    fn send(&mut self, id: u64, msg: &HolderMsg) {
        if !self.try_send(id, msg) && self.senders.contains_key(&id) {
            self.lagging.insert(id);
        }
    }

    fn broadcast(&mut self, msg: &HolderMsg) {
        let ids: Vec<u64> = self.ready.iter().copied().collect();
        for id in ids {
            if matches!(msg, HolderMsg::Output(_)) && self.lagging.contains(&id) {
                continue;
            }
            self.send(id, msg);
        }
    }

    /// Sends lagging clients the whole screen once it fits.
    fn resync(&mut self, screen: &Vt100Screen) {
        if self.lagging.is_empty() {
            return;
        }
        let snapshot = HolderMsg::Output(screen.snapshot());
        let ids: Vec<u64> = self.lagging.iter().copied().collect();
        for id in ids {
            if self.try_send(id, &snapshot) {
                self.lagging.remove(&id);
            }
        }
    }
}

/// The file, beside the socket, whose creation lets the agent's command
/// start (`exec-as --gate`).
const GATE: &str = "agent-gate";
/// The holder's status when the isolation self-check failed (the agent
/// never ran).
pub const ISOLATION_FAILED: i32 = 125;

/// Lets the agent start: the gate file, root's, in the holder's directory.
fn open_gate(gate: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(gate)
        .with_context(|| format!("opening the agent's gate {}", gate.display()))?;
    Ok(())
}

/// The file, beside the socket, holding the screen the agent left.
pub const LAST_SCREEN: &str = "last-screen";

/// Writes the screen (the bytes that redraw it) next to the socket, in the
/// holder's 0700 directory; replaced whole.
fn save_last_screen(socket: &Path, screen: &Vt100Screen) {
    let Some(dir) = socket.parent() else { return };
    let tmp = dir.join(format!(".{LAST_SCREEN}.tmp"));
    let done = std::fs::write(&tmp, screen.snapshot())
        .and_then(|()| std::fs::rename(&tmp, dir.join(LAST_SCREEN)));
    if let Err(e) = done {
        log(
            serde_json::json!({"event": "warning", "message": format!("saving the last screen: {e}")}),
        );
    }
}

/// Output is coalesced up to this many bytes per frame.
const COALESCE: usize = 1 << 18;

fn term_state(screen: &Vt100Screen) -> queries::TermState {
    queries::TermState {
        cursor: screen.cursor(),
        size: screen.size(),
        modes: screen.private_modes(),
    }
}

pub fn run(cfg: HolderConfig) -> Result<i32> {
    if cfg.cmd.is_empty() {
        bail!("session-host: no command to run");
    }
    let EnvLine { env, check } = if cfg.env_stdin {
        read_env_line()?
    } else {
        EnvLine::default()
    };
    let listener = bind(&cfg.socket)?;
    let (mut rows, mut cols) = (24u16, 80u16);
    let pty = privilege::with_fs_ids(cfg.agent_ids, || {
        native_pty_system().openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
    })
    .context("opening the agent's PTY")?;
    // The isolation self-check (when the launcher asks for it) runs while
    // the agent's process is set up, and the agent's command starts only
    // once it passed (or the operator allowed it to fail): `exec-as` waits,
    // still as root, for the gate file the holder creates then.
    // One gate per start, named by the launcher's nonce: a gate left by an
    // earlier start of this container never opens this one.
    let nonce: String = check
        .as_ref()
        .map(|c| {
            c.nonce
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(40)
                .collect()
        })
        .unwrap_or_default();
    let gate = cfg
        .socket
        .parent()
        .map(|d| d.join(format!("{GATE}-{nonce}")))
        .context("socket path has no directory")?;
    let gated = check.is_some() && cfg.agent_ids.is_some() && privilege::euid() == 0;
    if gated && gate.exists() {
        bail!(
            "{} exists before the check ran: refusing to start",
            gate.display()
        );
    }
    let mut early_report = None;
    if let (Some(spec), false) = (&check, gated) {
        // No exec-as to hold the agent (a holder not running as root):
        // check first.
        let report = selfcheck::run(spec);
        if !report.verified && !spec.allow_unverified {
            log(serde_json::json!({"event": "isolation", "report": report}));
            bail!(
                "this bottle did not prove its isolation; the agent was not started: {}",
                report.failures()
            );
        }
        early_report = Some(report);
    }
    let (check_tx, check_rx) = mpsc::channel::<selfcheck::Report>();
    if let (Some(spec), true) = (check.clone(), gated) {
        let tx = check_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("selfcheck".into())
            .spawn(move || {
                let _ = tx.send(selfcheck::run(&spec));
            });
        if let Err(e) = spawned {
            let _ = check_tx.send(selfcheck::Report::failed(
                check.as_ref().map_or("", |c| c.nonce.as_str()),
                &format!("the check could not start: {e}"),
            ));
        }
    }
    if let Some(report) = early_report {
        let _ = check_tx.send(report);
    }
    drop(check_tx);
    let argv = agent_argv(&cfg, gated.then_some(gate.as_path()))?;
    let mut command = CommandBuilder::new(&argv[0]);
    command.args(&argv[1..]);
    if let Ok(cwd) = std::env::current_dir() {
        command.cwd(cwd);
    }
    for (k, v) in &env {
        command.env(k, v);
    }
    let child = pty
        .slave
        .spawn_command(command)
        .with_context(|| format!("starting {}", cfg.cmd[0]))?;
    drop(pty.slave);
    let agent_pid = child.process_id().context("the agent has no process id")? as libc::pid_t;
    let mut pty_writer = pty.master.take_writer().context("the PTY's writer")?;
    let mut pty_reader = pty.master.try_clone_reader().context("the PTY's reader")?;

    let (tx, rx) = mpsc::channel::<Event>();
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                match pty_reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Event::Output(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx.send(Event::OutputEnd);
        });
    }
    {
        let tx = tx.clone();
        std::thread::spawn(move || accept_loop(listener, tx));
    }
    let allow_unverified = check.as_ref().is_some_and(|c| c.allow_unverified);
    // An agent that exits at once still gets its check reported (the
    // launcher waits for it): the holder stays until the report is out.
    let mut check_pending = check.is_some();
    if check_pending {
        let tx = tx.clone();
        std::thread::spawn(move || {
            if let Ok(report) = check_rx.recv() {
                let _ = tx.send(Event::Isolation(report));
            }
        });
    }
    drop(tx);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(sig, stop.clone()).context("signal handler")?;
    }
    log(serde_json::json!({"event": "ready", "pid": agent_pid}));

    let mut screen = Vt100Screen::new(rows, cols, SCROLLBACK);
    let mut splitter = queries::Splitter::default();
    let mut clients = Clients {
        senders: BTreeMap::new(),
        ready: Default::default(),
        lagging: Default::default(),
    };
    let mut status: Option<i32> = None;
    // An event taken while coalescing output, handled next.
    let mut held: Option<Event> = None;
    let mut output_done = false;
    let mut forwarded = false;
    loop {
        if status.is_none() {
            status = reap(agent_pid);
        }
        if let Some(code) = status {
            // Exited: finish once its output has drained (or soon after)
            // and the isolation check has reported.
            if output_done && !check_pending {
                // The last screen stays in the stopped container, where
                // only root reads it, for a pane that attaches too late.
                save_last_screen(&cfg.socket, &screen);
                clients.broadcast(&HolderMsg::Exit(code));
                log(serde_json::json!({"event": "exit", "status": code}));
                // Let the writer threads deliver the last frames.
                drop(clients);
                std::thread::sleep(Duration::from_millis(200));
                return Ok(code);
            }
        }
        if stop.load(Ordering::Relaxed) && !forwarded {
            forwarded = true;
            // SAFETY: signalling the agent's process group (setsid made it
            // a group leader) and the agent itself.
            unsafe {
                libc::kill(-agent_pid, libc::SIGHUP);
                libc::kill(agent_pid, libc::SIGTERM);
            }
        }
        clients.resync(&screen);
        let event = match held
            .take()
            .map_or_else(|| rx.recv_timeout(Duration::from_millis(100)), Ok)
        {
            // Output already waiting is taken together: one parse call and
            // one frame per client instead of one per PTY read.
            Ok(Event::Output(mut bytes)) => {
                while bytes.len() < COALESCE {
                    match rx.try_recv() {
                        Ok(Event::Output(more)) => bytes.extend_from_slice(&more),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                Event::Output(bytes)
            }
            Ok(e) => e,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if status.is_some() {
                    // The agent is gone but something still holds the PTY:
                    // stop waiting for output.
                    output_done = true;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                output_done = true;
                continue;
            }
        };
        match event {
            Event::Output(bytes) => {
                for piece in splitter.feed(&bytes) {
                    match piece {
                        queries::Piece::Data(d) => {
                            // Forwarded before it is parsed here: the
                            // clients' own parsing overlaps this one.
                            let out = HolderMsg::Output(d);
                            clients.broadcast(&out);
                            if let HolderMsg::Output(d) = &out {
                                screen.process(d);
                            }
                        }
                        queries::Piece::Query(q) => {
                            let reply = queries::answer(&q, &term_state(&screen));
                            let _ = pty_writer.write_all(&reply);
                            let _ = pty_writer.flush();
                        }
                    }
                }
            }
            Event::OutputEnd => output_done = true,
            Event::Isolation(report) => {
                check_pending = false;
                log(serde_json::json!({"event": "isolation", "report": report}));
                if report.verified || allow_unverified {
                    if gated {
                        open_gate(&gate)?;
                    }
                } else {
                    // Fail closed: the agent's command never started (it
                    // waits at the gate). PID 1 ends now, and with it every
                    // process of the container.
                    let note = format!(
                        "\r\n\x1b[0mbottle: this bottle did not prove its isolation, so the agent was not started: {}\r\n",
                        report.failures()
                    )
                    .into_bytes();
                    screen.process(&note);
                    clients.broadcast(&HolderMsg::Output(note));
                    clients.broadcast(&HolderMsg::Exit(ISOLATION_FAILED));
                    save_last_screen(&cfg.socket, &screen);
                    log(serde_json::json!({"event": "exit", "status": ISOLATION_FAILED}));
                    drop(clients);
                    std::thread::sleep(Duration::from_millis(200));
                    return Ok(ISOLATION_FAILED);
                }
            }
            Event::Connected(id, sender) => {
                clients.senders.insert(id, sender);
            }
            Event::Gone(id) => {
                clients.senders.remove(&id);
                clients.lagging.remove(&id);
                if clients.ready.remove(&id) {
                    log(serde_json::json!({"event": "detach", "clients": clients.ready.len()}));
                }
            }
            Event::Client(id, msg) => {
                let hello = matches!(msg, ClientMsg::Hello { .. });
                let size = match msg {
                    ClientMsg::Hello {
                        version,
                        rows: r,
                        cols: c,
                    } => {
                        if version != protocol::VERSION {
                            clients.send(
                                id,
                                &HolderMsg::Refused(format!(
                                    "protocol version {version}; this holder speaks {}",
                                    protocol::VERSION
                                )),
                            );
                            clients.senders.remove(&id);
                            continue;
                        }
                        clients.ready.insert(id);
                        log(serde_json::json!({"event": "attach", "clients": clients.ready.len()}));
                        Some((r, c))
                    }
                    ClientMsg::Input(bytes) => {
                        if clients.ready.contains(&id) {
                            let _ = pty_writer.write_all(&bytes);
                            let _ = pty_writer.flush();
                        }
                        None
                    }
                    ClientMsg::Resize { rows: r, cols: c } => Some((r, c)),
                };
                // The most recent active client sets the size.
                if let Some((r, c)) = size.filter(|&(r, c)| r > 0 && c > 0) {
                    if (r, c) != (rows, cols) {
                        (rows, cols) = (r, c);
                        screen.resize(rows, cols);
                        let _ = pty.master.resize(PtySize {
                            rows,
                            cols,
                            pixel_width: 0,
                            pixel_height: 0,
                        });
                    }
                }
                if hello {
                    clients.send(id, &HolderMsg::Welcome(screen.snapshot()));
                }
            }
        }
    }
}
