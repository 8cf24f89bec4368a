//! Panes and the multiplexer: the terminal emulator behind our `Screen`
//! trait, pane tiling, key encoding, the output filter for passthrough
//! (`bottle attach`), and the pane runtime (reader and
//! writer threads over the `backends::PaneIo` seam). No ratatui, bollard
//! or portable-pty here.

pub mod filter;
pub mod io;
pub mod keys;
pub mod layout;
pub mod pane;
pub mod screen;
