//! The pane I/O seam for Docker: a pane attached to an agent's session
//! holder through `bottle session-host attach` in a TTY exec (the same
//! path as `bottle attach`), so panes detach and re-attach like any
//! client. bollard's async streams are bridged to blocking `Read`/`Write`
//! by a small runtime on its own thread.

use super::{timed, EngineError};
use crate::session::io::{PaneCtl, PaneError, PaneIo};
use crate::state::names::{Names, Slug};
use futures_util::StreamExt;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use tokio::io::AsyncWriteExt;

enum Ctl {
    Resize(u16, u16, mpsc::Sender<Result<(), EngineError>>),
    Close,
}

/// Blocking reader over the output channel.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.pending = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// Blocking writer into the exec's input.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(buf.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the pane ended"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Outcome = Arc<(Mutex<Option<Result<Option<i32>, String>>>, Condvar)>;

struct DockerPaneCtl {
    ctl: tokio::sync::mpsc::UnboundedSender<Ctl>,
    outcome: Outcome,
}

impl PaneCtl for DockerPaneCtl {
    fn resize(&self, rows: u16, cols: u16) -> Result<(), PaneError> {
        let (tx, rx) = mpsc::channel();
        self.ctl
            .send(Ctl::Resize(rows, cols, tx))
            .map_err(|_| PaneError("the pane ended".into()))?;
        rx.recv_timeout(super::CALL_TIMEOUT)
            .map_err(|_| PaneError("resize got no answer".into()))?
            .map_err(|e| PaneError(e.to_string()))
    }

    fn wait(&self) -> Result<Option<i32>, PaneError> {
        let (lock, cvar) = &*self.outcome;
        let mut done = lock.lock().map_err(|_| PaneError("poisoned".into()))?;
        while done.is_none() {
            done = cvar.wait(done).map_err(|_| PaneError("poisoned".into()))?;
        }
        done.clone().unwrap_or(Ok(None)).map_err(PaneError)
    }

    fn close(&self) {
        let _ = self.ctl.send(Ctl::Close);
    }
}

pub use crate::session::io::PaneKind;

/// Attaches a pane of `rows`×`cols` to the session holder of `slug` on the
/// engine at `host`.
pub fn attach_pane(host: &str, slug: &Slug, rows: u16, cols: u16) -> Result<PaneIo, PaneError> {
    open_pane(host, slug, PaneKind::Session, rows, cols)
}

/// Opens a pane of `kind` on `slug`'s agent container, on the engine at
/// `host` (where the bottle was launched).
pub fn open_pane(
    host: &str,
    slug: &Slug,
    kind: PaneKind,
    rows: u16,
    cols: u16,
) -> Result<PaneIo, PaneError> {
    let container = Names::for_slug(slug).agent_container;
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(256);
    let (in_tx, mut in_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(256);
    let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel::<Ctl>();
    let outcome: Outcome = Arc::new((Mutex::new(None), Condvar::new()));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), EngineError>>();
    let finish = outcome.clone();
    let host = host.to_string();
    std::thread::Builder::new()
        .name(format!("pane-{slug}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(EngineError::Local(e.to_string())));
                    return;
                }
            };
            let result: Result<Option<i32>, EngineError> = runtime.block_on(async move {
                let docker = super::engines::connect_host(&host).await?;
                let (user, cmd): (&str, Vec<String>) = match kind {
                    PaneKind::Session => {
                        super::spec::holder_attach(Some((rows.max(1), cols.max(1))))
                    }
                    PaneKind::Shell => super::spec::as_agent(vec![
                        "/bin/sh".into(),
                        "-c".into(),
                        "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi"
                            .into(),
                    ]),
                };
                let super::attach::TtyExec {
                    id,
                    mut output,
                    mut input,
                } = super::attach::start_tty_exec(&docker, &container, user, cmd).await?;
                let resize = |rows: u16, cols: u16| {
                    docker.resize_exec(
                        &id,
                        bollard::query_parameters::ResizeExecOptions {
                            h: i32::from(rows),
                            w: i32::from(cols),
                        },
                    )
                };
                let _ = timed(resize(rows, cols)).await;
                let _ = ready_tx.send(Ok(()));
                // Input goes on its own task, so it never waits behind
                // output (a pane whose reader is busy still takes keys).
                let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
                let mut input_task = tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            bytes = in_rx.recv() => match bytes {
                                Some(bytes) => {
                                    if input.write_all(&bytes).await.is_err() {
                                        return;
                                    }
                                    let _ = input.flush().await;
                                }
                                None => return,
                            },
                            _ = &mut detach_rx => {
                                if kind == PaneKind::Session {
                                    let _ = input
                                        .write_all(crate::session_host::client::DETACH_MARKER)
                                        .await;
                                    let _ = input.flush().await;
                                }
                                return;
                            }
                        }
                    }
                });
                let mut detach_tx = Some(detach_tx);
                let mut closed = false;
                loop {
                    tokio::select! {
                        chunk = output.next() => match chunk {
                            Some(Ok(o)) => {
                                if out_tx.send(o.into_bytes().to_vec()).await.is_err() {
                                    closed = true;
                                    break;
                                }
                            }
                            Some(Err(e)) => return Err(e.into()),
                            None => break,
                        },
                        Some(ctl) = ctl_rx.recv() => match ctl {
                            Ctl::Resize(r, c, reply) => {
                                let _ = reply.send(timed(resize(r, c)).await);
                            }
                            Ctl::Close => {
                                if let Some(tx) = detach_tx.take() {
                                    let _ = tx.send(());
                                }
                                let _ = tokio::time::timeout(
                                    std::time::Duration::from_secs(5),
                                    &mut input_task,
                                )
                                .await;
                                closed = true;
                                break;
                            }
                        },
                    }
                }
                input_task.abort();
                drop(output);
                if closed {
                    return Ok(None);
                }
                if kind == PaneKind::Shell {
                    let exit = timed(docker.inspect_exec(&id)).await?.exit_code;
                    return Ok(exit.and_then(|c| i32::try_from(c).ok()));
                }
                // The stream ended by itself: did the agent exit?
                let wait = bollard::query_parameters::WaitContainerOptionsBuilder::default()
                    .condition("not-running")
                    .build();
                let mut waiting = docker.wait_container(&container, Some(wait));
                Ok(
                    match tokio::time::timeout(super::attach::EXIT_GRACE, waiting.next()).await {
                        Ok(Some(Ok(r))) => i32::try_from(r.status_code).ok(),
                        Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError {
                            code,
                            ..
                        }))) => i32::try_from(code).ok(),
                        _ => None,
                    },
                )
            });
            let (lock, cvar) = &*finish;
            if let Ok(mut slot) = lock.lock() {
                *slot = Some(result.map_err(|e| e.to_string()));
            }
            cvar.notify_all();
        })
        .map_err(|e| PaneError(e.to_string()))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(PaneIo {
            output: Box::new(ChannelReader {
                rx: out_rx,
                pending: Vec::new(),
            }),
            input: Box::new(ChannelWriter { tx: in_tx }),
            ctl: Box::new(DockerPaneCtl {
                ctl: ctl_tx,
                outcome,
            }),
        }),
        Ok(Err(e)) => Err(PaneError(e.to_string())),
        Err(_) => {
            // The thread ended before the exec attached: its error is the outcome.
            let ctl = DockerPaneCtl {
                ctl: ctl_tx,
                outcome,
            };
            match ctl.wait() {
                Err(e) => Err(e),
                Ok(_) => Err(PaneError("the pane could not attach".into())),
            }
        }
    }
}

/// The largest last screen read back (a 500×200 screen of truecolour
/// cells redraws in well under this).
const LAST_SCREEN_MAX: usize = 4 << 20;

/// The screen the session holder saved when the agent exited, with the
/// container's exit status (the agent's), once the container has stopped.
pub async fn last_screen(
    docker: &bollard::Docker,
    slug: &Slug,
) -> Result<Option<crate::backends::backend::LastScreen>, EngineError> {
    let container = Names::for_slug(slug).agent_container;
    let state = timed(docker.inspect_container(&container, None))
        .await?
        .state
        .unwrap_or_default();
    if state.running.unwrap_or(false) {
        return Ok(None);
    }
    let path = std::path::Path::new(crate::session_host::SOCKET)
        .with_file_name(crate::session_host::LAST_SCREEN)
        .display()
        .to_string();
    let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
        .path(&path)
        .build();
    let mut stream = docker.download_from_container(&container, Some(options));
    let mut tar_bytes = Vec::new();
    while let Some(chunk) = tokio::time::timeout(super::CALL_TIMEOUT, stream.next())
        .await
        .map_err(|_| EngineError::Timeout(super::CALL_TIMEOUT))?
    {
        match chunk {
            Ok(c) if tar_bytes.len() + c.len() <= LAST_SCREEN_MAX + 64 * 1024 => {
                tar_bytes.extend_from_slice(&c)
            }
            // Too large: not a screen the holder wrote.
            Ok(_) => return Ok(None),
            // None saved (an older holder, or it never got there).
            Err(_) => return Ok(None),
        }
    }
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut screen = Vec::new();
    if let Some(Ok(entry)) = archive.entries().ok().and_then(|mut e| e.next()) {
        use std::io::Read;
        let _ = entry.take(LAST_SCREEN_MAX as u64).read_to_end(&mut screen);
    }
    if screen.is_empty() {
        return Ok(None);
    }
    Ok(Some(crate::backends::backend::LastScreen {
        screen,
        status: state.exit_code.map(|c| c as i32),
    }))
}
