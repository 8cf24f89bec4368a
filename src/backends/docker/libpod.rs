//! The few Podman calls the Docker-compatible API cannot express, made on
//! Podman's own (libpod) API over the same socket as bollard (the engine's
//! host: a Unix socket or `tcp://`).
//!
//! Podman's compatible `networks/create` always turns on its DNS server
//! (aardvark-dns) for bridge networks, which gives the bridge a host-side
//! address on an `internal` network — the hole that `inhibit_ipv4` closes on
//! Docker (which Podman ignores). Through libpod the carrier is created
//! `internal` with DNS off, and then the bridge has no host address at
//! all; the agent network is a macvlan network on that bridge (the
//! compatible API has no `network_interface` or libpod subnets).

use super::{EngineError, CALL_TIMEOUT};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;

/// The libpod API version this speaks (Podman 4.0 and later accept it).
const API: &str = "/v4.0.0/libpod";

enum Endpoint {
    Unix(String),
    Tcp(String),
}

fn endpoint(host: &str) -> Result<Endpoint, EngineError> {
    if host.is_empty() {
        return Ok(Endpoint::Unix("/var/run/docker.sock".into()));
    }
    if let Some(path) = host.strip_prefix("unix://") {
        return Ok(Endpoint::Unix(path.to_string()));
    }
    if let Some(addr) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        return Ok(Endpoint::Tcp(addr.trim_end_matches('/').to_string()));
    }
    Err(EngineError::Connect(format!(
        "{host}: Podman's own API is reached over unix:// or tcp:// only"
    )))
}

async fn send(
    io: impl hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    req: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

/// One JSON request; a non-2xx answer is an error carrying the engine's
/// message.
async fn call(
    host: &str,
    method: hyper::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, EngineError> {
    let (status, value) = request(host, method, path, body).await?;
    if !(200..300).contains(&status) {
        let message = value["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| value.to_string());
        return Err(EngineError::Launch(format!(
            "podman {path}: {status}: {message}"
        )));
    }
    Ok(value)
}

/// Whether the engine at `host` is Podman: it answers libpod's `_ping`
/// (Docker answers 404).
pub async fn answers(host: &str) -> Result<bool, EngineError> {
    let (status, _) = request(host, hyper::Method::GET, "/_ping", None).await?;
    Ok((200..300).contains(&status))
}

/// Every network Podman has: name, id, labels and subnets, from libpod's
/// list (its compatible list works out each network's containers and took
/// 19 s with 50 bottles on one engine; this one takes milliseconds).
pub async fn list_networks(host: &str) -> Result<Vec<super::NetworkFacts>, EngineError> {
    let v = call(host, hyper::Method::GET, "/networks/json", None).await?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .map(|n| super::NetworkFacts {
            name: n["name"].as_str().unwrap_or_default().to_string(),
            id: n["id"].as_str().unwrap_or_default().to_string(),
            labels: n["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            subnets: n["subnets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["subnet"].as_str().map(String::from))
                .collect(),
        })
        .collect())
}

/// One request: the status and the JSON answer (a string when not JSON).
async fn request(
    host: &str,
    method: hyper::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<(u16, serde_json::Value), EngineError> {
    let endpoint = endpoint(host)?;
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("{API}{path}"))
        .header("host", "podman")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| EngineError::Local(e.to_string()))?;
    let exchange = async {
        match &endpoint {
            Endpoint::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(|e| format!("{p}: {e}"))?;
                send(TokioIo::new(s), req).await
            }
            Endpoint::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(|e| format!("{a}: {e}"))?;
                send(TokioIo::new(s), req).await
            }
        }
    };
    let (status, body) = tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .map_err(|_| EngineError::Timeout(CALL_TIMEOUT))?
        .map_err(EngineError::Connect)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    Ok((status, value))
}

/// The body every agent-side network shares: `internal`, DNS and IPv6
/// off, labelled; `extra` adds the driver's own fields.
fn isolated_body(
    name: &str,
    labels: &HashMap<String, String>,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "name": name,
        "internal": true,
        "dns_enabled": false,
        "ipv6_enabled": false,
        "labels": labels,
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

/// Creates an `internal` bridge network with DNS and IPv6 off.
pub async fn create_isolated_network(
    host: &str,
    name: &str,
    labels: &HashMap<String, String>,
) -> Result<(), EngineError> {
    let body = isolated_body(name, labels, serde_json::json!({"driver": "bridge"}));
    call(host, hyper::Method::POST, "/networks/create", Some(body)).await?;
    Ok(())
}

/// Podman's own view of a network: whether it is internal with DNS and
/// IPv6 off, and its first IPv4 subnet.
pub async fn inspect_network(
    host: &str,
    name: &str,
) -> Result<(bool, Option<String>), EngineError> {
    let v = call(
        host,
        hyper::Method::GET,
        &format!("/networks/{name}/json"),
        None,
    )
    .await?;
    // Podman 4 answers one object; some versions a one-element list.
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(&v).clone();
    let isolated = v["internal"] == true && v["dns_enabled"] == false && v["ipv6_enabled"] != true;
    let subnet = v["subnets"].as_array().and_then(|s| {
        s.iter()
            .filter_map(|s| s["subnet"].as_str())
            .find(|s| s.contains('.'))
            .map(String::from)
    });
    Ok((isolated, subnet))
}

/// Creates the agent network on Podman: `macvlan` in bridge mode on
/// `parent` (the carrier's bridge device, which must exist: a container
/// runs on the carrier), `internal`, DNS and IPv6 off, on `subnet`
/// (Podman's macvlan without a subnet means DHCP).
pub async fn create_macvlan_network(
    host: &str,
    name: &str,
    parent: &str,
    subnet: &str,
    labels: &HashMap<String, String>,
) -> Result<(), EngineError> {
    let body = isolated_body(
        name,
        labels,
        serde_json::json!({
            "driver": "macvlan",
            "network_interface": parent,
            "subnets": [{"subnet": subnet}],
            "options": {"mode": "bridge"},
        }),
    );
    call(host, hyper::Method::POST, "/networks/create", Some(body)).await?;
    Ok(())
}

/// Podman's view of a network: its driver, host interface (the bridge
/// device, or a macvlan's parent) and whether it is internal.
pub async fn network_interface(
    host: &str,
    name: &str,
) -> Result<(String, String, bool), EngineError> {
    let v = call(
        host,
        hyper::Method::GET,
        &format!("/networks/{name}/json"),
        None,
    )
    .await?;
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(&v).clone();
    Ok((
        v["driver"].as_str().unwrap_or_default().to_string(),
        v["network_interface"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        v["internal"] == true,
    ))
}
