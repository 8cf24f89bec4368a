//! Attacks on the session holder and the agent container's hardening
//! (issue 18 D10/E12, SPEC §4.8): the holder is out of the agent's reach
//! (another uid, a socket the agent cannot reach or replace), the agent
//! has no capability and cannot become root, bombs leave the holder
//! serving, and `rm` leaves no volume of an image's behind. See main.rs
//! for the naming rule.

use crate::fixture::{self, both, cached, ensure, shell, Bottle, Outcome, Registry};
use crate::support::{self, Engine};
use std::sync::Arc;

pub fn register(reg: &mut Registry) {
    let area = "holder";
    reg.inside(area, "ptrace_of_the_holder_is_refused", |e| {
        refused(&shell(e), &["ptrace"])
    });
    reg.inside(area, "reading_the_holder_memory_is_refused", |e| {
        refused(&shell(e), &["read-mem"])
    });
    reg.inside(
        area,
        "the_holder_environment_gives_the_agent_nothing_it_lacks",
        environ_is_nothing_new,
    );
    reg.inside(area, "signals_to_the_holder_are_refused", |e| {
        refused(&shell(e), &["signal"])
    });
    reg.inside(
        area,
        "the_holder_socket_cannot_be_reached_or_replaced",
        |e| refused(&shell(e), &["socket"]),
    );
    reg.inside(
        area,
        "the_agent_has_no_capability_and_cannot_become_root",
        |e| refused(&shell(e), &["privs"]),
    );
    reg.inside(area, "mount_unshare_chroot_and_proc_sys_are_refused", |e| {
        refused(&shell(e), &["namespaces"])
    });
    reg.inside(
        area,
        "a_decoy_socket_of_the_agent_is_refused_by_the_attach_client",
        decoy_is_refused,
    );
    reg.inside(
        area,
        "malformed_frames_and_huge_sizes_leave_the_holder_serving_and_bounded",
        frames_leave_the_holder_bounded,
    );
    // Not under runsc (SECURITY.md, not defended): Debian's 2022 gVisor (ptrace platform) runs a host
    // task per sandboxed process, the engine's pids limit counts them with
    // the sentry's threads, and at ~300 processes the sentry cannot make a
    // thread and the whole sandbox exits.
    reg.inside_on(
        &["runc", "podman"],
        area,
        "a_fork_bomb_leaves_the_holder_serving",
        fork_bomb,
    );
    // Not under runsc either: the same gVisor exits as a whole when the
    // agent fills its memory limit (the sentry lives inside it).
    reg.inside_on(
        &["runc", "podman"],
        area,
        "a_memory_bomb_leaves_the_holder_serving",
        memory_bomb,
    );
    reg.host(
        area,
        "an_image_that_says_user_root_still_runs_the_agent_as_1000",
        root_image,
    );
    reg.host(
        area,
        "rm_leaves_no_volume_of_an_image_volume_behind",
        volume_image,
    );
    reg.host(
        area,
        "an_image_healthcheck_never_runs_as_root",
        healthcheck_image,
    );
    reg.host(
        area,
        "an_image_whose_opt_is_a_symlink_into_the_agents_home_is_refused",
        symlinked_opt_image,
    );
}

/// The tool's attempt must have been refused (exit 1), with its evidence.
fn refused(b: &Bottle, args: &[&str]) -> Outcome {
    let (code, out) = b.tool(args);
    ensure(code == 1, || {
        format!("{args:?} got through ({code}): {out}")
    })
}

/// `escape tool ARGS` as root in the agent container (an attach client's
/// identity: the only one that reaches the holder's socket).
fn as_root(b: &Bottle, args: &[&str]) -> (i32, String) {
    b.tool(&["noop"]);
    let mut argv = vec![
        "exec",
        &b.slug,
        "--user",
        "0:0",
        "--",
        "/tmp/escape-tool",
        "tool",
    ];
    argv.extend_from_slice(args);
    let out = b.bottle(&argv);
    (out.status.code().unwrap_or(-1), both(&out))
}

/// On runc and Podman `/proc/<holder>/environ` is refused; Debian's gVisor
/// lets any uid read it. Either way it may hold nothing the agent's own
/// environment lacks: the session's `?`/`${}` values go to the agent's
/// process only, never into the holder's environment.
fn environ_is_nothing_new(e: &Engine) -> Outcome {
    let b = shell(e);
    let (code, out) = b.tool(&["read-environ"]);
    if code == 1 {
        return ensure(out.contains("EACCES") || out.contains("EPERM"), || {
            format!("refused, but not by permission: {out}")
        });
    }
    let (_, own) = b.sh("tr '\\0' '\\n' < /proc/self/environ");
    let own: std::collections::BTreeSet<&str> = own.lines().collect();
    let extra: Vec<&str> = out
        .lines()
        .filter(|l| l.contains('=') && !own.contains(l))
        // Set by the engine per process, not values.
        .filter(|l| !l.starts_with("HOSTNAME=") && !l.starts_with("PATH="))
        .collect();
    ensure(extra.is_empty(), || {
        format!("the holder's environment holds what the agent's lacks: {extra:?}")
    })
}

/// The agent listens on a Unix socket of its own (open to all), playing
/// the holder; the attach client (root, as every attach runs) refuses a
/// socket that root alone could not have put there.
fn decoy_is_refused(e: &Engine) -> Outcome {
    let b = shell(e);
    let path = format!("/tmp/decoy-{}.sock", std::process::id());
    let (code, out) = b.sh(&format!(
        "(nohup /tmp/escape-tool tool listen-unix {path} 30 >/dev/null 2>&1 &); for i in $(seq 1 100); do [ -S {path} ] && exit 0; sleep 0.1; done; exit 1"
    ));
    ensure(code == 0, || format!("the decoy did not listen: {out}"))?;
    let out = b.bottle(&[
        "exec",
        &b.slug,
        "--user",
        "0:0",
        "--",
        "/opt/bottle/bottle",
        "session-host",
        "attach",
        "--socket",
        &path,
    ]);
    let text = both(&out);
    ensure(
        !out.status.success()
            && text.contains("is not the session holder's: refusing to attach")
            && text.contains("owned by uid 1000"),
        || format!("the client talked to the agent's socket: {text}"),
    )?;
    ensure(!text.contains("FAKE-HOLDER"), || {
        format!("the decoy's screen was relayed: {text}")
    })
}

/// As root (the only party that reaches the socket), garbage, an
/// oversized frame, a wrong version and a 65535×65535 Hello; the agent's
/// terminal is then at most 300×500, and a plain Hello still gets a
/// Welcome.
fn frames_leave_the_holder_bounded(e: &Engine) -> Outcome {
    let b = shell(e);
    let marker = format!("/tmp/holder-size-{}", std::process::id());
    let (code, out) = as_root(&b, &["frames", &marker]);
    ensure(code == 0, || {
        format!("the holder did not serve after the abuse: {out}")
    })?;
    let mut size = String::new();
    for _ in 0..100 {
        let (_, s) = b.sh(&format!("cat {marker} 2>/dev/null"));
        if !s.trim().is_empty() {
            size = s.trim().to_string();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let dims: Vec<u32> = size
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    ensure(
        dims.len() == 2 && dims[0] <= 300 && dims[1] <= 500 && dims[0] > 0,
        || format!("the agent's terminal after a 65535×65535 Hello: {size:?} ({out})"),
    )
}

/// A bottle of its own for the bombs (they take every pid or all the
/// memory of the container for a while).
fn bomb_bottle(e: &Engine) -> Arc<Bottle> {
    cached(
        &format!("holder/bombs/{}-{}", e.name, e.runtime.unwrap_or("default")),
        || {
            Bottle::start(e, "bombs", |home, _| {
                support::define(
                    home,
                    "bombs",
                    "agent_provider: { template: shell }\nresources: { memory: \"512m\", cpus: 1, pids: 256 }\n",
                );
            })
        },
    )
}

/// The holder is alive and answers a Hello (as root, like an attach).
fn holder_serves(b: &Bottle) -> Outcome {
    let mut last = String::new();
    for _ in 0..30 {
        let (code, out) = as_root(b, &["hello"]);
        if code == 0 {
            return Ok(());
        }
        last = out;
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    Err(format!("the holder does not answer: {last}"))
}

static BOMBS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fork_bomb(e: &Engine) -> Outcome {
    let b = bomb_bottle(e);
    let _one = BOMBS.lock().unwrap_or_else(|p| p.into_inner());
    let (code, out) = b.tool(&["fork-bomb", "8"]);
    ensure(code == 0, || format!("the bomb did not run: {out}"))?;
    holder_serves(&b)
}

fn memory_bomb(e: &Engine) -> Outcome {
    let b = bomb_bottle(e);
    let _one = BOMBS.lock().unwrap_or_else(|p| p.into_inner());
    let (code, out) = b.tool(&["alloc", "4096"]);
    ensure(code != 0 || out.contains("limited"), || {
        format!("4 GiB fit in a 512 MiB bottle: {out}")
    })?;
    holder_serves(&b)
}

/// The agent image of `b`'s engine (Docker), to build variants from.
fn shell_image(e: &Engine) -> Result<String, String> {
    let out = e.cli(&[
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "bottle/agent-shell",
    ]);
    out.lines()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("no bottle/agent-shell image: {out}"))
}

/// Builds `FROM <shell image>` + `extra` on the default Docker engine as
/// `bottle-escape/<name>:<pid>` (labelled, removed at the end); the
/// engine and the tag. The context holds this suite's executable as
/// `escape-tool`.
fn variant(name: &str, extra: &str) -> Result<(Engine, String), String> {
    let e = Engine::default_docker();
    let tag = format!("bottle-escape/{name}:{}", std::process::id());
    let tag = tag.as_str();
    let base = shell_image(&e)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    std::fs::copy(&exe, dir.path().join("escape-tool")).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {base}\nLABEL dev.bottle.test=escape\n{extra}\n"),
    )
    .map_err(|e| e.to_string())?;
    let out = std::process::Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(dir.path())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("building {tag}: {}", both(&out)));
    }
    let tag = tag.to_string();
    let removed = tag.clone();
    fixture::on_teardown(move || {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", &removed])
            .output();
    });
    Ok((e, tag))
}

/// Defines the shell agent `name` on `image` in `home`.
fn define_on_image(home: &std::path::Path, name: &str, image: &str) {
    support::define(
        home,
        name,
        &format!("agent_provider: {{ template: shell, image: \"{image}\" }}\n"),
    );
}

fn bottle_on_image(e: &Engine, name: &str, image: &str) -> Bottle {
    Bottle::start(e, name, |home, _| define_on_image(home, name, image))
}

/// An image whose last `USER` is root and that ships a setuid-root
/// program: the agent's process is still 1000:1000 with no capability,
/// and the setuid program runs as 1000 too (no-new-privileges).
fn root_image() -> Outcome {
    let (e, tag) = variant(
        "user-root",
        "USER root\nCOPY escape-tool /usr/local/bin/suid-tool\nRUN chown 0:0 /usr/local/bin/suid-tool && chmod 4755 /usr/local/bin/suid-tool",
    )?;
    let b = bottle_on_image(&e, "rootimg", &tag);
    let (code, out) = b.tool(&["agent-ids"]);
    ensure(
        code == 0 && out.contains("uid 1000") && out.contains("CapEff 0") && !out.contains("Uid "),
        || format!("the agent's process on a USER root image: {out}"),
    )?;
    let out = b.bottle(&[
        "exec",
        &b.slug,
        "--",
        "/usr/local/bin/suid-tool",
        "tool",
        "euid",
    ]);
    let text = both(&out);
    ensure(text.trim() == "euid 1000", || {
        format!("a setuid-root program of the image ran as: {text}")
    })
}

/// An image with `VOLUME /data`: `rm` removes the anonymous volume the
/// engine made for it.
fn volume_image() -> Outcome {
    let (e, tag) = variant("volume", "VOLUME /data")?;
    let b = bottle_on_image(&e, "volimg", &tag);
    let volume = e.cli(&[
        "inspect",
        &b.agent_container(),
        "--format",
        "{{range .Mounts}}{{if eq .Destination \"/data\"}}{{.Name}}{{end}}{{end}}",
    ]);
    ensure(!volume.is_empty(), || {
        "the image's VOLUME made no volume".to_string()
    })?;
    let out = b.bottle(&["rm", &b.slug]);
    ensure(out.status.success(), || format!("rm: {}", both(&out)))?;
    let left = e.cli(&["volume", "ls", "-q", "--filter", &format!("name={volume}")]);
    ensure(!left.lines().any(|l| l == volume), || {
        format!("rm left the image's volume {volume}")
    })
}

/// An image with a `HEALTHCHECK` that runs what the agent can write: the
/// engine would run it as the container's user (the holder's, root). It is
/// switched off.
fn healthcheck_image() -> Outcome {
    let (e, tag) = variant(
        "healthcheck",
        "HEALTHCHECK --interval=1s --timeout=2s CMD [\"/bin/sh\", \"-c\", \"id -u > /tmp/healthcheck-ran; [ -x /home/agent/hc ] && /home/agent/hc; true\"]",
    )?;
    let b = bottle_on_image(&e, "hcimg", &tag);
    let (code, out) = b.sh("printf '#!/bin/sh\\nid -u > /tmp/hc-as\\n' > /home/agent/hc && chmod 755 /home/agent/hc && echo planted");
    ensure(code == 0 && out.contains("planted"), || {
        format!("planting: {out}")
    })?;
    let config = e.cli(&[
        "inspect",
        &b.agent_container(),
        "--format",
        "{{json .Config.Healthcheck}}",
    ]);
    ensure(config.contains("NONE"), || {
        format!("the agent container keeps the image's healthcheck: {config}")
    })?;
    // Several intervals' time for a healthcheck that would run.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let (_, ran) = b.sh("cat /tmp/healthcheck-ran /tmp/hc-as 2>/dev/null; true");
    ensure(ran.trim().is_empty(), || {
        format!("the image's healthcheck ran (as uid {ran})")
    })
}

/// An image whose `/opt` is a symlink into a directory of the agent's:
/// the agent could re-point it and swap the `bottle` executable that root
/// runs for every attach. The holder refuses to start.
fn symlinked_opt_image() -> Outcome {
    let (e, tag) = variant(
        "opt-link",
        "RUN mkdir -p /home/agent-opt && chown 1000:1000 /home/agent-opt && rm -rf /opt && ln -s /home/agent-opt /opt",
    )?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let home = dir.path().join("home");
    define_on_image(&home, "optlink", &tag);
    let out = e
        .bottle_cmd(
            &home,
            None,
            &["start", "optlink", "--detach", "-y", "--no-workspace"],
        )
        .output()
        .map_err(|e| e.to_string())?;
    let text = both(&out);
    let slug = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let held = if out.status.success() {
        // Started after all: the agent's exec must then fail, never run
        // through the link.
        let exec = e.bottle(&home, None, &["exec", &slug, "--", "id", "-u"]);
        let _ = e.bottle(&home, None, &["rm", &slug]);
        Err(format!(
            "started on a symlinked /opt: {text}; exec: {}",
            both(&exec)
        ))
    } else {
        Ok(())
    };
    // A failed launch removes what it made (by its labels).
    held?;
    ensure(text.contains("/opt is a symlink"), || {
        format!("refused, but not for the symlink: {text}")
    })
}

// ---- the in-bottle tool's commands ----

pub fn tool(cmd: &str, args: &[String]) -> Option<Result<String, String>> {
    let a = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    Some(match cmd {
        "noop" => Ok("noop".into()),
        "ptrace" => ptrace_tool(),
        "read-mem" => read_mem_tool(),
        "read-environ" => read_environ_tool(),
        "signal" => signal_tool(),
        "socket" => socket_tool(),
        "privs" => privs_tool(),
        "namespaces" => namespaces_tool(),
        "listen-unix" => listen_unix_tool(a(0), a(1)),
        "frames" => frames_tool(a(0)),
        "hello" => hello_tool(),
        "fork-bomb" => fork_bomb_tool(a(0)),
        "alloc" => alloc_tool(a(0)),
        "agent-ids" => agent_ids_tool(),
        "peer-uid" => std::os::unix::net::UnixStream::connect(a(0))
            .map_err(|e| errno(&e))
            .and_then(|s| bottle::session_host::privilege::peer_uid(&s).map_err(|e| e.to_string()))
            .map(|u| format!("peer uid {u}")),
        // SAFETY: geteuid has no preconditions.
        "euid" => Ok(format!("euid {}", unsafe { libc::geteuid() })),
        _ => return None,
    })
}

const SOCKET: &str = bottle::session_host::SOCKET;

fn errno(e: &std::io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM",
        Some(libc::EACCES) => "EACCES",
        Some(libc::ESRCH) => "ESRCH",
        Some(libc::EROFS) => "EROFS",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::ENOSYS) => "ENOSYS",
        _ => "",
    };
    format!("{name} ({e})")
}

fn last() -> String {
    errno(&std::io::Error::last_os_error())
}

fn status_of(pid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_default()
}

/// The holder's pid (PID 1 where the engine runs no init), found by its
/// command line.
fn holder_pid() -> Result<libc::pid_t, String> {
    let dir = std::fs::read_dir("/proc").map_err(|e| e.to_string())?;
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Ok(pid) = name.parse::<libc::pid_t>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.iter().any(|a| *a == b"session-host") && args.iter().any(|a| *a == b"--env-stdin") {
            return Ok(pid);
        }
    }
    Err("no session holder found".into())
}

/// The agent's processes: the holder's children.
fn agent_pids(holder: libc::pid_t) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.parse::<u32>().is_ok())
        .filter(|n| field(&status_of(n), "PPid:") == holder.to_string())
        .collect()
}

fn verdict(got: Vec<String>, refused: Vec<String>) -> Result<String, String> {
    if got.is_empty() {
        Err(format!("refused: {}", refused.join("; ")))
    } else {
        Ok(format!(
            "got: {} (refused: {})",
            got.join("; "),
            refused.join("; ")
        ))
    }
}

fn ptrace_tool() -> Result<String, String> {
    let h = holder_pid()?;
    let (mut got, mut refused) = (Vec::new(), Vec::new());
    for (name, req) in [
        ("PTRACE_ATTACH", libc::PTRACE_ATTACH),
        ("PTRACE_SEIZE", libc::PTRACE_SEIZE),
    ] {
        // SAFETY: ptrace on a pid; on success the tracee is detached at
        // once.
        let r = unsafe { libc::ptrace(req, h, 0, 0) };
        if r == 0 {
            got.push(name.to_string());
            // SAFETY: as above.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, h, 0, 0) };
        } else {
            let e = last();
            if !e.starts_with("EPERM") && !e.starts_with("EACCES") {
                got.push(format!("{name}: not refused by permission: {e}"));
            }
            refused.push(format!("{name} {h}: {e}"));
        }
    }
    verdict(got, refused)
}

fn read_mem_tool() -> Result<String, String> {
    let h = holder_pid()?;
    let (mut got, mut refused) = (Vec::new(), Vec::new());
    // Its memory itself; its layout (maps, auxv: addresses, no contents)
    // is noted, not counted (Debian's gVisor shows auxv to any uid).
    for what in ["mem", "maps", "auxv", "stack", "syscall"] {
        let layout = what == "maps" || what == "auxv";
        match std::fs::read(format!("/proc/{h}/{what}")) {
            Ok(b) if !b.is_empty() && !layout => got.push(format!("{what}: {} bytes", b.len())),
            Ok(b) if !b.is_empty() => refused.push(format!("{what} readable ({} bytes)", b.len())),
            Ok(_) => refused.push(format!("{what}: empty")),
            Err(e) => refused.push(format!("{what}: {}", errno(&e))),
        }
    }
    // process_vm_readv on the holder's first page of text.
    let mut buf = [0u8; 16];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: 0x400000 as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: one local buffer of the given length.
    let n = unsafe { libc::process_vm_readv(h, &local, 1, &remote, 1, 0) };
    if n > 0 {
        got.push("process_vm_readv".into());
    } else {
        let e = last();
        if e.starts_with("EPERM") || e.starts_with("EACCES") || e.starts_with("ENOSYS") {
            refused.push(format!("process_vm_readv: {e}"));
        } else {
            got.push(format!("process_vm_readv not refused by permission: {e}"));
        }
    }
    verdict(got, refused)
}

fn read_environ_tool() -> Result<String, String> {
    let h = holder_pid()?;
    match std::fs::read(format!("/proc/{h}/environ")) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).replace('\0', "\n")),
        Err(e) => Err(format!("refused: /proc/{h}/environ: {}", errno(&e))),
    }
}

fn signal_tool() -> Result<String, String> {
    let h = holder_pid()?;
    let (mut got, mut refused) = (Vec::new(), Vec::new());
    for (name, sig) in [
        ("SIGKILL", libc::SIGKILL),
        ("SIGTERM", libc::SIGTERM),
        ("SIGHUP", libc::SIGHUP),
        ("SIGSTOP", libc::SIGSTOP),
        ("SIGINT", libc::SIGINT),
        ("SIGUSR1", libc::SIGUSR1),
        ("SIGSEGV", libc::SIGSEGV),
    ] {
        // SAFETY: kill with a pid and a signal number.
        if unsafe { libc::kill(h, sig) } == 0 {
            got.push(name.to_string());
        } else {
            refused.push(format!("{name}: {}", last()));
        }
    }
    // (Not kill(-1): that is "every process I may signal", the agent's
    // own shell among them.)
    verdict(got, refused)
}

fn socket_tool() -> Result<String, String> {
    let (mut got, mut refused) = (Vec::new(), Vec::new());
    let dir = std::path::Path::new(SOCKET)
        .parent()
        .expect("a directory")
        .to_path_buf();
    let mut note = |what: &str, r: std::io::Result<()>| match r {
        Ok(()) => got.push(what.to_string()),
        Err(e) => refused.push(format!("{what}: {}", errno(&e))),
    };
    note(
        "connect",
        std::os::unix::net::UnixStream::connect(SOCKET).map(|_| ()),
    );
    note("list the directory", std::fs::read_dir(&dir).map(|_| ()));
    note("remove the socket", std::fs::remove_file(SOCKET));
    note(
        "rename the directory",
        std::fs::rename(&dir, dir.with_extension("moved")),
    );
    note("remove the directory", std::fs::remove_dir(&dir));
    note(
        "make a directory beside it",
        std::fs::create_dir(dir.with_extension("beside")),
    );
    note(
        "listen in its place",
        std::os::unix::net::UnixListener::bind(SOCKET).map(|_| ()),
    );
    note(
        "a symlink beside it",
        std::os::unix::fs::symlink("/tmp", dir.with_extension("link")),
    );
    verdict(got, refused)
}

fn privs_tool() -> Result<String, String> {
    let (mut got, mut refused) = (Vec::new(), Vec::new());
    let me = status_of("self");
    for set in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
        let v = field(&me, set);
        if !v.is_empty() && u64::from_str_radix(v, 16).unwrap_or(1) != 0 {
            got.push(format!("{set} {v}"));
        }
    }
    // SAFETY: credential syscalls; each must fail for uid 1000.
    unsafe {
        for (name, r) in [
            ("setuid(0)", libc::setuid(0)),
            ("setresuid(0,0,0)", libc::setresuid(0, 0, 0)),
            ("setgid(0)", libc::setgid(0)),
            ("setgroups([0])", libc::setgroups(1, [0u32].as_ptr())),
            ("setfsuid(0)", {
                libc::setfsuid(0);
                // setfsuid reports the previous value: ask again.
                if libc::setfsuid(u32::MAX) as u32 == 0 {
                    0
                } else {
                    -1
                }
            }),
        ] {
            if r == 0 {
                got.push(name.to_string());
            } else {
                refused.push(format!("{name}: {}", last()));
            }
        }
    }
    let uid = field(&me, "Uid:");
    if !uid.split_whitespace().all(|u| u == "1000") {
        got.push(format!("this process: Uid {uid}"));
    }
    // The agent's own processes (the holder's children).
    if let Ok(h) = holder_pid() {
        for pid in agent_pids(h) {
            let s = status_of(&pid);
            let (u, c) = (field(&s, "Uid:"), field(&s, "CapEff:"));
            if !u.split_whitespace().all(|x| x == "1000")
                || u64::from_str_radix(c, 16).unwrap_or(1) != 0
            {
                got.push(format!("agent process {pid}: Uid {u} CapEff {c}"));
            } else {
                refused.push(format!("agent process {pid}: uid 1000, no capability"));
            }
        }
    }
    verdict(got, refused)
}

fn namespaces_tool() -> Result<String, String> {
    let (mut got, mut refused) = (Vec::new(), Vec::new());
    let mut note = |what: &str, ok: bool| {
        if ok {
            got.push(what.to_string());
        } else {
            refused.push(format!("{what}: {}", last()));
        }
    };
    let _ = std::fs::create_dir_all("/tmp/escape-mnt");
    // SAFETY: plain syscalls with valid C strings; each must fail.
    unsafe {
        note(
            "mount tmpfs",
            libc::mount(
                c"none".as_ptr(),
                c"/tmp/escape-mnt".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ) == 0,
        );
        note("chroot", libc::chroot(c"/tmp".as_ptr()) == 0);
        note(
            "unshare(CLONE_NEWNET)",
            libc::unshare(libc::CLONE_NEWNET) == 0,
        );
        note(
            "unshare(CLONE_NEWPID)",
            libc::unshare(libc::CLONE_NEWPID) == 0,
        );
        note(
            "unshare(CLONE_NEWUSER)",
            libc::unshare(libc::CLONE_NEWUSER) == 0,
        );
        // clone with CLONE_NEWUSER: a child that exits at once.
        let child = libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        );
        if child == 0 {
            libc::_exit(0);
        }
        if child > 0 {
            libc::waitpid(child as libc::pid_t, std::ptr::null_mut(), 0);
        }
        note("clone(CLONE_NEWUSER)", child > 0);
        // A mount namespace of its own is worth nothing without the right
        // to mount in it (Debian's gVisor grants the first, not the
        // second): the mount after it is what counts.
        let own_ns = libc::unshare(libc::CLONE_NEWNS) == 0;
        let ns_note = if own_ns {
            "in a new mount namespace"
        } else {
            "unshare(CLONE_NEWNS) refused"
        };
        note(
            &format!("mount tmpfs ({ns_note})"),
            libc::mount(
                c"none".as_ptr(),
                c"/tmp/escape-mnt".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ) == 0,
        );
    }
    for path in [
        "/proc/sys/kernel/hostname",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sysrq-trigger",
        "/sys/kernel/uevent_helper",
    ] {
        match std::fs::OpenOptions::new().write(true).open(path) {
            Ok(mut f) => match std::io::Write::write_all(&mut f, b"0\n") {
                Ok(()) => got.push(format!("write {path}")),
                Err(e) => refused.push(format!("write {path}: {}", errno(&e))),
            },
            Err(e) => refused.push(format!("open {path}: {}", errno(&e))),
        }
    }
    verdict(got, refused)
}

/// Plays a holder at `path` for `secs` seconds: every connection gets a
/// Welcome showing FAKE-HOLDER.
fn listen_unix_tool(path: &str, secs: &str) -> Result<String, String> {
    let secs: u64 = secs.parse().unwrap_or(30);
    let _ = std::fs::remove_file(path);
    let l = std::os::unix::net::UnixListener::bind(path).map_err(|e| errno(&e))?;
    // Open to anyone, so that only the client's peer check stands between
    // the operator and this screen.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))
        .map_err(|e| e.to_string())?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        match l.accept() {
            Ok((mut s, _)) => {
                let welcome =
                    bottle::session_host::protocol::HolderMsg::Welcome(b"FAKE-HOLDER".to_vec())
                        .encode();
                let _ = std::io::Write::write_all(&mut s, &welcome);
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    Ok("done".into())
}

fn connect_holder() -> Result<std::os::unix::net::UnixStream, String> {
    let s = std::os::unix::net::UnixStream::connect(SOCKET).map_err(|e| errno(&e))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// A plain Hello must get a Welcome.
fn hello_tool() -> Result<String, String> {
    use bottle::session_host::protocol::{self, ClientMsg, HolderMsg};
    let mut s = connect_holder()?;
    let hello = ClientMsg::Hello {
        version: protocol::VERSION,
        rows: 24,
        cols: 80,
    };
    std::io::Write::write_all(&mut s, &hello.encode()).map_err(|e| e.to_string())?;
    match protocol::read_holder(&mut s) {
        Ok(Some(HolderMsg::Welcome(_))) => Ok("welcome".into()),
        other => Err(format!("no welcome: {other:?}")),
    }
}

fn frames_tool(marker: &str) -> Result<String, String> {
    use bottle::session_host::protocol::{self, ClientMsg};
    use std::io::Write;
    let mut said = Vec::new();
    // 1. Garbage.
    if let Ok(mut s) = connect_holder() {
        let junk: Vec<u8> = (0..8192u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let _ = s.write_all(&junk);
        said.push("garbage");
    }
    // 2. A frame claiming 4 GiB.
    if let Ok(mut s) = connect_holder() {
        let _ = s.write_all(&[0x02, 0xff, 0xff, 0xff, 0xff, b'x']);
        said.push("4 GiB frame");
    }
    // 3. Unknown kinds and short payloads.
    if let Ok(mut s) = connect_holder() {
        let _ = s.write_all(&[0x7f, 0, 0, 0, 1, 0, 0x01, 0, 0, 0, 1, 9, 0x03, 0, 0, 0, 0]);
        said.push("unknown kind, short payloads");
    }
    // 4. Another protocol version.
    if let Ok(mut s) = connect_holder() {
        let _ = s.write_all(
            &ClientMsg::Hello {
                version: 999,
                rows: 24,
                cols: 80,
            }
            .encode(),
        );
        said.push("version 999");
    }
    // 5. The largest size there is, then the agent writes what it got.
    let mut s = connect_holder()?;
    s.write_all(
        &ClientMsg::Hello {
            version: protocol::VERSION,
            rows: u16::MAX,
            cols: u16::MAX,
        }
        .encode(),
    )
    .map_err(|e| e.to_string())?;
    let _ = protocol::read_holder(&mut s);
    s.write_all(
        &ClientMsg::Resize {
            rows: u16::MAX,
            cols: u16::MAX,
        }
        .encode(),
    )
    .map_err(|e| e.to_string())?;
    s.write_all(&ClientMsg::Input(format!("\rstty size > {marker}\r").into_bytes()).encode())
        .map_err(|e| e.to_string())?;
    // Let the agent's shell run it before this client goes (a later
    // client's Hello resizes again).
    std::thread::sleep(std::time::Duration::from_secs(3));
    drop(s);
    hello_tool().map(|w| format!("{w} after: {}", said.join(", ")))
}

/// Forks without end in a session of its own for `secs` seconds, then
/// kills the whole group.
fn fork_bomb_tool(secs: &str) -> Result<String, String> {
    let secs: u64 = secs.parse().unwrap_or(8);
    // SAFETY: fork; the child only forks and sleeps.
    let leader = unsafe { libc::fork() };
    if leader < 0 {
        return Err(format!("fork: {}", last()));
    }
    if leader == 0 {
        // SAFETY: in the child: a session of its own, then fork forever.
        unsafe {
            libc::setsid();
            loop {
                libc::fork();
                libc::usleep(1000);
            }
        }
    }
    std::thread::sleep(std::time::Duration::from_secs(secs));
    let mut rounds = 0;
    // SAFETY: signalling the bomb's process group until none is left.
    while unsafe { libc::kill(-leader, libc::SIGKILL) } == 0 && rounds < 200 {
        rounds += 1;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(leader, &mut status, 0) };
    Ok(format!("bombed for {secs} s, killed in {rounds} rounds"))
}

/// Allocates and touches `mib` MiB in 16 MiB steps (the OOM killer is
/// expected to end it).
fn alloc_tool(mib: &str) -> Result<String, String> {
    let mib: usize = mib.parse().unwrap_or(4096);
    let mut held: Vec<Vec<u8>> = Vec::new();
    for i in 0..mib / 16 {
        let mut v = Vec::new();
        if v.try_reserve_exact(16 << 20).is_err() {
            return Err(format!("limited: allocation refused after {} MiB", i * 16));
        }
        v.resize(16 << 20, (i % 251) as u8 + 1);
        held.push(v);
    }
    Ok(format!("allocated {} MiB", held.len() * 16))
}

fn agent_ids_tool() -> Result<String, String> {
    let h = holder_pid()?;
    let pids = agent_pids(h);
    if pids.is_empty() {
        return Err("no agent process".into());
    }
    let mut out = Vec::new();
    for pid in pids {
        let s = status_of(&pid);
        let u = field(&s, "Uid:");
        let c = field(&s, "CapEff:");
        let uid = if u.split_whitespace().all(|x| x == "1000") {
            "uid 1000".to_string()
        } else {
            format!("Uid {u}")
        };
        let cap = if u64::from_str_radix(c, 16).unwrap_or(1) == 0 {
            "CapEff 0".to_string()
        } else {
            format!("CapEff {c}")
        };
        out.push(format!("{pid}: {uid} {cap}"));
    }
    Ok(out.join("\n"))
}
