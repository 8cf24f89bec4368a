//! Reading and writing queue files. The host never follows a link, never
//! blocks on a FIFO and never reads more than 64 KiB; a claim is an
//! `O_EXCL` create (first decider wins); a decision is written in a
//! host-only directory and hard-linked into the queue, which fails rather
//! than overwrite.

use super::request::{Decision, Invalid, Request, RequestFile, RequestId};
use super::{QueueError, MAX_FILE_BYTES};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const REQUEST: &str = ".request.json";
const DECISION: &str = ".decision.json";

fn request_path(dir: &Path, id: RequestId) -> PathBuf {
    dir.join(format!("{id}{REQUEST}"))
}

fn decision_path(dir: &Path, id: RequestId) -> PathBuf {
    dir.join(format!("{id}{DECISION}"))
}

fn claim_path(dir: &Path, id: RequestId) -> PathBuf {
    dir.join(format!("{id}.claim"))
}

/// Reads a regular file of at most 64 KiB without following a link and
/// without blocking on a FIFO or device.
pub fn read_limited(path: &Path) -> Result<Vec<u8>, QueueError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => QueueError::Invalid("a symbolic link, not a file".into()),
            _ => QueueError::io(path, e),
        })?;
    let meta = file.metadata().map_err(|e| QueueError::io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(QueueError::Invalid("not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(QueueError::Invalid(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| QueueError::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(QueueError::Invalid(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

/// Every undecided request under `queue/`, and every file there that is
/// not one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub pending: Vec<Request>,
    pub invalid: Vec<Invalid>,
}

/// Reads `queue/` (idempotent: the same files give the same scan).
pub fn scan(queue_root: &Path) -> Scan {
    let mut out = Scan::default();
    let Ok(dirs) = std::fs::read_dir(queue_root) else {
        return out;
    };
    let mut dirs: Vec<_> = dirs.flatten().collect();
    dirs.sort_by_key(|d| d.file_name());
    for d in dirs {
        let name = d.file_name().to_string_lossy().into_owned();
        let is_dir = d.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || crate::state::names::Slug::parse(&name).is_err() {
            continue;
        }
        scan_bottle(&d.path(), &name, &mut out);
    }
    out
}

/// The undecided requests of one bottle's queue directory.
pub fn scan_bottle(dir: &Path, slug: &str, out: &mut Scan) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let Some(stem) = name.strip_suffix(REQUEST) else {
            continue;
        };
        let bad = |error: String| Invalid {
            slug: slug.to_string(),
            file: crate::sanitize::inline(&name),
            error,
        };
        let id = match RequestId::parse(stem) {
            Ok(id) => id,
            Err(e) => {
                out.invalid.push(bad(e.to_string()));
                continue;
            }
        };
        if decision_path(dir, id).exists() {
            continue;
        }
        match read_limited(&dir.join(&name)).and_then(|b| Request::parse(slug, id, &b)) {
            Ok(mut r) => {
                r.claimed = claim_path(dir, id).exists();
                out.pending.push(r);
            }
            Err(e) => out.invalid.push(bad(e.to_string())),
        }
    }
}

/// Undecided request files in one queue directory (the sidecar's limit).
pub fn pending_count(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            RequestId::parse(name.strip_suffix(REQUEST)?).ok()
        })
        .filter(|id| !decision_path(dir, *id).exists())
        .count()
}

/// A claim on a request, held while it is being decided.
pub struct Claim {
    path: PathBuf,
}

/// Claims `id` in `dir` with an `O_EXCL` create. A claim whose process is
/// gone (a decider killed mid-decision) is taken over by renaming it
/// away, which only one taker can do.
pub fn claim(dir: &Path, id: RequestId) -> Result<Claim, QueueError> {
    let path = claim_path(dir, id);
    if decision_path(dir, id).exists() {
        return Err(QueueError::AlreadyDecided(id.to_string()));
    }
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(mut f) => {
                let _ = writeln!(f, "{}", std::process::id());
                return Ok(Claim { path });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if !claim_is_stale(&path) {
                    return Err(QueueError::AlreadyDecided(id.to_string()));
                }
                let away = dir.join(format!(".stale-{id}-{}", ulid::Ulid::new()));
                if std::fs::rename(&path, &away).is_err() {
                    return Err(QueueError::AlreadyDecided(id.to_string()));
                }
                let _ = std::fs::remove_file(away);
            }
            Err(e) => return Err(QueueError::io(&path, e)),
        }
    }
    Err(QueueError::AlreadyDecided(id.to_string()))
}

/// A claim is stale when the process that wrote it is gone.
fn claim_is_stale(path: &Path) -> bool {
    let Ok(bytes) = read_limited(path) else {
        return false;
    };
    let Ok(pid) = String::from_utf8_lossy(&bytes).trim().parse::<i32>() else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && unsafe { libc::kill(pid, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Gives a claim back without a decision (the effect failed): the request
/// is pending again.
pub fn release_claim(claim: Claim) {
    let _ = std::fs::remove_file(&claim.path);
}

/// Publishes `decision` for the claimed request: written and synced in
/// the host-only `tmp_dir`, then linked into the queue (never over an
/// existing decision).
pub fn publish(
    dir: &Path,
    tmp_dir: &Path,
    claim: Claim,
    decision: &Decision,
) -> Result<(), QueueError> {
    let id = RequestId::parse(&decision.id)?;
    let dest = decision_path(dir, id);
    let bytes = serde_json::to_vec(decision).map_err(|e| QueueError::Invalid(e.to_string()))?;
    crate::state::create_private_dir(tmp_dir).map_err(|e| QueueError::Invalid(format!("{e:#}")))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".decision-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(tmp_dir)
        .map_err(|e| QueueError::io(tmp_dir, e))?;
    tmp.write_all(&bytes)
        .map_err(|e| QueueError::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| QueueError::io(tmp.path(), e))?;
    match std::fs::hard_link(tmp.path(), &dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(QueueError::AlreadyDecided(decision.id.clone()))
        }
        // Another filesystem: create it in place, still never over one.
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&dest)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => {
                        QueueError::AlreadyDecided(decision.id.clone())
                    }
                    _ => QueueError::io(&dest, e),
                })?;
            f.write_all(&bytes).map_err(|e| QueueError::io(&dest, e))?;
            f.sync_all().map_err(|e| QueueError::io(&dest, e))?;
        }
        Err(e) => return Err(QueueError::io(&dest, e)),
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    // The claim stays: it marks the request as decided by this host too.
    drop(claim);
    Ok(())
}

/// Appends one line to `audit/<slug>.jsonl` (host only, never mounted).
pub fn append_audit(
    audit_dir: &Path,
    slug: &str,
    line: &serde_json::Value,
) -> Result<(), QueueError> {
    crate::state::create_private_dir(audit_dir)
        .map_err(|e| QueueError::Invalid(format!("{e:#}")))?;
    let path = audit_dir.join(format!("{slug}.jsonl"));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| QueueError::io(&path, e))?;
    let mut text = line.to_string();
    text.push('\n');
    f.write_all(text.as_bytes())
        .map_err(|e| QueueError::io(&path, e))?;
    f.sync_all().map_err(|e| QueueError::io(&path, e))
}

/// The sidecar's write: temp file, fsync, rename to `<id>.request.json`.
pub fn write_request(dir: &Path, file: &RequestFile) -> Result<RequestId, QueueError> {
    let id = RequestId::parse(&file.id)?;
    let bytes = serde_json::to_vec(file).map_err(|e| QueueError::Invalid(e.to_string()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| QueueError::io(dir, e))?;
    tmp.write_all(&bytes)
        .map_err(|e| QueueError::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| QueueError::io(tmp.path(), e))?;
    tmp.persist_noclobber(request_path(dir, id))
        .map_err(|e| QueueError::io(dir, e.error))?;
    Ok(id)
}

/// The decision for `id`, once published (the sidecar's read).
pub fn read_decision(dir: &Path, id: RequestId) -> Option<Decision> {
    let bytes = read_limited(&decision_path(dir, id)).ok()?;
    let d: Decision = serde_json::from_slice(&bytes).ok()?;
    (d.id == id.to_string()).then_some(d)
}

/// The request file of `id` as the sidecar wrote it, if any.
pub fn read_request(dir: &Path, slug: &str, id: RequestId) -> Result<Request, QueueError> {
    let bytes = read_limited(&request_path(dir, id))?;
    Request::parse(slug, id, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::request::{Kind, Verdict};

    fn request(dir: &Path, reason: &str) -> RequestId {
        let id = RequestId::generate();
        write_request(
            dir,
            &RequestFile {
                id: id.to_string(),
                kind: Kind::Question,
                payload: serde_json::json!({"question": "may I?"}),
                reason: reason.into(),
                created_at: "2026-11-23T00:00:00Z".into(),
            },
        )
        .expect("write");
        id
    }

    fn decision(id: RequestId) -> Decision {
        Decision {
            id: id.to_string(),
            decision: Verdict::Answered,
            payload: serde_json::json!({"answer": "yes"}),
            note: String::new(),
            request_sha256: "x".into(),
            decided_at: "now".into(),
        }
    }

    #[test]
    fn requests_are_scanned_claimed_once_and_decided_once() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join("dev-abc123");
        std::fs::create_dir(&dir).expect("mkdir");
        let id = request(&dir, "why");
        let s = scan(root.path());
        assert_eq!(s.pending.len(), 1, "{s:?}");
        assert_eq!(s.pending[0].slug, "dev-abc123");
        assert_eq!(pending_count(&dir), 1);
        let c = claim(&dir, id).expect("first claim");
        assert!(matches!(
            claim(&dir, id),
            Err(QueueError::AlreadyDecided(_))
        ));
        let tmp = root.path().join("host-tmp");
        publish(&dir, &tmp, c, &decision(id)).expect("publish");
        assert_eq!(
            read_decision(&dir, id).expect("decided").decision,
            Verdict::Answered
        );
        assert!(scan(root.path()).pending.is_empty());
        assert_eq!(pending_count(&dir), 0);
        // Never over an existing decision, even past the claim.
        std::fs::remove_file(claim_path(&dir, id)).expect("rm");
        assert!(claim(&dir, id).is_err());
    }

    #[test]
    fn links_fifos_big_files_and_bad_names_are_refused() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join("dev-abc123");
        std::fs::create_dir(&dir).expect("mkdir");
        let good = request(&dir, "ok");
        let link = RequestId::generate();
        std::os::unix::fs::symlink(request_path(&dir, good), request_path(&dir, link))
            .expect("symlink");
        let fifo = request_path(&dir, RequestId::generate());
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: mkfifo on a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        std::fs::write(
            request_path(&dir, RequestId::generate()),
            vec![b' '; MAX_FILE_BYTES as usize + 1],
        )
        .expect("write");
        std::fs::write(dir.join("..%2f..%2fetc.request.json"), "{}").expect("write");
        let s = scan(root.path());
        assert_eq!(s.pending.len(), 1);
        assert_eq!(s.pending[0].id, good);
        let errors: Vec<&str> = s.invalid.iter().map(|i| i.error.as_str()).collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("symbolic link")));
        assert!(errors.iter().any(|e| e.contains("not a regular file")));
        assert!(errors.iter().any(|e| e.contains("larger than")));
        assert!(errors.iter().any(|e| e.contains("not a request id")));
    }

    #[test]
    fn a_dead_deciders_claim_is_taken_over() {
        let root = tempfile::tempdir().expect("tmp");
        let dir = root.path().join("dev-abc123");
        std::fs::create_dir(&dir).expect("mkdir");
        let id = request(&dir, "why");
        // A pid that cannot exist.
        std::fs::write(claim_path(&dir, id), "2147483646\n").expect("write");
        assert!(claim(&dir, id).is_ok());
    }
}
