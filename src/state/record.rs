//! The typed records a bottle keeps in `state/<slug>/` (SPEC §2): what was
//! launched (`metadata.json`, 0644, no secrets) and the approved
//! capability a resume launches on (`capability.json`). Read and written
//! here only; every field has a default, so a record written by an older
//! bottle still reads, and keys this version does not know are kept when
//! it rewrites one.

use super::write_atomic;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const METADATA_FILE: &str = "metadata.json";
/// The approved image a resume launches on (the Dockerfile is
/// [`AGENT_DOCKERFILE`] beside it).
pub const CAPABILITY_FILE: &str = "capability.json";
/// The Dockerfile of the agent's current image, when it was built from one.
pub const AGENT_DOCKERFILE: &str = "agent.Dockerfile";

/// `metadata.json`: what was launched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BottleRecord {
    pub version: u32,
    pub slug: String,
    pub agent: String,
    pub bottle: String,
    /// `docker` or `podman` (`docker` when an old record lacks it).
    pub backend: String,
    /// The engine it was launched on (`unix:///…`); empty before it was recorded.
    pub engine_host: String,
    /// The host workspace it was copied from.
    pub workspace: Option<String>,
    pub started_at: String,
    pub images: Images,
    /// The OCI runtime of the last launch.
    pub runtime: Option<String>,
    /// The preflight text the operator confirmed.
    pub preflight: String,
    /// The agent CLI's session, resumed exactly (never `--continue`).
    pub session_id: Option<String>,
    /// Names only: where a restart finds the session's `?`/`${}` values.
    pub session_env: Vec<SessionEnv>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exited_at: Option<String>,
    /// The isolation self-check of the agent's last start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationRecord>,
    /// Keys of a newer version, kept as they were.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl Default for BottleRecord {
    fn default() -> BottleRecord {
        BottleRecord {
            version: 1,
            slug: String::new(),
            agent: String::new(),
            bottle: String::new(),
            backend: "docker".into(),
            engine_host: String::new(),
            workspace: None,
            started_at: String::new(),
            images: Images::default(),
            runtime: None,
            preflight: String::new(),
            session_id: None,
            session_env: Vec::new(),
            exit_status: None,
            exited_at: None,
            isolation: None,
            other: BTreeMap::new(),
        }
    }
}

/// What the isolation self-check found when the agent last started
/// (`session_host::selfcheck`): `verified` when every check passed;
/// `allowed_unverified` when the operator let it run anyway.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IsolationRecord {
    pub verified: bool,
    pub allowed_unverified: bool,
    pub checks: Vec<IsolationCheck>,
    pub at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IsolationCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl IsolationRecord {
    /// The word the sidebar and the pane title show.
    pub fn word(&self) -> &'static str {
        if self.verified {
            "isolated"
        } else {
            "UNVERIFIED"
        }
    }

    /// Records `self` in `state_dir`'s metadata.json (kept as it is
    /// otherwise).
    pub fn save_into(&self, state_dir: &Path) -> Result<()> {
        let mut record = BottleRecord::load(state_dir)?;
        record.isolation = Some(self.clone());
        record.save(state_dir)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Images {
    pub agent: String,
    pub sidecar: String,
}

/// One `?`/`${}` value of the session, by name: `ask` (the operator is
/// asked at launch) or `host` (an environment variable of the host).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionEnv {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{} is missing", .0.display())]
    Missing(PathBuf),
    #[error("{}: {}", .0.display(), .1)]
    Unreadable(PathBuf, std::io::Error),
    /// serde_json's message carries `line L column C`.
    #[error("{}:{}:{}: {}", .0.display(), .1.line(), .1.column(), .2)]
    Invalid(PathBuf, serde_json::Error, String),
}

fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RecordError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RecordError::Missing(path.to_path_buf()))
        }
        Err(e) => return Err(RecordError::Unreadable(path.to_path_buf(), e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        let text = e.to_string();
        RecordError::Invalid(path.to_path_buf(), e, text)
    })
}

impl BottleRecord {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(METADATA_FILE)
    }

    /// The record of `state_dir`, or why there is none.
    pub fn load(state_dir: &Path) -> Result<BottleRecord, RecordError> {
        load_json(&Self::path(state_dir))
    }

    /// The record when there is a readable one.
    pub fn read(state_dir: &Path) -> Option<BottleRecord> {
        Self::load(state_dir).ok()
    }

    /// Writes it atomically (0644: it holds no secrets).
    pub fn save(&self, state_dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("encoding metadata.json")?;
        write_atomic(&Self::path(state_dir), text.as_bytes(), 0o644)
    }

    /// `docker` unless the record names another backend.
    pub fn backend(&self) -> &str {
        if self.backend.is_empty() {
            "docker"
        } else {
            &self.backend
        }
    }

    /// The engine host it was launched on, when recorded.
    pub fn engine_host(&self) -> Option<&str> {
        Some(self.engine_host.as_str()).filter(|h| !h.is_empty())
    }
}

/// `capability.json`: the image an approved capability request built.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapabilityRecord {
    pub image: String,
    pub dockerfile_sha256: String,
    pub summary: String,
    pub approved_at: String,
}

impl CapabilityRecord {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(CAPABILITY_FILE)
    }

    pub fn load(state_dir: &Path) -> Result<CapabilityRecord, RecordError> {
        load_json(&Self::path(state_dir))
    }

    /// Writes it atomically (0600).
    pub fn save(&self, state_dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("encoding capability.json")?;
        write_atomic(&Self::path(state_dir), text.as_bytes(), 0o600)
    }

    /// The approved image `state_dir`'s bottle resumes on, with its
    /// Dockerfile (both must be there).
    pub fn approved(state_dir: &Path) -> Option<(String, PathBuf)> {
        let record = Self::load(state_dir).ok()?;
        let dockerfile = state_dir.join(AGENT_DOCKERFILE);
        (!record.image.is_empty() && dockerfile.is_file()).then_some((record.image, dockerfile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/records");

    #[test]
    fn a_record_written_by_the_untyped_code_still_reads() {
        let r = BottleRecord::load(&Path::new(FIXTURES).join("v1")).expect("reads");
        assert_eq!(r.slug, "claude-k3x9qa");
        assert_eq!(r.agent, "claude");
        assert_eq!(r.backend(), "podman");
        assert_eq!(
            r.engine_host(),
            Some("unix:///run/bottle-podman/podman.sock")
        );
        assert_eq!(r.workspace.as_deref(), Some("/home/op/project"));
        assert_eq!(r.images.agent, "bottle/agent-claude:2.1.330");
        assert_eq!(r.runtime.as_deref(), Some("runc"));
        assert_eq!(
            r.session_id.as_deref(),
            Some("6f1c2d4e-0b7a-4c55-9e2f-1a2b3c4d5e6f")
        );
        assert_eq!(
            r.session_env,
            vec![
                SessionEnv {
                    name: "TOKEN".into(),
                    ask: Some("the deploy token".into()),
                    host: None
                },
                SessionEnv {
                    name: "EDITOR".into(),
                    ask: None,
                    host: Some("EDITOR".into())
                },
            ]
        );
        assert_eq!(r.exit_status, Some(3));
        assert!(r.preflight.contains("workspace"));
        let c = CapabilityRecord::load(&Path::new(FIXTURES).join("v1")).expect("reads");
        assert_eq!(c.image, "bottle/agent-capability:0123456789ab");
    }

    #[test]
    fn an_old_record_without_later_keys_reads_with_defaults() {
        let r = BottleRecord::load(&Path::new(FIXTURES).join("oldest")).expect("reads");
        assert_eq!(r.backend(), "docker");
        assert_eq!(r.engine_host(), None);
        assert_eq!(r.workspace, None);
        assert!(r.session_env.is_empty());
        assert_eq!(r.session_id, None);
    }

    #[test]
    fn rewriting_keeps_unknown_keys_and_the_written_shape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let original: serde_json::Value = serde_json::from_slice(
            &std::fs::read(Path::new(FIXTURES).join("v1/metadata.json")).expect("fixture"),
        )
        .expect("json");
        let mut with_extra = original.clone();
        with_extra["from_the_future"] = serde_json::json!({"x": 1});
        std::fs::write(dir.path().join(METADATA_FILE), with_extra.to_string()).expect("write");
        BottleRecord::load(dir.path())
            .expect("reads")
            .save(dir.path())
            .expect("saves");
        let again: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(METADATA_FILE)).expect("read"))
                .expect("json");
        assert_eq!(again, with_extra);
    }

    #[test]
    fn a_broken_record_says_where() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(METADATA_FILE), "{\n  \"slug\": 5\n}").expect("write");
        let e = BottleRecord::load(dir.path()).expect_err("invalid");
        assert!(e.to_string().contains("metadata.json:2:"), "{e}");
        let e = BottleRecord::load(&dir.path().join("nothing")).expect_err("missing");
        assert!(matches!(e, RecordError::Missing(_)), "{e}");
    }

    #[test]
    fn approved_needs_the_dockerfile_beside_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = CapabilityRecord {
            image: "bottle/agent-capability:0123456789ab".into(),
            ..Default::default()
        };
        c.save(dir.path()).expect("save");
        assert_eq!(CapabilityRecord::approved(dir.path()), None);
        std::fs::write(dir.path().join(AGENT_DOCKERFILE), "FROM x\n").expect("write");
        assert_eq!(
            CapabilityRecord::approved(dir.path()),
            Some((c.image.clone(), dir.path().join(AGENT_DOCKERFILE)))
        );
    }
}
