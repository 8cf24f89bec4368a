//! Subnets for every network of a bottle on Docker — the carrier, the
//! macvlan agent network (`create_isolated_network`) and the egress
//! network — carved from bottle's own range instead of the engine's
//! default address pools.
//!
//! Docker's default pools hold about 31 networks (172.17–172.31.0.0/16 and
//! 192.168.0.0/16 in /20s), and a bottle needs three: from the pools, the
//! engine stops at ten bottles. So each network gets a /28 of the range
//! (`network_range:` in config.yaml, default 172.16.0.0/16: 4096 /28s,
//! over 1300 bottles), unique among the engine's networks (its IPAM also
//! refuses an overlapping pool, which covers a concurrent launch taking
//! the same one: the next candidate is tried). The agent-side networks
//! have no host-side address and are never routed on the host; the egress
//! network is (the engine routes and NATs it), so no candidate may
//! overlap a route of this host either (`host_routes`): a VPN or LAN in
//! the range is left alone, as Docker does for its own pools.

use super::{timed, EngineError};
use bollard::Docker;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Each network gets a /28: network, gateway (reserved by the engine even
/// on an internal network), broadcast, and room for the sidecar and the
/// agent.
pub const PREFIX: u8 = 28;

/// How many candidates one creation tries before giving up (another
/// launch may take a subnet between the listing and the creation).
const ATTEMPTS: usize = 8;

/// The range of this home's config.yaml (`network_range:`), else the
/// default; an error (with file:line:col) when the setting is wrong.
pub fn range() -> Result<Ipv4Net, EngineError> {
    let file = crate::state::Home::from_env()
        .map(|h| h.config_file())
        .map_err(|e| EngineError::Launch(format!("{e:#}")))?;
    crate::config::network_range(&file).map_err(EngineError::Launch)
}

/// The /28s of `range` that overlap none of `taken`, starting at `start`
/// (modulo their number) and wrapping around, so that concurrent launches
/// seldom race for the same one.
pub fn candidates(range: Ipv4Net, taken: &[Ipv4Net], start: u64) -> Vec<Ipv4Net> {
    let Ok(subnets) = range.subnets(PREFIX.max(range.prefix_len())) else {
        return Vec::new();
    };
    let all: Vec<Ipv4Net> = subnets.collect();
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

/// The IPv4 routes of this host's main table (`/proc/net/route`) but its
/// default route: the networks a routed subnet must not shadow.
pub fn host_routes() -> Vec<Ipv4Net> {
    std::fs::read_to_string("/proc/net/route")
        .map(|t| parse_routes(&t))
        .unwrap_or_default()
}

/// `/proc/net/route`: `Iface Destination Gateway Flags RefCnt Use Metric
/// Mask …`, addresses in the kernel's byte order as hexadecimal.
fn parse_routes(text: &str) -> Vec<Ipv4Net> {
    let addr = |h: &str| {
        u32::from_str_radix(h, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_le_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dest, mask) = (addr(f.get(1)?)?, addr(f.get(7)?)?);
            let prefix = u32::from(mask).leading_ones() as u8;
            (prefix > 0)
                .then(|| Ipv4Net::new(dest, prefix).ok())
                .flatten()
        })
        .collect()
}

/// Every IPv4 subnet the engine's networks hold (`podman`: the engine's
/// host, listed through libpod), and this host's routes.
async fn taken(docker: &Docker, podman: Option<&str>) -> Result<Vec<Ipv4Net>, EngineError> {
    let networks = super::list_networks(docker, podman).await?;
    let mut taken: Vec<Ipv4Net> = networks
        .iter()
        .flat_map(|n| &n.subnets)
        .filter_map(|s| s.parse::<Ipv4Net>().ok())
        .collect();
    taken.extend(host_routes());
    Ok(taken)
}

/// Whether the engine refused a subnet because another network holds it.
fn is_overlap(e: &EngineError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    // Docker: "Pool overlaps with other one on this address space";
    // Podman: "subnet … is already used on the host or by another config".
    text.contains("overlap") || text.contains("already used")
}

/// A start that differs between bottles (and between attempts of one).
fn start_for(name: &str) -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(name)
}

/// What the operator can do when the range is full.
fn remedy(range: Ipv4Net) -> String {
    format!(
        "remove bottles you no longer use (`bottle rm`, `bottle cleanup`), or give bottle a larger private range than {range} as `network_range:` in $BOTTLE_HOME/config.yaml"
    )
}

/// Creates the network that `request(subnet)` describes on a free /28 of
/// bottle's range, retrying on the next when another network took it in
/// the meantime. Returns the engine's answer and the subnet.
pub async fn create_on_own_subnet(
    docker: &Docker,
    podman: Option<&str>,
    name: &str,
    request: impl Fn(&str) -> bollard::models::NetworkCreateRequest,
) -> Result<(bollard::models::NetworkCreateResponse, String), EngineError> {
    let range = range()?;
    let taken = taken(docker, podman).await?;
    let candidates = candidates(range, &taken, start_for(name));
    let mut last = None;
    for subnet in candidates.iter().take(ATTEMPTS) {
        let subnet = subnet.to_string();
        match timed(docker.create_network(request(&subnet))).await {
            Ok(created) => return Ok((created, subnet)),
            Err(e) if is_overlap(&e) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(exhausted(range, name, last))
}

fn exhausted(range: Ipv4Net, name: &str, last: Option<EngineError>) -> EngineError {
    EngineError::Launch(match last {
        Some(e) => format!(
            "no free /{PREFIX} subnet in bottle's network range {range} for {name} after {ATTEMPTS} tries (the last: {e}); {}",
            remedy(range)
        ),
        None => format!(
            "bottle's network range {range} has no free /{PREFIX} subnet for {name}: the engine's networks and this host's routes hold all of it; {}",
            remedy(range)
        ),
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

    fn default_range() -> Ipv4Net {
        net(crate::config::DEFAULT_NETWORK_RANGE)
    }

    #[test]
    fn candidates_skip_every_taken_subnet_and_wrap_around() {
        let candidates = |taken: &[Ipv4Net], start| candidates(default_range(), taken, start);
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
        // Another range: only its own subnets.
        let other = super::candidates(net("10.9.8.0/24"), &[net("10.9.8.16/28")], 0);
        assert_eq!(other.len(), 15);
        assert!(other.iter().all(|c| net("10.9.8.0/24").contains(c)));
    }

    #[test]
    fn host_routes_are_read_without_the_default_route() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
wg0\t000010AC\t00000000\t0001\t0\t0\t0\t0000F0FF\t0\t0\t0\n";
        assert_eq!(
            parse_routes(text),
            vec![
                net("172.17.0.0/16"),
                net("192.0.2.0/24"),
                net("172.16.0.0/12")
            ]
        );
        // A VPN route over the whole range leaves nothing, and the error
        // names the remedy.
        assert!(candidates(default_range(), &parse_routes(text), 0).is_empty());
        let e = exhausted(default_range(), "bottle-x-egress", None).to_string();
        assert!(e.contains("network_range:"), "{e}");
        assert!(e.contains("bottle cleanup"), "{e}");
        assert!(e.contains("172.16.0.0/16"), "{e}");
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
