//! Pane lifecycle: adding, sizing, closing and restoring panes; what a
//! pane's events change (output, end, ready, failed, restarted); keys and
//! the mouse for the focused pane. Every layout or size change resizes
//! the panes' emulators here and their sessions through
//! `Effect::ResizePane`, and saves the layout.

use super::state::Earlier;
use super::{App, BottleRow, Effect, Focus, PaneState, PaneView, SavedLayout, SavedPane};
use super::{QUIET_AFTER_PROMPT, REATTACH_WINDOW};
use crate::session::io::PaneKind;
use crate::session::layout::{Node, PaneId, Split};
use crate::session::pane::PaneShared;
use crate::session::screen::Screen;
use crossterm::event::KeyEvent;
use std::time::Instant;

impl App {
    /// Resizes every pane whose inside changed; saves the layout.
    pub(super) fn relayout(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        let areas = self.pane_areas();
        for (id, area) in areas {
            let (rows, cols) = Self::inner(area);
            if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
                if (p.rows, p.cols) != (rows, cols) {
                    p.rows = rows;
                    p.cols = cols;
                    if let Ok(mut s) = p.shared.screen.lock() {
                        s.resize(rows, cols);
                    }
                    if p.state == PaneState::Live || p.state == PaneState::Connecting {
                        effects.push(Effect::ResizePane { id, rows, cols });
                    }
                }
            }
        }
        effects.push(Effect::SaveLayout(self.saved()));
        effects.push(Effect::Redraw);
        effects
    }

    /// Adds a pane for `slug`: with a direction, beside the focused pane;
    /// without one (opened from the sidebar), in the largest pane, split
    /// along its longer side (a cell is about twice as tall as wide), so
    /// many panes tile evenly instead of halving one corner.
    pub(super) fn add_pane(
        &mut self,
        slug: String,
        kind: PaneKind,
        split: Option<Split>,
    ) -> Vec<Effect> {
        let id = self.next_id;
        self.next_id += 1;
        let areas = self.layout.as_ref().map(|t| t.areas(self.main_area()));
        let largest = areas.as_ref().and_then(|a| {
            a.iter()
                .max_by_key(|(_, r)| u32::from(r.w) * u32::from(r.h))
                .copied()
        });
        let (target, split) = match split {
            Some(s) => (self.focused_pane().or(self.panes.last().map(|p| p.id)), s),
            None => match largest {
                Some((pid, r)) => (
                    Some(pid),
                    if r.w >= r.h.saturating_mul(2) {
                        Split::Columns
                    } else {
                        Split::Rows
                    },
                ),
                None => (None, Split::Columns),
            },
        };
        match (target, &mut self.layout) {
            (Some(target), Some(tree)) => {
                if !tree.split(target, split, id) {
                    tree.split(tree.panes()[0], split, id);
                }
            }
            _ => self.layout = Some(Node::Leaf(id)),
        }
        self.zoom = None;
        let shared = PaneShared::new(1, 1);
        self.panes.push(PaneView {
            id,
            slug: slug.clone(),
            kind,
            shared,
            state: PaneState::Connecting,
            rows: 0,
            cols: 0,
            needs_input: false,
            seen_attention: 0,
            seen_bells: 0,
            unseen_output: false,
            reattach_by: None,
            before_reopen: None,
        });
        self.focus = Focus::Pane(id);
        // Size it first, then open it at that size.
        let mut effects: Vec<Effect> = self
            .relayout()
            .into_iter()
            .filter(|e| !matches!(e, Effect::ResizePane { id: i, .. } if *i == id))
            .collect();
        let (rows, cols) = self.pane(id).map_or((24, 80), |p| (p.rows, p.cols));
        effects.insert(
            0,
            Effect::OpenPane {
                id,
                slug,
                kind,
                rows,
                cols,
            },
        );
        effects
    }

    pub(super) fn remove_pane(&mut self, id: PaneId) -> Vec<Effect> {
        self.panes.retain(|p| p.id != id);
        self.layout = self.layout.take().and_then(|t| t.remove(id));
        if self.zoom == Some(id) {
            self.zoom = None;
        }
        if self.copy_mode == Some(id) {
            self.copy_mode = None;
        }
        if self.focus == Focus::Pane(id) {
            self.focus = self
                .layout
                .as_ref()
                .and_then(|t| t.panes().last().copied())
                .map_or(Focus::Sidebar, Focus::Pane);
        }
        self.relayout()
    }

    /// The terminal's size changed: the panes follow.
    pub(super) fn resized(&mut self, rows: u16, cols: u16) -> Vec<Effect> {
        self.size = (rows, cols);
        self.relayout()
    }

    /// A pane turned dirty: draw it; an unfocused pane that asked for
    /// attention (bell, OSC 9/777) is marked and the operator notified.
    pub(super) fn pane_output(&mut self, id: PaneId) -> Vec<Effect> {
        let focused = self.focus == Focus::Pane(id);
        let mut effects = vec![Effect::Redraw];
        if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
            let (now, bells) = p
                .shared
                .screen
                .lock()
                .map(|s| (s.attention(), s.bells()))
                .unwrap_or_default();
            if now > p.seen_attention && !focused {
                if !p.needs_input {
                    let text = format!("{} needs input", p.slug);
                    effects.extend(self.notify.sequence(&text).map(Effect::Notify));
                }
                p.needs_input = true;
            }
            if bells > p.seen_bells {
                effects.push(Effect::Bell);
            }
            p.seen_attention = now;
            p.seen_bells = bells;
            p.unseen_output |= !focused;
            if p.before_reopen.is_some() && !p.shared.is_blank() {
                p.before_reopen = None;
            }
        }
        effects
    }

    /// A pane's connection ended (with the program's exit status when
    /// known); a pane whose agent was just recreated re-attaches.
    pub(super) fn pane_ended(&mut self, id: PaneId, status: Option<i32>) -> Vec<Effect> {
        let mut effects = vec![Effect::RefreshBottles, Effect::Redraw];
        if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
            let earlier = p.back_to_earlier();
            p.state = match (status, earlier) {
                (Some(code), _) => PaneState::Exited(code),
                // A re-attach that found nothing: the exit stands.
                (None, Some(PaneState::Exited(code))) => PaneState::Exited(code),
                (None, _) => PaneState::Lost,
            };
            if p.reattach_by.take().is_some_and(|t| Instant::now() < t) {
                effects.extend(self.reopen(id));
            }
        }
        effects
    }

    pub(super) fn pane_ready(&mut self, id: PaneId) -> Vec<Effect> {
        if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
            if p.state == PaneState::Connecting {
                p.state = PaneState::Live;
            }
        }
        vec![Effect::Redraw]
    }

    /// A pane could not open; a launch that failed says so on the status
    /// line too (in place of "launching <slug>").
    pub(super) fn pane_failed(&mut self, id: PaneId, why: String) -> Vec<Effect> {
        if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
            if p.state == PaneState::Launching {
                let first = why.lines().next().unwrap_or_default();
                self.notice = Some(format!("launching {} failed: {first}", p.slug));
            }
            p.state = match p.back_to_earlier() {
                // A re-attach after the agent exited found it gone: the
                // exit stands, with its screen.
                Some(PaneState::Exited(code)) => PaneState::Exited(code),
                _ => PaneState::Failed(why),
            };
        }
        vec![Effect::Redraw]
    }

    /// The pane's program stopped reading; its input queue is full.
    pub(super) fn input_dropped(&mut self, id: PaneId) -> Vec<Effect> {
        self.notice = Some(format!("pane {id} is not reading its input; keys dropped"));
        vec![Effect::Redraw]
    }

    /// The bottle list came back (or why not); a saved layout waiting for
    /// it is restored now.
    pub(super) fn bottles_listed(&mut self, result: Result<Vec<BottleRow>, String>) -> Vec<Effect> {
        self.refreshing = false;
        match result {
            Ok(rows) => {
                self.bottles = rows;
                self.bottles_error = None;
            }
            Err(e) => self.bottles_error = Some(e),
        }
        if self.selected >= self.sidebar_len() {
            self.selected = self.sidebar_len().saturating_sub(1);
        }
        let mut effects = self.follow_gates();
        if let Some(saved) = self.pending_restore.take() {
            effects.extend(self.restore(saved));
        }
        if std::mem::take(&mut self.refresh_again) {
            effects.extend(self.refresh());
        }
        effects.push(Effect::Redraw);
        effects
    }

    /// The saved layout is restored once the bottle list says which of
    /// its bottles still run.
    pub(super) fn restore_later(&mut self, saved: SavedLayout) -> Vec<Effect> {
        self.pending_restore = Some(saved);
        if self.refreshing {
            Vec::new()
        } else {
            self.refreshing = true;
            vec![Effect::RefreshBottles]
        }
    }

    /// y/N before stopping `id`'s bottle: only y stops it.
    pub(super) fn confirm_stop_key(&mut self, id: PaneId, key: KeyEvent) -> Vec<Effect> {
        self.overlay = None;
        if matches!(key.code, crossterm::event::KeyCode::Char('y' | 'Y')) {
            let Some(slug) = self.pane(id).map(|p| p.slug.clone()) else {
                return vec![Effect::Redraw];
            };
            self.notice = Some(format!("stopping {slug}"));
            let mut effects = vec![Effect::ClosePane(id), Effect::StopBottle(slug)];
            effects.extend(self.remove_pane(id));
            return effects;
        }
        vec![Effect::Redraw]
    }

    /// Unwatched panes whose output went quiet after a prompt now wait for
    /// the operator; the bottles of those that just started to.
    pub(super) fn quiet_prompts(&mut self) -> Vec<String> {
        let focused = self.focused_pane();
        let mut changed = Vec::new();
        for p in &mut self.panes {
            if Some(p.id) == focused || !p.unseen_output || p.state != PaneState::Live {
                continue;
            }
            if p.shared.quiet_for() < QUIET_AFTER_PROMPT {
                continue;
            }
            p.unseen_output = false;
            if p.shared.screen.lock().is_ok_and(|s| s.at_prompt()) {
                if !p.needs_input {
                    changed.push(p.slug.clone());
                }
                p.needs_input = true;
            }
        }
        changed
    }

    /// Re-opens the saved panes whose bottles still run, in their places.
    fn restore(&mut self, saved: SavedLayout) -> Vec<Effect> {
        if saved.version != 1 || !self.panes.is_empty() {
            return Vec::new();
        }
        let running = |slug: &str| {
            self.bottles
                .iter()
                .any(|b| b.slug == slug && b.status.is_running())
        };
        let keep: Vec<SavedPane> = saved
            .panes
            .into_iter()
            .filter(|p| running(&p.slug))
            .collect();
        let mut tree = saved.layout;
        if let Some(t) = &tree {
            for id in t.panes() {
                if !keep.iter().any(|p| p.id == id) {
                    tree = tree.and_then(|t| t.remove(id));
                }
            }
        }
        let Some(tree) = tree else {
            return Vec::new();
        };
        let keep: Vec<SavedPane> = keep
            .into_iter()
            .filter(|p| tree.panes().contains(&p.id))
            .collect();
        self.next_id = keep.iter().map(|p| p.id).max().unwrap_or(0) + 1;
        for p in &keep {
            self.panes.push(PaneView {
                id: p.id,
                slug: p.slug.clone(),
                kind: p.kind,
                shared: PaneShared::new(1, 1),
                state: PaneState::Connecting,
                rows: 0,
                cols: 0,
                needs_input: false,
                seen_attention: 0,
                seen_bells: 0,
                unseen_output: false,
                reattach_by: None,
                before_reopen: None,
            });
        }
        self.layout = Some(tree);
        self.focus = saved
            .focus
            .filter(|f| keep.iter().any(|p| p.id == *f))
            .or(keep.last().map(|p| p.id))
            .map_or(Focus::Sidebar, Focus::Pane);
        let mut effects: Vec<Effect> = self
            .relayout()
            .into_iter()
            .filter(|e| !matches!(e, Effect::ResizePane { .. }))
            .collect();
        for p in &self.panes {
            effects.insert(
                0,
                Effect::OpenPane {
                    id: p.id,
                    slug: p.slug.clone(),
                    kind: p.kind,
                    rows: p.rows,
                    cols: p.cols,
                },
            );
        }
        effects
    }

    /// Wheel over a pane scrolls its history, unless its program asked for
    /// mouse reports (then it gets them); a click focuses the pane.
    pub(super) fn on_mouse(&mut self, m: crossterm::event::MouseEvent) -> Vec<Effect> {
        use crate::session::keys::{self, MouseButton};
        use crossterm::event::{MouseButton as B, MouseEventKind as K};
        let hit = self.pane_areas().into_iter().find(|(_, a)| {
            m.column >= a.x && m.column < a.x + a.w && m.row >= a.y && m.row < a.y + a.h
        });
        let Some((id, area)) = hit else {
            if matches!(m.kind, K::Down(_)) && m.column < self.main_area().x {
                self.focus = Focus::Sidebar;
                return vec![Effect::Redraw];
            }
            return Vec::new();
        };
        let (button, press) = match m.kind {
            K::ScrollUp => (MouseButton::WheelUp, true),
            K::ScrollDown => (MouseButton::WheelDown, true),
            K::Down(b) | K::Up(b) => (
                match b {
                    B::Left => MouseButton::Left,
                    B::Middle => MouseButton::Middle,
                    B::Right => MouseButton::Right,
                },
                matches!(m.kind, K::Down(_)),
            ),
            _ => return Vec::new(),
        };
        let mut effects = Vec::new();
        if press && !matches!(button, MouseButton::WheelUp | MouseButton::WheelDown) {
            self.focus = Focus::Pane(id);
            effects.push(Effect::Redraw);
        }
        let modes = self
            .pane(id)
            .and_then(|p| p.shared.screen.lock().ok().map(|s| s.key_modes()))
            .unwrap_or_default();
        let inside = (
            m.column.saturating_sub(area.x + 1),
            m.row.saturating_sub(area.y + 1),
        );
        let live = self.pane(id).is_some_and(|p| p.state == PaneState::Live);
        match keys::mouse(button, press, inside.0, inside.1, m.modifiers, modes) {
            Some(bytes) if live && self.scrolled(id) == 0 => {
                effects.push(Effect::PaneInput(id, bytes));
            }
            _ => match button {
                MouseButton::WheelUp => {
                    self.scroll(id, 3);
                    effects.push(Effect::Redraw);
                }
                MouseButton::WheelDown => {
                    self.scroll(id, -3);
                    effects.push(Effect::Redraw);
                }
                _ => {}
            },
        }
        effects
    }

    /// Opens an ended pane again on a fresh screen (same place, same size).
    pub(super) fn reopen(&mut self, id: PaneId) -> Vec<Effect> {
        let Some(p) = self.panes.iter_mut().find(|p| p.id == id) else {
            return Vec::new();
        };
        let fresh = PaneShared::new(p.rows.max(1), p.cols.max(1));
        let old = std::mem::replace(&mut p.shared, fresh);
        p.before_reopen = (!old.is_blank()).then(|| Earlier {
            shared: old,
            state: p.state.clone(),
            seen_attention: p.seen_attention,
            seen_bells: p.seen_bells,
        });
        p.state = PaneState::Connecting;
        p.seen_attention = 0;
        p.seen_bells = 0;
        vec![
            Effect::OpenPane {
                id,
                slug: p.slug.clone(),
                kind: p.kind,
                rows: p.rows.max(1),
                cols: p.cols.max(1),
            },
            Effect::Redraw,
        ]
    }

    /// `slug`'s agent container started (engine events): its ended panes
    /// re-attach; panes still on the old container re-attach when that
    /// connection ends. Panes launching or connecting are on their way.
    pub(super) fn agent_started(&mut self, slug: &str) -> Vec<Effect> {
        let mut reopen = Vec::new();
        for p in self.panes.iter_mut().filter(|p| p.slug == slug) {
            match p.state {
                PaneState::Exited(_) | PaneState::Lost | PaneState::Failed(_) => reopen.push(p.id),
                PaneState::Live => p.reattach_by = Some(Instant::now() + REATTACH_WINDOW),
                PaneState::Launching | PaneState::Connecting => {}
            }
        }
        let mut effects = Vec::new();
        for id in reopen {
            effects.extend(self.reopen(id));
        }
        effects
    }

    /// `r` on an ended pane: a session runs again in its bottle (or is just
    /// re-attached if it still runs); a shell pane gets a new shell.
    fn restart(&mut self, id: PaneId) -> Vec<Effect> {
        let Some(p) = self.panes.iter_mut().find(|p| p.id == id) else {
            return Vec::new();
        };
        if matches!(p.state, PaneState::Live | PaneState::Connecting) {
            return Vec::new();
        }
        if p.kind == PaneKind::Shell {
            return self.reopen(id);
        }
        p.state = PaneState::Connecting;
        let slug = p.slug.clone();
        self.notice = Some(format!("restarting {slug}"));
        vec![Effect::RestartSession { id, slug }, Effect::Redraw]
    }

    /// A key for the focused pane; on an ended pane, `r` restarts it and
    /// Enter closes it.
    pub(super) fn key_to_pane(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(id) = self.focused_pane() else {
            return vec![Effect::Redraw];
        };
        let Some(p) = self.pane(id) else {
            return Vec::new();
        };
        match &p.state {
            PaneState::Live | PaneState::Connecting => {
                let modes = p
                    .shared
                    .screen
                    .lock()
                    .ok()
                    .map(|s| s.key_modes())
                    .unwrap_or_default();
                let bytes = crate::session::keys::encode(&key, modes);
                if bytes.is_empty() {
                    return Vec::new();
                }
                // Typing returns to the live screen.
                let mut effects = vec![Effect::PaneInput(id, bytes)];
                if self.scrolled(id) > 0 {
                    self.scroll(id, -(isize::MAX / 2));
                    effects.push(Effect::Redraw);
                }
                effects
            }
            // Its bottle is still being launched.
            PaneState::Launching => Vec::new(),
            _ if key.code == crossterm::event::KeyCode::Enter => self.remove_pane(id),
            _ if key.code == crossterm::event::KeyCode::Char('r') => self.restart(id),
            _ => Vec::new(),
        }
    }
}

impl PaneView {
    /// The connection ended or failed: when it showed nothing since the
    /// pane re-opened, the screen before goes back up. The state before,
    /// if so.
    fn back_to_earlier(&mut self) -> Option<PaneState> {
        let e = self.before_reopen.take()?;
        if !self.shared.is_blank() {
            return None;
        }
        self.shared = e.shared;
        self.seen_attention = e.seen_attention;
        self.seen_bells = e.seen_bells;
        Some(e.state)
    }
}

#[cfg(test)]
mod tests {
    use crate::app::test_support::{key, with_bottles};
    use crate::app::{Action, AppEvent, Effect, Focus, Overlay, PaneState, QUIET_AFTER_PROMPT};
    use crate::app::{App, SavedLayout, SavedPane};
    use crate::session::io::PaneKind;
    use crate::session::layout::{Direction, Node, PaneId, Split};
    use crate::session::pane::PaneNotice;
    use crate::session::screen::Screen;
    use crossterm::event::{KeyCode, KeyModifiers};
    use std::sync::Arc;

    #[test]
    fn opening_a_bottle_sizes_and_opens_a_pane_and_keys_go_to_it() {
        let mut a = with_bottles();
        a.selected = 3; // shell-aaaaaa, after the three agents
        let fx = a.apply(Action::OpenSelected);
        let Some(Effect::OpenPane {
            id,
            slug,
            kind,
            rows,
            cols,
        }) = fx.first().cloned()
        else {
            panic!("{fx:?}");
        };
        assert_eq!((slug.as_str(), kind), ("shell-aaaaaa", PaneKind::Session));
        // 120 - 32 sidebar - 2 borders; 30 - 1 status - 2 borders.
        assert_eq!((rows, cols), (27, 86));
        assert!(fx.iter().any(|e| matches!(e, Effect::SaveLayout(_))));
        assert_eq!(a.focus, Focus::Pane(id));
        a.update(AppEvent::PaneReady(id));
        assert_eq!(
            a.update(key(KeyCode::Char('x'), KeyModifiers::NONE)),
            vec![Effect::PaneInput(id, b"x".to_vec())]
        );
        // Prefix twice sends the prefix itself.
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        assert_eq!(
            a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL)),
            vec![Effect::PaneInput(id, vec![0x02])]
        );
        // A stopped bottle is not opened: it is prepared for resuming.
        a.focus = Focus::Sidebar;
        a.selected = 5;
        assert_eq!(
            a.apply(Action::OpenSelected),
            vec![Effect::PrepareResume("shell-cccccc".into()), Effect::Redraw]
        );
        assert!(a.notice.as_deref().is_some_and(|n| n.contains("resume")));
        assert_eq!(a.panes.len(), 1, "no pane until the preflight says y");
    }

    #[test]
    fn splitting_resizing_closing_and_stopping() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let first = a.panes[0].id;
        let fx = a.apply(Action::SplitColumns);
        assert!(matches!(
            fx.first(),
            Some(Effect::OpenPane {
                kind: PaneKind::Shell,
                cols: 42,
                ..
            })
        ));
        // The first pane shrank: its session is resized.
        assert!(
            fx.contains(&Effect::ResizePane {
                id: first,
                rows: 27,
                cols: 42
            }),
            "{fx:?}"
        );
        let second = a.panes[1].id;
        a.update(AppEvent::PaneReady(first));
        a.update(AppEvent::PaneReady(second));
        let fx = a.update(AppEvent::Resize {
            rows: 40,
            cols: 140,
        });
        assert!(
            fx.contains(&Effect::ResizePane {
                id: first,
                rows: 37,
                cols: 52
            }),
            "{fx:?}"
        );
        assert!(
            fx.contains(&Effect::ResizePane {
                id: second,
                rows: 37,
                cols: 52
            }),
            "{fx:?}"
        );
        // Focus moves by geometry.
        a.apply(Action::Focus(Direction::Left));
        assert_eq!(a.focus, Focus::Pane(first));
        // Close = detach.
        let fx = a.apply(Action::ClosePane);
        assert_eq!(fx.first(), Some(&Effect::ClosePane(first)));
        assert_eq!(a.panes.len(), 1);
        // Stop asks first; only y stops.
        a.apply(Action::StopPane);
        assert_eq!(a.overlay, Some(Overlay::ConfirmStop(second)));
        a.update(key(KeyCode::Char('n'), KeyModifiers::NONE));
        assert_eq!(a.panes.len(), 1);
        a.apply(Action::StopPane);
        let fx = a.update(key(KeyCode::Char('y'), KeyModifiers::NONE));
        assert!(
            fx.contains(&Effect::StopBottle("shell-aaaaaa".into())),
            "{fx:?}"
        );
        assert!(a.panes.is_empty() && a.focus == Focus::Sidebar);
    }

    #[test]
    fn an_exited_pane_shows_its_status_and_enter_closes_it() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        a.update(AppEvent::PaneReady(id));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(3))));
        assert_eq!(
            a.pane(id).map(|p| p.state.clone()),
            Some(PaneState::Exited(3))
        );
        assert!(a
            .update(key(KeyCode::Char('x'), KeyModifiers::NONE))
            .is_empty());
        a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        assert!(a.panes.is_empty());
    }

    /// An exited agent's pane, its last words on screen.
    fn exited_with_words() -> (App, PaneId) {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        a.update(AppEvent::PaneReady(id));
        if let Some(p) = a.pane(id) {
            if let Ok(mut s) = p.shared.screen.lock() {
                s.process(b"login rejected: bad token\r\n");
            }
        }
        a.update(AppEvent::Pane(PaneNotice::Output(id)));
        (a, id)
    }

    fn words(a: &App, id: PaneId) -> String {
        a.pane(id)
            .and_then(|p| {
                p.shared
                    .screen
                    .lock()
                    .ok()
                    .map(|s| s.text_rows().join("\n"))
            })
            .unwrap_or_default()
    }

    /// The agent container started again just before the agent exited (its
    /// own launch's start event, late): the pane re-attaches, finds
    /// nothing, and goes back to the agent's last screen and exit status
    /// rather than a blank pane.
    #[test]
    fn a_reattach_that_finds_nothing_keeps_the_last_screen() {
        let (mut a, id) = exited_with_words();
        a.update(AppEvent::AgentStarted("shell-aaaaaa".into()));
        let fx = a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(3))));
        assert!(fx.iter().any(|e| matches!(e, Effect::OpenPane { .. })));
        assert!(
            words(&a, id).trim().is_empty(),
            "a fresh screen while attaching"
        );
        a.update(AppEvent::PaneFailed(id, "container is not running".into()));
        assert!(words(&a, id).contains("login rejected: bad token"));
        assert_eq!(
            a.pane(id).map(|p| p.state.clone()),
            Some(PaneState::Exited(3))
        );

        // The same when the new connection ends without a word.
        let (mut a, id) = exited_with_words();
        a.update(AppEvent::AgentStarted("shell-aaaaaa".into()));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(3))));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, None)));
        assert!(words(&a, id).contains("login rejected: bad token"));
        assert_eq!(
            a.pane(id).map(|p| p.state.clone()),
            Some(PaneState::Exited(3))
        );
    }

    /// A re-attach that shows the new session keeps it (the old screen is
    /// let go).
    #[test]
    fn a_reattach_that_shows_something_keeps_the_new_screen() {
        let (mut a, id) = exited_with_words();
        a.update(AppEvent::AgentStarted("shell-aaaaaa".into()));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(3))));
        if let Some(p) = a.pane(id) {
            if let Ok(mut s) = p.shared.screen.lock() {
                s.process(b"welcome back\r\n");
            }
        }
        a.update(AppEvent::Pane(PaneNotice::Output(id)));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(0))));
        assert!(words(&a, id).contains("welcome back"));
        assert!(!words(&a, id).contains("login rejected"));
        assert_eq!(
            a.pane(id).map(|p| p.state.clone()),
            Some(PaneState::Exited(0))
        );
    }

    #[test]
    fn panes_opened_from_the_sidebar_tile_evenly() {
        let mut a = with_bottles();
        a.update(AppEvent::Resize {
            rows: 40,
            cols: 140,
        });
        for _ in 0..8 {
            a.selected = 3;
            a.focus = Focus::Sidebar;
            a.apply(Action::NewShell);
        }
        assert_eq!(a.panes.len(), 8);
        // 108×39 shared by 8: no pane is a sliver.
        for (id, area) in a.pane_areas() {
            assert!(area.w >= 25 && area.h >= 9, "pane {id}: {area:?}");
        }
    }

    #[test]
    fn r_on_an_ended_pane_runs_the_session_again_on_a_fresh_screen() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        let size = a.pane(id).map(|p| (p.rows, p.cols)).expect("pane");
        a.update(AppEvent::PaneReady(id));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(0))));
        let old = a.pane(id).map(|p| p.shared.clone()).expect("pane");
        let fx = a.update(key(KeyCode::Char('r'), KeyModifiers::NONE));
        assert_eq!(
            fx,
            vec![
                Effect::RestartSession {
                    id,
                    slug: "shell-aaaaaa".into()
                },
                Effect::Redraw
            ]
        );
        assert_eq!(
            a.pane(id).map(|p| p.state.clone()),
            Some(PaneState::Connecting)
        );
        // Typing while it restarts goes to the pane once it is up.
        assert!(matches!(
            a.update(key(KeyCode::Char('r'), KeyModifiers::NONE))[..],
            [Effect::PaneInput(_, _)]
        ));
        let fx = a.update(AppEvent::PaneRestarted(id));
        assert_eq!(
            fx[0],
            Effect::OpenPane {
                id,
                slug: "shell-aaaaaa".into(),
                kind: PaneKind::Session,
                rows: size.0,
                cols: size.1,
            }
        );
        let fresh = a.pane(id).map(|p| p.shared.clone()).expect("pane");
        assert!(!Arc::ptr_eq(&old, &fresh), "a fresh screen");

        // A failed restart says why and can be tried again.
        a.update(AppEvent::PaneFailed(id, "no such container".into()));
        let fx = a.update(key(KeyCode::Char('r'), KeyModifiers::NONE));
        assert!(matches!(fx[0], Effect::RestartSession { .. }));
    }

    #[test]
    fn r_on_an_ended_shell_pane_opens_a_new_shell() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::NewShell);
        let id = a.panes[0].id;
        a.update(AppEvent::PaneReady(id));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(130))));
        let fx = a.update(key(KeyCode::Char('r'), KeyModifiers::NONE));
        assert!(
            matches!(&fx[0], Effect::OpenPane { id: i, kind: PaneKind::Shell, .. } if *i == id),
            "{fx:?}"
        );
    }

    #[test]
    fn restore_reopens_only_running_bottles_in_their_places() {
        let mut a = with_bottles();
        let mut tree = Node::Leaf(4);
        tree.split(4, Split::Columns, 7);
        tree.split(7, Split::Rows, 9);
        let saved = SavedLayout {
            version: 1,
            panes: vec![
                SavedPane {
                    id: 4,
                    slug: "shell-aaaaaa".into(),
                    kind: PaneKind::Session,
                },
                SavedPane {
                    id: 7,
                    slug: "shell-cccccc".into(),
                    kind: PaneKind::Session,
                },
                SavedPane {
                    id: 9,
                    slug: "shell-bbbbbb".into(),
                    kind: PaneKind::Shell,
                },
            ],
            layout: Some(tree),
            focus: Some(7),
        };
        assert_eq!(
            a.update(AppEvent::Restore(saved)),
            vec![Effect::RefreshBottles]
        );
        // The list refresh that follows carries the restore out.
        let rows = a.bottles.clone();
        let fx = a.update(AppEvent::Bottles(Ok(rows)));
        let opened: Vec<(PaneId, String)> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::OpenPane { id, slug, .. } => Some((*id, slug.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(opened.len(), 2);
        assert!(
            opened.contains(&(4, "shell-aaaaaa".into()))
                && opened.contains(&(9, "shell-bbbbbb".into()))
        );
        assert_eq!(a.layout.as_ref().map(|t| t.panes()), Some(vec![4, 9]));
        assert_eq!(
            a.focus,
            Focus::Pane(9),
            "focus falls back from the stopped pane"
        );
        // New panes get fresh ids.
        a.focus = Focus::Sidebar;
        a.selected = 4;
        let fx = a.apply(Action::OpenSelected);
        assert!(matches!(fx.first(), Some(Effect::OpenPane { .. })) || a.focus == Focus::Pane(9));
    }

    #[test]
    fn a_bell_in_an_unfocused_pane_marks_it_until_focused() {
        let mut a = with_bottles();
        a.notify = crate::config::Notify::Osc777;
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let first = a.panes[0].id;
        a.apply(Action::SplitColumns);
        let second = a.panes[1].id;
        assert_eq!(a.focus, Focus::Pane(second));
        a.pane(first)
            .expect("pane")
            .shared
            .screen
            .lock()
            .expect("screen")
            .process(b"waiting for you\x07");
        let fx = a.update(AppEvent::Pane(PaneNotice::Output(first)));
        assert!(fx.contains(&Effect::Bell), "the operator's terminal rings");
        assert!(
            fx.contains(&Effect::Notify(
                "\x1b]777;notify;bottle;shell-aaaaaa needs input\x07".into()
            )),
            "a desktop notification when asked for: {fx:?}"
        );
        assert!(a.pane(first).is_some_and(|p| p.needs_input));
        assert!(a.bottle_needs_input("shell-aaaaaa"));
        // An OSC 9 notification marks the pane too, but rings nothing.
        let p = a.pane(first).expect("pane");
        p.shared
            .screen
            .lock()
            .expect("screen")
            .process(b"\x1b]9;done\x07");
        let fx = a.update(AppEvent::Pane(PaneNotice::Output(first)));
        assert!(!fx.contains(&Effect::Bell));
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Notify(_))),
            "one notification while it waits"
        );
        a.apply(Action::Focus(Direction::Left));
        a.update(AppEvent::Tick);
        assert!(!a.bottle_needs_input("shell-aaaaaa"));
    }

    #[test]
    fn output_going_quiet_at_a_prompt_in_an_unwatched_pane_needs_input() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let first = a.panes[0].id;
        a.update(AppEvent::PaneReady(first));
        a.apply(Action::SplitColumns);
        let long_ago = std::time::Instant::now() - QUIET_AFTER_PROMPT * 2;
        let out = |a: &mut App, bytes: &[u8], at: std::time::Instant| {
            let p = a.pane(first).expect("pane");
            p.shared.screen.lock().expect("screen").process(bytes);
            p.shared.output_at(at);
            a.update(AppEvent::Pane(PaneNotice::Output(first)));
        };
        // Still busy (recent output): nothing yet.
        out(
            &mut a,
            b"thinking...\r\nDo it? (y/n) ",
            std::time::Instant::now(),
        );
        a.update(AppEvent::Tick);
        assert!(!a.pane(first).is_some_and(|p| p.needs_input));
        // Quiet, but not at a prompt: nothing.
        out(&mut a, b"\r\ncompiling", long_ago);
        a.update(AppEvent::Tick);
        assert!(!a.pane(first).is_some_and(|p| p.needs_input));
        // Quiet after a prompt: it waits for the operator.
        a.notify = crate::config::Notify::Osc9;
        out(&mut a, b"\r\nagent@x:/workspace$ ", long_ago);
        let fx = a.update(AppEvent::Tick);
        assert_eq!(fx[0], Effect::Redraw);
        assert!(fx.contains(&Effect::Notify(
            "\x1b]9;shell-aaaaaa needs input\x07".into()
        )));
        assert!(a.bottle_needs_input("shell-aaaaaa"));
        // Looking at it clears it; the same quiet screen does not mark it again.
        a.apply(Action::FocusNext);
        a.update(AppEvent::Tick);
        a.apply(Action::FocusNext);
        a.update(AppEvent::Tick);
        assert!(!a.bottle_needs_input("shell-aaaaaa"));
    }
}
