//! Supervise end to end in a real bottle (SPEC §5.4, §4.7): from inside the
//! agent, an MCP `tools/call request_egress` waits; the operator decides
//! with `bottle approve`/`reject`; the call returns, and an approved host
//! is reachable through the proxy at once (with the bottle's credential for
//! that host injected). The sidecar mounts only this bottle's queue
//! directory and the agent none of it; a sidecar killed mid-request comes
//! back with the request still pending and decidable.

use crate::support::standin::{docker, seen, wait_until, world, Bottle, HOST, TOKEN_VAR};
use crate::support::Engine;
use serde_json::Value;
use std::path::Path;

/// An MCP session from inside the agent with curl: initialize, then one
/// `tools/call`; prints the JSON-RPC answer.
fn mcp_call(tool: &str, args: &str) -> String {
    format!(
        r#"H='-sS -H Content-Type:application/json -H Accept:application/json,text/event-stream'
sid=$(curl $H -D - -o /dev/null -d '{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"sh","version":"1"}}}}}}' http://supervise:9100/mcp | tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
curl $H -H "Mcp-Session-Id: $sid" -d '{{"jsonrpc":"2.0","method":"notifications/initialized"}}' http://supervise:9100/mcp
curl $H --max-time 120 -H "Mcp-Session-Id: $sid" -d '{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}' http://supervise:9100/mcp"#
    )
}

fn queue_json(b: &Bottle) -> Value {
    let out = b.e.bottle(&b.home, None, &["queue", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("queue json")
}

/// Waits for exactly one pending request and returns its id.
fn next_request(b: &Bottle) -> String {
    let mut id = String::new();
    wait_until("the request to reach the queue", || {
        let q = queue_json(b);
        match q["pending"].as_array().map(Vec::as_slice) {
            Some([one]) => {
                id = one["id"].as_str().expect("id").to_string();
                true
            }
            _ => false,
        }
    });
    id
}

/// A supervised shell bottle of a new agent `name`, in a fresh home
/// (`<dir>/home`, with a workspace directory `<dir>/ws`); removed on drop.
fn supervised<'a>(e: &'a Engine, dir: &Path, name: &str) -> Bottle<'a> {
    let home = dir.join("home");
    std::fs::create_dir_all(dir.join("ws")).expect("mkdir");
    crate::support::define(
        &home,
        name,
        "agent_provider: { template: shell }\nsupervise: true\n",
    );
    let out = e.bottle(
        &home,
        None,
        &["start", name, "--detach", "-y", "--no-workspace"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Bottle {
        e,
        home,
        slug: String::from_utf8_lossy(&out.stdout).trim().to_string(),
    }
}

/// The workspace with `b`'s shell pane open (after the four agents).
fn workspace_on(b: &Bottle, dir: &Path, rows: u16, cols: u16) -> crate::support::PtyApp {
    let prompt = format!("agent@{}", b.slug);
    b.workspace(dir, rows, cols, 4, |s| s.contains(&prompt))
}

fn result_text(answer: &str) -> String {
    let v: Value = serde_json::from_str(answer.trim()).unwrap_or(Value::Null);
    v["result"]["content"][0]["text"]
        .as_str()
        .map_or_else(|| answer.to_string(), str::to_string)
}

#[test]
fn an_agent_asks_the_operator_decides_and_the_route_is_live_at_once() {
    let e = Engine::default_docker();
    let w = world();
    let (up, home) = (&w.up, &w.home);
    crate::support::define(
        home,
        "sup",
        &format!(
            "agent_provider: {{ template: shell }}\nsupervise: true\negress:\n  upstream_ca: {}\n  routes:\n    - host: {HOST}\n      path_allowlist: [\"/repos/acme/\"]\n      auth: {{ scheme: Bearer, token_ref: {TOKEN_VAR} }}\n      ssrf_ip_allowlist: [\"{}\"]\n",
            w.ca_path.display(),
            w.subnet
        ),
    );
    let token = format!("tok-{}-sup", w.short(12));
    let b = Bottle::start(&e, home, "sup", &[(TOKEN_VAR, token.as_str())], &up.net);
    let names = bottle::state::names::Names::for_slug(
        &bottle::state::names::Slug::parse(&b.slug).expect("slug"),
    );

    // The sidecar mounts this bottle's queue directory and nothing else of
    // the queue; the agent mounts none of it.
    let mounts = docker(&[
        "inspect",
        &names.sidecar_container,
        "--format",
        "{{range .Mounts}}{{.Source}}={{.Destination}}:{{.RW}} {{end}}",
    ]);
    let queue = home.join("queue").join(&b.slug);
    assert!(
        mounts.contains(&format!("{}=/run/bottle/queue:true", queue.display())),
        "{mounts}"
    );
    let agent_mounts = docker(&[
        "inspect",
        &names.agent_container,
        "--format",
        "{{range .Mounts}}{{.Source}} {{end}}",
    ]);
    assert!(!agent_mounts.contains("queue"), "{agent_mounts}");

    // From inside, the agent cannot reach the queue: no request or
    // decision file anywhere it can see, and ids that try to name other
    // paths, or arguments that claim another bottle, are refused.
    let (_, found) =
        b.sh("find / -name '*.request.json' -o -name '*.decision.json' 2>/dev/null; true");
    assert_eq!(found.trim(), "", "queue files visible to the agent");
    for (tool, args) in [
        (
            "check_request",
            r#"{"id":"../../../../state/x/routes.json"}"#,
        ),
        ("check_request", r#"{"id":"01ARZ3NDEKTSV4RRFFQ69G5FA/"}"#),
        (
            "request_egress",
            r#"{"host":"x.test","reason":"r","slug":"other-abc123"}"#,
        ),
    ] {
        let (_, out) = b.sh(&mcp_call(tool, args));
        let v: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        assert_eq!(v["result"]["isError"], true, "{tool} {args}: {out}");
    }
    assert_eq!(queue_json(&b)["pending"], serde_json::json!([]));

    // Before: refused.
    let body = b.curl(&format!("https://{HOST}/repos/other/x"));
    assert!(body.contains("egress_denied"), "{body}");

    // The agent asks and waits; the operator approves from the CLI.
    let call = mcp_call(
        "request_egress",
        r#"{"host":"api.upstream.test","path_prefix":"/repos/other/","methods":["GET"],"reason":"read the other repo"}"#,
    );
    let asking = std::thread::scope(|s| {
        let waiting = s.spawn(|| b.sh(&call).1);
        let id = next_request(&b);
        let out = e.bottle(home, None, &["approve", &format!("{}/{id}", b.slug)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        waiting.join().expect("the waiting call")
    });
    let text = result_text(&asking);
    assert!(
        text.starts_with("approved") && text.contains("live"),
        "{asking}"
    );
    // Reachable at once (no waiting), with the bottle's credential for
    // that host injected.
    let body = b.curl(&format!("https://{HOST}/repos/other/x"));
    assert_eq!(body.trim(), "upstream ok", "{body}");
    let got = seen(&up.container);
    let last = got.last().expect("a request");
    assert_eq!(last["path"], "/repos/other/x");
    assert_eq!(last["headers"]["authorization"], format!("Bearer {token}"));
    // Only what was approved: another method is still refused.
    let body = b.curl(&format!("-X POST https://{HOST}/repos/other/x"));
    assert!(body.contains("egress_denied"), "{body}");

    // Rejected with a note: the call says so, the host stays refused.
    let call = mcp_call(
        "request_egress",
        r#"{"host":"api.upstream.test","path_prefix":"/repos/secret/","reason":"need it"}"#,
    );
    let refused = std::thread::scope(|s| {
        let waiting = s.spawn(|| b.sh(&call).1);
        let id = next_request(&b);
        let out = e.bottle(home, None, &["reject", &id, "--note", "not that repo"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        waiting.join().expect("the waiting call")
    });
    let text = result_text(&refused);
    assert!(
        text.starts_with("rejected") && text.contains("not that repo"),
        "{refused}"
    );
    let body = b.curl(&format!("https://{HOST}/repos/secret/x"));
    assert!(body.contains("egress_denied"), "{body}");

    // The sidecar killed while a call waits: the request survives; after
    // stop and resume it is still pending, is decided, and the agent reads
    // the decision with check_request.
    let call = mcp_call("ask_operator", r#"{"question":"Which branch?"}"#);
    let id = std::thread::scope(|s| {
        let waiting = s.spawn(|| b.sh(&call));
        let id = next_request(&b);
        docker(&["kill", &names.sidecar_container]);
        let (_, out) = waiting.join().expect("the waiting call");
        assert!(!out.contains("answered"), "{out}");
        id
    });
    let stop = e.bottle(home, None, &["stop", &b.slug]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    let resume = e
        .bottle_cmd(home, None, &["resume", &b.slug, "-y", "--detach"])
        .env(TOKEN_VAR, &token)
        .output()
        .expect("resume");
    assert!(
        resume.status.success(),
        "{}",
        String::from_utf8_lossy(&resume.stderr)
    );
    assert_eq!(next_request(&b), id, "the request is still pending");
    let out = e.bottle(home, None, &["answer", &id, "main"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = mcp_call("check_request", &format!(r#"{{"id":"{id}"}}"#));
    let (_, answer) = b.sh(&check);
    assert!(
        result_text(&answer).contains("the operator answered: main"),
        "{answer}"
    );
    // The approved route survived the restart.
    // (A resumed sidecar may be a new container, off the test network.)
    let _ = std::process::Command::new("docker")
        .args(["network", "connect", &up.net, &names.sidecar_container])
        .output();
    let body = b.curl(&format!("https://{HOST}/repos/other/y"));
    assert_eq!(body.trim(), "upstream ok", "{body}");

    // Every decision is in the audit log, on the host only.
    let audit = std::fs::read_to_string(home.join("audit").join(format!("{}.jsonl", b.slug)))
        .expect("audit");
    assert_eq!(audit.lines().count(), 3, "{audit}");
    drop(b);
    drop(w);
}

/// SPEC §7 in a real PTY: a request raised from pane A shows as a banner
/// while the operator types into pane B; every key typed meanwhile reaches
/// B; prefix `a` then one key, `y`, approves it, and the call in pane A
/// returns approved.
#[test]
fn in_the_workspace_one_key_approves_while_another_pane_keeps_its_keystrokes() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let b = supervised(&e, dir.path(), "sup");
    let (home, slug) = (b.home.clone(), b.slug.clone());
    // The agent's side of the exchange, ready in the work volume.
    let script = format!(
        "{} > /tmp/out\ngrep -q '\"status\":\"approved\"' /tmp/out && echo RESULT-APPROVED || {{ echo RESULT-OTHER; cat /tmp/out; }}\n",
        mcp_call(
            "request_egress",
            r#"{"host":"docs.example.test","path_prefix":"/guide/","reason":"read the guide"}"#
        )
    );
    // Piped into `bottle exec` (input that is not a terminal is forwarded).
    let mut put = e
        .bottle_cmd(
            &home,
            None,
            &["exec", &slug, "--", "sh", "-c", "cat > /workspace/ask.sh"],
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("exec");
    std::io::Write::write_all(&mut put.stdin.take().expect("stdin"), script.as_bytes())
        .expect("write");
    let put = put.wait_with_output().expect("exec");
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let (_, back) = b.sh("cat /workspace/ask.sh");
    assert_eq!(back, script, "the script arrived whole");

    // Pane A: the bottle's session.
    let mut app = workspace_on(&b, dir.path(), 40, 160);
    app.send(b"sh /workspace/ask.sh\r");
    // Pane B: a shell beside it, focused.
    app.send(b"\x02%");
    app.wait_for("pane B's prompt", |s| {
        s.matches(&format!("agent@{slug}")).count() >= 2
    });
    app.send(b"echo typed-");
    app.wait_for("the request's banner", |s| {
        s.contains("asks for network access to docs.example.test/guide/")
    });
    // Typing goes on into pane B while the banner shows.
    for c in "while-the-banner-shows".bytes() {
        app.send(&[c]);
    }
    app.wait_for("pane B got every key", |s| {
        s.contains("echo typed-while-the-banner-shows")
    });
    app.send(b"\x02a");
    app.wait_for("the prompt", |s| s.contains("y approve"));
    // Decision keys are ignored for 500 ms after a request is shown.
    std::thread::sleep(std::time::Duration::from_millis(800));
    app.send(b"y");
    app.wait_for("the call in pane A returns approved", |s| {
        s.contains("RESULT-APPROVED")
    });
    app.send(b"-after\r");
    // The echo's output, at the start of a row of pane B: nothing typed
    // was lost or taken by the prompt.
    app.wait_for("pane B's line, whole", |s| {
        s.contains("│typed-while-the-banner-shows-after ")
    });
    let routes = std::fs::read_to_string(home.join("state").join(&slug).join("egress/routes.json"))
        .expect("routes");
    assert!(
        routes.contains("docs.example.test") && routes.contains("approved:"),
        "{routes}"
    );
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);
}

/// A capability request approved in the workspace (SPEC §5.4): the prompt
/// shows what the Dockerfile brings in, then the diff against the current
/// one; the image is built with no network from the Dockerfile alone; the
/// agent container is recreated on it with the same volumes (the work
/// survives) and the hardening of §4.8 whatever the Dockerfile says; the
/// pane re-attaches by itself; a resume keeps the new image.
#[test]
fn a_capability_approval_recreates_the_agent_keeping_its_work_and_the_pane_re_attaches() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let b = supervised(&e, dir.path(), "cap");
    let (home, slug) = (b.home.clone(), b.slug.clone());
    let names = bottle::state::names::Names::for_slug(
        &bottle::state::names::Slug::parse(&slug).expect("slug"),
    );
    let (_, image) = b.sh("echo \"$BOTTLE_AGENT_IMAGE\"; echo work-kept > /workspace/keep.txt");
    let image = image.trim().to_string();
    assert!(image.starts_with("bottle/agent-shell:"), "{image}");
    let before = docker(&["inspect", &names.agent_container, "--format", "{{.Id}}"]);

    let mut app = workspace_on(&b, dir.path(), 50, 160);

    // The agent proposes its image plus one file; it says USER root, which
    // the recreated agent does not get.
    let args = format!(
        r#"{{"summary":"a marker tool","dockerfile":"FROM {image}\nUSER root\nRUN echo capability-built > /opt/cap-marker\n","reason":"needs the marker"}}"#
    );
    let call = mcp_call("request_capability", &args);
    app.send(b"echo OLD-SCREEN-MARK\r");
    app.wait_for("the mark on the old screen", |s| {
        s.contains("│OLD-SCREEN-MARK")
    });
    // The call ends with the old container (not joined: whatever the
    // engine does with an exec whose container goes, the test goes on).
    let (home2, slug2) = (home.clone(), slug.clone());
    let e2 = e.clone();
    std::thread::spawn(move || {
        let _ = e2.bottle(&home2, None, &["exec", &slug2, "--", "sh", "-c", &call]);
    });
    app.wait_for("the request's banner", |s| {
        s.contains("asks for a new agent image: a marker tool")
    });
    app.send(b"\x02a");
    app.wait_for("the prompt with what comes in, then the diff", |s| {
        let from = s.find(&format!("! FROM {image}"));
        let diff = s.find("+ RUN echo capability-built > /opt/cap-marker");
        let old = s.find("- FROM debian:bookworm-slim");
        s.contains("y approve")
            && from.is_some()
            && from < diff
            && old.is_some()
            && s.contains("diff against the Dockerfile of the current image")
    });
    std::thread::sleep(std::time::Duration::from_millis(800));
    app.send(b"y");
    // The pane comes back by itself on the new container: a new screen.
    app.wait_for("the summary", |s| {
        s.contains("the agent was recreated on it")
    });
    app.wait_for("the pane's prompt on a new screen", |s| {
        s.contains(&format!("agent@{slug}")) && !s.contains("OLD-SCREEN-MARK")
    });
    let after = docker(&["inspect", &names.agent_container, "--format", "{{.Id}}"]);
    assert_ne!(before, after, "the agent container was recreated");
    app.send(b"cat /opt/cap-marker /workspace/keep.txt; id -u; grep CapEff /proc/self/status\r");
    app.wait_for(
        "the new image's file, the kept work, uid 1000, no capabilities",
        |s| {
            s.contains("capability-built")
                && s.contains("work-kept")
                && s.contains("│1000 ")
                && s.contains("CapEff:")
                && s.contains("0000000000000000")
        },
    );
    let inspect = docker(&[
        "inspect",
        &names.agent_container,
        "--format",
        "{{.Config.Image}} {{.Config.User}} {{.HostConfig.CapDrop}} {{.HostConfig.CapAdd}} {{.HostConfig.SecurityOpt}} {{.HostConfig.NetworkMode}}",
    ]);
    assert!(
        inspect.starts_with("bottle/agent-capability:")
            && inspect.contains(" 0:0 [ALL] [SETUID SETGID KILL] [no-new-privileges:true] ")
            && inspect.ends_with(&names.internal_network),
        "{inspect}"
    );
    let audit =
        std::fs::read_to_string(home.join("audit").join(format!("{slug}.jsonl"))).expect("audit");
    assert!(audit.contains("\"kind\":\"capability\""), "{audit}");
    app.send(b"\x02q");
    assert_eq!(app.wait_exit(), 0);

    // Stopped and resumed: still on the approved image.
    let stop = e.bottle(&home, None, &["stop", &slug]);
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    let resume = e.bottle(&home, None, &["resume", &slug, "-y", "--detach"]);
    assert!(
        resume.status.success(),
        "{}",
        String::from_utf8_lossy(&resume.stderr)
    );
    let (_, out) = b.sh("cat /opt/cap-marker /workspace/keep.txt");
    assert_eq!(out, "capability-built\nwork-kept\n");
}
