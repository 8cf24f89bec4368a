//! What starts bottles. Today: the engine connection the Docker backend
//! (next issue) builds on.

pub mod docker;
