//! A real `shell` bottle on the real engine, attacked from inside (under
//! runsc when the engine offers it). Shell builtins stand in for `ls`/`stat`:
//! Debian's gVisor (2022) answers coreutils' statx with EINVAL.
//!
//! What is checked:
//! uid 1000; writable home and workspace; no route to any host address,
//! the docker0 or agent-network gateway, or the sidecar's non-service
//! ports; DNS for unknown names REFUSED; hardening read back through the
//! API for both containers; the workspace copy carries no symlink target,
//! no ignored file and no credential; `stop` keeps volumes and state,
//! `rm` leaves nothing with the bottle's labels.

use crate::support::Engine;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

fn bottle(e: &Engine, home: &Path, ws: &Path, args: &[&str]) -> Output {
    e.bottle(home, Some(ws), args)
}

fn inside(e: &Engine, home: &Path, ws: &Path, slug: &str, script: &str) -> (i32, String) {
    let out = bottle(e, home, ws, &["exec", slug, "--", "bash", "-c", script]);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn workspace(dir: &Path) -> std::path::PathBuf {
    let ws = dir.join("ws");
    std::fs::create_dir_all(ws.join(".git")).expect("mkdir");
    std::fs::write(ws.join("main.rs"), "fn main() {}\n").expect("write");
    std::fs::write(ws.join(".git/config"), "[remote \"origin\"]\n\turl = https://user:ghp_CANARYTOKEN123@github.com/a/b.git\n[http \"https://github.com/\"]\n\textraheader = AUTHORIZATION: basic CANARYHEADER\n").expect("write");
    std::fs::write(ws.join(".bottleignore"), "secret.env\n").expect("write");
    std::fs::write(ws.join("secret.env"), "CANARY_IGNORED=1\n").expect("write");
    std::fs::write(dir.join("host-secret"), "CANARY_HOST_FILE\n").expect("write");
    std::os::unix::fs::symlink(dir.join("host-secret"), ws.join("link")).expect("symlink");
    ws
}

#[test]
fn under_runc_a_shell_bottle_is_hardened_isolated_and_removable() {
    if let Some(e) = crate::support::engine("runc") {
        hardened_isolated_and_removable(&e);
    }
}

#[test]
fn under_runsc_a_shell_bottle_is_hardened_isolated_and_removable() {
    if let Some(e) = crate::support::engine("runsc") {
        hardened_isolated_and_removable(&e);
    }
}

#[test]
fn under_podman_a_shell_bottle_is_hardened_isolated_and_removable() {
    if let Some(e) = crate::support::engine("podman") {
        hardened_isolated_and_removable(&e);
    }
}

fn hardened_isolated_and_removable(e: &Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("bottle-home");
    let ws = workspace(dir.path());
    let out = bottle(e, &home, &ws, &["start", "shell", "--detach", "-y"]);
    let slug = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && slug.starts_with("shell-"),
        "start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (got, want) = match e.runtime {
        Some(rt) => (
            e.cli(&[
                "inspect",
                "-f",
                "{{.HostConfig.Runtime}}",
                &format!("bottle-{slug}-agent"),
            ]),
            rt.to_string(),
        ),
        // Podman: its default runtime, read through its own API.
        None => {
            let podman = |args: &[&str]| {
                let host = e.host.as_deref().expect("podman host");
                let out = Command::new("podman")
                    .args(["--remote", "--url", host])
                    .args(args)
                    .output()
                    .expect("podman");
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            };
            (
                podman(&[
                    "inspect",
                    "--format",
                    "{{.OCIRuntime}}",
                    &format!("bottle-{slug}-agent"),
                ]),
                podman(&["info", "--format", "{{.Host.OCIRuntime.Name}}"]),
            )
        }
    };
    let result = std::panic::catch_unwind(|| {
        assert_eq!(got, want, "the agent runs under the chosen runtime");
        attack(e, &home, &ws, &slug)
    });
    let rm = bottle(e, &home, &ws, &["rm", &slug]);
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    let label = format!("label=dev.bottle.slug={slug}");
    for kind in [
        &["ps", "-aq", "--filter"][..],
        &["network", "ls", "-q", "--filter"],
        &["volume", "ls", "-q", "--filter"],
    ] {
        let mut args = kind.to_vec();
        args.push(&label);
        assert_eq!(e.cli(&args), "", "left behind: docker {args:?}");
    }
    assert!(!home.join("state").join(&slug).exists(), "state removed");
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    // The application log tells the story: launch (with its runtime,
    // engine and isolation), stop, resume, rm; one line each.
    let log = app_log(&home);
    let slug_field = format!("slug={slug}");
    let event = |name: &str| -> String {
        let hits: Vec<&str> = log
            .lines()
            .filter(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.contains(&format!("event=\"{name}\"").as_str())
                    && w.contains(&slug_field.as_str())
            })
            .collect();
        assert_eq!(hits.len(), 1, "one {name} line of {slug} in:\n{log}");
        hits[0].to_string()
    };
    let launch = event("launch");
    let runtime = format!("runtime={}", e.runtime.unwrap_or(want.as_str()));
    for field in [
        runtime.as_str(),
        "agent=shell",
        "isolation=\"macvlan\"",
        "engine=",
        "backend=",
        "duration_ms=",
    ] {
        assert!(launch.contains(field), "{field} in {launch}");
    }
    assert!(event("resume").contains(&runtime));
    for name in ["stop", "rm"] {
        assert!(event(name).contains(" INFO "));
    }
}

/// Every line of `$BOTTLE_HOME/logs/bottle.log.*`.
fn app_log(home: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(home.join("logs"))
        .expect("logs")
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with("bottle.log") {
            out.push_str(&std::fs::read_to_string(e.path()).expect("read log"));
        }
    }
    out
}

/// The hardening settings of one container as the engine reports them,
/// normalised across engines: effective capabilities (`none`), added
/// capabilities, security options, privileged, pids/memory/cpu limits, log
/// size limit, pid and ipc namespace modes, networks, user, read-only root.
/// Podman's compatible inspect reports its dropped defaults instead of
/// `ALL` and no log options, so Podman is read through its own API.
fn readback(e: &Engine, name: &str) -> String {
    if e.is_podman() {
        let host = e.host.as_deref().expect("podman host");
        let fmt = "{{if .EffectiveCaps}}{{.EffectiveCaps}}{{else}}none{{end}}|{{.HostConfig.CapAdd}}|{{.HostConfig.SecurityOpt}}|{{.HostConfig.Privileged}}|{{.HostConfig.PidsLimit}}|{{.HostConfig.Memory}}|{{.HostConfig.NanoCpus}}|{{.HostConfig.LogConfig.Size}}|{{.HostConfig.PidMode}}|{{.HostConfig.IpcMode}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}},{{end}}|{{.Config.User}}|{{.HostConfig.ReadonlyRootfs}}";
        let out = Command::new("podman")
            .args(["--remote", "--url", host, "inspect", name, "--format", fmt])
            .output()
            .expect("podman inspect");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // The network list ends with a comma.
        return text.replace(",|", "|");
    }
    let fmt = "{{if eq (printf \"%v\" .HostConfig.CapDrop) \"[ALL]\"}}none{{else}}{{.HostConfig.CapDrop}}{{end}}|{{.HostConfig.CapAdd}}|{{.HostConfig.SecurityOpt}}|{{.HostConfig.Privileged}}|{{.HostConfig.PidsLimit}}|{{.HostConfig.Memory}}|{{.HostConfig.NanoCpus}}|{{index .HostConfig.LogConfig.Config \"max-size\"}}|{{.HostConfig.PidMode}}|{{.HostConfig.IpcMode}}|{{.HostConfig.NetworkMode}}|{{.Config.User}}|{{.HostConfig.ReadonlyRootfs}}";
    e.cli(&["inspect", name, "--format", fmt])
}

/// A DNS query (id 0x1234, recursion desired, type A) for `name`, as
/// `printf` escapes.
fn dns_query(name: &str) -> String {
    let mut bytes = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        bytes.push(label.len() as u8);
        bytes.extend_from_slice(label.as_bytes());
    }
    bytes.extend_from_slice(&[0, 0, 1, 0, 1]);
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
}

fn listed_status(e: &Engine, home: &Path, ws: &Path, slug: &str) -> String {
    let out = bottle(e, home, ws, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json");
    v["bottles"]
        .as_array()
        .expect("bottles")
        .iter()
        .find(|b| b["slug"] == slug)
        .map(|b| b["status"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

fn attack(e: &Engine, home: &Path, ws: &Path, slug: &str) {
    assert_eq!(listed_status(e, home, ws, slug), "running");
    let (code, text) = inside(
        e,
        home,
        ws,
        slug,
        "id -u; touch /workspace/x \"$HOME/x\" && echo writable",
    );
    assert_eq!((code, text.as_str()), (0, "1000\nwritable\n"));

    // The workspace copy: no symlink, no ignored file, no credential.
    let (_, listing) = inside(e, home,
        ws,
        slug,
        "shopt -s dotglob; echo /workspace/*; cat /workspace/.git/config; cat /workspace/* 2>/dev/null | grep CANARY || true",
    );
    assert!(
        listing.contains("main.rs") && !listing.contains("link") && !listing.contains("secret.env"),
        "{listing}"
    );
    assert!(
        !listing.contains("CANARY")
            && !listing.contains("user:")
            && !listing.to_lowercase().contains("extraheader"),
        "{listing}"
    );

    // No route out: every host address, the gateways, the sidecar's other ports.
    let listener = TcpListener::bind("0.0.0.0:0").expect("host listener");
    let port = listener.local_addr().expect("addr").port();
    let mut targets: Vec<String> = e
        .cli(&[
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
        ])
        .split_whitespace()
        .map(String::from)
        .collect();
    let hostname_i = Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I");
    targets.extend(
        String::from_utf8_lossy(&hostname_i.stdout)
            .split_whitespace()
            .filter(|a| !a.contains(':'))
            .map(String::from),
    );
    let internal = format!("bottle-{slug}-internal");
    targets.extend(
        e.cli(&[
            "network",
            "inspect",
            &internal,
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
        ])
        .split_whitespace()
        .map(String::from),
    );
    let sidecar_ip = e.cli(&[
        "inspect",
        &format!("bottle-{slug}-sidecar"),
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{internal}\").IPAddress}}}}"),
    ]);
    assert!(!sidecar_ip.is_empty());
    targets.push(sidecar_ip.clone());
    // Podman's agent network has no gateway at all (`<nil>`).
    targets.retain(|a| a.parse::<std::net::Ipv4Addr>().is_ok());
    let probes: Vec<String> = targets.iter().map(|ip| format!("(timeout 5 bash -c 'echo > /dev/tcp/{ip}/{port}' 2>/dev/null && echo REACHED {ip}) &")).collect();
    let (_, reached) = inside(
        e,
        home,
        ws,
        slug,
        &format!("{} wait; true", probes.join(" ")),
    );
    assert!(
        !reached.contains("REACHED"),
        "reachable from inside: {reached} (targets {targets:?})"
    );
    drop(listener);
    // The probe itself works: the sidecar's health port (a service port) answers.
    let (_, control) = inside(
        e,
        home,
        ws,
        slug,
        &format!("timeout 5 bash -c 'echo > /dev/tcp/{sidecar_ip}/9098' && echo CONTROL-OK"),
    );
    assert!(
        control.contains("CONTROL-OK"),
        "the probe could not reach a service port: {control}"
    );

    // DNS: only the sidecar, which refuses unknown names; nothing else to ask.
    let nonce = ulid::Ulid::new().to_string().to_lowercase();
    let (_, dns) = inside(
        e,
        home,
        ws,
        slug,
        &format!(
            "cat /etc/resolv.conf; getent hosts egress; getent hosts {nonce}.invalid; echo rc=$?"
        ),
    );
    assert!(
        dns.contains(&format!("nameserver {sidecar_ip}")) && !dns.contains("127.0.0.11"),
        "{dns}"
    );
    assert!(
        dns.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [sidecar_ip.as_str(), "egress"]),
        "egress resolves to the sidecar: {dns}"
    );
    assert!(
        dns.contains("rc=2"),
        "an unknown name does not resolve: {dns}"
    );
    // The answer itself is REFUSED (RCODE 5), asked with a raw query.
    let query = dns_query(&format!("raw-{nonce}.invalid"));
    let (_, raw) = inside(
        e,
        home,
        ws,
        slug,
        &format!(
            "exec 3<>/dev/udp/{sidecar_ip}/53; printf '{query}' >&3; timeout 5 od -An -tx1 -N4 <&3"
        ),
    );
    let header: Vec<&str> = raw.split_whitespace().collect();
    assert!(
        header.len() == 4 && u8::from_str_radix(header[3], 16).is_ok_and(|b| b & 0x0f == 5),
        "REFUSED expected, got header {raw:?}"
    );
    // The engine's upstream resolver (a recording stub, when the test
    // setup points dockerd's `dns` at one) hears nothing from the agent;
    // a container on a plain network reaches it (the control).
    if !e.is_podman() {
        let stub = crate::support::DnsStub::get();
        if crate::support::require(
            "a recording DNS stub as dockerd's resolver (BOTTLE_TEST_DNS_STUB, set up by .ci/run)",
            stub.is_some(),
        ) {
            let stub = stub.expect("stub");
            let control = format!(
                "control-{}.test",
                ulid::Ulid::new().to_string().to_lowercase()
            );
            let _ = e.cli(&[
                "run",
                "--rm",
                "--network",
                "bridge",
                "--label",
                "dev.bottle.test=dns-control",
                "debian:bookworm-slim",
                "getent",
                "hosts",
                &control,
            ]);
            assert!(
                stub.wait_for(&control),
                "the control query never reached the stub: is dockerd's dns the stub?"
            );
            // The agent asked before the control: anything it leaked
            // would have arrived by now.
            assert!(
                !stub.saw(&nonce),
                "the agent's query reached the engine's resolver"
            );
        }
    }

    // Hardening, read back through the API for both containers.
    for role in ["agent", "sidecar"] {
        let name = format!("bottle-{slug}-{role}");
        let got = readback(e, &name);
        let f: Vec<&str> = got.split('|').collect();
        if role == "agent" {
            // The session holder keeps CAP_SETUID and CAP_SETGID to start
            // the agent as 1000:1000 and CAP_KILL to pass a stop on to it
            // (whose own process has none: below).
            let only_holder_caps = |t: &str| {
                let caps: Vec<String> = t
                    .trim_matches(|c| c == '[' || c == ']')
                    .split_whitespace()
                    .map(|c| {
                        c.to_ascii_uppercase()
                            .trim_start_matches("CAP_")
                            .to_string()
                    })
                    .collect();
                caps.len() == 3
                    && caps
                        .iter()
                        .all(|c| c == "SETUID" || c == "SETGID" || c == "KILL")
            };
            assert!(
                f[0] == "none" || only_holder_caps(f[0]),
                "{role} effective capabilities: {got}"
            );
            // Docker reports them as CapAdd; Podman as EffectiveCaps only.
            assert!(
                (f[1] == "[]" || f[1] == "<no value>" || only_holder_caps(f[1]))
                    && (only_holder_caps(f[0]) || only_holder_caps(f[1])),
                "{role} gets back only the holder's three: {got}"
            );
        } else {
            assert_eq!(f[0], "none", "{role} effective capabilities: {got}");
            assert!(
                f[1] == "[]" || f[1] == "<no value>",
                "{role} gets no capability back: {got}"
            );
        }
        assert!(
            f[2] == "[no-new-privileges:true]" || f[2] == "[no-new-privileges]",
            "{role}: {got}"
        );
        assert_eq!(f[3], "false", "{role}: {got}");
        assert!(
            f[4] != "0" && f[4] != "<no value>" && f[5] != "0" && f[6] != "0",
            "{role} limits: {got}"
        );
        assert!(f[7] == "10m" || f[7] == "10MB", "{role} log limit: {got}");
        assert!(
            (f[8].is_empty() || f[8] == "private")
                && (f[9] == "private" || f[9] == "shareable")
                && f[10].split(',').any(|n| n == internal),
            "{role} namespaces/network: {got}"
        );
        if role == "agent" {
            assert_eq!(f[10], internal, "the agent is on the internal network only");
        }
        let mounts = e.cli(&[
            "inspect",
            &name,
            "--format",
            "{{range .Mounts}}{{.Source}} {{end}}",
        ]);
        assert!(
            !mounts.contains(".sock"),
            "{role} has the engine socket: {mounts}"
        );
        if role == "agent" {
            // The holder's user; the agent's process is 1000 (below).
            assert_eq!(f[11], "0:0");
        } else {
            // SAFETY: getuid/getgid cannot fail.
            let operator = unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) };
            assert_eq!(
                (f[11], f[12]),
                (operator.as_str(), "true"),
                "sidecar user and read-only root: {got}"
            );
        }
    }
    let (_, status) = inside(e, home,
        ws,
        slug,
        "grep -E 'CapEff|NoNewPrivs' /proc/self/status; [ -e /var/run/docker.sock ] && echo ENGINE-SOCKET || echo No such file",
    );
    // gVisor's /proc has no NoNewPrivs line; where it exists it must be 1
    // (the API readback above covers both runtimes).
    assert!(
        status.contains("CapEff:\t0000000000000000")
            && (!status.contains("NoNewPrivs") || status.contains("NoNewPrivs:\t1"))
            && status.contains("No such file"),
        "{status}"
    );

    // The sidecar's log (its decisions go there) and the agent's.
    let logs = bottle(e, home, ws, &["logs", slug, "--sidecar"]);
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("\"event\":\"ready\""),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );

    // stop keeps the volumes (and the file in them) and the state.
    let stop = bottle(e, home, ws, &["stop", slug]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert_eq!(
        e.cli(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=dev.bottle.slug={slug}")
        ]),
        "",
        "no containers after stop"
    );
    let vols = e.cli(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=dev.bottle.slug={slug}"),
    ]);
    assert_eq!(
        vols.lines().count(),
        2,
        "work and home volumes kept (the fake .git is no repository: no gate): {vols}"
    );
    assert!(home.join("state").join(slug).join("metadata.json").exists());
    assert_eq!(listed_status(e, home, ws, slug), "stopped");

    // resume: same slug, same volumes (the file written before is there).
    let resumed = bottle(e, home, ws, &["resume", slug, "--detach", "-y"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&resumed.stdout).trim(), slug);
    assert!(
        String::from_utf8_lossy(&resumed.stderr).contains("no changes since the last launch"),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let (code, kept) = inside(
        e,
        home,
        ws,
        slug,
        "[ -e /workspace/x ] && [ -e \"$HOME/x\" ] && id -u",
    );
    assert_eq!(code, 0, "{kept}");
    assert!(kept.ends_with("1000\n"), "{kept}");
    assert_eq!(listed_status(e, home, ws, slug), "running");
    let again = bottle(e, home, ws, &["resume", slug, "--detach", "-y"]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not stopped"),
        "resuming a running bottle is refused"
    );
}
