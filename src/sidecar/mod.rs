//! What runs inside the sidecar container (`bottle sidecar`). Today: the
//! DNS refuser and a health listener; the egress proxy, supervise server
//! and git gate come later. Never imports `ui`, `session` or `app`.

pub mod dns;
pub mod egress;

use anyhow::{Context, Result};
use std::net::{IpAddr, SocketAddr};
use tokio::io::AsyncWriteExt;

pub struct SidecarConfig {
    pub dns_listen: SocketAddr,
    pub health_listen: SocketAddr,
    /// The address the agent reaches the sidecar at (answered for the
    /// service names).
    pub service_addr: IpAddr,
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
    }
    Ok(())
}
