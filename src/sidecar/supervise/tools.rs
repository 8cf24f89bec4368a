//! The five tools. Arguments are checked strictly (unknown or mistyped
//! fields, hidden characters, over-long text: an error result the agent
//! can read), with the same checks the host applies when it reads the
//! request file.

use super::Supervise;
use crate::queue::{self, Decision, Kind, Payload, RequestFile, RequestId, Verdict};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const INSTRUCTIONS: &str = "This sandbox reaches the network only through its egress proxy, which allows only routes the operator granted. When something is refused (an egress_denied answer), ask for it with request_egress, giving the host, the narrowest path prefix and the reason. request_capability proposes a new agent image (a complete Dockerfile). ask_operator asks the operator a question. Calls wait up to 45 s for the decision, then answer pending with an id for check_request. Working around the proxy will not succeed.";

const DENIED: &str =
    "Working around the proxy or the sandbox will not succeed; continue without it or ask again with a better reason.";

pub fn list() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required, "additionalProperties": false});
    let reason = json!({"type": "string", "minLength": 1, "maxLength": queue::request::REASON_MAX_BYTES, "description": format!("Why it is needed (shown to the operator): plain visible text, at most {} lines.", queue::request::REASON_MAX_LINES)});
    json!([
        {
            "name": "request_egress",
            "title": "Ask for network access",
            "description": "Ask the operator to allow HTTPS/HTTP requests to a host (optionally only under a path prefix and for some methods). Returns once the route is live, or the operator's refusal.",
            "inputSchema": obj(json!({
                "host": {"type": "string", "minLength": 1, "maxLength": 253, "description": "Host name, e.g. api.github.com, or *.example.com for subdomains."},
                "path_prefix": {"type": "string", "minLength": 1, "maxLength": 512, "description": "Path prefix, e.g. /repos/acme/ (matched on segment boundaries)."},
                "methods": {"type": "array", "items": {"type": "string", "enum": queue::request::METHODS}, "minItems": 1, "maxItems": 7, "uniqueItems": true},
                "reason": reason,
            }), &["host", "reason"]),
        },
        {
            "name": "request_capability",
            "title": "Propose a new agent image",
            "description": "Propose a complete Dockerfile for this agent's image (for tools that need installing). If approved, the image is rebuilt without network and the agent container recreated on the same volumes.",
            "inputSchema": obj(json!({
                "summary": {"type": "string", "minLength": 1, "maxLength": 200},
                "dockerfile": {"type": "string", "minLength": 1, "maxLength": 32768, "description": "The full Dockerfile text."},
                "reason": reason,
            }), &["summary", "dockerfile", "reason"]),
        },
        {
            "name": "ask_operator",
            "title": "Ask the operator",
            "description": "Ask the human operator a question and wait for the typed answer.",
            "inputSchema": obj(json!({
                "question": {"type": "string", "minLength": 1, "maxLength": 4000},
            }), &["question"]),
        },
        {
            "name": "list_egress_routes",
            "title": "List network routes",
            "description": "The routes this sandbox may reach now: hosts, ports, path prefixes, methods and whether a credential is injected (never the credential).",
            "inputSchema": obj(json!({}), &[]),
        },
        {
            "name": "check_request",
            "title": "Check a request",
            "description": "The status of an earlier request (pending, approved, rejected, answered) by its id.",
            "inputSchema": obj(json!({
                "id": {"type": "string", "minLength": 26, "maxLength": 26},
            }), &["id"]),
        },
    ])
}

fn result(text: String, structured: Value, is_error: bool) -> Value {
    json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": structured,
        "isError": is_error,
    })
}

fn refused(msg: String) -> Value {
    result(
        msg.clone(),
        json!({"status": "invalid", "error": msg}),
        true,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EgressArgs {
    host: String,
    path_prefix: Option<String>,
    methods: Option<Vec<String>>,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapabilityArgs {
    summary: String,
    dockerfile: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionArgs {
    question: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckArgs {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

fn parse<T: for<'de> Deserialize<'de>>(args: Value) -> Result<T, Value> {
    serde_json::from_value(args).map_err(|e| refused(format!("invalid arguments: {e}")))
}

/// A tool call: `Err` only for an unknown tool (a protocol error).
pub async fn call(sv: &Supervise, name: &str, args: Value) -> Result<Value, (i64, String)> {
    let out = match name {
        "request_egress" => match parse::<EgressArgs>(args) {
            Ok(a) => {
                let payload = Payload::Egress(queue::EgressAsk {
                    host: a.host,
                    path_prefix: a.path_prefix,
                    methods: a.methods,
                });
                ask(sv, payload, a.reason).await
            }
            Err(e) => e,
        },
        "request_capability" => match parse::<CapabilityArgs>(args) {
            Ok(a) => {
                let payload = Payload::Capability(queue::CapabilityAsk {
                    summary: a.summary,
                    dockerfile: a.dockerfile,
                });
                ask(sv, payload, a.reason).await
            }
            Err(e) => e,
        },
        "ask_operator" => match parse::<QuestionArgs>(args) {
            Ok(a) => {
                let payload = Payload::Question(queue::QuestionAsk {
                    question: a.question,
                });
                ask(sv, payload, "a question for the operator".into()).await
            }
            Err(e) => e,
        },
        "list_egress_routes" => match parse::<NoArgs>(args) {
            Ok(_) => routes(sv),
            Err(e) => e,
        },
        "check_request" => match parse::<CheckArgs>(args) {
            Ok(a) => check(sv, &a.id).await,
            Err(e) => e,
        },
        other => {
            return Err((
                -32602,
                format!("unknown tool: {}", crate::sanitize::inline(other)),
            ))
        }
    };
    println!(
        "{}",
        json!({"event": "supervise", "tool": name, "status": out["structuredContent"]["status"], "id": out["structuredContent"]["id"]})
    );
    Ok(out)
}

/// Writes a request and waits for its decision.
async fn ask(sv: &Supervise, payload: Payload, reason: String) -> Value {
    if let Err(e) = payload
        .check()
        .and_then(|()| queue::request::reason(&reason))
    {
        return refused(e.to_string());
    }
    if let Payload::Egress(e) = &payload {
        if let Some(live) = already_allowed(sv, e) {
            return result(
                format!("already allowed: {live}"),
                json!({"status": "approved"}),
                false,
            );
        }
    }
    let id = RequestId::generate();
    {
        let _one_at_a_time = sv.writing.lock().await;
        if queue::pending_count(&sv.queue_dir) >= queue::MAX_PENDING {
            return refused(format!(
                "{} requests are already waiting for the operator; wait for them (check_request) before asking again",
                queue::MAX_PENDING
            ));
        }
        let file = RequestFile {
            id: id.to_string(),
            kind: payload.kind(),
            payload: payload.to_json(),
            reason,
            created_at: queue::now(),
        };
        if let Err(e) = queue::write_request(&sv.queue_dir, &file) {
            return refused(format!("the request could not be queued: {e}"));
        }
    }
    wait_for(sv, id, &payload).await
}

/// Waits for the decision on `id` (up to the server's wait).
async fn wait_for(sv: &Supervise, id: RequestId, payload: &Payload) -> Value {
    let start = Instant::now();
    loop {
        if let Some(d) = queue::read_decision(&sv.queue_dir, id) {
            return decided(sv, id, payload, &d).await;
        }
        if start.elapsed() >= sv.wait {
            return result(
                format!("pending: request {id} is waiting for the operator. Call check_request with id {id} later."),
                json!({"status": "pending", "id": id.to_string()}),
                false,
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn decided(sv: &Supervise, id: RequestId, payload: &Payload, d: &Decision) -> Value {
    let note = if d.note.is_empty() {
        String::new()
    } else {
        format!(" Operator's note: {}", d.note)
    };
    let structured = |status: &str| json!({"status": status, "id": id.to_string(), "note": d.note, "payload": d.payload});
    match d.decision {
        Verdict::Rejected => result(
            format!("rejected: request {id} was refused by the operator.{note} {DENIED}"),
            structured("rejected"),
            false,
        ),
        Verdict::Answered => result(
            format!(
                "the operator answered: {}",
                d.payload["answer"].as_str().unwrap_or_default()
            ),
            json!({"status": "answered", "id": id.to_string(), "answer": d.payload["answer"]}),
            false,
        ),
        Verdict::Approved | Verdict::Modified => {
            let how = if d.decision == Verdict::Modified {
                "approved with changes"
            } else {
                "approved"
            };
            if payload.kind() == Kind::Egress {
                if !route_live(sv, id).await {
                    return result(
                        format!("{how}, but this sandbox's proxy has not loaded the route yet; call check_request with id {id} in a moment.{note}"),
                        structured("approved"),
                        false,
                    );
                }
                let what = serde_json::to_string(&d.payload).unwrap_or_default();
                return result(
                    format!("{how}: request {id}; the route {what} is live now.{note}"),
                    structured(d.decision.as_str()),
                    false,
                );
            }
            result(
                format!("{how}: request {id}.{note}"),
                structured(d.decision.as_str()),
                false,
            )
        }
    }
}

/// Loads routes.json now (not waiting for the watcher) until the approved
/// route is in the live table.
async fn route_live(sv: &Supervise, id: RequestId) -> bool {
    let Some((eg, path)) = &sv.egress else {
        return false;
    };
    let source = format!("approved:{id}");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if eg.table().routes.iter().any(|r| r.source == source) {
            return true;
        }
        if let Ok(text) = tokio::fs::read_to_string(path).await {
            let _ = eg.load_routes(&text);
        }
        if eg.table().routes.iter().any(|r| r.source == source) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The live route that already allows what is asked, if any.
fn already_allowed(sv: &Supervise, e: &queue::EgressAsk) -> Option<String> {
    let (eg, _) = sv.egress.as_ref()?;
    let table = eg.table();
    let path = e.path_prefix.as_deref().unwrap_or("/");
    let methods = e.methods.clone().unwrap_or_else(|| vec!["GET".into()]);
    if e.host.starts_with("*.") {
        return None;
    }
    for m in &methods {
        table.route_for(&e.host, 443, m, path).ok()?;
    }
    Some(format!("{}{path} ({})", e.host, methods.join(",")))
}

fn routes(sv: &Supervise) -> Value {
    let list: Vec<Value> = sv.egress.as_ref().map_or_else(Vec::new, |(eg, _)| {
        eg.table()
            .routes
            .iter()
            .map(|r| {
                json!({
                    "host": if r.wildcard { format!("*.{}", r.host) } else { r.host.clone() },
                    "ports": r.ports,
                    "path_prefixes": r.path_allowlist,
                    "methods": r.methods,
                    "credential": r.auth.as_ref().map(|a| a.scheme.clone()),
                    "tls_passthrough": r.tls_passthrough,
                    "websocket": r.websocket,
                })
            })
            .collect()
    });
    let text = serde_json::to_string_pretty(&list).unwrap_or_default();
    result(text, json!({"status": "ok", "routes": list}), false)
}

async fn check(sv: &Supervise, id: &str) -> Value {
    let Ok(id) = RequestId::parse(id) else {
        return refused("not a request id".into());
    };
    let Ok(req) = queue::read_request(&sv.queue_dir, "this", id) else {
        return refused(format!("no request {id} in this sandbox"));
    };
    match queue::read_decision(&sv.queue_dir, id) {
        Some(d) => decided(sv, id, &req.payload, &d).await,
        None => result(
            format!("pending: request {id} is still waiting for the operator."),
            json!({"status": "pending", "id": id.to_string()}),
            false,
        ),
    }
}
