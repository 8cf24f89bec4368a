//! What starts bottles: names and labels, embedded image templates, the
//! pure launch plan and its preflight text, the workspace copy, and the
//! Docker Engine connection. Must not import `ui`, `app` or `session`.

mod backend;
pub mod codex_auth;
pub mod docker;
pub mod egress;
pub mod fake;
pub mod gitgate;
pub mod images;
pub mod inventory;
mod logged;
pub mod plan;
pub mod preflight;
pub mod provider;
mod socket_probe;
pub mod workdiff;
pub mod workspace_copy;

pub use crate::session::io::{PaneCtl, PaneError, PaneIo, PaneKind};
pub use backend::{
    AttachEnd, Backend, BackendError, BottleObjects, EngineBottle, EngineEvent, ImageBuild,
    LastScreen, LaunchInput, LogRequest, LogSource, OutputSink, ProbeBinary, Progress, Recreate,
    Stream,
};
pub use socket_probe::socket_round_trip;

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

/// The backend for the engine at `host` (`unix:///…`): connects on each
/// call, so making one does no I/O. The one place that picks an
/// implementation; each is wrapped so its lifecycle operations are logged
/// (`logged.rs`).
pub fn connect(host: &str) -> Box<dyn Backend> {
    let inner: Box<dyn Backend> = if host.starts_with(fake::SCHEME) {
        Box::new(fake::FakeBackend::new(host))
    } else {
        Box::new(docker::DockerBackend::new(host))
    };
    Box::new(logged::Logged(inner))
}

/// The engine `DOCKER_HOST` names, else Docker's socket.
pub fn default_host() -> String {
    docker::engines::default_host()
}

/// The engine a bottle was launched on (metadata.json's `engine_host`);
/// the default engine for a bottle launched before it was recorded.
pub fn host_of(state_dir: &std::path::Path) -> String {
    crate::state::record::BottleRecord::read(state_dir)
        .and_then(|r| r.engine_host().map(str::to_string))
        .unwrap_or_else(default_host)
}

/// The backend of the engine `slug` lives on.
pub fn for_bottle(home: &crate::state::Home, slug: &str) -> Box<dyn Backend> {
    connect(&host_of(&home.state_dir(slug)))
}

fn block_on<T>(fut: impl std::future::Future<Output = T>) -> Result<T, BackendError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BackendError::Failed(format!("starting the engine client: {e}")))?
        .block_on(fut))
}

/// Every engine that answers (the default first), with its backend.
pub fn discover() -> Vec<(Engine, Box<dyn Backend>)> {
    let default = default_host();
    if default.starts_with(fake::SCHEME) {
        // A test's stand-in engine is the only one.
        let b = connect(&default);
        return match b.facts() {
            Ok(f) => vec![(
                Engine {
                    kind: f.engine,
                    host: default,
                    version: f.api_version,
                    default: true,
                },
                b,
            )],
            Err(_) => Vec::new(),
        };
    }
    block_on(docker::engines::discover())
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let b = connect(&e.host);
            (e, b)
        })
        .collect()
}

/// Says why the default engine does not answer (`Ok` when it does).
pub fn check_default() -> Result<(), BackendError> {
    let default = default_host();
    if default.starts_with(fake::SCHEME) {
        return connect(&default).facts().map(|_| ());
    }
    block_on(docker::connect())?
        .map(|_| ())
        .map_err(BackendError::from)
}

/// The engine `--backend` names: `docker` is the default engine (whatever
/// `DOCKER_HOST` names, Podman's socket included, SPEC §9); `podman` the
/// first Podman engine that answers; a `unix://` address that engine.
pub fn choose(backend: Option<&str>) -> Result<String, BackendError> {
    block_on(docker::engines::choose(backend))?.map_err(BackendError::from)
}
