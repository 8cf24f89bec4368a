//! Stand-ins for the world outside a bottle, on internal test networks
//! only: an HTTPS upstream (`bottle debug upstream`, its own CA for
//! `upstream_ca`) that logs every request, and bottles whose sidecar, and
//! only it, is connected to that network.

use super::Engine;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const TOKEN_VAR: &str = "BOTTLE_TEST_UPSTREAM_TOKEN";
pub const HOST: &str = "api.upstream.test";
pub const PASS: &str = "pass.upstream.test";
/// The stand-in answers as Anthropic's and OpenAI's APIs too (also as
/// `chatgpt.com` and `api.openai.com`), but only on its internal network:
/// the real hosts are unreachable from there.
pub const ANTHROPIC: &str = "api.anthropic.com";

pub struct Upstream {
    pub net: String,
    pub container: String,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.container])
            .output();
        let _ = Command::new("docker")
            .args(["network", "rm", &self.net])
            .output();
    }
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < super::TIMEOUT * 2 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

/// Runs `bottle debug <args>` (this build's binary, bound in) in a
/// labelled container on `net` under these names.
pub fn run_tool(name: &str, net: &str, aliases: &[&str], args: &[&str]) {
    let bin = format!("{}:/usr/local/bin/bottle:ro", super::bottle_bin().display());
    let mut cmd: Vec<&str> = vec![
        "run",
        "-d",
        "--name",
        name,
        "--label",
        "dev.bottle.test=egress",
        "--network",
        net,
        "-e",
        "HOME=/tmp",
        "-e",
        "BOTTLE_HOME=/tmp/bottle",
        "-v",
        &bin,
    ];
    for a in aliases {
        cmd.extend(["--network-alias", a]);
    }
    cmd.extend(["debian:bookworm-slim", "/usr/local/bin/bottle", "debug"]);
    cmd.extend(args);
    docker(&cmd);
}

/// The stand-in on its own internal network; its CA's PEM.
pub fn start_upstream(tag: &str) -> (Upstream, String, String) {
    let net = format!("bottle-test-upstream-{tag}");
    docker(&[
        "network",
        "create",
        "--internal",
        "--label",
        "dev.bottle.test=egress",
        &net,
    ]);
    let subnet = docker(&[
        "network",
        "inspect",
        &net,
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
    ]);
    let container = format!("bottle-test-upstream-{tag}");
    let up = Upstream {
        net: net.clone(),
        container: container.clone(),
    };
    run_tool(
        &container,
        &net,
        &[
            HOST,
            PASS,
            "private.upstream.test",
            "nows.upstream.test",
            ANTHROPIC,
            "chatgpt.com",
            "api.openai.com",
        ],
        &["upstream", "--name", HOST],
    );
    let mut ca = String::new();
    wait_until("the stand-in upstream", || {
        let logs = docker(&["logs", &container]);
        if !logs.contains("listening") {
            return false;
        }
        let first: serde_json::Value =
            serde_json::from_str(logs.lines().next().unwrap_or_default()).expect("json");
        ca = first["pem"].as_str().expect("pem").to_string();
        true
    });
    (up, ca, subnet)
}

/// A stand-in upstream and an empty home beside its CA (`upstream-ca.pem`),
/// under a unique tag.
pub struct World {
    pub tag: String,
    pub up: Upstream,
    pub subnet: String,
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub ca_path: PathBuf,
}

pub fn world() -> World {
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (up, ca, subnet) = start_upstream(&tag[tag.len() - 8..]);
    let dir = tempfile::Builder::new()
        .disable_cleanup(std::env::var_os("BOTTLE_TEST_KEEP").is_some())
        .tempdir()
        .expect("tempdir");
    let home = dir.path().join("home");
    let ca_path = dir.path().join("upstream-ca.pem");
    std::fs::write(&ca_path, &ca).expect("write");
    World {
        tag,
        up,
        subnet,
        dir,
        home,
        ca_path,
    }
}

impl World {
    /// The tag's last `n` characters (unique names per run).
    pub fn short(&self, n: usize) -> &str {
        &self.tag[self.tag.len() - n..]
    }
}

/// The stand-in's address on its network.
pub fn standin_ip(up: &Upstream) -> std::net::Ipv4Addr {
    docker(&[
        "inspect",
        &up.container,
        "--format",
        &format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            up.net
        ),
    ])
    .parse()
    .expect("the stand-in's address")
}

/// Every request the stand-in saw, as JSON.
pub fn seen(container: &str) -> Vec<serde_json::Value> {
    docker(&["logs", container])
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "request")
        .collect()
}

pub struct Bottle<'a> {
    pub e: &'a Engine,
    pub home: PathBuf,
    pub slug: String,
}

impl Drop for Bottle<'_> {
    fn drop(&mut self) {
        if std::env::var_os("BOTTLE_TEST_KEEP").is_some() {
            eprintln!(
                "BOTTLE_TEST_KEEP: kept {} in {}",
                self.slug,
                self.home.display()
            );
            return;
        }
        let _ = self.e.bottle(&self.home, None, &["rm", &self.slug]);
    }
}

impl<'a> Bottle<'a> {
    /// Starts a bottle of `agent` (with these environment variables for
    /// `bottle start`) and connects its sidecar, and only its sidecar, to
    /// the stand-ins' network.
    pub fn start(
        e: &'a Engine,
        home: &Path,
        agent: &str,
        env: &[(&str, &str)],
        net: &str,
    ) -> Bottle<'a> {
        let out = e
            .bottle_cmd(
                home,
                None,
                &["start", agent, "--detach", "-y", "--no-workspace"],
            )
            .envs(env.iter().copied())
            .output()
            .expect("start");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let slug = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let names = bottle::state::names::Names::for_slug(
            &bottle::state::names::Slug::parse(&slug).expect("slug"),
        );
        docker(&["network", "connect", net, &names.sidecar_container]);
        Bottle {
            e,
            home: home.to_path_buf(),
            slug,
        }
    }

    /// `sh -c script` in the agent, as the agent; (status, stdout).
    pub fn sh(&self, script: &str) -> (i32, String) {
        let out = self.e.bottle(
            &self.home,
            None,
            &["exec", &self.slug, "--", "sh", "-c", script],
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// The workspace in a PTY of `rows`×`cols` (run from `<dir>/ws`, with
    /// `HOME` = `dir`), with this bottle's pane opened from the sidebar
    /// (after `agents` agents), once `ready` holds for the screen.
    pub fn workspace(
        &self,
        dir: &Path,
        rows: u16,
        cols: u16,
        agents: usize,
        ready: impl Fn(&str) -> bool,
    ) -> super::PtyApp {
        let (h, hh) = (self.home.display().to_string(), dir.display().to_string());
        std::fs::create_dir_all(dir.join("ws")).expect("mkdir");
        let mut app = super::Pty::open(rows, cols).spawn(
            &[],
            &[("BOTTLE_HOME", h.as_str()), ("HOME", hh.as_str())],
            &dir.join("ws"),
        );
        app.wait_for("the bottle in the sidebar", |s| s.contains(&self.slug));
        for _ in 0..agents {
            app.send(b"\x1b[B");
        }
        app.send(b"\r");
        app.wait_for("the pane", ready);
        app
    }

    pub fn curl(&self, args: &str) -> String {
        self.sh(&format!("curl -sS --max-time 20 {args} 2>&1")).1
    }
}
