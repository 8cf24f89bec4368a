//! `bottle routes <slug> [--revoke HOST]`: a bottle's live egress routes
//! (its `routes.json`, which the sidecar reloads within a second), or the
//! removal of every route for one host.

use super::definitions::Context;
use crate::backends::egress::{egress_dir, lock};
use crate::policy::routes::{normalize_host, RoutesFile};
use crate::state::names::Slug;
use anyhow::{bail, Context as _, Result};

pub fn routes(ctx: &Context, slug_text: &str, revoke: Option<&str>) -> Result<i32> {
    let slug = Slug::parse(slug_text)?;
    let dir = egress_dir(&ctx.home.state_dir(slug.as_str()));
    let path = dir.join("routes.json");
    if !path.exists() {
        bail!("no routes for `{slug}` ({} is missing)", path.display());
    }
    let _lock = lock(&dir)?;
    let read = || -> Result<RoutesFile> {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
    };
    let mut file = read()?;
    if let Some(host) = revoke {
        let wanted = host
            .strip_prefix("*.")
            .map(|h| (normalize_host(h).map(|n| format!("*.{n}")), h))
            .unwrap_or((normalize_host(host), host));
        let Some(wanted) = wanted.0 else {
            bail!("`{}` is not a host name", wanted.1);
        };
        let before = file.routes.len();
        file.routes.retain(|r| r.host != wanted);
        let removed = before - file.routes.len();
        if removed == 0 {
            bail!(
                "`{slug}` has no route for {wanted} (routes: {})",
                file.routes
                    .iter()
                    .map(|r| r.host.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let text = serde_json::to_string_pretty(&file)?;
        crate::state::write_atomic(&path, text.as_bytes(), 0o644)?;
        eprintln!(
            "bottle: revoked {removed} route(s) for {wanted} in {slug}; the sidecar drops them within a second (open connections finish their current request)"
        );
        return Ok(0);
    }
    println!(
        "{:<32} {:<10} {:<28} {:<12} {:<22} SOURCE",
        "HOST", "PORTS", "PATHS", "METHODS", "CREDENTIAL"
    );
    for r in &file.routes {
        let join = |v: &[String], none: &str| {
            if v.is_empty() {
                none.to_string()
            } else {
                v.join(",")
            }
        };
        let ports = r.ports_text();
        let mut cred = r.auth.as_ref().map_or("-".to_string(), |a| {
            format!("{} injected", crate::sanitize::inline(&a.scheme))
        });
        if r.tls_passthrough {
            cred = "passthrough".into();
        }
        println!(
            "{:<32} {:<10} {:<28} {:<12} {:<22} {}",
            crate::control::describe::host(&r.host),
            ports,
            crate::sanitize::inline(&join(&r.path_allowlist, "/")),
            crate::sanitize::inline(&join(&r.methods, "any")),
            cred,
            crate::sanitize::inline(&r.source)
        );
    }
    Ok(0)
}
