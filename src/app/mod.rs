//! The workspace's model: `App` and its `update(event) -> Vec<Effect>`.
//! Pure: no I/O, no threads, no engine — what needs the outside world is
//! an `Effect` the workspace loop (`crate::workspace`) carries out, and its
//! result comes back as an `AppEvent`. `ui::render` reads `App`; only the
//! loop calls `update`. Must not import `ui`, `workspace` or `tty`.
//!
//! Files: msg.rs (AppEvent, Action, Effect), state.rs (App and its
//! sub-states), update.rs (one line per event), layer.rs (who gets a key,
//! what is drawn on top), panes.rs (pane lifecycle), copy_mode.rs,
//! actions.rs, definitions.rs (what the watcher reloads), one file per modal (requests, launch, picker,
//! engine_picker, logview, problems), keymap.rs.
//!
//! Panes: each shows a bottle's session (through its holder) or a plain
//! shell in it. The layout is a tree of splits (`session::layout`); every
//! change of layout or terminal size resizes the panes' emulators here and
//! their sessions through `Effect::ResizePane`. The layout is saved per
//! workspace directory and restored on the next start for the bottles that
//! still run.

mod actions;
mod copy_mode;
pub mod definitions;
pub mod engine_picker;
pub mod help;
pub mod keymap;
pub mod launch;
mod layer;
pub mod logview;
mod msg;
mod panes;
pub mod picker;
mod problems;
mod pushes;
pub mod requests;
mod state;
#[cfg(test)]
mod test_support;
mod update;

pub use layer::{Keys, Layer};
pub use msg::{Action, AppEvent, Effect, RunOutcome};
pub use pushes::{GateDecision, GateView};
pub use state::{
    AgentRow, App, BottleRow, Focus, Overlay, PaneState, PaneView, SavedLayout, SavedPane,
    QUIET_AFTER_PROMPT, REATTACH_WINDOW, SIDEBAR_WIDTH,
};
