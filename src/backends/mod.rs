//! What starts bottles: names and labels, embedded image templates, the
//! pure launch plan and its preflight text, the workspace copy, and the
//! Docker Engine connection. Must not import `ui`, `app` or `session`.

pub mod codex_auth;
pub mod docker;
pub mod egress;
pub mod images;
pub mod inventory;
pub mod names;
pub mod plan;
pub mod preflight;
pub mod provider;
pub mod workdiff;
pub mod workspace_copy;

/// What a backend operation failed on.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(transparent)]
    Engine(#[from] docker::EngineError),
    #[error("{0}")]
    Pane(String),
}

/// The pane I/O seam (ARCHITECTURE-GUIDE §1): a pane reads the agent's
/// output and writes its input through plain blocking streams, whatever
/// the transport; `session` never knows which.
pub struct PaneIo {
    /// Blocking reads on the pane's reader thread; 0 at the end.
    pub output: Box<dyn std::io::Read + Send>,
    /// Blocking writes on the pane's writer thread.
    pub input: Box<dyn std::io::Write + Send>,
    pub ctl: Box<dyn PaneCtl>,
}

pub trait PaneCtl: Send + Sync {
    fn resize(&self, rows: u16, cols: u16) -> Result<(), BackendError>;
    /// Blocks until the pane's stream ended; the agent's exit status when
    /// it exited, `None` when only the pane went away (detached).
    fn wait(&self) -> Result<Option<i32>, BackendError>;
    /// Detaches: the stream ends, the agent keeps running.
    fn close(&self);
}
