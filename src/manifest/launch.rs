//! Conditions that only matter at launch (SPEC §3): unset `${VAR}` and
//! `token_ref` variables, missing skills, identity files, Dockerfiles and
//! CAs. `bottle check` shows them as warnings; launch treats them as errors.

use super::schema::Report;
use super::{Definitions, EnvValue, Origin, Problem};
use std::path::{Path, PathBuf};

/// What the checks need to know about the host, so tests can fake it.
pub trait HostFacts {
    fn env(&self, name: &str) -> Option<String>;
    fn exists(&self, path: &Path) -> bool;
    fn home_dir(&self) -> PathBuf;
}

pub struct RealHost;

impl HostFacts for RealHost {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn home_dir(&self) -> PathBuf {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"))
    }
}

/// `~` expands to the home directory; relative paths are relative to the
/// definition file's directory.
pub fn resolve_path(raw: &str, def_file: &Path, home: &Path) -> PathBuf {
    if raw == "~" {
        return home.to_path_buf();
    }
    if let Some(rest) = raw.strip_prefix("~/") {
        return home.join(rest);
    }
    let p = Path::new(raw);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        def_file
            .parent()
            .unwrap_or(Path::new("."))
            .join(p.strip_prefix("./").unwrap_or(p))
    }
}

pub fn host_warnings(defs: &Definitions, host: &dyn HostFacts) -> Vec<Problem> {
    let home = host.home_dir();
    let mut out = Vec::new();
    for def in defs.bottle_defs.values() {
        // Embedded examples explain what to set in their text; warning
        // about them on every `check` would be noise.
        if def.origin == Origin::Embedded {
            continue;
        }
        let mut r = Report::new(&def.path);
        for var in def.env.iter().flatten() {
            if let EnvValue::Host(name) = &var.value {
                if host.env(name).is_none() {
                    r.warn(
                        var.pos,
                        format!(
                            "env `{}` copies ${{{name}}}, which is not set on this host",
                            var.name
                        ),
                    );
                }
            }
        }
        if let Some(p) = &def.agent_provider {
            if let Some(t) = p
                .auth_token
                .as_ref()
                .filter(|t| host.env(&t.value).is_none())
            {
                r.warn(
                    t.pos,
                    format!(
                        "`auth_token` names {}, which is not set on this host",
                        t.value
                    ),
                );
            }
            if let Some(d) = p
                .dockerfile
                .as_ref()
                .filter(|d| !host.exists(&resolve_path(&d.value, &def.path, &home)))
            {
                r.warn(
                    d.pos,
                    format!(
                        "`dockerfile` {} does not exist",
                        resolve_path(&d.value, &def.path, &home).display()
                    ),
                );
            }
        }
        if let Some(e) = &def.egress {
            if let Some(ca) = e
                .upstream_ca
                .as_ref()
                .filter(|c| !host.exists(&resolve_path(&c.value, &def.path, &home)))
            {
                r.warn(
                    ca.pos,
                    format!(
                        "`upstream_ca` {} does not exist",
                        resolve_path(&ca.value, &def.path, &home).display()
                    ),
                );
            }
            for auth in e.routes.iter().filter_map(|rt| rt.auth.as_ref()) {
                if host.env(&auth.token_ref.value).is_none() {
                    r.warn(
                        auth.token_ref.pos,
                        format!(
                            "`token_ref` {} is not set on this host",
                            auth.token_ref.value
                        ),
                    );
                }
            }
        }
        for repo in def
            .git_gate
            .iter()
            .flat_map(|g| g.repos.iter().flatten())
            .filter_map(|(_, r)| r.as_ref())
        {
            if let Some(identity) = &repo.identity {
                let id = resolve_path(&identity.value, &def.path, &home);
                if !host.exists(&id) {
                    r.warn(
                        identity.pos,
                        format!(
                            "identity {} for repo `{}` does not exist",
                            id.display(),
                            repo.name
                        ),
                    );
                }
            }
            if let Some(auth) = &repo.auth {
                if host.env(&auth.token_ref.value).is_none() {
                    r.warn(
                        auth.token_ref.pos,
                        format!(
                            "`token_ref` {} for repo `{}` is not set on this host",
                            auth.token_ref.value, repo.name
                        ),
                    );
                }
            }
            if matches!(repo.url, super::RepoUrl::Ssh(_)) && repo.host_key.is_none() {
                r.warn(repo.pos, format!("repo `{}` has no `host_key`: the gate refuses to connect without one (no trust on first use)", repo.name));
            }
        }
        out.append(&mut r.problems);
    }
    let skills = home.join(".claude").join("skills");
    for agent in defs
        .agents
        .iter()
        .filter(|a| a.def.origin != Origin::Embedded)
    {
        let mut r = Report::new(&agent.def.path);
        for s in agent
            .def
            .skills
            .iter()
            .filter(|s| !host.exists(&skills.join(&s.value)))
        {
            r.warn(
                s.pos,
                format!(
                    "skill `{}` not found at {}",
                    s.value,
                    skills.join(&s.value).display()
                ),
            );
        }
        out.append(&mut r.problems);
    }
    out
}
