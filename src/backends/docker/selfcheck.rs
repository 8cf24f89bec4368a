//! The launcher's half of the isolation self-check
//! (`session_host::selfcheck` is the half that runs inside): what to check
//! (the agent network's gateway, the sidecar's address and service ports),
//! handed to the holder with its environment line, and the wait for its
//! report. A failure the operator did not allow stops the bottle: the
//! holder has already stopped the agent; the sidecar is stopped here.

use super::{timed, EngineError};
use crate::session_host::selfcheck::{Check, CheckSpec, Report};
use crate::state::names::{Names, Slug};
use crate::state::record::{IsolationCheck, IsolationRecord};
use bollard::Docker;
use std::net::IpAddr;
use std::time::Duration;

/// The agent container's label: the operator allowed this bottle to run
/// though its isolation self-check failed (`--allow-unverified`).
pub const LABEL_ALLOW_UNVERIFIED: &str = "dev.bottle.allow-unverified";
/// The sidecar's service ports (DNS, health, egress proxy, supervise, git
/// gate): never probed as "other" ports.
pub const SERVICE_PORTS: &[u16] = &[53, 9098, 9099, 9100, 9420];
/// The egress proxy's port (`bottle sidecar --egress-port`'s default).
pub const PROXY_PORT: u16 = 9099;
/// How long the holder's report may take (the checks themselves take
/// about 300 ms; a slow runtime gets room).
const REPORT_TIMEOUT: Duration = Duration::from_secs(20);

/// What the holder checks for the bottle `slug`, with a fresh nonce, and
/// the one check made from outside before it starts: `peers` — nothing is
/// attached to the agent network but the sidecar (a container joined to it
/// by mistake would be a way out the routing table cannot show).
pub async fn spec(docker: &Docker, slug: &Slug) -> Result<(CheckSpec, Check), EngineError> {
    let names = &Names::for_slug(slug);
    let sidecar = timed(docker.inspect_container(&names.sidecar_container, None)).await?;
    let sidecar_ip = sidecar
        .network_settings
        .and_then(|s| s.networks)
        .and_then(|mut n| n.remove(&names.internal_network))
        .and_then(|e| e.ip_address)
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .ok_or_else(|| {
            EngineError::Launch(format!(
                "the sidecar has no address on {}: the isolation self-check cannot run",
                names.internal_network
            ))
        })?;
    // The agent network's gateway: the configured one, else the subnet's
    // first address (Docker's choice) — unless the sidecar holds it (a
    // network without a gateway, as Podman's macvlan: the sidecar then
    // gets the first address, and is probed as the sidecar).
    let net = timed(docker.inspect_network(&names.internal_network, None)).await?;
    let peers = peers_check(&net, names);
    let mut gateways = Vec::new();
    let mut subnet = None;
    for c in net.ipam.and_then(|i| i.config).unwrap_or_default() {
        if subnet.is_none() {
            subnet = c
                .subnet
                .clone()
                .filter(|s| s.parse::<ipnet::Ipv4Net>().is_ok());
        }
        let gw = c.gateway.as_deref().and_then(|g| g.parse::<IpAddr>().ok());
        let first = c
            .subnet
            .as_deref()
            .and_then(|s| s.parse::<ipnet::Ipv4Net>().ok())
            .and_then(|n| n.hosts().next())
            .map(IpAddr::V4);
        for ip in [gw, first].into_iter().flatten() {
            if ip != sidecar_ip && !gateways.contains(&ip) {
                gateways.push(ip);
            }
        }
    }
    let agent = timed(docker.inspect_container(&names.agent_container, None)).await?;
    let allow_unverified = agent
        .config
        .and_then(|c| c.labels)
        .and_then(|l| l.get(LABEL_ALLOW_UNVERIFIED).cloned())
        .is_some_and(|v| v == "true");
    let spec = CheckSpec {
        nonce: ulid::Ulid::new().to_string(),
        gateways,
        subnet,
        sidecar: sidecar_ip,
        service_ports: SERVICE_PORTS.to_vec(),
        proxy_port: PROXY_PORT,
        allow_unverified,
    };
    if !peers.ok && !allow_unverified {
        stop_bottle(docker, names).await;
        return Err(EngineError::Launch(format!(
            "this bottle did not prove its isolation, so it was stopped: peers: {} (pass --allow-unverified to run it anyway)",
            peers.detail
        )));
    }
    Ok((spec, peers))
}

/// Before the agent starts, its network holds the sidecar and nothing
/// else (the agent container itself, on a restart, is not running yet).
fn peers_check(net: &bollard::models::NetworkInspect, names: &Names) -> Check {
    let ours = [&names.sidecar_container, &names.agent_container];
    let others: Vec<String> = net
        .containers
        .iter()
        .flatten()
        .map(|(id, c)| c.name.clone().unwrap_or_else(|| id.clone()))
        .filter(|n| !ours.contains(&n))
        .map(|n| crate::sanitize::inline(&n).to_string())
        .collect();
    Check {
        name: "peers".into(),
        ok: others.is_empty(),
        detail: if others.is_empty() {
            "only the sidecar on the agent network".into()
        } else {
            format!("also on the agent network: {}", others.join(", "))
        },
    }
}

/// Waits for the holder's report for `spec` (its nonce) in the agent
/// container's log. Verified, or failed and allowed: the record. Failed
/// and not allowed, or no report: the bottle is stopped and the error
/// says why.
pub async fn wait(
    docker: &Docker,
    slug: &Slug,
    spec: &CheckSpec,
    peers: Check,
) -> Result<IsolationRecord, EngineError> {
    let names = &Names::for_slug(slug);
    let report = match report(docker, &names.agent_container, &spec.nonce).await {
        Ok(r) => r,
        Err(why) if spec.allow_unverified => Report {
            nonce: spec.nonce.clone(),
            verified: false,
            checks: vec![Check {
                name: "report".into(),
                ok: false,
                detail: why,
            }],
        },
        Err(why) => {
            stop_bottle(docker, names).await;
            return Err(EngineError::Launch(format!(
                "the isolation self-check did not report ({why}); the bottle was stopped"
            )));
        }
    };
    // The outside check first, then the holder's.
    let mut report = report;
    report.verified &= peers.ok;
    report.checks.insert(0, peers);
    let record = IsolationRecord {
        verified: report.verified,
        allowed_unverified: !report.verified && spec.allow_unverified,
        checks: report
            .checks
            .iter()
            .map(|c| IsolationCheck {
                name: c.name.clone(),
                ok: c.ok,
                detail: c.detail.clone(),
            })
            .collect(),
        at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    };
    if report.verified {
        tracing::info!(slug = %slug, "isolation self-check passed");
    } else if spec.allow_unverified {
        tracing::warn!(slug = %slug, failures = %report.failures(), "isolation self-check FAILED; running anyway (--allow-unverified)");
    } else {
        tracing::warn!(slug = %slug, failures = %report.failures(), "isolation self-check failed; the bottle is stopped");
        stop_bottle(docker, names).await;
        return Err(EngineError::Launch(format!(
            "this bottle did not prove its isolation, so it was stopped: {} (pass --allow-unverified to run it anyway)",
            report.failures()
        )));
    }
    Ok(record)
}

/// The report line with `nonce` from the container's log.
async fn report(docker: &Docker, container: &str, nonce: &str) -> Result<Report, String> {
    let line = super::launch::log_line(
        docker,
        container,
        "the session holder",
        REPORT_TIMEOUT,
        |v| v["event"] == "isolation" && v["report"]["nonce"] == nonce,
    )
    .await
    .map_err(|e| e.to_string())?;
    serde_json::from_value::<Report>(line["report"].clone())
        .map_err(|e| format!("an unreadable report: {e}"))
}

/// Stops the agent and the sidecar (their volumes and state stay).
async fn stop_bottle(docker: &Docker, names: &Names) {
    for c in [&names.agent_container, &names.sidecar_container] {
        let stop = bollard::query_parameters::StopContainerOptionsBuilder::default()
            .t(2)
            .build();
        let _ = timed(docker.stop_container(c, Some(stop))).await;
    }
}
