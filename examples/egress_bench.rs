//! The egress proxy beside a direct connection and mitmproxy, in one run:
//! added latency per request (one keep-alive connection, sequential GETs)
//! and a large download, first on loopback, then with a round-trip time
//! added between the proxies and the stand-in upstream (a delaying TCP
//! relay in front of it: this machine's kernel has no netem); and the DLP
//! scanner's throughput, one pass beside the per-rule reference.
//!
//! `cargo run --release --example egress_bench -- [REQUESTS] [MIB] [RTT_MS] [RTT_REQUESTS]`
//! (mitmproxy is included when `mitmdump` is on PATH).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

fn tls_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("pem")).expect("root");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// A keep-alive connection to the upstream, directly or through a proxy.
async fn connect(upstream: SocketAddr, proxy: Option<SocketAddr>, trust: &str) -> Sender {
    let target = format!("{}:{}", upstream.ip(), upstream.port());
    let mut tcp = tokio::net::TcpStream::connect(proxy.unwrap_or(upstream))
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    if proxy.is_some() {
        tcp.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
            .await
            .expect("CONNECT");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            tcp.read_exact(&mut b).await.expect("CONNECT reply");
            head.push(b[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"));
    }
    let name = rustls_pki_types::ServerName::try_from(upstream.ip().to_string()).expect("name");
    let tls = tokio_rustls::TlsConnector::from(tls_config(trust))
        .connect(name, tcp)
        .await
        .expect("TLS");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

async fn get(sender: &mut Sender, host: &str, path: &str) -> usize {
    sender.ready().await.expect("ready");
    let req = hyper::Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut body = resp.into_body();
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.expect("frame").into_data() {
            n += d.len();
        }
    }
    n
}

/// A TCP relay in front of `target` that delays every byte by `one_way`
/// in each direction (so `2 × one_way` of round-trip time), and a new
/// connection's first bytes by one more round trip (the TCP handshake a
/// real network charges: the relay's own accept is instant). Counts the
/// connections it accepts.
async fn delaying_relay(
    listener: tokio::net::TcpListener,
    target: SocketAddr,
    one_way: Duration,
    accepted: Arc<AtomicU64>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        accepted.fetch_add(1, Ordering::Relaxed);
        let opened = tokio::time::Instant::now();
        tokio::spawn(async move {
            let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let handshake = opened + 2 * one_way;
            tokio::spawn(delayed_pipe(cr, sw, one_way, handshake));
            tokio::spawn(delayed_pipe(sr, cw, one_way, opened));
        });
    }
}

async fn delayed_pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    not_before: tokio::time::Instant,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, data)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&data).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 65536];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let due = (tokio::time::Instant::now() + delay).max(not_before + delay);
                if tx.send((due, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

struct Row {
    name: String,
    p50_us: f64,
    p99_us: f64,
    mib_s: f64,
    /// Connections the relay accepted for this row (RTT mode).
    upstream_conns: Option<u64>,
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    name: &str,
    upstream: SocketAddr,
    proxy: Option<SocketAddr>,
    trust: &str,
    requests: usize,
    warmup: usize,
    mib: usize,
    relay_count: Option<&AtomicU64>,
) -> Row {
    let before = relay_count.map(|c| c.load(Ordering::Relaxed));
    let host = format!("{}:{}", upstream.ip(), upstream.port());
    let mut s = connect(upstream, proxy, trust).await;
    for _ in 0..warmup {
        get(&mut s, &host, "/").await;
    }
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let t = Instant::now();
        get(&mut s, &host, "/").await;
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    let t = Instant::now();
    let n = get(&mut s, &host, &format!("/bytes/{}", mib << 20)).await;
    let secs = t.elapsed().as_secs_f64();
    Row {
        name: name.to_string(),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        mib_s: n as f64 / (1 << 20) as f64 / secs,
        upstream_conns: relay_count
            .zip(before)
            .map(|(c, b)| c.load(Ordering::Relaxed) - b),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let requests = arg(1, 2000);
    let mib = arg(2, 100);
    let rtt_ms = arg(3, 20);
    let rtt_requests = arg(4, 200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(requests, mib, rtt_ms as u64, rtt_requests));
}

/// `mitmdump` on a free port, trusting the stand-in's CA; its own CA.
async fn start_mitmdump(
    dir: &std::path::Path,
    up_ca: &str,
) -> Option<(std::process::Child, SocketAddr, String)> {
    let up_ca_file = dir.join("upstream-ca.pem");
    std::fs::write(&up_ca_file, up_ca).expect("write");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let child = std::process::Command::new("mitmdump")
        .args([
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            &port.to_string(),
            "-q",
        ])
        .arg("--set")
        .arg(format!("confdir={}", dir.display()))
        .arg("--set")
        .arg(format!(
            "ssl_verify_upstream_trusted_ca={}",
            up_ca_file.display()
        ))
        .stdout(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(child) => {
            let ca_file = dir.join("mitmproxy-ca-cert.pem");
            let start = Instant::now();
            while (!ca_file.exists() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err())
                && start.elapsed() < Duration::from_secs(60)
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let mitm_ca = std::fs::read_to_string(&ca_file).expect("mitmproxy CA");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
            Some((child, addr, mitm_ca))
        }
        Err(e) => {
            eprintln!("mitmproxy NOT RUN: mitmdump: {e}");
            None
        }
    }
}

async fn run(requests: usize, mib: usize, rtt_ms: u64, rtt_requests: usize) {
    use bottle::policy::{dlp, routes};
    use bottle::sidecar::egress::{ca, proxy};
    // The upstream.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream = listener.local_addr().expect("addr");
    let (up_ca, serve) =
        bottle::sidecar::egress::standin::start("127.0.0.1", listener, false).expect("stand-in");
    tokio::spawn(serve);
    // The delaying relay in front of it.
    let relay_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let relay = relay_listener.local_addr().expect("addr");
    let relay_count = Arc::new(AtomicU64::new(0));
    tokio::spawn(delaying_relay(
        relay_listener,
        upstream,
        Duration::from_millis(rtt_ms) / 2,
        relay_count.clone(),
    ));
    // bottle's proxy, with one route (both ports) and one canary: pooled
    // (as shipped) and, as the reference for what pooling changes, with
    // a new upstream connection per request (as before issue 21).
    let (bottle_ca, bottle_key) = ca::mint_ca("bench-000000").expect("ca");
    let secrets = tempfile::tempdir().expect("tempdir");
    let bottle_proxy = |limits: proxy::PoolLimits| {
        let table = routes::Table::parse(&format!(
            r#"{{"version":1,"routes":[{{"host":"127.0.0.1","ports":[{},{}],"ssrf_ip_allowlist":["127.0.0.0/8"]}}]}}"#,
            upstream.port(),
            relay.port()
        ))
        .expect("routes");
        let eg = Arc::new(proxy::Egress {
            table: std::sync::RwLock::new(Arc::new(table)),
            minter: ca::LeafMinter::new(&bottle_ca, &bottle_key).expect("minter"),
            upstream_tls: Arc::new(proxy::upstream_tls(Some(up_ca.as_bytes())).expect("tls")),
            secrets_dir: secrets.path().to_path_buf(),
            scanner: std::sync::RwLock::new(Arc::new(dlp::Scanner::new(
                &[("TOKEN".into(), "bench-canary-value-0123456789".into())],
                &[],
            ))),
        });
        async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = l.local_addr().expect("addr");
            tokio::spawn(proxy::serve_with_limits(l, eg, limits));
            addr
        }
    };
    let pooled = bottle_proxy(proxy::PoolLimits::default()).await;
    let unpooled = bottle_proxy(proxy::PoolLimits {
        per_key: 0,
        ..proxy::PoolLimits::default()
    })
    .await;
    let mitm_dir = tempfile::tempdir().expect("tempdir");
    let mut mitm = start_mitmdump(mitm_dir.path(), &up_ca).await;

    let modes: [(&str, SocketAddr, usize, usize, Option<&AtomicU64>); 2] = [
        ("loopback", upstream, requests, 50, None),
        ("+RTT", relay, rtt_requests, 10, Some(relay_count.as_ref())),
    ];
    let mut tables = Vec::new();
    for (mode, target, n, warmup, count) in modes {
        let mut rows = vec![
            measure(
                "direct (no proxy)",
                target,
                None,
                &up_ca,
                n,
                warmup,
                mib,
                count,
            )
            .await,
            measure(
                "bottle egress proxy (pooled)",
                target,
                Some(pooled),
                &bottle_ca,
                n,
                warmup,
                mib,
                count,
            )
            .await,
            measure(
                "bottle egress proxy, no pool (a connection per request)",
                target,
                Some(unpooled),
                &bottle_ca,
                n,
                warmup,
                mib,
                count,
            )
            .await,
        ];
        if let Some((_, addr, mitm_ca)) = &mitm {
            rows.push(
                measure(
                    "mitmproxy (mitmdump)",
                    target,
                    Some(*addr),
                    mitm_ca,
                    n,
                    warmup,
                    mib,
                    count,
                )
                .await,
            );
        }
        tables.push((mode, n, warmup, rows));
    }
    if let Some((child, _, _)) = &mut mitm {
        let _ = child.kill();
        let _ = child.wait();
    }

    // DLP alone: the streaming scanner over `mib` MiB, one pass and the
    // per-rule reference.
    let scanner = dlp::Scanner::new(
        &[("TOKEN".into(), "bench-canary-value-0123456789".into())],
        &[],
    );
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 ,.{}\"\n";
    let chunk: Vec<u8> = (0..65536usize)
        .map(|i| alphabet[i % alphabet.len()])
        .collect();
    let dlp_mib_s = |s: &dlp::Scanner| {
        let mut stream = s.stream();
        let t = Instant::now();
        for _ in 0..(mib << 4) {
            stream.push(&chunk).expect("clean");
        }
        stream.finish().expect("clean");
        mib as f64 / t.elapsed().as_secs_f64()
    };
    let reference = dlp_mib_s(&scanner.per_rule_reference());
    let one_pass = dlp_mib_s(&scanner);

    for (mode, n, warmup, rows) in &tables {
        let rtt = if *mode == "loopback" {
            "loopback".to_string()
        } else {
            format!("{rtt_ms} ms RTT added between proxy and upstream (delaying relay)")
        };
        println!();
        println!("{rtt}: {n} sequential GETs on one keep-alive connection per path (after {warmup} warm-up); download: {mib} MiB");
        println!(
            "| path | p50 per request | p99 per request | {mib} MiB download | upstream connections |"
        );
        println!("|---|---|---|---|---|");
        for r in rows {
            println!(
                "| {} | {:.0} µs | {:.0} µs | {:.0} MiB/s | {} |",
                r.name,
                r.p50_us,
                r.p99_us,
                r.mib_s,
                r.upstream_conns
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "–".into())
            );
        }
        if let (Some(direct), Some(bottle)) = (rows.first(), rows.get(1)) {
            println!(
                "added by the pooled proxy at p50: {:.0} µs",
                bottle.p50_us - direct.p50_us
            );
        }
        if let (Some(direct), Some(mitm)) = (rows.first(), rows.get(3)) {
            println!(
                "added by mitmproxy at p50: {:.0} µs",
                mitm.p50_us - direct.p50_us
            );
        }
    }
    println!();
    println!(
        "DLP scanner (request bodies, {mib} MiB in 64 KiB chunks): one pass {one_pass:.0} MiB/s; per-rule reference {reference:.0} MiB/s"
    );
}
