//! The egress proxy (SPEC §4.3–4.5, §5.3) on the sidecar's internal
//! address, port 9099: HTTP/1.1 forward proxy and CONNECT.
//!
//! Every CONNECT is answered 200 and the tunnel's TLS is terminated with a
//! leaf certificate from the bottle's CA — also for an unrouted host, so the
//! agent reads the `egress_denied` JSON as an ordinary HTTPS response (a
//! body on a refused CONNECT is shown by no client). Nothing is resolved for
//! an unrouted host. Inside a tunnel every request is checked again: its
//! `Host` must be the tunnel's, it must be origin-form, its method and
//! normalized path must be routed. Then the agent's `Authorization` and
//! `Proxy-Authorization` are stripped, URL, headers and body are scanned
//! (DLP), the route's credential is injected, and the request goes to the
//! address the SSRF guard checked, over TLS verified against the embedded
//! web roots plus `upstream_ca`. Responses stream back as they arrive;
//! redirects are passed to the agent, never followed. `tls_passthrough`
//! routes get a blind tunnel once the ClientHello's SNI equals the CONNECT
//! host. One JSON line per decision goes to stdout.

use super::ca::LeafMinter;
use crate::policy::dlp::{Hit, Scanner};
use crate::policy::routes::{Route, Table};
use crate::policy::ssrf;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, HOST, PROXY_AUTHORIZATION};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Body = BoxBody<Bytes, BoxError>;
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The secrets entry naming the operator's upstream proxy (`http://[user:
/// pass@]host:port`), when there is one.
pub const UPSTREAM_PROXY: &str = "upstream-proxy";

/// Why plain http to a host whose route injects a credential is refused.
const PLAIN_HTTP_WITH_AUTH: &str =
    "this route injects a credential, which is only ever sent inside TLS: use https://";

/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Egress {
    pub table: RwLock<Arc<Table>>,
    pub minter: LeafMinter,
    pub upstream_tls: Arc<rustls::ClientConfig>,
    /// Where the route's `secret` files are (the sidecar's tmpfs).
    pub secrets_dir: PathBuf,
    /// Rebuilt when the secrets directory changes (its values are canaries).
    pub scanner: RwLock<Arc<Scanner>>,
}

impl Egress {
    fn scanner(&self) -> Arc<Scanner> {
        self.scanner
            .read()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn table(&self) -> Arc<Table> {
        self.table
            .read()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Parses `routes.json` text and makes it the live table (a bad file
    /// keeps the previous table). Open connections keep their tunnel; each
    /// next request is checked against the new table.
    pub fn load_routes(&self, text: &str) -> Result<usize, String> {
        let t = Table::parse(text)?;
        let n = t.routes.len();
        if let Ok(mut cur) = self.table.write() {
            *cur = Arc::new(t);
        }
        Ok(n)
    }
}

/// The upstream TLS configuration: Mozilla's roots (embedded) plus the
/// bottle's `upstream_ca` certificates.
pub fn upstream_tls(extra_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_pem {
        use rustls_pki_types::pem::PemObject;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("upstream_ca: {e}"))?;
            roots.add(cert).map_err(|e| format!("upstream_ca: {e}"))?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves the proxy until the listener fails.
pub async fn serve(listener: TcpListener, egress: Arc<Egress>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let eg = egress.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| front(req, eg.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

fn full(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_string() + "\n"))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

/// The path for the log: query values are never written.
fn loggable(target: &str) -> String {
    match target.split_once('?') {
        Some((p, q)) => {
            let names: Vec<&str> = q
                .split('&')
                .map(|kv| kv.split('=').next().unwrap_or(""))
                .collect();
            format!("{p}?{}", names.join("=…&") + "=…")
        }
        None => target.to_string(),
    }
}

/// Who asked for what: every decision about it is logged (one JSON line on
/// stdout) and answered through here.
struct Ask<'a> {
    host: &'a str,
    port: u16,
    method: &'a str,
}

impl Ask<'_> {
    fn log(&self, decision: &str, target: &str, extra: serde_json::Value) {
        let mut line = serde_json::json!({
            "ts": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "decision": decision,
            "host": self.host,
            "port": self.port,
            "method": self.method,
            "path": loggable(target),
        });
        if let (Some(l), Some(e)) = (line.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                l.insert(k.clone(), v.clone());
            }
        }
        println!("{line}");
    }

    /// `403 egress_denied`.
    fn deny(&self, target: &str, reason: &str) -> Response<Body> {
        self.log("denied", target, serde_json::json!({"reason": reason}));
        full(
            StatusCode::FORBIDDEN,
            serde_json::json!({
                "error": "egress_denied",
                "host": self.host,
                "reason": reason,
                "hint": "ask the operator with the supervise tool request_egress",
            }),
        )
    }

    /// `403 dlp_blocked` (the rule, never the value).
    fn block(&self, target: &str, hit: &Hit) -> Response<Body> {
        self.log("dlp_blocked", target, serde_json::json!({"rule": hit.rule}));
        full(
            StatusCode::FORBIDDEN,
            serde_json::json!({"error": "dlp_blocked", "rule": hit.rule}),
        )
    }

    /// `400 bad_request`: a request the proxy will not read one way while
    /// an upstream might read it another.
    fn bad_request(&self, target: &str, reason: &str) -> Response<Body> {
        self.log("denied", target, serde_json::json!({"reason": reason}));
        full(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "bad_request", "host": self.host, "reason": reason}),
        )
    }

    /// `502 secret_reflected`: the upstream's answer held one of this
    /// bottle's secret values (named, never shown).
    fn reflected(&self, target: &str, name: &str) -> Response<Body> {
        self.log(
            "secret_reflected",
            target,
            serde_json::json!({"secret": name}),
        );
        full(
            StatusCode::BAD_GATEWAY,
            serde_json::json!({"error": "secret_reflected", "host": self.host,
                "reason": "the upstream's answer held a secret value of this bottle; it was not passed on"}),
        )
    }

    /// `502 egress_upstream`: allowed, but the upstream could not be had.
    fn upstream_failed(&self, target: &str, reason: String) -> Response<Body> {
        self.log("denied", target, serde_json::json!({"reason": reason}));
        full(
            StatusCode::BAD_GATEWAY,
            serde_json::json!({"error": "egress_upstream", "host": self.host, "reason": reason}),
        )
    }
}

/// `host:port` of a CONNECT or an absolute URI (the port by scheme).
fn authority_of(req: &Request<Incoming>) -> Option<(String, u16)> {
    let a = req.uri().authority()?;
    let port = a.port_u16().or(match req.uri().scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    })?;
    Some((a.host().trim_matches(['[', ']']).to_string(), port))
}

/// What the agent's proxy client sent: CONNECT, or an absolute-form
/// plain-HTTP request.
async fn front(mut req: Request<Incoming>, eg: Arc<Egress>) -> Result<Response<Body>, BoxError> {
    let Some((host, port)) = authority_of(&req) else {
        let ask = Ask {
            host: "",
            port: 0,
            method: req.method().as_str(),
        };
        let mut r = ask.deny(
            &req.uri().to_string(),
            "send requests through the proxy (absolute-form or CONNECT)",
        );
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(r);
    };
    if req.method() == Method::CONNECT {
        let table = eg.table();
        let route = table.find(&host, port).cloned();
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else {
                return;
            };
            let io = TokioIo::new(upgraded);
            match route {
                Ok(r) if r.tls_passthrough => passthrough(io, &host, port, &r, &eg).await,
                _ => intercept(io, host, port, eg).await,
            }
        });
        return Ok(Response::new(empty()));
    }
    let method = req.method().as_str().to_string();
    let ask = Ask {
        host: &host,
        port,
        method: &method,
    };
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    // Plain HTTP through the proxy.
    if req.uri().scheme_str() != Some("http") {
        return Ok(ask.deny(
            &target,
            "only http:// is proxied in absolute form; use CONNECT for https",
        ));
    }
    if let Err(why) = one_host(req.headers(), &host, port, 80) {
        return Ok(ask.bad_request(&target, why));
    }
    forward(req, &ask, &target, false, &eg).await
}

/// A terminated TLS tunnel: every request inside is checked on its own.
async fn intercept(
    io: TokioIo<hyper::upgrade::Upgraded>,
    host: String,
    port: u16,
    eg: Arc<Egress>,
) {
    // A name, or an IP literal (IPv6 too: refused inside, with the JSON).
    let Some(name) = crate::policy::routes::normalize_host(&host)
        .or_else(|| host.parse::<IpAddr>().ok().map(|ip| ip.to_string()))
    else {
        return;
    };
    let config = match eg.minter.config_for(&name) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("egress: minting a certificate for {name}: {e}");
            return;
        }
    };
    let Ok(tls) = tokio_rustls::TlsAcceptor::from(config).accept(io).await else {
        return;
    };
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        tunneled(req, host.clone(), port, eg.clone())
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .with_upgrades()
        .await;
}

/// One request inside a tunnel to `host:port`.
async fn tunneled(
    req: Request<Incoming>,
    host: String,
    port: u16,
    eg: Arc<Egress>,
) -> Result<Response<Body>, BoxError> {
    let method = req.method().as_str().to_string();
    let ask = Ask {
        host: &host,
        port,
        method: &method,
    };
    let target = req.uri().to_string();
    if req.method() == Method::CONNECT {
        return Ok(ask.deny(&target, "CONNECT inside a tunnel"));
    }
    if req.uri().scheme().is_some() || req.uri().authority().is_some() {
        return Ok(ask.deny(&target, "absolute-form request inside a tunnel"));
    }
    if let Err(why) = one_host(req.headers(), &host, port, 443) {
        return Ok(ask.bad_request(&target, why));
    }
    forward(req, &ask, &target, true, &eg).await
}

/// The request must carry exactly one `Host`, naming (after normalization)
/// the tunnel's or absolute-form authority: a second one, or another
/// host, would let a shared front end (CDN, virtual hosts) route the
/// injected credential to a host that was never granted.
fn one_host(
    headers: &hyper::HeaderMap,
    host: &str,
    port: u16,
    default_port: u16,
) -> Result<(), &'static str> {
    let mut all = headers.get_all(HOST).iter();
    let (Some(named), None) = (all.next(), all.next()) else {
        return Err("a request needs exactly one Host header");
    };
    let named = named
        .to_str()
        .map_err(|_| "the Host header is not plain text")?;
    let (named_host, named_port) = split_authority(named)?;
    let same_name = match (
        crate::policy::routes::normalize_host(named_host),
        crate::policy::routes::normalize_host(host),
    ) {
        (Some(a), Some(b)) => a == b,
        // IP literals (IPv6 too): the same address.
        _ => match (named_host.parse::<IpAddr>(), host.parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        },
    };
    let same = same_name && named_port.unwrap_or(default_port) == port;
    if same {
        Ok(())
    } else {
        Err("the Host header names another host than the request's authority")
    }
}

/// `host[:port]` or `[v6][:port]` → (host without brackets, port).
fn split_authority(text: &str) -> Result<(&str, Option<u16>), &'static str> {
    let bad_port = "the Host header's port is not a number";
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or("the Host header is not a host")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((addr, Some(p.parse().map_err(|_| bad_port)?))),
            None if after.is_empty() => Ok((addr, None)),
            None => Err("the Host header is not a host"),
        };
    }
    match text.rsplit_once(':') {
        Some((h, p)) => Ok((h, Some(p.parse().map_err(|_| bad_port)?))),
        None => Ok((text, None)),
    }
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

/// Checks, scans, injects and forwards one request; streams the answer.
async fn forward(
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
    if let Some(name) = super::reflect::in_headers(&own, resp.headers()) {
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
        let mut down = tokio::spawn(super::ws::relay_reflected(upstream_r, client_w, own));
        let ask = Ask {
            host: &host,
            port,
            method: "WS",
        };
        tokio::select! {
            up = super::ws::relay_scanned(client_r, upstream_w, &scanner) => match up {
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

/// The upstream's answer on its way to the agent, scanned for this
/// bottle's own secret values (SPEC §4.4): headers whole, a compressed
/// body decoded (bounded) and scanned whole, a plain body as it streams.
/// A hit answers `502 secret_reflected`, or cuts a body already under
/// way; the log names the value, never shows it.
async fn reflect_checked(
    resp: Response<Incoming>,
    ask: &Ask<'_>,
    path: &str,
    scanner: &Scanner,
) -> Response<Body> {
    let own = scanner.own_values();
    if own.is_empty() {
        return resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed());
    }
    if let Some(name) = super::reflect::in_headers(&own, resp.headers()) {
        return ask.reflected(path, &name);
    }
    let encoding = resp
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|v| !v.trim().eq_ignore_ascii_case("identity"));
    let (parts, body) = resp.into_parts();
    if let Some(coding) = encoding {
        let Ok(collected) = http_body_util::Limited::new(body, crate::policy::decode::MAX_ENCODED)
            .collect()
            .await
        else {
            return ask.reflected(path, "an unreadable compressed response");
        };
        let raw = collected.to_bytes();
        let Ok(plain) = crate::policy::decode::decode(&coding, &raw) else {
            return ask.reflected(path, "an undecodable compressed response");
        };
        let mut scan = super::reflect::ReflectScan::new(own);
        if let Err(name) = scan.push(&plain).and_then(|_| scan.push(&raw)) {
            return ask.reflected(path, &name);
        }
        return Response::from_parts(
            parts,
            Full::new(raw).map_err(|never| match never {}).boxed(),
        );
    }
    // The first chunk decides the common case (a small body) with a clear
    // `502`; the rest is checked as it streams.
    let mut body = body;
    let mut scan = super::reflect::ReflectScan::new(own);
    let first = match body.frame().await {
        Some(Ok(frame)) => match frame.into_data() {
            Ok(data) => match scan.push(&data) {
                Ok(out) => Some(Ok(Frame::data(Bytes::from(out)))),
                Err(name) => return ask.reflected(path, &name),
            },
            Err(frame) => match frame.trailers_ref() {
                Some(t) if scan_headers_hit(&scan, t) => {
                    return ask.reflected(path, "a trailer");
                }
                _ => Some(Ok(frame)),
            },
        },
        Some(Err(e)) => Some(Err(Box::new(e) as BoxError)),
        None => None,
    };
    let log = (
        ask.host.to_string(),
        ask.port,
        ask.method.to_string(),
        path.to_string(),
    );
    let first = futures_util::stream::iter(first);
    let state = (body, scan, false, log);
    let stream =
        futures_util::stream::unfold(state, |(mut body, mut scan, done, log)| async move {
            if done {
                return None;
            }
            loop {
                let item: Result<Frame<Bytes>, BoxError> = match body.frame().await {
                    None => {
                        let rest = scan.finish();
                        if rest.is_empty() {
                            return None;
                        }
                        Ok(Frame::data(Bytes::from(rest)))
                    }
                    Some(Err(e)) => Err(Box::new(e)),
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => match scan.push(&data) {
                            Ok(out) if out.is_empty() => continue,
                            Ok(out) => Ok(Frame::data(Bytes::from(out))),
                            Err(name) => {
                                let ask = Ask {
                                    host: &log.0,
                                    port: log.1,
                                    method: &log.2,
                                };
                                ask.log(
                                    "secret_reflected",
                                    &log.3,
                                    serde_json::json!({"secret": name}),
                                );
                                Err(Box::new(std::io::Error::other("secret reflected")) as BoxError)
                            }
                        },
                        // Trailers are headers: checked like them.
                        Err(frame) => match frame.trailers_ref() {
                            Some(t) if scan_headers_hit(&scan, t) => {
                                Err(Box::new(std::io::Error::other("secret reflected")) as BoxError)
                            }
                            _ => Ok(frame),
                        },
                    },
                };
                let done = item.is_err();
                return Some((item, (body, scan, done, log)));
            }
        });
    Response::from_parts(
        parts,
        BodyExt::boxed(StreamBody::new(futures_util::StreamExt::chain(
            first, stream,
        ))),
    )
}

fn scan_headers_hit(scan: &super::reflect::ReflectScan, headers: &hyper::HeaderMap) -> bool {
    super::reflect::in_headers(scan.own(), headers).is_some()
}

/// The agent's body as it goes upstream: released only as it is scanned;
/// a hit is kept in `hit` and aborts the upstream request.
fn scanned_body(
    mut body: Incoming,
    scanner: Scanner,
    hit: Arc<std::sync::Mutex<Option<Hit>>>,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(8);
    tokio::spawn(async move {
        let mut scan = scanner.stream();
        let outcome = loop {
            let data = match body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(d) => d,
                    Err(_) => continue,
                },
                Some(Err(e)) => {
                    let err: BoxError = Box::new(e);
                    let _ = tx.send(Err(err)).await;
                    return;
                }
                None => break scan.finish(),
            };
            match scan.push(&data) {
                Ok(out) if out.is_empty() => {}
                Ok(out) => {
                    if tx.send(Ok(Frame::data(Bytes::from(out)))).await.is_err() {
                        return;
                    }
                }
                Err(h) => break Err(h),
            }
        };
        match outcome {
            Ok(rest) if rest.is_empty() => {}
            Ok(rest) => {
                let _ = tx.send(Ok(Frame::data(Bytes::from(rest)))).await;
            }
            Err(h) => {
                if let Ok(mut slot) = hit.lock() {
                    *slot = Some(h);
                }
                let _ = tx.send(Err(dlp_error())).await;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let item: Option<Result<Frame<Bytes>, BoxError>> = rx.recv().await;
        item.map(|item| (item, rx))
    });
    BodyExt::boxed(StreamBody::new(stream))
}

fn dlp_error() -> BoxError {
    Box::new(std::io::Error::other("blocked by DLP"))
}

/// Resolves `host` (no lookup for an IP literal), keeps the addresses the
/// SSRF guard allows, connects to one of them. With an upstream proxy the
/// connection is a CONNECT tunnel through it instead; the proxy resolves
/// names then (an IP literal is still checked here).
async fn connect_checked(
    host: &str,
    port: u16,
    route: &Route,
    secrets_dir: &std::path::Path,
) -> Result<TcpStream, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !ssrf::allowed(ip, &route.ssrf_ip_allowlist) {
            return Err(format!(
                "{ip} is not globally routable (not in the route's ssrf_ip_allowlist)"
            ));
        }
    }
    if let Ok(url) = std::fs::read_to_string(secrets_dir.join(UPSTREAM_PROXY)) {
        return via_upstream_proxy(url.trim(), host, port).await;
    }
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| format!("resolving {host} timed out"))?
            .map_err(|e| format!("resolving {host}: {e}"))?
            .map(|sa: SocketAddr| sa.ip())
            .collect(),
    };
    let allowed = ssrf::filter(&addrs, &route.ssrf_ip_allowlist);
    if allowed.is_empty() {
        return Err(format!(
            "{host} resolves only to addresses that are not globally routable (not in the route's ssrf_ip_allowlist)"
        ));
    }
    let mut last = String::new();
    for ip in allowed {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((ip, port))).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = format!("connecting to {ip}:{port}: {e}"),
            Err(_) => last = format!("connecting to {ip}:{port} timed out"),
        }
    }
    Err(last)
}

/// A CONNECT tunnel to `host:port` through the operator's proxy.
async fn via_upstream_proxy(url: &str, host: &str, port: u16) -> Result<TcpStream, String> {
    use base64::Engine as _;
    let rest = url
        .strip_prefix("http://")
        .ok_or("the upstream proxy is not an http:// URL")?
        .trim_end_matches('/');
    let (userinfo, authority) = match rest.rsplit_once('@') {
        Some((u, a)) => (Some(u), a),
        None => (None, rest),
    };
    let proxy_addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let mut tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&proxy_addr))
        .await
        .map_err(|_| "connecting to the upstream proxy timed out".to_string())?
        .map_err(|e| format!("connecting to the upstream proxy: {e}"))?;
    let mut head = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let Some(u) = userinfo {
        let decoded: String = crate::policy::dlp::percent_decode_str(u);
        head.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(decoded)
        ));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes())
        .await
        .map_err(|e| format!("upstream proxy: {e}"))?;
    let mut reply = Vec::new();
    while !reply.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(CONNECT_TIMEOUT, tcp.read(&mut b))
            .await
            .map_err(|_| "the upstream proxy did not answer".to_string())?
            .map_err(|e| format!("upstream proxy: {e}"))?;
        if n == 0 || reply.len() > 16384 {
            return Err("the upstream proxy closed the connection".into());
        }
        reply.push(b[0]);
    }
    let status = String::from_utf8_lossy(&reply);
    let first = status.lines().next().unwrap_or_default();
    if first.split_whitespace().nth(1) != Some("200") {
        return Err(format!("the upstream proxy refused: {first}"));
    }
    Ok(tcp)
}

async fn send_upstream(
    req: Request<Body>,
    host: &str,
    port: u16,
    tls: bool,
    route: &Route,
    eg: &Egress,
) -> Result<Response<Incoming>, String> {
    let tcp = connect_checked(host, port, route, &eg.secrets_dir).await?;
    if tls {
        let name = rustls_pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host}: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(eg.upstream_tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS to {host}: {e}"))?;
        exchange(TokioIo::new(stream), req).await
    } else {
        exchange(TokioIo::new(tcp), req).await
    }
}

async fn exchange<I>(io: I, req: Request<Body>) -> Result<Response<Incoming>, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    // Upgrades allowed: a WebSocket handshake's connection carries on.
    tokio::spawn(conn.with_upgrades());
    sender.send_request(req).await.map_err(|e| e.to_string())
}

/// A blind tunnel for a `tls_passthrough` route: the ClientHello must name
/// the CONNECT host; then bytes are copied both ways.
async fn passthrough(
    mut io: TokioIo<hyper::upgrade::Upgraded>,
    host: &str,
    port: u16,
    route: &Route,
    eg: &Egress,
) {
    let ask = Ask {
        host,
        port,
        method: "CONNECT",
    };
    let mut hello = vec![0u8; 0];
    let mut buf = [0u8; 4096];
    // Read until the whole first record is in (bounded).
    let sni = loop {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => hello.extend_from_slice(&buf[..n]),
        }
        match client_hello_sni(&hello) {
            SniParse::Incomplete if hello.len() < 16 * 1024 => continue,
            SniParse::Found(name) => break Some(name),
            _ => break None,
        }
    };
    let matches = sni
        .as_deref()
        .and_then(crate::policy::routes::normalize_host)
        == crate::policy::routes::normalize_host(host);
    if !matches {
        ask.log(
            "denied",
            "",
            serde_json::json!({"reason": "passthrough SNI differs from the CONNECT host", "sni": sni}),
        );
        return;
    }
    let mut upstream = match connect_checked(host, port, route, &eg.secrets_dir).await {
        Ok(s) => s,
        Err(e) => {
            ask.log("denied", "", serde_json::json!({"reason": e}));
            return;
        }
    };
    ask.log("allowed", "", serde_json::json!({"passthrough": true}));
    if upstream.write_all(&hello).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut io, &mut upstream).await;
}

#[derive(Debug, PartialEq, Eq)]
enum SniParse {
    Incomplete,
    Found(String),
    None,
}

/// The server name of a TLS ClientHello (the first handshake record).
fn client_hello_sni(b: &[u8]) -> SniParse {
    fn get(b: &[u8], at: usize, n: usize) -> Option<&[u8]> {
        b.get(at..at.checked_add(n)?)
    }
    fn u16_at(b: &[u8], at: usize) -> Option<usize> {
        get(b, at, 2).map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
    }
    if b.len() < 5 {
        return SniParse::Incomplete;
    }
    if b[0] != 0x16 {
        return SniParse::None;
    }
    let Some(rec_len) = u16_at(b, 3) else {
        return SniParse::Incomplete;
    };
    if b.len() < 5 + rec_len {
        return SniParse::Incomplete;
    }
    let h = &b[5..5 + rec_len];
    let parse = || -> Option<String> {
        if *h.first()? != 1 {
            return None;
        }
        let mut at = 4 + 2 + 32; // handshake header, version, random
        at += 1 + usize::from(*h.get(at)?); // session id
        at += 2 + u16_at(h, at)?; // cipher suites
        at += 1 + usize::from(*h.get(at)?); // compression
        let ext_end = at + 2 + u16_at(h, at)?;
        at += 2;
        while at + 4 <= ext_end {
            let ty = u16_at(h, at)?;
            let len = u16_at(h, at + 2)?;
            if ty == 0 {
                // server_name list: total len, type (0 = host_name), len, name
                let name_len = u16_at(h, at + 4 + 3)?;
                let name = get(h, at + 4 + 5, name_len)?;
                return String::from_utf8(name.to_vec()).ok();
            }
            at += 4 + len;
        }
        None
    };
    match parse() {
        Some(n) => SniParse::Found(n),
        None => SniParse::None,
    }
}

/// Reloads `routes.json` when it changes (checked twice a second; a bad
/// file is reported and the previous table kept; open connections go on),
/// and rebuilds the DLP scanner when the secrets directory changes.
pub async fn watch(routes: PathBuf, egress: Arc<Egress>) {
    let mut last: Option<Vec<u8>> = None;
    let mut last_secrets: Option<Vec<(String, String)>> = None;
    loop {
        if let Ok(bytes) = tokio::fs::read(&routes).await {
            if last.as_ref() != Some(&bytes) {
                match egress.load_routes(&String::from_utf8_lossy(&bytes)) {
                    Ok(n) => {
                        println!("{}", serde_json::json!({"event": "routes", "routes": n}));
                    }
                    Err(e) => eprintln!("egress: keeping the previous routes: {e}"),
                }
                last = Some(bytes);
            }
        }
        let secrets = read_secrets(&egress.secrets_dir);
        if last_secrets.as_ref() != Some(&secrets) {
            let scanner = Scanner::new(&secrets, &[]);
            if let Ok(mut cur) = egress.scanner.write() {
                *cur = Arc::new(scanner);
            }
            println!(
                "{}",
                serde_json::json!({"event": "secrets", "count": secrets.len()})
            );
            last_secrets = Some(secrets);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// (name, value) of every file in the secrets directory.
fn read_secrets(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    // Hidden temp files; of the proxy URL only its password.
                    if name.starts_with('.') {
                        return None;
                    }
                    let value = std::fs::read_to_string(e.path()).ok()?;
                    if name == UPSTREAM_PROXY {
                        return proxy_password(value.trim()).map(|p| (name, p));
                    }
                    Some((name, value.trim().to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The password in an `http://user:password@host:port` proxy URL.
fn proxy_password(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (userinfo, _) = rest.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(crate::policy::dlp::percent_decode_str(password))
}

/// Writes secret values handed over on stdin (a JSON object of name →
/// value) into the secrets directory: 0600 files in a 0700 directory, each
/// by temp file + rename. Run inside the sidecar by `docker exec`.
pub fn put_secrets(dir: &std::path::Path, json: &str) -> anyhow::Result<usize> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let values: std::collections::BTreeMap<String, String> =
        serde_json::from_str(json).map_err(|e| anyhow::anyhow!("secrets on stdin: {e}"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    for (name, value) in &values {
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !plain {
            anyhow::bail!("secret name `{name}` is not a plain file name");
        }
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(value.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(values.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_never_holds_query_values() {
        assert_eq!(loggable("/a/b?token=s3cret&x=1"), "/a/b?token=…&x=…");
        assert_eq!(loggable("/plain"), "/plain");
    }

    #[test]
    fn sni_is_read_from_a_client_hello() {
        // A ClientHello from rustls for "api.example.test".
        let config = upstream_tls(None).expect("config");
        let name = rustls_pki_types::ServerName::try_from("api.example.test").expect("name");
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("conn");
        let mut hello = Vec::new();
        conn.write_tls(&mut hello).expect("hello");
        assert_eq!(
            client_hello_sni(&hello),
            SniParse::Found("api.example.test".into())
        );
        assert_eq!(
            client_hello_sni(&hello[..hello.len() / 2]),
            SniParse::Incomplete
        );
        assert_eq!(client_hello_sni(b"GET / HTTP/1.1\r\n"), SniParse::None);
    }
}
