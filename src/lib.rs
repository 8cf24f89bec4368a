//! bottle: run AI coding agents in hardened, isolated bottles and host
//! their terminals side by side. The binary (`main.rs`) is a thin shell over
//! this library so tests can drive everything headless.

pub mod manifest;
