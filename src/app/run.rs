//! The workspace loop: one inbox of `AppEvent`s fed by the input, signal,
//! ticker and pane threads; effects carried out here; a frame drawn when
//! something changed — inside a synchronized update, at most one per
//! `FRAME` while output streams, at once after a keystroke or a quiet
//! spell, so pacing never delays an echo.

use super::{App, AppEvent, BottleRow, Effect, SavedLayout};
use crate::session::layout::PaneId;
use crate::session::pane::{PaneHandle, PaneNotice};
use crate::tty::TerminalGuard;
use crate::ui;
use anyhow::{Context, Result};
use crossterm::event::{self, Event};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use signal_hook::consts::{SIGHUP, SIGTERM};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const FRAME: Duration = Duration::from_millis(16);
const TICK: Duration = Duration::from_secs(2);
/// The operator's terminal rings at most this often.
const BELL_INTERVAL: Duration = Duration::from_secs(1);
/// Output this soon after a keystroke counts as its echo.
const ECHO_WINDOW: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Quit,
    Signal(i32),
}

impl RunOutcome {
    /// The conventional exit status: 0, or 128 + signal.
    pub fn exit_code(self) -> i32 {
        match self {
            RunOutcome::Quit => 0,
            RunOutcome::Signal(s) => 128 + s,
        }
    }
}

/// What the loop needs from outside the app state.
pub struct RunContext {
    /// `$BOTTLE_HOME/workspaces/<hash>.json`: this directory's layout.
    pub layout_file: PathBuf,
    /// This home's label hash (which bottles are ours).
    pub home_hash: String,
    /// `$BOTTLE_HOME`: stopped bottles, metadata and request queues.
    pub home: crate::state::Home,
    /// The workspace directory (definitions and the copy come from here).
    pub workspace: PathBuf,
}

fn spawn_signals(tx: mpsc::SyncSender<AppEvent>) -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP])
        .context("installing signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let _ = tx.send(AppEvent::Signal(sig));
            }
        })?;
    Ok(())
}

/// Started only after the terminal is set up: the setup may query the
/// terminal, and a concurrent reader would swallow the reply.
/// Lets the loop stop the input thread from reading the terminal while
/// another program (the operator's editor) has it.
#[derive(Default)]
struct InputGate {
    /// (paused, the input thread is parked)
    state: Mutex<(bool, bool)>,
    changed: std::sync::Condvar,
}

impl InputGate {
    /// Parks the input thread; returns once it no longer reads.
    fn pause(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        s.0 = true;
        while !s.1 {
            match self.changed.wait(s) {
                Ok(g) => s = g,
                Err(_) => return,
            }
        }
    }

    fn resume(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.0 = false;
        }
        self.changed.notify_all();
    }

    /// The input thread: waits here while paused.
    fn wait_while_paused(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        if !s.0 {
            return;
        }
        s.1 = true;
        self.changed.notify_all();
        while s.0 {
            match self.changed.wait(s) {
                Ok(g) => s = g,
                Err(_) => return,
            }
        }
        s.1 = false;
    }
}

fn spawn_input(tx: mpsc::SyncSender<AppEvent>, gate: Arc<InputGate>) -> Result<()> {
    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || loop {
            gate.wait_while_paused();
            // Poll first, so a pause is noticed within this long.
            match event::poll(Duration::from_millis(50)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!("terminal input failed: {e}");
                    return;
                }
            }
            let ev = match event::read() {
                Ok(Event::Key(k)) => AppEvent::Key(k),
                Ok(Event::Paste(text)) => AppEvent::Paste(text),
                Ok(Event::Mouse(m)) => AppEvent::Mouse(m),
                Ok(Event::Resize(cols, rows)) => AppEvent::Resize { rows, cols },
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!("terminal input failed: {e}");
                    return;
                }
            };
            if tx.send(ev).is_err() {
                return;
            }
        })?;
    Ok(())
}

fn spawn_ticker(tx: mpsc::SyncSender<AppEvent>) -> Result<()> {
    std::thread::Builder::new()
        .name("ticker".into())
        .spawn(move || loop {
            if tx.send(AppEvent::Tick).is_err() {
                return;
            }
            std::thread::sleep(TICK);
        })?;
    Ok(())
}

fn load_layout(path: &std::path::Path) -> Option<SavedLayout> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            None
        }
    }
}

/// Carries out effects that need the engine, off the loop's thread.
struct Io {
    tx: mpsc::SyncSender<AppEvent>,
    ctx: RunContext,
    handles: HashMap<PaneId, PaneHandle>,
    /// What arrived for a pane still connecting: its latest size and the
    /// input typed meanwhile, applied once it is up.
    pending_size: HashMap<PaneId, (u16, u16)>,
    pending_input: HashMap<PaneId, Vec<Vec<u8>>>,
    ready: mpsc::Receiver<(PaneId, PaneHandle)>,
    ready_tx: mpsc::Sender<(PaneId, PaneHandle)>,
    /// Plans waiting for the operator's yes, by ticket (shared with the
    /// threads that prepare them).
    prepared: Arc<Mutex<HashMap<u64, crate::launcher::Prepared>>>,
    next_ticket: u64,
    /// Engines whose events are followed (agent containers starting).
    followed_engines: std::collections::HashSet<String>,
}

impl Io {
    /// The log viewer's sources: the application logs and crash reports
    /// (newest first), then each bottle's sidecar.
    fn list_logs(&self, sidecars: Vec<String>, select: Option<super::logview::LogKind>) {
        use super::logview::{LogKind, LogSource};
        let dir = self.ctx.home.root.join("logs");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort_by(|a, b| b.cmp(a));
        let mut sources: Vec<LogSource> = names
            .iter()
            .filter(|n| n.starts_with("bottle.log"))
            .map(|n| LogSource {
                label: format!(
                    "log {}",
                    n.trim_start_matches("bottle.log").trim_start_matches('.')
                ),
                kind: LogKind::App(dir.join(n)),
            })
            .collect();
        sources.extend(
            names
                .iter()
                .filter(|n| n.starts_with("crash-") && n.ends_with(".log"))
                .map(|n| LogSource {
                    label: format!(
                        "crash {}",
                        n.trim_start_matches("crash-").trim_end_matches(".log")
                    ),
                    kind: LogKind::Crash(dir.join(n)),
                }),
        );
        sources.extend(sidecars.into_iter().map(|slug| LogSource {
            label: format!("sidecar {slug}"),
            kind: LogKind::Sidecar(slug),
        }));
        let _ = self.tx.send(AppEvent::LogSources(sources, select));
    }

    /// Reads a log source off the loop: the last 4 MiB of a file, or the
    /// last 5000 lines of a sidecar's output from its engine.
    fn load_log(&self, kind: super::logview::LogKind) {
        use super::logview::{read_tail, split_lines, LogKind};
        let tx = self.tx.clone();
        let home = self.ctx.home.clone();
        let _ = std::thread::Builder::new()
            .name("load-log".into())
            .spawn(move || {
                let result = match &kind {
                    LogKind::App(p) | LogKind::Crash(p) => {
                        read_tail(p, 4 << 20).map_err(|e| format!("{}: {e}", p.display()))
                    }
                    LogKind::Sidecar(slug) => (|| -> Result<Vec<String>> {
                        let host = crate::backends::docker::engines::host_of(&home.state_dir(slug));
                        let name = crate::state::names::Names::for_slug(
                            &crate::state::names::Slug::parse(slug)?,
                        )
                        .sidecar_container;
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()?;
                        let bytes = rt.block_on(async {
                            use futures_util::StreamExt;
                            let d = crate::backends::docker::engines::connect_host(&host).await?;
                            let options = bollard::query_parameters::LogsOptionsBuilder::default()
                                .stdout(true)
                                .stderr(true)
                                .tail("5000")
                                .build();
                            let mut stream = d.logs(&name, Some(options));
                            let mut out = Vec::new();
                            let read = async {
                                while let Some(chunk) = stream.next().await {
                                    out.extend_from_slice(&chunk?.into_bytes());
                                }
                                Ok::<_, bollard::errors::Error>(())
                            };
                            crate::backends::docker::timed(read).await?;
                            Ok::<_, crate::backends::docker::EngineError>(out)
                        })?;
                        Ok(split_lines(&bytes, false))
                    })()
                    .map_err(|e| format!("{e:#}")),
                };
                let _ = tx.send(AppEvent::LogLoaded(kind, result));
            });
    }

    fn refresh_bottles(&self) {
        let tx = self.tx.clone();
        let hash = self.ctx.home_hash.clone();
        let home = self.ctx.home.clone();
        let _ = std::thread::Builder::new()
            .name("bottles".into())
            .spawn(move || {
                let result = (|| -> Result<Vec<BottleRow>> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let found = rt.block_on(crate::backends::inventory::engine_bottles(&hash));
                    // The engines are reported even when none answers (the
                    // launch flow is waiting on them).
                    let engines = found.as_ref().map(|(e, _)| e.clone()).unwrap_or_default();
                    let _ = tx.send(AppEvent::Engines(engines));
                    let (_, rows) = found?;
                    Ok(crate::backends::inventory::home_bottles(&home, rows))
                })();
                let _ = tx.send(AppEvent::Bottles(result.map_err(|e| format!("{e:#}"))));
            });
    }

    fn open(
        &self,
        app: &App,
        id: PaneId,
        slug: String,
        kind: super::PaneKind,
        rows: u16,
        cols: u16,
    ) {
        let Some(shared) = app.pane(id).map(|p| p.shared.clone()) else {
            return;
        };
        let (tx, ready) = (self.tx.clone(), self.ready_tx.clone());
        let host = crate::backends::docker::engines::host_of(&self.ctx.home.state_dir(&slug));
        let _ = std::thread::Builder::new()
            .name(format!("open-pane-{id}"))
            .spawn(move || {
                let opened = crate::state::names::Slug::parse(&slug)
                    .map_err(|e| e.to_string())
                    .and_then(|s| {
                        crate::backends::docker::pane::open_pane(&host, &s, kind, rows, cols)
                            .map_err(|e| e.to_string())
                    });
                let io = match opened {
                    Ok(io) => io,
                    Err(e) => {
                        let _ = tx.send(AppEvent::PaneFailed(id, e));
                        return;
                    }
                };
                let notify_tx = std::sync::Mutex::new(tx.clone());
                let started = PaneHandle::start(id, io, shared, move |n: PaneNotice| {
                    if let Ok(t) = notify_tx.lock() {
                        let _ = t.send(AppEvent::Pane(n));
                    }
                });
                match started {
                    Ok(handle) => {
                        let _ = ready.send((id, handle));
                        let _ = tx.send(AppEvent::PaneReady(id));
                    }
                    Err(e) => {
                        let _ = tx.send(AppEvent::PaneFailed(id, e.to_string()));
                    }
                }
            });
    }

    fn stop(&self, slug: String) {
        let host = crate::backends::docker::engines::host_of(&self.ctx.home.state_dir(&slug));
        let _ = std::thread::Builder::new()
            .name("stop".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                let _ = rt.block_on(async {
                    let d = crate::backends::docker::engines::connect_host(&host).await?;
                    let names = crate::state::names::Names::for_slug(
                        &crate::state::names::Slug::parse(&slug).map_err(|e| {
                            crate::backends::docker::EngineError::Local(e.to_string())
                        })?,
                    );
                    crate::backends::docker::timed(d.stop_container(&names.agent_container, None))
                        .await
                });
            });
    }

    /// Resolves a launch off the loop; the plan waits here under a ticket.
    fn prepare(&mut self, agent: String, engine_host: Option<String>, task: Option<String>) {
        self.prepare_with(move |home, workspace| {
            let defs = crate::launcher::definitions(home, workspace)?;
            let opts = crate::launcher::Options {
                agent,
                runtime: std::env::var("BOTTLE_RUNTIME")
                    .ok()
                    .filter(|r| !r.is_empty()),
                engine_host,
                task,
                ..Default::default()
            };
            crate::launcher::prepare(home, &defs, workspace, &opts)
        });
    }

    /// Resolves bringing back the stopped bottle `slug`, like `prepare`.
    fn prepare_resume(&mut self, slug: String) {
        self.prepare_with(move |home, workspace| {
            let defs = crate::launcher::definitions(home, workspace)?;
            let slug = crate::state::names::Slug::parse(&slug)?;
            crate::launcher::prepare_resume(home, &defs, &slug)
        });
    }

    fn prepare_with(
        &mut self,
        resolve: impl FnOnce(&crate::state::Home, &std::path::Path) -> Result<crate::launcher::Prepared>
            + Send
            + 'static,
    ) {
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        let (tx, prepared) = (self.tx.clone(), self.prepared.clone());
        let (home, workspace) = (self.ctx.home.clone(), self.ctx.workspace.clone());
        let _ = std::thread::Builder::new()
            .name("prepare".into())
            .spawn(move || {
                let result = (|| -> Result<super::launch::PreparedInfo> {
                    let p = resolve(&home, &workspace)?;
                    let a = &p.plan.agent;
                    let info = super::launch::PreparedInfo {
                        ticket,
                        slug: p.plan.slug.to_string(),
                        agent: a.display_name(),
                        preflight: p.preflight.clone(),
                        prompts: crate::launcher::prompts(&p.plan),
                        trust: (a.is_repo() && !a.trusted).then(|| super::launch::TrustPin {
                            path: a.def.path.clone(),
                            sha256: a.def.sha256.clone(),
                        }),
                        resume: p.resume,
                    };
                    if let Ok(mut m) = prepared.lock() {
                        m.insert(ticket, p);
                    }
                    Ok(info)
                })();
                let _ = tx.send(AppEvent::Prepared(result.map_err(|e| format!("{e:#}"))));
            });
    }

    /// Launches a confirmed plan; its progress goes to pane `id`, which is
    /// attached once the session is up.
    fn launch(
        &mut self,
        id: PaneId,
        ticket: u64,
        answers: Vec<(String, crate::secret::Secret)>,
        trust: Option<super::launch::TrustPin>,
    ) {
        let Some(p) = self
            .prepared
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&ticket))
        else {
            let _ = self.tx.send(AppEvent::PaneFailed(
                id,
                "the prepared launch is gone".into(),
            ));
            return;
        };
        let (tx, home) = (self.tx.clone(), self.ctx.home.clone());
        let _ = std::thread::Builder::new()
            .name("launch".into())
            .spawn(move || {
                let result = (|| -> Result<()> {
                    if let Some(t) = &trust {
                        crate::state::TrustFile::trust(&home.trust_file(), &t.path, &t.sha256)?;
                    }
                    let env = crate::launcher::session_env(&p.plan, &answers)?;
                    let progress_tx = std::sync::Mutex::new(tx.clone());
                    let mut progress = move |line: &str| {
                        if let Ok(t) = progress_tx.lock() {
                            let _ = t.send(AppEvent::LaunchProgress(id, line.to_string()));
                        }
                    };
                    crate::launcher::launch(&home, &p, env, &mut progress)
                })();
                let _ = tx.send(match result {
                    Ok(()) => AppEvent::Launched(id),
                    Err(e) => AppEvent::PaneFailed(id, format!("{e:#}")),
                });
            });
    }

    /// Runs an exited session again (off the loop), then re-opens its pane.
    fn restart(&self, id: PaneId, slug: String) {
        let tx = self.tx.clone();
        let state_dir = self.ctx.home.state_dir(&slug);
        let _ = std::thread::Builder::new()
            .name("restart".into())
            .spawn(move || {
                let result = (|| -> Result<()> {
                    let slug = crate::state::names::Slug::parse(&slug)?;
                    let meta = crate::backends::inventory::read_metadata(&state_dir);
                    let env = crate::backends::inventory::restart_env(&meta)
                        .map_err(|e| anyhow::anyhow!(e))?;
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let host = crate::backends::docker::engines::host_of(&state_dir);
                    rt.block_on(async {
                        let d = crate::backends::docker::engines::connect_host(&host).await?;
                        crate::backends::docker::launch::restart_session(&d, &slug, &env).await
                    })?;
                    Ok(())
                })();
                let _ = tx.send(match result {
                    Ok(()) => AppEvent::PaneRestarted(id),
                    Err(e) => AppEvent::PaneFailed(id, format!("{e:#}")),
                });
            });
    }

    /// Follows the agent container starts on `slug`'s engine (once per
    /// engine, for the whole run), so panes re-attach to a recreated agent.
    fn follow_engine(&mut self, slug: &str) {
        let host = crate::backends::docker::engines::host_of(&self.ctx.home.state_dir(slug));
        if !self.followed_engines.insert(host.clone()) {
            return;
        }
        let (tx, hash) = (self.tx.clone(), self.ctx.home.label_hash());
        let _ = std::thread::Builder::new()
            .name("engine-events".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                let mut open = true;
                while open {
                    let mut started = |slug: String| {
                        open = tx.send(AppEvent::AgentStarted(slug)).is_ok();
                        open
                    };
                    let followed = rt.block_on(async {
                        let d = crate::backends::docker::engines::connect_host(&host).await?;
                        crate::backends::docker::follow_agent_starts(&d, &hash, &mut started).await
                    });
                    if let Err(e) = followed {
                        tracing::debug!("following {host}'s events: {e}");
                    }
                    std::thread::sleep(Duration::from_secs(2));
                }
            });
    }

    /// Reads the queue and what approving each request would change.
    fn scan_queue(&self) {
        let (tx, home) = (self.tx.clone(), self.ctx.home.clone());
        std::thread::spawn(move || {
            let scan = crate::queue::scan(&home.queue_dir());
            let pending = scan
                .pending
                .into_iter()
                .map(|request| super::requests::Pending {
                    change: crate::control::describe(&home, &request),
                    request,
                })
                .collect();
            let _ = tx.send(AppEvent::QueueScanned {
                pending,
                invalid: scan.invalid.len(),
            });
        });
    }

    fn decide(&self, request: crate::queue::Request, intent: crate::control::Intent, note: String) {
        let (tx, home) = (self.tx.clone(), self.ctx.home.clone());
        std::thread::spawn(move || {
            let progress_tx = std::sync::Mutex::new(tx.clone());
            let mut progress = move |line: &str| {
                if let Ok(t) = progress_tx.lock() {
                    let _ = t.send(AppEvent::DecideProgress(line.to_string()));
                }
            };
            let result = crate::control::decide_with(
                &home,
                &request,
                intent,
                &note,
                "workspace",
                &mut progress,
            )
            .map(|d| d.summary)
            .map_err(|e| format!("{e:#}"));
            let _ = tx.send(AppEvent::Decided(result));
        });
    }

    fn save(&self, layout: &SavedLayout) {
        let Ok(text) = serde_json::to_vec_pretty(layout) else {
            return;
        };
        if let Some(dir) = self.ctx.layout_file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = crate::state::write_atomic(&self.ctx.layout_file, &text, 0o600) {
            tracing::warn!("saving the layout: {e:#}");
        }
    }

    fn collect_ready(&mut self) {
        while let Ok((id, handle)) = self.ready.try_recv() {
            if let Some((rows, cols)) = self.pending_size.remove(&id) {
                handle.resize(rows, cols);
            }
            for bytes in self.pending_input.remove(&id).unwrap_or_default() {
                handle.send(bytes);
            }
            self.handles.insert(id, handle);
        }
    }

    fn forget(&mut self, id: PaneId) -> Option<PaneHandle> {
        self.pending_size.remove(&id);
        self.pending_input.remove(&id);
        self.handles.remove(&id)
    }
}

pub fn run(mut app: App, ctx: RunContext) -> Result<RunOutcome> {
    let (tx, rx) = mpsc::sync_channel(256);
    // Signals first: a SIGTERM that arrives while the terminal is being
    // set up must still find a handler that restores it.
    spawn_signals(tx.clone())?;
    let guard = TerminalGuard::enter().context("taking over the terminal")?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .context("starting the terminal UI")?;
    terminal.clear()?;
    let size = terminal.size()?;
    let gate = Arc::new(InputGate::default());
    spawn_input(tx.clone(), gate.clone())?;
    let saved = load_layout(&ctx.layout_file);
    let (ready_tx, ready) = mpsc::channel();
    let mut io = Io {
        tx: tx.clone(),
        ctx,
        handles: HashMap::new(),
        pending_size: HashMap::new(),
        pending_input: HashMap::new(),
        ready,
        ready_tx,
        prepared: Arc::new(Mutex::new(HashMap::new())),
        next_ticket: 0,
        followed_engines: std::collections::HashSet::new(),
    };
    spawn_ticker(tx.clone())?;
    // Requests arrive as files under queue/: a watcher (kept for the whole
    // run) asks for a scan; the tick scans too, in case an event is missed.
    let watch_tx = tx.clone();
    let _watcher = crate::queue::watch(&io.ctx.home.queue_dir(), move || {
        let _ = watch_tx.try_send(AppEvent::QueueChanged);
    })
    .map_err(|e| tracing::warn!("watching the queue: {e:#}"))
    .ok();
    let mut initial = vec![AppEvent::Resize {
        rows: size.height,
        cols: size.width,
    }];
    if let Some(s) = saved {
        initial.push(AppEvent::Restore(s));
    }
    // The last run crashed: offer its report, once.
    if let Some(report) = crate::crash::unseen(&io.ctx.home) {
        if let Err(e) = crate::crash::mark_seen(&io.ctx.home, &report) {
            tracing::warn!("recording the crash report as offered: {e:#}");
        }
        initial.push(AppEvent::CrashFound(report));
    }
    let mut queue: std::collections::VecDeque<AppEvent> = initial.into();
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut urgent = false;
    let mut last_key = Instant::now() - Duration::from_secs(1);
    let mut last_bell: Option<Instant> = None;
    let debug_panic = std::env::var_os("BOTTLE_DEBUG_PANIC").is_some_and(|v| v == "1");
    let outcome = loop {
        // Events already waiting go first (a burst of keys is one frame),
        // unless the screen is overdue.
        if dirty && queue.is_empty() && last_draw.elapsed() < FRAME * 3 {
            if let Ok(e) = rx.try_recv() {
                queue.push_back(e);
            }
        }
        if dirty
            && (urgent || last_draw.elapsed() >= FRAME)
            && (queue.is_empty() || last_draw.elapsed() >= FRAME * 3)
        {
            use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
            let _ = crossterm::execute!(std::io::stdout(), BeginSynchronizedUpdate);
            terminal.draw(|f| ui::render(f, &app))?;
            let _ = crossterm::execute!(std::io::stdout(), EndSynchronizedUpdate);
            for p in &app.panes {
                p.shared.take_dirty();
            }
            dirty = false;
            urgent = false;
            last_draw = Instant::now();
            if debug_panic {
                panic!("BOTTLE_DEBUG_PANIC=1: deliberate crash to test crash handling");
            }
        }
        let event = match queue.pop_front() {
            Some(e) => e,
            None if dirty => match rx.recv_timeout(FRAME.saturating_sub(last_draw.elapsed())) {
                Ok(e) => e,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break RunOutcome::Quit,
            },
            None => match rx.recv() {
                Ok(e) => e,
                Err(_) => break RunOutcome::Quit,
            },
        };
        // Output right after a keystroke is its echo: draw it at once.
        let typed = matches!(
            event,
            AppEvent::Key(_) | AppEvent::Paste(_) | AppEvent::Mouse(_)
        );
        let was_output = matches!(event, AppEvent::Pane(PaneNotice::Output(_)));
        if let AppEvent::PaneReady(_) = event {
            io.collect_ready();
        }
        if let AppEvent::Pane(PaneNotice::Ended(id, _)) = event {
            io.forget(id);
        }
        let mut exit = None;
        for effect in app.update(event) {
            match effect {
                Effect::Redraw => {
                    dirty = true;
                    // Pace only streaming output; a keystroke's echo, or
                    // output after a quiet spell, is drawn at once.
                    if !was_output
                        || last_key.elapsed() < ECHO_WINDOW
                        || last_draw.elapsed() >= FRAME * 4
                    {
                        urgent = true;
                    }
                }
                Effect::Exit(o) => exit = Some(o),
                Effect::OpenPane {
                    id,
                    slug,
                    kind,
                    rows,
                    cols,
                } => {
                    io.follow_engine(&slug);
                    io.open(&app, id, slug, kind, rows, cols)
                }
                Effect::PaneInput(id, bytes) => {
                    io.collect_ready();
                    match io.handles.get(&id) {
                        Some(h) => {
                            if !h.send(bytes) {
                                app.notice = Some(format!(
                                    "pane {id} is not reading its input; keys dropped"
                                ));
                                dirty = true;
                            }
                        }
                        None => io.pending_input.entry(id).or_default().push(bytes),
                    }
                }
                Effect::ResizePane { id, rows, cols } => {
                    io.collect_ready();
                    match io.handles.get(&id) {
                        Some(h) => h.resize(rows, cols),
                        None => {
                            io.pending_size.insert(id, (rows, cols));
                        }
                    }
                }
                Effect::ClosePane(id) => {
                    io.collect_ready();
                    if let Some(h) = io.forget(id) {
                        h.close();
                    }
                }
                Effect::StopBottle(slug) => io.stop(slug),
                Effect::RefreshBottles => io.refresh_bottles(),
                Effect::ListLogs { sidecars, select } => io.list_logs(sidecars, select),
                Effect::LoadLog(kind) => io.load_log(kind),
                Effect::PrepareLaunch {
                    agent,
                    engine_host,
                    task,
                } => io.prepare(agent, engine_host, task),
                Effect::PrepareResume(slug) => io.prepare_resume(slug),
                Effect::Launch {
                    id,
                    ticket,
                    answers,
                    trust,
                } => io.launch(id, ticket, answers, trust),
                Effect::DiscardLaunch(ticket) => {
                    if let Ok(mut m) = io.prepared.lock() {
                        m.remove(&ticket);
                    }
                }
                Effect::Bell => {
                    // At most one bell a second, whatever the panes ring.
                    if last_bell.is_none_or(|t: Instant| t.elapsed() >= BELL_INTERVAL) {
                        last_bell = Some(Instant::now());
                        let _ = std::io::Write::write_all(&mut std::io::stdout(), b"\x07")
                            .and_then(|()| std::io::Write::flush(&mut std::io::stdout()));
                    }
                }
                Effect::Notify(sequence) => {
                    let _ = std::io::Write::write_all(&mut std::io::stdout(), sequence.as_bytes())
                        .and_then(|()| std::io::Write::flush(&mut std::io::stdout()));
                }
                Effect::RestartSession { id, slug } => {
                    io.forget(id);
                    io.restart(id, slug);
                }
                Effect::SaveLayout(layout) => io.save(&layout),
                Effect::ScanQueue => io.scan_queue(),
                Effect::Decide {
                    request,
                    intent,
                    note,
                } => io.decide(*request, intent, note),
                Effect::EditRequest(request) => {
                    // The editor gets the terminal: input stops being read,
                    // the screen is handed back, and taken again after.
                    gate.pause();
                    guard.suspend();
                    let edited = crate::control::edit::edit(&io.ctx.home, &request.payload)
                        .map_err(|e| format!("{e:#}"));
                    if let Err(e) = guard.resume() {
                        tracing::warn!("taking the terminal back: {e}");
                    }
                    let _ = terminal.clear();
                    gate.resume();
                    // The terminal may have been resized meanwhile.
                    if let Ok(size) = terminal.size() {
                        queue.push_back(AppEvent::Resize {
                            rows: size.height,
                            cols: size.width,
                        });
                    }
                    queue.push_back(AppEvent::Edited(request.key(), edited));
                    dirty = true;
                    urgent = true;
                }
            }
        }
        if typed {
            last_key = Instant::now();
        }
        if let Some(o) = exit {
            break o;
        }
    };
    // Quitting never stops bottles: panes just detach.
    io.collect_ready();
    for (_, h) in io.handles.drain() {
        h.close();
    }
    drop(terminal);
    drop(guard);
    tracing::info!(?outcome, "workspace closed");
    Ok(outcome)
}
