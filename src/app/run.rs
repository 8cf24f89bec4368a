//! The workspace loop: one inbox of `AppEvent`s fed by an input thread and
//! a signal thread; draw when something changed.

use super::{App, AppEvent, Effect};
use crate::ui;
use crate::ui::terminal::TerminalGuard;
use anyhow::{Context, Result};
use crossterm::event::{self, Event};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use signal_hook::consts::{SIGHUP, SIGTERM};
use std::sync::mpsc;

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
fn spawn_input(tx: mpsc::SyncSender<AppEvent>) -> Result<()> {
    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || loop {
            let ev = match event::read() {
                Ok(Event::Key(k)) => AppEvent::Key(k),
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

pub fn run(mut app: App) -> Result<RunOutcome> {
    let (tx, rx) = mpsc::sync_channel(256);
    // Signals first: a SIGTERM that arrives while the terminal is being
    // set up must still find a handler that restores it.
    spawn_signals(tx.clone())?;
    let guard = TerminalGuard::enter().context("taking over the terminal")?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))
        .context("starting the terminal UI")?;
    terminal.clear()?;
    spawn_input(tx)?;
    let mut dirty = true;
    let debug_panic = std::env::var_os("BOTTLE_DEBUG_PANIC").is_some_and(|v| v == "1");
    let outcome = loop {
        if dirty {
            terminal.draw(|f| ui::render(f, &app))?;
            dirty = false;
            if debug_panic {
                panic!("BOTTLE_DEBUG_PANIC=1: deliberate crash to test crash handling");
            }
        }
        let Ok(event) = rx.recv() else {
            break super::RunOutcome::Quit;
        };
        let mut exit = None;
        for effect in app.update(event) {
            match effect {
                Effect::Redraw => dirty = true,
                Effect::Exit(o) => exit = Some(o),
            }
        }
        if let Some(o) = exit {
            break o;
        }
    };
    drop(terminal);
    drop(guard);
    tracing::info!(?outcome, "workspace closed");
    Ok(outcome)
}
