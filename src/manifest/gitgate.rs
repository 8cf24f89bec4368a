//! `git-gate:` — commit identity and upstream repositories (SPEC §3.1, §5.5).

use super::schema::{self, fields, Report};
use super::yaml::{Key, Node, Value};
use super::{GitGate, GitRepo, GitUser, HttpsUrl, RepoUrl, SshUrl};
use std::collections::BTreeMap;

/// The workspace's own repository at the gate (`policy::gitgate::
/// WORKSPACE_REPO`; manifest imports nothing, a test in `backends` keeps
/// the two equal).
pub const WORKSPACE_REPO: &str = "workspace";

const REPO_KEYS: &[&str] = &["url", "identity", "host_key", "auth", "push_branches"];

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
                "`{}` must be a mapping of name: {{ url, identity, host_key }} or {{ url, auth }}, found {}",
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
    if key.name == WORKSPACE_REPO {
        r.error(key.pos, format!("repo name `{}` is reserved for the workspace's own repository (the agent's `origin`); choose another name", key.name));
        ok = false;
    }
    let url = match f.get("url") {
        Some((k, v)) => schema::non_empty(r, k, v).and_then(|u| match parse_repo_url(&u.value) {
            Ok(parsed) => Some((parsed, u.value)),
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
    let identity = f
        .get("identity")
        .and_then(|(k, v)| schema::non_empty(r, k, v));
    let auth = f
        .get("auth")
        .and_then(|(k, v)| super::route::parse_auth(r, k.pos, v));
    let host_key = match f.get("host_key") {
        Some((k, v)) => schema::non_empty(r, k, v).and_then(|s| match parse_host_key(&s.value) {
            Ok(line) => Some(line),
            Err(e) => {
                r.error(s.pos, format!("`host_key` {e}"));
                ok = false;
                None
            }
        }),
        None => None,
    };
    // The kind by the URL's scheme, even when the rest of it is wrong.
    let https = f
        .get("url")
        .and_then(|(_, v)| match &v.value {
            Value::Str(s) => Some(s.starts_with("https://")),
            _ => None,
        })
        .unwrap_or(false);
    match https {
        false => {
            if identity.is_none() {
                r.error(
                    key.pos,
                    format!(
                        "repo `{}` is missing `identity` (the SSH key the gate pushes with)",
                        key.name
                    ),
                );
                ok = false;
            }
            if let Some((k, _)) = f.get("auth") {
                r.error(k.pos, "`auth` is for `https://` upstreams; an `ssh://` upstream uses `identity` and `host_key`");
                ok = false;
            }
        }
        true => {
            if auth.is_none() && f.get("auth").is_none() {
                r.error(key.pos, format!("repo `{}` is missing `auth: {{ scheme, token_ref }}` (the token the gate sends to the https upstream)", key.name));
                ok = false;
            }
            for field in ["identity", "host_key"] {
                if let Some((k, _)) = f.get(field) {
                    r.error(k.pos, format!("`{field}` is for `ssh://` upstreams; an `https://` upstream uses `auth: {{ scheme, token_ref }}`"));
                    ok = false;
                }
            }
        }
    }
    let mut push_branches = Vec::new();
    if let Some((k, v)) = f.get("push_branches") {
        for b in schema::string_list(r, k, v).unwrap_or_default() {
            if !valid_pattern(&b.value) {
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
    let (url, url_text) = url?;
    Some(GitRepo {
        name: key.name.clone(),
        url,
        url_text,
        identity,
        host_key,
        auth,
        push_branches,
        definition: r.path.to_path_buf(),
        pos: key.pos,
    })
    .filter(|_| ok)
}

/// A branch pattern (`bottle/*`) or a whole-ref pattern (`refs/tags/v*`):
/// what `git check-ref-format` allows, with `*` as the wildcard.
fn valid_pattern(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with(['-', '/'])
        && !p.ends_with(['/', '.'])
        && !p.contains(['~', '^', ':', '\\', '?', '[', ' ', '\t'])
        && !p.contains("..")
        && !p.contains("//")
        && !p.contains("@{")
        && !p.chars().any(char::is_control)
        && !p
            .split('/')
            .any(|c| c.starts_with('.') || c.ends_with(".lock"))
}

/// `ssh-ed25519 AAAA…` (an optional comment dropped): the key type and its
/// base64 body, as a `known_hosts` line wants them after the host.
fn parse_host_key(s: &str) -> Result<String, String> {
    let mut parts = s.split_whitespace();
    let (Some(kind), Some(body)) = (parts.next(), parts.next()) else {
        return Err("must be `<type> <base64 key>`, e.g. `ssh-ed25519 AAAA…` (from `ssh-keyscan -t ed25519 host`, without the host name)".into());
    };
    let known = [
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    if !known.contains(&kind) {
        return Err(format!(
            "has an unknown key type `{kind}` (expected one of {}); write the key without the host name",
            known.join(", ")
        ));
    }
    let b64 = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
    if !b64 {
        return Err("has a key body that is not base64".into());
    }
    Ok(format!("{kind} {body}"))
}

/// `ssh://user@host[:port]/path` or `https://host[:port]/path`.
pub fn parse_repo_url(url: &str) -> Result<RepoUrl, String> {
    if url.starts_with("ssh://") {
        return parse_ssh_url(url).map(RepoUrl::Ssh);
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(
            "must look like ssh://user@host[:port]/path or https://host[:port]/path".into(),
        );
    };
    let (authority, path) = rest
        .split_once('/')
        .ok_or("needs a path after the host (https://host/path)")?;
    if authority.contains('@') {
        return Err("must not carry a user or password (https://host/path with `auth: { scheme, token_ref }`)".into());
    }
    if path.is_empty() || path.contains(['?', '#']) || path.chars().any(char::is_whitespace) {
        return Err("needs a plain path (no query or fragment)".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or(format!("has an invalid port `{p}`"))?,
        ),
        None => (authority, 443),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
    {
        return Err("needs a host name".into());
    }
    Ok(RepoUrl::Https(HttpsUrl {
        host: host.to_lowercase(),
        port,
        path: path.into(),
    }))
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
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
    {
        return Err("needs a host name".into());
    }
    if path.is_empty() || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("needs a non-empty path without spaces".into());
    }
    if user.starts_with('-')
        || !user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(format!("has an invalid user `{user}`"));
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
