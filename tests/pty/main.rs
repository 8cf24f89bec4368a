//! The real `bottle` binary in a real PTY with no engine: the workspace
//! (opening, quitting, signals, panics), its panes on the fake backend, and
//! the emulator against tmux on recorded streams.

#[path = "../support/mod.rs"]
mod support;

mod emulation_diff;
mod hangup;
mod log_viewer;
mod workspace_fake;
mod workspace_live;
mod workspace_pty;
