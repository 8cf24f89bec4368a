//! The real agent CLIs in real bottles (issue 9): Claude Code and Codex,
//! installed on this machine by npm (`BOTTLE_AGENT_CLIS`, an npm prefix;
//! `.ci/run` installs the pinned versions), built into their images with
//! `CLI_SOURCE=context`, driven through a workspace pane. Anthropic's API
//! is a stand-in on an internal test network (it answers the Messages API
//! with a canned streamed reply); nothing leaves this machine.

use crate::support::standin::{docker, seen, world, Bottle, ANTHROPIC, TOKEN_VAR};
use crate::support::Engine;
use std::time::Duration;

const SLOW: Duration = Duration::from_secs(120);
const QUESTION: &str = "Please greet the stand-in";
const REPLY: &str = bottle::sidecar::egress::standin::MESSAGES_REPLY;

/// One turn typed into the agent's pane, answered by the stand-in.
/// The question is typed, seen in the agent's composer, and only then
/// submitted: Codex takes keys that arrive in a burst for a paste, and an
/// Enter inside one for a newline, so under load the Enter waits for the
/// screen and is sent again while the composer still holds the question.
fn ask(app: &mut crate::support::PtyApp) {
    app.send(QUESTION.as_bytes());
    app.wait_for("the question in the composer", |s| s.contains(QUESTION));
    let until = std::time::Instant::now() + SLOW;
    loop {
        std::thread::sleep(Duration::from_millis(1500));
        app.send(b"\r");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let s = app.screen_text();
            if s.contains(REPLY) || !s.contains(QUESTION) || s.matches(QUESTION).count() > 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let s = app.screen_text();
        // Submitted: the reply came, or the question left the composer for
        // the transcript (then it may show once or twice).
        let composer_holds_it = s
            .lines()
            .rev()
            .take(6)
            .any(|l| l.contains(&format!("› {QUESTION}")));
        if s.contains(REPLY) || !composer_holds_it || std::time::Instant::now() > until {
            break;
        }
    }
    app.wait_for_within("the stand-in's reply in the pane", SLOW, |s| {
        s.contains(REPLY)
    });
}

/// The npm prefix holding the pinned CLIs, or NOT RUN.
fn agent_clis() -> bool {
    let prefix = std::env::var_os("BOTTLE_AGENT_CLIS").map(std::path::PathBuf::from);
    crate::support::require(
        "the real agent CLIs (BOTTLE_AGENT_CLIS: an npm prefix with @anthropic-ai/claude-code and @openai/codex; .ci/run installs them)",
        prefix.is_some_and(|p| p.join("node_modules").is_dir()),
    )
}

fn metadata(b: &Bottle) -> serde_json::Value {
    let text = std::fs::read_to_string(b.home.join("state").join(&b.slug).join("metadata.json"))
        .expect("metadata.json");
    serde_json::from_str(&text).expect("metadata json")
}

fn connect_sidecar(b: &Bottle, net: &str) {
    let names = bottle::state::names::Names::for_slug(
        &bottle::state::names::Slug::parse(&b.slug).expect("slug"),
    );
    // Already connected when the sidecar container survived a stop.
    let _ = std::process::Command::new("docker")
        .args(["network", "connect", net, &names.sidecar_container])
        .output();
}

/// Whether the real token appears anywhere the agent can read: its
/// environment, its files, any process's environment or arguments. The
/// pattern is assembled inside so no command line carries it whole.
fn agent_can_find(b: &Bottle, token: &str) -> String {
    let (a, z) = token.split_at(token.len() / 2);
    let (_, out) = b.sh(&format!(
        "d=$(mktemp -d /tmp/.pat-XXXXXX); printf '%s%s' '{a}' '{z}' > $d/p; \
         {{ env | grep -F -f $d/p; \
            grep -rslF -f $d/p --exclude-dir=$(basename $d) /home /workspace /tmp /etc /root /run /var /opt /usr/local 2>/dev/null; \
            grep -slF -f $d/p /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null; }} | grep -v \"^$d\"; rm -rf $d; true"
    ));
    out
}

#[test]
fn claude_code_first_screen_a_turn_through_the_proxy_and_exact_resume() {
    if !agent_clis() {
        return;
    }
    let e = Engine::default_docker();
    let w = world();
    let home = &w.home;
    crate::support::define(
        home,
        "claude",
        &format!(
            "agent_provider: {{ template: claude, auth_token: {TOKEN_VAR} }}\nsupervise: true\negress:\n  upstream_ca: {}\n  routes:\n    - host: {ANTHROPIC}\n      ssrf_ip_allowlist: [\"{}\"]\n",
            w.ca_path.display(),
            w.subnet
        ),
    );
    // With the recording stub as dockerd's resolver, the name answers the
    // stand-in even before the sidecar joins its network.
    if let Some(stub) = crate::support::DnsStub::get() {
        stub.answer(ANTHROPIC, &[crate::support::standin::standin_ip(&w.up)]);
    }
    let token = format!("sk-ant-oat01-real-{}-operator-token", w.short(12));
    let b = Bottle::start(
        &e,
        home,
        "claude",
        &[(TOKEN_VAR, token.as_str())],
        &w.up.net,
    );
    let sid = metadata(&b)["session_id"]
        .as_str()
        .expect("session_id in metadata.json")
        .to_string();

    // The welcome screen in a workspace pane, with no onboarding, trust or
    // bypass-consent dialog in the way.
    let welcome = |s: &str| s.contains("Claude Code") && s.contains("bypass permissions");
    let mut app = b.workspace(w.dir.path(), 50, 160, 3, |s| {
        s.contains("Claude Code") || s.contains("trust") || s.contains("theme")
    });
    app.wait_for_within("Claude Code's welcome screen", SLOW, welcome);
    let screen = app.screen_text();
    for dialog in [
        "Choose the text style",
        "Do you trust",
        "Yes, I accept",
        "Select login method",
        "Detected a custom API key",
        "Bypass Permissions mode",
    ] {
        assert!(!screen.contains(dialog), "{dialog}:\n{screen}");
    }

    // A real turn, through the proxy, answered by the stand-in.
    ask(&mut app);
    let requests = seen(&w.up.container);
    let turn = requests
        .iter()
        .find(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/v1/messages") && !p.contains("count_tokens"))
        })
        .unwrap_or_else(|| panic!("no Messages request: {requests:#?}"));
    assert_eq!(turn["headers"]["host"], ANTHROPIC);
    assert_eq!(
        turn["headers"]["authorization"],
        format!("Bearer {token}"),
        "{turn:#?}"
    );
    let logs = docker(&["logs", &w.up.container]);
    assert!(
        !logs.contains(bottle::backends::provider::CLAUDE_TOKEN_PLACEHOLDER),
        "the placeholder reached the upstream"
    );

    // Inside: only the placeholder, anywhere the agent can look.
    let (_, env) = b.sh("printenv CLAUDE_CODE_OAUTH_TOKEN");
    assert_eq!(
        env.trim(),
        bottle::backends::provider::CLAUDE_TOKEN_PLACEHOLDER
    );
    let found = agent_can_find(&b, &token);
    assert_eq!(found.trim(), "", "the real token is visible to the agent");

    // Supervise is registered with Claude Code (and answers).
    let (_, mcp) = b.sh("claude mcp list 2>&1");
    assert!(mcp.contains("supervise"), "{mcp}");
    assert!(mcp.contains("http://supervise:9100/mcp"), "{mcp}");

    // Stop, resume: the same session, with the earlier turn on screen.
    close(app);
    stop_and_resume(&b, &[(TOKEN_VAR, token.as_str())], &w.up.net);
    assert_eq!(metadata(&b)["session_id"], sid.as_str());
    let resumed = (0..150).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        b.sh("ps -eo args").1.contains(&format!("--resume {sid}"))
    });
    if !resumed {
        let names = bottle::state::names::Names::for_slug(
            &bottle::state::names::Slug::parse(&b.slug).expect("slug"),
        );
        let vol = format!("bottle-{}-home:/h", b.slug);
        let files = std::process::Command::new("docker")
            .args([
                "run",
                "--rm",
                "-v",
                &vol,
                "debian:bookworm-slim",
                "sh",
                "-c",
                "find /h/.claude/projects /h/.bottle; tail -c 4000 /h/.claude/projects/*/*.jsonl",
            ])
            .output()
            .expect("docker run");
        panic!(
            "claude --resume {sid} is not running:\n{}\n{}",
            String::from_utf8_lossy(&files.stdout),
            docker(&["logs", "--tail", "40", &names.agent_container])
        );
    }
    let app = b.workspace(w.dir.path(), 50, 160, 3, |s| {
        s.contains("Claude Code") || s.contains(QUESTION)
    });
    app.wait_for_within("the earlier turn after resume", SLOW, |s| {
        s.contains(QUESTION) && s.contains(REPLY)
    });
}

/// The workspace quits (its bottles keep running).
fn close(mut app: crate::support::PtyApp) {
    app.signal(libc::SIGTERM);
    app.wait_exit();
}

/// `bottle stop` then `bottle resume --detach` (with these variables), the
/// sidecar joined to the stand-in's network again.
fn stop_and_resume(b: &Bottle, env: &[(&str, &str)], net: &str) {
    let out = b.e.bottle(&b.home, None, &["stop", &b.slug]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out =
        b.e.bottle_cmd(&b.home, None, &["resume", &b.slug, "--detach", "-y"])
            .envs(env.iter().copied())
            .output()
            .expect("resume");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    connect_sidecar(b, net);
}

#[test]
fn codex_sign_in_screen_takes_the_arrow_keys_through_the_pane() {
    if !agent_clis() {
        return;
    }
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    crate::support::define(
        &home,
        "codex",
        "agent_provider: { template: codex }\nsupervise: true\n",
    );
    let out = e.bottle(
        &home,
        None,
        &["start", "codex", "--detach", "-y", "--no-workspace"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = Bottle {
        e: &e,
        home: home.clone(),
        slug: String::from_utf8_lossy(&out.stdout).trim().to_string(),
    };
    // Without a login Codex opens on its sign-in choice; ↓ through the pane
    // moves the selection (and Codex got the cursor-position answer it
    // needs to start at all).
    let app = b.workspace(dir.path(), 45, 160, 3, |s| s.contains("Sign in with"));
    let selected =
        |s: &str, n: &str| s.contains(&format!("> {n}. ")) || s.contains(&format!("› {n}. "));
    app.wait_for_within("the sign-in choice", SLOW, |s| selected(s, "1"));
    let mut app = app;
    app.send(b"\x1b[B");
    app.wait_for("↓ to move the selection", |s| {
        selected(s, "2") && !selected(s, "1")
    });

    // Supervise is in Codex's configuration.
    let (_, mcp) = b.sh("codex mcp list 2>&1");
    assert!(
        mcp.contains("supervise") && mcp.contains("http://supervise:9100/mcp"),
        "{mcp}"
    );
}

#[test]
fn codex_with_the_operators_login_a_turn_through_the_proxy_and_exact_resume() {
    if !agent_clis() {
        return;
    }
    let e = Engine::default_docker();
    let w = world();
    let home = &w.home;
    crate::support::define(
        home,
        "codex",
        &format!(
            "agent_provider: {{ template: codex, forward_host_credentials: true }}\nsupervise: true\negress:\n  upstream_ca: {}\n  routes:\n    - host: chatgpt.com\n      ssrf_ip_allowlist: [\"{subnet}\"]\n    - host: api.openai.com\n      ssrf_ip_allowlist: [\"{subnet}\"]\n",
            w.ca_path.display(),
            subnet = w.subnet
        ),
    );
    if let Some(stub) = crate::support::DnsStub::get() {
        let ip = crate::support::standin::standin_ip(&w.up);
        stub.answer("chatgpt.com", &[ip]);
        stub.answer("api.openai.com", &[ip]);
    }
    // The operator's login on this machine (HOME is the home's parent).
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let secret = format!("sig-{}", w.short(12));
    let host_auth = bottle::backends::codex_auth::example_host_auth(&secret, exp, "acct-test");
    std::fs::create_dir_all(w.dir.path().join(".codex")).expect("mkdir");
    std::fs::write(w.dir.path().join(".codex/auth.json"), &host_auth).expect("write");
    let v: serde_json::Value = serde_json::from_str(&host_auth).expect("json");
    let access = v["tokens"]["access_token"]
        .as_str()
        .expect("token")
        .to_string();

    let b = Bottle::start(&e, home, "codex", &[], &w.up.net);

    // Signed in with the placeholders; no real token, refresh token or
    // signature anywhere inside.
    let (_, status) = b.sh("codex login status 2>&1");
    assert!(status.to_lowercase().contains("chatgpt"), "{status}");
    for needle in [access.as_str(), secret.as_str()] {
        let found = agent_can_find(&b, needle);
        assert_eq!(
            found.trim(),
            "",
            "a real credential is visible to the agent"
        );
    }

    let mut app = b.workspace(w.dir.path(), 45, 160, 3, |s| s.contains("Codex"));
    app.wait_for_within("Codex's prompt", SLOW, |s| {
        s.contains("OpenAI Codex") && !s.contains("Sign in with")
    });
    ask(&mut app);
    let requests = seen(&w.up.container);
    let turn = requests
        .iter()
        .find(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.contains("/responses"))
        })
        .unwrap_or_else(|| panic!("no Responses request: {requests:#?}"));
    assert_eq!(
        turn["headers"]["authorization"],
        format!("Bearer {access}"),
        "{turn:#?}"
    );
    // Usage analytics are off.
    assert!(
        !requests
            .iter()
            .any(|r| r["path"].as_str().is_some_and(|p| p.contains("analytics"))),
        "{requests:#?}"
    );

    // The id recorded from Codex's session file is the one resumed.
    let mut id = String::new();
    crate::support::standin::wait_until("Codex's session id to be recorded", || {
        id = b
            .sh("cat ~/.bottle/codex-session 2>/dev/null")
            .1
            .trim()
            .to_string();
        !id.is_empty()
    });
    let (_, files) = b.sh(&format!("find ~/.codex/sessions -name '*{id}.jsonl'"));
    assert!(files.contains(&id), "{files}");
    close(app);
    stop_and_resume(&b, &[], &w.up.net);
    let resumed = (0..150).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        b.sh("ps -eo args").1.contains(&format!("resume {id}"))
    });
    assert!(
        resumed,
        "codex resume {id} is not running: {}",
        b.sh("ps -eo args").1
    );
    let app = b.workspace(w.dir.path(), 45, 160, 3, |s| {
        s.contains("Codex") || s.contains(QUESTION)
    });
    app.wait_for_within("the earlier turn after resume", SLOW, |s| {
        s.contains(QUESTION) && s.contains(REPLY)
    });
}
