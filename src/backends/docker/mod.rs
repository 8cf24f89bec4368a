//! Connecting to the Docker Engine API (or Podman's compatible socket)
//! through bollard: `DOCKER_HOST` honoured, API version negotiated, a
//! timeout on every call.

use bollard::Docker;
use std::time::Duration;

/// Every engine call is bounded by this unless it streams.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the container engine ({0}); is dockerd running, or DOCKER_HOST set?")]
    Connect(String),
    #[error("the container engine did not answer within {0:?}")]
    Timeout(Duration),
    #[error("engine: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("building {tag} failed: {message}")]
    Build { tag: String, message: String },
    /// The engine answered, but the bottle did not come up as required.
    #[error("{0}")]
    Launch(String),
    /// Something on this side failed (terminal, files, threads).
    #[error("{0}")]
    Local(String),
}

/// Runs one engine call with the standard timeout.
pub async fn timed<T, F>(fut: F) -> Result<T, EngineError>
where
    F: std::future::Future<Output = Result<T, bollard::errors::Error>>,
{
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Ok(r) => r.map_err(EngineError::from),
        Err(_) => Err(EngineError::Timeout(CALL_TIMEOUT)),
    }
}

/// Connects to the default engine (`DOCKER_HOST`, else Docker's socket).
pub async fn connect() -> Result<Docker, EngineError> {
    engines::connect_host(&engines::default_host()).await
}

/// Gathers what `prepare` needs to know about the engine.
pub mod attach;
mod backend;
pub use backend::DockerBackend;
pub mod build;
pub mod engines;
mod exec;
pub mod export;
pub mod launch;
pub mod libpod;
pub mod pane;
pub mod probe;
pub mod provision;
pub mod recreate;
pub mod selfcheck;
pub mod spec;
pub mod subnets;

pub async fn engine_facts(
    docker: &Docker,
) -> Result<crate::backends::plan::EngineFacts, EngineError> {
    let version = timed(docker.version()).await?;
    let info = timed(docker.info()).await?;
    let podman = engines::kind_of_version(&version) == "podman";
    let mut runtimes: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
    runtimes.sort();
    let options = bollard::query_parameters::ListImagesOptionsBuilder::default().build();
    let images = timed(docker.list_images(Some(options)))
        .await?
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .map(|t| short_reference(&t).to_string())
        .collect();
    Ok(crate::backends::plan::EngineFacts {
        engine: if podman {
            "podman".into()
        } else {
            "docker".into()
        },
        api_version: version.api_version.unwrap_or_default(),
        runtimes,
        default_runtime: info.default_runtime.unwrap_or_default(),
        images,
        gvisor_probe: None,
    })
}

/// Podman names local images `localhost/x:t` and pulled ones
/// `docker.io/library/x:t`; both are `x:t` in a Dockerfile or to Docker.
pub fn short_reference(reference: &str) -> &str {
    reference
        .strip_prefix("localhost/")
        .or_else(|| reference.strip_prefix("docker.io/library/"))
        .or_else(|| reference.strip_prefix("docker.io/"))
        .unwrap_or(reference)
}

const INHIBIT_IPV4: &str = "com.docker.network.bridge.inhibit_ipv4";
const MACVLAN_PARENT: &str = "parent";
const MACVLAN_MODE: &str = "macvlan_mode";

/// The bridge network under an agent network on Docker (see
/// `create_isolated_network`): the agent network's name with `-carrier`.
pub fn carrier_network_name(agent_network: &str) -> String {
    format!("{agent_network}-carrier")
}

/// The Linux bridge device dockerd makes for a bridge network it was not
/// given a name for: `br-` and the first 12 characters of the network's ID
/// (unique per network, so no two bottles ever share a carrier).
pub fn bridge_device_of(network_id: &str) -> Option<String> {
    let short = network_id.get(..12)?;
    short
        .chars()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| format!("br-{short}"))
}

/// The request for a carrier (SPEC §4.1): `internal`, no IPv6, and the
/// bridge's host-side address withheld — a plain internal network still
/// lets containers reach the host's own addresses. The agent is never on
/// it; only the sidecar, whose port gives the bridge its carrier.
pub fn isolated_network_request(
    name: &str,
    labels: std::collections::HashMap<String, String>,
) -> bollard::models::NetworkCreateRequest {
    bollard::models::NetworkCreateRequest {
        name: name.to_string(),
        internal: Some(true),
        enable_ipv6: Some(false),
        options: Some(std::collections::HashMap::from([(
            INHIBIT_IPV4.to_string(),
            "true".to_string(),
        )])),
        labels: Some(labels),
        ..Default::default()
    }
}

/// The request for the agent network on Docker: a `macvlan` network in
/// bridge mode, `internal`, no IPv6, whose parent is the carrier's bridge
/// device. Its members (agent and sidecar) reach each other directly;
/// whatever else a member sends — broadcast, multicast, unicast to any
/// other address — is transmitted on the parent, and a frame transmitted
/// on a device is never received by the host's own stack on it. The host
/// has no macvlan member, so nothing reaches a host socket.
pub fn macvlan_network_request(
    name: &str,
    parent: &str,
    labels: std::collections::HashMap<String, String>,
) -> bollard::models::NetworkCreateRequest {
    bollard::models::NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("macvlan".to_string()),
        internal: Some(true),
        enable_ipv6: Some(false),
        options: Some(std::collections::HashMap::from([
            (MACVLAN_PARENT.to_string(), parent.to_string()),
            (MACVLAN_MODE.to_string(), "bridge".to_string()),
        ])),
        labels: Some(labels),
        ..Default::default()
    }
}

fn option<'a>(net: &'a bollard::models::NetworkInspect, key: &str) -> Option<&'a str> {
    net.options
        .as_ref()
        .and_then(|o| o.get(key))
        .map(String::as_str)
}

/// Whether the engine kept every isolation setting of a carrier network.
pub fn is_isolated(net: &bollard::models::NetworkInspect) -> bool {
    net.internal == Some(true)
        && option(net, INHIBIT_IPV4) == Some("true")
        && net.enable_ipv6 != Some(true)
}

/// Whether the engine kept every setting of an agent network: macvlan in
/// bridge mode on exactly `parent`, internal, no IPv6.
pub fn is_isolated_macvlan(net: &bollard::models::NetworkInspect, parent: &str) -> bool {
    net.driver.as_deref() == Some("macvlan")
        && net.internal == Some(true)
        && net.enable_ipv6 != Some(true)
        && option(net, MACVLAN_PARENT) == Some(parent)
        && option(net, MACVLAN_MODE).is_none_or(|m| m == "bridge")
}

/// How the agent network keeps the host out, for `bottle doctor`.
pub fn isolation_mode() -> &'static str {
    "macvlan (bridge mode) on a carrier bridge without a host-side address: nothing the agent sends (unicast, broadcast, multicast) is received by the host"
}

/// Creates an agent network that leaves the host unreachable (SPEC §4.1),
/// checks that the engine kept every setting, and returns its IPv4 subnet.
///
/// Docker: first the carrier (`carrier_network_name`): an `internal`,
/// `inhibit_ipv4`, no-IPv6 bridge network; then the agent network itself:
/// macvlan on the carrier's bridge device (`macvlan_network_request`). A
/// bridge device without an address still hands broadcast and multicast
/// frames its ports send up to the host's stack (issue 18, E11); a macvlan
/// member's frames only ever leave through the parent's transmit path,
/// which the host's stack does not receive. The sidecar joins the carrier
/// too (its port is what gives the bridge, and so the macvlan members,
/// their carrier). Needs the kernel's macvlan driver; without it creation
/// fails (closed), with the engine's message.
///
/// Podman ignores `inhibit_ipv4` and creates its bridge device only when a
/// container first runs on the network, and refuses a macvlan parent that
/// does not exist yet: here it gets the carrier (libpod, DNS off, which
/// leaves the bridge without a host-side address) and a reserve network
/// holding a free subnet, which is returned; `finish_podman_agent_network`
/// makes the macvlan network once the sidecar runs on the carrier. The
/// caller removes the networks on error (they are labelled).
pub async fn create_isolated_network(
    docker: &Docker,
    podman: Option<&str>,
    name: &str,
    labels: std::collections::HashMap<String, String>,
) -> Result<String, EngineError> {
    let not_kept = |what: &str| {
        EngineError::Launch(format!(
            "the engine did not keep the agent network isolated ({what})"
        ))
    };
    let subnet = if let Some(host) = podman {
        // The carrier, and a second bridge network that only holds a free
        // subnet for the agent's macvlan network until it exists
        // (`finish_podman_agent_network`).
        for n in [carrier_network_name(name), reserve_network_name(name)] {
            libpod::create_isolated_network(host, &n, &labels).await?;
            let (isolated, _) = libpod::inspect_network(host, &n).await?;
            if !isolated {
                return Err(not_kept("carrier: internal, DNS off, no IPv6"));
            }
        }
        libpod::inspect_network(host, &reserve_network_name(name))
            .await?
            .1
    } else {
        let carrier = carrier_network_name(name);
        // Both agent-side networks on subnets of bottle's own range
        // (`subnets`), as the egress network is: never the engine's pools.
        let (created, _) = subnets::create_on_own_subnet(docker, None, &carrier, |s| {
            bollard::models::NetworkCreateRequest {
                ipam: Some(subnets::ipam(s)),
                ..isolated_network_request(&carrier, labels.clone())
            }
        })
        .await?;
        let inspected = timed(docker.inspect_network(&carrier, None)).await?;
        if !is_isolated(&inspected) {
            return Err(not_kept("carrier: internal, inhibit_ipv4, no IPv6"));
        }
        let id = inspected.id.or(Some(created.id)).unwrap_or_default();
        let parent =
            bridge_device_of(&id).ok_or_else(|| not_kept(&format!("carrier network id {id:?}")))?;
        subnets::create_on_own_subnet(docker, None, name, |s| bollard::models::NetworkCreateRequest {
            ipam: Some(subnets::ipam(s)),
            ..macvlan_network_request(name, &parent, labels.clone())
        })
        .await
        .map_err(|e| {
                EngineError::Launch(format!(
                    "creating the agent network (macvlan on {parent}) failed: {e}; bottle needs the kernel's macvlan driver to keep the agent's broadcast and multicast away from the host"
                ))
            })?;
        let inspected = timed(docker.inspect_network(name, None)).await?;
        if !is_isolated_macvlan(&inspected, &parent) {
            return Err(not_kept("macvlan, bridge mode, internal, no IPv6"));
        }
        inspected.ipam.and_then(|i| i.config).and_then(|c| {
            c.into_iter()
                .find_map(|c| c.subnet.filter(|s| s.contains('.')))
        })
    };
    subnet.ok_or_else(|| EngineError::Launch("the agent network has no IPv4 subnet".into()))
}

/// Podman: the bridge network that holds the agent network's subnet
/// between the carrier's creation and the macvlan network's.
pub fn reserve_network_name(agent_network: &str) -> String {
    format!("{agent_network}-reserve")
}

/// Podman, once the sidecar runs on the carrier (so its bridge device
/// exists): creates the agent network — macvlan on the carrier's bridge,
/// on the reserved subnet — checks it, and drops the reservation.
pub async fn finish_podman_agent_network(
    docker: &Docker,
    host: &str,
    name: &str,
    subnet: &str,
    labels: &std::collections::HashMap<String, String>,
) -> Result<(), EngineError> {
    let (_, parent, _) = libpod::network_interface(host, &carrier_network_name(name)).await?;
    if parent.is_empty() {
        return Err(EngineError::Launch(
            "Podman named no bridge device for the carrier network".into(),
        ));
    }
    timed(docker.remove_network(&reserve_network_name(name))).await?;
    libpod::create_macvlan_network(host, name, &parent, subnet, labels)
        .await
        .map_err(|e| {
            EngineError::Launch(format!(
                "creating the agent network (macvlan on {parent}) failed: {e}; bottle needs the kernel's macvlan driver to keep the agent's broadcast and multicast away from the host"
            ))
        })?;
    let (driver, on, internal) = libpod::network_interface(host, name).await?;
    if driver != "macvlan" || on != parent || !internal {
        return Err(EngineError::Launch(format!(
            "the engine did not keep the agent network isolated (macvlan on {parent}, internal; got {driver} on {on})"
        )));
    }
    Ok(())
}

/// Removes an agent network made by `create_isolated_network` and its
/// carrier (absent ones are skipped); the first error is returned.
pub async fn remove_isolated_network(docker: &Docker, name: &str) -> Result<(), EngineError> {
    let mut first = None;
    for n in [
        name.to_string(),
        carrier_network_name(name),
        reserve_network_name(name),
    ] {
        match timed(docker.remove_network(&n)).await {
            Ok(())
            | Err(EngineError::Api(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            })) => {}
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(()), Err)
}

pub use crate::backends::{BottleObjects, EngineBottle};

/// All bottles of this home (or of every home) in one labelled query.
pub async fn list_bottles(
    docker: &Docker,
    home_hash: Option<&str>,
) -> Result<Vec<EngineBottle>, EngineError> {
    use crate::state::names::{LABEL_AGENT, LABEL_HOME, LABEL_ROLE, LABEL_SLUG};
    let mut labels = vec![LABEL_SLUG.to_string()];
    if let Some(h) = home_hash {
        labels.push(format!("{LABEL_HOME}={h}"));
    }
    let filter = std::collections::HashMap::from([("label".to_string(), labels)]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filter)
        .build();
    let mut out: std::collections::BTreeMap<String, EngineBottle> =
        std::collections::BTreeMap::new();
    for c in timed(docker.list_containers(Some(options))).await? {
        let l = c.labels.unwrap_or_default();
        let Some(slug) = l.get(LABEL_SLUG) else {
            continue;
        };
        // Never trust the engine's label filter alone (see bottle_objects).
        if home_hash.is_some_and(|h| l.get(LABEL_HOME).map(String::as_str) != Some(h)) {
            continue;
        }
        // An export helper is not a bottle's process.
        if l.get(LABEL_ROLE).map(String::as_str) == Some("export") {
            continue;
        }
        let entry = out.entry(slug.clone()).or_insert_with(|| EngineBottle {
            slug: slug.clone(),
            agent: l.get(LABEL_AGENT).cloned().unwrap_or_default(),
            status: crate::backends::inventory::BottleStatus::SidecarOnly,
            sidecar_running: false,
            home: l.get(LABEL_HOME).cloned().unwrap_or_default(),
        });
        let state = c.state.map(|s| s.to_string()).unwrap_or_default();
        match l.get(LABEL_ROLE).map(String::as_str) {
            Some("agent") => {
                let code = c.status.as_deref().and_then(exit_code_of);
                entry.status = match state.as_str() {
                    "" => crate::backends::inventory::BottleStatus::Other(String::new()),
                    s => crate::backends::inventory::BottleStatus::from_engine(s, code),
                }
            }
            Some("sidecar") => entry.sidecar_running = state == "running",
            _ => {}
        }
    }
    Ok(out.into_values().collect())
}

/// `Exited (3) 2 minutes ago` → `3`.
fn exit_code_of(status: &str) -> Option<i32> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

/// A network as the engine lists it.
#[derive(Clone, Debug, Default)]
pub struct NetworkFacts {
    pub name: String,
    pub id: String,
    pub labels: std::collections::HashMap<String, String>,
    /// Its subnets (IPv4 and IPv6), as the engine writes them.
    pub subnets: Vec<String>,
}

/// Whether `host` is Podman, asked once per process and host.
pub async fn is_podman(host: &str) -> bool {
    static KNOWN: std::sync::Mutex<Option<std::collections::HashMap<String, bool>>> =
        std::sync::Mutex::new(None);
    let known = |k: &mut Option<std::collections::HashMap<String, bool>>| {
        k.get_or_insert_with(Default::default).get(host).copied()
    };
    if let Some(v) = known(&mut KNOWN.lock().unwrap_or_else(|e| e.into_inner())) {
        return v;
    }
    match libpod::answers(host).await {
        Ok(v) => {
            KNOWN
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(Default::default)
                .insert(host.to_string(), v);
            v
        }
        Err(_) => false,
    }
}

/// Every network of the engine; Podman's (`podman`: its host) through
/// libpod: its compatible list works out every network's containers and
/// took 19 s with 50 bottles (`libpod::list_networks`).
pub async fn list_networks(
    docker: &Docker,
    podman: Option<&str>,
) -> Result<Vec<NetworkFacts>, EngineError> {
    if let Some(host) = podman {
        return libpod::list_networks(host).await;
    }
    Ok(timed(docker.list_networks(None))
        .await?
        .into_iter()
        .map(|n| NetworkFacts {
            name: n.name.unwrap_or_default(),
            id: n.id.unwrap_or_default(),
            labels: n.labels.unwrap_or_default(),
            subnets: n
                .ipam
                .and_then(|i| i.config)
                .into_iter()
                .flatten()
                .filter_map(|c| c.subnet)
                .collect(),
        })
        .collect())
}

/// All bottle objects on the engine at `host`, of one home or of all, by
/// slug.
pub async fn bottle_objects(
    docker: &Docker,
    host: &str,
    home_hash: Option<&str>,
) -> Result<Vec<BottleObjects>, EngineError> {
    use crate::state::names::{LABEL_HOME, LABEL_SLUG};
    use bollard::query_parameters::{ListContainersOptionsBuilder, ListVolumesOptionsBuilder};
    let mut labels = vec![LABEL_SLUG.to_string()];
    if let Some(h) = home_hash {
        labels.push(format!("{LABEL_HOME}={h}"));
    }
    let filter = std::collections::HashMap::from([("label".to_string(), labels)]);
    let mut by: std::collections::BTreeMap<(String, String), BottleObjects> =
        std::collections::BTreeMap::new();
    // The engine's filter is not trusted alone: Podman ORs several label
    // filters on volumes, which would hand over another home's volumes.
    let mut entry = |l: &std::collections::HashMap<String, String>| -> Option<(String, String)> {
        let key = (l.get(LABEL_HOME)?.clone(), l.get(LABEL_SLUG)?.clone());
        home_hash.is_none_or(|h| h == key.0).then_some(key)
    };
    let containers = timed(
        docker.list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filter)
                .build(),
        )),
    )
    .await?;
    // Every network, filtered here (one engine call either way).
    let podman = is_podman(host).await.then_some(host);
    let networks = list_networks(docker, podman).await?;
    let volumes = timed(
        docker.list_volumes(Some(
            ListVolumesOptionsBuilder::default()
                .filters(&filter)
                .build(),
        )),
    )
    .await?
    .volumes
    .unwrap_or_default();
    for c in containers {
        if let (Some(key), Some(id)) = (c.labels.as_ref().and_then(&mut entry), c.id) {
            by.entry(key.clone())
                .or_insert_with(|| BottleObjects {
                    home: key.0,
                    slug: key.1,
                    ..Default::default()
                })
                .containers
                .push(id);
        }
    }
    for n in networks {
        let id = Some(n.id).filter(|i| !i.is_empty()).unwrap_or(n.name);
        if n.labels.contains_key(LABEL_SLUG) && !id.is_empty() {
            let Some(key) = entry(&n.labels) else {
                continue;
            };
            by.entry(key.clone())
                .or_insert_with(|| BottleObjects {
                    home: key.0,
                    slug: key.1,
                    ..Default::default()
                })
                .networks
                .push(id);
        }
    }
    for v in volumes {
        if let Some(key) = entry(&v.labels) {
            by.entry(key.clone())
                .or_insert_with(|| BottleObjects {
                    home: key.0,
                    slug: key.1,
                    ..Default::default()
                })
                .volumes
                .push(v.name);
        }
    }
    Ok(by.into_values().collect())
}

/// Removes the given objects (containers first, then networks, volumes).
pub async fn remove_objects(docker: &Docker, o: &BottleObjects) -> Result<(), EngineError> {
    for id in &o.containers {
        let rm = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
            .force(true)
            // Anonymous volumes (an image's `VOLUME`) carry no label of ours:
            // removed with their container (issue 18, E12).
            .v(true)
            .build();
        timed(docker.remove_container(id, Some(rm))).await?;
    }
    for id in &o.networks {
        timed(docker.remove_network(id)).await?;
    }
    for name in &o.volumes {
        timed(docker.remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>))
            .await?;
    }
    Ok(())
}

/// Follows the engine's events: calls `started(slug)` each time an agent
/// container of this home starts, until `started` returns false or the
/// stream ends (an error, or the engine went away).
/// The container events that change what the bottle list shows (not
/// `exec_*`: every pane attach and `bottle exec` makes those).
const CHANGE_EVENTS: [&str; 6] = ["create", "start", "die", "destroy", "pause", "unpause"];

/// How long the event stream must stay quiet after it was asked for to
/// count as open (a refused connection or request fails sooner).
const EVENTS_OPEN_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

pub async fn follow_changes(
    docker: &Docker,
    home_hash: &str,
    seen: &mut (dyn FnMut(crate::backends::EngineEvent) -> bool + Send),
) -> Result<(), EngineError> {
    use crate::backends::EngineEvent;
    use crate::state::names::{Role, LABEL_HOME, LABEL_ROLE, LABEL_SLUG};
    use futures_util::StreamExt;
    let filters = std::collections::HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "event".to_string(),
            CHANGE_EVENTS.iter().map(|e| e.to_string()).collect(),
        ),
        (
            "label".to_string(),
            vec![format!("{LABEL_HOME}={home_hash}")],
        ),
    ]);
    let options = bollard::query_parameters::EventsOptionsBuilder::default()
        .filters(&filters)
        .build();
    let mut events = docker.events(Some(options));
    let mut first = match tokio::time::timeout(EVENTS_OPEN_AFTER, events.next()).await {
        Ok(None) => return Ok(()),
        Ok(Some(event)) => Some(event?),
        Err(_) => None,
    };
    if !seen(EngineEvent::Open) {
        return Ok(());
    }
    loop {
        let event = match first.take() {
            Some(e) => e,
            None => match events.next().await {
                Some(e) => e?,
                None => break,
            },
        };
        let action = event.action.clone().unwrap_or_default();
        let Some(attributes) = event.actor.and_then(|a| a.attributes) else {
            continue;
        };
        // Never trust the engine's filter alone (see bottle_objects).
        if attributes.get(LABEL_HOME).map(String::as_str) != Some(home_hash) {
            continue;
        }
        let Some(slug) = attributes.get(LABEL_SLUG).cloned() else {
            continue;
        };
        let agent_started = action == "start"
            && attributes.get(LABEL_ROLE).map(String::as_str) == Some(Role::Agent.as_str());
        if !CHANGE_EVENTS.contains(&action.as_str()) {
            continue;
        }
        if !seen(EngineEvent::Changed {
            slug,
            agent_started,
        }) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod network_tests {
    use super::*;

    #[test]
    fn the_carrier_device_is_named_after_its_network_id() {
        assert_eq!(
            bridge_device_of("d5fe67963aa9cfee4aff002c0803be771ea03e4a8f72e3e218732e40fb1c59e7"),
            Some("br-d5fe67963aa9".to_string())
        );
        assert_eq!(bridge_device_of("short"), None);
        assert_eq!(bridge_device_of("zz; rm -rf /x"), None);
        assert_eq!(
            carrier_network_name("bottle-a-internal"),
            "bottle-a-internal-carrier"
        );
    }

    #[test]
    fn only_a_bridge_mode_internal_macvlan_on_the_carrier_counts_as_isolated() {
        let req = macvlan_network_request("n", "br-0123456789ab", Default::default());
        let mut net = bollard::models::NetworkInspect {
            driver: req.driver.clone(),
            internal: req.internal,
            enable_ipv6: req.enable_ipv6,
            options: req.options.clone(),
            ..Default::default()
        };
        assert!(is_isolated_macvlan(&net, "br-0123456789ab"));
        assert!(!is_isolated_macvlan(&net, "br-ffffffffffff"));
        net.internal = Some(false);
        assert!(!is_isolated_macvlan(&net, "br-0123456789ab"));
        net.internal = Some(true);
        net.driver = Some("bridge".into());
        assert!(!is_isolated_macvlan(&net, "br-0123456789ab"));
        net.driver = Some("macvlan".into());
        if let Some(o) = net.options.as_mut() {
            o.insert("macvlan_mode".into(), "private".into());
        }
        assert!(!is_isolated_macvlan(&net, "br-0123456789ab"));
    }
}
