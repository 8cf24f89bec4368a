//! The forward path of one request. Its decision is `decide()`, pure (no
//! I/O, no engine): route, upgrade rules, the agent's credentials
//! stripped, DLP on URL, headers and (a compressed) body, the route's
//! credential injected — in that order, which keeps credentials safe.
//! `forward()` does the I/O around it: reads a compressed body when
//! `decide()` asks for it, streams a plain body through the DLP scan,
//! sends the request upstream and streams the answer back (a WebSocket
//! upgrade is relayed frame by frame).

use super::body::{reflect_checked, scanned_body};
use super::pool::Upstreams;
use super::upstream::send_upstream;
use super::websocket::websocket;
use super::{empty, Ask, Body, BoxError, Egress};
use crate::policy::dlp::{Hit, Scanner};
use crate::policy::routes::{Denial, Route, Table};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, HOST, PROXY_AUTHORIZATION};
use hyper::{HeaderMap, Request, Response, Uri};
use std::sync::Arc;

/// Why plain http to a host whose route injects a credential is refused.
const PLAIN_HTTP_WITH_AUTH: &str =
    "this route injects a credential, which is only ever sent inside TLS: use https://";

/// What the forward path knows of one request when it decides on it.
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    /// The host and port of the tunnel or absolute-form authority.
    pub host: &'a str,
    pub port: u16,
    pub method: &'a str,
    /// The request target as the agent sent it.
    pub target: &'a str,
    /// Inside a CONNECT tunnel (the upstream leg is TLS); else plain http.
    pub tls: bool,
    /// The agent's headers, as they came.
    pub headers: &'a HeaderMap,
    pub body: BodyFacts<'a>,
}

/// The body, as far as the decision needs it.
#[derive(Clone, Copy, Debug)]
pub enum BodyFacts<'a> {
    /// Not read: a plain body streams through the DLP scan on its way
    /// upstream; for a compressed one the decision is `ReadBody`.
    Unread,
    /// The whole (compressed) body, at most `decode::MAX_ENCODED` bytes.
    Read(&'a [u8]),
    /// It could not be read whole within the limit.
    Unreadable,
}

/// The decision on one request.
#[derive(Debug)]
pub enum Decision {
    /// Answered by the proxy; nothing goes upstream.
    Refuse(Refusal),
    /// The body is compressed: read it whole (bounded by
    /// `decode::MAX_ENCODED`) and decide again with `BodyFacts::Read` (or
    /// `Unreadable`).
    ReadBody,
    Forward(Box<Forward>),
}

/// A refusal and the answer it gets (`Ask::refuse`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `403 egress_denied`; `path` is the path the log names.
    Denied { path: String, reason: &'static str },
    /// `403 dlp_blocked`: the rule, never the value.
    Blocked { path: String, hit: Hit },
    /// `400 bad_request` (the front door: `Host`, request form).
    BadRequest { path: String, reason: &'static str },
}

/// A request that goes upstream, as it goes.
#[derive(Debug)]
pub struct Forward {
    /// The route that let it through.
    pub route: Route,
    /// The normalized path (and query) that was checked: what goes
    /// upstream and into the log.
    pub path: String,
    pub uri: Uri,
    /// The headers as they go upstream: the agent's `Authorization`,
    /// `Proxy-Authorization`, `Proxy-Connection` and
    /// `Sec-WebSocket-Extensions` removed, `Host` written by the proxy,
    /// then the route's credential and `Accept-Encoding: identity` put in.
    pub headers: HeaderMap,
    /// The route's credential was injected (the log says `injected`).
    pub injected: bool,
    /// A WebSocket upgrade (the route allows it).
    pub upgrade: bool,
    /// The scanner with the route's exemptions: for a streamed body and
    /// the answer.
    pub scanner: Scanner,
}

fn denied(path: &str, reason: &'static str) -> Decision {
    Decision::Refuse(Refusal::Denied {
        path: path.to_string(),
        reason,
    })
}

fn blocked(path: &str, hit: Hit) -> Decision {
    Decision::Refuse(Refusal::Blocked {
        path: path.to_string(),
        hit,
    })
}

/// An `Upgrade` header asks for another protocol.
fn upgrade_asked(headers: &HeaderMap) -> bool {
    headers
        .get(hyper::header::UPGRADE)
        .is_some_and(|v| !v.is_empty())
}

/// The decision on one request, in the order that keeps credentials safe:
/// route lookup, upgrade rules, the agent's credential headers stripped,
/// DLP on the target and headers, a compressed body decoded and scanned,
/// then the route's credential injected (after the scan: the injected
/// value is never taken for the agent's leak). `secret` reads a secrets
/// entry by name (the sidecar's tmpfs).
pub fn decide(
    req: &RequestFacts<'_>,
    table: &Table,
    scanner: &Scanner,
    secret: &dyn Fn(&str) -> Option<String>,
) -> Decision {
    let target = req.target;
    let (route, path): (&Route, String) =
        match table.route_for(req.host, req.port, req.method, target) {
            Ok((r, p)) => (r, p),
            Err(Denial::Port) if !req.tls && table.injects_on(req.host) => {
                return denied(target, PLAIN_HTTP_WITH_AUTH);
            }
            Err(d) => return denied(target, d.reason()),
        };
    if route.tls_passthrough {
        return denied(target, "a passthrough route is reached by CONNECT only");
    }
    if route.auth.is_some() && !req.tls {
        return denied(target, PLAIN_HTTP_WITH_AUTH);
    }
    let upgrade = upgrade_asked(req.headers);
    if upgrade && !route.websocket {
        return denied(target, "upgrade (WebSocket) not allowed on this route");
    }
    let websocket_only = req
        .headers
        .get_all(hyper::header::UPGRADE)
        .iter()
        .all(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if upgrade && !websocket_only {
        // h2c and other protocols would carry requests past every check.
        return denied(target, "only WebSocket upgrades are proxied");
    }
    let mut headers = req.headers.clone();
    headers.remove(AUTHORIZATION);
    headers.remove(PROXY_AUTHORIZATION);
    headers.remove("proxy-connection");
    // WebSocket extensions (permessage-deflate) would hide what the agent
    // sends from the frame scan: none is ever negotiated.
    headers.remove(hyper::header::SEC_WEBSOCKET_EXTENSIONS);
    match host_value(req.host, req.port, req.tls) {
        Some(v) => {
            headers.insert(HOST, v);
        }
        None => return denied(target, "the host is not a header value"),
    }
    let scanner = scanner.for_route(&route.dlp_exempt);
    // DLP on what the agent sent: the target, the headers, then the body.
    let mut head = String::new();
    for (k, v) in &headers {
        head.push_str(k.as_str());
        head.push_str(": ");
        head.push_str(&String::from_utf8_lossy(v.as_bytes()));
        head.push_str("\r\n");
    }
    if let Some(hit) = scanner
        .scan_target(target)
        .or_else(|| scanner.scan(head.as_bytes()))
    {
        return blocked(&path, hit);
    }
    // A compressed body is decoded (bounded) and scanned whole, then sent
    // as it came; one that cannot be decoded is refused. Every
    // `Content-Encoding` line counts (an upstream reads them as one list),
    // and a transfer coding other than `chunked` is refused outright.
    let refused = Hit {
        rule: "compressed-body".into(),
    };
    let codings = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(",")
    };
    let coded = |list: &str, plain: &str| {
        list.split(',')
            .map(str::trim)
            .any(|c| !c.is_empty() && !c.eq_ignore_ascii_case(plain))
    };
    if coded(&codings(hyper::header::TRANSFER_ENCODING), "chunked") {
        return blocked(&path, refused);
    }
    let encoding =
        Some(codings(hyper::header::CONTENT_ENCODING)).filter(|list| coded(list, "identity"));
    if let Some(coding) = encoding {
        let raw = match req.body {
            BodyFacts::Unread => return Decision::ReadBody,
            BodyFacts::Unreadable => return blocked(&path, refused),
            BodyFacts::Read(raw) => raw,
        };
        let Ok(plain) = crate::policy::decode::decode(&coding, raw) else {
            return blocked(&path, refused);
        };
        if let Some(hit) = scanner.scan(&plain) {
            return blocked(&path, hit);
        }
    }
    let injected = route.auth.is_some();
    if let Some(auth) = &route.auth {
        let Some(token) = secret(&auth.secret) else {
            return denied(&path, "the route's credential is missing in the sidecar");
        };
        let Ok(mut v) = HeaderValue::from_str(&format!("{} {}", auth.scheme, token.trim())) else {
            return denied(&path, "the route's credential is not a header value");
        };
        v.set_sensitive(true);
        headers.insert(AUTHORIZATION, v);
        // The response is scanned for the credential: ask for it
        // uncompressed (a compressed one is decoded to be scanned).
        headers.insert(
            hyper::header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    let Ok(uri) = path.parse() else {
        return denied(&path, "the path is not a valid request target");
    };
    Decision::Forward(Box::new(Forward {
        route: route.clone(),
        path,
        uri,
        headers,
        injected,
        upgrade,
        scanner,
    }))
}

/// The `Host` the upstream gets: exactly the route's host (and the port,
/// when it is not the scheme's).
fn host_value(host: &str, port: u16, tls: bool) -> Option<HeaderValue> {
    let default = if tls { 443 } else { 80 };
    let text = if port == default {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    HeaderValue::from_str(&text).ok()
}

/// Decides on one request (`decide`), then does the I/O: reads a
/// compressed body, streams a plain one through the DLP scan, sends the
/// request upstream, streams the answer back.
pub(super) async fn forward(
    mut req: Request<Incoming>,
    ask: &Ask<'_>,
    target: &str,
    tls: bool,
    eg: &Egress,
    ups: &Arc<Upstreams>,
) -> Result<Response<Body>, BoxError> {
    let table = eg.table();
    let all = eg.scanner();
    let secret = |name: &str| std::fs::read_to_string(eg.secrets_dir.join(name)).ok();
    let facts = RequestFacts {
        host: ask.host,
        port: ask.port,
        method: ask.method,
        target,
        tls,
        headers: req.headers(),
        body: BodyFacts::Unread,
    };
    let decision = decide(&facts, &table, &all, &secret);
    if let Decision::Refuse(r) = &decision {
        return Ok(ask.refuse(r));
    }
    // Allowed so far: an upgrade is a WebSocket one on a route that
    // takes it.
    let client_upgrade = upgrade_asked(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let (decision, prescanned) = match decision {
        Decision::ReadBody => {
            let read = http_body_util::Limited::new(body, crate::policy::decode::MAX_ENCODED)
                .collect()
                .await
                .map(|c| c.to_bytes())
                .ok();
            let facts = RequestFacts {
                host: ask.host,
                port: ask.port,
                method: ask.method,
                target,
                tls,
                headers: &parts.headers,
                body: match &read {
                    Some(raw) => BodyFacts::Read(raw),
                    None => BodyFacts::Unreadable,
                },
            };
            let decision = decide(&facts, &table, &all, &secret);
            (decision, Ok(read.unwrap_or_default()))
        }
        decision => (decision, Err(body)),
    };
    let fwd = match decision {
        Decision::Forward(f) => *f,
        Decision::Refuse(r) => return Ok(ask.refuse(&r)),
        // Never after the body was read; refused as unreadable if it were.
        Decision::ReadBody => {
            return Ok(ask.refuse(&Refusal::Blocked {
                path: target.to_string(),
                hit: Hit {
                    rule: "compressed-body".into(),
                },
            }))
        }
    };
    let Forward {
        route,
        path,
        uri,
        headers,
        injected,
        upgrade: _,
        scanner,
    } = fwd;
    parts.headers = headers;
    parts.uri = uri;
    parts.version = hyper::Version::HTTP_11;
    if let Some(client_upgrade) = client_upgrade {
        let out_req = Request::from_parts(parts, empty());
        return websocket(
            out_req,
            client_upgrade,
            ask,
            &path,
            tls,
            &route,
            eg,
            ups,
            scanner,
        )
        .await;
    }
    let hit: Arc<std::sync::Mutex<Option<Hit>>> = Arc::default();
    let out_body = match prescanned {
        Ok(raw) => Full::new(raw).map_err(|never| match never {}).boxed(),
        // No body: nothing to scan, and the request may be sent again
        // when a pooled connection is lost under it.
        Err(body) if hyper::body::Body::is_end_stream(&body) => empty(),
        Err(body) => scanned_body(body, scanner.clone(), hit.clone()),
    };
    let out_req = Request::from_parts(parts, out_body);
    let sent = send_upstream(out_req, ask.host, ask.port, tls, &route, eg, ups, false).await;
    if let Some(h) = hit.lock().ok().and_then(|h| h.clone()) {
        return Ok(ask.block(&path, &h));
    }
    match sent {
        Ok(sent) => {
            ask.log(
                if injected { "injected" } else { "allowed" },
                &path,
                serde_json::json!({"status": sent.resp.status().as_u16(), "pooled": sent.pooled}),
            );
            Ok(reflect_checked(sent.resp, ask, &path, &scanner).await)
        }
        Err(e) => Ok(ask.upstream_failed(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    //! Every refusal of the forward path, and the order that keeps
    //! credentials safe, on `decide()` alone: no engine, no network.

    use super::*;
    use std::io::Write;

    /// The operator's credential for `api.example.test` (secret `t0`); the
    /// scanner also knows it as a canary, as in the sidecar.
    const TOKEN: &str = "operator-token-0123456789";
    const CANARY: &str = "my-canary-value-42";
    const GITHUB: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    const AWS: &str = "AKIAIOSFODNN7EXAMPLE";

    fn table() -> Table {
        Table::parse(
            r#"{"version":1,"routes":[
              {"host":"api.example.test","auth":{"scheme":"Bearer","secret":"t0"}},
              {"host":"open.example.test","ports":[443,80,8080],"path_allowlist":["/v1"],"methods":["GET","POST"]},
              {"host":"ws.example.test","websocket":true},
              {"host":"pass.example.test","tls_passthrough":true},
              {"host":"exempt.example.test","dlp_exempt":["github-token"]},
              {"host":"nokey.example.test","auth":{"scheme":"Bearer","secret":"t9"}},
              {"host":"badkey.example.test","auth":{"scheme":"Bearer","secret":"t1"}}
            ]}"#,
        )
        .expect("routes")
    }

    fn scanner() -> Scanner {
        Scanner::new(
            &[
                ("t0".into(), TOKEN.into()),
                ("canary-NAME".into(), CANARY.into()),
            ],
            &[],
        )
    }

    /// The secrets tmpfs: `t0` as the file holds it, `t1` not a header
    /// value; `t9` is missing.
    fn secret(name: &str) -> Option<String> {
        match name {
            "t0" => Some(format!("{TOKEN}\n")),
            "t1" => Some("two\nlines".into()),
            _ => None,
        }
    }

    struct Req {
        host: &'static str,
        port: u16,
        method: &'static str,
        target: &'static str,
        tls: bool,
        headers: HeaderMap,
    }

    /// `GET target` inside a tunnel to `host:443`, with its `Host`.
    fn req(host: &'static str, target: &'static str) -> Req {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static(host));
        Req {
            host,
            port: 443,
            method: "GET",
            target,
            tls: true,
            headers,
        }
    }

    impl Req {
        fn header(mut self, name: &'static str, value: &str) -> Req {
            self.headers
                .append(name, HeaderValue::from_str(value).expect("value"));
            self
        }

        fn decide_with(&self, body: BodyFacts<'_>) -> Decision {
            let facts = RequestFacts {
                host: self.host,
                port: self.port,
                method: self.method,
                target: self.target,
                tls: self.tls,
                headers: &self.headers,
                body,
            };
            decide(&facts, &table(), &scanner(), &secret)
        }

        fn decide(&self) -> Decision {
            self.decide_with(BodyFacts::Unread)
        }
    }

    fn refused(d: Decision) -> Refusal {
        match d {
            Decision::Refuse(r) => r,
            other => panic!("not refused: {other:?}"),
        }
    }

    fn forwarded(d: Decision) -> Forward {
        match d {
            Decision::Forward(f) => *f,
            other => panic!("not forwarded: {other:?}"),
        }
    }

    fn denied(path: &str, reason: &'static str) -> Refusal {
        Refusal::Denied {
            path: path.into(),
            reason,
        }
    }

    fn blocked(path: &str, rule: &str) -> Refusal {
        Refusal::Blocked {
            path: path.into(),
            hit: Hit { rule: rule.into() },
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    // Route lookup.

    #[test]
    fn an_unrouted_host_is_denied_without_injection() {
        let r = req("evil.example.test", "/steal");
        assert_eq!(refused(r.decide()), denied("/steal", "host not routed"));
    }

    #[test]
    fn a_port_not_routed_is_denied() {
        let mut r = req("open.example.test", "/v1");
        r.port = 8443;
        assert_eq!(refused(r.decide()), denied("/v1", "port not routed"));
    }

    #[test]
    fn a_path_not_granted_is_denied() {
        let r = req("open.example.test", "/v2/x");
        assert_eq!(refused(r.decide()), denied("/v2/x", "path not routed"));
        // Normalized first: `..` cannot climb out of the prefix.
        let r = req("open.example.test", "/v1/../v2");
        assert_eq!(refused(r.decide()), denied("/v1/../v2", "path not routed"));
    }

    #[test]
    fn a_method_not_granted_is_denied() {
        let mut r = req("open.example.test", "/v1");
        r.method = "DELETE";
        assert_eq!(refused(r.decide()), denied("/v1", "method not routed"));
    }

    #[test]
    fn a_passthrough_route_is_not_reached_by_a_request() {
        let r = req("pass.example.test", "/");
        assert_eq!(
            refused(r.decide()),
            denied("/", "a passthrough route is reached by CONNECT only")
        );
    }

    #[test]
    fn plain_http_to_an_injecting_host_is_refused_on_any_port() {
        // Port 80: not routed for an auth route, and said why.
        let mut r = req("api.example.test", "/");
        (r.tls, r.port) = (false, 80);
        assert_eq!(refused(r.decide()), denied("/", PLAIN_HTTP_WITH_AUTH));
        // Port 443 in plain http: routed, but the credential needs TLS.
        let mut r = req("api.example.test", "/");
        r.tls = false;
        assert_eq!(refused(r.decide()), denied("/", PLAIN_HTTP_WITH_AUTH));
        // A host without credentials: plain http is fine.
        let mut r = req("open.example.test", "/v1");
        (r.tls, r.port) = (false, 80);
        assert!(!forwarded(r.decide()).injected);
    }

    // Upgrades.

    #[test]
    fn an_upgrade_is_refused_on_a_route_without_websocket() {
        let r = req("open.example.test", "/v1").header("upgrade", "websocket");
        assert_eq!(
            refused(r.decide()),
            denied("/v1", "upgrade (WebSocket) not allowed on this route")
        );
    }

    #[test]
    fn only_websocket_upgrades_are_proxied() {
        let r = req("ws.example.test", "/").header("upgrade", "h2c");
        assert_eq!(
            refused(r.decide()),
            denied("/", "only WebSocket upgrades are proxied")
        );
        let r = req("ws.example.test", "/")
            .header("upgrade", "websocket")
            .header("upgrade", "h2c");
        assert_eq!(
            refused(r.decide()),
            denied("/", "only WebSocket upgrades are proxied")
        );
    }

    #[test]
    fn a_websocket_upgrade_goes_through_without_extensions() {
        let r = req("ws.example.test", "/chat")
            .header("upgrade", "WebSocket")
            .header("sec-websocket-extensions", "permessage-deflate");
        let f = forwarded(r.decide());
        assert!(f.upgrade);
        assert!(!f.headers.contains_key("sec-websocket-extensions"));
        assert!(!forwarded(req("ws.example.test", "/").decide()).upgrade);
    }

    // Stripping, Host, injection.

    #[test]
    fn the_agents_credential_headers_are_stripped() {
        let r = req("open.example.test", "/v1")
            .header("authorization", "Bearer agent-made")
            .header("proxy-authorization", "Basic YWdlbnQ6eA==")
            .header("proxy-connection", "keep-alive")
            .header("accept-encoding", "gzip");
        let f = forwarded(r.decide());
        assert!(!f.injected);
        for h in ["authorization", "proxy-authorization", "proxy-connection"] {
            assert!(!f.headers.contains_key(h), "{h} survived");
        }
        // No credential: the agent's encoding wishes stand.
        assert_eq!(f.headers["accept-encoding"], "gzip");
    }

    #[test]
    fn the_host_header_is_the_proxys_own() {
        let r = req("open.example.test", "/v1");
        let mut r = r.header("x-other", "1");
        r.headers
            .insert(HOST, HeaderValue::from_static("OPEN.example.test."));
        assert_eq!(forwarded(r.decide()).headers[HOST], "open.example.test");
        let mut r = req("open.example.test", "/v1");
        r.port = 8080;
        assert_eq!(
            forwarded(r.decide()).headers[HOST],
            "open.example.test:8080"
        );
        assert_eq!(host_value("a.test", 80, false).expect("value"), "a.test");
        assert_eq!(host_value("a.test", 80, true).expect("value"), "a.test:80");
        // A host that is no header value is refused (never reached past
        // the route lookup, which refuses such a name first).
        assert_eq!(host_value("bad\nhost", 443, true), None);
    }

    #[test]
    fn the_credential_is_injected_after_the_agents_is_stripped() {
        let r = req("api.example.test", "/v1/messages?stream=1")
            .header("authorization", "Bearer agent-made")
            .header("authorization", "Basic second")
            .header("accept-encoding", "gzip, br");
        let f = forwarded(r.decide());
        assert!(f.injected);
        let auth: Vec<_> = f.headers.get_all(AUTHORIZATION).iter().collect();
        assert_eq!(auth.len(), 1, "exactly one Authorization: the route's");
        assert_eq!(auth[0], format!("Bearer {TOKEN}").as_str());
        assert!(auth[0].is_sensitive());
        // The answer is scanned for the credential: asked uncompressed.
        assert_eq!(f.headers["accept-encoding"], "identity");
        assert_eq!(f.path, "/v1/messages?stream=1");
        assert_eq!(f.uri, "/v1/messages?stream=1");
    }

    #[test]
    fn the_agent_sending_the_operators_credential_gets_the_routes_only() {
        // An agent that knows the value and sends it itself as the
        // credential: stripped (never scanned as a header), replaced by
        // the proxy's own.
        let r = req("api.example.test", "/")
            .header("authorization", &format!("Bearer {TOKEN}"))
            .header("proxy-authorization", &format!("Bearer {TOKEN}"));
        let f = forwarded(r.decide());
        assert_eq!(f.headers.get_all(AUTHORIZATION).iter().count(), 1);
        assert!(!f.headers.contains_key(PROXY_AUTHORIZATION));
    }

    #[test]
    fn nothing_is_injected_to_a_host_without_a_credential() {
        for host in [
            "open.example.test",
            "ws.example.test",
            "exempt.example.test",
        ] {
            let target = if host == "open.example.test" {
                "/v1"
            } else {
                "/"
            };
            let f = forwarded(req(host, target).decide());
            assert!(!f.injected, "{host}");
            assert!(!f.headers.contains_key(AUTHORIZATION), "{host}");
        }
    }

    #[test]
    fn a_missing_credential_is_refused() {
        let r = req("nokey.example.test", "/a/./b");
        assert_eq!(
            refused(r.decide()),
            denied("/a/b", "the route's credential is missing in the sidecar")
        );
    }

    #[test]
    fn a_credential_that_is_no_header_value_is_refused() {
        let r = req("badkey.example.test", "/");
        assert_eq!(
            refused(r.decide()),
            denied("/", "the route's credential is not a header value")
        );
    }

    // DLP on the request, before injection.

    #[test]
    fn the_injected_credential_is_not_the_agents_leak() {
        // The scanner knows TOKEN as a canary; the injected header holds
        // it. Were the scan after injection, every injected request
        // would be blocked.
        let f = forwarded(req("api.example.test", "/").decide());
        assert!(f.injected);
    }

    #[test]
    fn the_operators_credential_sent_by_the_agent_is_blocked() {
        let r = req("api.example.test", "/").header("x-note", TOKEN);
        assert_eq!(refused(r.decide()), blocked("/", "canary:t0"));
        let r = req("open.example.test", "/v1?q=operator-token-0123456789");
        assert_eq!(
            refused(r.decide()),
            blocked("/v1?q=operator-token-0123456789", "canary:t0")
        );
        let body = gzip(format!("{{\"leak\":\"{TOKEN}\"}}").as_bytes());
        let r = req("api.example.test", "/").header("content-encoding", "gzip");
        assert_eq!(
            refused(r.decide_with(BodyFacts::Read(&body))),
            blocked("/", "canary:t0")
        );
    }

    #[test]
    fn a_secret_in_the_url_is_blocked() {
        // The log names the checked path.
        let r = req(
            "open.example.test",
            "/v1/./x?token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        );
        assert_eq!(
            refused(r.decide()),
            blocked(
                "/v1/x?token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "github-token"
            )
        );
        // Percent-encoded.
        let r = req("open.example.test", "/v1?k=%41KIAIOSFODNN7EXAMPLE");
        assert_eq!(
            refused(r.decide()),
            blocked("/v1?k=%41KIAIOSFODNN7EXAMPLE", "aws-access-key")
        );
        // A canary in the path.
        let r = req("exempt.example.test", "/my-canary-value-42");
        assert_eq!(
            refused(r.decide()),
            blocked("/my-canary-value-42", "canary:canary-NAME")
        );
        // A random query value.
        let r = req(
            "open.example.test",
            "/v1?x=aZ3kP9qL2xW7mN4bV8cR1tY6uJ5hG0fD",
        );
        assert_eq!(
            refused(r.decide()),
            blocked(
                "/v1?x=aZ3kP9qL2xW7mN4bV8cR1tY6uJ5hG0fD",
                "high-entropy-query"
            )
        );
    }

    #[test]
    fn a_secret_in_a_header_is_blocked() {
        let r = req("open.example.test", "/v1").header("x-api-key", AWS);
        assert_eq!(refused(r.decide()), blocked("/v1", "aws-access-key"));
        let r = req("open.example.test", "/v1").header("cookie", &format!("s={CANARY}"));
        assert_eq!(refused(r.decide()), blocked("/v1", "canary:canary-NAME"));
        let r = req("open.example.test", "/v1").header("x-enc", "my%2Dcanary%2Dvalue%2D42");
        assert_eq!(refused(r.decide()), blocked("/v1", "canary:canary-NAME"));
    }

    #[test]
    fn a_routes_exemption_applies_to_its_rule_only() {
        let r = req("exempt.example.test", "/").header("x-token", GITHUB);
        assert_eq!(forwarded(r.decide()).scanner.scan(GITHUB.as_bytes()), None);
        let r = req("exempt.example.test", "/").header("x-key", AWS);
        assert_eq!(refused(r.decide()), blocked("/", "aws-access-key"));
        let r = req("open.example.test", "/v1").header("x-token", GITHUB);
        assert_eq!(refused(r.decide()), blocked("/v1", "github-token"));
    }

    // Bodies.

    #[test]
    fn a_plain_body_streams_through_the_scan() {
        // Not read for the decision: it is scanned on its way
        // (`scanned_body`) with the route's scanner.
        let r = req("open.example.test", "/v1").header("content-encoding", "identity");
        let f = forwarded(r.decide());
        assert!(f.scanner.scan(GITHUB.as_bytes()).is_some());
    }

    #[test]
    fn a_compressed_body_is_read_decoded_and_scanned_whole() {
        let r = req("api.example.test", "/").header("content-encoding", "gzip");
        assert!(matches!(r.decide(), Decision::ReadBody));
        let clean = gzip(b"{\"q\":\"hello\"}");
        assert!(forwarded(r.decide_with(BodyFacts::Read(&clean))).injected);
        let leak = gzip(format!("key={GITHUB}").as_bytes());
        assert_eq!(
            refused(r.decide_with(BodyFacts::Read(&leak))),
            blocked("/", "github-token")
        );
        // Percent-encoded inside the compressed body.
        let leak = gzip(b"x=my%2Dcanary%2Dvalue%2D42");
        assert_eq!(
            refused(r.decide_with(BodyFacts::Read(&leak))),
            blocked("/", "canary:canary-NAME")
        );
    }

    #[test]
    fn every_content_encoding_line_counts() {
        // `identity` first, `gzip` on a second line: an upstream decodes the
        // list, so the proxy must too.
        let r = req("api.example.test", "/")
            .header("content-encoding", "identity")
            .header("content-encoding", "gzip");
        assert!(matches!(r.decide(), Decision::ReadBody));
        let leak = gzip(CANARY.as_bytes());
        assert_eq!(
            refused(r.decide_with(BodyFacts::Read(&leak))),
            blocked("/", "canary:canary-NAME")
        );
        let r = req("api.example.test", "/")
            .header("content-encoding", "identity")
            .header("content-encoding", "Identity ");
        assert!(forwarded(r.decide()).injected, "identity alone streams");
    }

    #[test]
    fn a_transfer_coding_other_than_chunked_is_refused() {
        for te in ["gzip, chunked", "deflate", "chunked, x-custom"] {
            let r = req("open.example.test", "/v1").header("transfer-encoding", te);
            assert_eq!(
                refused(r.decide()),
                blocked("/v1", "compressed-body"),
                "{te}"
            );
        }
        let r = req("open.example.test", "/v1").header("transfer-encoding", "Chunked");
        forwarded(r.decide());
    }

    #[test]
    fn a_decision_never_prints_the_secrets_it_carries() {
        let text = format!("{:?}", req("api.example.test", "/").decide());
        assert!(!text.contains(CANARY) && !text.contains(TOKEN), "{text}");
    }

    #[test]
    fn a_body_over_the_limit_is_refused() {
        let r = req("open.example.test", "/v1").header("content-encoding", "zstd");
        assert_eq!(
            refused(r.decide_with(BodyFacts::Unreadable)),
            blocked("/v1", "compressed-body")
        );
    }

    #[test]
    fn an_undecodable_body_is_refused() {
        let r = req("open.example.test", "/v1").header("content-encoding", "gzip");
        assert_eq!(
            refused(r.decide_with(BodyFacts::Read(b"not gzip at all"))),
            blocked("/v1", "compressed-body")
        );
        let r = req("open.example.test", "/v1").header("content-encoding", "br");
        assert_eq!(
            refused(r.decide_with(BodyFacts::Read(b"anything"))),
            blocked("/v1", "compressed-body")
        );
    }

    #[test]
    fn the_head_is_scanned_before_the_body_is_read() {
        // A leak in the headers is refused without reading the body.
        let r = req("open.example.test", "/v1")
            .header("content-encoding", "gzip")
            .header("x-key", AWS);
        assert_eq!(refused(r.decide()), blocked("/v1", "aws-access-key"));
    }

    #[test]
    fn a_bad_body_is_refused_before_a_missing_credential() {
        let r = req("nokey.example.test", "/").header("content-encoding", "gzip");
        assert_eq!(
            refused(r.decide_with(BodyFacts::Unreadable)),
            blocked("/", "compressed-body")
        );
    }
}
