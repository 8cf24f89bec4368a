//! The forward path of one request: route, upgrade rules, the agent's
//! credentials stripped, DLP on URL, headers and body, the route's
//! credential injected; then the request goes upstream and its answer
//! streams back (a WebSocket upgrade is relayed frame by frame).

use super::body::{reflect_checked, scanned_body};
use super::upstream::send_upstream;
use super::{empty, Ask, Body, BoxError, Egress};
use crate::policy::dlp::{Hit, Scanner};
use crate::policy::routes::Route;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, HOST, PROXY_AUTHORIZATION};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// Why plain http to a host whose route injects a credential is refused.
const PLAIN_HTTP_WITH_AUTH: &str =
    "this route injects a credential, which is only ever sent inside TLS: use https://";

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

/// Checks, scans, injects and forwards one request; streams the answer.
pub(super) async fn forward(
    mut req: Request<Incoming>,
    ask: &Ask<'_>,
    target: &str,
    tls: bool,
    eg: &Egress,
) -> Result<Response<Body>, BoxError> {
    let table = eg.table();
    let (route, path): (Route, String) =
        match table.route_for(ask.host, ask.port, ask.method, target) {
            Ok((r, p)) => (r.clone(), p),
            Err(crate::policy::routes::Denial::Port) if !tls && table.injects_on(ask.host) => {
                return Ok(ask.deny(target, PLAIN_HTTP_WITH_AUTH));
            }
            Err(d) => return Ok(ask.deny(target, d.reason())),
        };
    if route.tls_passthrough {
        return Ok(ask.deny(target, "a passthrough route is reached by CONNECT only"));
    }
    if route.auth.is_some() && !tls {
        return Ok(ask.deny(target, PLAIN_HTTP_WITH_AUTH));
    }
    let upgrade = req
        .headers()
        .get(hyper::header::UPGRADE)
        .is_some_and(|v| !v.is_empty());
    if upgrade && !route.websocket {
        return Ok(ask.deny(target, "upgrade (WebSocket) not allowed on this route"));
    }
    let websocket_only = req
        .headers()
        .get_all(hyper::header::UPGRADE)
        .iter()
        .all(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if upgrade && !websocket_only {
        // h2c and other protocols would carry requests past every check.
        return Ok(ask.deny(target, "only WebSocket upgrades are proxied"));
    }
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    parts.headers.remove(AUTHORIZATION);
    parts.headers.remove(PROXY_AUTHORIZATION);
    parts.headers.remove("proxy-connection");
    // WebSocket extensions (permessage-deflate) would hide what the agent
    // sends from the frame scan: none is ever negotiated.
    parts
        .headers
        .remove(hyper::header::SEC_WEBSOCKET_EXTENSIONS);
    match host_value(ask.host, ask.port, tls) {
        Some(v) => {
            parts.headers.insert(HOST, v);
        }
        None => return Ok(ask.deny(target, "the host is not a header value")),
    }
    let scanner = eg.scanner().for_route(&route.dlp_exempt);
    // DLP on what the agent sent: the target, the headers, then the body.
    let mut head = String::new();
    for (k, v) in &parts.headers {
        head.push_str(k.as_str());
        head.push_str(": ");
        head.push_str(&String::from_utf8_lossy(v.as_bytes()));
        head.push_str("\r\n");
    }
    if let Some(hit) = scanner
        .scan_target(target)
        .or_else(|| scanner.scan(head.as_bytes()))
    {
        return Ok(ask.block(&path, &hit));
    }
    // A compressed body is decoded (bounded) and scanned whole, then sent
    // as it came; one that cannot be decoded is refused.
    let encoding = parts
        .headers
        .get(hyper::header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|v| !v.trim().eq_ignore_ascii_case("identity"));
    let prescanned = match encoding {
        Some(coding) => {
            let refused = Hit {
                rule: "compressed-body".into(),
            };
            let Ok(collected) =
                http_body_util::Limited::new(body, crate::policy::decode::MAX_ENCODED)
                    .collect()
                    .await
            else {
                return Ok(ask.block(&path, &refused));
            };
            let raw = collected.to_bytes();
            let Ok(plain) = crate::policy::decode::decode(&coding, &raw) else {
                return Ok(ask.block(&path, &refused));
            };
            if let Some(hit) = scanner.scan(&plain) {
                return Ok(ask.block(&path, &hit));
            }
            Ok(raw)
        }
        None => Err(body),
    };
    let injected = route.auth.is_some();
    if let Some(auth) = &route.auth {
        let Ok(token) = std::fs::read_to_string(eg.secrets_dir.join(&auth.secret)) else {
            return Ok(ask.deny(&path, "the route's credential is missing in the sidecar"));
        };
        let Ok(mut v) = HeaderValue::from_str(&format!("{} {}", auth.scheme, token.trim())) else {
            return Ok(ask.deny(&path, "the route's credential is not a header value"));
        };
        v.set_sensitive(true);
        parts.headers.insert(AUTHORIZATION, v);
        // The response is scanned for the credential: ask for it
        // uncompressed (a compressed one is decoded to be scanned).
        parts.headers.insert(
            hyper::header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    parts.uri = match path.parse() {
        Ok(u) => u,
        Err(_) => return Ok(ask.deny(&path, "the path is not a valid request target")),
    };
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

/// A WebSocket upgrade on a `websocket: true` route: the handshake goes
/// upstream (checked and injected like any request); after a 101 the
/// upstream's frames pass to the agent as they come, and the agent's frames
/// pass only after DLP scanned each message. A hit closes both sides.
#[allow(clippy::too_many_arguments)]
async fn websocket(
    req: Request<Body>,
    client_upgrade: hyper::upgrade::OnUpgrade,
    ask: &Ask<'_>,
    path: &str,
    tls: bool,
    route: &Route,
    eg: &Egress,
    scanner: Scanner,
) -> Result<Response<Body>, BoxError> {
    let mut resp = match send_upstream(req, ask.host, ask.port, tls, route, eg).await {
        Ok(r) => r,
        Err(e) => return Ok(ask.upstream_failed(path, e)),
    };
    ask.log(
        "allowed",
        path,
        serde_json::json!({"status": resp.status().as_u16(), "websocket": true}),
    );
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(reflect_checked(resp, ask, path, &scanner).await);
    }
    if resp
        .headers()
        .contains_key(hyper::header::SEC_WEBSOCKET_EXTENSIONS)
    {
        return Ok(ask.upstream_failed(
            path,
            "the upstream negotiated a WebSocket extension that was not offered".into(),
        ));
    }
    let own = scanner.own_values();
    if let Some(name) = crate::sidecar::egress::reflect::in_headers(&own, resp.headers()) {
        return Ok(ask.reflected(path, &name));
    }
    let upstream_upgrade = hyper::upgrade::on(&mut resp);
    let mut back = Response::new(empty());
    *back.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *back.headers_mut() = resp.headers().clone();
    let (host, port, path) = (ask.host.to_string(), ask.port, path.to_string());
    tokio::spawn(async move {
        let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await) else {
            return;
        };
        let (client_r, client_w) = tokio::io::split(TokioIo::new(client));
        let (upstream_r, upstream_w) = tokio::io::split(TokioIo::new(upstream));
        let mut down = tokio::spawn(crate::sidecar::egress::ws::relay_reflected(
            upstream_r, client_w, own,
        ));
        let ask = Ask {
            host: &host,
            port,
            method: "WS",
        };
        tokio::select! {
            up = crate::sidecar::egress::ws::relay_scanned(client_r, upstream_w, &scanner) => match up {
                Ok(Some(hit)) => {
                    ask.log("dlp_blocked", &path, serde_json::json!({"rule": hit.rule}));
                    // Both sides close: the agent's half goes with the task.
                    down.abort();
                }
                Err(e) => {
                    ask.log("denied", &path, serde_json::json!({"reason": e}));
                    down.abort();
                }
                Ok(None) => {
                    let _ = down.await;
                }
            },
            got = &mut down => {
                if let Ok(Ok(Some(name))) = got {
                    ask.log("secret_reflected", &path, serde_json::json!({"secret": name}));
                }
                // The upstream side ended (or was cut): the agent's half
                // closes with this task.
            }
        }
    });
    Ok(back)
}
