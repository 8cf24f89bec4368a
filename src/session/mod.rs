//! Panes and the multiplexer. Today: the terminal emulator behind our own
//! `Screen` trait. Must not import ratatui, bollard or portable-pty.

pub mod screen;
