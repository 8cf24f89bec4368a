//! What starts bottles: names and labels, embedded image templates, the
//! pure launch plan and its preflight text, the workspace copy, and the
//! Docker Engine connection. Must not import `ui`, `app` or `session`.

pub mod codex_auth;
pub mod docker;
pub mod egress;
pub mod images;
pub mod inventory;
pub mod plan;
pub mod preflight;
pub mod provider;
pub mod workdiff;
pub mod workspace_copy;

pub use crate::session::io::{PaneCtl, PaneError, PaneIo};

/// One engine that answered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Engine {
    /// `docker` or `podman`.
    pub kind: String,
    /// `unix:///…`.
    pub host: String,
    /// The engine's own version.
    pub version: String,
    /// The engine `DOCKER_HOST` names.
    pub default: bool,
}

impl Engine {
    /// How the backend picker and `bottle doctor` name it.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind, self.version)
    }
}
