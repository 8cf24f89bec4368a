//! SPEC §4.3–4.5 and §5.3 attacked from inside a real bottle: the egress
//! proxy in front of a stand-in HTTPS upstream (`bottle debug upstream`,
//! its own CA given as `upstream_ca`) that lives only on an internal test
//! network the sidecar is connected to. Nothing leaves this machine.

use crate::support::standin::{
    docker, run_tool, seen, standin_ip, wait_until, world, Bottle, World, HOST, PASS,
};
use crate::support::Engine;
use std::path::{Path, PathBuf};
use std::process::Command;

const TOKEN_VAR: &str = crate::support::standin::TOKEN_VAR;

fn write_definitions(w: &World, names: [&str; 3]) {
    let [control, multi, rebind] = names;
    crate::support::define(
        &w.home,
        "up",
        &format!(
            "agent_provider: {{ template: shell }}\nenv:\n  NOTE: \"?A note\"\negress:\n  upstream_ca: {ca}\n  routes:\n    - host: {HOST}\n      path_allowlist: [\"/repos/acme/\", \"/sse\", \"/sse-ack\", \"/redirect\", \"/upload\", \"/ws\"]\n      methods: [GET, POST]\n      websocket: true\n      auth: {{ scheme: Bearer, token_ref: {TOKEN_VAR} }}\n      ssrf_ip_allowlist: [\"{subnet}\"]\n    - host: {PASS}\n      tls_passthrough: true\n      ssrf_ip_allowlist: [\"{subnet}\"]\n    - host: private.upstream.test\n    - host: nows.upstream.test\n      ssrf_ip_allowlist: [\"{subnet}\"]\n    - host: {control}\n    - host: {multi}\n      ssrf_ip_allowlist: [\"{subnet}\"]\n    - host: {rebind}\n      ssrf_ip_allowlist: [\"{subnet}\"]\n",
            ca = w.ca_path.display(),
            subnet = w.subnet,
        ),
    );
}

#[test]
fn the_proxy_allows_only_routes_injects_the_token_and_blocks_leaks() {
    let e = Engine::default_docker();
    let w = world();
    let (tag, up, home) = (&w.tag, &w.up, &w.home);
    let control = format!("control-{}.test", &tag[tag.len() - 10..]);
    let multi = format!("multi-{}.test", &tag[tag.len() - 10..]);
    let rebind = format!("rebind-{}.test", &tag[tag.len() - 10..]);
    write_definitions(&w, [&control, &multi, &rebind]);
    let token = format!("tok-{}-injected", &tag[tag.len() - 12..]);
    let note = format!("note-canary-{}", &tag[tag.len() - 8..]);
    let b = Bottle::start(
        &e,
        home,
        "up",
        &[
            (TOKEN_VAR, token.as_str()),
            ("BOTTLE_ANSWER_NOTE", note.as_str()),
        ],
        &up.net,
    );
    let slug = b.slug.clone();

    // Unrouted: the egress_denied JSON, over HTTPS (the CA is trusted) and
    // plain HTTP.
    let body = b.curl("https://x.invalid/");
    assert!(body.contains("\"error\":\"egress_denied\""), "{body}");
    assert!(body.contains("request_egress"), "{body}");
    let body = b.curl("http://x.invalid/a?b=c");
    assert!(body.contains("egress_denied"), "{body}");

    // Routed: it works, and the upstream got the injected token, not the
    // agent's own header.
    let body = b.curl(&format!(
        "-H 'Authorization: Bearer agent-made' https://{HOST}/repos/acme/app?x=1"
    ));
    assert_eq!(body.trim(), "upstream ok", "{body}");
    let got = seen(&up.container);
    let last = got.last().expect("a request");
    assert_eq!(last["path"], "/repos/acme/app?x=1");
    assert_eq!(last["headers"]["authorization"], format!("Bearer {token}"));
    assert!(!docker(&["logs", &up.container]).contains("agent-made"));

    // git over HTTPS goes the same way (it trusts the bundle through
    // GIT_SSL_CAINFO) and gets the token injected.
    b.sh(&format!(
        "git ls-remote https://{HOST}/repos/acme/app.git >/dev/null 2>&1; true"
    ));
    let got = seen(&up.container);
    let git = got
        .iter()
        .find(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/repos/acme/app.git/info/refs"))
        })
        .expect("git's request reached the upstream");
    assert!(git["headers"]["user-agent"]
        .as_str()
        .is_some_and(|u| u.starts_with("git/")));
    assert_eq!(git["headers"]["authorization"], format!("Bearer {token}"));

    // Refused, with the JSON, and the upstream sees none of them.
    let before = seen(&up.container).len();
    for (args, why) in [
        ("https://other.invalid/".to_string(), "another host"),
        (format!("https://{HOST}:8443/repos/acme/x"), "another port"),
        (
            format!("https://{HOST}/repos/acme-evil"),
            "a segment-boundary prefix",
        ),
        (
            format!("--path-as-is https://{HOST}/repos/acme/../evil"),
            "dot segments",
        ),
        (
            format!("--path-as-is https://{HOST}/repos/acme/%2e%2e/evil"),
            "encoded dots",
        ),
        (
            format!("--path-as-is https://{HOST}/repos/acme%2F..%2Fevil"),
            "an encoded slash",
        ),
        (format!("-X DELETE https://{HOST}/repos/acme/x"), "a method"),
        ("https://10.0.0.1/".to_string(), "an IP literal"),
        (
            "https://[::ffff:10.0.0.1]/".to_string(),
            "an IPv4-mapped literal",
        ),
        ("https://[64:ff9b::a00:1]/".to_string(), "a NAT64 literal"),
        ("https://0.0.0.0/".to_string(), "0.0.0.0"),
    ] {
        let body = b.curl(&args);
        assert!(body.contains("egress_denied"), "{why}: {args}: {body}");
    }
    // Another Host in the tunnel: 400, nothing forwarded.
    let body = b.curl(&format!(
        "-H 'Host: other.test' https://{HOST}/repos/acme/x"
    ));
    assert!(
        body.contains("\"error\":\"bad_request\"") && body.contains("names another host"),
        "another Host in the tunnel: {body}"
    );
    // A second request with another Host on the same keep-alive tunnel.
    let body = b.curl(&format!(
        "https://{HOST}/repos/acme/x --next -H 'Host: other.test' https://{HOST}/repos/acme/y"
    ));
    assert!(
        body.contains("upstream ok") && body.contains("names another host"),
        "the first passes, the second is refused: {body}"
    );
    let before = before + 1;
    // A name resolving to a private address (its route has no allowlist).
    let body = b.curl("https://private.upstream.test/");
    assert!(
        body.contains("not globally routable"),
        "a private address must be refused: {body}"
    );
    assert_eq!(
        seen(&up.container).len(),
        before,
        "nothing refused reached the upstream"
    );

    // DLP: shapes and the bottle's own values (a `?` value lives only in
    // the agent's session; here it is typed), in URL, header and body,
    // also split across chunks, and inside compressed bodies (decoded to be
    // scanned); a coding the proxy cannot decode is refused.
    let aws = format!("{}{}", "AKIA", "IOSFODNN7EXAMPLE");
    for (args, rule) in [
        (
            format!("'https://{HOST}/repos/acme/x?k={aws}'"),
            "aws-access-key",
        ),
        (
            format!("-H 'X-Key: {aws}' https://{HOST}/repos/acme/x"),
            "aws-access-key",
        ),
        (
            format!("-d '{note}' https://{HOST}/upload"),
            "canary:canary-NOTE",
        ),
        (
            format!("-H 'X-Note: {note}' https://{HOST}/repos/acme/x"),
            "canary:canary-NOTE",
        ),
        (
            format!("'https://{HOST}/repos/acme/x?n={note}'"),
            "canary:canary-NOTE",
        ),
        (
            format!("--data-binary @/tmp/big https://{HOST}/upload"),
            "canary:canary-NOTE",
        ),
        (
            format!("-H 'Content-Encoding: gzip' --data-binary @/tmp/big.gz https://{HOST}/upload"),
            "canary:canary-NOTE",
        ),
        (
            format!("-H 'Content-Encoding: br' --data-binary @/tmp/big.gz https://{HOST}/upload"),
            "compressed-body",
        ),
    ] {
        // A 200 KiB body with the value at its end (many chunks).
        b.sh(&format!("head -c 200000 /dev/zero | tr '\\0' x > /tmp/big; printf %s '{note}' >> /tmp/big; gzip -c /tmp/big > /tmp/big.gz"));
        let body = b.curl(&args);
        assert!(
            body.contains("dlp_blocked") && body.contains(rule),
            "{rule}: {args}: {body}"
        );
    }
    let leaked = docker(&["logs", &up.container]);
    assert!(
        !leaked.contains(&note) && !leaked.contains(&aws),
        "a canary reached the upstream"
    );
    // A clean compressed body goes through as it was sent.
    b.sh("printf 'a clean body' | gzip -c > /tmp/ok.gz");
    let body = b.curl(&format!(
        "-H 'Content-Encoding: gzip' --data-binary @/tmp/ok.gz https://{HOST}/upload"
    ));
    assert_eq!(body.trim(), "upstream ok", "{body}");
    let got = seen(&up.container);
    assert_eq!(
        got.last().expect("a request")["headers"]["content-encoding"],
        "gzip"
    );

    // WebSocket: through on a `websocket: true` route, client messages
    // scanned (a canary closes the connection and never arrives), refused
    // on a route without it.
    let ws =
        |url: &str, msg: &str| b.sh(&format!("/opt/bottle/bottle debug ws '{url}' '{msg}' 2>&1"));
    let (code, out) = ws(&format!("https://{HOST}/ws"), "hello-ws");
    assert_eq!(
        (code, out.trim().lines().last()),
        (0, Some("echo: hello-ws")),
        "{out}"
    );
    let (code, out) = ws(&format!("https://{HOST}/ws"), &format!("leak {note} now"));
    assert_eq!(code, 3, "the connection is closed: {out}");
    let (code, out) = ws("https://nows.upstream.test/ws", "hi");
    assert!(code != 0 && out.contains("403"), "{out}");
    assert!(
        !docker(&["logs", &up.container]).contains(&note),
        "the canary reached the upstream"
    );

    // Redirects are passed on, not followed.
    let code = b.curl(&format!(
        "-o /dev/null -w '%{{http_code}}' https://{HOST}/redirect"
    ));
    assert_eq!(code.trim(), "302");
    // A client that follows it to an unrouted host is refused there.
    let body = b.curl(&format!("-L https://{HOST}/redirect"));
    assert!(body.contains("egress_denied"), "{body}");

    // Server-sent events arrive one by one.
    let (status, out) = b.sh(&format!(
        "curl -sS -N --max-time 60 https://{HOST}/sse > /tmp/sse & \
         for i in $(seq 1 100); do grep -q event-1 /tmp/sse && break; sleep 0.2; done; \
         grep -q event-2 /tmp/sse && echo early; grep -q event-1 /tmp/sse && echo first; \
         curl -sS https://{HOST}/sse-ack >/dev/null; \
         for i in $(seq 1 100); do grep -q event-2 /tmp/sse && break; sleep 0.2; done; \
         grep -q event-2 /tmp/sse && echo second; kill %1 2>/dev/null; true"
    ));
    assert_eq!(
        (status, out.split_whitespace().collect::<Vec<_>>()),
        (0, vec!["first", "second"])
    );

    // Passthrough: a blind tunnel when the SNI is the CONNECT host; closed
    // when it is not.
    let body = b.curl(&format!("-k https://{PASS}/repos/acme/x"));
    assert_eq!(body.trim(), "upstream ok", "{body}");
    let body = b.curl(&format!(
        "-k --connect-to {HOST}:443:{PASS}:443 https://{HOST}/repos/acme/x"
    ));
    assert!(
        !body.contains("upstream ok"),
        "a mismatched SNI got through: {body}"
    );

    // The token and the CA key are nowhere in the agent.
    let (_, found) = b.sh(&format!(
        "grep -l '{}' /proc/*/environ 2>/dev/null; find / -name ca.key 2>/dev/null; grep -rl '{}' /home /workspace /tmp /etc 2>/dev/null; true",
        &token[..token.len() - 1],
        &token[..token.len() - 1]
    ));
    assert_eq!(found.trim(), "", "found in the agent");

    // A route written to routes.json becomes live (waited for).
    let state = home.join("state").join(&slug).join("egress");
    let body = b.curl(&format!("https://{HOST}/later/x"));
    assert!(body.contains("egress_denied"), "{body}");
    let text = std::fs::read_to_string(state.join("routes.json")).expect("routes");
    let mut file: serde_json::Value = serde_json::from_str(&text).expect("json");
    file["routes"][0]["path_allowlist"]
        .as_array_mut()
        .expect("list")
        .push("/later/".into());
    std::fs::write(state.join("routes.json"), file.to_string()).expect("write");
    wait_until("the new route to be live", || {
        b.curl(&format!("https://{HOST}/later/x")).trim() == "upstream ok"
    });

    // `bottle routes` shows the live routes; `--revoke` removes one, and the
    // proxy drops it (waited for).
    let listed = e.bottle(home, None, &["routes", &slug]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains(HOST) && listed.contains("Bearer injected") && listed.contains(PASS),
        "{listed}"
    );
    let revoked = e.bottle(home, None, &["routes", &slug, "--revoke", PASS]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    wait_until("the revoked route to be refused", || {
        b.curl(&format!("-k https://{PASS}/repos/acme/x"))
            .contains("egress_denied")
    });
    let again = e.bottle(home, None, &["routes", &slug, "--revoke", PASS]);
    assert!(!again.status.success(), "revoking twice is an error");

    // Unrouted names are never resolved; a routed one is (the control).
    let stub = crate::support::DnsStub::get();
    if crate::support::require(
        "a recording DNS stub as dockerd's resolver (BOTTLE_TEST_DNS_STUB, set up by .ci/run)",
        stub.is_some(),
    ) {
        let stub = stub.expect("stub");
        let nonce = format!("never-{}.test", &tag[tag.len() - 10..]);
        b.curl(&format!("https://{nonce}/"));
        b.curl(&format!("https://{control}/"));
        assert!(
            stub.wait_for(&control),
            "the routed control name was never resolved"
        );
        assert!(!stub.saw(&nonce), "an unrouted name was resolved");

        // A multi-address answer: the metadata and loopback addresses are
        // dropped, and the allowlisted stand-in is the one connected.
        let standin = standin_ip(up);
        stub.answer(
            &multi,
            &[
                "169.254.169.254".parse().expect("ip"),
                "127.0.0.1".parse().expect("ip"),
                standin,
            ],
        );
        let body = b.curl(&format!("https://{multi}/m"));
        assert_eq!(body.trim(), "upstream ok", "{body}");
        assert!(seen(&up.container)
            .iter()
            .any(|r| r["headers"]["host"] == multi.as_str()));

        // DNS rebinding: the name answers the allowlisted stand-in first and
        // the metadata address after. The proxy resolves for every request
        // and connects to the address it checked, so the first request
        // reaches the stand-in (one A query) and the second, seeing the
        // rebound answer, is refused; nothing reaches 169.254.169.254. The
        // first request's upstream connection is pooled by then (issue
        // 21): the second must not get it either.
        stub.answer_in_turn(
            &rebind,
            &[&[standin], &["169.254.169.254".parse().expect("ip")]],
        );
        let body = b.curl(&format!("https://{rebind}/first"));
        assert_eq!(body.trim(), "upstream ok", "{body}");
        assert_eq!(
            stub.a_queries(&rebind),
            1,
            "one lookup, then the checked address"
        );
        let body = b.curl(&format!("https://{rebind}/second"));
        assert!(
            body.contains("egress_upstream") && body.contains("not globally routable"),
            "the rebound answer must be refused: {body}"
        );
        assert!(!seen(&up.container).iter().any(|r| r["path"] == "/second"));
    }
    drop(b);
    drop(w);
}

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// `egress.upstream_proxy`: every upstream connection is a CONNECT through
/// the operator's proxy (with its credentials from the URL); the route
/// check still comes first, so unrouted hosts never reach it.
#[test]
fn an_upstream_proxy_carries_the_upstream_connections() {
    let e = Engine::default_docker();
    let w = world();
    let (up, home) = (&w.up, &w.home);
    let fwd = Container(format!("bottle-test-fwd-{}", w.short(8)));
    run_tool(&fwd.0, &up.net, &["fwd.upstream.test"], &["connect-proxy"]);
    wait_until("the stand-in proxy", || {
        docker(&["logs", &fwd.0]).contains("listening")
    });
    crate::support::define(
        home,
        "via",
        &format!(
            "agent_provider: {{ template: shell }}\negress:\n  upstream_ca: {}\n  upstream_proxy: \"http://op:p%40ss@fwd.upstream.test:3128\"\n  routes:\n    - host: {HOST}\n      path_allowlist: [\"/repos/acme/\"]\n",
            w.ca_path.display()
        ),
    );
    let b = Bottle::start(&e, home, "via", &[], &up.net);
    let slug = b.slug.clone();
    let body = b.curl(&format!("https://{HOST}/repos/acme/x"));
    assert_eq!(body.trim(), "upstream ok", "{body}");
    let body = b.curl("https://elsewhere.invalid/");
    assert!(body.contains("egress_denied"), "{body}");
    let log = docker(&["logs", &fwd.0]);
    let connects: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "connect")
        .collect();
    assert_eq!(connects.len(), 1, "one tunnel, for the routed host: {log}");
    assert_eq!(connects[0]["target"], format!("{HOST}:443"));
    assert_eq!(connects[0]["proxy_authorization"], "Basic b3A6cEBzcw==");
    // The preflight names the proxy without its credentials, and nothing
    // under $BOTTLE_HOME but the definition holds them.
    let meta = std::fs::read_to_string(home.join("state").join(&slug).join("metadata.json"))
        .expect("metadata");
    assert!(
        meta.contains("through the proxy http://fwd.upstream.test:3128  (credentials not shown)"),
        "{meta}"
    );
    for entry in walk(home) {
        if entry.ends_with("via.md") {
            continue;
        }
        let text = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&text).contains("p%40ss"),
            "the proxy password is in {}",
            entry.display()
        );
    }
    drop(b);
    drop(fwd);
    drop(w);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Streams `tar` of these paths under `base` into `dest` in the agent's
/// container (as the agent).
fn put_into(agent_container: &str, base: &Path, paths: &[&str], dest: &str) {
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(base)
        .args([
            "-c",
            "--exclude=site-packages",
            "--exclude=test",
            "--exclude=__pycache__",
            "--exclude=idlelib",
            "--exclude=tkinter",
            "--exclude=ensurepip",
        ])
        .args(paths)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("tar");
    let out = Command::new("docker")
        .args([
            "exec",
            "-i",
            // The container's own user is the session holder's (root).
            "-u",
            "1000:1000",
            agent_container,
            "sh",
            "-c",
            &format!("mkdir -p {dest} && tar -C {dest} -x"),
        ])
        .stdin(tar.stdout.take().expect("tar's output"))
        .output()
        .expect("docker exec");
    assert!(tar.wait().expect("tar").success());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The clients agents are written in: Node (what Claude Code and Codex's
/// launchers run on) and Python, the host's own builds copied into a real
/// bottle. Through `HTTPS_PROXY` they reach an allowed route with the
/// token injected and trust the bottle's CA only through the bundle the
/// environment names; an unrouted host answers them with the JSON.
#[test]
fn node_and_python_go_through_the_proxy_and_trust_the_bundle() {
    let node = PathBuf::from("/usr/bin/node");
    let python = Command::new("python3")
        .args([
            "-c",
            "import sys,sysconfig; print(sys.base_prefix); print(sysconfig.get_config_var('INSTSONAME') or ''); print('python%d.%d' % sys.version_info[:2])",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
    let has_node = crate::support::require(
        "Node.js at /usr/bin/node (for a node client inside a bottle)",
        node.exists(),
    );
    let has_python = crate::support::require(
        "python3 (for a python client inside a bottle)",
        python.as_ref().is_some_and(|p| p.len() == 3),
    );
    if !has_node && !has_python {
        return;
    }
    let e = Engine::default_docker();
    let w = world();
    let (tag, up, home, dir) = (&w.tag, &w.up, &w.home, &w.dir);
    write_definitions(&w, ["control.invalid", "multi.invalid", "rebind.invalid"]);
    let token = format!("tok-{}-clients", &tag[tag.len() - 12..]);
    let b = Bottle::start(
        &e,
        home,
        "up",
        &[
            (TOKEN_VAR, token.as_str()),
            ("BOTTLE_ANSWER_NOTE", "unused-note"),
        ],
        &up.net,
    );
    let agent = bottle::state::names::Names::for_slug(
        &bottle::state::names::Slug::parse(&b.slug).expect("slug"),
    )
    .agent_container;
    let injected = |path: &str| {
        seen(&up.container).iter().any(|r| {
            r["path"] == path && r["headers"]["authorization"] == format!("Bearer {token}").as_str()
        })
    };

    if has_node {
        put_into(
            &agent,
            Path::new("/usr/bin"),
            &["node"],
            "/workspace/.clients",
        );
        // Node's https through a CONNECT tunnel to the proxy (Node 20 has
        // no proxy support of its own; the agent CLIs bring theirs).
        let script = r#"
const http = require('http'), https = require('https'), tls = require('tls');
const [host, path] = process.argv.slice(2);
const proxy = new URL(process.env.HTTPS_PROXY);
const req = http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: host + ':443' });
req.on('connect', (_res, socket) => {
  https.get({ host, port: 443, path, createConnection: () => tls.connect({ socket, servername: host }) }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => console.log(res.statusCode + ' ' + body.trim()));
  }).on('error', (e) => console.log('error ' + e.code));
});
req.on('error', (e) => console.log('error ' + e.code));
req.end();
"#;
        std::fs::write(dir.path().join("get.js"), script).expect("write");
        put_into(&agent, dir.path(), &["get.js"], "/workspace/.clients");
        let node = |env: &str, host: &str, path: &str| {
            b.sh(&format!(
                "{env} /workspace/.clients/node /workspace/.clients/get.js {host} {path} 2>&1"
            ))
            .1
        };
        let out = node("", HOST, "/repos/acme/node");
        assert_eq!(out.trim(), "200 upstream ok", "{out}");
        assert!(injected("/repos/acme/node"), "node's request got the token");
        let out = node("", "x.invalid", "/");
        assert!(
            out.starts_with("403 ") && out.contains("egress_denied"),
            "{out}"
        );
        // Without the bundle Node does not trust the bottle's CA: the trust
        // comes from NODE_EXTRA_CA_CERTS and nowhere else.
        let out = node("env -u NODE_EXTRA_CA_CERTS", HOST, "/repos/acme/untrusted");
        assert!(out.contains("error"), "{out}");
        assert!(!injected("/repos/acme/untrusted"));
    }

    if let Some(python) = python.filter(|_| has_python) {
        let (prefix, lib, version) = (&python[0], &python[1], &python[2]);
        let mut paths = vec![format!("bin/{version}"), format!("lib/{version}")];
        if !lib.is_empty() && Path::new(prefix).join("lib").join(lib).exists() {
            paths.push(format!("lib/{lib}"));
        }
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        put_into(&agent, Path::new(prefix), &paths, "/workspace/.py");
        // urllib takes the proxy from HTTPS_PROXY and the trust from
        // SSL_CERT_FILE, as most Python tools do.
        let script = "import sys, urllib.request, urllib.error\ntry:\n    r = urllib.request.urlopen(sys.argv[1], timeout=30)\n    print(r.status, r.read().decode().strip())\nexcept urllib.error.HTTPError as e:\n    print(e.code, e.read().decode().strip())\nexcept Exception as e:\n    print('error', type(e).__name__, e)\n";
        std::fs::write(dir.path().join("get.py"), script).expect("write");
        put_into(&agent, dir.path(), &["get.py"], "/workspace/.py");
        let py = |env: &str, url: &str| {
            b.sh(&format!(
                "{env} LD_LIBRARY_PATH=/workspace/.py/lib /workspace/.py/bin/{version} /workspace/.py/get.py {url} 2>&1"
            ))
            .1
        };
        let out = py("", &format!("https://{HOST}/repos/acme/python"));
        assert_eq!(out.trim(), "200 upstream ok", "{out}");
        assert!(
            injected("/repos/acme/python"),
            "python's request got the token"
        );
        let out = py("", "https://x.invalid/");
        assert!(
            out.starts_with("403 ") && out.contains("egress_denied"),
            "{out}"
        );
        let out = py(
            "env -u SSL_CERT_FILE",
            &format!("https://{HOST}/repos/acme/untrusted-py"),
        );
        assert!(out.contains("CERTIFICATE_VERIFY_FAILED"), "{out}");
    }
    drop(b);
    drop(w);
}
