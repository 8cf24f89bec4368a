//! The real `bottle` binary in a real PTY with no engine: the workspace
//! (opening, quitting, signals, panics), its panes on the fake backend, and
//! the emulator against tmux on recorded streams, and the panes' cells in
//! a real outer terminal against tmux's.

#[path = "../support/mod.rs"]
mod support;

mod emulation_diff;
mod hangup;
mod log_viewer;
mod pane_theme;
mod workspace_fake;
mod workspace_live;
mod workspace_pty;
