//! The problems list (a modal layer): every definition and config
//! problem, as `bottle check` prints them; ui/mod.rs draws it.

use super::{App, Effect, Overlay};
use crossterm::event::{KeyCode as C, KeyEvent};

impl App {
    /// Keys scroll the list; Esc, q or Enter close it.
    pub(super) fn problems_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if let Some(Overlay::Problems(scroll)) = &mut self.overlay {
            match key.code {
                C::Up | C::Char('k') => *scroll = scroll.saturating_sub(1),
                C::Down | C::Char('j') => *scroll = scroll.saturating_add(1),
                C::PageUp => *scroll = scroll.saturating_sub(10),
                C::PageDown | C::Char(' ') => *scroll = scroll.saturating_add(10),
                C::Esc | C::Char('q') | C::Enter => self.overlay = None,
                _ => {}
            }
        }
        vec![Effect::Redraw]
    }
}
