//! Attacks on credentials leaving their route and on the egress proxy
//! (SPEC §4.3–4.5, issue 18 part B and the proxy attacks of the pass that
//! were blocked). A bottle per target whose sidecar, and only it, reaches
//! a stand-in upstream (`bottle debug upstream`) on an internal test
//! network; the stand-in logs every request it gets and can reflect the
//! `Authorization` it received (body, header, gzip, split, WebSocket).
//!
//! The sidecar (and so the proxy) runs on the engine's default runtime
//! whatever the agent's runtime; these trials run under runc and runsc.
//! Podman runs the same proxy code: its network is attacked in network.rs.

use crate::fixture::{cached, ensure, on_teardown, Bottle, Outcome, Registry};
use crate::support::standin::{self, docker, seen, World, HOST, PASS, TOKEN_VAR};
use crate::support::Engine;
use std::sync::Arc;

const ON: [&str; 2] = ["runc", "runsc"];

pub fn register(reg: &mut Registry) {
    let mut add = |name: &str, f: fn(&Engine) -> Outcome| reg.inside_on(&ON, "egress", name, f);
    // B4: tokens in clear text.
    add("token_is_never_sent_over_plain_http", token_over_plain_http);
    add("auth_route_is_not_open_on_port_80", auth_route_port_80);
    // B5: tokens to hosts never granted.
    add(
        "absolute_form_naming_another_host_is_refused",
        absolute_other_host,
    );
    add(
        "absolute_form_with_two_host_headers_is_refused",
        absolute_two_hosts,
    );
    add(
        "tunnel_with_a_second_host_header_gets_no_token",
        tunnel_second_host,
    );
    add(
        "tunnel_host_naming_another_host_is_refused",
        tunnel_other_host,
    );
    // B6: the agent reading its own injected token.
    add("reflected_token_in_a_body_is_refused", reflected_body);
    add(
        "reflected_token_in_a_response_header_is_refused",
        reflected_header,
    );
    add("reflected_token_in_a_gzip_body_is_refused", reflected_gzip);
    add(
        "reflected_token_split_across_chunks_is_cut",
        reflected_split,
    );
    add(
        "reflected_token_in_a_websocket_message_closes_it",
        reflected_ws,
    );
    add(
        "dlp_finds_an_own_value_fully_percent_encoded",
        dlp_full_percent,
    );
    add("dlp_finds_an_own_value_in_hex", dlp_hex);
    add(
        "dlp_finds_an_own_value_in_json_unicode_escapes",
        dlp_json_escapes,
    );
    add("dlp_finds_an_own_value_in_mixed_escapes", dlp_mixed);
    // B7: WebSocket permessage-deflate.
    add(
        "websocket_deflate_is_never_negotiated",
        ws_deflate_not_negotiated,
    );
    add("websocket_compressed_frame_is_refused", ws_compressed_frame);
    // B8: forms upstream frameworks read differently.
    add("path_parameter_dotdot_is_refused", path_param_dotdot);
    add(
        "double_encoded_dot_segments_are_refused",
        double_encoded_dots,
    );
    add("overlong_and_fullwidth_dots_are_refused", overlong_dots);
    add("lowercase_method_is_refused", lowercase_method);
    // Blocked in the pass: keep them blocked.
    add("unrouted_host_is_denied_before_any_lookup", unrouted_host);
    add(
        "smuggling_cl_te_reaches_upstream_as_one_request",
        smuggle_cl_te,
    );
    add(
        "smuggling_duplicate_content_length_is_refused",
        smuggle_two_cl,
    );
    add(
        "smuggling_obfuscated_transfer_encoding_is_refused",
        smuggle_te_obfuscated,
    );
    add("obs_fold_header_is_refused", obs_fold);
    add("bare_lf_request_smuggles_nothing", bare_lf);
    add("chunk_size_overflow_is_refused", chunk_overflow);
    add("http2_by_alpn_is_not_spoken", alpn_h2);
    add("h2c_upgrade_is_refused", h2c_upgrade);
    add("http2_prior_knowledge_is_refused", h2_prior_knowledge);
    add(
        "passthrough_with_another_sni_is_closed",
        passthrough_wrong_sni,
    );
    add("pipelined_second_host_is_refused", pipelined_second_host);
    add("ip_literals_in_every_notation_are_refused", ip_literals);
    add(
        "name_resolving_to_a_private_address_is_refused",
        private_name,
    );
    add(
        "redirect_is_passed_back_not_followed",
        redirect_not_followed,
    );
    add(
        "websocket_on_a_non_websocket_route_is_refused",
        ws_not_allowed,
    );
    add("a_thousand_headers_are_refused", thousand_headers);
    add("nul_and_cr_in_headers_are_refused", nul_cr_headers);
    add("homoglyph_host_is_not_the_routed_host", homoglyph_host);
    add("dlp_finds_a_token_shape_raw_base64_and_split", dlp_shapes);
    add(
        "dlp_finds_an_own_value_in_gzip_and_multipart",
        dlp_gzip_multipart,
    );
    add(
        "dlp_finds_an_own_value_behind_a_second_content_encoding_line",
        dlp_second_coding_line,
    );
}

/// The stand-in world, shared by the targets.
fn world() -> Arc<World> {
    cached("egress/world", || {
        let w = standin::world();
        let (container, net) = (w.up.container.clone(), w.up.net.clone());
        on_teardown(move || {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", &container])
                .output();
            let _ = std::process::Command::new("docker")
                .args(["network", "rm", &net])
                .output();
        });
        w
    })
}

pub struct Up {
    pub b: Bottle,
    pub token: String,
    pub note: String,
    pub standin: String,
}

impl Up {
    fn curl(&self, args: &str) -> String {
        self.b.sh(&format!("curl -sS --max-time 20 {args} 2>&1")).1
    }

    /// The sidecar's decision log.
    fn decisions(&self) -> String {
        docker(&["logs", &self.b.sidecar_container()])
    }

    /// Requests the stand-in saw whose path contains `marker`.
    fn seen_with(&self, marker: &str) -> Vec<serde_json::Value> {
        seen(&self.standin)
            .into_iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.contains(marker)))
            .collect()
    }

    /// A request through a TLS tunnel to `host:port`, written raw.
    fn raw_tls(&self, host: &str, port: u16, request: &str) -> String {
        self.b
            .tool(&["raw-tls", host, &port.to_string(), "-", request])
            .1
    }

    /// Raw bytes to the proxy itself (plain HTTP, absolute form).
    fn raw_proxy(&self, request: &str) -> String {
        self.b.tool(&["raw-proxy", request]).1
    }
}

fn marker() -> String {
    ulid::Ulid::new().to_string().to_lowercase()[16..].to_string()
}

/// The routed bottle of a target.
fn up(e: &Engine) -> Arc<Up> {
    let w = world();
    cached(&format!("egress/{}", e.name_with_runtime()), || {
        let tag = marker();
        let token = format!("tok-{tag}-injected");
        let note = format!("note-canary-{tag}");
        let b = Bottle::start_with(
            e,
            "up",
            &[
                (TOKEN_VAR, token.as_str()),
                ("BOTTLE_ANSWER_NOTE", note.as_str()),
            ],
            |home, _| {
                crate::support::define(
                    home,
                    "up",
                    &format!(
                        "agent_provider: {{ template: shell }}\nenv:\n  NOTE: \"?A note\"\negress:\n  upstream_ca: {ca}\n  routes:\n    - host: {HOST}\n      path_allowlist: [\"/repos/acme/\", \"/echo\", \"/ws\", \"/redirect\"]\n      methods: [GET, POST]\n      websocket: true\n      auth: {{ scheme: Bearer, token_ref: {TOKEN_VAR} }}\n      ssrf_ip_allowlist: [\"{subnet}\"]\n    - host: {PASS}\n      tls_passthrough: true\n      ssrf_ip_allowlist: [\"{subnet}\"]\n    - host: private.upstream.test\n    - host: nows.upstream.test\n      ssrf_ip_allowlist: [\"{subnet}\"]\n",
                        ca = w.ca_path.display(),
                        subnet = w.subnet,
                    ),
                );
            },
        );
        docker(&["network", "connect", &w.up.net, &b.sidecar_container()]);
        Up {
            b,
            token,
            note,
            standin: w.up.container.clone(),
        }
    })
}

trait Named {
    fn name_with_runtime(&self) -> String;
}

impl Named for Engine {
    fn name_with_runtime(&self) -> String {
        format!("{}-{}", self.name, self.runtime.unwrap_or("default"))
    }
}

fn has(out: &str, what: &str) -> Outcome {
    ensure(out.contains(what), || {
        format!("expected {what:?} in: {out}")
    })
}

fn lacks(out: &str, what: &str, why: &str) -> Outcome {
    ensure(!out.contains(what), || format!("{why}: {out}"))
}

// ---- B4 ----

fn token_over_plain_http(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.curl(&format!("http://{HOST}/repos/acme/plain-{m}"));
    has(&out, "\"error\":\"egress_denied\"")?;
    has(&out, "only ever sent inside TLS")?;
    ensure(u.seen_with(&m).is_empty(), || {
        "the upstream got the request".into()
    })
}

fn auth_route_port_80(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.curl(&format!("https://{HOST}:80/repos/acme/p80-{m}"));
    has(&out, "port not routed")?;
    ensure(u.seen_with(&m).is_empty(), || {
        "the upstream got the request".into()
    })
}

// ---- B5 ----

fn absolute_other_host(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.raw_proxy(&format!(
        "GET http://nows.upstream.test/abs-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nConnection: close\\r\\n\\r\\n"
    ));
    has(&out, "HTTP/1.1 400")?;
    has(&out, "names another host")?;
    ensure(u.seen_with(&m).is_empty(), || {
        "the upstream got the request".into()
    })
}

fn absolute_two_hosts(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.raw_proxy(&format!(
        "GET http://nows.upstream.test/abs2-{m} HTTP/1.1\\r\\nHost: nows.upstream.test\\r\\nHost: {HOST}\\r\\nConnection: close\\r\\n\\r\\n"
    ));
    has(&out, "HTTP/1.1 400")?;
    has(&out, "exactly one Host")?;
    ensure(u.seen_with(&m).is_empty(), || {
        "the upstream got the request".into()
    })
}

fn tunnel_second_host(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.raw_tls(
        HOST,
        443,
        &format!("GET /repos/acme/two-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nHost: evil.test\\r\\nConnection: close\\r\\n\\r\\n"),
    );
    has(&out, "HTTP/1.1 400")?;
    has(&out, "exactly one Host")?;
    ensure(u.seen_with(&m).is_empty(), || {
        "the upstream got the request (and the token)".into()
    })
}

fn tunnel_other_host(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.raw_tls(
        HOST,
        443,
        &format!("GET /repos/acme/other-{m} HTTP/1.1\\r\\nHost: nows.upstream.test\\r\\nConnection: close\\r\\n\\r\\n"),
    );
    has(&out, "HTTP/1.1 400")?;
    has(&out, "names another host")?;
    ensure(u.seen_with(&m).is_empty(), || {
        "the upstream got the request".into()
    })
}

// ---- B6 ----

/// The upstream got the token (so it really reflected it), the agent did
/// not, and the sidecar logged `secret_reflected`.
fn reflected(u: &Up, out: &str, m: &str) -> Outcome {
    lacks(out, &u.token, "the agent read its injected token")?;
    let got = u.seen_with(m);
    ensure(
        got.iter().any(|r| {
            r["headers"]["authorization"].as_str() == Some(&format!("Bearer {}", u.token))
        }),
        || format!("the upstream never got the token: {got:?}"),
    )?;
    let log = u.decisions();
    ensure(
        log.lines()
            .any(|l| l.contains("\"decision\":\"secret_reflected\"") && l.contains(m)),
        || format!("no secret_reflected decision for {m}: {log}"),
    )?;
    lacks(&log, &u.token, "the decision log holds the token")
}

fn reflected_body(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.curl(&format!("https://{HOST}/echo/m-{m}"));
    has(&out, "secret_reflected")?;
    reflected(&u, &out, &m)
}

fn reflected_header(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.curl(&format!("-i https://{HOST}/echo/header/m-{m}"));
    has(&out, "secret_reflected")?;
    reflected(&u, &out, &m)
}

fn reflected_gzip(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.curl(&format!("--compressed https://{HOST}/echo/gzip/m-{m}"));
    has(&out, "secret_reflected")?;
    reflected(&u, &out, &m)
}

fn reflected_split(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.curl(&format!("https://{HOST}/echo/split/m-{m}"));
    // The first half of the body arrived; the token's start was held back
    // and the stream was cut when the rest completed it.
    has(&out, "first half")?;
    lacks(&out, &u.token[..8], "the token's start reached the agent")?;
    reflected(&u, &out, &m)
}

fn reflected_ws(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let (_, out) =
        u.b.tool(&["ws", HOST, &format!("/ws/m-{m}"), "-", "reflect", "0"]);
    has(&out, "HTTP/1.1 101")?;
    has(&out, "CLOSED")?;
    lacks(
        &out,
        "your authorization",
        "the reflecting message reached the agent",
    )?;
    lacks(&out, &u.token, "the agent read its injected token")?;
    let log = u.decisions();
    ensure(
        log.lines()
            .any(|l| l.contains("\"decision\":\"secret_reflected\"") && l.contains(&m)),
        || format!("no secret_reflected decision: {log}"),
    )
}

fn dlp_post(u: &Up, body: &str) -> (String, String) {
    let m = marker();
    let out = u.curl(&format!(
        "-X POST --data-binary '{body}' https://{HOST}/repos/acme/dlp-{m}"
    ));
    (out, m)
}

fn dlp_blocked(u: &Up, body: String) -> Outcome {
    let (out, m) = dlp_post(u, &body);
    has(&out, "\"error\":\"dlp_blocked\"")?;
    has(&out, "canary:canary-NOTE")?;
    ensure(u.seen_with(&m).is_empty(), || {
        "the upstream got the body".into()
    })
}

fn dlp_full_percent(e: &Engine) -> Outcome {
    let u = up(e);
    dlp_blocked(&u, u.note.bytes().map(|b| format!("%{b:02X}")).collect())
}

fn dlp_hex(e: &Engine) -> Outcome {
    let u = up(e);
    dlp_blocked(
        &u,
        format!(
            "x={}",
            u.note
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
    )
}

fn dlp_json_escapes(e: &Engine) -> Outcome {
    let u = up(e);
    let escaped: String = u.note.bytes().map(|b| format!("\\u{b:04x}")).collect();
    dlp_blocked(&u, format!("{{\"v\":\"{escaped}\"}}"))
}

fn dlp_mixed(e: &Engine) -> Outcome {
    let u = up(e);
    let mixed: String = u
        .note
        .bytes()
        .enumerate()
        .map(|(i, b)| match i % 3 {
            0 => format!("%{b:02x}"),
            1 => format!("\\x{b:02x}"),
            _ => (b as char).to_string(),
        })
        .collect();
    dlp_blocked(&u, mixed)
}

// ---- B7 ----

fn ws_deflate_not_negotiated(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let (_, out) = u.b.tool(&[
        "ws",
        HOST,
        &format!("/ws/m-{m}"),
        "permessage-deflate; client_max_window_bits",
        "hello",
        "0",
    ]);
    has(&out, "HTTP/1.1 101")?;
    lacks(
        &out.to_ascii_lowercase(),
        "sec-websocket-extensions",
        "an extension was negotiated",
    )?;
    has(&out, "MSG: echo: hello")?;
    let req = seen(&u.standin)
        .into_iter()
        .find(|r| r["path"].as_str().is_some_and(|p| p.contains(&m)))
        .ok_or("the upstream never got the handshake")?;
    ensure(req["extensions"].is_null(), || {
        format!("the upstream was offered an extension: {req}")
    })
}

fn ws_compressed_frame(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let secret = format!("ghp_{}", "Z".repeat(36));
    let (_, out) = u.b.tool(&[
        "ws",
        HOST,
        &format!("/ws/m-{m}"),
        "permessage-deflate",
        &secret,
        "1",
    ]);
    has(&out, "HTTP/1.1 101")?;
    has(&out, "CLOSED")?;
    let log = u.decisions();
    ensure(
        log.lines()
            .any(|l| l.contains(&m) && l.contains("reserved bits")),
        || format!("no refusal of the compressed frame: {log}"),
    )
}

// ---- B8 ----

fn refused_path(u: &Up, path: &str) -> Outcome {
    let out = u.curl(&format!("--path-as-is 'https://{HOST}{path}'"));
    has(&out, "path not routed")
}

fn path_param_dotdot(e: &Engine) -> Outcome {
    let u = up(e);
    refused_path(&u, "/repos/acme/..;/other/x")?;
    refused_path(&u, "/repos/acme/x;jsessionid=1/../../other")
}

fn double_encoded_dots(e: &Engine) -> Outcome {
    let u = up(e);
    refused_path(&u, "/repos/acme/%252e%252e/other")?;
    refused_path(&u, "/repos/acme/%25%32%65%25%32%65/other")
}

fn overlong_dots(e: &Engine) -> Outcome {
    let u = up(e);
    refused_path(&u, "/repos/acme/%c0%ae%c0%ae/other")?;
    refused_path(&u, "/repos/acme/%ef%bc%8e%ef%bc%8e/other")
}

fn lowercase_method(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.curl(&format!("-X get https://{HOST}/repos/acme/lc-{m}"));
    has(&out, "method not routed")?;
    let out = u.curl(&format!("-X DELETE https://{HOST}/repos/acme/lc-{m}"));
    has(&out, "method not routed")?;
    ensure(u.seen_with(&m).is_empty(), || {
        "the upstream got the request".into()
    })
}

// ---- blocked in the pass ----

fn unrouted_host(e: &Engine) -> Outcome {
    let u = up(e);
    let name = format!("unrouted-{}.invalid", marker());
    let out = u.curl(&format!("https://{name}/"));
    has(&out, "\"error\":\"egress_denied\"")?;
    has(&out, "request_egress")?;
    let out = u.curl(&format!("http://{name}/x"));
    has(&out, "host not routed")
}

fn smuggle_cl_te(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.raw_tls(
        HOST,
        443,
        &format!("POST /repos/acme/smuggle-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nContent-Length: 4\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\nGET /repos/acme/smuggled-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\n\\r\\n"),
    );
    // Either refused outright, or read as chunked: then the "smuggled"
    // request is a second request of the agent's own, checked like any.
    let got = u.seen_with(&m);
    ensure(
        out.contains("HTTP/1.1 400")
            || got
                .iter()
                .all(|r| r["method"] == "POST" || r["method"] == "GET"),
        || format!("{out} / {got:?}"),
    )?;
    ensure(
        got.iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.contains("smuggle-")))
            .all(|r| r["body"] == ""),
        || format!("the upstream got a smuggled body: {got:?}"),
    )
}

fn expect_400(u: &Up, request: String, m: &str) -> Outcome {
    let out = u.raw_tls(HOST, 443, &request);
    has(&out, "HTTP/1.1 400")?;
    ensure(u.seen_with(m).is_empty(), || {
        format!("the upstream got it: {out}")
    })
}

fn smuggle_two_cl(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    expect_400(
        &u,
        format!("POST /repos/acme/cl-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nContent-Length: 3\\r\\nContent-Length: 40\\r\\n\\r\\nabc"),
        &m,
    )
}

fn smuggle_te_obfuscated(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    expect_400(
        &u,
        format!("POST /repos/acme/te-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nTransfer-Encoding: xchunked\\r\\n\\r\\n0\\r\\n\\r\\n"),
        &m,
    )
}

fn obs_fold(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    expect_400(
        &u,
        format!("GET /repos/acme/fold-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nX-A: a\\r\\n Host: evil.test\\r\\n\\r\\n"),
        &m,
    )
}

fn bare_lf(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.raw_tls(
        HOST,
        443,
        &format!("GET /repos/acme/lf-{m} HTTP/1.1\\nHost: {HOST}\\nX-A: b\\rHost: evil.test\\n\\n"),
    );
    // hyper reads bare LF lines; a bare CR inside a value is refused.
    let got = u.seen_with(&m);
    ensure(
        got.iter().all(|r| {
            r["hosts"]
                .as_array()
                .is_some_and(|h| h.len() == 1 && h[0] == HOST)
        }),
        || format!("{out} / {got:?}"),
    )
}

fn chunk_overflow(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.raw_tls(
        HOST,
        443,
        &format!("POST /repos/acme/chunk-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nTransfer-Encoding: chunked\\r\\nConnection: close\\r\\n\\r\\nFFFFFFFFFFFFFFFFF1\\r\\nabc\\r\\n0\\r\\n\\r\\n"),
    );
    let got = u.seen_with(&m);
    ensure(
        got.iter()
            .all(|r| r["body"] == "" || r["body"].as_str().is_some_and(|b| b.len() < 16)),
        || format!("{out} / {got:?}"),
    )?;
    ensure(!out.contains("HTTP/1.1 200"), || format!("answered: {out}"))
}

fn alpn_h2(e: &Engine) -> Outcome {
    let u = up(e);
    // Offered h2 alone, the proxy ends the handshake (it speaks only
    // HTTP/1.1, where every request is checked).
    let (_, out) = u.b.tool(&["alpn", HOST, "443", "h2"]);
    has(&out, "NoApplicationProtocol")?;
    let (_, out) = u.b.tool(&["alpn", HOST, "443", "h2,http/1.1"]);
    has(&out, "NEGOTIATED: http/1.1")
}

fn h2c_upgrade(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.raw_tls(
        HOST,
        443,
        &format!("GET /repos/acme/h2c-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nConnection: Upgrade, HTTP2-Settings\\r\\nUpgrade: h2c\\r\\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\\r\\n\\r\\n"),
    );
    has(&out, "only WebSocket upgrades")?;
    ensure(u.seen_with(&m).is_empty(), || "the upstream got it".into())
}

fn h2_prior_knowledge(e: &Engine) -> Outcome {
    let u = up(e);
    let out = u.raw_tls(
        HOST,
        443,
        "PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\\x00\\x00\\x00\\x04\\x00\\x00\\x00\\x00\\x00",
    );
    // Refused or closed in HTTP/1.1 terms, or not answered at all: never
    // an HTTP/2 SETTINGS frame (its header: length, type 4).
    let silent = out.trim().is_empty();
    ensure(
        (out.contains("HTTP/1.1 4")
            || out.contains("HTTP/1.1 5")
            || out.contains("[EOF")
            || silent)
            && !out.contains("HTTP/1.1 2")
            && !out.contains("\u{0}\u{0}\u{6}\u{4}")
            && !out.contains("\u{0}\u{0}\u{0}\u{4}"),
        || format!("the proxy spoke HTTP/2: {out}"),
    )
}

fn passthrough_wrong_sni(e: &Engine) -> Outcome {
    let u = up(e);
    let (_, out) = u.b.tool(&["sni", PASS, "443", HOST]);
    has(&out, "TLS-FAILED")?;
    let log = u.decisions();
    ensure(log.contains(PASS) && log.contains("SNI"), || {
        format!("no SNI refusal logged: {log}")
    })
}

fn pipelined_second_host(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let out = u.raw_tls(
        HOST,
        443,
        &format!("GET /repos/acme/pipe1-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\n\\r\\nGET /repos/acme/pipe2-{m} HTTP/1.1\\r\\nHost: evil.test\\r\\nConnection: close\\r\\n\\r\\n"),
    );
    has(&out, "HTTP/1.1 400")?;
    let got = u.seen_with(&format!("pipe2-{m}"));
    ensure(got.is_empty(), || {
        format!("the second request went upstream: {got:?}")
    })
}

fn ip_literals(e: &Engine) -> Outcome {
    let u = up(e);
    for lit in [
        "2130706433",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "[::1]",
        "169.254.169.254",
        "0",
    ] {
        // Through the proxy (NO_PROXY would send 127.0.0.1 to the
        // agent's own loopback, which is no way out either).
        let out = u.curl(&format!("--noproxy '' https://{lit}/"));
        // IPv6 literals never name a route: refused at the Host check.
        let refused = out.contains("egress_denied")
            || (lit.starts_with('[') && out.contains("\"error\":\"bad_request\""));
        ensure(refused, || format!("{lit}: {out}"))?;
    }
    Ok(())
}

fn private_name(e: &Engine) -> Outcome {
    let u = up(e);
    let out = u.curl("https://private.upstream.test/");
    has(&out, "not globally routable")
}

fn redirect_not_followed(e: &Engine) -> Outcome {
    let u = up(e);
    let out = u.curl(&format!("-i https://{HOST}/redirect"));
    has(&out, "HTTP/1.1 302")?;
    has(&out, "unrouted.invalid")?;
    let out = u.curl(&format!("-L https://{HOST}/redirect"));
    has(&out, "egress_denied")
}

fn ws_not_allowed(e: &Engine) -> Outcome {
    let u = up(e);
    let (_, out) =
        u.b.tool(&["ws", "nows.upstream.test", "/ws", "-", "hi", "0"]);
    has(&out, "upgrade (WebSocket) not allowed")
}

fn thousand_headers(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let many: String = (0..1000).map(|i| format!("X-H{i}: v\\r\\n")).collect();
    let out = u.raw_tls(
        HOST,
        443,
        &format!("GET /repos/acme/many-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\n{many}\\r\\n"),
    );
    ensure(
        out.contains("HTTP/1.1 431") || out.contains("HTTP/1.1 400") || out.contains("EOF"),
        || out.to_string(),
    )?;
    ensure(u.seen_with(&m).is_empty(), || "the upstream got it".into())
}

fn nul_cr_headers(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    expect_400(
        &u,
        format!("GET /repos/acme/nul-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nX-A: a\\x00b\\r\\n\\r\\n"),
        &m,
    )?;
    let m = marker();
    let out = u.raw_tls(
        HOST,
        443,
        &format!("GET /repos/acme/cr-{m} HTTP/1.1\\r\\nHost: {HOST}\\r\\nX-A: a\\rHost: evil.test\\r\\n\\r\\n"),
    );
    ensure(u.seen_with(&m).is_empty(), || {
        format!("the upstream got it: {out}")
    })
}

fn homoglyph_host(e: &Engine) -> Outcome {
    let u = up(e);
    // Cyrillic а in "api": another name, not routed.
    let out = u.curl("https://\u{0430}pi.upstream.test/repos/acme/x");
    ensure(
        out.contains("host not routed") || out.contains("egress_denied"),
        || out.clone(),
    )
}

fn dlp_shapes(e: &Engine) -> Outcome {
    use base64::Engine as _;
    let u = up(e);
    let token = format!("ghp_{}", "a1B2".repeat(9));
    // A token shape raw; the bottle's own value in base64 at every
    // alignment and in base64url (shapes are matched as written: an
    // encoded shape is not a promise, see SECURITY.md).
    let mut bodies = vec![token.clone()];
    for prefix in ["", "x", "xy"] {
        bodies
            .push(base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{}", u.note)));
    }
    bodies.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("z{}", u.note)));
    for body in bodies {
        let (out, m) = dlp_post(&u, &body);
        ensure(out.contains("dlp_blocked"), || format!("{body}: {out}"))?;
        ensure(u.seen_with(&m).is_empty(), || "the upstream got it".into())?;
    }
    // Split across chunks of a streamed upload.
    let m = marker();
    let script = format!(
        "(printf 'a%.0s' $(seq 1 5000); printf ' {half1}'; sleep 1; printf '{half2}') | curl -sS --max-time 20 -X POST -H 'Transfer-Encoding: chunked' --data-binary @- https://{HOST}/repos/acme/split-{m} 2>&1",
        half1 = &token[..20],
        half2 = &token[20..]
    );
    let (_, out) = u.b.sh(&script);
    has(&out, "dlp_blocked")?;
    ensure(u.seen_with(&m).is_empty(), || "the upstream got it".into())
}

fn dlp_gzip_multipart(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let (_, out) = u.b.sh(&format!(
        "printf '%s' '{note}' | gzip | curl -sS --max-time 20 -X POST -H 'Content-Encoding: gzip' --data-binary @- https://{HOST}/repos/acme/gz-{m} 2>&1",
        note = u.note
    ));
    has(&out, "dlp_blocked")?;
    let (_, out) = u.b.sh(&format!(
        "printf '%s' '{}' > /tmp/mp.txt; curl -sS --max-time 20 -F 'file=@/tmp/mp.txt' https://{HOST}/repos/acme/mp-{m} 2>&1",
        u.note
    ));
    has(&out, "dlp_blocked")?;
    ensure(u.seen_with(&m).is_empty(), || "the upstream got it".into())
}

/// `Content-Encoding: identity` then `Content-Encoding: gzip`: the upstream
/// decodes the list; the proxy must scan what it decodes to.
fn dlp_second_coding_line(e: &Engine) -> Outcome {
    let u = up(e);
    let m = marker();
    let (_, out) = u.b.sh(&format!(
        "printf '%s' '{note}' | gzip | curl -sS --max-time 20 -X POST -H 'Content-Encoding: identity' -H 'Content-Encoding: gzip' --data-binary @- https://{HOST}/repos/acme/ce2-{m} 2>&1",
        note = u.note
    ));
    has(&out, "dlp_blocked")?;
    ensure(u.seen_with(&m).is_empty(), || "the upstream got it".into())
}

// ---- the in-bottle tool ----

/// This area's commands of the in-bottle tool (see tool.rs):
/// `raw-tls HOST PORT ALPN REQUEST`, `raw-proxy REQUEST`,
/// `ws HOST PATH EXTENSIONS MESSAGE COMPRESSED`, `alpn HOST PORT PROTO`,
/// `sni CONNECT_HOST PORT SNI`. Requests take `\r`, `\n`, `\xNN` escapes.
pub fn tool(cmd: &str, args: &[String]) -> Option<Result<String, String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let port = |i: usize| arg(i).parse::<u16>().unwrap_or(443);
    let result = match cmd {
        "raw-tls" => rt.block_on(raw_tls(arg(0), port(1), unescape(&arg(3)))),
        "raw-proxy" => rt.block_on(raw_proxy(unescape(&arg(0)))),
        "ws" => rt.block_on(ws(arg(0), arg(1), arg(2), arg(3), arg(4) == "1")),
        "alpn" => rt.block_on(alpn(arg(0), port(1), arg(2))),
        "sni" => rt.block_on(sni(arg(0), port(1), arg(2))),
        _ => return None,
    };
    Some(result.map_err(|e| format!("TLS-FAILED: {e}")))
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                b'x' if i + 3 < b.len() => {
                    if let Ok(v) = u8::from_str_radix(&s[i + 2..i + 4], 16) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

type Res = Result<String, String>;

fn proxy_addr() -> Result<String, String> {
    let p = std::env::var("HTTPS_PROXY").map_err(|_| "HTTPS_PROXY is not set".to_string())?;
    Ok(p.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string())
}

async fn connect(host: &str, port: u16) -> Result<tokio::net::TcpStream, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(proxy_addr()?)
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(
        format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut b).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the proxy closed".into());
        }
        head.push(b[0]);
    }
    Ok(tcp)
}

fn tls_config(alpn: &[&str]) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    let path = std::env::var("SSL_CERT_FILE").map_err(|_| "SSL_CERT_FILE is not set")?;
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(&pem).flatten() {
        let _ = roots.add(c);
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Arc::new(config))
}

async fn tls(
    host: &str,
    port: u16,
    sni: &str,
    alpn: &[&str],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let tcp = connect(host, port).await?;
    let name =
        rustls_pki_types::ServerName::try_from(sni.to_string()).map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(tls_config(alpn)?)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())
}

/// Everything the other side sends until it closes or is quiet for 5 s.
async fn read_all<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), r.read(&mut buf)).await {
            Ok(Ok(0)) => {
                out.extend_from_slice(b"\n[EOF]");
                break;
            }
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => {
                out.extend_from_slice(format!("\n[EOF: {e}]").as_bytes());
                break;
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn raw_tls(host: String, port: u16, request: Vec<u8>) -> Res {
    use tokio::io::AsyncWriteExt;
    let mut s = tls(&host, port, &host, &["http/1.1"]).await?;
    s.write_all(&request).await.map_err(|e| e.to_string())?;
    Ok(read_all(&mut s).await)
}

async fn raw_proxy(request: Vec<u8>) -> Res {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(proxy_addr()?)
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(&request).await.map_err(|e| e.to_string())?;
    Ok(read_all(&mut tcp).await)
}

async fn alpn(host: String, port: u16, proto: String) -> Res {
    let protos: Vec<&str> = proto.split(',').collect();
    let s = tls(&host, port, &host, &protos).await?;
    let got = s
        .get_ref()
        .1
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    Ok(format!("NEGOTIATED: {}", got.as_deref().unwrap_or("none")))
}

async fn sni(host: String, port: u16, sni: String) -> Res {
    use tokio::io::AsyncWriteExt;
    let mut s = tls(&host, port, &sni, &["http/1.1"]).await?;
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    Ok(read_all(&mut s).await)
}

/// A WebSocket handshake (offering `extensions` unless `-`), one text
/// message (deflated with RSV1 set when `compressed`), then the first
/// message back, or `CLOSED`.
async fn ws(
    host: String,
    path: String,
    extensions: String,
    message: String,
    compressed: bool,
) -> Res {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tls(&host, 443, &host, &["http/1.1"]).await?;
    let ext = if extensions == "-" {
        String::new()
    } else {
        format!("Sec-WebSocket-Extensions: {extensions}\r\n")
    };
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n").as_bytes(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    if !head.starts_with("HTTP/1.1 101") {
        return Ok(format!("{head}{}", read_all(&mut s).await));
    }
    let mut frame = if compressed {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(message.as_bytes()).map_err(|e| e.to_string())?;
        let mut payload = z.finish().map_err(|e| e.to_string())?;
        // permessage-deflate drops the final empty block's tail.
        if payload.ends_with(&[0, 0, 0xff, 0xff]) {
            payload.truncate(payload.len() - 4);
        }
        bottle::sidecar::egress::ws::encode(1, &payload, Some([1, 2, 3, 4]))
    } else {
        bottle::sidecar::egress::ws::encode(1, message.as_bytes(), Some([1, 2, 3, 4]))
    };
    if compressed {
        frame[0] |= 0x40;
    }
    s.write_all(&frame).await.map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    loop {
        if let Ok(Some(f)) = bottle::sidecar::egress::ws::parse(&buf) {
            return Ok(format!(
                "{head}MSG: {}",
                String::from_utf8_lossy(&f.payload)
            ));
        }
        match tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return Ok(format!("{head}CLOSED")),
        }
    }
}
