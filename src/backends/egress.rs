//! The host's half of the egress proxy: `state/<slug>/egress/` holds the
//! bottle's CA (minted once, kept across resumes so the agent's bundle stays
//! valid; the key 0600, read-only to the sidecar, never in the agent),
//! `routes.json` (written only here, under a lock, by temp file + rename)
//! and `upstream_ca.pem`. The secret values routes inject are read from the
//! host's environment at launch and handed to the sidecar after it starts
//! (never in a file here, never in configuration).

use crate::backends::plan::Plan;
use crate::manifest::Route;
use crate::policy::routes::{RouteAuth, RouteEntry, RoutesFile, VERSION};
use crate::secret::Secret;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where the sidecar sees the egress directory (read-only).
pub const SIDECAR_EGRESS_DIR: &str = "/etc/bottle/egress";
/// Where the sidecar keeps secret values: its own tmpfs.
pub const SIDECAR_SECRETS_DIR: &str = "/tmp/secrets";
/// The secrets entry holding `egress.upstream_proxy`.
pub const UPSTREAM_PROXY: &str = crate::sidecar::egress::proxy::UPSTREAM_PROXY;

/// What a launch needs from the egress setup.
pub struct EgressSetup {
    /// `state/<slug>/egress/`, bound read-only into the sidecar.
    pub dir: PathBuf,
    /// The bottle CA's certificate (for the agent's CA bundle).
    pub ca_pem: String,
    /// Values for the sidecar's secrets directory: route credentials
    /// (`t0`, `t1`, …) and `canary-<NAME>` for the session's `?`/`${}`
    /// values that DLP watches for.
    pub secrets: Vec<(String, Secret)>,
    /// Files for the agent's home that depend on the operator's machine
    /// (path under `/`, bytes, mode): Codex's placeholder login.
    pub agent_files: Vec<(String, Vec<u8>, u32)>,
}

pub fn egress_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("egress")
}

/// Mints the CA if this bottle has none, writes routes.json from the plan
/// (keeping routes the operator approved earlier) and collects the secret
/// values. `session_env`: the session's `?`/`${}` values (DLP canaries).
pub fn prepare(
    state_dir: &Path,
    plan: &Plan,
    session_env: &[(String, Secret)],
    host_home: &Path,
) -> Result<EgressSetup> {
    let dir = egress_dir(state_dir);
    crate::state::create_private_dir(&dir)?;
    let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
    if !cert_path.exists() || !key_path.exists() {
        let (cert, key) = crate::sidecar::egress::ca::mint_ca(plan.slug.as_str())
            .context("minting the bottle's CA")?;
        crate::state::write_atomic(&key_path, key.as_bytes(), 0o600)?;
        crate::state::write_atomic(&cert_path, cert.as_bytes(), 0o644)?;
    }
    let ca_pem = std::fs::read_to_string(&cert_path)
        .with_context(|| format!("reading {}", cert_path.display()))?;
    let mut secrets = Vec::new();
    let mut routes = Vec::new();
    for (i, r) in plan.bottle.egress.routes.iter().enumerate() {
        let auth = match &r.auth {
            Some(a) => {
                let var = &a.token_ref.value;
                let Ok(value) = std::env::var(var) else {
                    bail!(
                        "egress route {}: token_ref {var} is not set in this environment",
                        r.display_host()
                    );
                };
                let name = format!("t{i}");
                secrets.push((name.clone(), Secret::new(value)));
                Some(RouteAuth {
                    scheme: a.scheme.to_string(),
                    secret: name,
                    token_ref: Some(var.clone()),
                })
            }
            None => None,
        };
        routes.push(entry(r, auth, "definition"));
    }
    // Provider routes (SPEC §5.3): Claude's API with the operator's token
    // when `auth_token` names one; OpenAI's hosts with the operator's Codex
    // login when `forward_host_credentials` is on. A definition route for
    // the same host refines it (paths, methods, `ssrf_ip_allowlist`) and
    // gets the provider's credential unless it carries its own.
    let provider = &plan.bottle.agent_provider;
    let mut agent_files = Vec::new();
    let credential = match provider.template {
        crate::manifest::Template::Claude => match &provider.auth_token {
            Some(var) => {
                let Ok(value) = std::env::var(&var.value) else {
                    bail!(
                        "agent_provider.auth_token: {} is not set in this environment",
                        var.value
                    );
                };
                Some((&["api.anthropic.com"][..], value, Some(var.value.clone())))
            }
            None => None,
        },
        crate::manifest::Template::Codex if provider.forward_host_credentials => {
            let path = super::codex_auth::auth_path(
                host_home,
                std::env::var("CODEX_HOME").ok().as_deref(),
            );
            let now = time::OffsetDateTime::now_utc();
            let iso = format!(
                "{}Z",
                now.format(&time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
                ))
                .unwrap_or_default()
            );
            let login = super::codex_auth::load(&path, now.unix_timestamp().max(0) as u64, &iso)
                .map_err(anyhow::Error::msg)?;
            agent_files.push((
                super::provider::CODEX_AUTH_SEED.to_string(),
                login.dummy.into_bytes(),
                0o600,
            ));
            Some((
                &super::codex_auth::HOSTS[..],
                login.access_token.expose().to_string(),
                None,
            ))
        }
        _ => None,
    };
    if let Some((hosts, value, token_ref)) = credential {
        let auth = RouteAuth {
            scheme: "Bearer".into(),
            secret: "provider".into(),
            token_ref,
        };
        let mut used = false;
        for (i, host) in hosts.iter().enumerate() {
            match routes.iter_mut().find(|r| r.host == *host) {
                Some(r) if r.auth.is_some() => {}
                Some(r) => {
                    r.auth = Some(auth.clone());
                    used = true;
                }
                None => {
                    routes.insert(i, provider_route(host, auth.clone()));
                    used = true;
                }
            }
        }
        if used {
            secrets.push(("provider".into(), Secret::new(value)));
        }
    }
    for (name, value) in session_env {
        if value.expose().len() >= crate::policy::dlp::MIN_CANARY {
            secrets.push((format!("canary-{name}"), value.clone()));
        }
    }
    // The operator's proxy (SPEC §3.1 `upstream_proxy`): its URL may carry
    // credentials, so it travels like a secret.
    if let Some(url) = &plan.bottle.egress.upstream_proxy {
        if !url.value.starts_with("http://") {
            bail!(
                "egress.upstream_proxy {}: only http:// proxies are supported (the connection to the upstream inside it is TLS)",
                url.value
            );
        }
        secrets.push((UPSTREAM_PROXY.into(), Secret::new(url.value.clone())));
    }
    if let Some(ca) = &plan.bottle.egress.upstream_ca {
        let path = expand(&ca.value, host_home, &plan.bottle.egress.path);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("egress.upstream_ca: reading {}", path.display()))?;
        crate::state::write_atomic(&dir.join("upstream_ca.pem"), &bytes, 0o644)?;
    }
    write_routes(&dir, routes)?;
    // The git gate's configuration beside the routes, its keys and tokens
    // with the other secrets.
    let gate = super::gitgate::prepare(
        &plan.bottle.git_repos,
        host_home,
        plan.gate_workspace.as_deref(),
        &|v| std::env::var(v).ok(),
    )?;
    let json = serde_json::to_string_pretty(&gate.file)?;
    crate::state::write_atomic(
        &dir.join(crate::policy::gitgate::FILE_NAME),
        json.as_bytes(),
        0o644,
    )?;
    secrets.extend(gate.secrets);
    agent_files.push((
        super::gitgate::AGENT_CONFIG.into(),
        gate.agent_config.into_bytes(),
        0o644,
    ));
    Ok(EgressSetup {
        dir,
        ca_pem,
        secrets,
        agent_files,
    })
}

fn provider_route(host: &str, auth: RouteAuth) -> RouteEntry {
    RouteEntry {
        host: host.into(),
        ports: vec![443],
        path_allowlist: vec![],
        methods: vec![],
        auth: Some(auth),
        tls_passthrough: false,
        ssrf_ip_allowlist: vec![],
        websocket: false,
        dlp_exempt: vec![],
        source: "provider".into(),
    }
}

fn entry(r: &Route, auth: Option<RouteAuth>, source: &str) -> RouteEntry {
    RouteEntry {
        host: r.display_host(),
        ports: r.ports.clone(),
        path_allowlist: r.path_allowlist.clone(),
        methods: r.methods.clone(),
        auth,
        tls_passthrough: r.tls_passthrough,
        ssrf_ip_allowlist: r.ssrf_ip_allowlist.iter().map(|n| n.to_string()).collect(),
        websocket: r.websocket,
        dlp_exempt: r.dlp_exempt.clone(),
        source: source.to_string(),
    }
}

/// `~/x` from the operator's home; a relative path from the definition's
/// directory.
fn expand(p: &str, host_home: &Path, definition: &Path) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        return host_home.join(rest);
    }
    let path = PathBuf::from(p);
    if path.is_absolute() {
        path
    } else {
        definition.parent().map_or(path.clone(), |d| d.join(&path))
    }
}

/// Writes routes.json under the directory's lock: the definition's routes
/// replace the old ones, routes the operator approved (`approved:<id>`)
/// are kept.
pub fn write_routes(dir: &Path, definition_routes: Vec<RouteEntry>) -> Result<()> {
    let _lock = lock(dir)?;
    let path = dir.join("routes.json");
    let mut routes = definition_routes;
    if let Ok(old) = std::fs::read_to_string(&path) {
        if let Ok(file) = serde_json::from_str::<RoutesFile>(&old) {
            routes.extend(
                file.routes
                    .into_iter()
                    .filter(|r| r.source.starts_with("approved:")),
            );
        }
    }
    let text = serde_json::to_string_pretty(&RoutesFile {
        version: VERSION,
        routes,
    })?;
    // What the sidecar will accept, checked before it is written.
    crate::policy::routes::Table::parse(&text).map_err(anyhow::Error::msg)?;
    crate::state::write_atomic(&path, text.as_bytes(), 0o644)
}

/// The route an approved `request_egress` adds (`approved:<id>`). It takes
/// the ports, credential and SSRF allowlist of the bottle's own route for
/// the same host, if there is one (never a credential on a wildcard), so
/// the operator sees and grants exactly what will be live.
pub fn approved_route(dir: &Path, id: &str, ask: &crate::queue::EgressAsk) -> Result<RouteEntry> {
    let text = std::fs::read_to_string(dir.join("routes.json"))
        .with_context(|| format!("reading {}", dir.join("routes.json").display()))?;
    let file: RoutesFile = serde_json::from_str(&text).context("routes.json")?;
    let wildcard = ask.host.starts_with("*.");
    let bare = ask.host.strip_prefix("*.").unwrap_or(&ask.host);
    let host = crate::policy::routes::normalize_host(bare)
        .with_context(|| format!("`{bare}` is not a host name"))?;
    let host = if wildcard { format!("*.{host}") } else { host };
    let own = file
        .routes
        .iter()
        .find(|r| r.host == host && !r.source.starts_with("approved:"));
    Ok(RouteEntry {
        host,
        ports: own.map(|r| r.ports.clone()).unwrap_or_default(),
        path_allowlist: ask.path_prefix.iter().cloned().collect(),
        methods: ask.methods.clone().unwrap_or_default(),
        auth: own
            .filter(|r| !wildcard && !r.tls_passthrough)
            .and_then(|r| r.auth.clone()),
        tls_passthrough: false,
        ssrf_ip_allowlist: own.map(|r| r.ssrf_ip_allowlist.clone()).unwrap_or_default(),
        websocket: false,
        dlp_exempt: vec![],
        source: format!("approved:{id}"),
    })
}

/// Adds `route` to routes.json under the lock (checked with the sidecar's
/// parser first). The sidecar serves it within a second.
pub fn add_route(dir: &Path, route: RouteEntry) -> Result<()> {
    let _lock = lock(dir)?;
    let path = dir.join("routes.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut file: RoutesFile = serde_json::from_str(&text).context("routes.json")?;
    // Idempotent: a decider that died after this write and before its
    // decision was published is followed by one that writes it again.
    file.routes.retain(|r| r.source != route.source);
    file.routes.push(route);
    let text = serde_json::to_string_pretty(&file)?;
    crate::policy::routes::Table::parse(&text).map_err(anyhow::Error::msg)?;
    crate::state::write_atomic(&path, text.as_bytes(), 0o644)
}

/// An exclusive lock on `dir/routes.lock`, held while the guard lives.
pub fn lock(dir: &Path) -> Result<crate::state::FileLock> {
    crate::state::lock_file(&dir.join("routes.lock"))
}

/// The agent's CA bundle: the host's system roots (for passthrough routes)
/// and the bottle's CA (for everything the proxy intercepts).
pub fn ca_bundle(ca_pem: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for system in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ] {
        if let Ok(b) = std::fs::read(system) {
            out.extend_from_slice(&b);
            if !out.ends_with(b"\n") {
                out.push(b'\n');
            }
            break;
        }
    }
    out.extend_from_slice(b"# bottle egress CA (this bottle's proxy)\n");
    out.extend_from_slice(ca_pem.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approved_routes_survive_a_rewrite_and_bad_routes_are_not_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let route = |host: &str, source: &str| RouteEntry {
            host: host.into(),
            ports: vec![],
            path_allowlist: vec![],
            methods: vec![],
            auth: None,
            tls_passthrough: false,
            ssrf_ip_allowlist: vec![],
            websocket: false,
            dlp_exempt: vec![],
            source: source.into(),
        };
        write_routes(
            dir.path(),
            vec![
                route("a.example", "definition"),
                route("b.example", "approved:01J"),
            ],
        )
        .expect("write");
        write_routes(dir.path(), vec![route("c.example", "definition")]).expect("rewrite");
        let text = std::fs::read_to_string(dir.path().join("routes.json")).expect("read");
        let table = crate::policy::routes::Table::parse(&text).expect("valid");
        let hosts: Vec<&str> = table.routes.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(hosts, vec!["c.example", "b.example"]);
        assert!(write_routes(dir.path(), vec![route("BAD host", "definition")]).is_err());
        let after = std::fs::read_to_string(dir.path().join("routes.json")).expect("read");
        assert_eq!(after, text, "a refused write leaves the file as it was");
    }
}
