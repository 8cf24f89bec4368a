//! Subnets for the agent side of a bottle on Docker — the carrier and the
//! macvlan agent network (`create_isolated_network`) — carved from
//! bottle's own range instead of the engine's default address pools.
//!
//! Docker's default pools hold about 31 networks (172.17–172.31.0.0/16 and
//! 192.168.0.0/16 in /20s), and a bottle needs three: carrier, agent
//! network and egress network. From the pools, the engine stops at ten
//! bottles. Neither agent-side network has a host-side address (the
//! carrier's bridge is `inhibit_ipv4`, the macvlan network has no host
//! member), so their subnets are never routed on the host and cannot
//! clash with the host's own networks; they need only be unique among the
//! engine's networks (its IPAM refuses an overlapping pool). So they come
//! as /28s from `AGENT_RANGE`, and only the egress network (which the
//! engine routes and NATs) takes a default pool: about 31 bottles per
//! engine instead of 10.

use super::{timed, EngineError};
use bollard::Docker;
use ipnet::Ipv4Net;

/// bottle's range: private (RFC 1918), and the one /16 of 172.16.0.0/12
/// that Docker's default pools leave out.
pub const AGENT_RANGE: &str = "172.16.0.0/16";

/// Each agent-side network gets a /28: network, gateway (reserved by the
/// engine even on an internal network), broadcast, and room for the
/// sidecar and the agent.
pub const PREFIX: u8 = 28;

/// How many candidates one creation tries before giving up (another
/// launch may take a subnet between the listing and the creation).
const ATTEMPTS: usize = 8;

/// The /28s of `AGENT_RANGE` that overlap none of `taken`, starting at
/// `start` (modulo their number) and wrapping around, so that concurrent
/// launches seldom race for the same one.
pub fn candidates(taken: &[Ipv4Net], start: u64) -> Vec<Ipv4Net> {
    let range: Ipv4Net = AGENT_RANGE.parse().expect("AGENT_RANGE is a network");
    let all: Vec<Ipv4Net> = range.subnets(PREFIX).expect("PREFIX fits").collect();
    let n = all.len();
    let first = (start % n as u64) as usize;
    (0..n)
        .map(|i| all[(first + i) % n])
        .filter(|s| !taken.iter().any(|t| overlaps(s, t)))
        .collect()
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Every IPv4 subnet the engine's networks hold.
async fn taken(docker: &Docker) -> Result<Vec<Ipv4Net>, EngineError> {
    let networks = timed(docker.list_networks(None)).await?;
    Ok(networks
        .iter()
        .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
        .flatten()
        .filter_map(|c| c.subnet.as_deref()?.parse::<Ipv4Net>().ok())
        .collect())
}

/// Whether the engine refused a subnet because another network holds it.
fn is_overlap(e: &EngineError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("overlap")
}

/// A start that differs between bottles (and between attempts of one).
fn start_for(name: &str) -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(name)
}

/// Creates the network that `request(subnet)` describes on a free /28 of
/// `AGENT_RANGE`, retrying on the next when another network took it in
/// the meantime. Returns the engine's answer and the subnet.
pub async fn create_on_own_subnet(
    docker: &Docker,
    name: &str,
    request: impl Fn(&str) -> bollard::models::NetworkCreateRequest,
) -> Result<(bollard::models::NetworkCreateResponse, String), EngineError> {
    let taken = taken(docker).await?;
    let candidates = candidates(&taken, start_for(name));
    let mut last = None;
    for subnet in candidates.iter().take(ATTEMPTS) {
        let subnet = subnet.to_string();
        match timed(docker.create_network(request(&subnet))).await {
            Ok(created) => return Ok((created, subnet)),
            Err(e) if is_overlap(&e) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(match last {
        Some(e) => EngineError::Launch(format!(
            "no free /{PREFIX} subnet in bottle's range {AGENT_RANGE} for {name} after {ATTEMPTS} tries (the last: {e})"
        )),
        None => EngineError::Launch(format!(
            "bottle's range {AGENT_RANGE} has no free /{PREFIX} subnet for {name}: the engine's networks hold all of it"
        )),
    })
}

/// The IPAM part of a request for `subnet`.
pub fn ipam(subnet: &str) -> bollard::models::Ipam {
    bollard::models::Ipam {
        config: Some(vec![bollard::models::IpamConfig {
            subnet: Some(subnet.to_string()),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("a network")
    }

    #[test]
    fn candidates_skip_every_taken_subnet_and_wrap_around() {
        let all = candidates(&[], 0);
        assert_eq!(all.len(), 4096);
        assert_eq!(all[0], net("172.16.0.0/28"));
        let from_end = candidates(&[], 4095);
        assert_eq!(from_end[0], net("172.16.255.240/28"));
        assert_eq!(from_end[1], net("172.16.0.0/28"));
        // A taken /28, a taken wider network, a network that lies inside one
        // /28, and a network outside the range.
        let taken = [
            net("172.16.0.0/28"),
            net("172.16.1.0/24"),
            net("172.16.2.4/30"),
            net("172.17.0.0/16"),
        ];
        let left = candidates(&taken, 0);
        assert_eq!(left.len(), 4096 - 1 - 16 - 1);
        assert_eq!(left[0], net("172.16.0.16/28"));
        assert!(left.iter().all(|c| taken.iter().all(|t| !overlaps(c, t))));
        // The whole range taken: nothing.
        assert!(candidates(&[net("172.16.0.0/12")], 7).is_empty());
    }

    #[test]
    fn the_request_names_the_subnet() {
        let i = ipam("172.16.0.32/28");
        assert_eq!(
            i.config.expect("a config")[0].subnet.as_deref(),
            Some("172.16.0.32/28")
        );
    }
}
