//! Keybindings as data: one table drives dispatch, the help overlay and the
//! status hints. Workspace commands follow the prefix key (default Ctrl-b;
//! pressing it twice sends it to the focused pane).

use super::Action;
use crate::session::layout::Direction;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeySpec {
    pub const fn plain(c: char) -> Self {
        KeySpec {
            code: KeyCode::Char(c),
            mods: KeyModifiers::NONE,
        }
    }
    pub const fn ctrl(c: char) -> Self {
        KeySpec {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }
    pub fn matches(&self, key: &KeyEvent) -> bool {
        // Terminals report shifted characters with or without SHIFT.
        let mods = key.modifiers - KeyModifiers::SHIFT;
        key.code == self.code && mods == self.mods - KeyModifiers::SHIFT
    }
    pub fn label(&self) -> String {
        let key = match self.code {
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Enter => "Enter".into(),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{key}")
        } else {
            key
        }
    }
}

#[derive(Clone, Debug)]
pub struct Binding {
    pub key: KeySpec,
    pub action: Action,
    pub help: &'static str,
    /// Short label for the status line, if shown there.
    pub hint: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub struct Keymap {
    pub prefix: KeySpec,
    /// Keys after the prefix.
    pub after_prefix: Vec<Binding>,
    /// Keys that work without the prefix when no pane has focus.
    pub direct: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        let b = |key, action, help, hint| Binding {
            key,
            action,
            help,
            hint,
        };
        let key = |code| KeySpec {
            code,
            mods: KeyModifiers::NONE,
        };
        let up = KeySpec {
            code: KeyCode::Up,
            mods: KeyModifiers::NONE,
        };
        let down = KeySpec {
            code: KeyCode::Down,
            mods: KeyModifiers::NONE,
        };
        Keymap {
            prefix: KeySpec::ctrl('b'),
            after_prefix: vec![
                b(
                    KeySpec::plain('?'),
                    Action::ToggleHelp,
                    "show or hide this help",
                    Some("help"),
                ),
                b(
                    KeySpec::plain('q'),
                    Action::Quit,
                    "quit the workspace (bottles keep running)",
                    Some("quit"),
                ),
                b(
                    KeySpec::plain('%'),
                    Action::SplitColumns,
                    "split: a shell in the focused pane's bottle, to the right",
                    Some("split"),
                ),
                b(
                    KeySpec::plain('"'),
                    Action::SplitRows,
                    "split: a shell in the focused pane's bottle, below",
                    None,
                ),
                b(
                    key(KeyCode::Left),
                    Action::Focus(Direction::Left),
                    "focus the pane to the left (or the sidebar)",
                    None,
                ),
                b(
                    key(KeyCode::Right),
                    Action::Focus(Direction::Right),
                    "focus the pane to the right",
                    None,
                ),
                b(
                    key(KeyCode::Up),
                    Action::Focus(Direction::Up),
                    "focus the pane above",
                    None,
                ),
                b(
                    key(KeyCode::Down),
                    Action::Focus(Direction::Down),
                    "focus the pane below",
                    None,
                ),
                b(
                    KeySpec::plain('o'),
                    Action::FocusNext,
                    "focus the next pane",
                    None,
                ),
                b(
                    key(KeyCode::Tab),
                    Action::ToggleSidebar,
                    "switch between the sidebar and the panes",
                    None,
                ),
                b(
                    KeySpec::plain('z'),
                    Action::Zoom,
                    "zoom the focused pane (again: unzoom)",
                    None,
                ),
                b(
                    KeySpec::plain('['),
                    Action::CopyMode,
                    "scroll the pane's history (↑↓ PgUp PgDn g G; q leaves)",
                    None,
                ),
                b(
                    KeySpec::plain('}'),
                    Action::SwapNext,
                    "swap the focused pane with the next",
                    None,
                ),
                b(
                    KeySpec::plain('x'),
                    Action::ClosePane,
                    "close the pane (detach; the bottle keeps running)",
                    Some("close"),
                ),
                b(
                    KeySpec::plain('X'),
                    Action::StopPane,
                    "stop the focused pane's bottle (asks first)",
                    None,
                ),
            ],
            direct: vec![
                b(
                    key(KeyCode::Enter),
                    Action::OpenSelected,
                    "open the selected bottle in a pane",
                    None,
                ),
                b(
                    key(KeyCode::Tab),
                    Action::ToggleSidebar,
                    "switch between the sidebar and the panes",
                    None,
                ),
                b(up, Action::SelectPrev, "select the previous agent", None),
                b(
                    KeySpec::plain('k'),
                    Action::SelectPrev,
                    "select the previous agent",
                    None,
                ),
                b(down, Action::SelectNext, "select the next agent", None),
                b(
                    KeySpec::plain('j'),
                    Action::SelectNext,
                    "select the next agent",
                    None,
                ),
                b(
                    KeySpec {
                        code: KeyCode::Esc,
                        mods: KeyModifiers::NONE,
                    },
                    Action::CloseOverlay,
                    "close the help",
                    None,
                ),
            ],
        }
    }
}

impl Keymap {
    pub fn after_prefix(&self, key: &KeyEvent) -> Option<Action> {
        self.after_prefix
            .iter()
            .find(|b| b.key.matches(key))
            .map(|b| b.action.clone())
    }
    pub fn direct(&self, key: &KeyEvent) -> Option<Action> {
        self.direct
            .iter()
            .find(|b| b.key.matches(key))
            .map(|b| b.action.clone())
    }
}
