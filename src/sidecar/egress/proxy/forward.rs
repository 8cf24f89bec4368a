//! The forward path of one request. Its decision is `decide()`, pure (no
//! I/O, no engine): route, upgrade rules, the agent's credentials
//! stripped, DLP on URL, headers and (a compressed) body, the route's
//! credential injected — in that order, which keeps credentials safe.
//! `forward()` does the I/O around it: reads a compressed body when
//! `decide()` asks for it, streams a plain body through the DLP scan,
//! sends the request upstream and streams the answer back (a WebSocket
//! upgrade is relayed frame by frame).

use super::body::{reflect_checked, scanned_body};
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
    // as it came; one that cannot be decoded is refused.
    let encoding = headers
        .get(hyper::header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|v| !v.trim().eq_ignore_ascii_case("identity"));
    if let Some(coding) = encoding {
        let refused = Hit {
            rule: "compressed-body".into(),
        };
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
            scanner,
        )
        .await;
    }
    let hit: Arc<std::sync::Mutex<Option<Hit>>> = Arc::default();
    let out_body = match prescanned {
        Ok(raw) => Full::new(raw).map_err(|never| match never {}).boxed(),
        Err(body) => scanned_body(body, scanner.clone(), hit.clone()),
    };
    let out_req = Request::from_parts(parts, out_body);
    let sent = send_upstream(out_req, ask.host, ask.port, tls, &route, eg).await;
    if let Some(h) = hit.lock().ok().and_then(|h| h.clone()) {
        return Ok(ask.block(&path, &h));
    }
    match sent {
        Ok(resp) => {
            ask.log(
                if injected { "injected" } else { "allowed" },
                &path,
                serde_json::json!({"status": resp.status().as_u16()}),
            );
            Ok(reflect_checked(resp, ask, &path, &scanner).await)
        }
        Err(e) => Ok(ask.upstream_failed(&path, e)),
    }
}
