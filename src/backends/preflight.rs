//! The preflight text (SPEC §6): exactly what a launch grants, rendered
//! from the `Plan`. Names of env values only, never values. Hosts in
//! punycode with the Unicode form beside them; all text sanitized.

use super::plan::{effective_routes, EnvPlan, ImageSource, Plan};
use crate::manifest::Template;
use crate::sanitize::inline;
use std::fmt::Write as _;

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        let _ = writeln!(out, "{label:<11}{}", text);
    };
    let a = &plan.agent;
    let b = &plan.bottle;
    let mut who = format!(
        "{}  ({})",
        inline(&a.display_name()),
        inline(&a.def.path.display().to_string())
    );
    if a.is_repo() {
        who.push_str(if a.trusted {
            "  repo agent, trusted"
        } else {
            "  repo agent, NOT trusted yet"
        });
    }
    line("agent", who);
    if let Some(home_bottle) = &a.shadows_home_bottle {
        line(
            "",
            format!(
                "overrides home agent; bottle {} → {}",
                inline(home_bottle),
                inline(&b.name)
            ),
        );
    }
    line(
        "bottle",
        format!(
            "{}  (slug {})",
            b.chain
                .iter()
                .map(|c| inline(c))
                .collect::<Vec<_>>()
                .join(" extends "),
            plan.slug
        ),
    );
    line("provider", b.agent_provider.template.to_string());
    let img = &plan.agent_image;
    let how = match (&img.source, img.build) {
        (ImageSource::Template(t), true) => {
            format!("will be built from the built-in `{t}` template")
        }
        (ImageSource::Template(_), false) => "present".to_string(),
        (ImageSource::Dockerfile(p), _) => {
            format!("will be built from {}", inline(&p.display().to_string()))
        }
        (ImageSource::Prebuilt, false) => "present".to_string(),
        (ImageSource::Prebuilt, true) => "not present: will be pulled".to_string(),
        (ImageSource::Capability(_), false) => "an approved capability, present".to_string(),
        (ImageSource::Capability(p), true) => format!(
            "an approved capability, will be built without network from {}",
            inline(&p.display().to_string())
        ),
    };
    line("image", format!("{}  ({how})", inline(&img.reference)));
    let sidecar = if plan.sidecar_image.build {
        "will be built"
    } else {
        "present"
    };
    line(
        "sidecar",
        format!("{}  ({sidecar})", plan.sidecar_image.reference),
    );
    let rt = &plan.runtime;
    line(
        "runtime",
        format!(
            "{}  ({}; engine {})",
            rt.name,
            crate::sanitize::inline(&rt.note),
            plan.engine
        ),
    );
    let r = &plan.resources;
    line(
        "resources",
        format!(
            "memory {}, cpus {}, pids {}",
            human_bytes(r.memory_bytes),
            r.cpus,
            r.pids
        ),
    );
    if plan.env.is_empty() {
        line("env", "none from the definition".into());
    }
    for e in &plan.env {
        let how = match e {
            EnvPlan::Literal { .. } => "literal".to_string(),
            EnvPlan::Prompt { .. } => "asked at launch, masked".to_string(),
            EnvPlan::Host { var, .. } => format!("from host ${}", inline(var)),
        };
        line("env", format!("{}  ({how})", inline(e.name())));
    }
    let skills: Vec<String> = a.def.skills.iter().map(|s| inline(&s.value)).collect();
    line(
        "skills",
        if skills.is_empty() {
            "none".into()
        } else {
            skills.join(", ")
        },
    );
    let u = &plan.git_user;
    if u.name.is_some() || u.email.is_some() {
        line(
            "git user",
            format!(
                "{} <{}>",
                inline(u.name.as_deref().unwrap_or("-")),
                inline(u.email.as_deref().unwrap_or("-"))
            ),
        );
    }
    if b.git_repos.is_empty() && plan.gate_workspace.is_none() {
        line("git gate", "none".into());
    }
    for repo in b.git_repos.values() {
        line(
            "git gate",
            inline(&crate::backends::gitgate::describe(repo)),
        );
    }
    if plan.gate_workspace.is_some() {
        line(
            "git gate",
            format!(
                "workspace → origin at the gate; pushes land as refs/remotes/bottle/{}/<branch> (bottle fetch {})",
                plan.slug.as_str(),
                plan.slug.as_str()
            ),
        );
    }
    let routes = effective_routes(b);
    if routes.is_empty() {
        line(
            "egress",
            "none: nothing in the bottle can reach the network".into(),
        );
    }
    for (host, route) in routes {
        line("egress", route_text(plan, &host, route));
    }
    if let Some(p) = &b.egress.upstream_proxy {
        // The URL may carry credentials: never shown.
        let shown = match p.value.split_once("://") {
            Some((scheme, rest)) => {
                let hostport = rest.rsplit('@').next().unwrap_or(rest);
                let hidden = if rest.contains('@') {
                    "  (credentials not shown)"
                } else {
                    ""
                };
                format!("{scheme}://{hostport}{hidden}")
            }
            None => p.value.clone(),
        };
        line("upstream", format!("through the proxy {}", inline(&shown)));
    }
    if let Some(ca) = &b.egress.upstream_ca {
        line(
            "upstream",
            format!("also trusts the CA in {}", inline(&ca.value)),
        );
    }
    line(
        "supervise",
        if b.supervise {
            "on: the agent can ask for more egress, a capability or an answer".into()
        } else {
            "off".into()
        },
    );
    match &plan.workspace {
        Some(w) => line(
            "workspace",
            format!(
                "{} → /workspace: {} files, {}  ({} skipped)",
                inline(&w.root.display().to_string()),
                w.files,
                human_bytes(w.bytes),
                w.skipped
            ),
        ),
        None => line("workspace", "not copied".into()),
    }
    out
}

fn route_text(plan: &Plan, host: &str, route: Option<&crate::manifest::Route>) -> String {
    let mut parts = vec![inline(host)];
    if let Some(u) = route.and_then(|r| r.unicode_host.as_ref()) {
        parts.push(format!("({})", inline(u)));
    }
    let p = &plan.bottle.agent_provider;
    // The provider's credential, unless the definition's route for the
    // host brings its own (backends::egress).
    if p.provider_hosts().contains(&host) && route.is_none_or(|r| r.auth.is_none()) {
        match p.template {
            Template::Claude => parts.push(format!(
                "{} will be injected (provider)",
                p.auth_token.as_ref().map_or("", |t| t.value.as_str())
            )),
            _ => parts.push("the host's Codex login will be injected (provider)".into()),
        }
    }
    let Some(r) = route else {
        return parts.join("  ");
    };
    parts.push(if r.ports.is_empty() {
        "ports 443/80".into()
    } else {
        format!(
            "ports {}",
            r.ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    });
    if !r.path_allowlist.is_empty() {
        parts.push(format!(
            "paths {}",
            r.path_allowlist
                .iter()
                .map(|p| inline(p))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if !r.methods.is_empty() {
        parts.push(format!("methods {}", r.methods.join(",")));
    }
    if let Some(a) = &r.auth {
        parts.push(format!(
            "{} will be injected ({})",
            inline(&a.token_ref.value),
            a.scheme
        ));
    }
    if r.tls_passthrough {
        parts.push("TLS passthrough: not inspected".into());
    }
    if r.websocket {
        parts.push("websocket".into());
    }
    if !r.ssrf_ip_allowlist.is_empty() {
        parts.push(format!(
            "private addresses allowed: {}",
            r.ssrf_ip_allowlist
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    if !r.dlp_exempt.is_empty() {
        parts.push(format!("DLP exempt: {}", r.dlp_exempt.join(",")));
    }
    parts.join("  ")
}
