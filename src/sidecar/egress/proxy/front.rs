//! The front door: what the agent's proxy client sent (a CONNECT, or an
//! absolute-form plain-HTTP request), the terminated TLS tunnel of a
//! CONNECT, and the checks every request inside it passes (origin-form,
//! no CONNECT, exactly one `Host` naming the tunnel's host) before the
//! forward path.

use super::forward::forward;
use super::passthrough::passthrough;
use super::pool::Upstreams;
use super::{empty, Ask, Body, BoxError, Egress, Refusal};
use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::net::IpAddr;
use std::sync::Arc;

/// `host:port` of a CONNECT or an absolute URI (the port by scheme).
fn authority_of(uri: &Uri) -> Option<(String, u16)> {
    let a = uri.authority()?;
    let port = a.port_u16().or(match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    })?;
    Some((a.host().trim_matches(['[', ']']).to_string(), port))
}

/// What the agent's proxy client sent: CONNECT, or an absolute-form
/// plain-HTTP request.
pub(super) async fn front(
    mut req: Request<Incoming>,
    eg: Arc<Egress>,
    ups: Arc<Upstreams>,
) -> Result<Response<Body>, BoxError> {
    let Some((host, port)) = authority_of(req.uri()) else {
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
                Ok(r) if r.tls_passthrough => passthrough(io, &host, port, &r, &eg, &ups).await,
                _ => intercept(io, host, port, eg, ups).await,
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
    if let Err(r) = admit_absolute(req.uri(), req.headers(), &host, port, &target) {
        return Ok(ask.refuse(&r));
    }
    forward(req, &ask, &target, false, &eg, &ups).await
}

/// A terminated TLS tunnel: every request inside is checked on its own.
async fn intercept(
    io: TokioIo<hyper::upgrade::Upgraded>,
    host: String,
    port: u16,
    eg: Arc<Egress>,
    ups: Arc<Upstreams>,
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
        tunneled(req, host.clone(), port, eg.clone(), ups.clone())
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
    ups: Arc<Upstreams>,
) -> Result<Response<Body>, BoxError> {
    let method = req.method().as_str().to_string();
    let ask = Ask {
        host: &host,
        port,
        method: &method,
    };
    let target = req.uri().to_string();
    if let Err(r) = admit_tunneled(req.method(), req.uri(), req.headers(), &host, port, &target) {
        return Ok(ask.refuse(&r));
    }
    forward(req, &ask, &target, true, &eg, &ups).await
}

/// An absolute-form request (plain HTTP through the proxy): `http://` only,
/// exactly one `Host` naming its authority. `target` is what the log names.
fn admit_absolute(
    uri: &Uri,
    headers: &HeaderMap,
    host: &str,
    port: u16,
    target: &str,
) -> Result<(), Refusal> {
    if uri.scheme_str() != Some("http") {
        return Err(Refusal::Denied {
            path: target.to_string(),
            reason: "only http:// is proxied in absolute form; use CONNECT for https",
        });
    }
    one_host(headers, host, port, 80).map_err(|reason| Refusal::BadRequest {
        path: target.to_string(),
        reason,
    })
}

/// A request inside the tunnel to `host:port`: no CONNECT, origin-form,
/// exactly one `Host` naming the tunnel's host.
fn admit_tunneled(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    host: &str,
    port: u16,
    target: &str,
) -> Result<(), Refusal> {
    let denied = |reason| Refusal::Denied {
        path: target.to_string(),
        reason,
    };
    if method == Method::CONNECT {
        return Err(denied("CONNECT inside a tunnel"));
    }
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(denied("absolute-form request inside a tunnel"));
    }
    one_host(headers, host, port, 443).map_err(|reason| Refusal::BadRequest {
        path: target.to_string(),
        reason,
    })
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

#[cfg(test)]
mod tests {
    //! The front door's refusals, before the forward path (`decide()`).

    use super::*;
    use hyper::header::HeaderValue;

    fn headers(hosts: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in hosts {
            h.append(HOST, HeaderValue::from_static(v));
        }
        h
    }

    fn bad(reason: &'static str) -> Result<(), Refusal> {
        Err(Refusal::BadRequest {
            path: "/x".into(),
            reason,
        })
    }

    #[test]
    fn an_origin_form_request_to_the_proxy_has_no_authority() {
        // Answered `400` with the `send requests through the proxy` JSON.
        assert_eq!(authority_of(&"/x".parse().expect("uri")), None);
        let uri: Uri = "http://a.test/x".parse().expect("uri");
        assert_eq!(authority_of(&uri), Some(("a.test".into(), 80)));
        let uri: Uri = "https://[::1]/x".parse().expect("uri");
        assert_eq!(authority_of(&uri), Some(("::1".into(), 443)));
        let uri: Uri = "a.test:8443".parse().expect("uri");
        assert_eq!(authority_of(&uri), Some(("a.test".into(), 8443)));
    }

    #[test]
    fn absolute_form_is_plain_http_only() {
        let uri: Uri = "https://a.test/x".parse().expect("uri");
        assert_eq!(
            admit_absolute(&uri, &headers(&["a.test"]), "a.test", 443, "/x"),
            Err(Refusal::Denied {
                path: "/x".into(),
                reason: "only http:// is proxied in absolute form; use CONNECT for https",
            })
        );
        let uri: Uri = "http://a.test/x".parse().expect("uri");
        assert_eq!(
            admit_absolute(&uri, &headers(&["A.test."]), "a.test", 80, "/x"),
            Ok(())
        );
    }

    #[test]
    fn exactly_one_host_naming_the_authority() {
        let uri: Uri = "http://a.test/x".parse().expect("uri");
        let check = |h: &[&'static str]| admit_absolute(&uri, &headers(h), "a.test", 80, "/x");
        assert_eq!(check(&[]), bad("a request needs exactly one Host header"));
        assert_eq!(
            check(&["a.test", "a.test"]),
            bad("a request needs exactly one Host header")
        );
        assert_eq!(
            check(&["b.test"]),
            bad("the Host header names another host than the request's authority")
        );
        assert_eq!(
            check(&["a.test:8080"]),
            bad("the Host header names another host than the request's authority")
        );
        assert_eq!(
            check(&["a.test:x"]),
            bad("the Host header's port is not a number")
        );
        assert_eq!(check(&["[::1"]), bad("the Host header is not a host"));
        assert_eq!(check(&["a.test:80"]), Ok(()));
    }

    #[test]
    fn inside_a_tunnel_only_origin_form_requests_for_its_host() {
        let origin: Uri = "/x".parse().expect("uri");
        let h = headers(&["a.test"]);
        let denied = |reason| {
            Err(Refusal::Denied {
                path: "/x".into(),
                reason,
            })
        };
        assert_eq!(
            admit_tunneled(&Method::CONNECT, &origin, &h, "a.test", 443, "/x"),
            denied("CONNECT inside a tunnel")
        );
        let absolute: Uri = "https://b.test/x".parse().expect("uri");
        assert_eq!(
            admit_tunneled(&Method::GET, &absolute, &h, "a.test", 443, "/x"),
            denied("absolute-form request inside a tunnel")
        );
        assert_eq!(
            admit_tunneled(
                &Method::GET,
                &origin,
                &headers(&["b.test"]),
                "a.test",
                443,
                "/x"
            ),
            bad("the Host header names another host than the request's authority")
        );
        assert_eq!(
            admit_tunneled(&Method::GET, &origin, &h, "a.test", 443, "/x"),
            Ok(())
        );
        // IP literals by address.
        let h = headers(&["[0:0::1]:8443"]);
        assert_eq!(
            admit_tunneled(&Method::GET, &origin, &h, "::1", 8443, "/x"),
            Ok(())
        );
    }
}
