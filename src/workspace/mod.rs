//! The workspace process: one inbox of `AppEvent`s fed by the terminal
//! room (`tty`: input, signals, tick), the pane threads, the queue and
//! definitions watchers (`definitions.rs`) and the background jobs. The
//! loop owns `App` but never writes it: each event goes to `App::update`, and the effects it returns are carried out
//! here (redraw, exit, the editor) or by [`effects::Effects`] (panes,
//! engine, jobs). Events already waiting are handled before a frame (a
//! burst of keys is one frame); frames are drawn inside a synchronized
//! update, at most one per `FRAME` while output streams, at once after a
//! keystroke or a quiet spell, so pacing never delays an echo.
//!
//! Imports app, ui, tty, crash and (through effects.rs) the engine; nothing
//! imports it but the CLI.

mod definitions;
mod effects;
mod jobs;
mod sidecar;

use crate::app::{App, AppEvent, Effect, RunOutcome, SavedLayout};
use crate::session::pane::PaneNotice;
use crate::tty::{InputGate, TermEvent, TerminalGuard};
use crate::ui::Term;
use anyhow::{Context, Result};
use effects::Effects;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const FRAME: Duration = Duration::from_millis(16);
const TICK: Duration = Duration::from_secs(2);
/// Output this soon after a keystroke counts as its echo.
const ECHO_WINDOW: Duration = Duration::from_millis(100);

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

fn app_event(e: TermEvent) -> AppEvent {
    match e {
        TermEvent::Key(k) => AppEvent::Key(k),
        TermEvent::Paste(text) => AppEvent::Paste(text),
        TermEvent::Mouse(m) => AppEvent::Mouse(m),
        TermEvent::Resize { rows, cols } => AppEvent::Resize { rows, cols },
        TermEvent::Signal(sig) => AppEvent::Signal(sig),
        // A terminal that went away is a hang-up: the same quiet end.
        TermEvent::Gone => AppEvent::Signal(libc::SIGHUP),
        TermEvent::Tick => AppEvent::Tick,
    }
}

fn sender(tx: &mpsc::SyncSender<AppEvent>) -> impl Fn(TermEvent) -> bool + Send + 'static {
    let tx = tx.clone();
    move |e| tx.send(app_event(e)).is_ok()
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

/// When to draw: dirty since the last frame, and whether it must be drawn
/// at once (an echo, output after a quiet spell, anything not output).
struct Pacing {
    dirty: bool,
    urgent: bool,
    last_draw: Instant,
    last_key: Instant,
}

impl Pacing {
    fn new() -> Pacing {
        Pacing {
            dirty: true,
            urgent: false,
            last_draw: Instant::now() - FRAME,
            last_key: Instant::now() - Duration::from_secs(1),
        }
    }

    /// Take one more waiting event before drawing (a burst is one frame),
    /// unless the screen is overdue.
    fn drain_first(&self, queued: bool) -> bool {
        self.dirty && !queued && self.last_draw.elapsed() < FRAME * 3
    }

    fn frame_due(&self, queued: bool) -> bool {
        self.dirty
            && (self.urgent || self.last_draw.elapsed() >= FRAME)
            && (!queued || self.last_draw.elapsed() >= FRAME * 3)
    }

    fn drawn(&mut self) {
        self.dirty = false;
        self.urgent = false;
        self.last_draw = Instant::now();
    }

    /// How long to wait for the next event before drawing anyway.
    fn wait(&self) -> Option<Duration> {
        self.dirty
            .then(|| FRAME.saturating_sub(self.last_draw.elapsed()))
    }

    /// Pace only streaming output; a keystroke's echo, or output after a
    /// quiet spell, is drawn at once.
    fn redraw(&mut self, was_output: bool) {
        self.dirty = true;
        if !was_output
            || self.last_key.elapsed() < ECHO_WINDOW
            || self.last_draw.elapsed() >= FRAME * 4
        {
            self.urgent = true;
        }
    }

    fn now(&mut self) {
        self.dirty = true;
        self.urgent = true;
    }
}

/// The terminal and what lends it to another program.
struct Room {
    // Dropped in this order: the ratatui terminal, then the guard that
    // restores the operator's terminal.
    term: Term,
    guard: TerminalGuard,
    gate: Arc<InputGate>,
}

impl Room {
    /// The operator's editor gets the terminal for `request`'s payload:
    /// input stops being read, the screen is handed back, and taken again
    /// after. The events that follow: the size (it may have changed
    /// meanwhile) and what the editor returned.
    fn edit(
        &mut self,
        home: &crate::state::Home,
        request: &crate::queue::Request,
    ) -> Vec<AppEvent> {
        self.gate.pause();
        self.guard.suspend();
        let edited =
            crate::control::edit::edit(home, &request.payload).map_err(|e| format!("{e:#}"));
        if let Err(e) = self.guard.resume() {
            tracing::warn!("taking the terminal back: {e}");
        }
        let _ = self.term.clear();
        self.gate.resume();
        let mut events = Vec::new();
        if let Ok((rows, cols)) = self.term.size() {
            events.push(AppEvent::Resize { rows, cols });
        }
        events.push(AppEvent::Edited(request.key(), edited));
        events
    }
}

pub fn run(mut app: App, ctx: RunContext) -> Result<RunOutcome> {
    let (tx, rx) = mpsc::sync_channel(256);
    // Signals first: a SIGTERM that arrives while the terminal is being
    // set up must still find a handler that restores it.
    crate::tty::spawn_signals(sender(&tx)).context("installing signal handlers")?;
    let guard = TerminalGuard::enter().context("taking over the terminal")?;
    let mut term = Term::new().context("starting the terminal UI")?;
    term.clear()?;
    let (rows, cols) = term.size()?;
    let gate = Arc::new(InputGate::default());
    crate::tty::spawn_input(gate.clone(), sender(&tx))?;
    let mut room = Room { term, guard, gate };
    let saved = load_layout(&ctx.layout_file);
    let mut effects = Effects::new(tx.clone(), ctx).context("starting the workspace's jobs")?;
    crate::tty::spawn_ticker(TICK, sender(&tx))?;
    // Requests arrive as files under queue/: a watcher (kept for the whole
    // run) asks for a scan; the tick scans too, in case an event is missed.
    let watch_tx = tx.clone();
    let _watcher = crate::queue::watch(&effects.ctx.home.queue_dir(), move || {
        let _ = watch_tx.try_send(AppEvent::QueueChanged);
    })
    .map_err(|e| tracing::warn!("watching the queue: {e:#}"))
    .ok();
    // Definitions and config.yaml edited while the workspace runs: the
    // watcher's thread re-reads them and sends `Definitions`.
    if let Err(e) = definitions::spawn(
        effects.ctx.home.clone(),
        effects.ctx.workspace.clone(),
        tx.clone(),
    ) {
        tracing::warn!("watching the definitions: {e:#}");
    }
    let mut queue: VecDeque<AppEvent> = VecDeque::from([AppEvent::Resize { rows, cols }]);
    if let Some(s) = saved {
        queue.push_back(AppEvent::Restore(s));
    }
    // The last run crashed: offer its report, once.
    if let Some(report) = crate::crash::unseen(&effects.ctx.home) {
        if let Err(e) = crate::crash::mark_seen(&effects.ctx.home, &report) {
            tracing::warn!("recording the crash report as offered: {e:#}");
        }
        queue.push_back(AppEvent::CrashFound(report));
    }
    let mut pacing = Pacing::new();
    let debug_panic = std::env::var_os("BOTTLE_DEBUG_PANIC").is_some_and(|v| v == "1");
    let outcome = loop {
        if pacing.drain_first(!queue.is_empty()) {
            if let Ok(e) = rx.try_recv() {
                queue.push_back(e);
            }
        }
        if pacing.frame_due(!queue.is_empty()) {
            if let Err(e) = room.term.draw(&app) {
                // The terminal is gone (a closed window, a dropped ssh):
                // end as on a hang-up; the bottles keep running.
                tracing::info!("drawing failed, the terminal is gone: {e}");
                break RunOutcome::Signal(libc::SIGHUP);
            }
            for p in &app.panes {
                p.shared.take_dirty();
            }
            pacing.drawn();
            if debug_panic {
                panic!("BOTTLE_DEBUG_PANIC=1: deliberate crash to test crash handling");
            }
        }
        let event = match (queue.pop_front(), pacing.wait()) {
            (Some(e), _) => e,
            (None, Some(wait)) => match rx.recv_timeout(wait) {
                Ok(e) => e,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break RunOutcome::Quit,
            },
            (None, None) => match rx.recv() {
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
        effects.observe(&event);
        let mut exit = None;
        for effect in app.update(event) {
            match effect {
                Effect::Redraw => pacing.redraw(was_output),
                Effect::Exit(o) => exit = Some(o),
                Effect::EditRequest(request) => {
                    queue.extend(room.edit(&effects.ctx.home, &request));
                    pacing.now();
                }
                other => queue.extend(effects.perform(&app, other)),
            }
        }
        if typed {
            pacing.last_key = Instant::now();
        }
        if let Some(o) = exit {
            break o;
        }
    };
    effects.detach_all();
    drop(room);
    tracing::info!(?outcome, "workspace closed");
    Ok(outcome)
}
