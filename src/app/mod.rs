//! The workspace's state machine. `update` turns an `AppEvent` into state
//! changes and `Effect`s; it does no I/O, so it is unit-tested directly.
//! Only the app loop (run.rs) mutates `App`; `ui::render` reads it.

pub mod keymap;
mod run;

pub use run::{run, RunOutcome};

use crate::manifest::{Definitions, Severity};
use crossterm::event::{KeyEvent, KeyEventKind};
use keymap::Keymap;

/// What happened.
#[derive(Debug, Clone)]
pub enum AppEvent {
    Key(KeyEvent),
    Resize {
        rows: u16,
        cols: u16,
    },
    /// SIGTERM / SIGHUP: restore the terminal and leave.
    Signal(i32),
}

/// What the operator wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    ToggleHelp,
    CloseOverlay,
    SelectNext,
    SelectPrev,
}

/// I/O for the loop to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Exit(RunOutcome),
    Redraw,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub label: String,
    pub bottle: String,
    pub repo: bool,
    pub trusted: bool,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    Help,
}

pub struct App {
    pub keymap: Keymap,
    pub agents: Vec<AgentRow>,
    /// `path:line:col: severity: message` lines.
    pub problems: Vec<String>,
    pub error_count: usize,
    pub workspace: String,
    pub selected: usize,
    pub prefix_armed: bool,
    pub overlay: Option<Overlay>,
}

impl App {
    pub fn new(defs: &Definitions, workspace: String, keymap: Keymap) -> App {
        let agents =
            defs.agents
                .iter()
                .map(|a| AgentRow {
                    label: a.display_name(),
                    bottle: a.def.bottle.value.clone(),
                    repo: a.is_repo(),
                    trusted: a.trusted,
                    note: a.shadows_home_bottle.as_ref().map(|b| {
                        format!("overrides home agent; bottle {b} → {}", a.def.bottle.value)
                    }),
                })
                .collect();
        App {
            keymap,
            agents,
            problems: defs.problems.iter().map(|p| p.to_string()).collect(),
            error_count: defs
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
                .count(),
            workspace,
            selected: 0,
            prefix_armed: false,
            overlay: None,
        }
    }

    pub fn update(&mut self, event: AppEvent) -> Vec<Effect> {
        match event {
            AppEvent::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            AppEvent::Key(_) => Vec::new(),
            AppEvent::Resize { .. } => vec![Effect::Redraw],
            AppEvent::Signal(sig) => vec![Effect::Exit(RunOutcome::Signal(sig))],
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let action = if self.prefix_armed {
            self.prefix_armed = false;
            // Prefix twice: the literal key belongs to the focused pane
            // (there are no panes yet, so it is dropped).
            if self.keymap.prefix.matches(&key) {
                return vec![Effect::Redraw];
            }
            self.keymap.after_prefix(&key)
        } else if self.keymap.prefix.matches(&key) {
            self.prefix_armed = true;
            return vec![Effect::Redraw];
        } else {
            self.keymap.direct(&key)
        };
        match action {
            Some(a) => self.apply(a),
            None => vec![Effect::Redraw],
        }
    }

    pub fn apply(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit => return vec![Effect::Exit(RunOutcome::Quit)],
            Action::ToggleHelp => {
                self.overlay = match self.overlay {
                    Some(Overlay::Help) => None,
                    None => Some(Overlay::Help),
                }
            }
            Action::CloseOverlay => self.overlay = None,
            Action::SelectNext => {
                if !self.agents.is_empty() {
                    self.selected = (self.selected + 1) % self.agents.len();
                }
            }
            Action::SelectPrev => {
                if !self.agents.is_empty() {
                    self.selected = (self.selected + self.agents.len() - 1) % self.agents.len();
                }
            }
        }
        vec![Effect::Redraw]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn key(code: KeyCode, mods: KeyModifiers) -> AppEvent {
        AppEvent::Key(KeyEvent::new(code, mods))
    }

    fn app() -> App {
        let mut a = App::new(&Definitions::default(), "/w".into(), Keymap::default());
        a.agents = ["a", "b", "c"]
            .iter()
            .map(|n| AgentRow {
                label: n.to_string(),
                bottle: "x".into(),
                repo: false,
                trusted: true,
                note: None,
            })
            .collect();
        a
    }

    #[test]
    fn prefix_then_q_quits_and_q_alone_does_not() {
        let mut a = app();
        assert!(!a
            .update(key(KeyCode::Char('q'), KeyModifiers::NONE))
            .contains(&Effect::Exit(RunOutcome::Quit)));
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        assert!(a.prefix_armed);
        assert_eq!(
            a.update(key(KeyCode::Char('q'), KeyModifiers::NONE)),
            vec![Effect::Exit(RunOutcome::Quit)]
        );
    }

    #[test]
    fn prefix_twice_disarms_and_help_toggles() {
        let mut a = app();
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        assert!(!a.prefix_armed);
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        a.update(key(KeyCode::Char('?'), KeyModifiers::SHIFT));
        assert_eq!(a.overlay, Some(Overlay::Help));
        a.update(key(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(a.overlay, None);
    }

    #[test]
    fn selection_wraps_and_signals_exit() {
        let mut a = app();
        a.update(key(KeyCode::Up, KeyModifiers::NONE));
        assert_eq!(a.selected, 2);
        a.update(key(KeyCode::Char('j'), KeyModifiers::NONE));
        assert_eq!(a.selected, 0);
        assert_eq!(
            a.update(AppEvent::Signal(15)),
            vec![Effect::Exit(RunOutcome::Signal(15))]
        );
    }
}
