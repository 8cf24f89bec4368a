//! Which engines this machine offers, and which one a bottle lives on.
//!
//! The default engine is the one `DOCKER_HOST` names (else Docker's own
//! socket). Podman is offered beside it when its socket answers:
//! `CONTAINER_HOST` (Podman's own variable), then the rootless
//! (`$XDG_RUNTIME_DIR/podman/podman.sock`, `/run/user/<uid>/…`) and system
//! (`/run/podman/podman.sock`) sockets. Docker's socket is offered beside a
//! `DOCKER_HOST` that names something else. Only local (`unix://`) engines
//! run bottles: the agent's resolver file is bound from `$BOTTLE_HOME`.
//!
//! A bottle records the engine it was launched on (`engine_host` in
//! metadata.json); every later command on it connects there.

use super::{timed, EngineError, CALL_TIMEOUT};
use bollard::Docker;
use std::path::Path;
use std::time::Duration;

pub const DOCKER_SOCKET: &str = "unix:///var/run/docker.sock";

/// How long discovery waits for one engine to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub use crate::backends::Engine;

/// The engine `DOCKER_HOST` names, else Docker's socket.
pub fn default_host() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => h,
        _ => DOCKER_SOCKET.to_string(),
    }
}

/// Every engine worth asking, the default first, each once.
pub fn candidate_hosts() -> Vec<String> {
    let mut hosts = vec![default_host()];
    // The same socket by another path (`/var/run` is often `/run`) is the
    // same engine.
    let same = |a: &str, b: &str| {
        a == b
            || match (a.strip_prefix("unix://"), b.strip_prefix("unix://")) {
                (Some(x), Some(y)) => std::fs::canonicalize(x)
                    .ok()
                    .is_some_and(|cx| std::fs::canonicalize(y).ok() == Some(cx)),
                _ => false,
            }
    };
    let mut push = |h: String| {
        if !hosts.iter().any(|k| same(k, &h)) {
            hosts.push(h);
        }
    };
    if let Ok(h) = std::env::var("CONTAINER_HOST") {
        if h.starts_with("unix://") {
            push(h);
        }
    }
    let mut sockets = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        sockets.push(Path::new(&dir).join("podman/podman.sock"));
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    sockets.push(format!("/run/user/{uid}/podman/podman.sock").into());
    sockets.push("/run/podman/podman.sock".into());
    sockets.push("/var/run/docker.sock".into());
    for s in sockets {
        if is_socket(&s) {
            push(format!("unix://{}", s.display()));
        }
    }
    hosts
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Connects to `host` (a `unix://` socket) and negotiates the API version.
pub async fn connect_host(host: &str) -> Result<Docker, EngineError> {
    connect_within(host, CALL_TIMEOUT).await
}

/// How long a negotiated API version is reused for new connections to
/// the same socket: Podman answers `version` in 1–2 s (it gathers host
/// facts), and one launch connects several times.
const NEGOTIATED_FOR: Duration = Duration::from_secs(60);

type Negotiated = std::collections::HashMap<String, (bollard::ClientVersion, std::time::Instant)>;
static NEGOTIATED: std::sync::Mutex<Option<Negotiated>> = std::sync::Mutex::new(None);

async fn connect_within(host: &str, within: Duration) -> Result<Docker, EngineError> {
    let connect = |version: &bollard::ClientVersion| {
        if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, 120, version)
        } else {
            Docker::connect_with_host(host)
        }
        .map_err(|e| EngineError::Connect(format!("{host}: {e}")))
    };
    let known = NEGOTIATED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(Default::default)
        .get(host)
        .filter(|(_, at)| at.elapsed() < NEGOTIATED_FOR)
        .map(|(v, _)| *v);
    // Only for a socket that is still there (a stopped engine's socket
    // goes, and then negotiating says it does not answer).
    let socket = host
        .strip_prefix("unix://")
        .is_some_and(|p| is_socket(Path::new(p)));
    if let (Some(v), true) = (known, socket) {
        return connect(&v);
    }
    let docker = connect(bollard::API_DEFAULT_VERSION)?;
    match tokio::time::timeout(within, docker.negotiate_version()).await {
        Ok(Ok(d)) => {
            NEGOTIATED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(Default::default)
                .insert(
                    host.to_string(),
                    (d.client_version(), std::time::Instant::now()),
                );
            Ok(d)
        }
        Ok(Err(e)) => Err(EngineError::Connect(format!("{host}: {e}"))),
        Err(_) => Err(EngineError::Timeout(within)),
    }
}

/// `docker` or `podman`, from the engine's version components.
pub async fn kind_of(docker: &Docker) -> Result<(String, String), EngineError> {
    let version = timed(docker.version()).await?;
    let kind = kind_of_version(&version);
    Ok((kind.to_string(), version.version.unwrap_or_default()))
}

/// `docker` or `podman`, from an answer of `version`.
pub fn kind_of_version(version: &bollard::models::SystemVersion) -> &'static str {
    let podman = version
        .components
        .iter()
        .flatten()
        .any(|c| c.name.to_ascii_lowercase().contains("podman"));
    if podman {
        "podman"
    } else {
        "docker"
    }
}

async fn probe(host: String, default: bool) -> Option<(Engine, Docker)> {
    let d = connect_within(&host, PROBE_TIMEOUT).await.ok()?;
    let (kind, version) = tokio::time::timeout(PROBE_TIMEOUT, kind_of(&d))
        .await
        .ok()?
        .ok()?;
    Some((
        Engine {
            kind,
            host,
            version,
            default,
        },
        d,
    ))
}

/// The local engines that answer, the default first. Each is asked at most
/// `PROBE_TIMEOUT`, all at once.
pub async fn discover() -> Vec<Engine> {
    discover_connected()
        .await
        .into_iter()
        .map(|(e, _)| e)
        .collect()
}

/// `discover`, keeping each engine's connection for the calls that follow.
pub async fn discover_connected() -> Vec<(Engine, Docker)> {
    let default = default_host();
    let probes = candidate_hosts()
        .into_iter()
        .filter(|h| h.starts_with("unix://"))
        .map(|h| {
            let is_default = h == default;
            tokio::spawn(probe(h, is_default))
        })
        .collect::<Vec<_>>();
    let mut out = Vec::new();
    for p in probes {
        if let Ok(Some(e)) = p.await {
            out.push(e);
        }
    }
    out
}

/// The engine `--backend` names: `docker` is the default engine (whatever
/// `DOCKER_HOST` names, Podman's socket included, SPEC §9); `podman` the
/// first Podman engine that answers; a `unix://` address that engine.
pub async fn choose(backend: Option<&str>) -> Result<String, EngineError> {
    match backend {
        None | Some("docker") => Ok(default_host()),
        Some("podman") => discover()
            .await
            .into_iter()
            .find(|e| e.kind == "podman")
            .map(|e| e.host)
            .ok_or_else(|| {
                EngineError::Connect(
                    "no Podman engine answers (DOCKER_HOST, CONTAINER_HOST, $XDG_RUNTIME_DIR/podman/podman.sock, /run/podman/podman.sock); start one with `podman system service --time=0`".into(),
                )
            }),
        Some("smolvm") => Err(EngineError::Local(
            "the smolvm backend is not part of this build yet; use docker or podman".into(),
        )),
        Some(h) if h.starts_with("unix://") => Ok(h.to_string()),
        Some(other) => Err(EngineError::Local(format!(
            "unknown backend `{other}`: expected docker, podman or a unix:// engine address"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_engine_comes_first_and_each_host_once() {
        let hosts = candidate_hosts();
        assert_eq!(hosts[0], default_host());
        let mut unique = hosts.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), hosts.len());
    }

    #[test]
    fn a_bottle_without_a_recorded_engine_uses_the_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(crate::backends::host_of(dir.path()), default_host());
        std::fs::write(
            dir.path().join("metadata.json"),
            r#"{"engine_host":"unix:///run/x.sock"}"#,
        )
        .expect("write");
        assert_eq!(crate::backends::host_of(dir.path()), "unix:///run/x.sock");
    }
}
