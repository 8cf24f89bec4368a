//! What runs inside the sidecar container (`bottle sidecar`): the DNS
//! refuser, a health listener, the egress proxy and the supervise MCP
//! server and the git gate. Never imports `ui`, `session` or
//! `app`.

pub mod dns;
pub mod egress;
pub mod gitgate;
pub mod supervise;

use anyhow::{Context, Result};
use std::net::{IpAddr, SocketAddr};
use tokio::io::AsyncWriteExt;

pub struct SidecarConfig {
    pub dns_listen: SocketAddr,
    pub health_listen: SocketAddr,
    /// The address the agent reaches the sidecar at (answered for the
    /// service names).
    pub service_addr: IpAddr,
    /// The read-only egress directory (CA, routes.json, upstream_ca.pem);
    /// the proxy runs when it holds a CA.
    pub egress_dir: std::path::PathBuf,
    /// Secret values (a tmpfs), put there after start.
    pub secrets_dir: std::path::PathBuf,
    /// The proxy's port on `service_addr`.
    pub egress_port: u16,
    /// This bottle's queue directory; the MCP server runs when it exists.
    pub queue_dir: std::path::PathBuf,
    /// The MCP server's port on `service_addr`.
    pub supervise_port: u16,
    /// The git gate's repositories (a volume); it runs when the egress
    /// directory holds a `gitgate.json` with repositories.
    pub gitgate_root: std::path::PathBuf,
    /// The git gate's port on `service_addr`.
    pub gitgate_port: u16,
}

type Task = tokio::task::JoinHandle<()>;

/// Starts the egress proxy when the egress directory holds a CA.
async fn start_egress(
    config: &SidecarConfig,
) -> Result<Option<(Task, std::sync::Arc<egress::proxy::Egress>)>> {
    let dir = &config.egress_dir;
    let (Ok(cert), Ok(key)) = (
        std::fs::read_to_string(dir.join("ca.pem")),
        std::fs::read_to_string(dir.join("ca.key")),
    ) else {
        return Ok(None);
    };
    let minter = egress::ca::LeafMinter::new(&cert, &key).map_err(anyhow::Error::msg)?;
    let extra = std::fs::read(dir.join("upstream_ca.pem")).ok();
    let upstream = egress::proxy::upstream_tls(extra.as_deref()).map_err(anyhow::Error::msg)?;
    let eg = std::sync::Arc::new(egress::proxy::Egress {
        table: std::sync::RwLock::new(std::sync::Arc::new(Default::default())),
        minter,
        upstream_tls: std::sync::Arc::new(upstream),
        secrets_dir: config.secrets_dir.clone(),
        scanner: std::sync::RwLock::new(std::sync::Arc::new(Default::default())),
    });
    let listen = SocketAddr::new(config.service_addr, config.egress_port);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the egress proxy on {listen}"))?;
    tokio::spawn(egress::proxy::watch(dir.join("routes.json"), eg.clone()));
    println!(
        "{}",
        serde_json::json!({"event": "egress", "listen": listen.to_string()})
    );
    let serving = eg.clone();
    Ok(Some((
        tokio::spawn(async move {
            if let Err(e) = egress::proxy::serve(listener, serving).await {
                eprintln!("egress proxy: {e}");
            }
        }),
        eg,
    )))
}

/// Starts the MCP server when this bottle is supervised (its queue
/// directory is mounted).
async fn start_supervise(
    config: &SidecarConfig,
    eg: Option<std::sync::Arc<egress::proxy::Egress>>,
) -> Result<Option<Task>> {
    if !config.queue_dir.is_dir() {
        return Ok(None);
    }
    let listen = SocketAddr::new(config.service_addr, config.supervise_port);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the supervise server on {listen}"))?;
    let sv = std::sync::Arc::new(supervise::Supervise::new(
        config.queue_dir.clone(),
        eg.map(|e| (e, config.egress_dir.join("routes.json"))),
        supervise::WAIT,
    ));
    println!(
        "{}",
        serde_json::json!({"event": "supervise", "listen": listen.to_string()})
    );
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = supervise::serve(listener, sv).await {
            eprintln!("supervise: {e}");
        }
    })))
}

/// Starts the git gate when this bottle has one.
async fn start_gitgate(config: &SidecarConfig) -> Result<Option<Task>> {
    let Some(file) = gitgate::load(&config.egress_dir)? else {
        return Ok(None);
    };
    let paths = gitgate::upstream::Paths {
        root: config.gitgate_root.clone(),
        config_dir: config.egress_dir.clone(),
        secrets_dir: config.secrets_dir.clone(),
        scratch: std::path::PathBuf::from("/tmp/gitgate"),
    };
    let gate = std::sync::Arc::new(gitgate::Gate::new(file, paths).await?);
    let listen = SocketAddr::new(config.service_addr, config.gitgate_port);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the git gate on {listen}"))?;
    println!(
        "{}",
        serde_json::json!({"event": "gitgate", "listen": listen.to_string(), "repos": gate.names()})
    );
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = gitgate::serve(listener, gate).await {
            eprintln!("git gate: {e}");
        }
    })))
}

/// Waits for a task that may not exist (then forever).
async fn maybe(task: Option<Task>) {
    match task {
        Some(t) => {
            let _ = t.await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// This host's IPv4 address inside `net` (from the interface list).
pub fn address_in(net: &ipnet::Ipv4Net) -> Result<IpAddr> {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we walk read-only and free once.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        anyhow::bail!("listing interfaces: {}", std::io::Error::last_os_error());
    }
    let mut found = None;
    let mut cur = addrs;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null()
            && i32::from(unsafe { (*ifa.ifa_addr).sa_family }) == libc::AF_INET
        {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            if net.contains(&ip) {
                found = Some(IpAddr::V4(ip));
                break;
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: freeing the list getifaddrs allocated, once.
    unsafe { libc::freeifaddrs(addrs) };
    found.with_context(|| format!("no interface address in {net}"))
}

pub async fn run(config: SidecarConfig) -> Result<()> {
    let refuser = dns::Refuser::new(config.service_addr);
    let udp = tokio::net::UdpSocket::bind(config.dns_listen)
        .await
        .with_context(|| format!("binding DNS on {}", config.dns_listen))?;
    let tcp = tokio::net::TcpListener::bind(config.dns_listen)
        .await
        .with_context(|| format!("binding DNS/TCP on {}", config.dns_listen))?;
    let health = tokio::net::TcpListener::bind(config.health_listen)
        .await
        .with_context(|| format!("binding health on {}", config.health_listen))?;
    let (egress_task, eg) = match start_egress(&config).await? {
        Some((t, eg)) => (Some(t), Some(eg)),
        None => (None, None),
    };
    let supervise_task = start_supervise(&config, eg).await?;
    let gitgate_task = start_gitgate(&config).await?;
    tracing::info!(dns = %config.dns_listen, health = %config.health_listen, "sidecar up");
    println!(
        "{}",
        serde_json::json!({"event": "ready", "address": config.service_addr.to_string(), "dns": config.dns_listen.to_string(), "health": config.health_listen.to_string()})
    );
    let health_task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = health.accept().await {
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n")
                .await;
        }
    });
    tokio::select! {
        r = dns::serve_udp(udp, refuser.clone()) => r.context("DNS over UDP")?,
        r = dns::serve_tcp(tcp, refuser) => r.context("DNS over TCP")?,
        _ = health_task => {}
        _ = maybe(egress_task) => {}
        _ = maybe(supervise_task) => {}
        _ = maybe(gitgate_task) => {}
    }
    Ok(())
}
