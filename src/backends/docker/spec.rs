//! Container specifications for a bottle (SPEC §4.8, §5.1), built purely
//! from the `Plan`. Both containers: every capability dropped,
//! no-new-privileges, pid/memory/CPU limits, bounded logs, explicit
//! ulimits (Podman needs them), no privileged mode, no host namespaces, no
//! engine socket. The agent runs as 1000:1000 on the internal network only,
//! started by the session holder, which keeps uid 0 with CAP_SETUID and
//! CAP_SETGID only (out of the agent's reach, SPEC §4.8); the sidecar runs
//! as the operator's uid:gid with a read-only root.

use crate::backends::plan::{EnvPlan, Plan, AGENT_HOME, WORKSPACE_DIR};
use crate::state::names::{labels, Role};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, HostConfigLogConfig, Mount, MountType,
    NetworkingConfig, ResourcesUlimits,
};
use std::collections::HashMap;

/// The agent's uid:gid: its process, `bottle shell`/`exec` and shell panes.
pub const AGENT_USER: &str = "1000:1000";
/// The agent container's own user: the session holder's, root with only
/// CAP_SETUID, CAP_SETGID and CAP_KILL (`HOLDER_CAPS`) and
/// no-new-privileges; it
/// starts the agent as `AGENT_USER` (session_host::privilege). Attach
/// execs, which talk to the holder's root-only socket, run as this too.
pub const HOLDER_USER: &str = "0:0";
/// The only capabilities the agent container keeps: what the holder
/// needs to drop to the agent's ids, and to pass a stop on to the agent
/// (SIGTERM/SIGHUP to another uid; without it `docker stop` reached the
/// agent only as the engine's SIGKILL). The agent's process has none (the
/// kernel clears them when its uid leaves 0; no-new-privileges keeps them
/// out of reach).
pub const HOLDER_CAPS: &[&str] = &["SETUID", "SETGID", "KILL"];
/// Aliases of the sidecar on the agent network (SPEC §5.3).
pub const SIDECAR_ALIASES: &[&str] = &["egress", "supervise", "gitgate"];
pub const SIDECAR_MEMORY: i64 = 256 << 20;
pub const SIDECAR_PIDS: i64 = 256;
pub const SIDECAR_NANO_CPUS: i64 = 1_000_000_000;

fn to_map(m: std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    m.into_iter().collect()
}

fn log_config() -> HostConfigLogConfig {
    HostConfigLogConfig {
        typ: Some("json-file".into()),
        config: Some(HashMap::from([
            ("max-size".into(), "10m".into()),
            ("max-file".into(), "3".into()),
        ])),
    }
}

/// Explicit (Podman needs them), and no higher than a conservative daemon's
/// own hard limit: raising above it fails container creation.
/// `nproc` counts per uid across the whole host, so it is generous; the
/// per-container bound is `pids_limit`.
fn ulimits() -> Vec<ResourcesUlimits> {
    [("nofile", 4096), ("nproc", 32768)]
        .into_iter()
        .map(|(name, n)| ResourcesUlimits {
            name: Some(name.into()),
            soft: Some(n),
            hard: Some(n),
        })
        .collect()
}

/// The settings both containers share.
fn hardened(plan: &Plan, memory: i64, nano_cpus: i64, pids: i64) -> HostConfig {
    HostConfig {
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        privileged: Some(false),
        memory: Some(memory),
        memory_swap: Some(memory),
        nano_cpus: Some(nano_cpus),
        pids_limit: Some(pids),
        ulimits: Some(ulimits()),
        log_config: Some(log_config()),
        ipc_mode: Some("private".into()),
        runtime: Some(plan.runtime.name.clone()),
        init: Some(false),
        ..Default::default()
    }
}

fn volume(source: &str, target: &str) -> Mount {
    Mount {
        typ: Some(MountType::VOLUME),
        source: Some(source.into()),
        target: Some(target.into()),
        read_only: Some(false),
        ..Default::default()
    }
}

/// Where provisioning puts the `bottle` executable in the agent container.
pub const HOLDER_BIN: &str = "/opt/bottle/bottle";

/// An exec that runs `cmd` as the agent (`bottle exec`, `bottle shell`,
/// shell panes): the exec itself runs as the holder's user, and
/// `session-host exec-as` drops to the agent's ids before `cmd` starts,
/// checking that no capability is left. (gVisor hands an exec with a
/// non-root user the container's capabilities; this way none reaches a
/// process the agent could ptrace.) Returns the exec's user and argv.
pub fn as_agent(cmd: Vec<String>) -> (&'static str, Vec<String>) {
    let mut full = vec![
        HOLDER_BIN.to_string(),
        "session-host".into(),
        "exec-as".into(),
        format!("--agent-user={AGENT_USER}"),
        "--".into(),
    ];
    full.extend(cmd);
    (HOLDER_USER, full)
}

/// An exec that attaches to the session holder (`bottle attach`, session
/// panes): it runs as the holder's user, the only one that reaches its
/// socket. `size` is the client's (rows, cols) when it has one. Returns
/// the exec's user and argv.
pub fn holder_attach(size: Option<(u16, u16)>) -> (&'static str, Vec<String>) {
    let mut cmd = vec![
        HOLDER_BIN.to_string(),
        "session-host".into(),
        "attach".into(),
    ];
    if let Some((rows, cols)) = size {
        cmd.push(format!("--size={rows}x{cols}"));
    }
    (HOLDER_USER, cmd)
}

/// The agent container's main process: the session holder running `cmd`.
pub fn holder_command(cmd: Vec<String>) -> Vec<String> {
    let mut full = vec![
        HOLDER_BIN.to_string(),
        "session-host".into(),
        "--env-stdin".into(),
        format!("--agent-user={AGENT_USER}"),
        "--".into(),
    ];
    full.extend(cmd);
    full
}

/// The agent container. `dns` is the sidecar's address on the internal
/// network; `resolv_conf` a host file naming it as the only nameserver,
/// bound read-only over `/etc/resolv.conf` so the engine's embedded DNS
/// (127.0.0.11, which may forward from the host's namespace) is never
/// asked. Only literal env values are in this configuration; prompted and
/// host-copied values travel in the session's environment.
pub fn agent(
    plan: &Plan,
    dns: &str,
    resolv_conf: &std::path::Path,
    cmd: Vec<String>,
) -> ContainerCreateBody {
    let mut env: Vec<String> = plan
        .base_env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.extend(plan.env.iter().filter_map(|e| match e {
        EnvPlan::Literal { name, value } => Some(format!("{name}={value}")),
        EnvPlan::Prompt { .. } | EnvPlan::Host { .. } => None,
    }));
    env.push(format!("{AGENT_IMAGE_VAR}={}", plan.agent_image.reference));
    let r = &plan.resources;
    let mut host = hardened(
        plan,
        r.memory_bytes as i64,
        (r.cpus * 1e9) as i64,
        i64::from(r.pids),
    );
    host.cap_add = Some(HOLDER_CAPS.iter().map(|c| c.to_string()).collect());
    host.network_mode = Some(plan.names.internal_network.clone());
    if plan.engine == "podman" {
        // Docker turns IPv6 off in a container on a network without it;
        // Podman leaves link-local IPv6 on, and its bridge has a host-side
        // link-local address (issue 18: IPv6 multicast from the agent
        // reached a host socket on [::]). Off in the agent's namespace.
        host.sysctls = Some(HashMap::from([
            ("net.ipv6.conf.all.disable_ipv6".into(), "1".into()),
            ("net.ipv6.conf.default.disable_ipv6".into(), "1".into()),
        ]));
    }
    host.dns = Some(vec![dns.to_string()]);
    host.mounts = Some(vec![
        volume(&plan.names.work_volume, WORKSPACE_DIR),
        volume(&plan.names.home_volume, AGENT_HOME),
        Mount {
            typ: Some(MountType::BIND),
            source: Some(resolv_conf.display().to_string()),
            target: Some("/etc/resolv.conf".into()),
            read_only: Some(true),
            ..Default::default()
        },
    ]);
    ContainerCreateBody {
        image: Some(plan.agent_image.reference.clone()),
        healthcheck: Some(no_healthcheck()),
        hostname: Some(plan.slug.to_string()),
        user: Some(HOLDER_USER.into()),
        env: Some(env),
        // The session holder runs the agent in its own PTY; the container
        // has no TTY, and its stdin carries the session's environment once.
        cmd: Some(holder_command(cmd)),
        entrypoint: Some(Vec::new()),
        working_dir: Some(WORKSPACE_DIR.into()),
        tty: Some(false),
        open_stdin: Some(true),
        stdin_once: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        labels: Some(to_map(labels(
            &plan.slug,
            Role::Agent,
            &plan.engine,
            &plan.home_hash,
        ))),
        host_config: Some(host),
        ..Default::default()
    }
}

/// The image's `HEALTHCHECK` switched off: the engine runs it as the
/// container's user, which is the holder's (root), and the agent writes
/// what it runs (`HEALTHCHECK CMD /home/agent/hc`).
fn no_healthcheck() -> bollard::models::HealthConfig {
    bollard::models::HealthConfig {
        test: Some(vec!["NONE".into()]),
        ..Default::default()
    }
}

/// Names the agent's own image inside the bottle, so a capability request
/// can start `FROM` it.
pub const AGENT_IMAGE_VAR: &str = "BOTTLE_AGENT_IMAGE";

/// The agent container of `launched` (the body it was created from) on
/// `image`: everything else stays, and the hardening of SPEC §4.8 is set
/// again whatever the stored body or the new image say: the holder's
/// user (which starts the agent as 1000:1000), every capability dropped
/// but the holder's (`HOLDER_CAPS`), no-new-privileges, no healthcheck, not
/// privileged, no host namespaces or devices, no entrypoint of the image.
pub fn agent_on_image(launched: &ContainerCreateBody, image: &str) -> ContainerCreateBody {
    let mut body = launched.clone();
    body.image = Some(image.to_string());
    body.entrypoint = Some(Vec::new());
    body.healthcheck = Some(no_healthcheck());
    // The holder's command is made afresh from the agent's command (a body
    // stored before the holder dropped privileges has no `--agent-user`);
    // a body that is not a holder's keeps the agent's uid and no
    // capability.
    let agent_cmd = body.cmd.as_ref().and_then(|c| {
        let holder = c.first().map(String::as_str) == Some(HOLDER_BIN)
            && c.get(1).map(String::as_str) == Some("session-host");
        let dash = c.iter().position(|a| a == "--")?;
        holder.then(|| c[dash + 1..].to_vec())
    });
    let holder = agent_cmd.is_some();
    if let Some(cmd) = agent_cmd {
        body.cmd = Some(holder_command(cmd));
    }
    body.user = Some(if holder { HOLDER_USER } else { AGENT_USER }.into());
    let mut env: Vec<String> = body
        .env
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.starts_with(&format!("{AGENT_IMAGE_VAR}=")))
        .collect();
    env.push(format!("{AGENT_IMAGE_VAR}={image}"));
    body.env = Some(env);
    let host = body.host_config.get_or_insert_with(Default::default);
    host.cap_drop = Some(vec!["ALL".into()]);
    host.cap_add = holder.then(|| HOLDER_CAPS.iter().map(|c| c.to_string()).collect());
    host.security_opt = Some(vec!["no-new-privileges:true".into()]);
    host.privileged = Some(false);
    host.ipc_mode = Some("private".into());
    host.pid_mode = None;
    host.uts_mode = None;
    host.userns_mode = None;
    host.devices = None;
    host.binds = None;
    host.volumes_from = None;
    body
}

/// `/etc/passwd` for the sidecar: root and the operator's uid (as
/// `bottle`), whose home is the tmpfs.
pub fn sidecar_passwd(operator: &str) -> String {
    let (uid, gid) = operator.split_once(':').unwrap_or((operator, operator));
    let mut out = String::from("root:x:0:0:root:/root:/usr/sbin/nologin\n");
    if uid != "0" {
        out.push_str(&format!(
            "bottle:x:{uid}:{gid}:bottle sidecar:/tmp:/usr/sbin/nologin\n"
        ));
    }
    out.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    out
}

/// Binds `passwd` (read-only) over the sidecar's `/etc/passwd`.
pub fn bind_passwd(body: &mut ContainerCreateBody, passwd: &std::path::Path) {
    if let Some(mounts) = body.host_config.as_mut().and_then(|h| h.mounts.as_mut()) {
        mounts.push(Mount {
            typ: Some(MountType::BIND),
            source: Some(passwd.display().to_string()),
            target: Some("/etc/passwd".into()),
            read_only: Some(true),
            ..Default::default()
        });
    }
}

/// The sidecar container, first attached to the internal network (with its
/// service aliases); the egress network is connected after creation.
/// `operator` is the operator's `uid:gid`; `subnet` the internal network's
/// IPv4 subnet, from which the sidecar finds its own address.
pub fn sidecar(
    plan: &Plan,
    operator: &str,
    subnet: &str,
    egress_dir: &std::path::Path,
    queue_dir: Option<&std::path::Path>,
) -> ContainerCreateBody {
    let mut host = hardened(plan, SIDECAR_MEMORY, SIDECAR_NANO_CPUS, SIDECAR_PIDS);
    // The egress directory (CA, routes.json): the host writes, the sidecar
    // reads.
    let mut mounts = vec![Mount {
        typ: Some(MountType::BIND),
        source: Some(egress_dir.display().to_string()),
        target: Some(crate::backends::egress::SIDECAR_EGRESS_DIR.into()),
        read_only: Some(true),
        ..Default::default()
    }];
    // Supervise: this bottle's queue directory, where the sidecar writes
    // requests and reads decisions.
    if let Some(q) = queue_dir {
        mounts.push(Mount {
            typ: Some(MountType::BIND),
            source: Some(q.display().to_string()),
            target: Some(crate::sidecar::supervise::QUEUE_DIR.into()),
            read_only: Some(false),
            ..Default::default()
        });
    }
    // The git gate's repositories: the sidecar's alone.
    if plan.has_gate() {
        mounts.push(volume(
            &plan.names.gate_volume,
            crate::policy::gitgate::GATE_ROOT,
        ));
    }
    host.mounts = Some(mounts);
    // The engine's default runtime: the sidecar binds port 53 with no
    // capability through a namespaced sysctl that gVisor ignores. gVisor
    // is for the untrusted party, the agent.
    host.runtime = None;
    host.readonly_rootfs = Some(true);
    host.tmpfs = Some(HashMap::from([(
        "/tmp".into(),
        "rw,noexec,nosuid,size=64m".into(),
    )]));
    host.network_mode = Some(plan.names.internal_network.clone());
    // Port 53 without any capability: the namespaced sysctl.
    host.sysctls = Some(HashMap::from([(
        "net.ipv4.ip_unprivileged_port_start".into(),
        "0".into(),
    )]));
    let endpoint = EndpointSettings {
        aliases: Some(SIDECAR_ALIASES.iter().map(|a| a.to_string()).collect()),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(plan.sidecar_image.reference.clone()),
        hostname: Some("sidecar".into()),
        user: Some(operator.into()),
        entrypoint: Some(vec!["/usr/local/bin/bottle".into(), "sidecar".into()]),
        cmd: Some(vec!["--address-in".into(), subnet.into()]),
        labels: Some(to_map(labels(
            &plan.slug,
            Role::Sidecar,
            &plan.engine,
            &plan.home_hash,
        ))),
        host_config: Some(host),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                plan.names.internal_network.clone(),
                endpoint,
            )])),
        }),
        ..Default::default()
    }
}
