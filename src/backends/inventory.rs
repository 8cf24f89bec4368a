//! The bottles of one home, as `list` and the workspace sidebar show them:
//! the engine's containers (one labelled query) joined with what
//! `$BOTTLE_HOME` keeps — stopped bottles' state, each bottle's backend and
//! sidecar services from metadata.json, and requests waiting in its queue.

use super::{BackendError, Engine, EngineBottle};
use crate::secret::Secret;
use crate::state::record::BottleRecord;
use crate::state::Home;

/// What the sidecar serves today (SPEC §5.3–5.5 add to it).
pub const SIDECAR_SERVICES: &[&str] = &["dns", "egress"];

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BottleInfo {
    pub slug: String,
    pub agent: String,
    pub status: BottleStatus,
    pub sidecar_running: bool,
    /// `docker` or `podman` (from the launch; `docker` when unknown).
    pub backend: String,
    /// The sidecar's services while it runs.
    pub services: Vec<String>,
    /// Requests from the agent waiting for a decision.
    pub pending: usize,
    /// The isolation self-check of the agent's last start: `isolated`,
    /// `UNVERIFIED`, or absent (never checked: an older bottle).
    pub isolation: Option<&'static str>,
}

impl BottleInfo {
    /// A row with nothing but its name and status (backend `docker`).
    pub fn new(slug: &str, agent: &str, status: BottleStatus) -> BottleInfo {
        BottleInfo {
            slug: slug.into(),
            agent: agent.into(),
            status,
            sidecar_running: false,
            backend: "docker".into(),
            services: Vec::new(),
            pending: 0,
            isolation: None,
        }
    }
}

/// A bottle's state as `list`, `--json` and the sidebar name it. Its
/// text form (`Display`, and the JSON string) is the word users see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BottleStatus {
    /// The agent container is being created or restarted.
    Starting,
    Running,
    /// The agent exited with this status (`None` when the engine did not say).
    Exited(Option<i32>),
    /// No containers; the home keeps its state and volumes.
    Stopped,
    /// The sidecar is there, the agent container is not.
    SidecarOnly,
    /// Any other engine state (`paused`, `dead`, `removing`), as the engine says it.
    Other(String),
}

impl BottleStatus {
    /// The engine's word for the agent container (`exited` carries its code).
    pub fn from_engine(state: &str, exit_code: Option<i32>) -> BottleStatus {
        match state {
            "created" | "restarting" => BottleStatus::Starting,
            "running" => BottleStatus::Running,
            "exited" => BottleStatus::Exited(exit_code),
            "" => BottleStatus::SidecarOnly,
            other => BottleStatus::Other(other.to_string()),
        }
    }

    pub fn is_running(&self) -> bool {
        *self == BottleStatus::Running
    }

    pub fn is_stopped(&self) -> bool {
        *self == BottleStatus::Stopped
    }
}

impl std::fmt::Display for BottleStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BottleStatus::Starting => f.write_str("starting"),
            BottleStatus::Running => f.write_str("running"),
            BottleStatus::Exited(Some(code)) => write!(f, "exited {code}"),
            BottleStatus::Exited(None) => f.write_str("exited "),
            BottleStatus::Stopped => f.write_str("stopped"),
            BottleStatus::SidecarOnly => f.write_str("sidecar only"),
            BottleStatus::Other(word) => f.write_str(word),
        }
    }
}

impl serde::Serialize for BottleStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Joins the engine's bottles with the home's state: a bottle with state but
/// no containers is `stopped` (its volumes are kept).
pub fn home_bottles(home: &Home, engine: Vec<EngineBottle>) -> Vec<BottleInfo> {
    let mut rows: Vec<BottleInfo> = engine
        .into_iter()
        .map(|b| BottleInfo {
            status: b.status,
            services: if b.sidecar_running {
                SIDECAR_SERVICES.iter().map(|s| s.to_string()).collect()
            } else {
                Vec::new()
            },
            backend: String::new(),
            pending: 0,
            isolation: None,
            slug: b.slug,
            agent: b.agent,
            sidecar_running: b.sidecar_running,
        })
        .collect();
    if let Ok(entries) = std::fs::read_dir(home.root.join("state")) {
        for entry in entries.flatten() {
            let slug = entry.file_name().to_string_lossy().into_owned();
            if rows.iter().any(|r| r.slug == slug) || !entry.path().join("metadata.json").exists() {
                continue;
            }
            let agent = slug
                .rsplit_once('-')
                .map_or(slug.clone(), |(a, _)| a.to_string());
            rows.push(BottleInfo {
                slug,
                agent,
                status: BottleStatus::Stopped,
                sidecar_running: false,
                backend: String::new(),
                services: Vec::new(),
                pending: 0,
                isolation: None,
            });
        }
    }
    for r in &mut rows {
        let record = BottleRecord::read(&home.state_dir(&r.slug)).unwrap_or_default();
        r.backend = record.backend().to_string();
        r.isolation = record.isolation.as_ref().map(|i| i.word());
        r.pending = crate::queue::pending_count(&home.queue_dir().join(&r.slug));
    }
    rows.sort_by(|a, b| a.slug.cmp(&b.slug));
    rows
}

/// Every answering engine (the default first) and this home's bottles on
/// all of them: one labelled query per engine. An engine that stops
/// answering between discovery and its query is left out; none answering
/// is an error.
pub fn all_bottles(home_hash: &str) -> Result<(Vec<Engine>, Vec<EngineBottle>), BackendError> {
    let found = super::discover();
    if found.is_empty() {
        // Say why the default engine does not answer.
        super::check_default()?;
    }
    let mut rows = Vec::new();
    let mut last_error = None;
    for (_, b) in &found {
        match b.list(Some(home_hash)) {
            Ok(r) => rows.extend(r),
            Err(err) => last_error = Some(err),
        }
    }
    let engines = found.into_iter().map(|(e, _)| e).collect::<Vec<_>>();
    match last_error {
        Some(err) if rows.is_empty() && engines.len() == 1 => Err(err),
        _ => Ok((engines, rows)),
    }
}

/// The session's `?`/`${}` values for running it again without a terminal
/// to ask on: `${VAR}` values from this environment; a `?` value cannot be
/// answered here, so it is an error naming it.
pub fn restart_env(meta: &BottleRecord) -> Result<Vec<(String, Secret)>, String> {
    let mut out = Vec::new();
    for e in &meta.session_env {
        let name = e.name.as_str();
        if let Some(var) = &e.host {
            match std::env::var(var) {
                Ok(v) => out.push((name.to_string(), Secret::new(v))),
                Err(_) => return Err(format!("{name}: ${{{var}}} is not set in this environment")),
            }
        } else if e.ask.is_some() {
            return Err(format!(
                "{name} is asked at launch: stop the bottle (Ctrl-b X) and resume it from the sidebar, which asks again (or `bottle stop` then `bottle resume`)"
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_rows_join_state_metadata_and_queue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home {
            root: dir.path().to_path_buf(),
        };
        for (slug, backend) in [("dev-aaaaaa", "podman"), ("dev-bbbbbb", "docker")] {
            let state = home.state_dir(slug);
            std::fs::create_dir_all(&state).expect("state");
            std::fs::write(
                state.join("metadata.json"),
                format!("{{\"backend\":\"{backend}\"}}"),
            )
            .expect("meta");
        }
        let queue = dir.path().join("queue/dev-aaaaaa");
        std::fs::create_dir_all(&queue).expect("queue");
        let [a, b, c] = [0; 3].map(|_| crate::queue::RequestId::generate());
        for f in [
            format!("{a}.request.json"),
            format!("{b}.request.json"),
            format!("{b}.claim"),
            format!("{b}.decision.json"),
            format!("{c}.request.json"),
            "stray.tmp".into(),
            "not-an-id.request.json".into(),
        ] {
            std::fs::write(queue.join(f), "{}").expect("file");
        }
        let engine = vec![EngineBottle {
            slug: "dev-aaaaaa".into(),
            agent: "dev".into(),
            status: BottleStatus::from_engine("created", None),
            sidecar_running: true,
            home: "h".into(),
        }];
        let rows = home_bottles(&home, engine);
        assert_eq!(
            rows,
            vec![
                BottleInfo {
                    slug: "dev-aaaaaa".into(),
                    agent: "dev".into(),
                    status: BottleStatus::Starting,
                    sidecar_running: true,
                    backend: "podman".into(),
                    services: vec!["dns".into(), "egress".into()],
                    pending: 2,
                    isolation: None,
                },
                BottleInfo {
                    slug: "dev-bbbbbb".into(),
                    agent: "dev".into(),
                    status: BottleStatus::Stopped,
                    sidecar_running: false,
                    backend: "docker".into(),
                    services: vec![],
                    pending: 0,
                    isolation: None,
                },
            ]
        );
    }
}
