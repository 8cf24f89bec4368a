//! The ratatui terminal the workspace draws on (ratatui stays inside
//! `ui`): a frame is drawn inside a synchronized update (CSI ?2026), so
//! the outer terminal never shows half of one.

use crate::app::App;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, Stdout};
use std::mem::ManuallyDrop;

/// Dropped by hand: ratatui's own drop prints to stderr with `eprintln!`
/// when it cannot show the cursor again, which panics when the terminal
/// is gone (a closed window, a dropped ssh). See `Drop` below.
pub struct Term(ManuallyDrop<Terminal<CrosstermBackend<Stdout>>>);

impl Drop for Term {
    fn drop(&mut self) {
        // Showing the cursor worked: ratatui's drop has nothing left to
        // print. It failed: the terminal is gone; the terminal object is
        // left undropped (the process is ending) rather than let it panic.
        if self.0.show_cursor().is_ok() {
            // SAFETY: dropped once, here; never used again.
            unsafe { ManuallyDrop::drop(&mut self.0) }
        }
    }
}

impl Term {
    /// Starts drawing on stdout (the terminal must already be taken).
    pub fn new() -> io::Result<Term> {
        Ok(Term(ManuallyDrop::new(Terminal::new(
            CrosstermBackend::new(io::stdout()),
        )?)))
    }

    /// Draws `app` whole.
    pub fn draw(&mut self, app: &App) -> io::Result<()> {
        use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
        let _ = crossterm::execute!(io::stdout(), BeginSynchronizedUpdate);
        let drawn = self.0.draw(|f| super::render(f, app)).map(|_| ());
        let _ = crossterm::execute!(io::stdout(), EndSynchronizedUpdate);
        drawn
    }

    /// Clears the screen; the next frame is drawn in full.
    pub fn clear(&mut self) -> io::Result<()> {
        self.0.clear()
    }

    /// (rows, cols).
    pub fn size(&self) -> io::Result<(u16, u16)> {
        self.0.size().map(|s| (s.height, s.width))
    }
}
