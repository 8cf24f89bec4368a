//! Non-TTY execs with both streams live at once: `bottle exec` in the
//! agent container, and the sidecar exec that carries git's upload-pack
//! for `bottle fetch` (SPEC §5.5). One exec path: the setup calls (create,
//! start, inspect) are under the engine timeout; the stream is not (a
//! command may run long), except for an optional idle limit.

use super::{timed, EngineError};
use crate::backends::{OutputSink, Stream};
use crate::state::names::Slug;
use bollard::Docker;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a sidecar exec may pass no byte either way before it is
/// given up (git's upload-pack sends keep-alives while it works).
pub const SIDECAR_IDLE: Duration = Duration::from_secs(300);

/// One exec: where, as whom, what, with which extra environment.
pub struct ExecRequest<'a> {
    pub slug: &'a Slug,
    pub container: &'a str,
    /// `None`: the container's own user.
    pub user: Option<&'a str>,
    pub cmd: Vec<String>,
    /// `NAME=value` entries added to the container's environment.
    pub env: Vec<String>,
    /// Give up after this long without traffic (`None`: never).
    pub idle: Option<Duration>,
}

/// Runs `req` with `stdin` (when given) forwarded until it ends while its
/// output is relayed chunk by chunk; the exit status.
pub async fn run(
    d: &Docker,
    req: ExecRequest<'_>,
    stdin: Option<Box<dyn std::io::Read + Send>>,
    output: OutputSink<'_>,
) -> Result<i64, EngineError> {
    use bollard::exec::{StartExecOptions, StartExecResults};
    use bollard::models::ExecConfig;
    let forward = stdin.is_some();
    let config = ExecConfig {
        cmd: Some(req.cmd),
        user: req.user.map(str::to_string),
        env: (!req.env.is_empty()).then_some(req.env),
        attach_stdin: Some(forward),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let slug = req.slug;
    let id = match timed(d.create_exec(req.container, config)).await {
        Ok(r) => r.id,
        Err(e) => {
            return Err(EngineError::Launch(format!(
                "no running bottle `{slug}`: {e}"
            )))
        }
    };
    let started = timed(d.start_exec(
        &id,
        Some(StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: None,
        }),
    ))
    .await?;
    if let StartExecResults::Attached {
        output: mut out,
        input,
    } = started
    {
        // Milliseconds since `origin` of the last byte forwarded in.
        let origin = Instant::now();
        let last_in = Arc::new(AtomicU64::new(0));
        let feeding = stdin.map(|stdin| feed(stdin, input, origin, last_in.clone()));
        loop {
            let next = match req.idle {
                None => out.next().await,
                Some(idle) => match tokio::time::timeout(idle, out.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let quiet_in = origin
                            .elapsed()
                            .saturating_sub(Duration::from_millis(last_in.load(Ordering::Relaxed)));
                        if quiet_in < idle {
                            continue;
                        }
                        if let Some(f) = &feeding {
                            f.abort();
                        }
                        return Err(EngineError::Local(format!(
                            "the exec in `{slug}` passed nothing either way for {idle:?}; given up"
                        )));
                    }
                },
            };
            let Some(chunk) = next else { break };
            let sent = match chunk? {
                bollard::container::LogOutput::StdErr { message } => {
                    output(Stream::Stderr, &message)
                }
                other => output(Stream::Stdout, &other.into_bytes()),
            };
            sent.map_err(|e| EngineError::Local(e.to_string()))?;
        }
        if let Some(f) = feeding {
            f.abort();
        }
    }
    Ok(timed(d.inspect_exec(&id)).await?.exit_code.unwrap_or(1))
}

/// Forwards `stdin` into the exec until it ends, then closes the exec's
/// input (the command sees end of file). A plain thread reads (a pipe
/// that never closes must not keep the runtime from ending); a task
/// writes and notes when it last did.
fn feed(
    mut stdin: Box<dyn std::io::Read + Send>,
    input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    origin: Instant,
    last_in: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut input = input;
        while let Some(chunk) = rx.recv().await {
            if input.write_all(&chunk).await.is_err() {
                return;
            }
            let _ = input.flush().await;
            let ms = u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX);
            last_in.store(ms, Ordering::Relaxed);
        }
        let _ = input.shutdown().await;
    })
}

/// `cmd` in the bottle's sidecar container as the container's own user
/// (the gate's), with `env` added; stdin forwarded and output relayed at
/// once, idle for at most [`SIDECAR_IDLE`].
pub async fn sidecar(
    d: &Docker,
    slug: &Slug,
    cmd: &[String],
    env: &[(String, String)],
    stdin: Box<dyn std::io::Read + Send>,
    output: OutputSink<'_>,
) -> Result<i64, EngineError> {
    let names = crate::state::names::Names::for_slug(slug);
    let req = ExecRequest {
        slug,
        container: &names.sidecar_container,
        user: None,
        cmd: cmd.to_vec(),
        env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        idle: Some(SIDECAR_IDLE),
    };
    run(d, req, Some(stdin), output).await
}
