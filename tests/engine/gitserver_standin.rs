//! The git host stand-ins (tests/support/gitserver.rs) checked from a plain
//! client container on their internal network, before the git gate is
//! tested against them: SSH with a pinned host key and key login only,
//! smart HTTP over TLS with a token, both really cloning and pushing.

use crate::support::gitserver::{self, GitServers, HTTPS_HOST};

fn tag() -> String {
    let id = ulid::Ulid::new().to_string().to_lowercase();
    id[id.len() - 8..].to_string()
}

const SSH: &str = "ssh -i /root/id -o IdentitiesOnly=yes -o BatchMode=yes \
                   -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/root/known_hosts";

#[test]
fn ssh_clone_and_push_with_the_pinned_host_key_only() {
    if !gitserver::required() {
        return;
    }
    let g = GitServers::start(&tag());
    let initial = g.init_repo("demo");
    assert_eq!(g.log("demo", "main"), vec!["initial"]);
    let c = g.client("ssh");
    c.put("/root/id", g.client_key().as_bytes(), "0600");
    c.put(
        "/root/known_hosts",
        format!("{}\n", g.known_hosts_line()).as_bytes(),
        "0644",
    );
    let url = g.ssh_url("demo");

    // Clone, commit, push a branch and main.
    let (code, out) = c.sh(&format!(
        "set -e; export GIT_SSH_COMMAND='{SSH}'; git clone -q {url} w; cd w; \
         test \"$(git rev-parse HEAD)\" = {initial}; \
         echo more >> README; git -c user.name=t -c user.email=t@t.test commit -qam 'from the client'; \
         git push -q origin main; git push -q origin main:refs/heads/feature; git rev-parse HEAD"
    ));
    assert_eq!(code, 0, "clone and push over ssh: {out}");
    let head = out.trim().lines().last().unwrap_or_default().to_string();
    assert_eq!(g.log("demo", "main"), vec!["from the client", "initial"]);
    let refs = g.refs("demo");
    assert!(
        refs.contains(&(head.clone(), "refs/heads/main".into()))
            && refs.contains(&(head, "refs/heads/feature".into())),
        "{refs:?}"
    );

    // The git user gets no shell: git-shell runs only git's own commands.
    let (code, out) = c.sh(&format!("{SSH} git@{} id", gitserver::SSH_HOST));
    assert_ne!(code, 0, "a shell command ran: {out}");
    assert!(!out.contains("uid="), "{out}");

    // Another host key pinned: the connection is refused before any login.
    c.put(
        "/root/known_hosts",
        format!("{} {}\n", gitserver::SSH_HOST, g.other_host_key_line()).as_bytes(),
        "0644",
    );
    let (code, out) = c.sh(&format!("GIT_SSH_COMMAND='{SSH}' git ls-remote {url} 2>&1"));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Host key verification failed"), "{out}");

    // Another client key: no login (key auth only, no password fallback).
    c.put(
        "/root/known_hosts",
        format!("{}\n", g.known_hosts_line()).as_bytes(),
        "0644",
    );
    let (code, out) = c.sh(&format!(
        "rm -f /root/id && ssh-keygen -q -t ed25519 -N '' -f /root/id && \
         GIT_SSH_COMMAND='{SSH}' git ls-remote {url} 2>&1"
    ));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Permission denied (publickey)"), "{out}");
}

#[test]
fn https_clone_and_push_with_the_token_and_the_ca() {
    if !gitserver::required() {
        return;
    }
    let g = GitServers::start(&tag());
    g.init_repo("web");
    let c = g.client("https");
    c.put("/root/ca.pem", g.ca_pem().as_bytes(), "0644");
    let url = g.https_url("web");
    let bearer = format!(
        "-c http.sslCAInfo=/root/ca.pem -c 'http.extraHeader=Authorization: Bearer {}'",
        g.token()
    );

    // Clone, then a push bigger than git's post buffer (sent chunked).
    let (code, out) = c.sh(&format!(
        "set -e; git {bearer} clone -q {url} w; cd w; \
         head -c 3000000 /dev/urandom > big.bin; git add big.bin; \
         git -c user.name=t -c user.email=t@t.test commit -qm 'a big file'; \
         git {bearer} push -q origin main 2>&1"
    ));
    assert_eq!(code, 0, "clone and push over https: {out}");
    assert_eq!(g.log("web", "main"), vec!["a big file", "initial"]);
    let seen = g.http_requests();
    assert!(
        seen.iter().any(|r| r["method"] == "POST"
            && r["path"] == "/web.git/git-receive-pack"
            && r["chunked"] == true
            && r["status"] == 200),
        "no chunked push: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|r| r["authorized"] == true && r["auth"] == "bearer"),
        "{seen:?}"
    );

    // Basic with x-access-token works too.
    let helper = format!(
        "-c http.sslCAInfo=/root/ca.pem -c credential.helper='!f() {{ echo username=x-access-token; echo password={}; }}; f'",
        g.token()
    );
    let (code, out) = c.sh(&format!("git {helper} ls-remote {url} 2>&1"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("refs/heads/main"), "{out}");
    assert!(
        g.http_requests()
            .iter()
            .any(|r| r["auth"] == "basic" && r["authorized"] == true && r["status"] == 200),
        "{:?}",
        g.http_requests()
    );

    // Without a token: 401, nothing served.
    let before = g.http_requests().len();
    let (code, out) = c.sh(&format!(
        "git -c http.sslCAInfo=/root/ca.pem ls-remote {url} 2>&1"
    ));
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("refs/heads/main"), "{out}");
    let after = g.http_requests();
    assert!(
        after[before..]
            .iter()
            .all(|r| r["status"] == 401 && r["authorized"] == false),
        "{after:?}"
    );
    assert!(after[before..].iter().any(|r| r["auth"] == "none"));

    // A wrong token: 401 too.
    let (code, out) = c.sh(&format!(
        "git -c http.sslCAInfo=/root/ca.pem -c 'http.extraHeader=Authorization: Bearer {}x' ls-remote {url} 2>&1",
        g.token()
    ));
    assert_ne!(code, 0, "{out}");
    assert!(g
        .http_requests()
        .iter()
        .any(|r| r["auth"] == "bearer" && r["authorized"] == false && r["status"] == 401));

    // Without the run's CA the certificate is not trusted.
    let (code, out) = c.sh(&format!(
        "git -c 'http.extraHeader=Authorization: Bearer {}' ls-remote {url} 2>&1",
        g.token()
    ));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("certificate"), "{out}");
    assert!(out.contains(HTTPS_HOST) || out.contains("SSL"), "{out}");
}

#[test]
fn the_upstream_can_be_stopped_and_taken_off_the_network() {
    if !gitserver::required() {
        return;
    }
    let g = GitServers::start(&tag());
    g.init_repo("r");
    let c = g.client("reach");
    c.put("/root/ca.pem", g.ca_pem().as_bytes(), "0644");
    let ls = format!(
        "git -c http.sslCAInfo=/root/ca.pem -c 'http.extraHeader=Authorization: Bearer {}' ls-remote {} 2>&1",
        g.token(),
        g.https_url("r")
    );
    assert_eq!(c.sh(&ls).0, 0);

    g.stop_servers();
    let (code, out) = c.sh(&ls);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("refused") || out.contains("connect"), "{out}");
    g.start_servers();
    let (code, out) = c.sh(&ls);
    assert_eq!(code, 0, "{out}");

    g.set_reachable(false);
    let (code, out) = c.sh(&ls);
    assert_ne!(code, 0, "{out}");
    g.set_reachable(true);
    let (code, out) = c.sh(&ls);
    assert_eq!(code, 0, "{out}");

    // An upstream that refuses pushes says why.
    g.refuse_pushes("r", Some("upstream says no"));
    let (code, out) = c.sh(&format!(
        "set -e; git -c http.sslCAInfo=/root/ca.pem -c 'http.extraHeader=Authorization: Bearer {t}' clone -q {u} w; cd w; \
         git -c user.name=t -c user.email=t@t.test commit -q --allow-empty -m refused; \
         git -c http.sslCAInfo=/root/ca.pem -c 'http.extraHeader=Authorization: Bearer {t}' push origin main 2>&1",
        t = g.token(),
        u = g.https_url("r")
    ));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("upstream says no"), "{out}");
    assert_eq!(g.log("r", "main"), vec!["initial"]);
}
