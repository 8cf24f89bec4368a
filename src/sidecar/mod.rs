//! What runs inside the sidecar container (`bottle sidecar`). Today: the
//! DNS refuser and a health listener; the egress proxy, supervise server
//! and git gate come later. Never imports `ui`, `session` or `app`.

pub mod dns;

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
        serde_json::json!({"event": "ready", "dns": config.dns_listen.to_string(), "health": config.health_listen.to_string()})
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
