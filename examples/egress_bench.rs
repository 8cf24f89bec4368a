//! The egress proxy beside a direct connection and mitmproxy, in one run,
//! all on loopback: added latency per request (one keep-alive connection,
//! sequential GETs), a large download, and the DLP scanner's cost per MiB.
//!
//! `cargo run --release --example egress_bench -- [REQUESTS] [MIB]`
//! (mitmproxy is included when `mitmdump` is on PATH).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
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

struct Row {
    name: &'static str,
    p50_us: f64,
    p99_us: f64,
    mib_s: f64,
}

async fn measure(
    name: &'static str,
    upstream: SocketAddr,
    proxy: Option<SocketAddr>,
    trust: &str,
    requests: usize,
    mib: usize,
) -> Row {
    let host = format!("{}:{}", upstream.ip(), upstream.port());
    let mut s = connect(upstream, proxy, trust).await;
    for _ in 0..50 {
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
        name,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        mib_s: n as f64 / (1 << 20) as f64 / secs,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let requests: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let mib: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(requests, mib));
}

async fn run(requests: usize, mib: usize) {
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
    // bottle's proxy, with one route and one canary.
    let (bottle_ca, bottle_key) = ca::mint_ca("bench-000000").expect("ca");
    let table = routes::Table::parse(&format!(
        r#"{{"version":1,"routes":[{{"host":"127.0.0.1","ports":[{}],"ssrf_ip_allowlist":["127.0.0.0/8"]}}]}}"#,
        upstream.port()
    ))
    .expect("routes");
    let secrets = tempfile::tempdir().expect("tempdir");
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
    let plistener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let bottle_proxy = plistener.local_addr().expect("addr");
    tokio::spawn(proxy::serve(plistener, eg));

    let mut rows = vec![
        measure("direct (no proxy)", upstream, None, &up_ca, requests, mib).await,
        measure(
            "bottle egress proxy",
            upstream,
            Some(bottle_proxy),
            &bottle_ca,
            requests,
            mib,
        )
        .await,
    ];
    // mitmproxy, when installed.
    let mitm_dir = tempfile::tempdir().expect("tempdir");
    let up_ca_file = mitm_dir.path().join("upstream-ca.pem");
    std::fs::write(&up_ca_file, &up_ca).expect("write");
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
        .arg(format!("confdir={}", mitm_dir.path().display()))
        .arg("--set")
        .arg(format!(
            "ssl_verify_upstream_trusted_ca={}",
            up_ca_file.display()
        ))
        .stdout(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            let ca_file = mitm_dir.path().join("mitmproxy-ca-cert.pem");
            let start = Instant::now();
            while (!ca_file.exists() || std::net::TcpStream::connect(("127.0.0.1", port)).is_err())
                && start.elapsed() < Duration::from_secs(60)
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let mitm_ca = std::fs::read_to_string(&ca_file).expect("mitmproxy CA");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
            rows.push(
                measure(
                    "mitmproxy (mitmdump)",
                    upstream,
                    Some(addr),
                    &mitm_ca,
                    requests,
                    mib,
                )
                .await,
            );
            let _ = child.kill();
            let _ = child.wait();
        }
        Err(e) => eprintln!("mitmproxy NOT RUN: mitmdump: {e}"),
    }
    // DLP alone: the streaming scanner over `mib` MiB.
    let scanner = dlp::Scanner::new(
        &[("TOKEN".into(), "bench-canary-value-0123456789".into())],
        &[],
    );
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 ,.{}\"\n";
    let chunk: Vec<u8> = (0..65536usize)
        .map(|i| alphabet[i % alphabet.len()])
        .collect();
    let mut stream = scanner.stream();
    let t = Instant::now();
    for _ in 0..(mib << 4) {
        stream.push(&chunk).expect("clean");
    }
    stream.finish().expect("clean");
    let dlp_ms_per_mib = t.elapsed().as_secs_f64() * 1e3 / mib as f64;

    println!("requests per path: {requests} sequential GETs on one keep-alive connection (after 50 warm-up); download: {mib} MiB");
    println!("| path | p50 per request | p99 per request | {mib} MiB download |");
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} µs | {:.0} µs | {:.0} MiB/s |",
            r.name, r.p50_us, r.p99_us, r.mib_s
        );
    }
    println!("DLP scanner (request bodies): {dlp_ms_per_mib:.2} ms per MiB");
}
