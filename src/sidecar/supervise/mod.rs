//! The supervise MCP server (SPEC §5.4) in the sidecar: Streamable HTTP at
//! `http://supervise:9100/mcp`, JSON-RPC 2.0. Tool calls that need the
//! operator write a request into this bottle's queue directory (the only
//! part of the queue mounted here) and wait up to 45 s for the host's
//! decision; an approved route is answered only once this sidecar's proxy
//! serves it. Never imports `ui`, `session` or `app`.

pub mod mcp;
pub mod tools;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the sidecar sees `queue/<slug>/`.
pub const QUEUE_DIR: &str = "/run/bottle/queue";
/// How long a call waits for the operator before answering `pending`.
pub const WAIT: Duration = Duration::from_secs(45);

pub struct Supervise {
    pub queue_dir: PathBuf,
    /// The proxy of this sidecar (to list routes and to wait for an
    /// approved one to be live), and where its routes.json is.
    pub egress: Option<(Arc<crate::sidecar::egress::proxy::Egress>, PathBuf)>,
    pub wait: Duration,
    /// Session id → negotiated protocol version.
    sessions: Mutex<HashMap<String, String>>,
    /// Serializes "count pending, then write" (the 16-request limit).
    writing: tokio::sync::Mutex<()>,
}

impl Supervise {
    pub fn new(
        queue_dir: PathBuf,
        egress: Option<(Arc<crate::sidecar::egress::proxy::Egress>, PathBuf)>,
        wait: Duration,
    ) -> Supervise {
        Supervise {
            queue_dir,
            egress,
            wait,
            sessions: Mutex::default(),
            writing: tokio::sync::Mutex::new(()),
        }
    }
}

/// Serves MCP on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, sv: Arc<Supervise>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let sv = sv.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| mcp::handle(req, sv.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
