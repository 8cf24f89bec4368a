//! The upstream leg: a connection only to an address the SSRF guard
//! kept (or a CONNECT tunnel through the operator's proxy), TLS verified
//! against the embedded web roots plus `upstream_ca`, one HTTP/1.1
//! exchange.

use super::{Body, Egress};
use crate::policy::routes::Route;
use crate::policy::ssrf;
use crate::sidecar::egress::secrets::UPSTREAM_PROXY;
use hyper::body::Incoming;
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

/// Resolves `host` (no lookup for an IP literal), keeps the addresses the
/// SSRF guard allows, connects to one of them. With an upstream proxy the
/// connection is a CONNECT tunnel through it instead; the proxy resolves
/// names then (an IP literal is still checked here).
pub(super) async fn connect_checked(
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

pub(super) async fn send_upstream(
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
