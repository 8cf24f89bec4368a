//! What the operator asks for (an `Action` from the keymap): focus,
//! selection, splits, zoom, closing and stopping panes, opening modals.

use super::{Action, App, Effect, Focus, Overlay, RunOutcome};
use crate::session::io::PaneKind;
use crate::session::layout::{self, Direction, Split};

impl App {
    pub fn apply(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit => return vec![Effect::Exit(RunOutcome::Quit)],
            Action::ToggleHelp => {
                self.overlay = match self.overlay {
                    Some(Overlay::Help(_)) => None,
                    _ => Some(Overlay::Help(0)),
                }
            }
            Action::CloseOverlay => self.overlay = None,
            Action::SelectNext => {
                let n = self.sidebar_len();
                if n > 0 {
                    self.selected = (self.selected + 1) % n;
                }
            }
            Action::SelectPrev => {
                let n = self.sidebar_len();
                if n > 0 {
                    self.selected = (self.selected + n - 1) % n;
                }
            }
            Action::OpenSelected => {
                if let Some(a) = self.agents.get(self.selected) {
                    // An agent: launch one.
                    let agent = a.label.clone();
                    return self.choose_backend(agent, None);
                }
                let Some(b) = self.selected_bottle().cloned() else {
                    return vec![Effect::Redraw];
                };
                if b.status.is_stopped() {
                    // Bring it back: the preflight (with what changed since
                    // its last launch), then the session in a pane.
                    self.notice = Some(format!("preparing to resume {}…", b.slug));
                    return vec![Effect::PrepareResume(b.slug), Effect::Redraw];
                }
                // An exited session opens too: its pane shows the screen the
                // agent left and its status.
                let exited = matches!(
                    b.status,
                    crate::backends::inventory::BottleStatus::Exited(_)
                );
                if !b.status.is_running() && !exited {
                    self.notice = Some(format!("{} is {}", b.slug, b.status));
                    return vec![Effect::Redraw];
                }
                if let Some(p) = self
                    .panes
                    .iter()
                    .find(|p| p.slug == b.slug && p.kind == PaneKind::Session)
                {
                    self.focus = Focus::Pane(p.id);
                    return vec![Effect::Redraw];
                }
                return self.add_pane(b.slug, PaneKind::Session, None);
            }
            Action::Problems => self.overlay = Some(Overlay::Problems(0)),
            Action::Logs => return vec![self.list_logs(None)],
            Action::Requests => return self.focus_requests(),
            Action::NewAgent => self.open_picker(),
            Action::NewShell => match self.selected_bottle().cloned() {
                Some(b) if b.status.is_running() => {
                    return self.add_pane(b.slug, PaneKind::Shell, None)
                }
                Some(b) => self.notice = Some(format!("{} is {}", b.slug, b.status)),
                None => self.notice = Some("select a running bottle in the sidebar first".into()),
            },
            Action::ToggleSidebar => {
                self.focus = match self.focus {
                    Focus::Sidebar => self
                        .layout
                        .as_ref()
                        .and_then(|t| t.panes().first().copied())
                        .map_or(Focus::Sidebar, Focus::Pane),
                    Focus::Pane(_) => Focus::Sidebar,
                };
            }
            Action::Focus(dir) => {
                if let Some(id) = self.focused_pane() {
                    if let Some(next) = layout::neighbor(&self.pane_areas(), id, dir) {
                        self.focus = Focus::Pane(next);
                    } else if dir == Direction::Left {
                        self.focus = Focus::Sidebar;
                    }
                } else if dir == Direction::Right {
                    return self.apply(Action::ToggleSidebar);
                }
            }
            Action::FocusNext => {
                let order = self.layout.as_ref().map(|t| t.panes()).unwrap_or_default();
                if !order.is_empty() {
                    let next = match self.focused_pane() {
                        Some(id) => {
                            let i = order.iter().position(|p| *p == id).unwrap_or(0);
                            order[(i + 1) % order.len()]
                        }
                        None => order[0],
                    };
                    self.focus = Focus::Pane(next);
                    if self.zoom.is_some() {
                        self.zoom = Some(next);
                        return self.relayout();
                    }
                }
            }
            Action::SplitColumns | Action::SplitRows => {
                let Some(slug) = self
                    .focused_pane()
                    .and_then(|id| self.pane(id))
                    .map(|p| p.slug.clone())
                else {
                    self.notice =
                        Some("focus a pane first: the split opens a shell in its bottle".into());
                    return vec![Effect::Redraw];
                };
                let split = if action == Action::SplitColumns {
                    Split::Columns
                } else {
                    Split::Rows
                };
                return self.add_pane(slug, PaneKind::Shell, Some(split));
            }
            Action::Zoom => {
                self.zoom = match (self.zoom, self.focused_pane()) {
                    (Some(_), _) => None,
                    (None, Some(id)) => Some(id),
                    (None, None) => None,
                };
                return self.relayout();
            }
            Action::ClosePane => {
                if let Some(id) = self.focused_pane() {
                    let mut effects = vec![Effect::ClosePane(id)];
                    effects.extend(self.remove_pane(id));
                    return effects;
                }
            }
            Action::StopPane => {
                if let Some(id) = self.focused_pane() {
                    self.overlay = Some(Overlay::ConfirmStop(id));
                }
            }
            Action::CopyMode => {
                if let Some(id) = self.focused_pane() {
                    self.copy_mode = Some(id);
                }
            }
            Action::SwapNext => {
                if let (Some(id), Some(tree)) = (self.focused_pane(), &mut self.layout) {
                    let order = tree.panes();
                    if order.len() > 1 {
                        let i = order.iter().position(|p| *p == id).unwrap_or(0);
                        tree.swap(id, order[(i + 1) % order.len()]);
                        return self.relayout();
                    }
                }
            }
        }
        vec![Effect::Redraw]
    }
}
