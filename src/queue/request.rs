//! Requests and decisions: the JSON both sides exchange, and the strict
//! checks every field passes. Agent text may hold newlines and tabs but no
//! other control, bidi, zero-width, tag or otherwise invisible character
//! (`sanitize::first_hidden`), and is bounded in bytes and lines: such a
//! request is refused, not cleaned, so what the operator approves is
//! exactly what was sent.

use super::QueueError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A request id: a ULID in its canonical 26-character form, so it can
/// never name another path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(ulid::Ulid);

impl RequestId {
    pub fn generate() -> RequestId {
        RequestId(ulid::Ulid::new())
    }

    pub fn parse(text: &str) -> Result<RequestId, QueueError> {
        match ulid::Ulid::from_string(text) {
            Ok(u) if u.to_string() == text => Ok(RequestId(u)),
            _ => Err(QueueError::Invalid(format!(
                "`{}` is not a request id (a 26-character ULID)",
                crate::sanitize::inline(text)
            ))),
        }
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Egress,
    Capability,
    Question,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Egress => "egress",
            Kind::Capability => "capability",
            Kind::Question => "question",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressAsk {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityAsk {
    pub summary: String,
    pub dockerfile: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionAsk {
    pub question: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Egress(EgressAsk),
    Capability(CapabilityAsk),
    Question(QuestionAsk),
}

/// Methods a request may name.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl Payload {
    pub fn kind(&self) -> Kind {
        match self {
            Payload::Egress(_) => Kind::Egress,
            Payload::Capability(_) => Kind::Capability,
            Payload::Question(_) => Kind::Question,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let v = match self {
            Payload::Egress(p) => serde_json::to_value(p),
            Payload::Capability(p) => serde_json::to_value(p),
            Payload::Question(p) => serde_json::to_value(p),
        };
        v.unwrap_or_default()
    }

    /// Parses a payload of `kind` strictly and checks every field.
    pub fn from_json(kind: Kind, value: serde_json::Value) -> Result<Payload, QueueError> {
        let bad = |e: serde_json::Error| QueueError::Invalid(format!("payload: {e}"));
        let p = match kind {
            Kind::Egress => Payload::Egress(serde_json::from_value(value).map_err(bad)?),
            Kind::Capability => Payload::Capability(serde_json::from_value(value).map_err(bad)?),
            Kind::Question => Payload::Question(serde_json::from_value(value).map_err(bad)?),
        };
        p.check()?;
        Ok(p)
    }

    pub fn check(&self) -> Result<(), QueueError> {
        match self {
            Payload::Egress(e) => {
                let host = e.host.strip_prefix("*.").unwrap_or(&e.host);
                let normal = crate::policy::routes::normalize_host(host);
                if normal.is_none() || host.contains('*') || host.len() > 253 {
                    return invalid(format!(
                        "host `{}` is not a host name",
                        crate::sanitize::inline(&e.host)
                    ));
                }
                if let Some(p) = &e.path_prefix {
                    let normal = crate::policy::routes::normalize_path(p);
                    if !p.starts_with('/') || p.len() > 512 || normal.as_deref() != Some(p) {
                        return invalid(format!(
                            "path_prefix `{}` is not a normalized path starting with /",
                            crate::sanitize::inline(p)
                        ));
                    }
                }
                if let Some(m) = &e.methods {
                    if m.is_empty() || m.len() > METHODS.len() {
                        return invalid("methods: name one to seven methods".into());
                    }
                    for (i, method) in m.iter().enumerate() {
                        if !METHODS.contains(&method.as_str()) || m[..i].contains(method) {
                            return invalid(format!(
                                "methods: `{}` is not one of {} (upper case, once each)",
                                crate::sanitize::inline(method),
                                METHODS.join(", ")
                            ));
                        }
                    }
                }
                Ok(())
            }
            Payload::Capability(c) => {
                text("summary", &c.summary, 200, false)?;
                text_lines(
                    "dockerfile",
                    &c.dockerfile,
                    DOCKERFILE_MAX_BYTES,
                    DOCKERFILE_MAX_LINES,
                )
            }
            Payload::Question(q) => text_lines(
                "question",
                &q.question,
                QUESTION_MAX_BYTES,
                QUESTION_MAX_LINES,
            ),
        }
    }
}

fn invalid<T>(msg: String) -> Result<T, QueueError> {
    Err(QueueError::Invalid(msg))
}

/// Bounds on agent text shown in a prompt (SPEC §4.7): a reason or a
/// question is a few lines, never a screenful that pushes the change out
/// of sight.
pub const REASON_MAX_BYTES: usize = 1000;
pub const REASON_MAX_LINES: usize = 12;
pub const QUESTION_MAX_BYTES: usize = 4000;
pub const QUESTION_MAX_LINES: usize = 40;
pub const DOCKERFILE_MAX_BYTES: usize = 32 * 1024;
pub const DOCKERFILE_MAX_LINES: usize = 400;

/// Agent text: not empty, at most `max` bytes, and nothing hidden (see
/// `sanitize`: controls, format, invisible and blank characters, long
/// runs of combining marks); newlines and tabs only where `multiline`.
pub fn text(field: &str, value: &str, max: usize, multiline: bool) -> Result<(), QueueError> {
    if value.trim().is_empty() {
        return invalid(format!("{field} is empty"));
    }
    if value.len() > max {
        return invalid(format!(
            "{field} is longer than {max} bytes ({} bytes)",
            value.len()
        ));
    }
    if let Some((at, c)) = crate::sanitize::first_hidden(value, multiline) {
        return invalid(format!(
            "{field} holds an invisible, control, format or combining character (U+{:04X} at character {at}); \
             send plain visible text",
            c as u32
        ));
    }
    Ok(())
}

/// Multi-line agent text: [`text`], and at most `max_lines` lines.
pub fn text_lines(
    field: &str,
    value: &str,
    max: usize,
    max_lines: usize,
) -> Result<(), QueueError> {
    let lines = value.lines().count();
    if lines > max_lines {
        return invalid(format!(
            "{field} has {lines} lines; at most {max_lines} are allowed"
        ));
    }
    text(field, value, max, true)
}

/// A request's reason, as both the sidecar and the host check it.
pub fn reason(value: &str) -> Result<(), QueueError> {
    text_lines("reason", value, REASON_MAX_BYTES, REASON_MAX_LINES)
}

/// `<id>.request.json` as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    pub id: String,
    pub kind: Kind,
    pub payload: serde_json::Value,
    pub reason: String,
    pub created_at: String,
}

/// A request the host read and checked, with the exact bytes it displays
/// and decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// From the directory name, never from the JSON.
    pub slug: String,
    pub id: RequestId,
    pub payload: Payload,
    pub reason: String,
    pub created_at: String,
    pub sha256: String,
    /// Set when a claim exists (someone is deciding, or died deciding).
    pub claimed: bool,
}

impl Request {
    /// Parses the bytes of `<id>.request.json` found in `queue/<slug>/`.
    pub fn parse(slug: &str, id: RequestId, bytes: &[u8]) -> Result<Request, QueueError> {
        let file: RequestFile = serde_json::from_slice(bytes)
            .map_err(|e| QueueError::Invalid(format!("not a request: {e}")))?;
        if file.id != id.to_string() {
            return invalid(format!(
                "the id inside (`{}`) is not the file's",
                crate::sanitize::inline(&file.id)
            ));
        }
        reason(&file.reason)?;
        text("created_at", &file.created_at, 40, false)?;
        let payload = Payload::from_json(file.kind, file.payload)?;
        Ok(Request {
            slug: slug.to_string(),
            id,
            payload,
            reason: file.reason,
            created_at: file.created_at,
            sha256: hex::encode(Sha256::digest(bytes)),
            claimed: false,
        })
    }

    /// `<slug>/<id>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.slug, self.id)
    }
}

/// A file in a queue directory that is not a valid request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Invalid {
    pub slug: String,
    /// The file name, sanitized.
    pub file: String,
    pub error: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approved,
    Rejected,
    Modified,
    Answered,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Rejected => "rejected",
            Verdict::Modified => "modified",
            Verdict::Answered => "answered",
        }
    }
}

/// `<id>.decision.json`, published by the host without overwriting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub id: String,
    pub decision: Verdict,
    /// What was applied: the request's payload, the operator's modified
    /// one, or `{"answer": …}`.
    pub payload: serde_json::Value,
    pub note: String,
    pub request_sha256: String,
    pub decided_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(kind: &str, payload: &str, reason: &str) -> (RequestId, Vec<u8>) {
        let id = RequestId::generate();
        let text = format!(
            r#"{{"id":"{id}","kind":"{kind}","payload":{payload},"reason":{},"created_at":"2026-11-23T00:00:00Z"}}"#,
            serde_json::to_string(reason).expect("json")
        );
        (id, text.into_bytes())
    }

    #[test]
    fn a_good_request_parses_and_keeps_its_hash() {
        let (id, bytes) = file(
            "egress",
            r#"{"host":"api.github.com","path_prefix":"/repos/acme/","methods":["GET"]}"#,
            "need the\nissues",
        );
        let r = Request::parse("dev-1", id, &bytes).expect("parses");
        assert_eq!(r.payload.kind(), Kind::Egress);
        assert_eq!(r.sha256.len(), 64);
    }

    #[test]
    fn bad_requests_are_refused() {
        for (kind, payload, reason, why) in [
            ("egress", r#"{"host":"a.test"}"#, "red \u{1b}[31m", "escape"),
            ("egress", r#"{"host":"a.test"}"#, "abc\u{202e}def", "bidi"),
            (
                "egress",
                r#"{"host":"a.test"}"#,
                "zero\u{200b}width",
                "zero-width",
            ),
            (
                "egress",
                r#"{"host":"a.test","slug":"other"}"#,
                "r",
                "unknown field",
            ),
            ("egress", r#"{"host":"a b"}"#, "r", "bad host"),
            (
                "egress",
                r#"{"host":"a.test","path_prefix":"/a/../b"}"#,
                "r",
                "dots",
            ),
            (
                "egress",
                r#"{"host":"a.test","methods":["CONNECT"]}"#,
                "r",
                "method",
            ),
            ("egress", r#"{"host":"a.test"}"#, "  ", "empty reason"),
            ("question", r#"{"question":"what\u0007"}"#, "r", "bell"),
            ("capability", r#"{"summary":"x"}"#, "r", "no dockerfile"),
            ("nothing", r#"{}"#, "r", "kind"),
        ] {
            let (id, bytes) = file(kind, payload, reason);
            assert!(Request::parse("dev-1", id, &bytes).is_err(), "{why}");
        }
        // Another slug in the JSON, and another id.
        let id = RequestId::generate();
        let text = format!(
            r#"{{"id":"{id}","slug":"x","kind":"question","payload":{{"question":"q"}},"reason":"r","created_at":"t"}}"#
        );
        assert!(Request::parse("dev-1", id, text.as_bytes()).is_err());
        let (_, bytes) = file("question", r#"{"question":"q"}"#, "r");
        assert!(Request::parse("dev-1", RequestId::generate(), &bytes).is_err());
    }

    #[test]
    fn ids_are_canonical_ulids_only() {
        let id = RequestId::generate();
        assert_eq!(RequestId::parse(&id.to_string()).expect("ok"), id);
        for bad in [
            "../etc",
            "",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            &id.to_string().to_lowercase(),
        ] {
            assert!(RequestId::parse(bad).is_err(), "{bad}");
        }
    }
}
