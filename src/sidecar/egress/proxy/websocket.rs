//! A WebSocket upgrade that `decide()` let through: the handshake goes
//! upstream, then frames are relayed, the agent's scanned per message and
//! the upstream's checked for this bottle's own values.

use super::body::reflect_checked;
use super::pool::Upstreams;
use super::upstream::send_upstream;
use super::{empty, Ask, Body, BoxError, Egress};
use crate::policy::dlp::Scanner;
use crate::policy::routes::Route;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// A WebSocket upgrade on a `websocket: true` route: the handshake goes
/// upstream (checked and injected like any request); after a 101 the
/// upstream's frames pass to the agent as they come, and the agent's frames
/// pass only after DLP scanned each message. A hit closes both sides.
#[allow(clippy::too_many_arguments)]
pub(super) async fn websocket(
    req: Request<Body>,
    client_upgrade: hyper::upgrade::OnUpgrade,
    ask: &Ask<'_>,
    path: &str,
    tls: bool,
    route: &Route,
    eg: &Egress,
    ups: &std::sync::Arc<Upstreams>,
    scanner: Scanner,
) -> Result<Response<Body>, BoxError> {
    let mut resp = match send_upstream(req, ask.host, ask.port, tls, route, eg, ups, true).await {
        Ok(sent) => sent.resp,
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
