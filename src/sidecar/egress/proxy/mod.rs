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
//!
//! Its parts: `front` (CONNECT and absolute-form dispatch, the TLS
//! interception, the checks of a request inside a tunnel), `forward` (the
//! pure `decide()` on one request, and `forward()` doing its I/O),
//! `websocket` (an allowed upgrade, relayed), `body` (the agent's body
//! scanned as it streams, the answer checked for this bottle's own
//! values), `upstream` (SSRF-checked connection, upstream proxy, TLS),
//! `pool` (upstream connections kept for the agent's next requests, keyed
//! by route, checked address, SNI and credential), `passthrough` and `sni`
//! (blind tunnels), `reload` (routes.json and the secrets directory); the
//! secrets tmpfs is `egress::secrets`.

mod body;
mod forward;
mod front;
mod passthrough;
mod pool;
#[cfg(test)]
mod pool_tests;
mod reload;
mod sni;
mod upstream;
mod websocket;

pub use super::secrets::{put_secrets, UPSTREAM_PROXY};
pub use forward::{decide, BodyFacts, Decision, Forward, Refusal, RequestFacts};
pub use pool::PoolLimits;
pub use reload::watch;
pub use upstream::upstream_tls;

use super::ca::LeafMinter;
use crate::policy::dlp::{Hit, Scanner};
use crate::policy::routes::Table;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, BoxError>;
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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

/// Serves the proxy until the listener fails, with the default pool.
pub async fn serve(listener: TcpListener, egress: Arc<Egress>) -> std::io::Result<()> {
    serve_with_limits(listener, egress, PoolLimits::default()).await
}

/// Serves the proxy until the listener fails; its upstream connections are
/// pooled within `limits` (this proxy's own pool: a sidecar serves one
/// bottle).
pub async fn serve_with_limits(
    listener: TcpListener,
    egress: Arc<Egress>,
    limits: PoolLimits,
) -> std::io::Result<()> {
    serve_upstreams(listener, egress, Arc::new(pool::Upstreams::new(limits))).await
}

async fn serve_upstreams(
    listener: TcpListener,
    egress: Arc<Egress>,
    ups: Arc<pool::Upstreams>,
) -> std::io::Result<()> {
    tokio::spawn(pool::reaper(Arc::downgrade(&ups), egress.clone()));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let eg = egress.clone();
        let ups = ups.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req| front::front(req, eg.clone(), ups.clone()));
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

    /// The answer to a refusal (`decide()`'s or the front door's).
    fn refuse(&self, refusal: &Refusal) -> Response<Body> {
        match refusal {
            Refusal::Denied { path, reason } => self.deny(path, reason),
            Refusal::Blocked { path, hit } => self.block(path, hit),
            Refusal::BadRequest { path, reason } => self.bad_request(path, reason),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_never_holds_query_values() {
        assert_eq!(loggable("/a/b?token=s3cret&x=1"), "/a/b?token=…&x=…");
        assert_eq!(loggable("/plain"), "/plain");
    }

    async fn answer(refusal: Refusal) -> (StatusCode, serde_json::Value) {
        let ask = Ask {
            host: "a.test",
            port: 443,
            method: "GET",
        };
        let r = ask.refuse(&refusal);
        let status = r.status();
        let body = r.into_body().collect().await.expect("body").to_bytes();
        assert!(body.ends_with(b"\n"));
        (status, serde_json::from_slice(&body).expect("json"))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn each_refusal_has_its_status_and_json() {
        let (status, json) = answer(Refusal::Denied {
            path: "/x".into(),
            reason: "host not routed",
        })
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            json,
            serde_json::json!({"error": "egress_denied", "host": "a.test",
                "reason": "host not routed",
                "hint": "ask the operator with the supervise tool request_egress"})
        );
        let (status, json) = answer(Refusal::Blocked {
            path: "/x".into(),
            hit: Hit {
                rule: "github-token".into(),
            },
        })
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            json,
            serde_json::json!({"error": "dlp_blocked", "rule": "github-token"})
        );
        let (status, json) = answer(Refusal::BadRequest {
            path: "/x".into(),
            reason: "a request needs exactly one Host header",
        })
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            json,
            serde_json::json!({"error": "bad_request", "host": "a.test",
                "reason": "a request needs exactly one Host header"})
        );
    }
}
