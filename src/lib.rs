//! bottle: run AI coding agents in hardened, isolated bottles and host
//! their terminals side by side. The binary (`main.rs`) is a thin shell over
//! this library so tests can drive everything headless.

// Printing never panics in bottle: a closed terminal (a dropped ssh, a
// closed window, `tmux kill-server`) or a closed pipe (`bottle list | head`)
// makes std's print macros panic ("failed printing to stderr"). These
// shadow them for the whole crate (declared before the modules, so every
// module sees them); a write that fails is dropped, as the reader is gone.
macro_rules! eprintln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
macro_rules! eprint {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}
macro_rules! println {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
macro_rules! print {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

pub mod app;
pub mod backends;
pub mod cli;
pub mod config;
pub mod control;
pub mod crash;
pub mod launcher;
pub mod logging;
pub mod manifest;
pub mod policy;
pub mod queue;
pub mod sanitize;
pub mod secret;
pub mod session;
pub mod session_host;
pub mod sidecar;
pub mod state;
pub mod tty;
pub mod ui;
pub mod workspace;
