//! Pooled upstream connections, attacked and checked with real proxies:
//! this proxy (CONNECT, TLS interception, the route check, injection)
//! in front of the stand-in upstream (`standin`, which names the
//! connection every answer came on and records every request), an agent
//! client keeping its connection alive, and a resolver the test controls
//! (names resolve to loopback, allowlisted by the routes).

use super::pool::{PoolLimits, Resolve, Upstreams};
use super::Egress;
use crate::policy::dlp::Scanner;
use crate::policy::routes::Table;
use crate::sidecar::egress::ca;
use crate::sidecar::egress::standin::Got as Reached;
use crate::sidecar::egress::standin::{self, Seen};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN_ZERO: &str = "token-zero-0123456789";
const TOKEN_ONE: &str = "token-one-9876543210";

type Names = Arc<Mutex<HashMap<String, Vec<IpAddr>>>>;

struct Upstream {
    port: u16,
    ca: String,
    seen: Arc<Seen>,
}

async fn upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // `log`: the `/echo…` paths answer (and each request is printed).
    let (ca, serve, seen) = standin::start_counted("127.0.0.1", listener, true).expect("stand-in");
    tokio::spawn(serve);
    Upstream { port, ca, seen }
}

struct Proxy {
    addr: SocketAddr,
    eg: Arc<Egress>,
    ups: Arc<Upstreams>,
    ca: String,
    names: Names,
    dir: tempfile::TempDir,
}

impl Proxy {
    fn routes_file(&self) -> std::path::PathBuf {
        self.dir.path().join("routes.json")
    }

    /// Writes `routes.json` (the `watch` loop loads it) and waits until
    /// the table is the new one.
    async fn set_routes(&self, json: &str) {
        let want = Table::parse(json).expect("routes");
        let tmp = self.dir.path().join("routes.json.tmp");
        std::fs::write(&tmp, json).expect("write");
        std::fs::rename(&tmp, self.routes_file()).expect("rename");
        wait_for("the new routes to be live", || *self.eg.table() == want).await;
    }

    fn resolve(&self, name: &str, ips: &[&str]) {
        let ips = ips.iter().map(|i| i.parse().expect("ip")).collect();
        self.names
            .lock()
            .expect("names")
            .insert(name.to_string(), ips);
    }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn routes(port: u16, extra: &str) -> String {
    format!(
        r#"{{"version":1,"routes":[
          {{"host":"a.test","ports":[{port}],"path_allowlist":["/one"],"auth":{{"scheme":"Bearer","secret":"t0"}},"ssrf_ip_allowlist":["127.0.0.0/8"]}},
          {{"host":"a.test","ports":[{port}],"path_allowlist":["/two"],"auth":{{"scheme":"Bearer","secret":"t1"}},"ssrf_ip_allowlist":["127.0.0.0/8"]}},
          {{"host":"open.test","ports":[{port}],"ssrf_ip_allowlist":["127.0.0.0/8"]}},
          {{"host":"other.test","ports":[{port}],"ssrf_ip_allowlist":["127.0.0.0/8"]}}{extra}
        ]}}"#
    )
}

async fn proxy(up: &Upstream, limits: PoolLimits) -> Proxy {
    proxy_trusting(up, limits, &up.ca).await
}

/// `proxy`, its upstream TLS trusting `cas` (PEM; several stand-ins').
async fn proxy_trusting(up: &Upstream, limits: PoolLimits, cas: &str) -> Proxy {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).expect("mkdir");
    std::fs::write(secrets.join("t0"), TOKEN_ZERO).expect("secret");
    std::fs::write(secrets.join("t1"), TOKEN_ONE).expect("secret");
    let (ca_pem, ca_key) = ca::mint_ca("pool-test").expect("ca");
    let eg = Arc::new(Egress {
        table: Default::default(),
        minter: ca::LeafMinter::new(&ca_pem, &ca_key).expect("minter"),
        upstream_tls: Arc::new(super::upstream_tls(Some(cas.as_bytes())).expect("tls")),
        secrets_dir: secrets,
        scanner: std::sync::RwLock::new(Arc::new(Scanner::new(
            &[
                ("t0".into(), TOKEN_ZERO.into()),
                ("t1".into(), TOKEN_ONE.into()),
            ],
            &[],
        ))),
    });
    let names: Names = Arc::default();
    let lookup = names.clone();
    let resolve: Resolve = Arc::new(move |host: String, _port| {
        let got = lookup.lock().expect("names").get(&host).cloned();
        Box::pin(async move {
            got.ok_or_else(|| std::io::Error::other(format!("{host}: no such name")))
        })
    });
    let ups = Arc::new(Upstreams::with_resolver(limits, resolve));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(super::serve_upstreams(listener, eg.clone(), ups.clone()));
    let p = Proxy {
        addr,
        eg: eg.clone(),
        ups,
        ca: ca_pem,
        names,
        dir,
    };
    for n in ["a.test", "open.test", "other.test"] {
        p.resolve(n, &["127.0.0.1"]);
    }
    std::fs::write(p.routes_file(), routes(up.port, "")).expect("routes");
    tokio::spawn(super::watch(p.routes_file(), eg));
    let want = Table::parse(&routes(up.port, "")).expect("routes");
    wait_for("the routes", || *p.eg.table() == want).await;
    p
}

/// The agent's keep-alive connection through the proxy: CONNECT, TLS with
/// the bottle's CA, HTTP/1.1.
struct Agent {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

async fn agent(p: &Proxy, host: &str, port: u16) -> Agent {
    let mut tcp = tokio::net::TcpStream::connect(p.addr)
        .await
        .expect("connect");
    tcp.write_all(
        format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
    )
    .await
    .expect("CONNECT");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tcp.read_exact(&mut b).await.expect("CONNECT reply");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    let mut roots = rustls::RootCertStore::empty();
    {
        use rustls_pki_types::pem::PemObject;
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(p.ca.as_bytes()) {
            roots.add(c.expect("pem")).expect("root");
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(host.to_string()).expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    Agent {
        sender,
        host: format!("{host}:{port}"),
    }
}

/// What the agent got: status, the stand-in's connection serial (none
/// for the proxy's own answers), body.
#[derive(Debug)]
struct Got {
    status: u16,
    conn: Option<u64>,
    body: String,
}

impl Agent {
    async fn send(&mut self, method: &str, path: &str, body: &str) -> Got {
        self.sender
            .ready()
            .await
            .expect("the agent's connection is open");
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let resp = self.sender.send_request(req).await.expect("response");
        let status = resp.status().as_u16();
        let conn = resp
            .headers()
            .get("x-standin-conn")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Got {
            status,
            conn,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(&mut self, path: &str) -> Got {
        self.send("GET", path, "").await
    }
}

/// The requests the stand-in got whose path holds `marker`.
fn reached(up: &Upstream, marker: &str) -> Vec<Reached> {
    up.seen
        .requests()
        .into_iter()
        .filter(|r| r.path.contains(marker))
        .collect()
}

/// Waits until the proxy parked `n` idle connections (an answer's
/// connection is parked once the answer was read to the end).
async fn parked(p: &Proxy, n: usize) {
    wait_for(&format!("{n} idle connection(s) in the pool"), || {
        p.ups.idle_count() == n
    })
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn one_upstream_connection_serves_the_agents_requests_and_tunnels() {
    let up = upstream().await;
    let p = proxy(&up, PoolLimits::default()).await;
    let mut a = agent(&p, "open.test", up.port).await;
    let first = a.get("/r1").await;
    assert_eq!((first.status, first.body.as_str()), (200, "upstream ok\n"));
    for path in ["/r2", "/r3"] {
        parked(&p, 1).await;
        let got = a.get(path).await;
        assert_eq!(got.status, 200, "{got:?}");
        assert_eq!(got.conn, first.conn, "{path} went on the pooled connection");
    }
    // Another tunnel of the same agent (a new CONNECT) reuses it too.
    parked(&p, 1).await;
    let mut b = agent(&p, "open.test", up.port).await;
    let got = b.get("/r4").await;
    assert_eq!(got.conn, first.conn, "{got:?}");
    assert_eq!(p.ups.counts(), (1, 3));
    assert_eq!(
        up.seen
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // Without a pool (the control): a connection per request.
    let q = proxy(
        &up,
        PoolLimits {
            per_key: 0,
            ..PoolLimits::default()
        },
    )
    .await;
    let mut c = agent(&q, "open.test", up.port).await;
    let x = c.get("/n1").await;
    let y = c.get("/n2").await;
    assert_eq!((x.status, y.status), (200, 200));
    assert_ne!(x.conn, y.conn);
    assert_eq!(q.ups.counts(), (2, 0));
}

#[tokio::test(flavor = "current_thread")]
async fn two_routes_to_one_host_and_address_never_share_a_connection() {
    let up = upstream().await;
    let p = proxy(&up, PoolLimits::default()).await;
    let mut a = agent(&p, "a.test", up.port).await;
    // Alternating on one agent connection: `/one…` is the route injecting
    // t0, `/two…` the route injecting t1; both reach the same address.
    let mut conns: HashMap<&str, Option<u64>> = HashMap::new();
    for i in 0..3 {
        for (route, path) in [
            ("one", format!("/one/m-{i}")),
            ("two", format!("/two/m-{i}")),
        ] {
            let got = a.get(&path).await;
            assert_eq!(got.status, 200, "{path}: {got:?}");
            let c = conns.entry(route).or_insert(got.conn);
            assert_eq!(*c, got.conn, "{route} keeps its own connection");
        }
    }
    assert_ne!(conns["one"], conns["two"], "two routes shared a connection");
    // Every request on a connection carried that route's credential only.
    for Reached {
        conn,
        path,
        authorization: auth,
        ..
    } in up.seen.requests()
    {
        let want = if Some(conn) == conns["one"] {
            TOKEN_ZERO
        } else if Some(conn) == conns["two"] {
            TOKEN_ONE
        } else {
            continue;
        };
        assert_eq!(auth, Some(format!("Bearer {want}")), "{path} on {conn}");
    }
    // Another name for the same address is another route (and SNI): its
    // own connection, never one of a.test's.
    let mut o = agent(&p, "other.test", up.port).await;
    let got = o.get("/x").await;
    assert_eq!(got.status, 200);
    assert!(
        got.conn != conns["one"] && got.conn != conns["two"],
        "{got:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_revoked_route_is_refused_on_the_next_request_of_the_same_connection() {
    let up = upstream().await;
    let p = proxy(&up, PoolLimits::default()).await;
    let mut a = agent(&p, "open.test", up.port).await;
    assert_eq!(a.get("/before").await.status, 200);
    parked(&p, 1).await;
    // The operator revokes open.test (routes.json rewritten, reloaded).
    let without: String = routes(up.port, "").replace(
        &format!(
            r#"{{"host":"open.test","ports":[{}],"ssrf_ip_allowlist":["127.0.0.0/8"]}},"#,
            up.port
        ),
        "",
    );
    assert!(!without.contains("open.test"));
    p.set_routes(&without).await;
    let got = a.get("/after-revoke").await;
    assert_eq!(got.status, 403, "{got:?}");
    assert!(got.body.contains("egress_denied"), "{got:?}");
    assert!(
        reached(&up, "after-revoke").is_empty(),
        "the upstream got it"
    );
    // The revoked route's idle connection is dropped from the pool.
    parked(&p, 0).await;
    // Routed again: a new connection (the old one is gone).
    let before = reached(&up, "before")[0].conn;
    p.set_routes(&routes(up.port, "")).await;
    let got = a.get("/again").await;
    assert_eq!(got.status, 200);
    assert_ne!(got.conn, Some(before));
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_connection_the_upstream_closed_is_not_used() {
    let up = upstream().await;
    let p = proxy(&up, PoolLimits::default()).await;
    let mut a = agent(&p, "open.test", up.port).await;
    let first = a.get("/first").await;
    parked(&p, 1).await;
    // The upstream closes it (as its keep-alive timeout would); the very
    // next request, sent at once, still gets an answer from upstream.
    up.seen.close_all();
    let got = a.get("/right-after").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert_ne!(got.conn, first.conn);
    assert_eq!(reached(&up, "right-after").len(), 1);
    // A request that is not safe to repeat (a POST with a body) is never
    // sent on a connection the upstream closed: checked before use.
    parked(&p, 1).await;
    up.seen.close_all();
    wait_for("the proxy to see the close", || {
        p.ups.idle_closed() == 1 || p.ups.idle_count() == 0
    })
    .await;
    let got = a.send("POST", "/posted", "{\"a\":1}").await;
    assert_eq!(got.status, 200, "{got:?}");
    let posted = reached(&up, "posted");
    assert_eq!(posted.len(), 1, "exactly once: {posted:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn every_request_is_ssrf_checked_even_with_a_pooled_connection() {
    let up = upstream().await;
    let p = proxy(&up, PoolLimits::default()).await;
    let mut a = agent(&p, "open.test", up.port).await;
    assert_eq!(a.get("/checked").await.status, 200);
    parked(&p, 1).await;
    // DNS rebinding: the name now resolves to a private address the route
    // does not allow. The pooled connection (to the address checked
    // before) is not used; the request is refused.
    for private in ["10.9.8.7", "169.254.169.254", "::1"] {
        p.resolve("open.test", &[private]);
        let got = a.get(&format!("/rebound-{private}")).await;
        assert_eq!(got.status, 502, "{got:?}");
        assert!(got.body.contains("not globally routable"), "{got:?}");
    }
    assert!(reached(&up, "rebound").is_empty());
    assert_eq!(p.ups.idle_count(), 1, "the old connection stayed unused");
    // Back to the allowed address: the pooled connection serves again.
    p.resolve("open.test", &["127.0.0.1"]);
    assert_eq!(a.get("/back").await.status, 200);
    assert_eq!(p.ups.counts().0, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn bottles_never_share_a_connection() {
    // Two bottles' proxies (in the product each is its own sidecar
    // process; here two proxies in one process, with identical routes, to
    // the same upstream): each opens its own connection.
    let up = upstream().await;
    let one = proxy(&up, PoolLimits::default()).await;
    let two = proxy(&up, PoolLimits::default()).await;
    let mut a = agent(&one, "open.test", up.port).await;
    let mut b = agent(&two, "open.test", up.port).await;
    let x = a.get("/bottle-one").await;
    parked(&one, 1).await;
    let y = b.get("/bottle-two").await;
    parked(&two, 1).await;
    assert_ne!(x.conn, y.conn, "bottle two got bottle one's connection");
    assert_eq!(a.get("/bottle-one-again").await.conn, x.conn);
    assert_eq!(b.get("/bottle-two-again").await.conn, y.conn);
}

#[tokio::test(flavor = "current_thread")]
async fn the_pool_is_bounded_per_key_in_all_and_in_time() {
    let up = upstream().await;
    let limits = PoolLimits {
        per_key: 2,
        total: 3,
        idle: Duration::from_millis(1500),
    };
    let p = proxy(&up, limits).await;
    // Three requests at once per host (the stand-in's `/echo/split` takes
    // 300 ms): three upstream connections each.
    let mut tasks = Vec::new();
    for host in ["open.test", "other.test"] {
        for _ in 0..3 {
            let mut a = agent(&p, host, up.port).await;
            tasks.push(tokio::spawn(async move { a.get("/echo/split").await }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").status, 200);
    }
    assert_eq!(p.ups.counts().0, 6);
    // At most two per key, three in all.
    parked(&p, 3).await;
    // And none after the idle limit.
    parked(&p, 0).await;
}

/// The attack pass on the pool (operator proxy ports, cut bodies,
/// abandoned answers, misframing upstreams, narrowed allowlists).
mod attacks;
