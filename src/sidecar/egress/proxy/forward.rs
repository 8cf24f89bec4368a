//! The forward path of one request: route, upgrade rules, the agent's
//! credentials stripped, DLP on URL, headers and body, the route's
//! credential injected; then the request goes upstream and its answer
//! streams back (a WebSocket upgrade is relayed frame by frame).

use super::body::{reflect_checked, scanned_body};
use super::upstream::send_upstream;
use super::websocket::websocket;
use super::{empty, Ask, Body, BoxError, Egress};
use crate::policy::dlp::Hit;
use crate::policy::routes::Route;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, HOST, PROXY_AUTHORIZATION};
use hyper::{Request, Response};
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
