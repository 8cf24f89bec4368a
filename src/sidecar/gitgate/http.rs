//! The gate's HTTP side: the three smart-protocol paths of a configured
//! repository, each run through `git http-backend` (CGI) with a clean
//! environment; the request body streams into it and its answer streams
//! back. A sync failure answers the advertisement with git's own `ERR`
//! packet, so the agent's git prints the reason.

use super::hook;
use super::upstream;
use super::Gate;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

type Body = BoxBody<Bytes, std::io::Error>;

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Advertise { receive: bool },
    UploadPack,
    ReceivePack,
}

/// `/<name>.git/<rest>` with the method and query → (repo, service).
fn route(method: &hyper::Method, path: &str, query: Option<&str>) -> Option<(String, Service)> {
    let rest = path.strip_prefix('/')?;
    let (repo, tail) = rest.split_once(".git/")?;
    if repo.is_empty()
        || !repo
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return None;
    }
    let service = match (method, tail, query) {
        (&hyper::Method::GET, "info/refs", Some("service=git-upload-pack")) => {
            Service::Advertise { receive: false }
        }
        (&hyper::Method::GET, "info/refs", Some("service=git-receive-pack")) => {
            Service::Advertise { receive: true }
        }
        (&hyper::Method::POST, "git-upload-pack", None) => Service::UploadPack,
        (&hyper::Method::POST, "git-receive-pack", None) => Service::ReceivePack,
        _ => return None,
    };
    Some((repo.to_string(), service))
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e: Infallible| match e {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A pkt-line.
fn pkt(line: &str) -> String {
    format!("{:04x}{line}", line.len() + 4)
}

/// An advertisement that is git's `ERR` packet: the agent's git prints
/// `remote error: <message>` and stops.
fn refuse_advertisement(receive: bool, message: &str) -> Response<Body> {
    let service = if receive {
        "git-receive-pack"
    } else {
        "git-upload-pack"
    };
    let one_line = message.replace('\n', " | ");
    let body = format!(
        "{}0000{}",
        pkt(&format!("# service={service}\n")),
        pkt(&format!("ERR {one_line}\n"))
    );
    let mut r = text(StatusCode::OK, body);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_str(&format!("application/x-{service}-advertisement"))
            .unwrap_or(hyper::header::HeaderValue::from_static(
                "application/octet-stream",
            )),
    );
    r
}

pub async fn handle(req: Request<Incoming>, gate: Arc<Gate>) -> Result<Response<Body>, Infallible> {
    Ok(match serve(req, &gate).await {
        Ok(r) => r,
        Err(r) => r,
    })
}

async fn serve(req: Request<Incoming>, gate: &Arc<Gate>) -> Result<Response<Body>, Response<Body>> {
    let Some((name, service)) = route(req.method(), req.uri().path(), req.uri().query()) else {
        return Err(text(
            StatusCode::NOT_FOUND,
            format!(
                "the git gate serves git's smart HTTP for this bottle's repositories: {}\n",
                gate.names()
                    .iter()
                    .map(|n| format!("http://gitgate:{}/{n}.git", crate::policy::gitgate::PORT))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let Some((repo, lock)) = gate.repos.get(&name) else {
        return Err(text(
            StatusCode::NOT_FOUND,
            format!(
                "no repository `{}` at the git gate (this bottle's: {})\n",
                crate::sanitize::inline(&name),
                gate.names().join(", ")
            ),
        ));
    };
    let _slot = gate.slots.clone().acquire_owned().await.map_err(|_| {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the git gate is shutting down\n".into(),
        )
    })?;
    let guard = lock.clone().lock_owned().await;
    if let Service::Advertise { receive } = service {
        if let Err(e) = upstream::sync(repo, &gate.paths).await {
            log(
                &name,
                if receive {
                    "push_sync_failed"
                } else {
                    "fetch_failed"
                },
                &e,
            );
            return Err(refuse_advertisement(receive, &e));
        }
    }
    cgi(req, gate, &name, service, guard, _slot).await
}

/// One JSON line on the sidecar's log.
fn log(repo: &str, decision: &str, reason: &str) {
    println!(
        "{}",
        serde_json::json!({"event": "gitgate", "repo": repo, "decision": decision, "reason": crate::sanitize::inline(reason)})
    );
}

/// Runs `git http-backend` for the request; streams the answer.
async fn cgi(
    req: Request<Incoming>,
    gate: &Arc<Gate>,
    name: &str,
    service: Service,
    guard: tokio::sync::OwnedMutexGuard<()>,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> Result<Response<Body>, Response<Body>> {
    let paths = &gate.paths;
    let report = paths.scratch.join(format!("report-{:x}", hook_nonce()));
    let header = |h: &str| {
        req.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .envs(upstream::base_env(paths))
        .env("GIT_PROJECT_ROOT", &paths.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "agent")
        .env("REMOTE_ADDR", "agent")
        .env("REQUEST_METHOD", req.method().as_str())
        .env("PATH_INFO", req.uri().path())
        .env("QUERY_STRING", req.uri().query().unwrap_or(""))
        .env(hook::ENV_REPO, name)
        .env(hook::ENV_ROOT, &paths.root)
        .env(hook::ENV_CONFIG, &paths.config_dir)
        .env(hook::ENV_SECRETS, &paths.secrets_dir)
        .env(hook::ENV_SCRATCH, &paths.scratch)
        .env(hook::ENV_REPORT, &report)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(ct) = header("content-type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(cl) = header("content-length") {
        cmd.env("CONTENT_LENGTH", cl);
    }
    if let Some(ce) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", ce);
    }
    if let Some(p) = header("git-protocol") {
        cmd.env("HTTP_GIT_PROTOCOL", p);
    }
    let mut child = cmd.spawn().map_err(|e| {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the git gate could not run git: {e}\n"),
        )
    })?;
    // The request body into git, as it arrives.
    let mut stdin = child.stdin.take();
    let mut body = req.into_body();
    let feeding = tokio::spawn(async move {
        if let Some(sink) = stdin.as_mut() {
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    if sink.write_all(&data).await.is_err() {
                        break;
                    }
                }
            }
            let _ = sink.shutdown().await;
        }
        drop(stdin);
    });
    let mut stderr = child.stderr.take();
    let errors = tokio::spawn(async move {
        let mut out = Vec::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.take(64 << 10).read_to_end(&mut out).await;
        }
        out
    });
    let stdout = child.stdout.take().ok_or_else(|| {
        text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no output from git\n".into(),
        )
    })?;
    let mut reader = tokio::io::BufReader::with_capacity(1 << 16, stdout);
    // The CGI headers.
    let mut status = StatusCode::OK;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        let n = (&mut reader)
            .take(8 << 10)
            .read_line(&mut line)
            .await
            .map_err(|e| {
                text(
                    StatusCode::BAD_GATEWAY,
                    format!("reading git's answer: {e}\n"),
                )
            })?;
        let line = line.trim_end();
        if n == 0 || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("status") {
                status = v
                    .split_whitespace()
                    .next()
                    .and_then(|c| c.parse::<u16>().ok())
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
            } else {
                headers.push((k.to_string(), v.to_string()));
            }
        }
    }
    let repo = name.to_string();
    let receive = service == Service::ReceivePack;
    // The body: git's output as it comes; when it ends, the hook's report
    // goes to the log and the repository's lock is released.
    struct State {
        reader: tokio::io::BufReader<tokio::process::ChildStdout>,
        child: tokio::process::Child,
        feeding: tokio::task::JoinHandle<()>,
        errors: tokio::task::JoinHandle<Vec<u8>>,
        report: std::path::PathBuf,
        repo: String,
        receive: bool,
        _guard: tokio::sync::OwnedMutexGuard<()>,
        _slot: tokio::sync::OwnedSemaphorePermit,
        done: bool,
    }
    let state = State {
        reader,
        child,
        feeding,
        errors,
        report,
        repo,
        receive,
        _guard: guard,
        _slot: slot,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let mut buf = vec![0u8; 1 << 16];
        match st.reader.read(&mut buf).await {
            Ok(n) if n > 0 => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Frame::data(Bytes::from(buf))), st))
            }
            _ => {
                st.done = true;
                let _ = (&mut st.feeding).await;
                let status = st.child.wait().await;
                let errs = (&mut st.errors).await.unwrap_or_default();
                if status.map(|s| !s.success()).unwrap_or(true) && !errs.is_empty() {
                    log(&st.repo, "git_error", &upstream::tail(&errs));
                }
                if st.receive {
                    if let Ok(lines) = std::fs::read_to_string(&st.report) {
                        for l in lines.lines() {
                            println!("{l}");
                        }
                    }
                    let _ = std::fs::remove_file(&st.report);
                }
                None
            }
        }
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *response.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(&v),
        ) {
            response.headers_mut().append(k, v);
        }
    }
    Ok(response)
}

fn hook_nonce() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    u64::from(std::process::id()) << 32 | N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_smart_protocol_paths_are_served() {
        use hyper::Method;
        let r = |m: &Method, p: &str, q: Option<&str>| route(m, p, q);
        assert_eq!(
            r(
                &Method::GET,
                "/app.git/info/refs",
                Some("service=git-upload-pack")
            ),
            Some(("app".into(), Service::Advertise { receive: false }))
        );
        assert_eq!(
            r(&Method::POST, "/app.git/git-receive-pack", None),
            Some(("app".into(), Service::ReceivePack))
        );
        for (m, p, q) in [
            (Method::GET, "/app.git/HEAD", None),
            (Method::GET, "/app.git/objects/info/packs", None),
            (Method::GET, "/app.git/info/refs", None),
            (Method::GET, "/app.git/config", None),
            (
                Method::POST,
                "/app.git/info/refs",
                Some("service=git-receive-pack"),
            ),
            (
                Method::GET,
                "/../x.git/info/refs",
                Some("service=git-upload-pack"),
            ),
            (
                Method::GET,
                "/a/b.git/info/refs",
                Some("service=git-upload-pack"),
            ),
        ] {
            assert!(r(&m, p, q).is_none(), "{m} {p}");
        }
    }

    #[test]
    fn a_refused_advertisement_is_an_err_packet() {
        assert_eq!(
            pkt("# service=git-upload-pack\n"),
            "001e# service=git-upload-pack\n"
        );
    }
}
