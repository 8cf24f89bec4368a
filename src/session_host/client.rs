//! `bottle session-host attach`: run inside the agent container by
//! `docker exec -it`, it relays between the exec's TTY and the holder's
//! socket. The exec's size changes (SIGWINCH, from the engine's exec
//! resize) become resize messages. It exits with the agent's status when
//! the agent ends; detaching is the host client's business (it ends the
//! exec), and the agent keeps running.

use super::protocol::{self, ClientMsg, HolderMsg};
use anyhow::{bail, Context as _, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Written by the host side when it detaches, so this client leaves at
/// once (an APC string: no keyboard produces one). The engine keeps an
/// exec's TTY open after its client disconnects, so without it the client
/// would linger.
pub const DETACH_MARKER: &[u8] = b"\x1b_bottle:detach\x1b\\";

/// Exit status when the holder went away without saying the agent ended.
pub const HOLDER_GONE: i32 = 125;

/// A write to the terminal blocked this long means nobody reads it any
/// more (the engine keeps an exec's TTY open after its client is gone):
/// the client leaves, so the holder does not keep a dead client.
const STUCK_WRITE: std::time::Duration = std::time::Duration::from_secs(30);

/// Restores the TTY's settings on drop.
struct Raw(Option<libc::termios>);

impl Raw {
    fn enter() -> Raw {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with valid out-pointers; a
        // non-terminal stdin just fails and is left alone.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Raw(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Raw(Some(saved))
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restoring the settings read in `enter`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}

/// (rows, cols) of the TTY on stdin/stdout, if any.
fn tty_size() -> Option<(u16, u16)> {
    for fd in [1, 0] {
        // SAFETY: TIOCGWINSZ fills a winsize; failure leaves it unused.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_row > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// How long `attach` waits for a session holder that is starting.
pub const HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `initial`: the size the host client has (the exec's TTY may still
/// report a default); later changes come as SIGWINCH.
pub fn attach(socket: &Path, initial: Option<(u16, u16)>) -> Result<i32> {
    // A container that just started may not have its holder listening
    // yet (panes re-attach on the engine's start event): wait a little.
    let deadline = std::time::Instant::now() + HOLDER_WAIT;
    let stream = loop {
        match UnixStream::connect(socket) {
            Ok(s) => break s,
            Err(e)
                if std::time::Instant::now() < deadline
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "no session holder at {} (is this a bottle's agent container?)",
                        socket.display()
                    )
                })
            }
        }
    };
    // Only a holder is listened to. As root (every attach is), the socket
    // and every directory above it must be root's alone: nobody else could
    // have put it there. (Debian's gVisor answers SO_PEERCRED with the
    // caller's own ids, so the peer check below cannot stand alone.)
    let me = super::privilege::euid();
    if me == 0 {
        super::privilege::check_root_only_path(socket).with_context(|| {
            format!(
                "the socket at {} is not the session holder's: refusing to attach",
                socket.display()
            )
        })?;
    }
    // The peer must be root (the holder of a bottle runs as uid 0, the
    // agent never does) or this client's own uid (a holder started without
    // root).
    let peer = super::privilege::peer_uid(&stream)?;
    if peer != 0 && peer != me {
        bail!(
            "the process at {} runs as uid {peer}, not as the session holder: refusing to attach",
            socket.display()
        );
    }
    let mut writer = stream.try_clone()?;
    // Size changes from here on are seen.
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH])?;
    let (rows, cols) = initial.or_else(tty_size).unwrap_or((24, 80));
    protocol::send(
        &mut writer,
        &ClientMsg::Hello {
            version: protocol::VERSION,
            rows,
            cols,
        }
        .encode(),
    )?;
    let _raw = Raw::enter();
    // Input and size changes go out on their own threads.
    let mut input_writer = writer.try_clone()?;
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        let mut tail: Vec<u8> = Vec::new();
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut seen = std::mem::take(&mut tail);
                    seen.extend_from_slice(&buf[..n]);
                    let marker = seen
                        .windows(DETACH_MARKER.len())
                        .position(|w| w == DETACH_MARKER);
                    // Forward this read's bytes, up to the marker if any.
                    let carried = seen.len() - n;
                    let upto = marker.map_or(seen.len(), |m| m.max(carried));
                    if upto > carried {
                        let frame = ClientMsg::Input(seen[carried..upto].to_vec()).encode();
                        if protocol::send(&mut input_writer, &frame).is_err() {
                            break;
                        }
                    }
                    if marker.is_some() {
                        break;
                    }
                    let keep = seen.len().saturating_sub(DETACH_MARKER.len() - 1);
                    tail = seen[keep..].to_vec();
                }
            }
        }
        // Detached (or the exec ended): leave.
        let _ = input_writer.shutdown(std::net::Shutdown::Both);
        std::process::exit(0);
    });
    // A size change is sent on SIGWINCH, and also noticed by a slow poll:
    // a window-size signal can be lost (seen under gVisor with resizes in
    // quick succession), and a lost one would leave the agent at the old
    // size for good.
    let last_sent = std::sync::Arc::new(std::sync::Mutex::new((rows, cols)));
    let send_size = {
        let last_sent = last_sent.clone();
        let writer = std::sync::Arc::new(std::sync::Mutex::new(writer));
        move |force: bool| -> bool {
            let Some(size) = tty_size() else {
                return true;
            };
            let Ok(mut last) = last_sent.lock() else {
                return false;
            };
            if !force && *last == size {
                return true;
            }
            *last = size;
            let frame = ClientMsg::Resize {
                rows: size.0,
                cols: size.1,
            }
            .encode();
            writer
                .lock()
                .map(|mut w| protocol::send(&mut *w, &frame).is_ok())
                .unwrap_or(false)
        }
    };
    let on_signal = send_size.clone();
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if !on_signal(true) {
                break;
            }
        }
    });
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        if !send_size(false) {
            break;
        }
    });
    // Milliseconds since `epoch` when the pending write began; 0: none.
    let epoch = std::time::Instant::now();
    let pending = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let pending = pending.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let began = pending.load(std::sync::atomic::Ordering::Relaxed);
            let now = epoch.elapsed().as_millis() as u64;
            if began != 0 && now.saturating_sub(began) > STUCK_WRITE.as_millis() as u64 {
                std::process::exit(HOLDER_GONE);
            }
        });
    }
    // Frames already read together go out in one write, unbuffered (not
    // stdout's line buffering): under gVisor every syscall counts.
    let mut reader = std::io::BufReader::with_capacity(1 << 16, stream);
    // SAFETY: fd 1 stays open for the life of the process; ManuallyDrop
    // never closes it.
    let mut out = std::mem::ManuallyDrop::new(unsafe {
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(1)
    });
    let mut batch: Vec<u8> = Vec::with_capacity(1 << 16);
    loop {
        let msg = protocol::read_holder(&mut reader);
        if let Ok(Some(HolderMsg::Welcome(bytes) | HolderMsg::Output(bytes))) = &msg {
            batch.extend_from_slice(bytes);
            if !reader.buffer().is_empty() && batch.len() < 1 << 18 {
                continue;
            }
        }
        if !batch.is_empty() {
            pending.store(
                (epoch.elapsed().as_millis() as u64).max(1),
                std::sync::atomic::Ordering::Relaxed,
            );
            out.write_all(&batch)?;
            pending.store(0, std::sync::atomic::Ordering::Relaxed);
            batch.clear();
        }
        match msg {
            Ok(Some(HolderMsg::Welcome(_) | HolderMsg::Output(_))) => {}
            Ok(Some(HolderMsg::Exit(code))) => return Ok(code),
            Ok(Some(HolderMsg::Refused(why))) => bail!("the session holder refused: {why}"),
            Ok(None) | Err(_) => return Ok(HOLDER_GONE),
        }
    }
}
