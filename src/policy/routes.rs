//! `routes.json` (SPEC §5.3) and the route check: written only by the host,
//! read by the sidecar. The check is pure and runs before any DNS lookup:
//! host (exact, or a `*.` wildcard covering subdomains) and port first,
//! then, for every request on a connection, the method and the normalized
//! path against segment-aligned prefixes.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;

/// Ports a route allows when it names none.
pub const DEFAULT_PORTS: &[u16] = &[443, 80];

/// Ports a route with `auth` allows when it names none: its credential
/// only ever travels inside TLS.
pub const DEFAULT_AUTH_PORTS: &[u16] = &[443];

/// The ports a route allows when it names none.
pub fn default_ports(auth: bool) -> &'static [u16] {
    if auth {
        DEFAULT_AUTH_PORTS
    } else {
        DEFAULT_PORTS
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesFile {
    pub version: u32,
    pub routes: Vec<RouteEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// ASCII (IDNA) host, or `*.` and one.
    pub host: String,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub path_allowlist: Vec<String>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub auth: Option<RouteAuth>,
    #[serde(default)]
    pub tls_passthrough: bool,
    #[serde(default)]
    pub ssrf_ip_allowlist: Vec<String>,
    #[serde(default)]
    pub websocket: bool,
    #[serde(default)]
    pub dlp_exempt: Vec<String>,
    /// `definition`, `provider` or `approved:<id>`.
    #[serde(default)]
    pub source: String,
}

impl RouteEntry {
    /// The ports as shown to the operator: the route's, or the defaults.
    pub fn ports_text(&self) -> String {
        let ports = if self.ports.is_empty() {
            default_ports(self.auth.is_some())
        } else {
            &self.ports
        };
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteAuth {
    pub scheme: String,
    /// A file name in the sidecar's secrets tmpfs, never a value.
    pub secret: String,
    /// The host variable the value came from (a name, for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<String>,
}

/// A route ready for checking (hashable: it keys pooled connections).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    pub host: String,
    pub wildcard: bool,
    pub ports: Vec<u16>,
    pub path_allowlist: Vec<String>,
    /// Upper case; empty: any method.
    pub methods: Vec<String>,
    pub auth: Option<RouteAuth>,
    pub tls_passthrough: bool,
    pub ssrf_ip_allowlist: Vec<IpNet>,
    pub websocket: bool,
    pub dlp_exempt: Vec<String>,
    pub source: String,
}

/// Why a request was refused (the `reason` of the decision log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No route names this host.
    Host,
    /// The host is routed, not on this port.
    Port,
    /// The path is outside every prefix, or not a plain path.
    Path,
    Method,
}

impl Denial {
    pub fn reason(self) -> &'static str {
        match self {
            Denial::Host => "host not routed",
            Denial::Port => "port not routed",
            Denial::Path => "path not routed",
            Denial::Method => "method not routed",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    pub routes: Vec<Route>,
}

impl Table {
    /// Parses and checks `routes.json`; any mistake refuses the whole file
    /// (the sidecar keeps its previous table).
    pub fn parse(text: &str) -> Result<Table, String> {
        let file: RoutesFile =
            serde_json::from_str(text).map_err(|e| format!("routes.json: {e}"))?;
        if file.version != VERSION {
            return Err(format!(
                "routes.json: version {} (this sidecar reads {VERSION})",
                file.version
            ));
        }
        let mut routes = Vec::new();
        for (i, r) in file.routes.into_iter().enumerate() {
            routes.push(compile(r).map_err(|e| format!("routes.json: route {}: {e}", i + 1))?);
        }
        Ok(Table { routes })
    }

    /// The route for `host:port` (the host as the agent named it: any
    /// case, one trailing dot, Unicode or punycode). An exact host wins
    /// over a wildcard.
    pub fn find(&self, host: &str, port: u16) -> Result<&Route, Denial> {
        let host = normalize_host(host).ok_or(Denial::Host)?;
        let exact = self.routes.iter().filter(|r| !r.wildcard && r.host == host);
        let wild = self.routes.iter().filter(|r| {
            r.wildcard
                && host
                    .strip_suffix(r.host.as_str())
                    .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
        });
        let mut any_host = false;
        for r in exact.chain(wild) {
            any_host = true;
            if r.ports.contains(&port) {
                return Ok(r);
            }
        }
        Err(if any_host { Denial::Port } else { Denial::Host })
    }

    /// Whether a route for this host injects a credential.
    pub fn injects_on(&self, host: &str) -> bool {
        self.find(host, 443).is_ok_and(|r| r.auth.is_some())
    }

    /// The route that lets this request through, and the path to forward.
    /// A host may have several routes (the bottle's own and approved
    /// ones): the first, in file order, whose methods and paths allow the
    /// request wins; otherwise the first route's refusal.
    pub fn route_for(
        &self,
        host: &str,
        port: u16,
        method: &str,
        target: &str,
    ) -> Result<(&Route, String), Denial> {
        let first = self.find(host, port)?;
        let normal = normalize_host(host).ok_or(Denial::Host)?;
        let same = self.routes.iter().filter(|r| {
            r.ports.contains(&port)
                && r.wildcard == first.wildcard
                && r.host == first.host
                && (!r.wildcard || normal.ends_with(&format!(".{}", r.host)))
        });
        let mut refusal = None;
        for r in same {
            match r.check(method, target) {
                Ok(path) => return Ok((r, path)),
                Err(d) => {
                    refusal.get_or_insert(d);
                }
            }
        }
        Err(refusal.unwrap_or(Denial::Host))
    }
}

impl Route {
    /// Checks one request; returns the normalized path to forward (the
    /// path the upstream sees is the one that was checked).
    ///
    /// On a route with a method allowlist the method must be one of them
    /// exactly (methods are case-sensitive; `get` is not `GET`, and some
    /// frameworks read it as GET anyway). On a route with a path allowlist
    /// the path must also be one that every upstream reads the same way:
    /// no `;` path parameters (`..;/` climbs in Tomcat), no encoded `%`
    /// (`%252e%252e` is `..` to a server that decodes twice), no
    /// percent-encoded byte outside printable ASCII (overlong and
    /// full-width dots).
    pub fn check(&self, method: &str, target: &str) -> Result<String, Denial> {
        let m = method.to_ascii_uppercase();
        if m == "CONNECT" || (!self.methods.is_empty() && !self.methods.iter().any(|a| a == method))
        {
            return Err(Denial::Method);
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let path = normalize_path(path).ok_or(Denial::Path)?;
        if !self.path_allowlist.is_empty() {
            if !read_alike(&path) {
                return Err(Denial::Path);
            }
            if !self.path_allowlist.iter().any(|p| prefix_matches(p, &path)) {
                return Err(Denial::Path);
            }
        }
        Ok(match query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        })
    }
}

fn compile(r: RouteEntry) -> Result<Route, String> {
    let (host, wildcard) = match r.host.strip_prefix("*.") {
        Some(h) => (h.to_string(), true),
        None => (r.host.clone(), false),
    };
    if host.is_empty()
        || normalize_host(&host).as_deref() != Some(host.as_str())
        || host.contains('*')
    {
        return Err(format!("host `{}` is not a normalized host name", r.host));
    }
    let methods: Vec<String> = r.methods.iter().map(|m| m.to_ascii_uppercase()).collect();
    if methods.iter().any(|m| m == "CONNECT") {
        return Err("CONNECT is not a route method".into());
    }
    for p in &r.path_allowlist {
        if normalize_path(p).as_deref() != Some(p.as_str()) {
            return Err(format!("path prefix `{p}` is not a normalized path"));
        }
    }
    let mut nets = Vec::new();
    for n in &r.ssrf_ip_allowlist {
        nets.push(
            n.parse::<IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{n}` is not an address or CIDR"))?,
        );
    }
    if let Some(a) = &r.auth {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !plain(&a.scheme) || !plain(&a.secret) || a.secret.starts_with('.') {
            return Err("auth needs a plain scheme and a secret file name".into());
        }
    }
    Ok(Route {
        host,
        wildcard,
        ports: if r.ports.is_empty() {
            default_ports(r.auth.is_some()).to_vec()
        } else {
            r.ports
        },
        path_allowlist: r.path_allowlist,
        methods,
        auth: r.auth,
        tls_passthrough: r.tls_passthrough,
        ssrf_ip_allowlist: nets,
        websocket: r.websocket,
        dlp_exempt: r.dlp_exempt,
        source: r.source,
    })
}

/// Lowercase ASCII without a trailing dot (IDNA for Unicode names); IPv4
/// literals as they are; `None` for what is not a host name (IPv6
/// literals included: routes never name them).
pub fn normalize_host(raw: &str) -> Option<String> {
    let h = raw.strip_suffix('.').unwrap_or(raw);
    if h.is_empty() || h.contains([':', '/', '@', '[', ']', ' ']) {
        return None;
    }
    if let Ok(v4) = h.parse::<std::net::Ipv4Addr>() {
        return Some(v4.to_string());
    }
    let ascii = idna::domain_to_ascii(h).ok()?;
    let ok = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    ok.then_some(ascii)
}

/// The path as the upstream will read it, or `None` when it cannot be
/// checked safely: not starting with `/`, a backslash, a percent-encoded
/// separator (`%2F`, `%5C`), a NUL or control, bad percent-encoding. Dot
/// segments (also as `%2E`) are resolved; other percent-encoding is kept.
pub fn normalize_path(raw: &str) -> Option<String> {
    if !raw.starts_with('/')
        || !raw.is_ascii()
        || raw.contains('\\')
        || raw.chars().any(|c| c.is_control())
    {
        return None;
    }
    // Decode only the dots, so dot segments cannot hide; refuse encoded
    // separators and malformed escapes.
    let bytes = raw.as_bytes();
    let mut decoded = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(hex, 16).ok()?;
            match v {
                b'/' | b'\\' | 0..=0x1f | 0x7f => return None,
                b'.' => decoded.push('.'),
                _ => {
                    decoded.push('%');
                    decoded.push_str(&hex.to_ascii_uppercase());
                }
            }
            i += 3;
        } else {
            decoded.push(bytes[i] as char);
            i += 1;
        }
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing = false;
    for (n, seg) in segments.iter().enumerate() {
        match *seg {
            "." => trailing = n == last,
            ".." => {
                out.pop();
                trailing = n == last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut path = format!("/{}", out.join("/"));
    if trailing && !path.ends_with('/') {
        path.push('/');
    }
    Some(path)
}

/// Whether every upstream reads this normalized path the way the check
/// did (see `Route::check`).
fn read_alike(path: &str) -> bool {
    if path.contains(';') {
        return false;
    }
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let Some(v) = path
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            else {
                return false;
            };
            if v == b'%' || v == b';' || !(0x20..0x7f).contains(&v) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// `/repos/acme/` matches `/repos/acme/x`, not `/repos/acme-evil`; a
/// prefix without the trailing slash matches itself and below it.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::parse(
            r#"{"version":1,"routes":[
              {"host":"api.github.com","ports":[443],"path_allowlist":["/repos/acme/"],"methods":["GET","post"],
               "auth":{"scheme":"Bearer","secret":"t0"},"source":"definition"},
              {"host":"*.npmjs.org"},
              {"host":"registry.npmjs.org","ports":[8443],"path_allowlist":["/only"]},
              {"host":"10.1.2.3","ports":[9000]}
            ]}"#,
        )
        .expect("table")
    }

    #[test]
    fn hosts_and_ports_match_exactly_or_by_wildcard() {
        let t = table();
        assert_eq!(
            t.find("API.GitHub.com.", 443).map(|r| r.host.as_str()),
            Ok("api.github.com")
        );
        assert_eq!(t.find("api.github.com", 80).err(), Some(Denial::Port));
        assert_eq!(t.find("github.com", 443).err(), Some(Denial::Host));
        assert_eq!(t.find("evil-api.github.com", 443).err(), Some(Denial::Host));
        assert_eq!(t.find("x.npmjs.org", 443).map(|r| r.wildcard), Ok(true));
        assert_eq!(t.find("a.b.npmjs.org", 80).map(|r| r.wildcard), Ok(true));
        assert_eq!(
            t.find("npmjs.org", 443).err(),
            Some(Denial::Host),
            "a wildcard covers subdomains only"
        );
        assert_eq!(t.find("evilnpmjs.org", 443).err(), Some(Denial::Host));
        // The exact route wins on its port; the wildcard still covers 443.
        assert_eq!(
            t.find("registry.npmjs.org", 8443).map(|r| r.wildcard),
            Ok(false)
        );
        assert_eq!(
            t.find("registry.npmjs.org", 443).map(|r| r.wildcard),
            Ok(true)
        );
        assert_eq!(
            t.find("10.1.2.3", 9000).map(|r| r.host.as_str()),
            Ok("10.1.2.3")
        );
        for bad in [
            "10.1.2.4",
            "[::1]",
            "::1",
            "0.0.0.0",
            "a b",
            "user@api.github.com",
            "",
        ] {
            assert!(t.find(bad, 443).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_are_normalized_and_prefixes_match_on_segments() {
        let t = table();
        let gh = t.find("api.github.com", 443).expect("route");
        assert_eq!(
            gh.check("GET", "/repos/acme/x?per_page=1"),
            Ok("/repos/acme/x?per_page=1".into())
        );
        assert_eq!(
            gh.check("POST", "/repos/acme/x/./y"),
            Ok("/repos/acme/x/y".into())
        );
        // Methods are case-sensitive on a route that lists them.
        for m in ["post", "Get", "gEt"] {
            assert_eq!(gh.check(m, "/repos/acme/x"), Err(Denial::Method), "{m}");
        }
        assert_eq!(
            gh.check("GET", "/repos/acme/x/../y"),
            Ok("/repos/acme/y".into())
        );
        for (path, why) in [
            ("/repos/acme-evil", "a prefix matches on segment boundaries"),
            ("/repos/acme/../evil", "dot segments"),
            ("/repos/acme/%2e%2e/evil", "encoded dot segments"),
            ("/repos/acme/%2E%2e/%2e%2E/x", "mixed case encoded dots"),
            ("/repos/acme%2F..%2Fevil", "an encoded slash"),
            ("/repos/acme/%2fx", "an encoded slash"),
            ("/repos/acme/%5c..", "an encoded backslash"),
            ("/repos/acme/\\..\\x", "a backslash"),
            ("/repos/acme/%zz", "bad escapes"),
            ("/repos/acme/%00", "an encoded NUL"),
            ("repos/acme/x", "not origin-form"),
            ("http://api.github.com/repos/acme/x", "absolute-form"),
            ("/repos/acmé/x", "not ASCII"),
            ("/repos/acme/..;/evil", "a path parameter (Tomcat climbs)"),
            ("/repos/acme/x;jsessionid=1", "a path parameter"),
            ("/repos/acme/x%3b/", "an encoded path parameter"),
            ("/repos/acme/%252e%252e/evil", "double encoding"),
            ("/repos/acme/%25/x", "an encoded percent"),
            ("/repos/acme/%c0%ae%c0%ae/evil", "an overlong dot"),
            ("/repos/acme/%ef%bc%8e%ef%bc%8e/evil", "full-width dots"),
        ] {
            assert_eq!(gh.check("GET", path), Err(Denial::Path), "{path}: {why}");
        }
        assert_eq!(gh.check("DELETE", "/repos/acme/x"), Err(Denial::Method));
        assert_eq!(gh.check("CONNECT", "/repos/acme/x"), Err(Denial::Method));
        let npm = t.find("x.npmjs.org", 443).expect("route");
        assert!(
            npm.check("PUT", "/anything/at/all").is_ok(),
            "no prefixes, no methods: all"
        );
        assert!(prefix_matches("/only", "/only"));
        assert!(prefix_matches("/only", "/only/x"));
        assert!(!prefix_matches("/only", "/onlyx"));
    }

    #[test]
    fn a_bad_file_is_refused_whole() {
        for (text, want) in [
            (r#"{"version":2,"routes":[]}"#, "version 2"),
            (
                r#"{"version":1,"routes":[{"host":"API.github.com"}]}"#,
                "normalized host",
            ),
            (
                r#"{"version":1,"routes":[{"host":"a.com","path_allowlist":["/a/../b"]}]}"#,
                "normalized path",
            ),
            (
                r#"{"version":1,"routes":[{"host":"a.com","methods":["CONNECT"]}]}"#,
                "CONNECT",
            ),
            (
                r#"{"version":1,"routes":[{"host":"a.com","ssrf_ip_allowlist":["nope"]}]}"#,
                "CIDR",
            ),
            (
                r#"{"version":1,"routes":[{"host":"a.com","auth":{"scheme":"Bearer","secret":"../x"}}]}"#,
                "secret file",
            ),
            (
                r#"{"version":1,"routes":[{"host":"a.com","extra":1}]}"#,
                "unknown field",
            ),
            ("not json", "routes.json"),
        ] {
            let e = Table::parse(text).expect_err(text);
            assert!(e.contains(want), "{text}: {e}");
        }
        assert_eq!(
            Table::parse(r#"{"version":1,"routes":[]}"#),
            Ok(Table::default())
        );
    }
}
