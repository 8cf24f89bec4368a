//! Stand-ins for real git hosts (GitHub over SSH and smart HTTP), on an
//! internal test network only: one container from `bottle-test/gitserver:1`
//! (built by scripts/test-images) with
//! - `git.upstream.test:22`: a real sshd, key login only, user `git` with
//!   git-shell as its shell, repositories under `/srv/git/<name>.git`;
//!   host and client keys minted for this run;
//! - `githttp.upstream.test:443`: `git http-backend` behind a python3 TLS
//!   server (tests/fixtures/gitserver/https.py) that wants the run's token
//!   (`Bearer`, or Basic `x-access-token:<token>`), with a certificate from
//!   a CA minted for this run; one JSON line per request in its log.
//!
//! Everything is labelled `dev.bottle.test=gitgate` and removed on drop.

use super::standin::{docker, wait_until};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const IMAGE: &str = "bottle-test/gitserver:1";
pub const SSH_HOST: &str = "git.upstream.test";
pub const HTTPS_HOST: &str = "githttp.upstream.test";
const LABEL: &str = "dev.bottle.test=gitgate";
/// Where the fixtures (setup.sh, server.sh, https.py) are mounted.
const FIXTURES: &str = "/opt/gitserver";

/// Whether the image is in the engine.
pub fn image_present() -> bool {
    Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `image_present`, with a loud NOT RUN when it is not (a failure under
/// `BOTTLE_REQUIRE_ALL=1`).
pub fn required() -> bool {
    super::require(
        &format!("the git server stand-in image {IMAGE} (built by scripts/test-images, which needs debootstrap)"),
        image_present(),
    )
}

/// `docker ARGS` with `stdin` fed in; (exit code, stdout + stderr).
fn docker_io(args: &[&str], stdin: &[u8]) -> (i32, String) {
    let mut child = Command::new("docker")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker");
    {
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin).expect("write to docker");
    }
    let out = child.wait_with_output().expect("docker");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// A name safe inside a shell script and a path: `[A-Za-z0-9._-]`, not
/// starting with a dot.
fn checked(name: &str) -> &str {
    assert!(
        !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
        "not a plain repository name: {name:?}"
    );
    name
}

/// A CA for this run and a leaf for `githttp.upstream.test` signed by it:
/// (CA PEM, leaf chain PEM, leaf key PEM).
fn mint_tls() -> (String, String, String) {
    use bottle::sidecar::egress::ca;
    let (ca_pem, ca_key) = ca::mint_ca("gitserver-standin").expect("mint the CA");
    let (chain, key) = ca::leaf_pem(&ca_pem, &ca_key, HTTPS_HOST).expect("the leaf");
    (ca_pem, chain, key)
}

pub struct GitServers {
    /// The internal network (`bottle-test-git-<tag>`).
    pub net: String,
    /// The server container (same name as the network).
    pub container: String,
    host_key: String,
    other_host_key: String,
    token: String,
    ca_pem: String,
    dir: tempfile::TempDir,
    /// Client containers made by `client()`, removed on drop too.
    clients: std::sync::Mutex<Vec<String>>,
}

impl Drop for GitServers {
    fn drop(&mut self) {
        if std::env::var_os("BOTTLE_TEST_KEEP").is_some() {
            eprintln!("BOTTLE_TEST_KEEP: kept {} and {}", self.container, self.net);
            return;
        }
        let mut gone = vec![self.container.clone()];
        gone.extend(self.clients.lock().map(|c| c.clone()).unwrap_or_default());
        for c in gone {
            let _ = Command::new("docker").args(["rm", "-f", &c]).output();
        }
        // Whatever else was connected (a bottle's sidecar) lets go first.
        let others = Command::new("docker")
            .args([
                "network",
                "inspect",
                &self.net,
                "--format",
                "{{range .Containers}}{{.Name}} {{end}}",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for c in others.split_whitespace() {
            let _ = Command::new("docker")
                .args(["network", "disconnect", "-f", &self.net, c])
                .output();
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.net])
            .output();
    }
}

impl GitServers {
    /// The stand-ins on a new internal network `bottle-test-git-<tag>`,
    /// both servers answering. Callers check `required()` first.
    pub fn start(tag: &str) -> GitServers {
        let net = format!("bottle-test-git-{tag}");
        docker(&["network", "create", "--internal", "--label", LABEL, &net]);
        let dir = tempfile::Builder::new()
            .prefix("bottle-gitserver-")
            .tempdir()
            .expect("tempdir");
        let mut servers = GitServers {
            net: net.clone(),
            container: net.clone(),
            host_key: String::new(),
            other_host_key: String::new(),
            token: format!("gt-{}", ulid::Ulid::new().to_string().to_lowercase()),
            ca_pem: String::new(),
            dir,
            clients: std::sync::Mutex::new(Vec::new()),
        };
        let fixtures = format!(
            "{}/tests/fixtures/gitserver:{FIXTURES}:ro",
            env!("CARGO_MANIFEST_DIR")
        );
        docker(&[
            "run",
            "-d",
            "--init",
            "--name",
            &servers.container,
            "--label",
            LABEL,
            "--network",
            &net,
            "--network-alias",
            SSH_HOST,
            "--network-alias",
            HTTPS_HOST,
            "-v",
            &fixtures,
            IMAGE,
            "sleep",
            "infinity",
        ]);
        let (code, out) = servers.exec(&format!("sh {FIXTURES}/setup.sh"));
        assert_eq!(code, 0, "the stand-in's setup failed: {out}");
        let public = |file: &str| -> String {
            let line = docker(&["exec", &net, "cat", &format!("/etc/gitserver/{file}")]);
            line.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        };
        servers.host_key = public("ssh_host_ed25519_key.pub");
        servers.other_host_key = public("other_host.pub");
        assert!(servers.host_key.starts_with("ssh-ed25519 AAAA"));
        assert_ne!(servers.host_key, servers.other_host_key);
        let client_key = docker(&["exec", &net, "cat", "/etc/gitserver/client"]);
        servers.exec_ok("rm -f /etc/gitserver/client");
        let path = servers.client_key_path();
        std::fs::write(&path, format!("{client_key}\n")).expect("write the client key");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("chmod the client key");
        let (ca, chain, key) = mint_tls();
        std::fs::write(servers.ca_path(), &ca).expect("write the CA");
        servers.ca_pem = ca;
        servers.put("/etc/gitserver/tls.crt", chain.as_bytes(), "0644");
        servers.put("/etc/gitserver/tls.key", key.as_bytes(), "0600");
        let token = servers.token.clone();
        servers.put("/etc/gitserver/token", token.as_bytes(), "0600");
        servers.start_servers();
        servers
    }

    /// `sh -c script` in the server container as root; (exit code,
    /// stdout + stderr).
    pub fn exec(&self, script: &str) -> (i32, String) {
        docker_io(&["exec", "-i", &self.container, "sh", "-c", script], b"")
    }

    /// `exec`, as the `git` user (who owns the repositories).
    pub fn exec_git(&self, script: &str) -> (i32, String) {
        docker_io(
            &[
                "exec",
                "-i",
                "-u",
                "git",
                "-e",
                "HOME=/home/git",
                "-w",
                "/srv/git",
                &self.container,
                "sh",
                "-c",
                script,
            ],
            b"",
        )
    }

    fn exec_ok(&self, script: &str) -> String {
        let (code, out) = self.exec(script);
        assert_eq!(code, 0, "{script}: {out}");
        out
    }

    /// Writes a file in the server container (as root) with this mode.
    pub fn put(&self, path: &str, contents: &[u8], mode: &str) {
        let script = format!("umask 077 && cat > '{path}' && chmod {mode} '{path}'");
        let (code, out) = docker_io(
            &["exec", "-i", &self.container, "sh", "-c", &script],
            contents,
        );
        assert_eq!(code, 0, "writing {path}: {out}");
    }

    /// Starts sshd and the HTTPS server; returns once both accept.
    pub fn start_servers(&self) {
        self.exec_ok(&format!("sh {FIXTURES}/server.sh start"));
        wait_until("the git stand-ins to listen on 22 and 443", || {
            self.exec("bash -c 'exec 3<>/dev/tcp/127.0.0.1/22 && exec 4<>/dev/tcp/127.0.0.1/443'")
                .0
                == 0
        });
    }

    /// Stops both servers (connections are refused from now on; the names
    /// still resolve); returns once neither accepts.
    pub fn stop_servers(&self) {
        self.exec_ok(&format!("sh {FIXTURES}/server.sh stop"));
        wait_until("the git stand-ins to stop listening", || {
            let probe = |port: u16| {
                self.exec(&format!(
                    "bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null"
                ))
                .0 != 0
            };
            probe(22) && probe(443)
        });
    }

    /// Takes the server off its network (the names stop resolving and
    /// nothing answers) or puts it back with its names.
    pub fn set_reachable(&self, reachable: bool) {
        if reachable {
            docker(&[
                "network",
                "connect",
                "--alias",
                SSH_HOST,
                "--alias",
                HTTPS_HOST,
                &self.net,
                &self.container,
            ]);
        } else {
            docker(&["network", "disconnect", &self.net, &self.container]);
        }
    }

    /// Connects another container (a bottle's sidecar) to this network.
    pub fn connect(&self, container: &str) {
        docker(&["network", "connect", &self.net, container]);
    }

    /// The pinned host key, `ssh-ed25519 AAAA…` (no host name, no comment).
    pub fn host_key_line(&self) -> &str {
        &self.host_key
    }

    /// An unrelated host key, for wrong-host-key tests.
    pub fn other_host_key_line(&self) -> &str {
        &self.other_host_key
    }

    /// A known_hosts line for the SSH stand-in: `git.upstream.test ssh-ed25519 AAAA…`.
    pub fn known_hosts_line(&self) -> String {
        format!("{SSH_HOST} {}", self.host_key)
    }

    /// The client's private key (OpenSSH format, 0600, owned by the test);
    /// its public half is the only authorized key.
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// The client's private key, as text.
    pub fn client_key(&self) -> String {
        std::fs::read_to_string(self.client_key_path()).expect("read the client key")
    }

    /// `ssh://git@git.upstream.test:22/srv/git/<repo>.git`.
    pub fn ssh_url(&self, repo: &str) -> String {
        format!("ssh://git@{SSH_HOST}:22/srv/git/{}.git", checked(repo))
    }

    /// `https://githttp.upstream.test/<repo>.git`.
    pub fn https_url(&self, repo: &str) -> String {
        format!("https://{HTTPS_HOST}/{}.git", checked(repo))
    }

    /// The token the HTTPS stand-in wants.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The CA that signed the HTTPS stand-in's certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA, as a file the test owns.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("gitserver-ca.pem")
    }

    /// A directory the test owns (keys and CA live there too).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A bare repository `/srv/git/<name>.git` with one commit
    /// ("initial", adding README) on `main`, owned by `git`; returns its
    /// sha.
    pub fn init_repo(&self, name: &str) -> String {
        let name = checked(name);
        let script = format!(
            "set -e; d=/srv/git/{name}.git; git init -q --bare -b main \"$d\"; \
             w=$(mktemp -d); cd \"$w\"; git init -q -b main; \
             echo 'upstream {name}' > README; git add README; \
             git -c user.name=upstream -c user.email=upstream@upstream.test commit -q -m initial; \
             git push -q \"$d\" main; cd /; rm -rf \"$w\"; git -C \"$d\" rev-parse main"
        );
        let (code, out) = self.exec_git(&script);
        assert_eq!(code, 0, "init_repo {name}: {out}");
        out.trim().to_string()
    }

    /// Every ref of the repository: (sha, ref name).
    pub fn refs(&self, name: &str) -> Vec<(String, String)> {
        let (code, out) = self.exec_git(&format!(
            "git -C /srv/git/{}.git for-each-ref --format='%(objectname) %(refname)'",
            checked(name)
        ));
        assert_eq!(code, 0, "refs {name}: {out}");
        out.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(sha, r)| (sha.to_string(), r.to_string()))
            .collect()
    }

    /// The subjects of `git log rev` in the repository, newest first
    /// (empty when `rev` does not exist).
    pub fn log(&self, name: &str, rev: &str) -> Vec<String> {
        assert!(
            rev.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-^~".contains(c)),
            "not a plain revision: {rev:?}"
        );
        let (code, out) = self.exec_git(&format!(
            "git -C /srv/git/{}.git log --format=%s '{rev}' --",
            checked(name)
        ));
        if code != 0 {
            return Vec::new();
        }
        out.lines().map(str::to_string).collect()
    }

    /// Makes the upstream refuse every push to the repository (a
    /// pre-receive hook saying `message`), or accept them again.
    pub fn refuse_pushes(&self, name: &str, message: Option<&str>) {
        let hook = format!("/srv/git/{}.git/hooks/pre-receive", checked(name));
        match message {
            Some(m) => {
                let body = format!("#!/bin/sh\necho '{}' >&2\nexit 1\n", m.replace('\'', ""));
                self.put(&hook, body.as_bytes(), "0755");
                self.exec_ok(&format!("chown git:git '{hook}'"));
            }
            None => {
                self.exec_ok(&format!("rm -f '{hook}'"));
            }
        }
    }

    /// Every request the HTTPS stand-in answered so far, as JSON (method,
    /// path, query, status, auth: none|bearer|basic|…, authorized, chunked).
    pub fn http_requests(&self) -> Vec<serde_json::Value> {
        self.log_lines()
            .into_iter()
            .filter(|v| v["event"] == "request")
            .collect()
    }

    /// The HTTPS stand-in's JSON lines (requests, `listening`, TLS errors).
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        docker(&["logs", &self.container])
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .collect()
    }

    /// sshd's log (connections, accepted and refused keys).
    pub fn ssh_log(&self) -> String {
        let out = Command::new("docker")
            .args(["logs", &self.container])
            .output()
            .expect("docker logs");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A plain container from the same image (git, ssh, curl-less) on this
    /// network, removed with the stand-ins: a client to check them with.
    pub fn client(&self, name: &str) -> GitClient {
        let container = format!("{}-{}", self.container, checked(name));
        docker(&[
            "run",
            "-d",
            "--init",
            "--name",
            &container,
            "--label",
            LABEL,
            "--network",
            &self.net,
            IMAGE,
            "sleep",
            "infinity",
        ]);
        if let Ok(mut c) = self.clients.lock() {
            c.push(container.clone());
        }
        GitClient { container }
    }
}

/// A client container on the stand-ins' network (see `GitServers::client`).
pub struct GitClient {
    pub container: String,
}

impl GitClient {
    /// `sh -c script` as root in /root; (exit code, stdout + stderr).
    pub fn sh(&self, script: &str) -> (i32, String) {
        docker_io(
            &[
                "exec",
                "-i",
                "-w",
                "/root",
                "-e",
                "GIT_TERMINAL_PROMPT=0",
                &self.container,
                "sh",
                "-c",
                script,
            ],
            b"",
        )
    }

    /// Writes a file in the client with this mode.
    pub fn put(&self, path: &str, contents: &[u8], mode: &str) {
        let script = format!("umask 077 && cat > '{path}' && chmod {mode} '{path}'");
        let (code, out) = docker_io(
            &["exec", "-i", &self.container, "sh", "-c", &script],
            contents,
        );
        assert_eq!(code, 0, "writing {path}: {out}");
    }
}
