//! Effects shared by the workspace and the CLI. Deciding a supervise
//! request (SPEC §5.4): claim it (first decider wins), check that the file
//! is still the copy that was displayed, apply the effect from that copy,
//! publish the decision and append it to the audit log. What a decision
//! will change is described by the same code that applies it. Never
//! imports `ui` or `app`.

pub mod capability;
pub mod describe;
pub mod edit;
pub mod fetch;

use crate::queue::{self, Decision, Payload, QueueError, Request, Verdict};
use crate::state::Home;
use anyhow::{bail, Context, Result};

pub use describe::describe;

/// What the operator decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    Approve,
    /// Approve an edited payload (same kind, checked like the agent's).
    Modify(Payload),
    Reject,
    Answer(String),
}

/// A published decision and a one-line account of its effect.
#[derive(Clone, Debug)]
pub struct Decided {
    pub decision: Decision,
    pub summary: String,
}

use crate::queue::now;

/// Decides `shown` (the request as it was displayed). Errors: already
/// decided by someone else, tampered (flagged, rejected, nothing applied),
/// or the effect failed (the request stays pending).
pub fn decide(
    home: &Home,
    shown: &Request,
    intent: Intent,
    note: &str,
    decider: &str,
) -> Result<Decided> {
    // The effect's progress (an image build's output) is the agent's
    // Dockerfile at work: not for the application log.
    decide_with(home, shown, intent, note, decider, &mut |_| {})
}

/// `decide`, with the effect's progress (image builds) line by line.
/// Whatever the outcome, one `event="decision"` line in the application
/// log (`log_decision`).
pub fn decide_with(
    home: &Home,
    shown: &Request,
    intent: Intent,
    note: &str,
    decider: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Decided> {
    let answer_len = match &intent {
        Intent::Answer(a) => a.len(),
        _ => 0,
    };
    let result = decide_inner(home, shown, intent, note, decider, progress);
    log_decision(shown, decider, &result, note.len(), answer_len);
    result
}

/// The decision's line: who decided what on which request, and how it
/// ended. Never the request's words (its host, reason, Dockerfile or
/// question are agent-made and may carry anything), the note or the
/// answer: their lengths, and the request's hash to find it in the audit
/// log (ARCHITECTURE.md, "The application log").
fn log_decision(
    shown: &Request,
    decider: &str,
    result: &Result<Decided>,
    note_len: usize,
    answer_len: usize,
) {
    let id = shown.id.to_string();
    let kind = shown.payload.kind().as_str();
    let sha = shown.sha256.get(..12).unwrap_or(&shown.sha256);
    let decider = crate::sanitize::inline(decider);
    let outcome = match result {
        Ok(d) => {
            tracing::info!(
                event = "decision",
                slug = %shown.slug,
                id = %id,
                kind,
                decider = %decider,
                outcome = d.decision.decision.as_str(),
                request_sha256 = sha,
                note_len,
                answer_len);
            return;
        }
        Err(e) => match e.downcast_ref::<QueueError>() {
            Some(QueueError::Tampered(_)) => "rejected_tampered",
            Some(QueueError::AlreadyDecided(_)) => "already_decided",
            _ => "failed",
        },
    };
    tracing::warn!(
        event = "decision",
        slug = %shown.slug,
        id = %id,
        kind,
        decider = %decider,
        outcome,
        request_sha256 = sha,
        note_len,
        answer_len);
}

fn decide_inner(
    home: &Home,
    shown: &Request,
    intent: Intent,
    note: &str,
    decider: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Decided> {
    check_intent(shown, &intent)?;
    queue::request::text("note", if note.is_empty() { "-" } else { note }, 2000, true)
        .context("the note")?;
    let dir = home.queue_dir().join(&shown.slug);
    let tmp = home.state_dir(&shown.slug).join("tmp");
    let claim = queue::claim(&dir, shown.id)?;
    let current = queue::read_request(&dir, &shown.slug, shown.id);
    if current.as_ref().ok().map(|r| &r.sha256) != Some(&shown.sha256) {
        let decision = Decision {
            id: shown.id.to_string(),
            decision: Verdict::Rejected,
            payload: shown.payload.to_json(),
            note: "the request changed after it was displayed; nothing was applied".into(),
            request_sha256: shown.sha256.clone(),
            decided_at: now(),
        };
        queue::publish(&dir, &tmp, claim, &decision)?;
        audit(home, shown, &decision, decider, "tampered")?;
        return Err(QueueError::Tampered(shown.key()).into());
    }
    let (verdict, payload) = match &intent {
        Intent::Approve => (Verdict::Approved, shown.payload.clone()),
        Intent::Modify(p) => (Verdict::Modified, p.clone()),
        Intent::Reject => (Verdict::Rejected, shown.payload.clone()),
        Intent::Answer(_) => (Verdict::Answered, shown.payload.clone()),
    };
    let summary = match apply(home, shown, &intent, &payload, progress) {
        Ok(s) => s,
        Err(e) => {
            queue::release_claim(claim);
            return Err(e);
        }
    };
    let decision = Decision {
        id: shown.id.to_string(),
        decision: verdict,
        payload: match &intent {
            Intent::Answer(a) => serde_json::json!({ "answer": a }),
            _ => payload.to_json(),
        },
        note: note.to_string(),
        request_sha256: shown.sha256.clone(),
        decided_at: now(),
    };
    queue::publish(&dir, &tmp, claim, &decision)?;
    audit(home, shown, &decision, decider, "decision")?;
    Ok(Decided { decision, summary })
}

fn check_intent(shown: &Request, intent: &Intent) -> Result<()> {
    let kind = shown.payload.kind();
    match intent {
        Intent::Answer(a) => {
            if kind != queue::Kind::Question {
                bail!(
                    "{} is a {} request: approve or reject it",
                    shown.key(),
                    kind.as_str()
                );
            }
            queue::request::text("answer", a, 8000, true)?;
        }
        Intent::Approve | Intent::Modify(_) if kind == queue::Kind::Question => {
            bail!("{} is a question: answer or reject it", shown.key());
        }
        Intent::Modify(p) => {
            if p.kind() != kind {
                bail!(
                    "a modified {} request must stay a {} request",
                    kind.as_str(),
                    kind.as_str()
                );
            }
            p.check()?;
        }
        Intent::Approve | Intent::Reject => {}
    }
    Ok(())
}

/// The effect of an approval; rejections and answers change nothing here.
fn apply(
    home: &Home,
    shown: &Request,
    intent: &Intent,
    payload: &Payload,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<String> {
    if matches!(intent, Intent::Reject) {
        return Ok(format!("rejected {}", shown.key()));
    }
    match payload {
        Payload::Question(_) => Ok(format!("answered {}", shown.key())),
        Payload::Egress(ask) => {
            let dir = crate::backends::egress::egress_dir(&home.state_dir(&shown.slug));
            let route = crate::backends::egress::approved_route(&dir, &shown.id.to_string(), ask)?;
            let line = describe::route_line(&route);
            crate::backends::egress::add_route(&dir, route)?;
            Ok(format!("{}: route added: {line}", shown.slug))
        }
        Payload::Capability(c) => capability::apply(home, &shown.slug, c, progress),
    }
}

fn audit(home: &Home, shown: &Request, d: &Decision, decider: &str, event: &str) -> Result<()> {
    let line = serde_json::json!({
        "event": event,
        "slug": shown.slug,
        "id": d.id,
        "kind": shown.payload.kind().as_str(),
        "request": shown.payload.to_json(),
        "reason": shown.reason,
        "decision": d.decision.as_str(),
        "payload": d.payload,
        "note": d.note,
        "request_sha256": d.request_sha256,
        "decided_at": d.decided_at,
        "decider": decider,
    });
    queue::append_audit(&home.audit_dir(), &shown.slug, &line)?;
    Ok(())
}

/// Finds a pending request by `<slug>/<id>`, `<id>` or a unique prefix of
/// either; an id that matches more than one request is refused.
pub fn find<'a>(scan: &'a queue::Scan, wanted: &str) -> Result<&'a Request> {
    let (slug, id) = match wanted.split_once('/') {
        Some((s, i)) => (Some(s), i),
        None => (None, wanted),
    };
    let id = id.to_ascii_uppercase();
    if id.len() < 4 {
        bail!(
            "`{}`: give at least 4 characters of the id",
            crate::sanitize::inline(wanted)
        );
    }
    let hits: Vec<&Request> = scan
        .pending
        .iter()
        .filter(|r| slug.is_none_or(|s| s == r.slug) && r.id.to_string().starts_with(&id))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => {
            if let Some(bad) = scan.invalid.iter().find(|i| i.file.starts_with(&id)) {
                bail!(
                    "{}/{} is not a valid request ({}); it cannot be decided",
                    bad.slug,
                    bad.file,
                    bad.error
                );
            }
            bail!(
                "no pending request `{}` (see `bottle queue`)",
                crate::sanitize::inline(wanted)
            )
        }
        many => bail!(
            "`{}` is ambiguous: {}",
            crate::sanitize::inline(wanted),
            many.iter().map(|r| r.key()).collect::<Vec<_>>().join(", ")
        ),
    }
}
