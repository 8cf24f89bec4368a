//! The supervise MCP server over real HTTP (in this process, on loopback)
//! and the queue it shares with the host: the MCP handshake, sessions, the
//! five tools and their strict arguments, the 64 KiB cap, the 16-request
//! limit, and decisions made through `control` (the code the CLI and the
//! workspace use) reaching the waiting call. Also the host's side against
//! hostile queue files: racing deciders, a request rewritten after it was
//! displayed, and files that must never be applied.

use bottle::control::{self, Intent};
use bottle::queue;
use bottle::sidecar::egress::proxy::Egress;
use bottle::sidecar::supervise::{self, Supervise};
use bottle::state::Home;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const SLUG: &str = "dev-abc123";

/// A home with one supervised bottle: its queue directory and routes.json
/// (one definition route with a credential).
fn home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().expect("tmp");
    let home = Home {
        root: dir.path().to_path_buf(),
    };
    std::fs::create_dir_all(home.queue_dir().join(SLUG)).expect("mkdir");
    let egress = home.state_dir(SLUG).join("egress");
    std::fs::create_dir_all(&egress).expect("mkdir");
    std::fs::write(
        egress.join("routes.json"),
        json!({"version": 1, "routes": [{"host": "api.github.com", "ports": [443], "path_allowlist": ["/repos/acme/"], "auth": {"scheme": "Bearer", "secret": "t0", "token_ref": "GH_PAT"}, "ssrf_ip_allowlist": ["10.9.0.0/16"], "source": "definition"}]}).to_string(),
    )
    .expect("write");
    (dir, home)
}

struct Server {
    addr: SocketAddr,
    eg: Arc<Egress>,
    _rt: tokio::runtime::Runtime,
}

fn server(home: &Home, wait: Duration) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (cert, key) = bottle::sidecar::egress::ca::mint_ca("t").expect("ca");
    let routes = home.state_dir(SLUG).join("egress/routes.json");
    let eg = Arc::new(Egress {
        table: Default::default(),
        minter: bottle::sidecar::egress::ca::LeafMinter::new(&cert, &key).expect("minter"),
        upstream_tls: Arc::new(bottle::sidecar::egress::proxy::upstream_tls(None).expect("tls")),
        secrets_dir: home.root.join("secrets"),
        scanner: Default::default(),
    });
    eg.load_routes(&std::fs::read_to_string(&routes).expect("routes"))
        .expect("load");
    let sv = Arc::new(Supervise::new(
        home.queue_dir().join(SLUG),
        Some((eg.clone(), routes)),
        wait,
    ));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(supervise::serve(listener, sv));
    Server { addr, eg, _rt: rt }
}

struct Answer {
    status: u16,
    session: Option<String>,
    body: Value,
}

/// One HTTP/1.1 exchange (what an MCP client sends).
fn http(addr: SocketAddr, method: &str, session: Option<&str>, body: &[u8]) -> Answer {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let mut head = format!(
        "{method} /mcp HTTP/1.1\r\nHost: supervise:9100\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(id) = session {
        head.push_str(&format!("Mcp-Session-Id: {id}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write");
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let session = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("mcp-session-id: ")
                .map(str::to_string)
        })
        .map(|s| s.to_uppercase());
    Answer {
        status,
        session,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

fn rpc(addr: SocketAddr, session: &str, method: &str, params: Value) -> Value {
    let msg = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let a = http(addr, "POST", Some(session), msg.to_string().as_bytes());
    assert_eq!(a.status, 200, "{method}: {}", a.body);
    a.body
}

fn call(addr: SocketAddr, session: &str, tool: &str, args: Value) -> Value {
    rpc(
        addr,
        session,
        "tools/call",
        json!({"name": tool, "arguments": args}),
    )["result"]
        .clone()
}

fn initialize(addr: SocketAddr) -> String {
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let a = http(addr, "POST", None, msg.to_string().as_bytes());
    assert_eq!(a.status, 200);
    assert_eq!(a.body["result"]["protocolVersion"], "2025-06-18");
    let session = a.session.expect("Mcp-Session-Id");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        http(addr, "POST", Some(&session), note.to_string().as_bytes()).status,
        202
    );
    session
}

fn pending(home: &Home) -> Vec<queue::Request> {
    queue::scan(&home.queue_dir()).pending
}

fn wait_for_request(home: &Home) -> queue::Request {
    for _ in 0..600 {
        if let Some(r) = pending(home).into_iter().next() {
            return r;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no request appeared");
}

#[test]
fn the_mcp_handshake_sessions_and_limits_follow_the_transport() {
    let (_d, home) = home();
    let s = server(&home, Duration::from_secs(1));
    // Before initialize: no session, refused.
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string();
    assert_eq!(http(s.addr, "POST", None, ping.as_bytes()).status, 400);
    let session = initialize(s.addr);
    assert_eq!(
        rpc(s.addr, &session, "ping", json!({}))["result"],
        json!({})
    );
    // An unknown or ended session: 404, so the client initializes again.
    assert_eq!(
        http(
            s.addr,
            "POST",
            Some("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            ping.as_bytes()
        )
        .status,
        404
    );
    // A version this server does not know gets its newest.
    let old = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let a = http(s.addr, "POST", None, old.to_string().as_bytes());
    assert_eq!(
        a.body["result"]["protocolVersion"],
        supervise::mcp::VERSIONS[0]
    );
    let other = a.session.expect("session");
    assert_eq!(http(s.addr, "DELETE", Some(&other), b"").status, 200);
    assert_eq!(
        http(s.addr, "POST", Some(&other), ping.as_bytes()).status,
        404
    );
    // No server stream; a body over 64 KiB; not JSON.
    assert_eq!(http(s.addr, "GET", Some(&session), b"").status, 405);
    let big = vec![b' '; 64 * 1024 + 1];
    assert_eq!(http(s.addr, "POST", Some(&session), &big).status, 413);
    assert_eq!(http(s.addr, "POST", Some(&session), b"{nope").status, 400);
    // The tools, each with a closed schema.
    let tools = rpc(s.addr, &session, "tools/list", json!({}))["result"]["tools"].clone();
    let names: Vec<&str> = tools
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "request_egress",
            "request_capability",
            "ask_operator",
            "list_egress_routes",
            "check_request"
        ]
    );
    for t in tools.as_array().expect("tools") {
        assert_eq!(t["inputSchema"]["additionalProperties"], false, "{t}");
    }
    let unknown = rpc(
        s.addr,
        &session,
        "tools/call",
        json!({"name": "rm_rf", "arguments": {}}),
    );
    assert_eq!(unknown["error"]["code"], -32602);
    assert_eq!(
        rpc(s.addr, &session, "nope", json!({}))["error"]["code"],
        -32601
    );
    // Strict arguments: unknown fields, hidden characters, bad hosts and
    // methods are refused before anything is queued.
    for args in [
        json!({"host": "a.test", "reason": "r", "slug": "other-abc123"}),
        json!({"host": "a.test", "reason": "look \u{1b}[2J here"}),
        json!({"host": "a.test", "reason": "abc\u{202e}def"}),
        json!({"host": "a.test/x", "reason": "r"}),
        json!({"host": "a.test", "methods": ["CONNECT"], "reason": "r"}),
        json!({"host": "a.test", "path_prefix": "/a/../b", "reason": "r"}),
        json!({"host": 5, "reason": "r"}),
    ] {
        let r = call(s.addr, &session, "request_egress", args.clone());
        assert_eq!(r["isError"], true, "{args}: {r}");
    }
    assert!(pending(&home).is_empty(), "nothing was queued");
    // Routes are listed without secrets.
    let routes = call(s.addr, &session, "list_egress_routes", json!({}));
    assert_eq!(
        routes["structuredContent"]["routes"][0]["host"],
        "api.github.com"
    );
    assert_eq!(
        routes["structuredContent"]["routes"][0]["credential"],
        "Bearer"
    );
    assert!(!routes.to_string().contains("t0"), "{routes}");
    // Already allowed: answered at once, nothing queued.
    let r = call(
        s.addr,
        &session,
        "request_egress",
        json!({"host": "api.github.com", "path_prefix": "/repos/acme/app", "reason": "r"}),
    );
    assert_eq!(r["structuredContent"]["status"], "approved", "{r}");
    assert!(pending(&home).is_empty());
}

#[test]
fn an_approved_route_is_live_when_the_call_returns() {
    let (_d, home) = home();
    let s = server(&home, Duration::from_secs(60));
    let session = initialize(s.addr);
    let addr = s.addr;
    let sess = session.clone();
    let waiting = std::thread::spawn(move || {
        call(
            addr,
            &sess,
            "request_egress",
            json!({"host": "api.github.com", "path_prefix": "/repos/other/", "methods": ["GET"], "reason": "the other repo's issues"}),
        )
    });
    let req = wait_for_request(&home);
    assert_eq!(req.slug, SLUG);
    // The operator sees exactly what will change, credential included.
    let change = control::describe(&home, &req);
    assert_eq!(
        change,
        [
            "+ route api.github.com:443  paths /repos/other/  methods GET",
            "GH_PAT will be injected on api.github.com/repos/other/ (Bearer scheme)",
            "private addresses allowed (from the bottle's route): 10.9.0.0/16",
        ]
    );
    control::decide(&home, &req, Intent::Approve, "", "test").expect("approve");
    let r = waiting.join().expect("call");
    assert_eq!(r["structuredContent"]["status"], "approved", "{r}");
    // Live in the proxy's table when the call returned.
    let table = s.eg.table();
    let (route, _) = table
        .route_for("api.github.com", 443, "GET", "/repos/other/x")
        .expect("the approved route is live");
    assert_eq!(route.source, format!("approved:{}", req.id));
    assert_eq!(route.auth.as_ref().expect("auth").secret, "t0");
    // Audited, and decided once.
    let audit =
        std::fs::read_to_string(home.audit_dir().join(format!("{SLUG}.jsonl"))).expect("audit");
    assert_eq!(audit.lines().count(), 1);
    assert!(audit.contains("\"decision\":\"approved\""));
    assert!(control::decide(&home, &req, Intent::Reject, "", "test").is_err());
}

#[test]
fn rejections_answers_and_pending_calls_reach_the_agent() {
    let (_d, home) = home();
    let s = server(&home, Duration::from_millis(300));
    let session = initialize(s.addr);
    // Not decided in time: pending, with the id for check_request.
    let r = call(
        s.addr,
        &session,
        "ask_operator",
        json!({"question": "Which branch?"}),
    );
    assert_eq!(r["structuredContent"]["status"], "pending", "{r}");
    let id = r["structuredContent"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let req = wait_for_request(&home);
    assert_eq!(req.id.to_string(), id);
    assert!(
        control::decide(&home, &req, Intent::Approve, "", "t").is_err(),
        "a question is answered"
    );
    control::decide(&home, &req, Intent::Answer("main, please".into()), "", "t").expect("answer");
    let r = call(s.addr, &session, "check_request", json!({"id": id}));
    assert_eq!(r["structuredContent"]["answer"], "main, please", "{r}");
    // A rejection carries the note and says that going around will fail.
    let r = call(
        s.addr,
        &session,
        "request_egress",
        json!({"host": "evil.test", "reason": "exfiltrate"}),
    );
    assert_eq!(r["structuredContent"]["status"], "pending");
    let req = wait_for_request(&home);
    control::decide(&home, &req, Intent::Reject, "not this one", "t").expect("reject");
    let r = call(
        s.addr,
        &session,
        "check_request",
        json!({"id": req.id.to_string()}),
    );
    let text = r["content"][0]["text"].as_str().expect("text");
    assert!(
        text.contains("rejected")
            && text.contains("not this one")
            && text.contains("will not succeed"),
        "{text}"
    );
    assert!(s.eg.table().find("evil.test", 443).is_err());
}

#[test]
fn the_seventeenth_pending_request_is_refused() {
    let (_d, home) = home();
    let s = server(&home, Duration::ZERO);
    let session = initialize(s.addr);
    for i in 0..queue::MAX_PENDING {
        let r = call(
            s.addr,
            &session,
            "ask_operator",
            json!({"question": format!("q{i}")}),
        );
        assert_eq!(r["structuredContent"]["status"], "pending", "{i}: {r}");
    }
    let r = call(
        s.addr,
        &session,
        "ask_operator",
        json!({"question": "one more"}),
    );
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(pending(&home).len(), queue::MAX_PENDING);
    // Deciding one makes room.
    let first = pending(&home).remove(0);
    control::decide(&home, &first, Intent::Reject, "", "t").expect("reject");
    let r = call(
        s.addr,
        &session,
        "ask_operator",
        json!({"question": "now?"}),
    );
    assert_eq!(r["structuredContent"]["status"], "pending", "{r}");
}

fn write_request(home: &Home, kind: &str, payload: Value, reason: &str) -> queue::RequestId {
    let id = queue::RequestId::generate();
    queue::write_request(
        &home.queue_dir().join(SLUG),
        &queue::RequestFile {
            id: id.to_string(),
            kind: serde_json::from_value(json!(kind)).expect("kind"),
            payload,
            reason: reason.into(),
            created_at: "2026-11-23T00:00:00Z".into(),
        },
    )
    .expect("write");
    id
}

fn routes(home: &Home) -> String {
    std::fs::read_to_string(home.state_dir(SLUG).join("egress/routes.json")).expect("routes")
}

#[test]
fn two_deciders_racing_make_exactly_one_effect() {
    let (_d, home) = home();
    write_request(&home, "egress", json!({"host": "race.test"}), "r");
    let req = pending(&home).remove(0);
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let (home, req, barrier) = (home.clone(), req.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let intent = if i == 0 {
                    Intent::Approve
                } else {
                    Intent::Reject
                };
                control::decide(&home, &req, intent, "", &format!("decider-{i}")).is_ok()
            })
        })
        .collect();
    let wins: Vec<bool> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    let audit =
        std::fs::read_to_string(home.audit_dir().join(format!("{SLUG}.jsonl"))).expect("audit");
    assert_eq!(audit.lines().count(), 1);
    assert_eq!(
        routes(&home).matches("race.test").count(),
        usize::from(wins[0])
    );
}

#[test]
fn a_request_rewritten_after_display_is_flagged_and_not_applied() {
    let (_d, home) = home();
    let id = write_request(
        &home,
        "egress",
        json!({"host": "docs.test"}),
        "read the docs",
    );
    let shown = pending(&home).remove(0);
    // The sidecar (or anything that can write the queue) swaps the request.
    let path = home
        .queue_dir()
        .join(SLUG)
        .join(format!("{id}.request.json"));
    let text = std::fs::read_to_string(&path)
        .expect("read")
        .replace("docs.test", "evil.test");
    std::fs::write(&path, text).expect("write");
    let err = control::decide(&home, &shown, Intent::Approve, "", "t").expect_err("tampered");
    assert!(
        err.to_string().contains("changed after it was displayed"),
        "{err}"
    );
    assert!(!routes(&home).contains("evil.test") && !routes(&home).contains("docs.test"));
    let d = queue::read_decision(&home.queue_dir().join(SLUG), id).expect("a decision");
    assert_eq!(d.decision, queue::Verdict::Rejected);
    let audit =
        std::fs::read_to_string(home.audit_dir().join(format!("{SLUG}.jsonl"))).expect("audit");
    assert!(audit.contains("\"event\":\"tampered\""), "{audit}");
}

#[test]
fn hostile_queue_files_are_listed_as_invalid_and_never_applied() {
    let (_d, home) = home();
    let dir = home.queue_dir().join(SLUG);
    let good = write_request(&home, "egress", json!({"host": "good.test"}), "fine");
    let mut bad = Vec::new();
    // Malformed, oversized, a FIFO, a symlink, escape and bidi characters,
    // another slug in the JSON, a path-traversal name.
    let file = |id: &queue::RequestId| dir.join(format!("{id}.request.json"));
    let put = |id: queue::RequestId, text: String| {
        std::fs::write(file(&id), text).expect("write");
        id
    };
    let entry = |id: &queue::RequestId, extra: &str, reason: &str| {
        format!(
            r#"{{"id":"{id}","kind":"egress","payload":{{"host":"bad.test"}},"reason":{}{extra},"created_at":"t"}}"#,
            serde_json::to_string(reason).expect("json")
        )
    };
    let id = queue::RequestId::generate();
    bad.push(put(id, "{not json".into()));
    let id = queue::RequestId::generate();
    bad.push(put(
        id,
        format!("{}{}", entry(&id, "", "big"), " ".repeat(70 * 1024)),
    ));
    let id = queue::RequestId::generate();
    bad.push(put(
        id,
        entry(&id, "", "clear \u{1b}]52;c;aGk=\u{7} screen"),
    ));
    let id = queue::RequestId::generate();
    bad.push(put(id, entry(&id, "", "innocent \u{202e}txt.exe")));
    let id = queue::RequestId::generate();
    bad.push(put(id, entry(&id, r#","slug":"other-abc123""#, "mine")));
    let fifo = queue::RequestId::generate();
    let c = std::ffi::CString::new(file(&fifo).as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo on a path this test owns.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    bad.push(fifo);
    let link = queue::RequestId::generate();
    std::os::unix::fs::symlink(file(&good), file(&link)).expect("symlink");
    bad.push(link);
    std::fs::write(
        dir.join("..%2F..%2Fescape.request.json"),
        entry(&good, "", "x"),
    )
    .expect("write");

    let out = crate::support::run_bottle(&home.root, None, &["queue", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let pending = listed["pending"].as_array().expect("pending");
    assert_eq!(pending.len(), 1, "{listed}");
    assert_eq!(pending[0]["id"], good.to_string());
    assert_eq!(
        listed["invalid"].as_array().expect("invalid").len(),
        bad.len() + 1,
        "{listed}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
    let text = crate::support::run_bottle(&home.root, None, &["queue"]);
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{202e}'),
        "{shown}"
    );
    for id in &bad {
        let out = crate::support::run_bottle(&home.root, None, &["approve", &id.to_string()]);
        assert!(!out.status.success(), "{id} was approved");
    }
    assert!(!routes(&home).contains("bad.test"));
    // The good one, by `<slug>/<id>` and by a prefix.
    let out = crate::support::run_bottle(&home.root, None, &["approve", &format!("{SLUG}/{good}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(routes(&home).contains("good.test"));
    let again = crate::support::run_bottle(&home.root, None, &["approve", &good.to_string()]);
    assert!(!again.status.success());
}

#[test]
fn ambiguous_ids_are_refused() {
    let (_d, home) = home();
    let a = write_request(&home, "question", json!({"question": "a"}), "r");
    let other = "web-zzz999";
    std::fs::create_dir_all(home.queue_dir().join(other)).expect("mkdir");
    // The same id in two bottles' queues.
    std::fs::copy(
        home.queue_dir()
            .join(SLUG)
            .join(format!("{a}.request.json")),
        home.queue_dir()
            .join(other)
            .join(format!("{a}.request.json")),
    )
    .expect("copy");
    let out = crate::support::run_bottle(&home.root, None, &["answer", &a.to_string(), "yes"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ambiguous"));
    let out = crate::support::run_bottle(
        &home.root,
        None,
        &["answer", &format!("{other}/{a}"), "yes"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Python with the official MCP SDK (`BOTTLE_TEST_MCP_PYTHON`, set up by
/// .ci/run; else `python3` if it has `mcp`).
fn mcp_python() -> Option<String> {
    let candidates = [
        std::env::var("BOTTLE_TEST_MCP_PYTHON").ok(),
        Some("python3".into()),
    ];
    candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import mcp.client.streamable_http"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_official_python_sdk_client_talks_to_the_server() {
    let python = mcp_python();
    if !crate::support::require(
        "a Python with the MCP SDK (pip install mcp; BOTTLE_TEST_MCP_PYTHON)",
        python.is_some(),
    ) {
        return;
    }
    let python = python.expect("python");
    let (_d, home) = home();
    let s = server(&home, Duration::from_secs(60));
    let addr = s.addr;
    let client = std::thread::spawn(move || {
        std::process::Command::new(&python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/mcp_client.py"
            ))
            .arg(format!("http://{addr}/mcp"))
            .arg("ask_operator")
            .arg(r#"{"question": "Which database?"}"#)
            .output()
            .expect("python")
    });
    let req = wait_for_request(&home);
    control::decide(&home, &req, Intent::Answer("postgres".into()), "", "t").expect("answer");
    let out = client.join().expect("client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(got["server"], "bottle-supervise");
    assert!(supervise::mcp::VERSIONS.contains(&got["protocol"].as_str().expect("version")));
    assert_eq!(got["tools"].as_array().expect("tools").len(), 5);
    assert_eq!(
        got["result"]["structuredContent"]["answer"], "postgres",
        "{got}"
    );
    assert_eq!(got["result"]["isError"], false);
}
