//! `bottle debug upstream`: a stand-in HTTPS server for tests of the egress
//! proxy, run in a container on an internal test network. It mints its own
//! CA and a certificate for the name each client asks for (SNI; `--name`
//! without one), prints the CA (for `upstream_ca`) as
//! its first output line (JSON), logs every request it gets (method, path,
//! headers) as a JSON line, and answers `upstream ok`. `/sse` streams two
//! events, the second only after the client asked for `/sse-ack`;
//! `/bytes/N` answers N bytes (for benchmarks). Anthropic's Messages API
//! and OpenAI's Responses API get a canned streamed reply. `/echo…`
//! reflects the request's `Authorization` the ways real echo and debug
//! endpoints do (body, response header, gzip, split across chunks; the
//! WebSocket message `reflect`), so tests can show the proxy never hands
//! it to the agent. Every request's `Host` values are logged (`hosts`).
//! Every answer names the connection it came on (`x-standin-conn`: a
//! serial number per stand-in), so tests can see connections reused.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

pub async fn run(name: &str, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let (ca_pem, serve) = start(name, listener, true)?;
    println!("{}", serde_json::json!({"event": "ca", "pem": ca_pem}));
    println!(
        "{}",
        serde_json::json!({"event": "listening", "addr": listen.to_string()})
    );
    serve.await
}

/// The stand-in on `listener`: its CA's PEM, and the future that serves
/// (`log`: print each request).
pub fn start(
    name: &str,
    listener: tokio::net::TcpListener,
    log: bool,
) -> anyhow::Result<(
    String,
    impl std::future::Future<Output = anyhow::Result<()>>,
)> {
    let (ca, serve, _) = start_counted(name, listener, log)?;
    Ok((ca, serve))
}

/// What an in-process stand-in saw (for tests and benchmarks in the same
/// process), and a way to close the connections it has open.
#[derive(Debug)]
pub struct Seen {
    /// Connections accepted.
    pub connections: std::sync::atomic::AtomicU64,
    /// Requests answered, in order.
    pub requests: std::sync::Mutex<Vec<Got>>,
    cut: tokio::sync::watch::Sender<u64>,
}

/// One request the stand-in got.
#[derive(Clone, Debug)]
pub struct Got {
    /// The connection's serial (`x-standin-conn`).
    pub conn: u64,
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

impl Seen {
    /// The requests so far.
    pub fn requests(&self) -> Vec<Got> {
        self.requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Closes every connection open now (as an upstream's keep-alive
    /// timeout does to idle ones).
    pub fn close_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

/// `start`, with what the stand-in saw.
pub fn start_counted(
    name: &str,
    listener: tokio::net::TcpListener,
    log: bool,
) -> anyhow::Result<(
    String,
    impl std::future::Future<Output = anyhow::Result<()>>,
    Arc<Seen>,
)> {
    let (ca_pem, ca_key) = super::ca::mint_ca("stand-in").map_err(|e| anyhow::anyhow!("{e}"))?;
    let minter = super::ca::LeafMinter::new(&ca_pem, &ca_key).map_err(anyhow::Error::msg)?;
    let seen = Arc::new(Seen {
        connections: Default::default(),
        requests: Default::default(),
        cut: tokio::sync::watch::channel(0).0,
    });
    Ok((
        ca_pem,
        serve(
            listener,
            Arc::new(minter),
            name.to_string(),
            log,
            seen.clone(),
        ),
        seen,
    ))
}

async fn serve(
    listener: tokio::net::TcpListener,
    minter: Arc<super::ca::LeafMinter>,
    name: String,
    log: bool,
    seen: Arc<Seen>,
) -> anyhow::Result<()> {
    let acked = Arc::new(tokio::sync::Notify::new());
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let (minter, name, acked) = (minter.clone(), name.clone(), acked.clone());
        let serial = seen
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let mut cut = seen.cut.subscribe();
        let seen = seen.clone();
        tokio::spawn(async move {
            let acceptor =
                tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
            let Ok(start) = acceptor.await else {
                return;
            };
            let host = start
                .client_hello()
                .server_name()
                .unwrap_or(&name)
                .to_string();
            let Ok(config) = minter.config_for(&host) else {
                return;
            };
            let Ok(tls) = start.into_stream(config).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                recorded(req, acked.clone(), log, seen.clone(), serial)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                _ = cut.changed() => {}
            }
        });
    }
}

/// `answer`, with the request recorded and the connection named.
async fn recorded(
    req: Request<hyper::body::Incoming>,
    acked: Arc<tokio::sync::Notify>,
    log: bool,
    seen: Arc<Seen>,
    serial: u64,
) -> Result<Response<Body>, BoxError> {
    if let Ok(mut r) = seen.requests.lock() {
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        r.push(Got {
            conn: serial,
            method: req.method().to_string(),
            path: req.uri().to_string(),
            authorization: auth,
        });
    }
    let mut resp = answer(req, acked, log).await?;
    resp.headers_mut()
        .insert("x-standin-conn", hyper::header::HeaderValue::from(serial));
    Ok(resp)
}

async fn answer(
    mut req: Request<hyper::body::Incoming>,
    acked: Arc<tokio::sync::Notify>,
    log: bool,
) -> Result<Response<Body>, BoxError> {
    if let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .and_then(|k| k.to_str().ok())
        .map(str::to_string)
    {
        // A WebSocket echo: each text message comes back as `echo: …`
        // (`reflect` gets the handshake's Authorization). A requested
        // permessage-deflate is accepted, as permissive servers do.
        let extensions = req
            .headers()
            .get("sec-websocket-extensions")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let auth = req
            .headers()
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        println!(
            "{}",
            serde_json::json!({"event": "request", "method": "GET", "path": req.uri().to_string(), "websocket": true, "extensions": extensions})
        );
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let Ok(up) = upgrade.await else { return };
            let mut io = TokioIo::new(up);
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 65536];
            loop {
                while let Ok(Some(f)) = super::ws::parse(&buf) {
                    buf.drain(..f.len);
                    if f.opcode == 8 {
                        return;
                    }
                    let text = String::from_utf8_lossy(&f.payload).into_owned();
                    println!("{}", serde_json::json!({"event": "ws", "text": text}));
                    let answer = if text == "reflect" {
                        format!("your authorization: {auth}")
                    } else {
                        format!("echo: {text}")
                    };
                    let reply = super::ws::encode(1, answer.as_bytes(), None);
                    if io.write_all(&reply).await.is_err() {
                        return;
                    }
                }
                match io.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let mut r = Response::new(full(""));
        *r.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(
            "upgrade",
            hyper::header::HeaderValue::from_static("websocket"),
        );
        h.insert(
            "connection",
            hyper::header::HeaderValue::from_static("Upgrade"),
        );
        h.insert(
            "sec-websocket-accept",
            hyper::header::HeaderValue::from_str(&super::ws::accept_key(&key))?,
        );
        if let Some(ext) = extensions.filter(|e| e.contains("permessage-deflate")) {
            let _ = ext;
            h.insert(
                "sec-websocket-extensions",
                hyper::header::HeaderValue::from_static("permessage-deflate"),
            );
        }
        return Ok(r);
    }
    let hosts: Vec<String> = req
        .headers()
        .get_all("host")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                serde_json::Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let method = req.method().to_string();
    let path = req.uri().to_string();
    let body = req.into_body().collect().await?.to_bytes();
    if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        // n bytes of text, in 64 KiB frames.
        let stream = futures_util::stream::iter((0..n.div_ceil(65536)).map(move |i| {
            let len = (n - i * 65536).min(65536);
            Ok::<_, BoxError>(Frame::data(Bytes::from(vec![b'a' + (i % 26) as u8; len])))
        }));
        return Ok(Response::new(BodyExt::boxed(StreamBody::new(stream))));
    }
    if !log {
        return Ok(Response::new(full("upstream ok\n")));
    }
    println!(
        "{}",
        serde_json::json!({"event": "request", "method": method, "path": path, "headers": headers, "hosts": hosts, "body": String::from_utf8_lossy(&body)})
    );
    if let Some(r) = echo(&path, &headers) {
        return Ok(r);
    }
    if path == "/sse-ack" {
        acked.notify_one();
    }
    if path == "/redirect" {
        let mut r = Response::new(full("moved\n"));
        *r.status_mut() = hyper::StatusCode::FOUND;
        r.headers_mut().insert(
            "location",
            hyper::header::HeaderValue::from_static("https://unrouted.invalid/"),
        );
        return Ok(r);
    }
    if path == "/sse" {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(2);
        tokio::spawn(async move {
            let _ = tx
                .send(Ok(Frame::data(Bytes::from_static(b"data: event-1\n\n"))))
                .await;
            acked.notified().await;
            let _ = tx
                .send(Ok(Frame::data(Bytes::from_static(b"data: event-2\n\n"))))
                .await;
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            let item: Option<Result<Frame<Bytes>, BoxError>> = rx.recv().await;
            item.map(|i| (i, rx))
        });
        let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
        r.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("text/event-stream"),
        );
        return Ok(r);
    }
    // Anthropic's Messages API, as far as a Claude Code turn needs it: a
    // streamed reply with one text block.
    if method == "POST" && path.starts_with("/v1/messages/count_tokens") {
        return Ok(typed(r#"{"input_tokens":12}"#, "application/json"));
    }
    if method == "POST" && path.starts_with("/v1/messages") {
        return Ok(typed(MESSAGES_SSE, "text/event-stream"));
    }
    // ChatGPT's workspace discovery, which Codex needs before a session:
    // one personal workspace, the account Codex asked about.
    if method == "GET" && path.starts_with("/backend-api/wham/accounts/check") {
        let id = headers
            .get("chatgpt-account-id")
            .and_then(|v| v.as_str())
            .unwrap_or("account")
            .to_string();
        let v = serde_json::json!({
            "accounts": [{
                "id": id, "account_id": id, "account_user_id": format!("user__{id}"),
                "account_user_role": "account-owner", "structure": "personal", "plan_type": "plus",
                "name": "stand-in", "is_deactivated": false, "is_zdr": false,
                "is_openai_internal": false, "is_fedramp_compliant_workspace": false,
                "workspace_backend_origin": "NO_CONSTRAINT", "account_routing_override": "NO_CONSTRAINT",
                "can_access_with_session": true,
            }],
            "default_account_id": id,
            "account_ordering": [id],
        });
        return Ok(typed(v.to_string(), "application/json"));
    }
    // OpenAI's Responses API, as far as a Codex turn needs it (ChatGPT
    // sign-in posts to `/backend-api/codex/responses`).
    if method == "POST"
        && path
            .split('?')
            .next()
            .is_some_and(|p| p.ends_with("/responses"))
    {
        return Ok(typed(RESPONSES_SSE, "text/event-stream"));
    }
    Ok(Response::new(full("upstream ok\n")))
}

const RESPONSES_SSE: &str = concat!(
    "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_standin\"}}\n\n",
    "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"message\",\"role\":\"assistant\",\"id\":\"msg_standin\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hello from the stand-in upstream.\"}]}}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_standin\",\"usage\":{\"input_tokens\":12,\"input_tokens_details\":null,\"output_tokens\":8,\"output_tokens_details\":null,\"total_tokens\":20}}}\n\n",
);

/// The text of the stand-in's Messages API reply.
pub const MESSAGES_REPLY: &str = "Hello from the stand-in upstream.";

const MESSAGES_SSE: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_standin\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello from the stand-in upstream.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":8}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

/// `/echo` (the request's headers as JSON), `/echo/header` (the
/// Authorization in a response header), `/echo/gzip` (the JSON,
/// gzip-encoded), `/echo/split` (the Authorization streamed in two halves).
fn echo(
    path: &str,
    headers: &serde_json::Map<String, serde_json::Value>,
) -> Option<Response<Body>> {
    // A last segment `m-…` is a test's marker.
    let path = path.split('?').next().unwrap_or(path);
    let path = path.split("/m-").next().unwrap_or(path);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let json = serde_json::json!({"headers": headers}).to_string();
    match path {
        "/echo" => Some(typed(json, "application/json")),
        "/echo/header" => {
            let mut r = typed("reflected in a header\n", "text/plain");
            if let Ok(v) = hyper::header::HeaderValue::from_str(&auth) {
                r.headers_mut().insert("x-echo-authorization", v);
            }
            Some(r)
        }
        "/echo/gzip" => {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(json.as_bytes()).ok()?;
            let mut r = typed(gz.finish().ok()?, "application/json");
            r.headers_mut().insert(
                "content-encoding",
                hyper::header::HeaderValue::from_static("gzip"),
            );
            Some(r)
        }
        "/echo/split" => {
            let half = (0..=auth.len() / 2)
                .rev()
                .find(|i| auth.is_char_boundary(*i))
                .unwrap_or(0);
            let (a, b) = (
                format!("first half: {}", &auth[..half]),
                format!("{} (second half)\n", &auth[half..]),
            );
            let stream = futures_util::stream::unfold(0u8, move |i| {
                let (a, b) = (a.clone(), b.clone());
                async move {
                    match i {
                        0 => Some((Ok::<_, BoxError>(Frame::data(Bytes::from(a))), 1)),
                        1 => {
                            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                            Some((Ok(Frame::data(Bytes::from(b))), 2))
                        }
                        _ => None,
                    }
                }
            });
            Some(Response::new(BodyExt::boxed(StreamBody::new(stream))))
        }
        _ => None,
    }
}

/// A body with its content type.
fn typed(body: impl Into<Bytes>, content_type: &'static str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

fn full(text: &'static str) -> Body {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed()
}

/// `bottle debug connect-proxy`: a stand-in for an operator's HTTP proxy
/// (tests of `egress.upstream_proxy`): it logs each CONNECT (target and the
/// Proxy-Authorization it got) as a JSON line and tunnels it.
pub async fn connect_proxy(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "{}",
        serde_json::json!({"event": "listening", "addr": listen.to_string()})
    );
    loop {
        let (mut tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut b = [0u8; 1];
                match tcp.read(&mut b).await {
                    Ok(1) if head.len() < 16384 => head.push(b[0]),
                    _ => return,
                }
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let target = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("CONNECT "))
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or_default()
                .to_string();
            let auth = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .starts_with("proxy-authorization:")
                        .then(|| l["proxy-authorization:".len()..].trim().to_string())
                })
                .unwrap_or_default();
            println!(
                "{}",
                serde_json::json!({"event": "connect", "target": target, "proxy_authorization": auth})
            );
            answer_connect(tcp, &target).await;
        });
    }
}

/// Answers a CONNECT already read from `tcp`: 502 when `to` does not
/// answer, else 200 and the bytes relayed both ways until either side ends.
pub(crate) async fn answer_connect(mut tcp: tokio::net::TcpStream, to: &str) {
    use tokio::io::AsyncWriteExt;
    let Ok(mut upstream) = tokio::net::TcpStream::connect(to).await else {
        let _ = tcp.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if tcp
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut upstream).await;
    }
}
