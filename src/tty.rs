//! Owning the operator's terminal: raw mode + alternate screen while the
//! workspace runs, and a restore that is safe to call twice (on quit, on a
//! signal and from the panic hook).

use crossterm::{cursor, event, execute, terminal};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

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
