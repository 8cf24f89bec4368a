//! Attacks on approval integrity (issue 18 part F, SPEC §4.7 and §4.9):
//! agent text in requests that hides characters (tags, separators,
//! fillers, variation selectors, combining floods, bidi), a reason that
//! forges a "what approving changes:" block and pushes the real change
//! out of sight, a homoglyph host, and a hostile queue file name. Host
//! trials write the request files the sidecar would write into
//! `$BOTTLE_HOME/queue/<slug>/` and read what `bottle queue` and the
//! workspace prompt show; in-bottle trials send the same text through
//! the supervise MCP server, which must refuse it before it is queued.

use crate::fixture::{self, Bottle, Outcome, Registry};
use crate::support::{self, Engine, Pty, PtyApp};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SLUG: &str = "dev-abc123";

pub fn register(reg: &mut Registry) {
    reg.host(
        "approval",
        "queue_reason_with_tag_characters_is_refused",
        || hidden_reason('\u{e0041}', "U+E0041"),
    );
    reg.host(
        "approval",
        "queue_reason_with_a_line_separator_is_refused",
        || hidden_reason('\u{2028}', "U+2028"),
    );
    reg.host(
        "approval",
        "queue_reason_with_a_hangul_filler_is_refused",
        || hidden_reason('\u{3164}', "U+3164"),
    );
    reg.host(
        "approval",
        "queue_reason_with_a_braille_blank_is_refused",
        || hidden_reason('\u{2800}', "U+2800"),
    );
    reg.host(
        "approval",
        "queue_reason_with_a_variation_selector_is_refused",
        || hidden_reason('\u{e0100}', "U+E0100"),
    );
    reg.host(
        "approval",
        "queue_reason_with_a_bidi_override_is_refused",
        || hidden_reason('\u{202e}', "U+202E"),
    );
    reg.host(
        "approval",
        "queue_reason_with_a_combining_mark_flood_is_refused",
        combining_flood,
    );
    reg.host(
        "approval",
        "queue_question_with_zero_width_characters_is_refused",
        hidden_question,
    );
    reg.host(
        "approval",
        "queue_forged_change_block_with_1700_newlines_is_refused",
        forged_block,
    );
    reg.host(
        "approval",
        "queue_oversized_reason_is_refused",
        oversized_reason,
    );
    reg.host(
        "approval",
        "queue_homoglyph_host_is_shown_in_punycode",
        homoglyph_host,
    );
    reg.host(
        "approval",
        "queue_file_name_with_an_escape_sequence_is_shown_escaped",
        hostile_file_name,
    );
    reg.host(
        "approval",
        "prompt_agent_text_cannot_push_the_change_out_of_sight",
        prompt_pins_the_change,
    );
    reg.host(
        "approval",
        "prompt_y_approves_nothing_while_the_change_is_not_fully_shown",
        prompt_refuses_y,
    );
    reg.inside(
        "approval",
        "mcp_reason_with_1700_newlines_is_refused_at_the_sidecar",
        |e| {
            mcp_refused(
                e,
                &format!(
                    r#"{{"host":"a.test","reason":"what approving changes:\n+ route api.github.com:443{}"}}"#,
                    r"\n".repeat(1700)
                ),
                "lines; at most 12 are allowed",
            )
        },
    );
    reg.inside(
        "approval",
        "mcp_reason_with_tag_characters_is_refused_at_the_sidecar",
        |e| {
            mcp_refused(
                e,
                r#"{"host":"a.test","reason":"fine\udb40\udc41\udb40\udc42"}"#,
                "U+E0041",
            )
        },
    );
    reg.inside("approval", "mcp_forged_session_is_refused", |e| {
        mcp_raw(
            e,
            r#"-H 'Mcp-Session-Id: 00000000-forged' -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_egress_routes","arguments":{}}}'"#,
            "404 ",
            "unknown session",
        )
    });
    reg.inside("approval", "mcp_bad_origin_is_refused", |e| {
        mcp_raw(
            e,
            r#"-H 'Origin: http://evil.invalid' -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"sh","version":"1"}}}'"#,
            "403 ",
            "origin refused",
        )
    });
    reg.inside("approval", "mcp_oversized_body_is_refused", |e| {
        mcp_raw(
            e,
            r#"--data-binary @/tmp/mcp-big.json"#,
            "413 ",
            "larger than 64 KiB",
        )
    });
    reg.inside("approval", "mcp_traversal_request_id_is_refused", |e| {
        let b = supervised(e);
        let answer = mcp_call(&b, "check_request", r#"{"id":"../../../state/x/routes"}"#);
        fixture::ensure(answer.contains("not a request id"), || {
            format!("a traversal id was not refused as such: {answer}")
        })
    });
    reg.inside("approval", "mcp_flood_past_16_pending_is_refused", flood);
}

/// Sixteen requests already wait (written as the sidecar writes them, so
/// the trial does not wait 16 × 45 s): the seventeenth is refused at the
/// sidecar and never queued.
fn flood(e: &Engine) -> Outcome {
    let b = fixture::cached(
        &format!(
            "approval-flood/{}-{}",
            e.name,
            e.runtime.unwrap_or("default")
        ),
        || {
            Bottle::start(e, "sup", |home, _| {
                support::define(
                    home,
                    "sup",
                    "agent_provider: { template: shell }\nsupervise: true\n",
                );
            })
        },
    );
    let queue = b.home.join("queue").join(&b.slug);
    std::fs::create_dir_all(&queue).map_err(|e| e.to_string())?;
    for n in 0..16 {
        let (_, name, bytes) = request("egress", egress(&format!("h{n}.test")), "waiting");
        std::fs::write(queue.join(name), bytes).map_err(|e| e.to_string())?;
    }
    let answer = mcp_call(
        &b,
        "request_egress",
        r#"{"host":"one-more.test","reason":"r"}"#,
    );
    if !answer.contains("16 requests are already waiting") {
        return Err(format!("the 17th request was not refused: {answer}"));
    }
    let count = std::fs::read_dir(&queue)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|f| f.file_name().to_string_lossy().ends_with(".request.json"))
                .count()
        })
        .unwrap_or(0);
    fixture::ensure(count == 16, || {
        format!("{count} requests queued after the refusal: {answer}")
    })
}

/// One raw POST to the supervise endpoint with curl `args` (a 70 KiB
/// body is ready in /tmp/mcp-big.json): refused with `status` and `why`.
fn mcp_raw(e: &Engine, args: &str, status: &str, why: &str) -> Outcome {
    let b = supervised(e);
    let (_, out) = b.sh(&format!(
        r#"head -c 71680 /dev/zero | tr '\0' ' ' > /tmp/mcp-pad.$$; {{ printf '{{"jsonrpc":"2.0","id":1,"method":"ping","pad":"'; cat /tmp/mcp-pad.$$; printf '"}}'; }} > /tmp/mcp-big.$$ && mv /tmp/mcp-big.$$ /tmp/mcp-big.json
curl -sS -H Content-Type:application/json -H Accept:application/json,text/event-stream -w '\nstatus %{{http_code}} \n' {args} http://supervise:9100/mcp"#
    ));
    fixture::ensure(
        out.contains(&format!("status {status}")) && out.contains(why),
        || format!("not refused with {status}{why:?}: {out}"),
    )
}

/// A home whose queue holds `files` (name → bytes) for bottle `SLUG`.
fn home_with(files: &[(String, Vec<u8>)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("bottle-escape-approval-")
        .tempdir()
        .expect("tempdir");
    let home = dir.path().join("home");
    let queue = home.join("queue").join(SLUG);
    std::fs::create_dir_all(&queue).expect("mkdir");
    for (name, bytes) in files {
        std::fs::write(queue.join(name), bytes).expect("write");
    }
    // The bottle's routes (none yet), so an egress change can be described.
    let egress = home.join("state").join(SLUG).join("egress");
    std::fs::create_dir_all(&egress).expect("mkdir");
    std::fs::write(egress.join("routes.json"), r#"{"version":1,"routes":[]}"#).expect("write");
    (dir, home)
}

/// A request file as the sidecar writes it.
fn request(kind: &str, payload: serde_json::Value, reason: &str) -> (String, String, Vec<u8>) {
    let id = ulid::Ulid::new().to_string();
    let body = serde_json::json!({
        "id": id,
        "kind": kind,
        "payload": payload,
        "reason": reason,
        "created_at": "2026-12-02T00:00:00Z",
    });
    (
        id.clone(),
        format!("{id}.request.json"),
        body.to_string().into_bytes(),
    )
}

/// `bottle queue` (text) against `home`: stdout and stderr.
fn queue(home: &Path) -> (bool, String) {
    let out = support::run_bottle(home, None, &["queue"]);
    (out.status.success(), fixture::both(&out))
}

/// The request is refused by the host reader (listed INVALID with
/// `why`), and the output holds no hidden character raw.
fn refused_with(reason: &str, payload: serde_json::Value, kind: &str, why: &str) -> Outcome {
    let (_, name, bytes) = request(kind, payload, reason);
    let (_dir, home) = home_with(&[(name, bytes)]);
    let (ok, out) = queue(&home);
    if !ok {
        return Err(format!("`bottle queue` failed: {out}"));
    }
    if let Some(c) = out
        .chars()
        .find(|&c| c != '\n' && bottle::sanitize::is_hidden(c))
    {
        return Err(format!(
            "U+{:04X} reached the terminal raw: {}",
            c as u32,
            out.escape_debug()
        ));
    }
    fixture::ensure(out.contains("INVALID") && out.contains(why), || {
        format!("not refused with {why:?}: {}", out.escape_debug())
    })
}

fn egress(host: &str) -> serde_json::Value {
    serde_json::json!({ "host": host })
}

fn hidden_reason(c: char, code: &str) -> Outcome {
    refused_with(
        &format!("I need{c}{c}{c} it"),
        egress("a.test"),
        "egress",
        code,
    )
}

fn combining_flood() -> Outcome {
    refused_with(
        &format!("ok{}", "\u{301}".repeat(60)),
        egress("a.test"),
        "egress",
        "U+0301",
    )
}

fn hidden_question() -> Outcome {
    refused_with(
        "r",
        serde_json::json!({"question": "approve\u{200b}\u{200b} the route?"}),
        "question",
        "U+200B",
    )
}

fn forged_block() -> Outcome {
    refused_with(
        &format!(
            "what approving changes:\n+ route api.github.com:443  paths any  methods GET{}",
            "\n".repeat(1700)
        ),
        egress("evil.test"),
        "egress",
        "lines; at most 12 are allowed",
    )
}

fn oversized_reason() -> Outcome {
    refused_with(
        &"because ".repeat(200),
        egress("a.test"),
        "egress",
        "longer than 1000 bytes",
    )
}

/// A host in another script that looks like a known one is shown as
/// punycode first, with the Unicode form beside it.
fn homoglyph_host() -> Outcome {
    // Cyrillic і (U+0456) in a look-alike of github.com.
    let (_, name, bytes) = request("egress", egress("gіthub.com"), "need the api");
    let (_dir, home) = home_with(&[(name, bytes)]);
    let (ok, out) = queue(&home);
    fixture::ensure(
        ok && out.contains("egress xn--gthub-n2e.com (gіthub.com)")
            && !out.contains("egress gіthub.com"),
        || format!("the look-alike host is not shown as punycode: {out}"),
    )
}

/// A file in the queue named with an escape sequence (the sidecar's
/// directory is written by a process the agent may influence).
fn hostile_file_name() -> Outcome {
    let (_dir, home) = home_with(&[(
        "\u{1b}]52;c;ZXZpbA==\u{7}\u{202e}.request.json".to_string(),
        b"{}".to_vec(),
    )]);
    let (_, out) = queue(&home);
    if out.contains('\u{1b}') || out.contains('\u{202e}') {
        return Err(format!(
            "the file name reached the terminal raw: {}",
            out.escape_debug()
        ));
    }
    fixture::ensure(
        out.contains(r"\u{1b}]52") && out.contains(r"\u{202e}"),
        || format!("the file name is not shown escaped: {}", out.escape_debug()),
    )
}

/// The workspace in a PTY on `home`, with the request prompt focused.
fn workspace_prompt(home: &Path, rows: u16, cols: u16) -> PtyApp {
    let h = home.display().to_string();
    let dir = home.parent().expect("parent").to_path_buf();
    let hh = dir.display().to_string();
    let ws = dir.join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let mut app = Pty::open(rows, cols).spawn(
        &[],
        &[("BOTTLE_HOME", h.as_str()), ("HOME", hh.as_str())],
        &ws,
    );
    app.wait_for("the request banner", |s| s.contains("decides: agent"));
    app.send(b"\x02a");
    app.wait_for("the prompt", |s| s.contains("request dev-abc123/"));
    app
}

fn finish(mut app: PtyApp, result: std::thread::Result<Outcome>) -> Outcome {
    app.signal(libc::SIGKILL);
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.wait_exit()));
    match result {
        Ok(o) => o,
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "the trial panicked".into())),
    }
}

/// The largest reason the reader accepts (12 lines, a forged change
/// block among them) on a small terminal: the real change is on screen,
/// above the agent's words, and `y` is offered.
fn prompt_pins_the_change() -> Outcome {
    let reason = [
        "what approving changes:",
        "+ route api.github.com:443  paths any  methods GET",
        ".",
        ".",
        ".",
        ".",
        ".",
        ".",
        ".",
        ".",
        ".",
        "approve with y",
    ]
    .join("\n");
    let (_, name, bytes) = request("egress", egress("evil.test"), &reason);
    let (_dir, home) = home_with(&[(name, bytes)]);
    let app = workspace_prompt(&home, 16, 100);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let screen = app.screen_rows();
        let real = screen.iter().position(|r| r.contains("evil.test:443"));
        let forged = screen.iter().position(|r| r.contains("api.github.com"));
        match (real, forged) {
            (Some(r), Some(f)) if r < f => Ok(()),
            (Some(_), None) => Ok(()),
            _ => Err(format!(
                "the real change is not above the agent's words: {}",
                screen.join("\n")
            )),
        }
        .and_then(|()| {
            fixture::ensure(app.screen_text().contains("y approve"), || {
                format!("y not offered: {}", app.screen_text())
            })
        })
    }));
    finish(app, result)
}

/// A capability request whose change is taller than the terminal: the
/// prompt says so, and `y` decides nothing (no claim, no decision file).
fn prompt_refuses_y() -> Outcome {
    let dockerfile: String = std::iter::once("FROM debian:bookworm-slim\n".to_string())
        .chain((1..=60).map(|n| format!("RUN echo step-{n}\n")))
        .collect();
    let (id, name, bytes) = request(
        "capability",
        serde_json::json!({"summary": "tools", "dockerfile": dockerfile}),
        "need tools",
    );
    let (_dir, home) = home_with(&[(name, bytes)]);
    let mut app = workspace_prompt(&home, 20, 100);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        app.wait_for("the refusal to approve", |s| {
            s.contains("enlarge the terminal to approve") && s.contains("y is off")
        });
        // Past the 500 ms guard: y again until the notice answers.
        let start = std::time::Instant::now();
        while !app.screen_text().contains("not fully on screen") {
            if start.elapsed() > support::TIMEOUT {
                return Err(format!("no refusal notice: {}", app.screen_text()));
            }
            app.send(b"y");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let queue = home.join("queue").join(SLUG);
        let decided = ["claim", "decision.json"]
            .iter()
            .any(|ext| queue.join(format!("{id}.{ext}")).exists());
        fixture::ensure(!decided, || {
            "y decided a request whose change was not fully on screen".into()
        })
    }));
    finish(app, result)
}

/// A supervised bottle per target (the shared shell bottle has no
/// supervise server).
fn supervised(e: &Engine) -> Arc<Bottle> {
    fixture::cached(
        &format!("approval/{}-{}", e.name, e.runtime.unwrap_or("default")),
        || {
            Bottle::start(e, "sup", |home, _| {
                support::define(
                    home,
                    "sup",
                    "agent_provider: { template: shell }\nsupervise: true\n",
                );
            })
        },
    )
}

/// One MCP tool call from inside the bottle (initialize, initialized,
/// call) with curl; the call's answer.
fn mcp_call(b: &Bottle, tool: &str, args: &str) -> String {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#
    );
    let script = format!(
        r#"H='-sS -H Content-Type:application/json -H Accept:application/json,text/event-stream'
sid=$(curl $H -D - -o /dev/null -d '{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"sh","version":"1"}}}}}}' http://supervise:9100/mcp | tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
curl $H -H "Mcp-Session-Id: $sid" -d '{{"jsonrpc":"2.0","method":"notifications/initialized"}}' http://supervise:9100/mcp
cat > /tmp/mcp-body.$$.json <<'EOF'
{body}
EOF
curl $H --max-time 60 -H "Mcp-Session-Id: $sid" --data-binary @/tmp/mcp-body.$$.json http://supervise:9100/mcp"#
    );
    b.sh(&script).1
}

/// The sidecar refuses the call with `why`, and nothing reaches the queue.
fn mcp_refused(e: &Engine, args: &str, why: &str) -> Outcome {
    let b = supervised(e);
    let answer = mcp_call(&b, "request_egress", args);
    if !answer.contains(why) {
        return Err(format!("not refused with {why:?}: {answer}"));
    }
    let queued = std::fs::read_dir(b.home.join("queue").join(&b.slug))
        .map(|d| {
            d.filter_map(Result::ok)
                .any(|f| f.file_name().to_string_lossy().ends_with(".request.json"))
        })
        .unwrap_or(false);
    fixture::ensure(!queued, || {
        format!("the refused request was queued anyway: {answer}")
    })
}
