//! Raw passthrough between this process's terminal and an agent
//! container's TTY: output to stdout, stdin to the container, terminal
//! size changes (SIGWINCH) to the container's TTY. `Ctrl-b d` detaches
//! (the engine's detach keys) and leaves the agent running. The session
//! holder replaces this with its own attach protocol.

use super::{timed, EngineError};
use bollard::query_parameters::{
    AttachContainerOptions, ResizeContainerTTYOptions, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::io::{Read, Write};
use tokio::io::AsyncWriteExt;

pub const DETACH_KEYS: &str = "ctrl-b,d";

#[derive(Debug, PartialEq, Eq)]
pub enum AttachEnd {
    /// The agent exited with this status.
    Exited(i64),
    /// The operator detached; the agent keeps running.
    Detached,
}

type Output = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
            > + Send,
    >,
>;
type Input = std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>;

/// Relays until the output ends: output to stdout, stdin to `input`, and
/// each terminal size change to `resize(rows, cols)`.
pub async fn relay<F, Fut>(
    mut output: Output,
    mut input: Input,
    size: impl Fn() -> Option<(u16, u16)>,
    resize: F,
) -> Result<(), EngineError>
where
    F: Fn(u16, u16) -> Fut,
    Fut: std::future::Future<Output = Result<(), bollard::errors::Error>>,
{
    if let Some((rows, cols)) = size() {
        let _ = timed(resize(rows, cols)).await;
    }
    // Blocking stdin reads live on their own thread (never on the runtime).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    std::thread::Builder::new()
        .name("attach-stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || tx.blocking_send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| EngineError::Local(e.to_string()))?;
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .map_err(|e| EngineError::Local(e.to_string()))?;
    let mut stdout = std::io::stdout();
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(out)) => {
                    let _ = stdout.write_all(&out.into_bytes());
                    let _ = stdout.flush();
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            Some(bytes) = rx.recv() => {
                if input.write_all(&bytes).await.is_err() {
                    return Ok(());
                }
                let _ = input.flush().await;
            }
            _ = winch.recv() => {
                if let Some((rows, cols)) = size() {
                    let _ = timed(resize(rows, cols)).await;
                }
            }
        }
    }
}

/// Attaches to the agent container's own TTY. `size` returns the current
/// terminal size (rows, cols).
pub async fn attach(
    docker: &Docker,
    container: &str,
    size: impl Fn() -> Option<(u16, u16)>,
) -> Result<AttachEnd, EngineError> {
    let options = AttachContainerOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        stream: true,
        logs: false,
        detach_keys: Some(DETACH_KEYS.into()),
    };
    let attached = timed(docker.attach_container(container, Some(options))).await?;
    let resize = |rows: u16, cols: u16| {
        docker.resize_container_tty(
            container,
            ResizeContainerTTYOptions {
                h: i32::from(rows),
                w: i32::from(cols),
            },
        )
    };
    relay(attached.output, attached.input, size, resize).await?;
    // The stream ended: either the agent exited or the operator detached.
    let inspect = timed(docker.inspect_container(container, None)).await?;
    let running = inspect
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false);
    if running {
        return Ok(AttachEnd::Detached);
    }
    let wait = WaitContainerOptionsBuilder::default()
        .condition("not-running")
        .build();
    let code = match docker.wait_container(container, Some(wait)).next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        _ => inspect.state.and_then(|s| s.exit_code).unwrap_or(-1),
    };
    Ok(AttachEnd::Exited(code))
}

/// A new interactive process in a running container (`bottle shell`):
/// returns its exit status.
pub async fn exec_interactive(
    docker: &Docker,
    container: &str,
    user: &str,
    cmd: Vec<String>,
    size: impl Fn() -> Option<(u16, u16)>,
) -> Result<i64, EngineError> {
    use bollard::exec::{StartExecOptions, StartExecResults};
    let config = bollard::models::ExecConfig {
        cmd: Some(cmd),
        user: Some(user.into()),
        tty: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        detach_keys: Some(DETACH_KEYS.into()),
        ..Default::default()
    };
    let id = timed(docker.create_exec(container, config)).await?.id;
    let started = timed(docker.start_exec(
        &id,
        Some(StartExecOptions {
            detach: false,
            tty: true,
            output_capacity: None,
        }),
    ))
    .await?;
    let StartExecResults::Attached { output, input } = started else {
        return Err(EngineError::Launch("the exec did not attach".into()));
    };
    let resize = |rows: u16, cols: u16| {
        docker.resize_exec(
            &id,
            bollard::query_parameters::ResizeExecOptions {
                h: i32::from(rows),
                w: i32::from(cols),
            },
        )
    };
    relay(output, input, size, resize).await?;
    Ok(timed(docker.inspect_exec(&id))
        .await?
        .exit_code
        .unwrap_or(-1))
}
