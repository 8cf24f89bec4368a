//! Copy mode: the keyboard scrolls a pane's history (and searches it)
//! instead of reaching the pane; the wheel scrolls it too (panes.rs).

use super::{App, Effect};
use crate::session::layout::PaneId;
use crate::session::screen::Screen;
use crossterm::event::KeyEvent;

impl App {
    /// Scrolls a pane's history by `delta` rows (positive: back).
    pub(super) fn scroll(&mut self, id: PaneId, delta: isize) {
        if let Some(p) = self.pane(id) {
            if let Ok(mut s) = p.shared.screen.lock() {
                let now = s.scrollback() as isize;
                s.set_scrollback((now + delta).max(0) as usize);
            }
        }
    }

    pub(super) fn scrolled(&self, id: PaneId) -> usize {
        self.pane(id)
            .and_then(|p| p.shared.screen.lock().ok().map(|s| s.scrollback()))
            .unwrap_or(0)
    }
    /// contains `needle`, bringing it to the top row; false if none.
    fn find(&mut self, id: PaneId, needle: &str, back: bool) -> bool {
        let Some(p) = self.pane(id) else {
            return false;
        };
        let Ok(mut s) = p.shared.screen.lock() else {
            return false;
        };
        let start = s.scrollback();
        s.set_scrollback(usize::MAX);
        let max = s.scrollback();
        let offsets: Box<dyn Iterator<Item = usize>> = if back {
            Box::new(start + 1..=max)
        } else {
            Box::new((0..start).rev())
        };
        for o in offsets {
            s.set_scrollback(o);
            if s.text_rows().first().is_some_and(|r| r.contains(needle)) {
                return true;
            }
        }
        s.set_scrollback(start);
        false
    }

    /// Keys in copy mode: they scroll the pane's history, never reach it.
    /// `/` searches (older lines first), `n`/`N` repeat it.
    pub(super) fn copy_mode_key(&mut self, id: PaneId, key: KeyEvent) -> Vec<Effect> {
        use crossterm::event::KeyCode as C;
        if let Some(text) = self.search_input.as_mut() {
            match key.code {
                C::Char(c) => text.push(c),
                C::Backspace => {
                    text.pop();
                }
                C::Esc => self.search_input = None,
                C::Enter => {
                    let needle = self.search_input.take().unwrap_or_default();
                    if !needle.is_empty() {
                        self.notice =
                            (!self.find(id, &needle, true)).then(|| format!("not found: {needle}"));
                        self.last_search = Some(needle);
                    }
                }
                _ => {}
            }
            return vec![Effect::Redraw];
        }
        let page = self.pane(id).map_or(10, |p| p.rows as isize);
        match key.code {
            C::Up | C::Char('k') => self.scroll(id, 1),
            C::Down | C::Char('j') => self.scroll(id, -1),
            C::PageUp | C::Char('b') => self.scroll(id, page),
            C::PageDown | C::Char(' ') | C::Char('f') => self.scroll(id, -page),
            C::Char('g') | C::Home => self.scroll(id, isize::MAX / 2),
            C::Char('G') | C::End => self.scroll(id, -(isize::MAX / 2)),
            C::Char('/') => self.search_input = Some(String::new()),
            C::Char(c @ ('n' | 'N')) => {
                if let Some(needle) = self.last_search.clone() {
                    self.notice =
                        (!self.find(id, &needle, c == 'n')).then(|| format!("no more: {needle}"));
                }
            }
            C::Esc | C::Char('q') => {
                self.scroll(id, -(isize::MAX / 2));
                self.copy_mode = None;
                self.search_input = None;
            }
            _ => {}
        }
        vec![Effect::Redraw]
    }
}

#[cfg(test)]
mod tests {
    use crate::app::test_support::{key, with_bottles};
    use crate::app::{Action, App, AppEvent, Effect};
    use crate::session::screen::Screen;
    use crossterm::event::{KeyCode, KeyModifiers};

    #[test]
    fn wheel_and_copy_mode_scroll_history_and_typing_returns() {
        use crossterm::event::{MouseEvent, MouseEventKind};
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        a.update(AppEvent::PaneReady(id));
        {
            let p = a.pane(id).expect("pane");
            let mut s = p.shared.screen.lock().expect("screen");
            for i in 0..200 {
                s.process(format!("line {i}\r\n").as_bytes());
            }
        }
        let wheel = |kind| {
            AppEvent::Mouse(MouseEvent {
                kind,
                column: 50,
                row: 10,
                modifiers: KeyModifiers::NONE,
            })
        };
        a.update(wheel(MouseEventKind::ScrollUp));
        a.update(wheel(MouseEventKind::ScrollUp));
        assert_eq!(a.scrolled(id), 6);
        a.update(wheel(MouseEventKind::ScrollDown));
        assert_eq!(a.scrolled(id), 3);
        // Copy mode: keys scroll, never reach the pane.
        a.apply(Action::CopyMode);
        assert!(a.update(key(KeyCode::Char('g'), KeyModifiers::NONE)) == vec![Effect::Redraw]);
        assert!(a.scrolled(id) > 100);
        a.update(key(KeyCode::Char('q'), KeyModifiers::NONE));
        assert_eq!((a.scrolled(id), a.copy_mode), (0, None));
        // Typing while scrolled back returns to the live screen.
        a.update(wheel(MouseEventKind::ScrollUp));
        let fx = a.update(key(KeyCode::Char('x'), KeyModifiers::NONE));
        assert_eq!(fx.first(), Some(&Effect::PaneInput(id, b"x".to_vec())));
        assert_eq!(a.scrolled(id), 0);
        // A program that asked for the mouse gets the wheel instead.
        a.pane(id)
            .expect("pane")
            .shared
            .screen
            .lock()
            .expect("screen")
            .process(b"\x1b[?1000h\x1b[?1006h");
        let fx = a.update(wheel(MouseEventKind::ScrollUp));
        assert!(
            matches!(fx.as_slice(), [Effect::PaneInput(_, b)] if b.starts_with(b"\x1b[<64;")),
            "{fx:?}"
        );
    }

    #[test]
    fn copy_mode_search_finds_older_lines_and_repeats() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        {
            let p = a.pane(id).expect("pane");
            let mut s = p.shared.screen.lock().expect("screen");
            for i in 0..300 {
                let tag = if i % 100 == 7 { " NEEDLE" } else { "" };
                s.process(format!("line {i}{tag}\r\n").as_bytes());
            }
        }
        a.apply(Action::CopyMode);
        for k in "/NEEDLE".chars() {
            a.update(key(KeyCode::Char(k), KeyModifiers::NONE));
        }
        a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        let top = |a: &App| {
            a.pane(id)
                .expect("pane")
                .shared
                .screen
                .lock()
                .expect("screen")
                .text_rows()[0]
                .clone()
        };
        assert_eq!(top(&a), "line 207 NEEDLE");
        a.update(key(KeyCode::Char('n'), KeyModifiers::NONE));
        assert_eq!(top(&a), "line 107 NEEDLE");
        a.update(key(KeyCode::Char('n'), KeyModifiers::NONE));
        assert_eq!(top(&a), "line 7 NEEDLE");
        a.update(key(KeyCode::Char('n'), KeyModifiers::NONE));
        assert!(a.notice.as_deref().is_some_and(|n| n.contains("no more")));
        a.update(key(KeyCode::Char('N'), KeyModifiers::NONE));
        assert_eq!(top(&a), "line 107 NEEDLE");
    }
}
