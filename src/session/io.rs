//! The pane I/O seam (ARCHITECTURE-GUIDE §1): a pane reads the agent's
//! output and writes its input through plain blocking streams, whatever
//! the transport; `session` never knows which. Backends implement it.

/// What a pane operation failed on, as the operator reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PaneError(pub String);

pub struct PaneIo {
    /// Blocking reads on the pane's reader thread; 0 at the end.
    pub output: Box<dyn std::io::Read + Send>,
    /// Blocking writes on the pane's writer thread.
    pub input: Box<dyn std::io::Write + Send>,
    pub ctl: Box<dyn PaneCtl>,
}

pub trait PaneCtl: Send + Sync {
    fn resize(&self, rows: u16, cols: u16) -> Result<(), PaneError>;
    /// Blocks until the pane's stream ended; the agent's exit status when
    /// it exited, `None` when only the pane went away (detached).
    fn wait(&self) -> Result<Option<i32>, PaneError>;
    /// Detaches: the stream ends, the agent keeps running.
    fn close(&self);
}

/// What a pane shows of a bottle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PaneKind {
    /// The agent's session, through its holder (detachable).
    Session,
    /// A plain login shell in the agent container, as the agent user.
    Shell,
}
