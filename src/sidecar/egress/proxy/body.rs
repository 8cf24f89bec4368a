//! Bodies on their way through: the agent's body released only as the
//! DLP scan passes it, and the upstream's answer checked for this
//! bottle's own secret values before and while it streams to the agent.

use super::{Ask, Body, BoxError};
use crate::policy::dlp::{Hit, Scanner};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::Response;
use std::sync::Arc;

/// The upstream's answer on its way to the agent, scanned for this
/// bottle's own secret values (SPEC §4.4): headers whole, a compressed
/// body decoded (bounded) and scanned whole, a plain body as it streams.
/// A hit answers `502 secret_reflected`, or cuts a body already under
/// way; the log names the value, never shows it.
pub(super) async fn reflect_checked(
    resp: Response<Body>,
    ask: &Ask<'_>,
    path: &str,
    scanner: &Scanner,
) -> Response<Body> {
    let own = scanner.own_values();
    if own.is_empty() {
        return resp;
    }
    if let Some(name) = crate::sidecar::egress::reflect::in_headers(&own, resp.headers()) {
        return ask.reflected(path, &name);
    }
    let encoding = resp
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|v| !v.trim().eq_ignore_ascii_case("identity"));
    let (parts, body) = resp.into_parts();
    if let Some(coding) = encoding {
        let Some(raw) = read_bounded(body, crate::policy::decode::MAX_ENCODED).await else {
            return ask.reflected(path, "an unreadable compressed response");
        };
        let Ok(plain) = crate::policy::decode::decode(&coding, &raw) else {
            return ask.reflected(path, "an undecodable compressed response");
        };
        let mut scan = crate::sidecar::egress::reflect::ReflectScan::new(own);
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
    let mut scan = crate::sidecar::egress::reflect::ReflectScan::new(own);
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
        Some(Err(e)) => Some(Err(e)),
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
                    Some(Err(e)) => Err(e),
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

/// The whole body, if it ends within `limit` bytes and without error.
async fn read_bounded(mut body: Body, limit: usize) -> Option<Bytes> {
    let mut raw = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.ok()?.into_data() {
            raw.extend_from_slice(&data);
            if raw.len() > limit {
                return None;
            }
        }
    }
    Some(Bytes::from(raw))
}

fn scan_headers_hit(
    scan: &crate::sidecar::egress::reflect::ReflectScan,
    headers: &hyper::HeaderMap,
) -> bool {
    crate::sidecar::egress::reflect::in_headers(scan.own(), headers).is_some()
}

/// The agent's body as it goes upstream: released only as it is scanned;
/// a hit is kept in `hit` and aborts the upstream request.
pub(super) fn scanned_body(
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
