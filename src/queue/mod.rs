//! The supervise queue on disk (SPEC §5.4). `queue/<slug>/` holds the
//! requests the sidecar writes (`<id>.request.json`), the host's claims
//! (`<id>.claim`) and decisions (`<id>.decision.json`). Both sides parse
//! strictly with the same code: the sidecar before it writes, the host when
//! it reads (once, `O_NOFOLLOW`, non-blocking, a regular file of at most
//! 64 KiB, the slug from the directory name). Imports no UI, engine or
//! workspace code.

pub mod disk;
pub mod request;
pub mod watch;

pub use disk::{
    append_audit, claim, pending_count, publish, read_decision, read_limited, read_request,
    release_claim, scan, scan_bottle, write_request, Claim, Scan,
};
pub use request::{
    CapabilityAsk, Decision, EgressAsk, Invalid, Kind, Payload, QuestionAsk, Request, RequestFile,
    RequestId, Verdict,
};
pub use watch::watch;

/// The largest request or decision file either side reads.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Requests without a decision a bottle may have at once.
pub const MAX_PENDING: usize = 16;

/// RFC 3339, UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{0}")]
    Invalid(String),
    #[error("request {0} was already decided or is being decided")]
    AlreadyDecided(String),
    #[error("request {0} changed after it was displayed; it was not applied")]
    Tampered(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl QueueError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> QueueError {
        QueueError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
