//! The backend seam: everything the workspace, `control`, the launcher and
//! the CLI do to bottles on an engine goes through [`Backend`]. An engine is
//! one folder under `backends/` implementing it (`docker/` serves Docker and
//! Podman; `fake.rs` serves tests with no engine); nothing outside that
//! folder names the engine's client library.
//!
//! Blocking by choice (ARCHITECTURE.md, "The backend seam"): every caller
//! is a blocking context (a CLI command, the launcher on a job thread, a
//! workspace job), panes are blocking streams already ([`PaneIo`]), and a
//! blocking trait stays object-safe without boxing futures. An
//! implementation drives its own async client inside; a caller on an async
//! task uses `spawn_blocking`.

use crate::backends::plan::{EngineFacts, Plan};
use crate::backends::workspace_copy::CopyList;
use crate::secret::Secret;
use crate::session::io::{PaneError, PaneIo, PaneKind};
use crate::state::names::Slug;
use crate::state::record::IsolationRecord;
use std::path::{Path, PathBuf};

/// What a backend operation failed on, in the operator's words.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The engine does not answer.
    #[error("{0}")]
    Unreachable(String),
    /// The engine has no such bottle or container.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

/// Progress lines of a long operation (image builds, launch steps).
pub type Progress<'a> = &'a mut (dyn FnMut(&str) + Send);

/// One bottle as the engine shows it (from its containers' labels).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EngineBottle {
    pub slug: String,
    pub agent: String,
    /// The agent container's state; `SidecarOnly` when it is gone.
    pub status: crate::backends::inventory::BottleStatus,
    pub sidecar_running: bool,
    pub home: String,
}

/// Every engine object of one bottle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BottleObjects {
    pub home: String,
    pub slug: String,
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

/// How an attached terminal ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachEnd {
    /// The agent exited with this status.
    Exited(i64),
    /// The operator detached; the agent keeps running.
    Detached,
}

/// Everything a launch needs besides the engine.
/// What an engine's event stream says about this home's containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    /// The stream is open: changes arrive from now on.
    Open,
    /// A container of `slug` changed; `agent_started` when it is the agent
    /// container that started (panes re-attach to it).
    Changed { slug: String, agent_started: bool },
}

pub struct LaunchInput<'a> {
    pub plan: &'a Plan,
    /// The `bottle` executable for the sidecar image.
    pub bottle_bin: &'a [u8],
    pub workspace: Option<&'a CopyList>,
    pub skills: &'a [(String, CopyList)],
    /// The operator's `uid:gid`, for the sidecar.
    pub operator: String,
    /// The agent's command, run by the session holder.
    pub cmd: Vec<String>,
    /// `?` and `${}` values: delivered to the session holder on its stdin,
    /// never in the container's configuration.
    pub session_env: Vec<(String, Secret)>,
    /// `state/<slug>/` on the host (holds the agent's resolv.conf).
    pub state_dir: PathBuf,
    /// Resuming: the volumes exist and hold the work; a failed launch must
    /// leave them.
    pub resume: bool,
    /// The engine the backend talks to (`unix://…`), for the few Podman
    /// calls made on its own API.
    pub engine_host: String,
    /// The egress proxy's files and the secret values for the sidecar.
    pub egress: &'a crate::backends::egress::EgressSetup,
    /// `queue/<slug>/` when the bottle is supervised: bound read-write into
    /// the sidecar (and nothing else of the queue).
    pub queue_dir: Option<PathBuf>,
    /// The operator lets the bottle run though its isolation self-check
    /// fails (`--allow-unverified`); recorded on the agent container, so
    /// restarts and recreations keep the choice.
    pub allow_unverified: bool,
}

/// A capability approval applied to a bottle (SPEC §5.4).
pub struct Recreate<'a> {
    pub slug: &'a Slug,
    pub engine: &'a str,
    /// `state/<slug>/`.
    pub state_dir: &'a Path,
    /// The approved Dockerfile.
    pub dockerfile: &'a [u8],
    /// The tag it is built as.
    pub image: &'a str,
    /// The `bottle` executable (the session holder).
    pub bottle_bin: &'a [u8],
    /// The session's `?`/`${}` values.
    pub env: &'a [(String, Secret)],
}

/// The `bottle` executable a runtime probe runs in its image.
pub struct ProbeBinary<'a> {
    pub path: &'a Path,
    pub sha256: &'a str,
}

/// Which container's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSource {
    Agent,
    Sidecar,
}

/// A log read: `follow` keeps reading as the container writes; `tail`
/// reads only the last lines, as one call under the standard timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRequest {
    pub source: LogSource,
    pub follow: bool,
    pub tail: Option<usize>,
}

/// Which output stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives output chunks in order; an error stops the operation.
pub type OutputSink<'a> = &'a mut (dyn FnMut(Stream, &[u8]) -> std::io::Result<()> + Send);

/// An image `bottle build` makes.
pub enum ImageBuild<'a> {
    /// The built-in shell agent image.
    Shell,
    /// The sidecar image with this `bottle` executable inside.
    Sidecar { bin: &'a [u8], sha256: &'a str },
}

/// One engine's operations on bottles. Slugs name bottles; the engine's
/// own object names come from `state::names`.
pub trait Backend: Send + Sync {
    /// The engine address this backend talks to.
    fn host(&self) -> &str;

    // Engine facts.

    /// Kind, API version, runtimes and images (no runtime probe).
    fn facts(&self) -> Result<EngineFacts, BackendError>;
    /// The engine's own warnings about its setup.
    fn warnings(&self) -> Vec<String>;
    /// The runtime probe's verdict on `runtime` for this home (cached per
    /// engine; `cached`: a fresh cached verdict will do): `Err` says which
    /// step failed and how.
    fn runtime_verdict(
        &self,
        home: &Path,
        home_hash: &str,
        runtime: &str,
        bin: &ProbeBinary<'_>,
        cached: bool,
    ) -> Result<(), String>;
    /// Creates and removes an agent network exactly like a bottle's.
    fn check_isolation(&self, home_hash: &str) -> Result<(), BackendError>;
    /// How agent networks are isolated here, in words.
    fn isolation_mode(&self) -> String;
    /// Builds one of bottle's own images; returns its reference.
    fn build_image(
        &self,
        image: ImageBuild<'_>,
        no_cache: bool,
        progress: Progress<'_>,
    ) -> Result<String, BackendError>;

    // Bottles.

    /// This home's bottles (or every home's: `None`), one labelled query.
    fn list(&self, home_hash: Option<&str>) -> Result<Vec<EngineBottle>, BackendError>;
    /// Every object of this home's bottles (or every home's).
    fn objects(&self, home_hash: Option<&str>) -> Result<Vec<BottleObjects>, BackendError>;
    /// Launches a prepared plan; on failure removes what it created (a
    /// resume keeps its volumes). Every start of an agent runs the
    /// isolation self-check (`session_host::selfcheck`): its record, or,
    /// when it failed and the operator did not allow that, an error (the
    /// bottle is stopped).
    fn launch(
        &self,
        input: &LaunchInput<'_>,
        progress: Progress<'_>,
    ) -> Result<IsolationRecord, BackendError>;
    /// Builds an approved capability's image and, when the bottle runs,
    /// replaces its agent container by one on it: the new start's
    /// isolation record when it replaced one.
    fn recreate_agent(
        &self,
        input: &Recreate<'_>,
        progress: Progress<'_>,
    ) -> Result<Option<IsolationRecord>, BackendError>;
    /// Runs an ended session again in the same agent container: the
    /// isolation record when it started one.
    fn restart_session(
        &self,
        slug: &Slug,
        env: &[(String, Secret)],
    ) -> Result<Option<IsolationRecord>, BackendError>;
    /// Stops the agent container (it stays, with its session's end).
    fn stop_agent(&self, slug: &Slug) -> Result<(), BackendError>;
    /// Stops the bottle: containers and networks go, volumes stay.
    fn stop(&self, slug: &Slug) -> Result<(), BackendError>;
    /// Removes every object of one bottle of this home.
    fn remove(&self, slug: &Slug, home_hash: &str) -> Result<(), BackendError>;
    /// Removes the given objects (containers, then networks, volumes).
    fn remove_objects(&self, objects: &BottleObjects) -> Result<(), BackendError>;
    /// Follows the engine's events for this home's containers: calls
    /// `seen(EngineEvent::Open)` once the stream is open, then `seen` for
    /// each container created, started, stopped, paused or removed, until
    /// it returns false or the stream ends. An engine without events
    /// returns at once (its bottles are polled).
    fn follow_changes(
        &self,
        home_hash: &str,
        seen: &mut (dyn FnMut(EngineEvent) -> bool + Send),
    ) -> Result<(), BackendError>;

    // Terminals, commands, logs, files.

    /// A pane of `rows`×`cols` on the bottle's session (or a shell).
    fn open_pane(
        &self,
        slug: &Slug,
        kind: PaneKind,
        rows: u16,
        cols: u16,
    ) -> Result<PaneIo, PaneError>;
    /// Attaches this process's terminal (already raw) to the session.
    fn attach_terminal(
        &self,
        slug: &Slug,
        size: fn() -> Option<(u16, u16)>,
    ) -> Result<AttachEnd, BackendError>;
    /// A new interactive process as the agent on this process's terminal;
    /// its exit status.
    fn exec_terminal(
        &self,
        slug: &Slug,
        cmd: Vec<String>,
        size: fn() -> Option<(u16, u16)>,
    ) -> Result<i64, BackendError>;
    /// Runs `cmd` (as the agent unless `user` names one) with `stdin`
    /// forwarded when given; output goes to `output`; the exit status.
    fn exec(
        &self,
        slug: &Slug,
        user: Option<&str>,
        cmd: &[String],
        stdin: Option<Box<dyn std::io::Read + Send>>,
        output: OutputSink<'_>,
    ) -> Result<i64, BackendError>;
    /// Runs `cmd` in the bottle's sidecar container as the container's
    /// own user, with `env` added: `stdin` is forwarded while the output
    /// streams to `output`, both at once (git's protocol goes both ways;
    /// `Stream` tells stdout from stderr); the exit status. The exec's
    /// setup is under the engine timeout; its stream only under an idle
    /// limit. `bottle fetch` runs git's upload-pack this way (SPEC §5.5).
    fn sidecar_exec(
        &self,
        slug: &Slug,
        cmd: &[String],
        env: &[(String, String)],
        stdin: Box<dyn std::io::Read + Send>,
        output: OutputSink<'_>,
    ) -> Result<i64, BackendError>;
    /// A container's log, chunk by chunk.
    fn logs(
        &self,
        slug: &Slug,
        request: LogRequest,
        output: OutputSink<'_>,
    ) -> Result<(), BackendError>;
    /// The work volume as a tar stream into `sink` (false stops reading);
    /// `image` is an image the engine has (the bottle's agent image).
    fn export_work_tree(
        &self,
        slug: &Slug,
        home_hash: &str,
        backend: &str,
        image: &str,
        sink: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> Result<(), BackendError>;
    /// The screen a session's agent left when it exited (the bytes that
    /// redraw it) and its exit status, once the agent container has
    /// stopped; `None` while it runs or when there is none.
    fn last_screen(&self, slug: &Slug) -> Result<Option<LastScreen>, BackendError>;
}

/// What an exited session left: its screen and the agent's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastScreen {
    pub screen: Vec<u8>,
    pub status: Option<i32>,
}
