//! The host's half of the git gate (SPEC §5.5): from the bottle's
//! `git-gate.repos` and the host workspace it writes `gitgate.json` into
//! the sidecar's read-only configuration directory, collects the keys and
//! tokens for the sidecar's secrets tmpfs (never a file here), and makes
//! the agent's git configuration that sends every upstream URL, and the
//! workspace's own `origin`, to `http://gitgate:9420/<name>.git`.

use crate::manifest::{GitRepo, RepoUrl};
use crate::policy::gitgate::{self as contract, GateFile, GateRepo, Upstream};
use crate::secret::Secret;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where the agent's gate configuration lands (included from
/// `~/.gitconfig`).
pub const AGENT_CONFIG: &str = "home/agent/.bottle/gitgate.gitconfig";

/// How many of the host repository's ref tips are passed on as already
/// known (history reachable from them is the operator's, not scanned).
const MAX_KNOWN: usize = 4096;

/// What a launch needs from the gate's setup.
#[derive(Debug, Default)]
pub struct GateSetup {
    pub file: GateFile,
    /// `gitgate-<name>.key` / `gitgate-<name>.token` values.
    pub secrets: Vec<(String, Secret)>,
    /// The agent's `~/.bottle/gitgate.gitconfig`.
    pub agent_config: String,
}

/// Whether the bottle with this state directory has a git gate.
pub fn has_gate(state_dir: &Path) -> bool {
    std::fs::read_to_string(super::egress::egress_dir(state_dir).join(contract::FILE_NAME))
        .ok()
        .and_then(|t| serde_json::from_str::<GateFile>(&t).ok())
        .is_some_and(|f| !f.repos.is_empty())
}

/// Whether the gate of the bottle with this state directory took the
/// workspace repository's pushes (a resume keeps doing so).
pub fn has_workspace_repo(state_dir: &Path) -> bool {
    std::fs::read_to_string(super::egress::egress_dir(state_dir).join(contract::FILE_NAME))
        .ok()
        .and_then(|t| serde_json::from_str::<GateFile>(&t).ok())
        .is_some_and(|f| f.repos.iter().any(|r| r.name == contract::WORKSPACE_REPO))
}

/// The secrets entry holding a repo's SSH key or token.
pub fn secret_name(repo: &str, token: bool) -> String {
    format!("gitgate-{repo}.{}", if token { "token" } else { "key" })
}

/// One line per repo for `info` and the preflight: name, upstream,
/// identity or token, host key, push branches.
pub fn describe(repo: &GitRepo) -> String {
    let cred = match (&repo.url, &repo.identity, &repo.auth) {
        (RepoUrl::Ssh(_), Some(id), _) => format!(
            "identity {}, host key {}",
            id.value,
            match &repo.host_key {
                Some(k) => k.split_whitespace().next().unwrap_or("?").to_string() + " pinned",
                None => "MISSING (the gate refuses to connect)".into(),
            }
        ),
        (RepoUrl::Https(_), _, Some(a)) => {
            format!("{} token from {}", a.scheme, a.token_ref.value)
        }
        _ => "no credential".into(),
    };
    format!(
        "{} → {} ({cred}; push {})",
        repo.name,
        repo.url,
        push_branches(repo).join(", ")
    )
}

fn push_branches(repo: &GitRepo) -> Vec<String> {
    if repo.push_branches.is_empty() {
        contract::DEFAULT_PUSH_BRANCHES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        repo.push_branches.clone()
    }
}

/// The gate's configuration for this bottle: its repos (reading each
/// identity file and token variable), and the workspace's own repository
/// when `workspace` is a git repository.
pub fn prepare(
    repos: &std::collections::BTreeMap<String, GitRepo>,
    host_home: &Path,
    workspace: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<GateSetup> {
    let mut setup = GateSetup {
        file: GateFile {
            version: contract::VERSION,
            repos: vec![],
        },
        ..Default::default()
    };
    let mut config = String::new();
    for repo in repos.values() {
        let upstream = match &repo.url {
            RepoUrl::Ssh(u) => {
                let Some(host_key) = &repo.host_key else {
                    bail!("git-gate repo `{}` has no `host_key`: the gate never trusts a host key on first use (add the line `ssh-keyscan -t ed25519 -p {} {}` prints, without the host name)", repo.name, u.port, u.host);
                };
                let Some(identity) = &repo.identity else {
                    bail!("git-gate repo `{}` has no `identity`", repo.name);
                };
                let dir = repo.definition.parent().unwrap_or(Path::new("/"));
                let path = expand(&identity.value, host_home, dir);
                let key = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "git-gate repo `{}`: reading identity {}",
                        repo.name,
                        path.display()
                    )
                })?;
                let name = secret_name(&repo.name, false);
                setup.secrets.push((name.clone(), Secret::new(key)));
                Upstream::Ssh {
                    url: repo.url.to_string(),
                    host: u.host.clone(),
                    port: u.port,
                    identity: name,
                    host_key: host_key.clone(),
                }
            }
            RepoUrl::Https(_) => {
                let Some(auth) = &repo.auth else {
                    bail!("git-gate repo `{}` has no `auth`", repo.name);
                };
                let var = &auth.token_ref.value;
                let Some(value) = env(var) else {
                    bail!(
                        "git-gate repo `{}`: token_ref {var} is not set in this environment",
                        repo.name
                    );
                };
                let name = secret_name(&repo.name, true);
                setup.secrets.push((name.clone(), Secret::new(value)));
                Upstream::Https {
                    url: repo.url.to_string(),
                    scheme: auth.scheme.to_string(),
                    secret: name,
                }
            }
        };
        for written in url_forms(repo) {
            config.push_str(&format!(
                "[url \"{}\"]\n\tinsteadOf = {}\n",
                contract::agent_url(&repo.name),
                quote(&written)
            ));
        }
        setup.file.repos.push(GateRepo {
            name: repo.name.clone(),
            upstream: Some(upstream),
            push_branches: push_branches(repo),
            known_commits: vec![],
        });
    }
    if let Some(facts) = workspace.and_then(host_repository) {
        let declared = |url: &str| {
            repos
                .values()
                .any(|r| url_forms(r).iter().any(|f| f == url))
        };
        match &facts.origin {
            // The origin is one of the declared upstreams: its own gate
            // repo (and its keys) handle it.
            Some(origin) if declared(origin) => {}
            Some(origin) => config.push_str(&format!(
                "[url \"{}\"]\n\tinsteadOf = {}\n",
                contract::agent_url(contract::WORKSPACE_REPO),
                quote(origin)
            )),
            None => config.push_str(&format!(
                "[remote \"origin\"]\n\turl = {}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
                contract::agent_url(contract::WORKSPACE_REPO)
            )),
        }
        setup.file.repos.push(GateRepo {
            name: contract::WORKSPACE_REPO.into(),
            upstream: None,
            push_branches: vec!["*".into(), "**".into()],
            known_commits: facts.known,
        });
    }
    setup.agent_config = config;
    Ok(setup)
}

/// The forms an agent may write a declared upstream in: as written, and
/// for SSH the scp-like `user@host:path` and the form without `:22`.
fn url_forms(repo: &GitRepo) -> Vec<String> {
    let mut forms = vec![repo.url_text.clone(), repo.url.to_string()];
    if let RepoUrl::Ssh(u) = &repo.url {
        if u.port == 22 {
            forms.push(format!("ssh://{}@{}/{}", u.user, u.host, u.path));
            forms.push(format!("{}@{}:{}", u.user, u.host, u.path));
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// A git configuration value, quoted.
fn quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace(['\n', '\r'], "")
    )
}

fn expand(p: &str, host_home: &Path, definition_dir: &Path) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        return host_home.join(rest);
    }
    let path = PathBuf::from(p);
    if path.is_absolute() {
        path
    } else {
        definition_dir.join(path)
    }
}

/// What the gate needs to know of the host workspace's repository.
#[derive(Debug, PartialEq)]
pub struct HostRepository {
    /// `remote.origin.url` as the copy carries it (userinfo stripped).
    pub origin: Option<String>,
    /// Commit ids of its branch, tag and remote-tracking tips.
    pub known: Vec<String>,
}

/// The host workspace's repository, when `dir` is the top of one. Reads
/// with the host's git, with no configuration but the repository's own
/// (which is the operator's).
pub fn host_repository(dir: &Path) -> Option<HostRepository> {
    if !dir.join(".git").exists() {
        return None;
    }
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GIT_DIR")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if Path::new(top.trim()) != dir.canonicalize().ok()?.as_path() {
        return None;
    }
    let origin = git(&["config", "--get", "remote.origin.url"])
        .map(|u| crate::backends::workspace_copy::strip_userinfo(u.trim()))
        .filter(|u| !u.is_empty());
    let tips = git(&[
        "for-each-ref",
        "--format=%(objecttype) %(objectname) %(*objectname)",
        "refs/heads",
        "refs/tags",
        "refs/remotes",
    ])
    .unwrap_or_default();
    let mut known: Vec<String> = tips
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next(), f.next()) {
                (Some("commit"), Some(id), _) => Some(id.to_string()),
                (Some("tag"), _, Some(peeled)) => Some(peeled.to_string()),
                _ => None,
            }
        })
        .filter(|id| id.len() >= 40 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    known.sort();
    known.dedup();
    known.truncate(MAX_KNOWN);
    Some(HostRepository { origin, known })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserved_name_is_the_same_on_both_sides() {
        assert_eq!(crate::manifest::WORKSPACE_REPO, contract::WORKSPACE_REPO);
    }

    #[test]
    fn a_host_repository_gives_its_origin_without_credentials_and_its_tips() {
        let dir = tempfile::tempdir().expect("tmp");
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .expect("git")
                .status
                .success();
            assert!(ok, "{args:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "one",
        ]);
        git(&[
            "remote",
            "add",
            "origin",
            "https://me:tok@git.example.test/acme/app.git",
        ]);
        let facts = host_repository(dir.path()).expect("a repository");
        assert_eq!(
            facts.origin.as_deref(),
            Some("https://git.example.test/acme/app.git")
        );
        assert_eq!(facts.known.len(), 1);
        assert!(host_repository(&dir.path().join(".git")).is_none());
    }

    #[test]
    fn config_values_are_quoted() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\cd\"");
    }
}
