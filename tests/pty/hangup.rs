//! The operator's terminal goes away under a running workspace (a closed
//! window, a dropped ssh, `tmux kill-server`): the terminal's master side
//! is closed, the workspace gets SIGHUP and EIO on every write. It must end
//! quietly — no panic, no crash report, the bottles untouched.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A PTY pair whose master this test can close for real: both ends are
/// opened close-on-exec, so no child (this one or another test's) keeps a
/// copy of the master alive.
fn openpty(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    // SAFETY: plain libc calls on descriptors this function owns; ptsname_r
    // writes into a buffer of the length given.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(
            master >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        let master = OwnedFd::from_raw_fd(master);
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt");
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(
            slave >= 0,
            "open the slave: {}",
            std::io::Error::last_os_error()
        );
        let slave = OwnedFd::from_raw_fd(slave);
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(
            libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &size),
            0,
            "TIOCSWINSZ"
        );
        (master, slave)
    }
}

#[test]
fn closing_the_terminal_under_the_workspace_is_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::create_dir_all(&home).expect("mkdir");
    let engine = dir.path().join("engine");
    let host = format!("fake://{}", engine.display());
    let fake = bottle::backends::fake::FakeBackend::new(&host);
    let hash = bottle::state::Home { root: home.clone() }.label_hash();
    let slug = "shell-hangu1";
    fake.set_bottles(&[bottle::backends::fake::FakeBottle {
        slug: slug.into(),
        agent: "shell".into(),
        home: hash,
        status: "running".into(),
        command: vec![
            "/bin/sh".into(),
            "-c".into(),
            "PS1='fake-hangup$ ' exec /bin/sh -i".into(),
        ],
    }])
    .expect("fake engine");
    let (master, slave) = openpty(30, 100);
    let slave_fd = slave.as_raw_fd();
    let mut cmd = Command::new(crate::support::bottle_bin());
    cmd.current_dir(&ws)
        .env("BOTTLE_HOME", &home)
        .env("HOME", dir.path())
        .env("TERM", "xterm-256color")
        .env("DOCKER_HOST", &host)
        .env("CONTAINER_HOST", &host)
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave.try_clone().expect("dup")));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn bottle");
    drop(slave);

    let mut term = Terminal {
        out: std::fs::File::from(master),
        screen: vt100::Parser::new(
            std::num::NonZeroU16::new(30).expect("rows"),
            std::num::NonZeroU16::new(100).expect("cols"),
            0,
        ),
    };
    term.wait_for("the bottle in the sidebar", |s| s.contains(slug));
    // The three built-in agents, then the bottle: open its pane.
    for _ in 0..3 {
        term.send(b"\x1b[B");
    }
    term.send(b"\r");
    term.wait_for("the pane's prompt", |s| s.contains("fake-hangup$"));
    let layouts = home.join("workspaces");
    let saved = || {
        std::fs::read_dir(&layouts)
            .map(|r| {
                r.flatten()
                    .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(slug)))
            })
            .unwrap_or(false)
    };
    let deadline = Instant::now() + crate::support::TIMEOUT;
    while !saved() {
        assert!(Instant::now() < deadline, "the layout was never saved");
        term.drain();
    }

    // The terminal goes away.
    drop(term);
    let deadline = Instant::now() + crate::support::TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the workspace outlived its terminal"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let logs = home.join("logs");
    let crashes: Vec<String> = std::fs::read_dir(&logs)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("crash-"))
                .map(|n| {
                    let text = std::fs::read_to_string(logs.join(&n)).unwrap_or_default();
                    format!("{n}:\n{text}")
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(crashes.is_empty(), "crash reports written: {crashes:#?}");
    assert_ne!(status.code(), Some(101), "it panicked: {status:?}");
    let left = fake.bottles().expect("bottles");
    assert!(
        left.iter().all(|b| b.status == "running"),
        "the bottle keeps running: {left:?}"
    );
    assert!(saved(), "the layout is still saved");
}

/// The test's side of the operator's terminal: a screen model fed by the
/// master, answering the cursor-position query a terminal would.
struct Terminal {
    out: std::fs::File,
    screen: vt100::Parser,
}

impl Terminal {
    /// Reads what is there within 200 ms.
    fn drain(&mut self) {
        let mut fds = libc::pollfd {
            fd: self.out.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut fds, 1, 200) } <= 0 {
            return;
        }
        let mut buf = [0u8; 16384];
        let n = self.out.read(&mut buf).expect("read the terminal");
        assert!(n > 0, "the terminal closed early");
        if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
            self.send(b"\x1b[1;1R");
        }
        self.screen.process(&buf[..n]);
    }

    fn wait_for(&mut self, what: &str, cond: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + crate::support::TIMEOUT;
        while !cond(&self.screen.screen().contents()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.screen.screen().contents()
            );
            self.drain();
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.out.write_all(bytes).expect("write the terminal");
    }
}
