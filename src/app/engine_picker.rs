//! The backend picker (a modal layer after the agent picker): the engines
//! that answer, the default first. ↑/↓ (Ctrl-p/Ctrl-n, k/j) move, a digit
//! picks directly, Enter chooses, Esc closes. Shown only when more than one
//! engine answers. Pure state (ui/launch.rs draws it).

use crate::backends::Engine;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnginePicker {
    /// What was chosen in the agent picker.
    pub agent: String,
    pub task: Option<String>,
    pub engines: Vec<Engine>,
    pub selected: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineOutcome {
    Stay,
    Close,
    /// Launch on this engine (its `host`).
    Chosen(String),
}

impl EnginePicker {
    pub fn key(&mut self, key: KeyEvent) -> EngineOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let n = self.engines.len();
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => return EngineOutcome::Close,
            KeyCode::Enter => {
                if let Some(e) = self.engines.get(self.selected) {
                    return EngineOutcome::Chosen(e.host.clone());
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.step(-1),
            KeyCode::Down | KeyCode::Char('j') => self.step(1),
            KeyCode::Char('p') if ctrl => self.step(-1),
            KeyCode::Char('n') if ctrl => self.step(1),
            KeyCode::Char(c @ '1'..='9') => {
                let i = c as usize - '1' as usize;
                if i < n {
                    return EngineOutcome::Chosen(self.engines[i].host.clone());
                }
            }
            _ => {}
        }
        EngineOutcome::Stay
    }

    fn step(&mut self, by: isize) {
        self.selected = super::picker::wrap(self.selected, by, self.engines.len());
    }
}

impl super::App {
    /// A key while the backend picker is on top.
    pub(super) fn engines_key(&mut self, key: KeyEvent) -> Vec<super::Effect> {
        let Some(super::Overlay::Engines(p)) = &mut self.overlay else {
            return Vec::new();
        };
        match p.key(key) {
            EngineOutcome::Stay => vec![super::Effect::Redraw],
            EngineOutcome::Close => {
                self.overlay = None;
                vec![super::Effect::Redraw]
            }
            EngineOutcome::Chosen(host) => {
                let (agent, task) = (p.agent.clone(), p.task.clone());
                self.overlay = None;
                self.prepare_launch(agent, Some(host), task)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn engines() -> Vec<Engine> {
        vec![
            Engine {
                kind: "docker".into(),
                host: "unix:///var/run/docker.sock".into(),
                version: "20.10.24".into(),
                default: true,
            },
            Engine {
                kind: "podman".into(),
                host: "unix:///run/podman/podman.sock".into(),
                version: "4.3.1".into(),
                default: false,
            },
        ]
    }

    fn press(p: &mut EnginePicker, code: KeyCode) -> EngineOutcome {
        p.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn arrows_move_enter_or_a_digit_chooses_esc_closes() {
        let mut p = EnginePicker {
            agent: "shell".into(),
            task: None,
            engines: engines(),
            selected: 0,
        };
        press(&mut p, KeyCode::Down);
        assert_eq!(
            press(&mut p, KeyCode::Enter),
            EngineOutcome::Chosen("unix:///run/podman/podman.sock".into())
        );
        press(&mut p, KeyCode::Down);
        assert_eq!(p.selected, 0, "wraps");
        assert_eq!(press(&mut p, KeyCode::Char('3')), EngineOutcome::Stay);
        assert_eq!(
            press(&mut p, KeyCode::Char('1')),
            EngineOutcome::Chosen("unix:///var/run/docker.sock".into())
        );
        assert_eq!(press(&mut p, KeyCode::Esc), EngineOutcome::Close);
    }
}
