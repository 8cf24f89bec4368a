//! The gate's side of an upstream: the environment a git process needs to
//! reach it (the SSH key and the pinned host key, or the token as an
//! `Authorization` header scoped to the upstream's URL; never in an
//! argument), the sync before a fetch or push, and the push on.

use crate::policy::gitgate::{GateRepo, Upstream};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a sync or an upstream push may take.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the gate's processes find what they need.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The bare repositories.
    pub root: PathBuf,
    /// The read-only configuration directory (`gitgate.json`,
    /// `upstream_ca.pem`).
    pub config_dir: PathBuf,
    /// The secrets tmpfs (keys, tokens, canaries).
    pub secrets_dir: PathBuf,
    /// The gate's scratch directory on the tmpfs (known_hosts, CA
    /// bundle, an empty HOME, reports).
    pub scratch: PathBuf,
}

impl Paths {
    pub fn repo(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.git"))
    }
}

/// The environment every git process of the gate starts from: nothing of
/// the sidecar's, no system or global configuration, no prompts.
pub fn base_env(paths: &Paths) -> Vec<(OsString, OsString)> {
    [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("GIT_ASKPASS", "/bin/false"),
        ("SSH_ASKPASS", "/bin/false"),
        ("LANG", "C"),
        ("LC_ALL", "C"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .chain([("HOME".into(), paths.scratch.join("home").into_os_string())])
    .collect()
}

/// The environment that lets git reach `up` as this bottle.
pub fn auth_env(
    repo: &GateRepo,
    up: &Upstream,
    paths: &Paths,
) -> std::io::Result<Vec<(OsString, OsString)>> {
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    let mut config: Vec<(String, String)> = Vec::new();
    match up {
        Upstream::Ssh {
            host,
            port,
            identity,
            host_key,
            ..
        } => {
            let known = paths.scratch.join(format!("known_hosts-{}", repo.name));
            let pattern = if *port == 22 {
                host.clone()
            } else {
                format!("[{host}]:{port}")
            };
            super::write_file(&known, format!("{pattern} {host_key}\n").as_bytes(), 0o600)?;
            let key = paths.secrets_dir.join(identity);
            let cmd = format!(
                "ssh -F /dev/null -i '{}' -o IdentitiesOnly=yes -o IdentityAgent=none \
                 -o UserKnownHostsFile='{}' -o GlobalKnownHostsFile=/dev/null \
                 -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o CheckHostIP=no \
                 -o BatchMode=yes -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no \
                 -o ConnectTimeout=20 -o ServerAliveInterval=15 -o ServerAliveCountMax=4",
                key.display(),
                known.display()
            );
            env.push(("GIT_SSH_COMMAND".into(), cmd.into()));
            env.push(("GIT_SSH_VARIANT".into(), "ssh".into()));
        }
        Upstream::Https {
            url,
            scheme,
            secret,
        } => {
            let token = std::fs::read_to_string(paths.secrets_dir.join(secret))?;
            let token = token.trim();
            let value = if scheme.eq_ignore_ascii_case("basic") {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(token)
            } else {
                token.to_string()
            };
            // The header goes only to URLs under the upstream's origin;
            // redirects are not followed (a redirect could carry it away).
            config.push((
                format!("http.{}.extraHeader", origin(url)),
                format!("Authorization: {scheme} {value}"),
            ));
            config.push(("http.followRedirects".into(), "false".into()));
            config.push(("credential.helper".into(), String::new()));
            let extra = paths.config_dir.join("upstream_ca.pem");
            if extra.exists() {
                config.push((
                    "http.sslCAInfo".into(),
                    ca_bundle(paths, &extra)?.display().to_string(),
                ));
            }
            let proxy = paths
                .secrets_dir
                .join(crate::sidecar::egress::proxy::UPSTREAM_PROXY);
            if let Ok(p) = std::fs::read_to_string(proxy) {
                config.push(("http.proxy".into(), p.trim().to_string()));
            }
        }
    }
    env.push(("GIT_CONFIG_COUNT".into(), config.len().to_string().into()));
    for (i, (k, v)) in config.into_iter().enumerate() {
        env.push((format!("GIT_CONFIG_KEY_{i}").into(), k.into()));
        env.push((format!("GIT_CONFIG_VALUE_{i}").into(), v.into()));
    }
    Ok(env)
}

/// `https://host:port/path` → `https://host:port/`.
fn origin(url: &str) -> String {
    let rest = url.strip_prefix("https://").unwrap_or(url);
    let host = rest.split('/').next().unwrap_or(rest);
    format!("https://{host}/")
}

/// The system roots and the operator's `upstream_ca`, in one file.
fn ca_bundle(paths: &Paths, extra: &Path) -> std::io::Result<PathBuf> {
    let out = paths.scratch.join("ca-bundle.pem");
    let mut bytes = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    bytes.push(b'\n');
    bytes.extend(std::fs::read(extra)?);
    super::write_file(&out, &bytes, 0o644)?;
    Ok(out)
}

/// Runs git with this environment (plus `extra`); its stderr, sanitized,
/// as the error.
pub async fn git(
    paths: &Paths,
    extra: &[(OsString, OsString)],
    args: &[&str],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(args)
        .env_clear()
        .envs(base_env(paths))
        .envs(extra.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| {
            format!(
                "git {} took longer than {}s",
                args.first().unwrap_or(&""),
                timeout.as_secs()
            )
        })?
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(tail(&out.stderr))
    }
}

/// The last lines of a git error, made inert.
pub fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(6);
    lines[start..]
        .iter()
        .map(|l| crate::sanitize::inline(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Brings the gate's copy up to the upstream: its branches and tags
/// (pruned), fail closed.
pub async fn sync(repo: &GateRepo, paths: &Paths) -> Result<(), String> {
    let Some(up) = &repo.upstream else {
        return Ok(());
    };
    let env = auth_env(repo, up, paths)
        .map_err(|e| format!("the gate's credentials for `{}`: {e}", repo.name))?;
    let dir = paths.repo(&repo.name);
    let dir = dir.display().to_string();
    git(
        paths,
        &env,
        &[
            "--git-dir",
            &dir,
            "fetch",
            "--quiet",
            "--prune",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            up.url(),
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ],
        UPSTREAM_TIMEOUT,
    )
    .await
    .map_err(|e| {
        format!(
            "the git gate could not fetch `{}` from {}:\n{e}",
            repo.name,
            up.url()
        )
    })?;
    // HEAD follows the upstream's default branch (a clone checks it out).
    let head_ok = git(
        paths,
        &[],
        &[
            "--git-dir",
            &dir,
            "rev-parse",
            "--verify",
            "--quiet",
            "HEAD",
        ],
        UPSTREAM_TIMEOUT,
    )
    .await
    .is_ok();
    if !head_ok {
        let listed = git(
            paths,
            &env,
            &["ls-remote", "--symref", up.url(), "HEAD"],
            UPSTREAM_TIMEOUT,
        )
        .await
        .unwrap_or_default();
        let text = String::from_utf8_lossy(&listed);
        let target = text
            .lines()
            .find_map(|l| l.strip_prefix("ref: ")?.strip_suffix("\tHEAD"))
            .filter(|r| r.starts_with("refs/heads/") && !r.contains(['\n', ' ']));
        if let Some(target) = target {
            let _ = git(
                paths,
                &[],
                &["--git-dir", &dir, "symbolic-ref", "HEAD", target],
                UPSTREAM_TIMEOUT,
            )
            .await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_scoped_to_the_upstreams_origin() {
        assert_eq!(
            origin("https://h.test:8443/a/b.git"),
            "https://h.test:8443/"
        );
        assert_eq!(origin("https://h.test/a.git"), "https://h.test/");
    }

    #[test]
    fn an_https_token_travels_in_the_environment_scoped_and_without_redirects() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths = Paths {
            root: dir.path().join("root"),
            config_dir: dir.path().join("cfg"),
            secrets_dir: dir.path().join("sec"),
            scratch: dir.path().join("scratch"),
        };
        for d in [&paths.secrets_dir, &paths.scratch, &paths.config_dir] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(paths.secrets_dir.join("gitgate-r.token"), "u:p\n").expect("write");
        let repo = GateRepo {
            name: "r".into(),
            upstream: None,
            push_branches: vec![],
            known_commits: vec![],
        };
        let up = Upstream::Https {
            url: "https://h.test/r.git".into(),
            scheme: "Basic".into(),
            secret: "gitgate-r.token".into(),
        };
        let env = auth_env(&repo, &up, &paths).expect("env");
        let get = |k: &str| {
            env.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(
            get("GIT_CONFIG_KEY_0").as_deref(),
            Some("http.https://h.test/.extraHeader")
        );
        assert_eq!(
            get("GIT_CONFIG_VALUE_0").as_deref(),
            Some("Authorization: Basic dTpw")
        );
        assert_eq!(
            get("GIT_CONFIG_KEY_1").as_deref(),
            Some("http.followRedirects")
        );
        assert_eq!(get("GIT_CONFIG_VALUE_1").as_deref(), Some("false"));
    }
}
