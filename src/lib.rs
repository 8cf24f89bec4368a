//! bottle: run AI coding agents in hardened, isolated bottles and host
//! their terminals side by side. The binary (`main.rs`) is a thin shell over
//! this library so tests can drive everything headless.

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
