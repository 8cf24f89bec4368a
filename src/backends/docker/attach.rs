//! Passthrough between this process's terminal and a TTY exec in the
//! agent container — the session holder's attach client (`bottle attach`)
//! or a plain shell (`bottle shell`): output to stdout through the pane
//! rules (`session::filter`), stdin to the exec,
//! terminal size changes (SIGWINCH) to the exec's TTY. `Ctrl-b d` detaches
//! and leaves the agent running; it is recognised here, on the client,
//! because Podman ignores the engine's detach keys (which stay set so
//! Docker's default, Ctrl-p Ctrl-q, never swallows a key).

use super::{timed, EngineError};
use bollard::query_parameters::WaitContainerOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use std::io::{Read, Write};
use tokio::io::AsyncWriteExt;

pub const DETACH_KEYS: &str = "ctrl-b,d";

/// How long an agent whose output ended may take to be reported stopped;
/// still running after it means the engine detached.
pub const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

pub use crate::backends::AttachEnd;

/// Finds the detach sequence (`Ctrl-b d`) in typed input, across reads.
/// `Ctrl-b Ctrl-b` sends one `Ctrl-b`; `Ctrl-b` and any other key sends
/// both.
#[derive(Debug, Default)]
pub struct DetachFilter {
    prefix_pending: bool,
}

const PREFIX: u8 = 0x02;

impl DetachFilter {
    /// The bytes to forward, and whether the operator asked to detach
    /// (nothing after the sequence is forwarded).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.prefix_pending {
                self.prefix_pending = false;
                match b {
                    b'd' => return (out, true),
                    PREFIX => out.push(PREFIX),
                    other => out.extend_from_slice(&[PREFIX, other]),
                }
            } else if b == PREFIX {
                self.prefix_pending = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// How a relay ended.
#[derive(Debug, PartialEq, Eq)]
pub enum RelayEnd {
    /// The container's side closed.
    Closed,
    /// The operator typed the detach sequence.
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

/// Relays until the output ends (or, with `detachable`, the operator
/// detaches): output to stdout, stdin to `input`, and each terminal size
/// change to `resize(rows, cols)`.
pub async fn relay<F, Fut>(
    mut output: Output,
    mut input: Input,
    detachable: bool,
    size: impl Fn() -> Option<(u16, u16)>,
    resize: F,
) -> Result<RelayEnd, EngineError>
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
    let mut filter = DetachFilter::default();
    // The agent's output reaches this terminal only through the pane
    // rules (SPEC §4.9): no clipboard, hyperlink, title, query or string.
    let mut shown = crate::session::filter::OutputFilter::default();
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(out)) => {
                    let _ = stdout.write_all(&shown.feed(&out.into_bytes()));
                    let _ = stdout.flush();
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(RelayEnd::Closed),
            },
            Some(bytes) = rx.recv() => {
                let (bytes, detach) = if detachable {
                    filter.feed(&bytes)
                } else {
                    (bytes, false)
                };
                if input.write_all(&bytes).await.is_err() {
                    return Ok(RelayEnd::Closed);
                }
                if detach {
                    // The in-container client leaves at once (see
                    // DETACH_MARKER); a plain shell ignores it.
                    let _ = input
                        .write_all(crate::session_host::client::DETACH_MARKER)
                        .await;
                    let _ = input.flush().await;
                    return Ok(RelayEnd::Detached);
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

/// An exec with a TTY, started and attached: its id (for resizing and
/// inspecting) and its streams.
pub struct TtyExec {
    pub id: String,
    pub output: std::pin::Pin<
        Box<
            dyn futures_util::Stream<
                    Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
                > + Send,
        >,
    >,
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

/// Creates and starts `cmd` as `user` in a TTY exec, attached (the
/// engine's detach keys set to ours, so a stray Ctrl-p never detaches).
pub async fn start_tty_exec(
    docker: &Docker,
    container: &str,
    user: &str,
    cmd: Vec<String>,
) -> Result<TtyExec, EngineError> {
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
    Ok(TtyExec { id, output, input })
}

/// Attaches to the agent's session holder: `bottle session-host attach`
/// in an exec with a TTY, relayed to this terminal. `size` returns the
/// current terminal size (rows, cols).
pub async fn attach(
    docker: &Docker,
    container: &str,
    size: impl Fn() -> Option<(u16, u16)>,
) -> Result<AttachEnd, EngineError> {
    // A terminal that reports no size (0×0) leaves it to the exec's TTY.
    let (user, cmd) = super::spec::holder_attach(size().filter(|&(r, c)| r > 0 && c > 0));
    let TtyExec { id, output, input } = start_tty_exec(docker, container, user, cmd).await?;
    let resize = |rows: u16, cols: u16| {
        docker.resize_exec(
            &id,
            bollard::query_parameters::ResizeExecOptions {
                h: i32::from(rows),
                w: i32::from(cols),
            },
        )
    };
    let end = relay(output, input, true, size, resize).await?;
    reset_terminal();
    if end == RelayEnd::Detached {
        return Ok(AttachEnd::Detached);
    }
    // The client ended: the agent exited (the holder then stops the
    // container), or the engine detached. Waiting rather than inspecting:
    // Podman reports a state (`stopped`) that Docker's API schema lacks.
    let wait = WaitContainerOptionsBuilder::default()
        .condition("not-running")
        .build();
    let mut waiting = docker.wait_container(container, Some(wait));
    let code = match tokio::time::timeout(EXIT_GRACE, waiting.next()).await {
        Err(_) => return Ok(AttachEnd::Detached),
        Ok(Some(Ok(r))) => r.status_code,
        Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => code,
        Ok(Some(Err(e))) => return Err(e.into()),
        Ok(None) => -1,
    };
    Ok(AttachEnd::Exited(code))
}

/// Leaves the modes an agent may have set on this terminal: alternate
/// screen, hidden cursor, bracketed paste, mouse reporting, application
/// cursor keys and keypad, colours.
fn reset_terminal() {
    let mut out = std::io::stdout();
    let _ = out.write_all(
        b"\x1b[?1049l\x1b[?25h\x1b[?2004l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1l\x1b>\x1b[0m",
    );
    let _ = out.flush();
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
    let TtyExec { id, output, input } = start_tty_exec(docker, container, user, cmd).await?;
    let resize = |rows: u16, cols: u16| {
        docker.resize_exec(
            &id,
            bollard::query_parameters::ResizeExecOptions {
                h: i32::from(rows),
                w: i32::from(cols),
            },
        )
    };
    relay(output, input, false, size, resize).await?;
    Ok(timed(docker.inspect_exec(&id))
        .await?
        .exit_code
        .unwrap_or(-1))
}

#[cfg(test)]
mod tests {
    use super::DetachFilter;

    #[test]
    fn detach_sequence_is_found_across_reads_and_prefix_is_escapable() {
        let mut f = DetachFilter::default();
        assert_eq!(f.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(f.feed(b"a\x02"), (b"a".to_vec(), false));
        assert_eq!(f.feed(b"dlost"), (Vec::new(), true));
        let mut f = DetachFilter::default();
        assert_eq!(f.feed(b"\x02\x02x"), (b"\x02x".to_vec(), false));
        assert_eq!(f.feed(b"\x02c"), (b"\x02c".to_vec(), false));
        assert_eq!(f.feed(b"x\x02d"), (b"x".to_vec(), true));
    }
}
