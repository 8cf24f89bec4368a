//! Keeping the session holder out of the agent's reach (SPEC §4.8, issue
//! 18 D10): another uid, and a socket the agent cannot replace.
//!
//! The agent container runs as uid 0 with every capability dropped but
//! CAP_SETUID, CAP_SETGID and CAP_KILL (to pass a stop on to the agent),
//! and `no-new-privileges`. The holder (PID 1)
//! stays uid 0; the agent's process is started through
//! `session-host exec-as`, which drops to 1000:1000 (supplementary groups
//! cleared, real, effective and saved ids all changed, so the kernel clears
//! every capability) and checks that it cannot get back before it execs
//! the agent, under a seccomp filter that refuses new user namespaces
//! (`forbid_user_namespaces`). The agent, uid 1000, then cannot ptrace the
//! holder, read its memory or environment, or signal it (each needs the
//! same uid or a capability), and the holder's socket lives in a
//! root-owned 0700 directory that uid 1000 cannot enter, rename or
//! replace. The attach client runs as uid 0 (the engine exec's user),
//! checks the socket's path the same way and then its peer (`SO_PEERCRED`).
//!
//! What uid 0 may still do here is what file ownership gives it: the
//! holder refuses to start when the path to its socket or to its own
//! executable passes a symlink or a directory anyone but root can write
//! (an image could have made `/opt` the agent's, or a link through the
//! agent's home: the agent could then swap the executable the next attach
//! runs as uid 0).

use anyhow::{bail, Context as _, Result};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The agent's ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Parses `UID:GID` (numbers only; uid 0 is refused: the agent never runs
/// as root).
pub fn parse_ids(text: &str) -> Result<Ids, String> {
    let (u, g) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected UID:GID"))?;
    let uid: u32 = u.parse().map_err(|_| format!("{u:?}: not a uid"))?;
    let gid: u32 = g.parse().map_err(|_| format!("{g:?}: not a gid"))?;
    if uid == 0 || gid == 0 {
        return Err(format!("{text}: the agent never runs as uid or gid 0"));
    }
    Ok(Ids { uid, gid })
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Drops to `ids` for good and checks it: supplementary groups cleared,
/// real/effective/saved gid and uid set, no capability left in any set,
/// and uid 0 out of reach.
pub fn drop_to(ids: Ids) -> Result<()> {
    clear_inheritable_and_ambient()?;
    // SAFETY: plain syscalls on this process's credentials; this process
    // is single-threaded (`exec-as` runs nothing else before it).
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            bail!(
                "clearing supplementary groups: {}",
                std::io::Error::last_os_error()
            );
        }
        if libc::setresgid(ids.gid, ids.gid, ids.gid) != 0 {
            bail!(
                "setting gid {}: {}",
                ids.gid,
                std::io::Error::last_os_error()
            );
        }
        if libc::setresuid(ids.uid, ids.uid, ids.uid) != 0 {
            bail!(
                "setting uid {}: {}",
                ids.uid,
                std::io::Error::last_os_error()
            );
        }
    }
    check_dropped(ids)
}

/// The inheritable and ambient sets survive a change of uid (the kernel
/// clears only the permitted and effective ones), so they are emptied
/// first: lowering them needs no capability.
fn clear_inheritable_and_ambient() -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const V3: u32 = 0x2008_0522;
    let mut header = Header {
        version: V3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data structs, as the
    // kernel expects; prctl with constant arguments.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            bail!("capget: {}", std::io::Error::last_os_error());
        }
        if data.iter().any(|d| d.inheritable != 0) {
            for d in &mut data {
                d.inheritable = 0;
            }
            header.version = V3;
            if libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0 {
                bail!(
                    "clearing the inheritable capabilities: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
        // EINVAL where ambient capabilities do not exist (nothing to clear).
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
    }
    Ok(())
}

fn check_dropped(ids: Ids) -> Result<()> {
    let (mut r, mut e, mut s) = (0, 0, 0);
    let (mut rg, mut eg, mut sg) = (0, 0, 0);
    // SAFETY: valid out-pointers.
    let ok = unsafe {
        libc::getresuid(&mut r, &mut e, &mut s) == 0
            && libc::getresgid(&mut rg, &mut eg, &mut sg) == 0
    };
    if !ok || [r, e, s] != [ids.uid; 3] || [rg, eg, sg] != [ids.gid; 3] {
        bail!("the ids did not change: uid {r}/{e}/{s}, gid {rg}/{eg}/{sg}");
    }
    // SAFETY: getgroups with size 0 only counts.
    let groups = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if groups != 0 {
        bail!("{groups} supplementary groups are left");
    }
    // SAFETY: setuid(0) from a non-root uid without CAP_SETUID must fail;
    // if it does not, this process is uid 0 again and stops below.
    if unsafe { libc::setuid(0) } == 0 {
        bail!("uid 0 could be taken back");
    }
    let status = std::fs::read_to_string("/proc/self/status")
        .context("reading /proc/self/status to check the capabilities")?;
    let mut seen = 0;
    for line in status.lines() {
        for set in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
            if let Some(v) = line.strip_prefix(set) {
                seen += 1;
                if u64::from_str_radix(v.trim(), 16).unwrap_or(1) != 0 {
                    bail!("capabilities are left: {line}");
                }
            }
        }
    }
    if seen < 3 {
        bail!("/proc/self/status shows no capability sets to check");
    }
    Ok(())
}

/// A seccomp filter, stacked on the engine's own profile, that refuses the
/// agent new user namespaces: `unshare` and `clone` with `CLONE_NEWUSER`
/// get EPERM, `clone3` (whose flags a filter cannot read) ENOSYS, so C
/// libraries fall back to `clone`. A user namespace would give the agent
/// every capability inside it — mounts, raw sockets of its own, the
/// kernel's namespaced code paths — and Podman's default profile (and
/// Debian's gVisor) let an unprivileged process make one. `io_uring_setup`
/// gets ENOSYS too (a large kernel surface no agent needs; libuv and
/// others fall back), and so do syscalls of another ABI (x32, 32-bit x86).
pub fn forbid_user_namespaces() -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    const X32_BIT: u32 = 0x4000_0000;
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let op = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let nr = |n: libc::c_long| n as u32;
    let program = [
        /* 0 */ op(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        /* 1 */ op(JEQ_K, 1, 0, ARCH),
        /* 2 */ op(RET_K, 0, 0, RET_ERRNO | libc::ENOSYS as u32),
        /* 3 */ op(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        /* 4 */ op(JSET_K, 9, 0, X32_BIT), // → 14
        /* 5 */ op(JEQ_K, 4, 0, nr(libc::SYS_unshare)), // → 10
        /* 6 */ op(JEQ_K, 3, 0, nr(libc::SYS_clone)), // → 10
        /* 7 */ op(JEQ_K, 6, 0, nr(libc::SYS_clone3)), // → 14
        /* 8 */ op(JEQ_K, 5, 0, nr(libc::SYS_io_uring_setup)), // → 14
        /* 9 */ op(RET_K, 0, 0, RET_ALLOW),
        /* 10 */ op(LD_W_ABS, 0, 0, 16), // the low half of args[0]: the flags
        /* 11 */ op(JSET_K, 0, 1, libc::CLONE_NEWUSER as u32),
        /* 12 */ op(RET_K, 0, 0, RET_ERRNO | libc::EPERM as u32),
        /* 13 */ op(RET_K, 0, 0, RET_ALLOW),
        /* 14 */ op(RET_K, 0, 0, RET_ERRNO | libc::ENOSYS as u32),
    ];
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with a filter program that outlives the call (the
    // kernel copies it).
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            bail!("no_new_privs: {}", std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        ) != 0
        {
            bail!(
                "installing the seccomp filter: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// `session-host exec-as`: drops to `ids`, refuses new user namespaces
/// (`forbid_user_namespaces`) and execs `cmd` (returns only on failure;
/// the agent is never started with uid 0 or without the filter).
pub fn exec_as(ids: Ids, cmd: &[String], gate: Option<&Path>) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    let Some(program) = cmd.first() else {
        bail!("exec-as: no command");
    };
    if let Some(gate) = gate {
        wait_for_gate(gate)?;
    }
    drop_to(ids).context("dropping to the agent's uid")?;
    forbid_user_namespaces()?;
    let err = std::process::Command::new(program).args(&cmd[1..]).exec();
    Err(err).with_context(|| format!("starting {program}"))
}

/// How long the agent waits for its bottle to prove its isolation.
const GATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits, still as root, until the holder opens the gate: a root-owned
/// regular file at `gate` (in the holder's 0700 directory), created once
/// the isolation self-check passed or the operator allowed it to fail.
/// Nothing of the agent's runs before (issue 20's attack pass: an agent's
/// login script acted within 37 ms of its start).
fn wait_for_gate(gate: &Path) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        if let Ok(meta) = std::fs::symlink_metadata(gate) {
            if meta.is_file() && meta.uid() == 0 {
                return Ok(());
            }
            bail!("{} is not the holder's gate", gate.display());
        }
        if start.elapsed() > GATE_TIMEOUT {
            bail!("the bottle never proved its isolation; the agent does not start");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Runs `f` with the filesystem ids of `ids` when this process is root (a
/// PTY opened meanwhile has its terminal owned by the agent, as a terminal
/// is its user's); the holder's own ids come back after.
pub fn with_fs_ids<T>(ids: Option<Ids>, f: impl FnOnce() -> T) -> T {
    let Some(ids) = ids.filter(|_| euid() == 0) else {
        return f();
    };
    // SAFETY: setfsgid/setfsuid change only this thread's filesystem ids;
    // root's CAP_SETUID/CAP_SETGID allow both ways.
    unsafe {
        libc::setfsgid(ids.gid);
        libc::setfsuid(ids.uid);
    }
    let r = f();
    // SAFETY: as above.
    unsafe {
        libc::setfsuid(0);
        libc::setfsgid(0);
    }
    r
}

/// Whether `meta` is a directory or file that only root can change: owned
/// by uid 0, and not writable by group or others (a sticky directory is
/// allowed: others can only remove their own entries in it).
fn root_only(meta: &std::fs::Metadata) -> bool {
    let mode = meta.mode();
    let sticky = meta.is_dir() && mode & 0o1000 != 0;
    meta.uid() == 0 && (mode & 0o022 == 0 || sticky)
}

/// Checks that `path` and every directory above it only root can change,
/// so that nobody else can swap what is there. No component may be a
/// symlink: a link owned by root can still lead through one that is not
/// (`/opt` → `/home/agent/.o` → …), and what root runs or listens on must
/// be reached by the path itself.
pub fn check_root_only_path(path: &Path) -> Result<()> {
    if !path.is_absolute() {
        bail!("{} is not an absolute path", path.display());
    }
    let mut at = Some(path);
    while let Some(p) = at {
        let meta = std::fs::symlink_metadata(p).with_context(|| format!("{}", p.display()))?;
        if meta.file_type().is_symlink() {
            bail!(
                "{} is a symlink (to {}): what root runs or listens on must not be reached through one",
                p.display(),
                std::fs::read_link(p)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default()
            );
        }
        if !root_only(&meta) {
            bail!(
                "{} is owned by uid {} with mode {:o}: anyone but root could swap what it holds",
                p.display(),
                meta.uid(),
                meta.mode() & 0o7777
            );
        }
        at = p.parent();
    }
    Ok(())
}

/// Makes the socket's directory: 0700, owned by this process's uid, not a
/// symlink. When the holder runs as root, the directory and every one
/// above it must be root's alone (`check_root_only_path`).
pub fn socket_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != euid() {
        bail!(
            "{} is not the holder's directory (a {} owned by uid {}): refusing to listen there",
            dir.display(),
            if meta.file_type().is_symlink() {
                "symlink"
            } else if meta.is_dir() {
                "directory"
            } else {
                "file"
            },
            meta.uid()
        );
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    if euid() == 0 {
        check_root_only_path(dir)?;
    }
    Ok(())
}

/// The uid of the process at the other end of a Unix socket.
pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> Result<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED fills a ucred of the given length.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("SO_PEERCRED");
    }
    Ok(cred.uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_numbers_and_never_root() {
        assert_eq!(
            parse_ids("1000:1000"),
            Ok(Ids {
                uid: 1000,
                gid: 1000
            })
        );
        assert!(parse_ids("0:1000").is_err());
        assert!(parse_ids("1000:0").is_err());
        assert!(parse_ids("agent:agent").is_err());
        assert!(parse_ids("1000").is_err());
        assert!(parse_ids("1000:1000:1").is_err());
    }

    #[test]
    fn a_path_anyone_can_change_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("test setup");
        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("test setup");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777))
            .expect("test setup");
        let inner = open.join("inner");
        std::fs::create_dir(&inner).expect("test setup");
        let err = check_root_only_path(&inner)
            .expect_err("refused")
            .to_string();
        // Either the tempdir is not root's (tests as a user) or `open` is
        // writable by all: refused either way, naming a path.
        assert!(err.contains("anyone but root"), "{err}");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777))
            .expect("test setup");
        if euid() == 0 && check_root_only_path(dir.path()).is_ok() {
            // Sticky (like /tmp) is allowed.
            assert!(check_root_only_path(&inner).is_ok());
        }
    }

    #[test]
    fn the_socket_dir_is_private_and_a_symlink_in_its_place_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("test setup");
        let sock = dir.path().join("s");
        socket_dir(&sock).expect("test setup");
        let mode = std::fs::metadata(&sock)
            .expect("test setup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let link = dir.path().join("l");
        std::os::unix::fs::symlink("/", &link).expect("test setup");
        let err = socket_dir(&link).expect_err("refused").to_string();
        assert!(
            err.contains("symlink") || err.contains("anyone but root"),
            "{err}"
        );
    }
}
