//! `git-gate:` — commit identity and upstream repositories (SPEC §3.1, §5.5).

use super::schema::{self, fields, Report};
use super::yaml::{Key, Node, Value};
use super::{GitGate, GitRepo, GitUser, SshUrl};
use std::collections::BTreeMap;

const REPO_KEYS: &[&str] = &["url", "identity", "host_key", "push_branches"];

/// `allow_repos` is false for agents: repos carry credentials and host
/// trust, so only a bottle may declare them.
pub(crate) fn parse_git_gate(r: &mut Report, node: &Node, allow_repos: bool) -> Option<GitGate> {
    let f = if allow_repos {
        fields(r, node, "`git-gate`", &["user", "repos"], &[])?
    } else {
        let why = "belongs in the bottle, not the agent: repositories carry keys and host trust";
        fields(r, node, "`git-gate`", &["user"], &[("repos", why)])?
    };
    let mut gate = GitGate::default();
    if let Some((k, v)) = f.get("user") {
        gate.user = parse_user(r, k, v);
    }
    if allow_repos {
        if let Some((k, v)) = f.get("repos") {
            gate.repos = parse_repos(r, k, v);
        }
    }
    Some(gate)
}

fn parse_user(r: &mut Report, key: &Key, node: &Node) -> Option<GitUser> {
    let f = fields(r, node, "`git-gate.user`", &["name", "email"], &[])?;
    let mut user = GitUser::default();
    let before = r.count();
    if let Some((k, v)) = f.get("name") {
        user.name = schema::string(r, k, v)
            .map(|s| s.value)
            .filter(|s| !s.trim().is_empty());
    }
    if let Some((k, v)) = f.get("email") {
        user.email = schema::string(r, k, v)
            .map(|s| s.value)
            .filter(|s| !s.trim().is_empty());
        if let Some(e) = &user.email {
            if !e.contains('@') || e.contains(['<', '>', '\n']) {
                r.error(
                    v.pos,
                    format!("`email` `{e}` does not look like an email address"),
                );
            }
        }
    }
    if user.name.is_none() && user.email.is_none() && r.count() == before {
        r.error(key.pos, "`git-gate.user` is set but neither `name` nor `email` is; fill one or remove the block");
        return None;
    }
    Some(user)
}

fn parse_repos(
    r: &mut Report,
    key: &Key,
    node: &Node,
) -> Option<BTreeMap<String, Option<GitRepo>>> {
    let Value::Map(entries) = &node.value else {
        r.error(
            node.pos,
            format!(
                "`{}` must be a mapping of name: {{ url, identity, host_key }}, found {}",
                key.name,
                node.value.kind()
            ),
        );
        return None;
    };
    let mut repos = BTreeMap::new();
    for (k, v) in entries {
        if !schema::is_plain_name(&k.name) {
            r.error(
                k.pos,
                format!("repo name `{}` must match [A-Za-z0-9._-]+", k.name),
            );
            continue;
        }
        // `name: {}` removes an inherited repo (extends).
        if matches!(&v.value, Value::Map(m) if m.is_empty()) {
            repos.insert(k.name.clone(), None);
            continue;
        }
        if let Some(repo) = parse_repo(r, k, v) {
            repos.insert(k.name.clone(), Some(repo));
        }
    }
    Some(repos)
}

fn parse_repo(r: &mut Report, key: &Key, node: &Node) -> Option<GitRepo> {
    let f = fields(
        r,
        node,
        &format!("git-gate repo `{}`", key.name),
        REPO_KEYS,
        &[],
    )?;
    let mut ok = true;
    let url = match f.get("url") {
        Some((k, v)) => schema::non_empty(r, k, v).and_then(|u| match parse_ssh_url(&u.value) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                r.error(u.pos, format!("`url` {e}"));
                None
            }
        }),
        None => {
            r.error(key.pos, format!("repo `{}` is missing `url`", key.name));
            None
        }
    };
    let identity = match f.get("identity") {
        Some((k, v)) => schema::non_empty(r, k, v),
        None => {
            r.error(
                key.pos,
                format!(
                    "repo `{}` is missing `identity` (the SSH key the gate pushes with)",
                    key.name
                ),
            );
            None
        }
    };
    let host_key = f
        .get("host_key")
        .and_then(|(k, v)| schema::non_empty(r, k, v))
        .map(|s| s.value);
    let mut push_branches = Vec::new();
    if let Some((k, v)) = f.get("push_branches") {
        for b in schema::string_list(r, k, v).unwrap_or_default() {
            if b.value.is_empty()
                || b.value.contains([' ', '~', '^', ':', '\\'])
                || b.value.starts_with('-')
            {
                r.error(
                    b.pos,
                    format!("`{}` is not a valid branch pattern", b.value),
                );
                ok = false;
            } else {
                push_branches.push(b.value);
            }
        }
    }
    Some(GitRepo {
        name: key.name.clone(),
        url: url?,
        identity: identity?,
        host_key,
        push_branches,
        pos: key.pos,
    })
    .filter(|_| ok)
}

/// `ssh://user@host[:port]/path`
pub fn parse_ssh_url(url: &str) -> Result<SshUrl, String> {
    let rest = url
        .strip_prefix("ssh://")
        .ok_or("must look like ssh://user@host[:port]/path")?;
    let (authority, path) = rest
        .split_once('/')
        .ok_or("needs a path after the host (ssh://user@host/path)")?;
    let (user, hostport) = authority
        .split_once('@')
        .ok_or("needs a user (ssh://user@host/path)")?;
    if user.is_empty() {
        return Err("needs a non-empty user".into());
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or(format!("has an invalid port `{p}`"))?,
        ),
        None => (hostport, 22),
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err("needs a host".into());
    }
    if path.is_empty() {
        return Err("needs a non-empty path".into());
    }
    Ok(SshUrl {
        user: user.into(),
        host: host.to_lowercase(),
        port,
        path: path.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_ssh_url;

    #[test]
    fn ssh_urls() {
        let u = parse_ssh_url("ssh://git@Git.Example.com:2222/acme/app.git").expect("valid");
        assert_eq!(
            (u.user.as_str(), u.host.as_str(), u.port, u.path.as_str()),
            ("git", "git.example.com", 2222, "acme/app.git")
        );
        assert_eq!(parse_ssh_url("ssh://git@h/p").expect("valid").port, 22);
        for bad in [
            "git@h:p",
            "ssh://h/p",
            "ssh://@h/p",
            "ssh://git@h",
            "ssh://git@h:x/p",
            "ssh://git@h/",
        ] {
            assert!(parse_ssh_url(bad).is_err(), "{bad}");
        }
    }
}
