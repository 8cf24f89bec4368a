//! `bottle doctor`: is this machine ready to run bottles? Engine and API
//! version, internal-network isolation, runtimes, images, disk and
//! `$BOTTLE_HOME` permissions. Exits non-zero when something fails.

use super::definitions::Context;
use crate::backends::{self, images, preflight::human_bytes};
use anyhow::Result;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Report {
    failed: bool,
}

impl Report {
    fn say(&mut self, level: Level, what: &str, text: impl AsRef<str>) {
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => {
                self.failed = true;
                "FAIL"
            }
        };
        println!(
            "{tag} {what:<10} {}",
            crate::sanitize::inline(text.as_ref())
        );
    }
}

pub fn doctor(ctx: &Context) -> Result<i32> {
    let mut r = Report { failed: false };
    check_home(&mut r, &ctx.home.root);
    check_engine(&mut r, &ctx.home.root, &ctx.home.label_hash());
    Ok(if r.failed { 1 } else { 0 })
}

fn check_home(r: &mut Report, root: &Path) {
    match std::fs::metadata(root) {
        Ok(m) if m.permissions().mode() & 0o077 == 0 => {
            r.say(Level::Ok, "home", format!("{} (mode 0700)", root.display()))
        }
        Ok(m) => r.say(
            Level::Warn,
            "home",
            format!(
                "{} is mode {:o}; run `chmod 700 {}`",
                root.display(),
                m.permissions().mode() & 0o777,
                root.display()
            ),
        ),
        Err(_) => r.say(
            Level::Ok,
            "home",
            format!(
                "{} does not exist yet (created on first use, mode 0700)",
                root.display()
            ),
        ),
    }
    let probe = root
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    match free_bytes(probe) {
        Some(free) if free < 5 << 30 => r.say(
            Level::Warn,
            "disk",
            format!("{} free under {}", human_bytes(free), probe.display()),
        ),
        Some(free) => r.say(
            Level::Ok,
            "disk",
            format!("{} free under {}", human_bytes(free), probe.display()),
        ),
        None => r.say(
            Level::Warn,
            "disk",
            format!("cannot read free space under {}", probe.display()),
        ),
    }
}

fn free_bytes(path: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a valid out-pointer.
    (unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0)
        .then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

fn check_engine(r: &mut Report, home: &std::path::Path, home_hash: &str) {
    let host = backends::default_host();
    let backend = backends::connect(&host);
    if let Err(e) = backends::check_default() {
        return r.say(Level::Fail, "engine", e.to_string());
    }
    let facts = match backend.facts() {
        Ok(f) => f,
        Err(e) => return r.say(Level::Fail, "engine", e.to_string()),
    };
    r.say(
        Level::Ok,
        "engine",
        format!("{} (API {}) via {host}", facts.engine, facts.api_version),
    );
    for (e, _) in backends::discover() {
        if !e.default {
            r.say(
                Level::Ok,
                "engine",
                format!(
                    "also {} via {} (the workspace offers it; `--backend {}`)",
                    e.label(),
                    e.host,
                    e.kind
                ),
            );
        }
    }
    for w in backend.warnings() {
        r.say(Level::Warn, "engine", w);
    }
    match backend.check_isolation(home_hash) {
        Ok(()) => r.say(
            Level::Ok,
            "isolation",
            format!("agent network: {}", backend.isolation_mode()),
        ),
        Err(e) => r.say(
            Level::Fail,
            "isolation",
            format!("cannot create an isolated internal network: {e}"),
        ),
    }
    if facts.gvisor_offered() {
        // The same probe a launch relies on, run afresh (its verdict is
        // cached for the launches that follow).
        let verdict = crate::launcher::runsc_verdict(&*backend, home, home_hash, false);
        match verdict {
            Ok(()) => r.say(
                Level::Ok,
                "runtime",
                format!(
                    "gVisor (runsc) passes the runtime probe (stat, ls -la, file and socket round trips) and is used automatically ({})",
                    facts.runtimes.join(", ")
                ),
            ),
            Err(why) => r.say(
                Level::Warn,
                "runtime",
                format!(
                    "runsc fails the runtime probe ({}): bottles use {} — install a current gVisor release (gvisor.dev); --runtime runsc forces it",
                    crate::sanitize::inline(&why),
                    if facts.default_runtime.is_empty() { "runc" } else { facts.default_runtime.as_str() }
                ),
            ),
        }
        if facts.is_podman() && podman_beside_docker() {
            r.say(
                Level::Warn,
                "isolation",
                "Docker runs beside Podman: its FORWARD policy (DROP, with br_netfilter) can cut an agent off from its sidecar on Podman's internal bridges; allow bridged traffic within them: iptables -I DOCKER-USER -i podman+ -m physdev --physdev-is-bridged -j ACCEPT",
            );
        }
    } else if facts.is_podman() {
        if podman_beside_docker() {
            r.say(
                Level::Warn,
                "isolation",
                "Docker runs beside Podman: its FORWARD policy (DROP, with br_netfilter) can cut an agent off from its sidecar on Podman's internal bridges; allow bridged traffic within them: iptables -I DOCKER-USER -i podman+ -m physdev --physdev-is-bridged -j ACCEPT",
            );
        }
        r.say(
            Level::Warn,
            "runtime",
            format!(
                "Podman offers no gVisor (runsc): bottles use its default runtime ({})",
                facts.runtimes.join(", ")
            ),
        );
    } else {
        r.say(
            Level::Warn,
            "runtime",
            format!(
                "no gVisor (runsc): bottles use runc ({}); install runsc for a kernel boundary",
                facts.runtimes.join(", ")
            ),
        );
    }
    let base = "debian:bookworm-slim";
    let present = |i: &str| facts.images.contains(i);
    r.say(
        if present(base) {
            Level::Ok
        } else {
            Level::Warn
        },
        "image",
        format!(
            "{base}: {}",
            if present(base) {
                "present"
            } else {
                "missing (needed to build the built-in images)"
            }
        ),
    );
    let shell = images::agent_tag(&images::SHELL, &images::CliSource::None);
    r.say(
        Level::Ok,
        "image",
        format!(
            "{shell}: {}",
            if present(&shell) {
                "present"
            } else {
                "built on first launch"
            }
        ),
    );
    let clis = std::env::var(images::AGENT_CLIS_VAR).ok();
    for (template, t) in [
        (crate::manifest::Template::Claude, &images::CLAUDE),
        (crate::manifest::Template::Codex, &images::CODEX),
    ] {
        match images::cli_source(template, clis.as_deref()) {
            Ok(cli) => {
                let tag = images::agent_tag(t, &cli);
                let from = match &cli {
                    images::CliSource::Context { version, .. } => {
                        format!("{version} from {}", clis.as_deref().unwrap_or_default())
                    }
                    _ => format!(
                        "{} from its registry",
                        images::pinned_version(t).unwrap_or_else(|| "the pinned release".into())
                    ),
                };
                r.say(
                    Level::Ok,
                    "image",
                    format!(
                        "{tag}: {} (CLI: {from})",
                        if present(&tag) {
                            "present"
                        } else {
                            "built on first launch"
                        }
                    ),
                );
            }
            Err(e) => r.say(Level::Fail, "image", e),
        }
    }
}

/// Docker's bridge netfilter is on in this kernel (Docker is running here).
fn podman_beside_docker() -> bool {
    let nf = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .is_ok_and(|v| v.trim() == "1");
    nf && std::path::Path::new("/sys/class/net/docker0").exists()
}
