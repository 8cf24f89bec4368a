//! The terminal room: owning the operator's terminal (raw mode +
//! alternate screen while the workspace runs, and a restore that is safe
//! to call twice: on quit, on a signal and from the panic hook), lending
//! it to another program (an editor), and the threads that turn the
//! terminal, signals and time into events: input (behind an
//! [`InputGate`]), signals and the tick. A leaf: imports nothing of ours,
//! so `crash` and the workspace can both use it. Events go out through a
//! callback as [`TermEvent`]s; the callback says whether anyone still
//! listens (a thread ends when no one does).

use crossterm::event::{Event, KeyEvent, MouseEvent};
use crossterm::{cursor, event, execute, terminal};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Restores the terminal on drop.
pub struct TerminalGuard(());

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        let guard = TerminalGuard(());
        take()?;
        Ok(guard)
    }

    /// Gives the terminal to another program (an editor) until `resume`.
    pub fn suspend(&self) {
        restore();
    }

    /// Takes the terminal back after `suspend`.
    pub fn resume(&self) -> io::Result<()> {
        take()
    }
}

fn take() -> io::Result<()> {
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    execute!(
        io::stdout(),
        terminal::EnterAlternateScreen,
        event::EnableBracketedPaste,
        event::EnableFocusChange,
        event::EnableMouseCapture,
        cursor::Hide
    )
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and restores the saved terminal settings.
/// Does nothing if the workspace never took the terminal.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    let _ = execute!(
        out,
        event::DisableBracketedPaste,
        event::DisableFocusChange,
        event::DisableMouseCapture,
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

/// Raw mode without the alternate screen, for passthrough to an agent.
/// Restores the saved settings on drop.
pub struct RawGuard(());

impl RawGuard {
    pub fn enter() -> io::Result<RawGuard> {
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        Ok(RawGuard(()))
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// (rows, cols) of the controlling terminal.
pub fn size() -> Option<(u16, u16)> {
    terminal::size().ok().map(|(cols, rows)| (rows, cols))
}

/// What the terminal room reports.
#[derive(Debug, Clone)]
pub enum TermEvent {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Resize {
        rows: u16,
        cols: u16,
    },
    /// SIGTERM / SIGHUP.
    Signal(i32),
    /// The terminal went away (reading it failed): a hang-up.
    Gone,
    /// The periodic tick.
    Tick,
}

/// Lets the owner stop the input thread from reading the terminal while
/// another program (the operator's editor) has it.
#[derive(Default)]
pub struct InputGate {
    /// (paused, the input thread is parked)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl InputGate {
    /// Parks the input thread; returns once it no longer reads.
    pub fn pause(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        s.0 = true;
        while !s.1 {
            match self.changed.wait(s) {
                Ok(g) => s = g,
                Err(_) => return,
            }
        }
    }

    pub fn resume(&self) {
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

/// SIGTERM and SIGHUP become a [`TermEvent::Signal`]. Install it before
/// taking the terminal: a signal during the setup must still find a
/// handler that restores it.
pub fn spawn_signals(send: impl Fn(TermEvent) -> bool + Send + 'static) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                send(TermEvent::Signal(sig));
            }
        })?;
    Ok(())
}

/// Reads the terminal's input. Start it only after the terminal is set
/// up: the setup may query the terminal, and a concurrent reader would
/// swallow the reply.
pub fn spawn_input(
    gate: Arc<InputGate>,
    send: impl Fn(TermEvent) -> bool + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || loop {
            gate.wait_while_paused();
            // Poll first, so a pause is noticed within this long.
            match event::poll(Duration::from_millis(50)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::info!("terminal input ended: {e}");
                    send(TermEvent::Gone);
                    return;
                }
            }
            let ev = match event::read() {
                Ok(Event::Key(k)) => TermEvent::Key(k),
                Ok(Event::Paste(text)) => TermEvent::Paste(text),
                Ok(Event::Mouse(m)) => TermEvent::Mouse(m),
                Ok(Event::Resize(cols, rows)) => TermEvent::Resize { rows, cols },
                Ok(_) => continue,
                Err(e) => {
                    tracing::info!("terminal input ended: {e}");
                    send(TermEvent::Gone);
                    return;
                }
            };
            if !send(ev) {
                return;
            }
        })?;
    Ok(())
}

/// A [`TermEvent::Tick`] now and every `every`.
pub fn spawn_ticker(
    every: Duration,
    send: impl Fn(TermEvent) -> bool + Send + 'static,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("ticker".into())
        .spawn(move || loop {
            if !send(TermEvent::Tick) {
                return;
            }
            std::thread::sleep(every);
        })?;
    Ok(())
}

/// Writes bytes straight to the operator's terminal between frames (a
/// bell, a desktop notification's escape sequence).
pub fn write_raw(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout();
    out.write_all(bytes)?;
    out.flush()
}
