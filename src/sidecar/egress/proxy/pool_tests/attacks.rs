//! Attacks on the pool from an agent that also owns an allowed upstream:
//! a tunnel through the operator's proxy reused for another port, a body
//! cut by DLP mid-send, an answer abandoned midway, answers framed to
//! leave bytes behind, an allowlist narrowed while a connection is in use.

use super::*;

/// A stand-in for the operator's HTTP proxy: every CONNECT target's host
/// is reached on loopback (its port as asked); the targets are recorded.
async fn operator_proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let targets: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = targets.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut b = [0u8; 1];
                    if tcp.read_exact(&mut b).await.is_err() || head.len() > 16384 {
                        return;
                    }
                    head.push(b[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let target = text
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                seen.lock().expect("targets").push(target.clone());
                let port = target.rsplit_once(':').map_or("", |(_, p)| p).to_string();
                standin::answer_connect(tcp, &format!("127.0.0.1:{port}")).await;
            });
        }
    });
    (addr, targets)
}

#[tokio::test(flavor = "current_thread")]
async fn a_tunnel_through_the_operators_proxy_serves_only_its_own_port() {
    // One route, one host, two ports (two different upstreams behind
    // them), reached through the operator's upstream proxy: the pooled
    // tunnel to the first port must never carry a request for the second
    // (the proxy's URL is the same for both; the far end is not).
    let one = upstream().await;
    let two = upstream().await;
    let p = proxy_trusting(
        &one,
        PoolLimits::default(),
        &format!("{}{}", one.ca, two.ca),
    )
    .await;
    let (via, targets) = operator_proxy().await;
    std::fs::write(
        p.eg.secrets_dir.join(super::super::UPSTREAM_PROXY),
        format!("http://{via}"),
    )
    .expect("upstream proxy");
    p.set_routes(&format!(
        r#"{{"version":1,"routes":[
          {{"host":"open.test","ports":[{},{}],"ssrf_ip_allowlist":["127.0.0.0/8"]}}
        ]}}"#,
        one.port, two.port
    ))
    .await;
    let mut a = agent(&p, "open.test", one.port).await;
    assert_eq!(a.get("/port-one").await.status, 200);
    parked(&p, 1).await;
    let mut b = agent(&p, "open.test", two.port).await;
    let got = b.get("/port-two").await;
    assert_eq!(got.status, 200, "{got:?}");
    assert!(
        reached(&one, "port-two").is_empty(),
        "a request for port {} went down the tunnel to port {}",
        two.port,
        one.port
    );
    assert_eq!(reached(&two, "port-two").len(), 1);
    assert_eq!(
        *targets.lock().expect("targets"),
        vec![
            format!("open.test:{}", one.port),
            format!("open.test:{}", two.port)
        ]
    );
    // Each port's tunnel is still reused for its own port.
    parked(&p, 2).await;
    let again = a.get("/port-one-again").await;
    assert_eq!(again.status, 200);
    assert_eq!(reached(&one, "port-one-again").len(), 1);
    assert_eq!(targets.lock().expect("targets").len(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_body_cut_by_dlp_on_a_pooled_connection_takes_the_connection_with_it() {
    // The agent's POST goes on a pooled connection; its body streams
    // through the DLP scan and part of it is already upstream when a
    // secret shows up. The upstream is owed the rest of a declared
    // length: were that connection parked again, the next request (with
    // its injected header) would be read upstream as the rest of the
    // cut body. It is dropped; the next request gets its own connection.
    let up = upstream().await;
    let p = proxy(&up, PoolLimits::default()).await;
    let mut a = agent(&p, "open.test", up.port).await;
    let warm = a.get("/warm").await;
    assert_eq!(warm.status, 200);
    parked(&p, 1).await;
    let mut body = "a".repeat(100_000);
    body.push_str(" ghp_abcdefghijklmnopqrstuvwxyz0123456789 ");
    body.push_str(&"b".repeat(100));
    let got = a.send("POST", "/cut", &body).await;
    assert_eq!(got.status, 403, "{got:?}");
    assert!(got.body.contains("dlp_blocked"), "{got:?}");
    assert_eq!(
        p.ups.counts(),
        (1, 1),
        "the cut POST went on the pooled one"
    );
    let mut b = agent(&p, "open.test", up.port).await;
    let after = b.get("/after-cut").await;
    assert_eq!(
        (after.status, after.body.as_str()),
        (200, "upstream ok\n"),
        "{after:?}"
    );
    assert_ne!(after.conn, warm.conn, "the cut connection served again");
    assert_eq!(reached(&up, "after-cut").len(), 1);
    assert_eq!(p.ups.counts().0, 2, "a new connection for the next request");
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_the_agent_abandoned_midway_never_serves_the_next_request() {
    // The agent reads the head and a first piece of a long download on a
    // pooled connection, then hangs up. The rest of that answer is still
    // on its way: the connection is never parked, and the next request
    // (another tunnel's) gets its own answer on a new connection.
    let up = upstream().await;
    let p = proxy(&up, PoolLimits::default()).await;
    let mut a = agent(&p, "open.test", up.port).await;
    let warm = a.get("/warm").await;
    parked(&p, 1).await;
    let mut c = agent(&p, "open.test", up.port).await;
    let req = hyper::Request::builder()
        .uri("/bytes/20000000")
        .header("host", &c.host)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = c.sender.send_request(req).await.expect("response");
    assert_eq!(resp.status(), 200);
    let dl = resp
        .headers()
        .get("x-standin-conn")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert_eq!(dl, warm.conn, "the download went on the pooled connection");
    let mut body = resp.into_body();
    let first = body.frame().await.expect("a first frame").expect("data");
    assert!(first.is_data());
    drop(body);
    drop(c);
    let mut b = agent(&p, "open.test", up.port).await;
    for path in ["/after-abandon-1", "/after-abandon-2"] {
        let got = b.get(path).await;
        assert_eq!(
            (got.status, got.body.as_str()),
            (200, "upstream ok\n"),
            "{path}: {got:?}"
        );
        assert_ne!(got.conn, warm.conn, "{path} went on the abandoned one");
    }
}

/// A complete answer an upstream slips in after (or inside) the answer it
/// owes: were it left on a pooled connection, the next request would get
/// it.
const SMUGGLED: &str = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled";

/// An upstream the agent controls (plain http), framing some answers
/// wrongly: each path's answer carries `SMUGGLED` after it (extra bytes
/// after a length, a body on 204/304 and on HEAD, after a 1xx and after
/// chunked trailers, after a 101 to a request that asked for no upgrade).
/// Every other path gets `answer:<path>`.
async fn misframing_upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        let mut chunk = [0u8; 4096];
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let mut first = head.split_whitespace();
                    let method = first.next().unwrap_or_default().to_string();
                    let path = first.next().unwrap_or_default().to_string();
                    let s = SMUGGLED;
                    let n = s.len();
                    let answer = match (method.as_str(), path.as_str()) {
                        (_, "/extra") => format!("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none{s}"),
                        (_, "/no-content") => {
                            format!("HTTP/1.1 204 No Content\r\nContent-Length: {n}\r\n\r\n{s}")
                        }
                        (_, "/not-modified") => {
                            format!("HTTP/1.1 304 Not Modified\r\nContent-Length: {n}\r\n\r\n{s}")
                        }
                        ("HEAD", _) => format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n{s}"),
                        (_, "/continue") => format!(
                            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none{s}"
                        ),
                        (_, "/trailers") => format!(
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-t\r\n\r\n3\r\none\r\n0\r\nx-t: 1\r\n\r\n{s}"
                        ),
                        (_, "/switch") => format!(
                            "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n{s}"
                        ),
                        _ => {
                            let body = format!("answer:{path}");
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                        }
                    };
                    if tcp.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// One plain-http request of the agent's (absolute form, its own
/// connection to the proxy): status and body, or why there was none.
async fn plain(p: &Proxy, method: &str, host: &str, port: u16, path: &str) -> Result<Got, String> {
    let tcp = tokio::net::TcpStream::connect(p.addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{host}:{port}{path}"))
        .header("host", format!("{host}:{port}"))
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect())
        .await
        .map_err(|_| "the body never ended".to_string())?
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Got {
        status,
        conn: None,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_framed_to_leave_bytes_behind_never_answers_the_next_request() {
    // The agent owns an upstream (a routed host) and frames answers so
    // that a whole second answer is left behind on the connection. The
    // proxy's pooled connection must never hand those bytes to the next
    // request: each next request gets the answer the upstream wrote for
    // it, or a clear error, never `smuggled`.
    let up = upstream().await;
    let raw = misframing_upstream().await;
    let p = proxy(&up, PoolLimits::default()).await;
    p.resolve("raw.test", &["127.0.0.1"]);
    p.set_routes(&routes(
        up.port,
        &format!(
            r#",{{"host":"raw.test","ports":[{raw}],"methods":["GET","HEAD"],"ssrf_ip_allowlist":["127.0.0.0/8"]}}"#
        ),
    ))
    .await;
    let ok = plain(&p, "GET", "raw.test", raw, "/warm").await;
    assert_eq!(ok.map(|g| g.body), Ok("answer:/warm".to_string()));
    for (method, path) in [
        ("GET", "/extra"),
        ("GET", "/no-content"),
        ("GET", "/not-modified"),
        ("HEAD", "/head"),
        ("GET", "/continue"),
        ("GET", "/trailers"),
        ("GET", "/switch"),
    ] {
        // Whatever the agent gets for the misframed answer itself (its
        // own upstream's bytes), it is never `smuggled`...
        if let Ok(got) = plain(&p, method, "raw.test", raw, path).await {
            assert!(!got.body.contains("smuggled"), "{path}: {got:?}");
        }
        // ... and the next requests get their own answers.
        for i in 0..3 {
            let next = format!("/next-{}-{i}", path.trim_start_matches('/'));
            let got = plain(&p, "GET", "raw.test", raw, &next).await;
            assert_eq!(
                got.as_ref().map(|g| g.body.as_str()),
                Ok(format!("answer:{next}").as_str()),
                "after {method} {path}"
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_connection_in_use_when_its_ssrf_allowlist_narrows_never_serves_again() {
    // A request is under way on open.test's connection when the operator
    // narrows the route's `ssrf_ip_allowlist` so that 127.0.0.1 is no
    // longer allowed. The answer in flight ends and its connection is
    // parked under the old route; no request of the new route may use it
    // (refused by the check), the reaper drops it, and when the address
    // is allowed again (another route: another allowlist) a new
    // connection is made.
    let up = upstream().await;
    let p = proxy(&up, PoolLimits::default()).await;
    let mut a = agent(&p, "open.test", up.port).await;
    let first = a.get("/first").await;
    assert_eq!(first.status, 200);
    parked(&p, 1).await;
    let mut b = agent(&p, "open.test", up.port).await;
    // `/echo/split` answers in two halves, 300 ms apart: in flight while
    // the routes change.
    let slow = tokio::spawn(async move { b.get("/echo/split").await });
    wait_for("the slow request to reach the upstream", || {
        !reached(&up, "/echo/split").is_empty()
    })
    .await;
    let open = format!(
        r#"{{"host":"open.test","ports":[{}],"ssrf_ip_allowlist":["127.0.0.0/8"]}}"#,
        up.port
    );
    let narrowed = routes(up.port, "").replace(&open, &open.replace("127.0.0.0/8", "127.0.0.2/32"));
    assert_ne!(narrowed, routes(up.port, ""));
    p.set_routes(&narrowed).await;
    let got = slow.await.expect("task");
    assert_eq!(got.status, 200, "{got:?}");
    assert_eq!(got.conn, first.conn);
    let refused = a.get("/narrowed").await;
    assert_eq!(refused.status, 502, "{refused:?}");
    assert!(
        refused.body.contains("not globally routable"),
        "{refused:?}"
    );
    assert!(reached(&up, "narrowed").is_empty());
    // The reaper drops the old route's connection once it is parked.
    parked(&p, 0).await;
    p.set_routes(&routes(up.port, "").replace(
        &open,
        &open.replace("127.0.0.0/8", "127.0.0.0/8\",\"10.0.0.0/8"),
    ))
    .await;
    let again = a.get("/widened").await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_ne!(again.conn, first.conn, "the old route's connection served");
}
