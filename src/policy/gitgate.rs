//! The git gate's contract both sides share (SPEC §5.5): `gitgate.json`
//! (written only by the host into the sidecar's read-only configuration
//! directory, beside `routes.json`), where the gate keeps its
//! repositories, and which refs a push may update. Pure.

use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;

/// The gate's port on the sidecar's internal address (`http://gitgate:9420`).
pub const PORT: u16 = 9420;

/// Where the gate keeps its bare repositories inside the sidecar (a
/// per-bottle volume): `<GATE_ROOT>/<name>.git`.
pub const GATE_ROOT: &str = "/gitgate";

/// The name of the workspace's own repository at the gate: what the
/// agent pushes to its `origin` lands here and reaches the host only
/// through `bottle fetch`. Reserved: a definition cannot name a repo so.
pub const WORKSPACE_REPO: &str = "workspace";

/// The file name of the gate's configuration in the sidecar's
/// configuration directory.
pub const FILE_NAME: &str = "gitgate.json";

/// Branch patterns a push may update when a repo names none.
pub const DEFAULT_PUSH_BRANCHES: &[&str] = &["bottle/*"];

/// A repository's path at the gate.
pub fn repo_path(name: &str) -> String {
    format!("{GATE_ROOT}/{name}.git")
}

/// The URL the agent uses for a repository (SPEC §5.5).
pub fn agent_url(name: &str) -> String {
    format!("http://gitgate:{PORT}/{name}.git")
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateFile {
    pub version: u32,
    pub repos: Vec<GateRepo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRepo {
    /// `[A-Za-z0-9._-]+`; `workspace` is the workspace's own repository.
    pub name: String,
    /// Where pushes go on and fetches come from; `None` for the
    /// workspace's repository (it reaches the host by `bottle fetch`).
    #[serde(default)]
    pub upstream: Option<Upstream>,
    /// Patterns of branch names (`bottle/*`) or, starting with `refs/`,
    /// of whole ref names (`refs/tags/v*`) a push may update.
    pub push_branches: Vec<String>,
    /// Commits the operator already has (the host repository's ref tips
    /// at launch): history reachable from them is not the agent's and is
    /// not scanned.
    #[serde(default)]
    pub known_commits: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Upstream {
    /// `ssh://user@host:port/path` with the key in the secrets tmpfs
    /// (`identity` names the file) and the pinned host key line.
    Ssh {
        url: String,
        host: String,
        port: u16,
        identity: String,
        /// `ssh-ed25519 AAAA…` (no host name): the only key accepted.
        host_key: String,
    },
    /// `https://host[:port]/path` with `<scheme> <token>` sent as the
    /// `Authorization` header (`secret` names the token's file).
    Https {
        url: String,
        scheme: String,
        secret: String,
    },
}

impl Upstream {
    pub fn url(&self) -> &str {
        match self {
            Upstream::Ssh { url, .. } | Upstream::Https { url, .. } => url,
        }
    }
}

/// Whether a push may update `refname` (`refs/heads/…`, `refs/tags/…`)
/// under these patterns: a pattern without `refs/` names branches; `*`
/// matches any run of characters except `/`, `**` any run at all.
pub fn ref_allowed(patterns: &[String], refname: &str) -> bool {
    patterns.iter().any(|p| {
        let full = if p.starts_with("refs/") {
            p.clone()
        } else {
            format!("refs/heads/{p}")
        };
        glob(full.as_bytes(), refname.as_bytes())
    })
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => {
            let (any, rest) = match rest.split_first() {
                Some((b'*', r)) => (true, r),
                _ => (false, rest),
            };
            (0..=s.len())
                .take_while(|&i| any || !s[..i].contains(&b'/'))
                .any(|i| glob(rest, &s[i..]))
        }
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &[&str], r: &str) -> bool {
        ref_allowed(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), r)
    }

    #[test]
    fn branch_patterns() {
        assert!(allowed(&["bottle/*"], "refs/heads/bottle/fix"));
        assert!(!allowed(&["bottle/*"], "refs/heads/bottle/a/b"));
        assert!(allowed(&["bottle/**"], "refs/heads/bottle/a/b"));
        assert!(!allowed(&["bottle/*"], "refs/heads/main"));
        assert!(!allowed(&["bottle/*"], "refs/tags/bottle/x"));
        assert!(!allowed(&["bottle/*"], "refs/heads/bottle"));
        assert!(allowed(&["main"], "refs/heads/main"));
        assert!(!allowed(&["main"], "refs/heads/main2"));
        assert!(allowed(&["refs/tags/v*"], "refs/tags/v1.2"));
        assert!(!allowed(&["refs/tags/v*"], "refs/heads/v1"));
        assert!(!allowed(&[], "refs/heads/bottle/x"));
        assert!(allowed(&["*"], "refs/heads/x"));
        assert!(!allowed(&["*"], "refs/heads/x/y"));
    }

    #[test]
    fn the_file_round_trips() {
        let f = GateFile {
            version: VERSION,
            repos: vec![GateRepo {
                name: "app".into(),
                upstream: Some(Upstream::Ssh {
                    url: "ssh://git@h:22/p.git".into(),
                    host: "h".into(),
                    port: 22,
                    identity: "gitgate-app.key".into(),
                    host_key: "ssh-ed25519 AAAA".into(),
                }),
                push_branches: vec!["bottle/*".into()],
                known_commits: vec![],
            }],
        };
        let json = serde_json::to_string(&f).expect("json");
        assert_eq!(serde_json::from_str::<GateFile>(&json).expect("back"), f);
    }
}
