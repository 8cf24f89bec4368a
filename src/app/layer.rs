//! Who gets a key, and what is drawn on top: one answer, [`App::layer`],
//! read by the key dispatch here and by `ui::render`, so the two can never
//! disagree about the order of the layers.
//!
//! From the top: a modal overlay takes every key; without one, the prefix
//! (once pressed) takes the next key, then the requests prompt (once the
//! operator gave it the keyboard), then copy mode, then the focused pane,
//! and last the keymap's sidebar commands. Help is drawn over the
//! workspace without taking keys: they go on to the keymap (never to a
//! pane hidden under it). The prefix key itself always arms the prefix
//! below a modal overlay.

use super::engine_picker::EnginePicker;
use super::launch::LaunchFlow;
use super::logview::LogViewer;
use super::picker::Picker;
use super::{App, Effect, Overlay};
use crate::session::layout::PaneId;
use crate::session::screen::Screen;
use crossterm::event::KeyEvent;
use std::path::Path;

/// The layer on top: what is drawn over the workspace, and who gets the
/// next key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer<'a> {
    /// The new-agent picker.
    Picker(&'a Picker),
    /// The backend picker.
    Engines(&'a EnginePicker),
    /// The prompts and preflight of a launch (`None`: nothing to confirm).
    Launch(Option<&'a LaunchFlow>),
    Logs(&'a LogViewer),
    CrashOffer(&'a Path),
    /// The problems list, scrolled by this many lines.
    Problems(u16),
    /// y/N before stopping this pane's bottle.
    ConfirmStop(PaneId),
    /// No modal overlay: keys go to `keys`; `help` is drawn on top.
    Workspace {
        keys: Keys,
        help: bool,
    },
}

/// Below the modal overlays: who gets a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// The prefix was pressed: this key is a command.
    Prefix,
    /// The requests prompt has the keyboard.
    Requests,
    /// Keys scroll this pane's history.
    CopyMode(PaneId),
    /// Keys go to the focused pane.
    Pane(PaneId),
    /// Keys are the keymap's direct commands (the sidebar's).
    Commands,
}

impl App {
    /// The layer on top (see the module's header for the order).
    pub fn layer(&self) -> Layer<'_> {
        let help = match &self.overlay {
            Some(Overlay::Picker(p)) => return Layer::Picker(p),
            Some(Overlay::Engines(p)) => return Layer::Engines(p),
            Some(Overlay::Launch) => return Layer::Launch(self.launch.as_ref()),
            Some(Overlay::Logs(v)) => return Layer::Logs(v),
            Some(Overlay::CrashOffer(path)) => return Layer::CrashOffer(path),
            Some(Overlay::Problems(scroll)) => return Layer::Problems(*scroll),
            Some(Overlay::ConfirmStop(id)) => return Layer::ConfirmStop(*id),
            Some(Overlay::Help(_)) => true,
            None => false,
        };
        let keys = if self.prefix_armed {
            Keys::Prefix
        } else if self.requests.focused {
            Keys::Requests
        } else if let Some(id) = self.copy_mode.filter(|id| self.pane(*id).is_some()) {
            Keys::CopyMode(id)
        } else {
            match self.focused_pane() {
                Some(id) if !help => Keys::Pane(id),
                _ => Keys::Commands,
            }
        };
        Layer::Workspace { keys, help }
    }

    /// A key goes to the layer on top.
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let keys = match self.layer() {
            Layer::Picker(_) => return self.picker_key(key),
            Layer::Engines(_) => return self.engines_key(key),
            Layer::Launch(_) => return self.launch_key(key),
            Layer::Logs(_) => return self.logs_key(key),
            Layer::CrashOffer(_) => return self.crash_offer_key(key),
            Layer::Problems(_) => return self.problems_key(key),
            Layer::ConfirmStop(id) => return self.confirm_stop_key(id, key),
            Layer::Workspace { keys, .. } => keys,
        };
        if keys == Keys::Prefix {
            return self.after_prefix(key);
        }
        if keys == Keys::Commands {
            if let Some(effects) = self.help_key(&key) {
                return effects;
            }
        }
        if self.keymap.prefix.matches(&key) {
            self.prefix_armed = true;
            return vec![Effect::Redraw];
        }
        match keys {
            Keys::Requests => self.requests_key(key),
            Keys::CopyMode(id) => self.copy_mode_key(id, key),
            Keys::Pane(_) => self.key_to_pane(key),
            Keys::Prefix | Keys::Commands => match self.keymap.direct(&key) {
                Some(a) => self.apply(a),
                None => vec![Effect::Redraw],
            },
        }
    }

    /// The key after the prefix: a command; the prefix again sends the
    /// literal key to the focused pane.
    fn after_prefix(&mut self, key: KeyEvent) -> Vec<Effect> {
        self.prefix_armed = false;
        if self.keymap.prefix.matches(&key) {
            return self.key_to_pane(key);
        }
        match self.keymap.after_prefix(&key) {
            Some(a) => self.apply(a),
            None => vec![Effect::Redraw],
        }
    }
}

impl App {
    /// A paste goes where typing would: the picker's filter, the requests
    /// prompt (only to restart its guard), or the focused pane.
    pub(super) fn on_paste(&mut self, text: &str) -> Vec<Effect> {
        if let Some(Overlay::Picker(p)) = &mut self.overlay {
            p.paste(text);
            return vec![Effect::Redraw];
        }
        if self.requests.focused {
            self.requests_paste();
            return Vec::new();
        }
        match self.focused_pane() {
            Some(id) if self.overlay.is_none() => {
                let modes = self
                    .pane(id)
                    .and_then(|p| p.shared.screen.lock().ok().map(|s| s.key_modes()))
                    .unwrap_or_default();
                vec![Effect::PaneInput(
                    id,
                    crate::session::keys::paste(text, modes),
                )]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::app::test_support::{app, key};
    use crate::app::{AppEvent, Effect, Overlay, RunOutcome};
    use crossterm::event::{KeyCode, KeyModifiers};

    #[test]
    fn the_layer_on_top_follows_the_modal_then_prefix_requests_copy_pane_order() {
        use crate::app::test_support::with_bottles;
        use crate::app::{Action, Keys, Layer};
        let ws = |keys, help| Layer::Workspace { keys, help };
        let mut a = with_bottles();
        assert_eq!(a.layer(), ws(Keys::Commands, false));
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        assert_eq!(a.layer(), ws(Keys::Pane(id), false));
        // Help is drawn on top but never lets keys through to the pane.
        a.apply(Action::ToggleHelp);
        assert_eq!(a.layer(), ws(Keys::Commands, true));
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        assert_eq!(a.layer(), ws(Keys::Prefix, true));
        a.update(key(KeyCode::Char('?'), KeyModifiers::SHIFT));
        assert_eq!(a.layer(), ws(Keys::Pane(id), false));
        a.apply(Action::CopyMode);
        assert_eq!(a.layer(), ws(Keys::CopyMode(id), false));
        // A modal takes everything, whatever is below it.
        a.apply(Action::StopPane);
        assert_eq!(a.layer(), Layer::ConfirmStop(id));
        a.update(key(KeyCode::Char('n'), KeyModifiers::NONE));
        a.apply(Action::Problems);
        assert_eq!(a.layer(), Layer::Problems(0));
        a.update(key(KeyCode::Esc, KeyModifiers::NONE));
        a.apply(Action::NewAgent);
        assert!(matches!(a.layer(), Layer::Picker(_)));
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
        assert_eq!(a.overlay, Some(Overlay::Help(0)));
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
