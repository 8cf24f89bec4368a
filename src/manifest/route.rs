//! `egress:` — upstream settings and route rules (SPEC §3.1, §5.3): host
//! normalization (lowercase, trailing dot, IDNA), `*.` wildcards, ports,
//! segment-aligned path prefixes, methods, auth pairs, CIDRs.

use super::schema::{self, fields, Report};
use super::yaml::{Node, Pos, Value};
use super::{AuthScheme, Egress, Route, RouteAuth};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Rule names of the sidecar's DLP scanner that a route may exempt.
pub const DLP_RULES: &[&str] = &[
    "aws-access-key",
    "github-token",
    "gitlab-token",
    "slack-token",
    "stripe-live-key",
    "google-api-key",
    "openai-key",
    "anthropic-key",
    "private-key",
    "jwt",
    "high-entropy-query",
];

const ROUTE_KEYS: &[&str] = &[
    "host",
    "ports",
    "path_allowlist",
    "methods",
    "auth",
    "tls_passthrough",
    "ssrf_ip_allowlist",
    "websocket",
    "dlp_exempt",
];
const ROUTE_LEGACY: &[(&str, &str)] = &[
    ("role", "is no longer supported: provider routes now come from `agent_provider`; remove `role`"),
    ("pipelock", "is no longer supported: set `tls_passthrough` and `ssrf_ip_allowlist` directly on the route"),
];

pub(crate) fn parse_egress(r: &mut Report, path: &Path, node: &Node) -> Option<Egress> {
    let f = fields(
        r,
        node,
        "`egress`",
        &["upstream_ca", "upstream_proxy", "routes"],
        &[],
    )?;
    let mut egress = Egress {
        path: path.to_path_buf(),
        pos: node.pos,
        ..Egress::default()
    };
    if let Some((k, v)) = f.get("upstream_ca") {
        egress.upstream_ca = schema::non_empty(r, k, v);
    }
    if let Some((k, v)) = f.get("upstream_proxy") {
        if let Some(url) = schema::non_empty(r, k, v) {
            match check_proxy_url(&url.value) {
                Ok(()) => egress.upstream_proxy = Some(url),
                Err(e) => r.error(url.pos, format!("`upstream_proxy` {e}")),
            }
        }
    }
    if let Some((k, v)) = f.get("routes") {
        let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
        for item in schema::list(r, k, v).unwrap_or(&[]) {
            let Some(route) = parse_route(r, item) else {
                continue;
            };
            let shown = route.display_host();
            if let Some(first) = seen.get(&shown) {
                r.error(
                    route.host_pos,
                    format!(
                        "host `{shown}` is already routed at line {}; merge the two routes",
                        first.line
                    ),
                );
                continue;
            }
            seen.insert(shown, route.host_pos);
            egress.routes.push(route);
        }
    }
    Some(egress)
}

fn check_proxy_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains('/') {
        return Err("must be scheme://host[:port] with no path".into());
    }
    let hostport = authority.rsplit('@').next().unwrap_or(authority);
    if let Some((_, port)) = hostport.rsplit_once(':') {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("has an invalid port `{port}`"));
        }
    }
    Ok(())
}

fn parse_route(r: &mut Report, node: &Node) -> Option<Route> {
    let f = fields(r, node, "an egress route", ROUTE_KEYS, ROUTE_LEGACY)?;
    let Some((hk, hv)) = f.get("host") else {
        r.error(node.pos, "route is missing `host`");
        return None;
    };
    let raw = schema::non_empty(r, hk, hv)?;
    let (host, wildcard) = match normalize_host(&raw.value) {
        Ok(h) => h,
        Err(e) => {
            r.error(raw.pos, e);
            return None;
        }
    };
    let unicode = idna::domain_to_unicode(&host).0;
    let mut route = Route {
        unicode_host: (unicode != host).then_some(unicode),
        host,
        wildcard,
        host_pos: hk.pos,
        pos: node.pos,
        ..Route::default()
    };
    if let Some((k, v)) = f.get("ports") {
        route.ports = ports(r, k, v);
    }
    if let Some((k, v)) = f.get("path_allowlist") {
        for p in schema::string_list(r, k, v).unwrap_or_default() {
            match check_path_prefix(&p.value) {
                Ok(()) => route.path_allowlist.push(p.value),
                Err(e) => r.error(p.pos, e),
            }
        }
    }
    if let Some((k, v)) = f.get("methods") {
        for m in schema::string_list(r, k, v).unwrap_or_default() {
            let up = m.value.to_ascii_uppercase();
            if !METHODS.contains(&up.as_str()) {
                r.error(
                    m.pos,
                    format!(
                        "unknown method `{}`{}",
                        m.value,
                        schema::suggestion(&up, METHODS.iter().copied())
                    ),
                );
            } else if !route.methods.contains(&up) {
                route.methods.push(up);
            }
        }
    }
    for (name, slot) in [
        ("tls_passthrough", &mut route.tls_passthrough),
        ("websocket", &mut route.websocket),
    ] {
        if let Some((k, v)) = f.get(name) {
            *slot = schema::boolean(r, k, v).unwrap_or(false);
        }
    }
    if let Some((k, v)) = f.get("ssrf_ip_allowlist") {
        for c in schema::string_list(r, k, v).unwrap_or_default() {
            match parse_cidr(&c.value) {
                Some(net) => route.ssrf_ip_allowlist.push(net),
                None => r.error(
                    c.pos,
                    format!(
                        "`{}` is not an IP address or CIDR (like 10.0.0.0/8)",
                        c.value
                    ),
                ),
            }
        }
    }
    if let Some((k, v)) = f.get("dlp_exempt") {
        for rule in schema::string_list(r, k, v).unwrap_or_default() {
            if DLP_RULES.contains(&rule.value.as_str()) {
                route.dlp_exempt.push(rule.value);
            } else {
                r.error(
                    rule.pos,
                    format!(
                        "unknown DLP rule `{}`{}",
                        rule.value,
                        schema::suggestion(&rule.value, DLP_RULES.iter().copied())
                    ),
                );
            }
        }
    }
    if let Some((k, v)) = f.get("auth") {
        route.auth_pos = Some(k.pos);
        route.auth = parse_auth(r, k.pos, v);
        if wildcard {
            r.error(k.pos, format!("`auth` is not allowed on the wildcard route `{}`: a token must never go to subdomains anyone could register; route the exact host", route.display_host()));
        }
        if route.tls_passthrough {
            r.error(k.pos, "`auth` cannot be combined with `tls_passthrough: true`: a blind tunnel cannot inject credentials");
        }
    }
    if route.tls_passthrough {
        for (name, set) in [
            ("path_allowlist", !route.path_allowlist.is_empty()),
            ("methods", !route.methods.is_empty()),
            ("websocket", route.websocket),
        ] {
            if set {
                let pos = f.get(name).map_or(node.pos, |(k, _)| k.pos);
                r.error(pos, format!("`{name}` cannot be enforced on a `tls_passthrough` route (the tunnel is not inspected)"));
            }
        }
    }
    Some(route)
}

pub(crate) fn parse_auth(r: &mut Report, key_pos: Pos, node: &Node) -> Option<RouteAuth> {
    let f = fields(r, node, "`auth`", &["scheme", "token_ref"], &[])?;
    let scheme = f.get("scheme");
    let token = f.get("token_ref");
    if scheme.is_none() || token.is_none() {
        let missing = if scheme.is_none() && token.is_none() {
            "`scheme` and `token_ref`"
        } else if scheme.is_none() {
            "`scheme`"
        } else {
            "`token_ref`"
        };
        r.error(key_pos, format!("`auth` needs both `scheme` and `token_ref` (missing {missing}); omit `auth` for an unauthenticated route"));
        return None;
    }
    let (sk, sv) = scheme?;
    let (tk, tv) = token?;
    let s = schema::string(r, sk, sv)?;
    let scheme = match s.value.as_str() {
        "Bearer" => AuthScheme::Bearer,
        "token" => AuthScheme::Token,
        "Basic" => AuthScheme::Basic,
        other => {
            r.error(
                s.pos,
                format!(
                    "unknown auth scheme `{other}` (expected Bearer, token or Basic){}",
                    schema::suggestion(other, ["Bearer", "token", "Basic"])
                ),
            );
            return None;
        }
    };
    let t = schema::non_empty(r, tk, tv)?;
    if !schema::is_env_name(&t.value) {
        r.error(t.pos, format!("`token_ref` names a host environment variable, and `{}` is not a valid variable name", t.value));
        return None;
    }
    Some(RouteAuth {
        scheme,
        token_ref: t,
    })
}

fn ports(r: &mut Report, key: &super::yaml::Key, node: &Node) -> Vec<u16> {
    let mut out = Vec::new();
    for item in schema::list(r, key, node).unwrap_or(&[]) {
        match item.value {
            Value::Int(p) if (1..=65535).contains(&p) => {
                let p = p as u16;
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            _ => r.error(item.pos, "ports must be whole numbers from 1 to 65535"),
        }
    }
    out
}

fn parse_cidr(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

pub fn check_path_prefix(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("path prefix `{p}` must start with `/`"));
    }
    if p.contains(['?', '#']) {
        return Err(format!(
            "path prefix `{p}` must not contain a query or fragment"
        ));
    }
    if p.split('/').any(|seg| seg == "." || seg == "..") || p.contains("//") {
        return Err(format!(
            "path prefix `{p}` must be normalized (no `.`/`..` segments or `//`)"
        ));
    }
    let lower = p.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%2e") {
        return Err(format!(
            "path prefix `{p}` must not percent-encode separators or dots"
        ));
    }
    Ok(())
}

/// Lowercases, drops one trailing dot, converts to IDNA ASCII; returns
/// the host without `*.` and whether it was a wildcard.
pub fn normalize_host(raw: &str) -> Result<(String, bool), String> {
    let h = raw.trim();
    if h.contains("://") {
        return Err(format!(
            "`{h}` is a URL; `host` takes a bare host name like api.github.com"
        ));
    }
    if h.contains('/') {
        return Err(format!(
            "`{h}` contains a path; put the host in `host` and paths in `path_allowlist`"
        ));
    }
    if h.contains(':') {
        return Err(format!("`{h}` contains a port or is an IPv6 literal; put ports in `ports:` (IPv6 literals are not supported)"));
    }
    let h = h.strip_suffix('.').unwrap_or(h).to_lowercase();
    let (rest, wildcard) = match h.strip_prefix("*.") {
        Some(rest) => (rest.to_string(), true),
        None => (h.clone(), false),
    };
    if rest.contains('*') {
        return Err(format!(
            "`{raw}`: `*` is allowed only as a leading `*.` label"
        ));
    }
    if rest.parse::<std::net::Ipv4Addr>().is_ok() {
        if wildcard {
            return Err(format!("`{raw}`: a wildcard cannot cover an IP address"));
        }
        return Ok((rest, false));
    }
    let ascii =
        idna::domain_to_ascii(&rest).map_err(|_| format!("`{raw}` is not a valid host name"))?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let bad_label = |l: &&str| {
        l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if ascii.is_empty() || ascii.len() > 253 || labels.iter().any(bad_label) {
        return Err(format!("`{raw}` is not a valid host name"));
    }
    if wildcard && labels.len() < 2 {
        return Err(format!(
            "`{raw}` is too broad: a wildcard needs at least two labels after `*.`"
        ));
    }
    Ok((ascii, wildcard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_normalize() {
        assert_eq!(
            normalize_host("API.GitHub.com."),
            Ok(("api.github.com".into(), false))
        );
        assert_eq!(
            normalize_host("*.Example.com"),
            Ok(("example.com".into(), true))
        );
        assert_eq!(
            normalize_host("bücher.example"),
            Ok(("xn--bcher-kva.example".into(), false))
        );
        assert!(normalize_host("*.com").is_err());
        assert!(normalize_host("a.*.com").is_err());
        assert!(normalize_host("https://a.com").is_err());
        assert!(normalize_host("a.com:443").is_err());
        assert!(normalize_host("-bad-.com").is_err());
    }

    #[test]
    fn path_prefixes() {
        assert!(check_path_prefix("/repos/acme/").is_ok());
        for bad in ["repos", "/a/../b", "/a?x=1", "/a%2Fb", "//a"] {
            assert!(check_path_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxy_urls() {
        assert!(check_proxy_url("http://proxy.corp:3128").is_ok());
        assert!(check_proxy_url("proxy.corp:3128").is_err());
        assert!(check_proxy_url("http://proxy.corp:0").is_err());
        assert!(check_proxy_url("http://proxy.corp/x").is_err());
    }
}
