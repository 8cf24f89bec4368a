//! A blind tunnel for a `tls_passthrough` route, once the ClientHello's
//! SNI names the CONNECT host.

use super::pool::Upstreams;
use super::sni::{client_hello_sni, SniParse};
use super::upstream::connect_checked;
use super::{Ask, Egress};
use crate::policy::routes::Route;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A blind tunnel for a `tls_passthrough` route: the ClientHello must name
/// the CONNECT host; then bytes are copied both ways.
pub(super) async fn passthrough(
    mut io: TokioIo<hyper::upgrade::Upgraded>,
    host: &str,
    port: u16,
    route: &Route,
    eg: &Egress,
    ups: &Upstreams,
) {
    let ask = Ask {
        host,
        port,
        method: "CONNECT",
    };
    let mut hello = vec![0u8; 0];
    let mut buf = [0u8; 4096];
    // Read until the whole first record is in (bounded).
    let sni = loop {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => hello.extend_from_slice(&buf[..n]),
        }
        match client_hello_sni(&hello) {
            SniParse::Incomplete if hello.len() < 16 * 1024 => continue,
            SniParse::Found(name) => break Some(name),
            _ => break None,
        }
    };
    let matches = sni
        .as_deref()
        .and_then(crate::policy::routes::normalize_host)
        == crate::policy::routes::normalize_host(host);
    if !matches {
        ask.log(
            "denied",
            "",
            serde_json::json!({"reason": "passthrough SNI differs from the CONNECT host", "sni": sni}),
        );
        return;
    }
    let mut upstream = match connect_checked(host, port, route, &eg.secrets_dir, &ups.resolve).await
    {
        Ok(s) => s,
        Err(e) => {
            ask.log("denied", "", serde_json::json!({"reason": e}));
            return;
        }
    };
    ask.log("allowed", "", serde_json::json!({"passthrough": true}));
    if upstream.write_all(&hello).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut io, &mut upstream).await;
}
