//! The transport: MCP's Streamable HTTP on one endpoint. POST carries one
//! JSON-RPC message (or a batch, for 2025-03-26 clients) and gets a JSON
//! answer; notifications and responses get 202. GET (a server-initiated
//! stream) is not offered: 405, as the transport allows. Sessions are
//! `Mcp-Session-Id`s handed out by `initialize`; an unknown one gets 404,
//! which tells the client to initialize again (after a sidecar restart).

use super::Supervise;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

type Body = Full<Bytes>;

/// The largest request body read.
pub const MAX_BODY: usize = 64 * 1024;

/// Protocol versions this server speaks, newest first.
pub const VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

fn reply(status: StatusCode, body: Option<Value>) -> Response<Body> {
    let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let mut r = Response::new(Full::new(bytes));
    *r.status_mut() = status;
    if status != StatusCode::ACCEPTED {
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
    }
    r
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

pub async fn handle(
    req: Request<hyper::body::Incoming>,
    sv: Arc<Supervise>,
) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(route(req, sv).await)
}

async fn route(req: Request<hyper::body::Incoming>, sv: Arc<Supervise>) -> Response<Body> {
    if req.uri().path() != "/mcp" {
        return reply(
            StatusCode::NOT_FOUND,
            Some(json!({"error": "the MCP endpoint is /mcp"})),
        );
    }
    // A browser page must not drive this server (DNS rebinding): only
    // clients without an Origin, or naming this service, are served.
    if let Some(origin) = req.headers().get(hyper::header::ORIGIN) {
        let o = origin.to_str().unwrap_or_default();
        let host = o.split("://").nth(1).unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default();
        if !matches!(host, "supervise" | "localhost" | "127.0.0.1") {
            return reply(
                StatusCode::FORBIDDEN,
                Some(json!({"error": "origin refused"})),
            );
        }
    }
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match *req.method() {
        Method::POST => {}
        Method::DELETE => {
            let known = session
                .is_some_and(|s| sv.sessions.lock().is_ok_and(|mut m| m.remove(&s).is_some()));
            return reply(
                if known {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                },
                None,
            );
        }
        _ => {
            let mut r = reply(StatusCode::METHOD_NOT_ALLOWED, None);
            r.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static("POST, DELETE"),
            );
            return r;
        }
    }
    let json_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_type {
        return reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some(rpc_error(
                Value::Null,
                -32700,
                "the body must be application/json",
            )),
        );
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                Some(rpc_error(
                    Value::Null,
                    -32600,
                    "the body is larger than 64 KiB",
                )),
            )
        }
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            Some(rpc_error(Value::Null, -32700, "parse error")),
        );
    };
    let initializing = match &message {
        Value::Array(a) => a.iter().any(|m| m["method"] == "initialize"),
        m => m["method"] == "initialize",
    };
    if !initializing {
        match &session {
            None => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    Some(rpc_error(
                        Value::Null,
                        -32600,
                        "missing Mcp-Session-Id: call initialize first",
                    )),
                )
            }
            Some(s) if !sv.sessions.lock().is_ok_and(|m| m.contains_key(s)) => {
                return reply(
                    StatusCode::NOT_FOUND,
                    Some(rpc_error(
                        Value::Null,
                        -32600,
                        "unknown session: initialize again",
                    )),
                )
            }
            Some(_) => {}
        }
    }
    let mut new_session = None;
    let answer = match message {
        Value::Array(batch) if !batch.is_empty() => {
            let mut out = Vec::new();
            for m in batch {
                if let Some(a) = one(m, &sv, &mut new_session).await {
                    out.push(a);
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        m => one(m, &sv, &mut new_session).await,
    };
    let mut r = match answer {
        Some(a) => reply(StatusCode::OK, Some(a)),
        None => reply(StatusCode::ACCEPTED, None),
    };
    if let Some(id) = new_session.and_then(|s| hyper::header::HeaderValue::from_str(&s).ok()) {
        r.headers_mut().insert("mcp-session-id", id);
    }
    r
}

/// One JSON-RPC message: a response for a request, `None` for a
/// notification or a client's response.
async fn one(m: Value, sv: &Supervise, new_session: &mut Option<String>) -> Option<Value> {
    let Value::Object(obj) = &m else {
        return Some(rpc_error(Value::Null, -32600, "not a JSON-RPC message"));
    };
    let id = obj.get("id").cloned();
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        // A response to something we never asked, or junk.
        return id.map(|id| rpc_error(id, -32600, "not a request"));
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(rpc_error(
            id.unwrap_or(Value::Null),
            -32600,
            "jsonrpc must be \"2.0\"",
        ));
    }
    let id = id?;
    let params = obj.get("params").cloned().unwrap_or(json!({}));
    let result = match method {
        "initialize" => {
            let asked = params["protocolVersion"].as_str().unwrap_or_default();
            let version = VERSIONS
                .iter()
                .find(|v| **v == asked)
                .copied()
                .unwrap_or(VERSIONS[0]);
            let session = ulid::Ulid::new().to_string();
            if let Ok(mut m) = sv.sessions.lock() {
                m.insert(session.clone(), version.to_string());
            }
            *new_session = Some(session);
            Ok(json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "bottle-supervise", "version": env!("CARGO_PKG_VERSION")},
                "instructions": super::tools::INSTRUCTIONS,
            }))
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": super::tools::list()})),
        "tools/call" => {
            let name = params["name"].as_str().unwrap_or_default().to_string();
            let args = params.get("arguments").cloned().unwrap_or(json!({}));
            super::tools::call(sv, &name, args).await
        }
        _ => Err((
            -32601,
            format!("method not found: {}", crate::sanitize::inline(method)),
        )),
    };
    Some(match result {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err((code, msg)) => rpc_error(id, code, &msg),
    })
}
