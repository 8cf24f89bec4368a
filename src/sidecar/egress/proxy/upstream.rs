//! The upstream leg: a connection only to an address the SSRF guard
//! kept (or a CONNECT tunnel through the operator's proxy), TLS verified
//! against the embedded web roots plus `upstream_ca`, HTTP/1.1 exchanges
//! on it (pooled: `pool`).

use super::pool::{Key, PooledBody, Resolve, Upstreams, Via};
use super::{Body, BoxError, Egress};
use crate::policy::routes::Route;
use crate::policy::ssrf;
use crate::sidecar::egress::secrets::UPSTREAM_PROXY;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

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

/// Where the SSRF guard lets a connection for one request go.
pub(super) enum Checked {
    /// These addresses (resolved now, each allowed), in the resolver's
    /// order.
    Direct(Vec<IpAddr>),
    /// A CONNECT tunnel through the operator's proxy (its URL); the proxy
    /// resolves names then (an IP literal was still checked here).
    Proxy(String),
}

impl Checked {
    /// The connections this check allows, as pool keys' `Via`.
    pub(super) fn vias(&self, port: u16) -> Vec<Via> {
        match self {
            Checked::Direct(ips) => ips
                .iter()
                .map(|ip| Via::Direct(SocketAddr::new(*ip, port)))
                .collect(),
            Checked::Proxy(url) => vec![Via::Proxy(url.clone())],
        }
    }
}

/// The SSRF check of one request: resolves `host` (no lookup for an IP
/// literal) and keeps the addresses the guard allows. Run for every
/// request, before a pooled connection is looked for, so a name that now
/// resolves elsewhere never gets an older address's connection.
pub(super) async fn check(
    host: &str,
    port: u16,
    route: &Route,
    secrets_dir: &std::path::Path,
    resolve: &Resolve,
) -> Result<Checked, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !ssrf::allowed(ip, &route.ssrf_ip_allowlist) {
            return Err(format!(
                "{ip} is not globally routable (not in the route's ssrf_ip_allowlist)"
            ));
        }
    }
    if let Ok(url) = std::fs::read_to_string(secrets_dir.join(UPSTREAM_PROXY)) {
        return Ok(Checked::Proxy(url.trim().to_string()));
    }
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::time::timeout(CONNECT_TIMEOUT, resolve(host.to_string(), port))
            .await
            .map_err(|_| format!("resolving {host} timed out"))?
            .map_err(|e| format!("resolving {host}: {e}"))?,
    };
    let allowed = ssrf::filter(&addrs, &route.ssrf_ip_allowlist);
    if allowed.is_empty() {
        return Err(format!(
            "{host} resolves only to addresses that are not globally routable (not in the route's ssrf_ip_allowlist)"
        ));
    }
    Ok(Checked::Direct(allowed))
}

/// A new connection where `checked` allows (the first address that
/// answers), and where it went.
pub(super) async fn open(
    checked: &Checked,
    host: &str,
    port: u16,
) -> Result<(TcpStream, Via), String> {
    let url = match checked {
        Checked::Proxy(url) => url,
        Checked::Direct(allowed) => {
            let mut last = String::new();
            for ip in allowed {
                let addr = SocketAddr::new(*ip, port);
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                    Ok(Ok(s)) => {
                        let _ = s.set_nodelay(true);
                        return Ok((s, Via::Direct(addr)));
                    }
                    Ok(Err(e)) => last = format!("connecting to {ip}:{port}: {e}"),
                    Err(_) => last = format!("connecting to {ip}:{port} timed out"),
                }
            }
            return Err(last);
        }
    };
    let s = via_upstream_proxy(url, host, port).await?;
    let _ = s.set_nodelay(true);
    Ok((s, Via::Proxy(url.clone())))
}

/// The SSRF check and a new connection (a passthrough tunnel's: never
/// pooled, it carries the agent's own TLS).
pub(super) async fn connect_checked(
    host: &str,
    port: u16,
    route: &Route,
    secrets_dir: &std::path::Path,
    resolve: &Resolve,
) -> Result<TcpStream, String> {
    let checked = check(host, port, route, secrets_dir, resolve).await?;
    Ok(open(&checked, host, port).await?.0)
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

/// An answer from upstream, and whether it came over a pooled connection.
pub(super) struct Sent {
    pub resp: Response<Body>,
    pub pooled: bool,
}

/// Sends one request upstream: the SSRF check (every request), then a
/// pooled connection with the same key if one is idle, else a new one.
/// A request a pooled connection never took (closed under it) goes on a
/// new connection; one it took but lost goes again only when it is safe
/// to repeat (GET, HEAD, OPTIONS without a body). An upgrade (WebSocket)
/// always gets a connection of its own, never pooled.
#[allow(clippy::too_many_arguments)]
pub(super) async fn send_upstream(
    req: Request<Body>,
    host: &str,
    port: u16,
    tls: bool,
    route: &Route,
    eg: &Egress,
    ups: &Arc<Upstreams>,
    upgrade: bool,
) -> Result<Sent, String> {
    let checked = check(host, port, route, &eg.secrets_dir, &ups.resolve).await?;
    let credential = route
        .auth
        .as_ref()
        .and_then(|_| req.headers().get(hyper::header::AUTHORIZATION).cloned());
    let base = Key {
        route: route.clone(),
        via: Via::Proxy(String::new()),
        sni: host.to_string(),
        port,
        tls,
        credential,
    };
    let key = move |via: Via| Key {
        via,
        ..base.clone()
    };
    let again = repeatable(&req);
    let mut req = req;
    if !upgrade {
        'vias: for via in checked.vias(port) {
            let k = key(via);
            while let Some(mut sender) = ups.take(&k) {
                match sender.try_send_request(req).await {
                    Ok(resp) => {
                        let resp = resp.map(|b| PooledBody::boxed(b, ups.clone(), k, sender));
                        return Ok(Sent { resp, pooled: true });
                    }
                    Err(mut e) => match (e.take_message(), &again) {
                        (Some(back), _) => req = back,
                        (None, Some(parts)) => {
                            req = rebuild(parts);
                            break 'vias;
                        }
                        (None, None) => return Err(e.into_error().to_string()),
                    },
                }
            }
        }
    }
    let (tcp, via) = open(&checked, host, port).await?;
    ups.opened();
    let k = key(via);
    let (resp, sender) = if tls {
        let name = rustls_pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host}: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(eg.upstream_tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS to {host}: {e}"))?;
        exchange(TokioIo::new(stream), req).await?
    } else {
        exchange(TokioIo::new(tcp), req).await?
    };
    let resp = if upgrade {
        resp.map(|b| {
            use http_body_util::BodyExt;
            b.map_err(|e| Box::new(e) as BoxError).boxed()
        })
    } else {
        resp.map(|b| PooledBody::boxed(b, ups.clone(), k, sender))
    };
    Ok(Sent {
        resp,
        pooled: false,
    })
}

/// The head of a request that may be sent again (a safe method, no body).
struct Repeat {
    method: hyper::Method,
    uri: hyper::Uri,
    headers: hyper::HeaderMap,
}

fn repeatable(req: &Request<Body>) -> Option<Repeat> {
    use hyper::body::Body as _;
    let safe = matches!(
        *req.method(),
        hyper::Method::GET | hyper::Method::HEAD | hyper::Method::OPTIONS
    );
    (safe && req.body().is_end_stream()).then(|| Repeat {
        method: req.method().clone(),
        uri: req.uri().clone(),
        headers: req.headers().clone(),
    })
}

fn rebuild(r: &Repeat) -> Request<Body> {
    let mut req = Request::new(super::empty());
    *req.method_mut() = r.method.clone();
    *req.uri_mut() = r.uri.clone();
    *req.headers_mut() = r.headers.clone();
    req
}

async fn exchange<I>(
    io: I,
    req: Request<Body>,
) -> Result<(Response<Incoming>, SendRequest<Body>), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    // Upgrades allowed: a WebSocket handshake's connection carries on.
    tokio::spawn(conn.with_upgrades());
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    Ok((resp, sender))
}
