//! The pane runtime: one reader and one writer thread per pane over a
//! `PaneIo`. The reader feeds the pane's emulator and, only when the pane
//! turns dirty, notifies the app (notifications, not bytes: a flooding
//! agent costs the UI one event per frame). The writer drains a bounded
//! input queue.
//!
//! Back-pressure policy: output is never queued — the reader parses it as
//! it comes, holding the emulator's lock for one chunk, so the transport
//! itself slows a flood down. Input goes through a queue of
//! `INPUT_QUEUE` chunks; if a program stops reading its input and the
//! queue fills, further input to that pane is dropped and reported
//! (`send` returns false), so the workspace never blocks on one pane.

use super::layout::PaneId;
use super::screen::{Screen, Vt100Screen};
use crate::session::io::{PaneCtl, PaneIo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const INPUT_QUEUE: usize = 4096;
/// Bytes parsed per hold of the emulator's lock.
const PARSE_SLICE: usize = 4096;
/// Lines of history each pane keeps.
pub const SCROLLBACK: usize = 10_000;

/// What the app hears from a pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaneNotice {
    /// New output since the last draw.
    Output(PaneId),
    /// The stream ended: the agent's status when it exited, `None` when
    /// the pane was closed or lost its connection.
    Ended(PaneId, Option<i32>),
}

/// What the reader and the renderer share.
pub struct PaneShared {
    pub screen: Mutex<Vt100Screen>,
    dirty: AtomicBool,
    /// When output last arrived.
    last_output: Mutex<Instant>,
}

impl PaneShared {
    pub fn new(rows: u16, cols: u16) -> Arc<PaneShared> {
        Arc::new(PaneShared {
            screen: Mutex::new(Vt100Screen::new(rows, cols, SCROLLBACK)),
            dirty: AtomicBool::new(true),
            last_output: Mutex::new(Instant::now()),
        })
    }

    /// How long the program has been quiet.
    pub fn quiet_for(&self) -> Duration {
        self.last_output
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    /// Records output arriving at `at`.
    pub fn output_at(&self, at: Instant) {
        if let Ok(mut t) = self.last_output.lock() {
            *t = at;
        }
    }

    /// Draws `bytes` as if the program had written them (a screen saved
    /// by an ended session).
    pub fn replay(&self, bytes: &[u8]) {
        if let Ok(mut screen) = self.screen.lock() {
            screen.process(bytes);
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// Nothing on the screen yet (or any more).
    pub fn is_blank(&self) -> bool {
        use super::screen::Screen as _;
        self.screen
            .lock()
            .map(|s| s.text_rows().iter().all(|r| r.is_empty()))
            .unwrap_or(true)
    }

    /// Marks the pane drawn; returns whether it had changed.
    pub fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }
}

pub struct PaneHandle {
    pub id: PaneId,
    input: mpsc::SyncSender<Vec<u8>>,
    ctl: Arc<dyn PaneCtl>,
    /// Sizes for the resizer thread, which applies them in order and only
    /// the latest of a burst.
    resizes: mpsc::Sender<(u16, u16)>,
}

impl PaneHandle {
    /// Starts the pane's threads; `notify` is called from them.
    pub fn start(
        id: PaneId,
        io: PaneIo,
        shared: Arc<PaneShared>,
        notify: impl Fn(PaneNotice) + Send + Sync + 'static,
    ) -> std::io::Result<PaneHandle> {
        let PaneIo {
            mut output,
            mut input,
            ctl,
        } = io;
        let ctl: Arc<dyn PaneCtl> = Arc::from(ctl);
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(INPUT_QUEUE);
        std::thread::Builder::new()
            .name(format!("pane-{id}-writer"))
            .spawn(move || {
                for bytes in rx {
                    if input
                        .write_all(&bytes)
                        .and_then(|()| input.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            })?;
        let (resizes, resize_rx) = mpsc::channel::<(u16, u16)>();
        let resizer = ctl.clone();
        std::thread::Builder::new()
            .name(format!("pane-{id}-resizer"))
            .spawn(move || {
                while let Ok(mut size) = resize_rx.recv() {
                    // A burst of sizes: only the last one matters.
                    while let Ok(later) = resize_rx.try_recv() {
                        size = later;
                    }
                    if let Err(e) = resizer.resize(size.0, size.1) {
                        tracing::warn!("resizing a pane: {e}");
                    }
                }
            })?;
        let waiter = ctl.clone();
        std::thread::Builder::new()
            .name(format!("pane-{id}-reader"))
            .spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    match output.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            // Small slices: the renderer never waits long
                            // for the lock behind a flood.
                            for slice in buf[..n].chunks(PARSE_SLICE) {
                                if let Ok(mut screen) = shared.screen.lock() {
                                    screen.process(slice);
                                }
                            }
                            shared.output_at(Instant::now());
                            if !shared.dirty.swap(true, Ordering::AcqRel) {
                                notify(PaneNotice::Output(id));
                            }
                        }
                    }
                }
                let status = waiter.wait().ok().flatten();
                shared.dirty.store(true, Ordering::Release);
                notify(PaneNotice::Ended(id, status));
            })?;
        Ok(PaneHandle {
            id,
            input: tx,
            ctl,
            resizes,
        })
    }

    /// Queues input; false when the pane is not keeping up (dropped).
    pub fn send(&self, bytes: Vec<u8>) -> bool {
        self.input.try_send(bytes).is_ok()
    }

    /// Resizes the session behind the pane (the emulator is resized by the
    /// app); runs off the caller's thread, in order, the latest size last.
    pub fn resize(&self, rows: u16, cols: u16) {
        let _ = self.resizes.send((rows, cols));
    }

    /// Detaches: the agent keeps running.
    pub fn close(&self) {
        self.ctl.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::io::PaneError;
    use std::io::{Read, Write};

    /// A local stand-in transport: bytes written come back as output.
    struct Echo {
        rx: mpsc::Receiver<Vec<u8>>,
        pending: Vec<u8>,
    }
    impl Read for Echo {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.pending.is_empty() {
                match self.rx.recv() {
                    Ok(b) => self.pending = b,
                    Err(_) => return Ok(0),
                }
            }
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Ok(n)
        }
    }
    struct Into(mpsc::Sender<Vec<u8>>);
    impl Write for Into {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .send(buf.to_vec())
                .map_err(|_| std::io::Error::other("closed"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    struct Ctl;
    impl PaneCtl for Ctl {
        fn resize(&self, _: u16, _: u16) -> Result<(), PaneError> {
            Ok(())
        }
        fn wait(&self) -> Result<Option<i32>, PaneError> {
            Ok(Some(3))
        }
        fn close(&self) {}
    }

    #[test]
    fn output_marks_dirty_once_and_the_end_is_reported() {
        let (tx, rx) = mpsc::channel();
        let io = PaneIo {
            output: Box::new(Echo {
                rx,
                pending: Vec::new(),
            }),
            input: Box::new(Into(tx)),
            ctl: Box::new(Ctl),
        };
        let shared = PaneShared::new(5, 20);
        shared.take_dirty();
        let (ntx, nrx) = mpsc::channel();
        let ntx = Mutex::new(ntx);
        let pane = PaneHandle::start(7, io, shared.clone(), move |n| {
            let _ = ntx.lock().expect("lock").send(n);
        })
        .expect("start");
        assert!(pane.send(b"hello".to_vec()));
        assert_eq!(
            nrx.recv_timeout(std::time::Duration::from_secs(5)),
            Ok(PaneNotice::Output(7))
        );
        let start = std::time::Instant::now();
        while !shared.screen.lock().expect("screen").text_rows()[0].contains("hello") {
            assert!(start.elapsed().as_secs() < 5);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(shared.take_dirty());
        drop(pane);
        assert_eq!(
            nrx.recv_timeout(std::time::Duration::from_secs(5)),
            Ok(PaneNotice::Ended(7, Some(3)))
        );
    }
}
