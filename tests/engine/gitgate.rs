//! The git gate (SPEC §4.6, §5.5) on a real bottle whose sidecar, and
//! only it, reaches stand-in git hosts (`support::gitserver`: a real sshd
//! with key auth and a pinned host key, and a smart-HTTP server with token
//! auth) on an internal test network. Everything runs as the agent, with
//! the agent's own git: clean pushes land upstream; secrets in added lines,
//! file names and commit messages, deletions, force-pushes and branches
//! outside `push_branches` are refused with git's own output; a wrong host
//! key and an unreachable upstream fail closed; the key and the token are
//! nowhere the agent can read.

use crate::support::gitserver::{self, GitServers};
use crate::support::standin::Bottle;
use crate::support::Engine;

const TOKEN_VAR: &str = "BOTTLE_TEST_GATE_TOKEN";
/// A shape the DLP rules know (AWS access key id), not a real key.
const AWS: &str = "AKIAZ7QWERTYUIOPASDF";

fn define(home: &std::path::Path, g: &GitServers) {
    let frontmatter = format!(
        "agent_provider: {{ template: shell }}\n\
         egress: {{ upstream_ca: \"{ca}\" }}\n\
         git-gate:\n  user: {{ name: \"Agent\", email: \"agent@bottle.test\" }}\n  repos:\n\
         \x20   app: {{ url: \"{ssh}\", identity: \"{key}\", host_key: \"{hk}\" }}\n\
         \x20   web: {{ url: \"{https}\", auth: {{ scheme: Bearer, token_ref: {TOKEN_VAR} }}, push_branches: [\"bottle/*\", \"agent/**\"] }}\n\
         \x20   bad: {{ url: \"{bad}\", identity: \"{key}\", host_key: \"{other}\" }}\n",
        ca = g.ca_path().display(),
        ssh = g.ssh_url("app"),
        key = g.client_key_path().display(),
        hk = g.host_key_line(),
        https = g.https_url("web"),
        bad = g.ssh_url("bad"),
        other = g.other_host_key_line(),
    );
    crate::support::define(home, "gate", &frontmatter);
}

#[test]
fn the_git_gate_scans_confines_and_keeps_the_keys() {
    if !gitserver::required() {
        return;
    }
    let e = Engine::default_docker();
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let g = GitServers::start(&tag[tag.len() - 8..]);
    let app_main = g.init_repo("app");
    g.init_repo("web");
    g.init_repo("bad");
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    define(&home, &g);
    let token = g.token().to_string();
    let b = Bottle::start(&e, &home, "gate", &[(TOKEN_VAR, token.as_str())], &g.net);
    let sh = |script: &str| {
        let (code, out) = b.sh(&format!("cd /tmp && {{ {script} ; }} 2>&1"));
        (code, out)
    };

    // A clone through the gate: the agent writes the upstream's URL; its
    // git goes to the gate, which syncs from the upstream over SSH.
    let (code, out) = sh(&format!(
        "git clone -q {} app && cd app && git log --format=%H -1 && git remote get-url origin",
        g.ssh_url("app")
    ));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&app_main), "{out}");

    // A clean push to bottle/* lands upstream.
    let (code, out) = sh(
        "cd app && echo hello > hello.txt && git add hello.txt && git commit -qm 'add hello' \
         && git push origin HEAD:refs/heads/bottle/one",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("scanned and pushed upstream"), "{out}");
    assert_eq!(
        g.log("app", "bottle/one").first().map(String::as_str),
        Some("add hello")
    );

    // A secret in an added line: refused with file:line: rule; nothing
    // lands upstream.
    let (code, out) = sh(&format!(
        "cd app && git checkout -q -b bottle/two && printf 'one\\nkey = \"{AWS}\"\\n' > conf.txt \
         && git add conf.txt && git commit -qm 'add conf' && git push origin bottle/two"
    ));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("conf.txt:2: aws-access-key"), "{out}");
    assert!(
        out.contains("remote rejected") || out.contains("pre-receive hook declined"),
        "{out}"
    );
    assert!(g.log("app", "bottle/two").is_empty(), "nothing landed");
    assert!(
        !out.contains(AWS),
        "the refusal does not repeat the value: {out}"
    );

    // In a file name.
    let (code, out) = sh(&format!(
        "cd app && git checkout -q -B bottle/three origin/bottle/one && echo x > 'cfg-{AWS}.txt' \
         && git add . && git commit -qm 'name' && git push origin bottle/three"
    ));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(&format!("file name cfg-{AWS}.txt: aws-access-key")),
        "{out}"
    );
    assert!(g.log("app", "bottle/three").is_empty());

    // In a commit message.
    let (code, out) = sh(&format!(
        "cd app && git checkout -q -B bottle/four origin/bottle/one && echo y > y.txt && git add y.txt \
         && git commit -qm 'subject' -m 'the key is {AWS}' && git push origin bottle/four"
    ));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("commit message line 3: aws-access-key"),
        "{out}"
    );
    assert!(g.log("app", "bottle/four").is_empty());

    // A secret added and removed again in the same push is still refused
    // (every new commit is scanned, not the end result).
    let (code, out) = sh(&format!(
        "cd app && git checkout -q -B bottle/five origin/bottle/one && echo '{AWS}' > t.txt && git add t.txt \
         && git commit -qm add && git rm -q t.txt && git commit -qm remove && git push origin bottle/five"
    ));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("t.txt:1: aws-access-key"), "{out}");

    // Deletion, force-push and a branch outside push_branches.
    let (code, out) = sh("cd app && git push origin :bottle/one");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("deleting a ref is not allowed"), "{out}");
    let (code, out) = sh(
        "cd app && git checkout -q -B bottle/one origin/bottle/one~1 && echo z > z.txt && git add z.txt \
         && git commit -qm rewrite && git push -f origin bottle/one",
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not a fast-forward"), "{out}");
    assert_eq!(
        g.log("app", "bottle/one").first().map(String::as_str),
        Some("add hello")
    );
    let (code, out) = sh("cd app && git push origin HEAD:main");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("refs/heads/main: outside"), "{out}");
    assert_eq!(g.log("app", "main").len(), 1, "main is untouched");

    // The upstream refuses: so does the agent's push, and the gate's copy
    // does not move.
    g.refuse_pushes("app", Some("upstream policy says no"));
    let (code, out) = sh(
        "cd app && git checkout -q -B bottle/six origin/bottle/one && echo six > six.txt \
         && git add six.txt && git commit -qm six && git push origin bottle/six",
    );
    g.refuse_pushes("app", None);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("upstream policy says no"), "{out}");
    assert!(out.contains("refused the push"), "{out}");
    assert!(g.log("app", "bottle/six").is_empty());
    let (_, out) = sh("cd app && git ls-remote origin refs/heads/bottle/six");
    assert!(!out.contains("bottle/six"), "the gate kept nothing: {out}");

    // The https upstream with its token: clone and push, the token sent
    // by the gate and nowhere in the agent.
    let (code, out) = sh(&format!(
        "git clone -q {} web && cd web && echo w > w.txt && git add w.txt && git commit -qm web \
         && git push origin HEAD:refs/heads/agent/deep/branch",
        g.https_url("web")
    ));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        g.log("web", "agent/deep/branch")
            .first()
            .map(String::as_str),
        Some("web")
    );
    let reqs = g.http_requests();
    assert!(
        reqs.iter().any(|r| r["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("git-receive-pack"))
            && r["authorized"] == true),
        "{reqs:?}"
    );

    // A wrong host key: the gate refuses to connect, the agent reads why.
    let (code, out) = sh(&format!("git clone -q {} bad", g.ssh_url("bad")));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Host key verification failed"), "{out}");

    // An unreachable upstream: fetch fails closed with the reason.
    g.set_reachable(false);
    let (code, out) = sh("cd app && git fetch origin");
    g.set_reachable(true);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("could not fetch `app`"), "{out}");

    // The key and the token are nowhere the agent can read: environment,
    // files it can reach, any process's environment.
    let key = g.client_key();
    let key_line = key
        .lines()
        .find(|l| l.len() > 40 && !l.starts_with("-----"))
        .expect("a key body line")
        .to_string();
    for needle in [token.as_str(), key_line.as_str()] {
        let (_, out) = sh(&format!(
            "env | grep -cF '{needle}'; grep -rlsF '{needle}' /home /workspace /etc /tmp /opt /root /var /run 2>/dev/null; \
             for f in /proc/[0-9]*/environ; do grep -lsF '{needle}' $f; done; echo end"
        ));
        assert_eq!(out.trim(), "0\nend", "the agent found a credential: {out}");
    }
}

fn host_git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Op")
        .env("GIT_AUTHOR_EMAIL", "op@bottle.test")
        .env("GIT_COMMITTER_NAME", "Op")
        .env("GIT_COMMITTER_EMAIL", "op@bottle.test")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The workspace's own repository: the agent's `origin` is the gate; what
/// it pushes there (scanned the same way) lands in the host repository
/// through `bottle fetch` as `refs/remotes/bottle/<slug>/<branch>`, never
/// checked out; a push with a secret and a hostile object never land.
#[test]
fn the_workspace_repository_reaches_the_host_only_through_fetch() {
    let e = Engine::default_docker();
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    host_git(&ws, &["init", "-q", "-b", "main"]);
    std::fs::write(ws.join("README.md"), "the operator's project\n").expect("write");
    host_git(&ws, &["add", "README.md"]);
    host_git(&ws, &["commit", "-qm", "operator's first commit"]);
    host_git(
        &ws,
        &[
            "remote",
            "add",
            "origin",
            "https://op:ghp_notreal@git.example.test/acme/app.git",
        ],
    );
    let main_before = host_git(&ws, &["rev-parse", "main"]);
    crate::support::define(
        &home,
        "wsgate",
        "agent_provider: { template: shell }\ngit-gate: { user: { name: Agent, email: agent@bottle.test } }\n",
    );
    let out = e.bottle(&home, Some(&ws), &["start", "wsgate", "--detach", "-y"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let slug = String::from_utf8_lossy(&out.stdout).trim().to_string();
    struct Rm<'a>(&'a Engine, &'a std::path::Path, String);
    impl Drop for Rm<'_> {
        fn drop(&mut self) {
            let _ = self.0.bottle(self.1, None, &["rm", &self.2]);
        }
    }
    let _rm = Rm(&e, &home, slug.clone());
    let sh = |script: &str| {
        let out = e.bottle(
            &home,
            None,
            &[
                "exec",
                &slug,
                "--",
                "sh",
                "-c",
                &format!("cd /workspace && {{ {script} ; }} 2>&1"),
            ],
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    // The agent's origin (the sanitized URL) goes to the gate.
    let (code, out) = sh(
        "git checkout -q -b bottle/feature && echo work > work.txt && git add work.txt \
         && git commit -qm 'agent work' && git push -q origin bottle/feature",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bottle fetch"), "{out}");

    // Nothing reaches the host until the operator fetches.
    assert!(host_git(&ws, &["for-each-ref", "refs/remotes/bottle"]).is_empty());
    let out = e.bottle(&home, Some(&ws), &["fetch", &slug]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let landed = format!("refs/remotes/bottle/{slug}/bottle/feature");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&landed),
        "{out:?}"
    );
    assert_eq!(
        host_git(&ws, &["log", "-1", "--format=%s", &landed]),
        "agent work"
    );
    assert_eq!(
        host_git(&ws, &["log", "--format=%s", &format!("main..{landed}")]),
        "agent work",
        "reviewable with plain git"
    );
    // Nothing checked out, main untouched.
    assert_eq!(host_git(&ws, &["rev-parse", "main"]), main_before);
    assert!(!ws.join("work.txt").exists());
    assert_eq!(host_git(&ws, &["status", "--porcelain"]), "");

    // A push with a secret is refused at the gate and never lands.
    let (code, out) = sh(&format!(
        "git checkout -q -b bottle/leak && echo 'k={AWS}' > leak.txt && git add leak.txt \
         && git commit -qm leak && git push origin bottle/leak"
    ));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("leak.txt:1: aws-access-key"), "{out}");
    let _ = e.bottle(&home, Some(&ws), &["fetch", &slug]);
    assert!(host_git(
        &ws,
        &[
            "for-each-ref",
            &format!("refs/remotes/bottle/{slug}/bottle/leak")
        ]
    )
    .is_empty());

    // A hostile pack: a commit object with a malformed header, written
    // with git's own plumbing, refused by the gate's object check.
    let (code, out) = sh(
        "t=$(git write-tree) && bad=$(printf 'tree %s\\nauthor no email here\\ncommitter x <x> 0 +0000\\n\\nbad\\n' $t \
         | git hash-object -t commit --literally -w --stdin) && git update-ref refs/heads/bottle/hostile $bad \
         && git push origin bottle/hostile",
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.to_lowercase().contains("fsck")
            || out.contains("missingEmail")
            || out.contains("badEmail"),
        "{out}"
    );
    let _ = e.bottle(&home, Some(&ws), &["fetch", &slug]);
    assert!(host_git(
        &ws,
        &[
            "for-each-ref",
            &format!("refs/remotes/bottle/{slug}/bottle/hostile")
        ]
    )
    .is_empty());

    // Stop and resume: the gate keeps its repository (a volume) and its
    // place as the agent's origin.
    let out = e.bottle(&home, Some(&ws), &["stop", &slug]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = e.bottle(&home, Some(&ws), &["resume", &slug, "--detach", "-y"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("no changes since the last launch"), "{said}");
    let (code, out) = sh("git ls-remote origin");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("refs/heads/bottle/feature"), "{out}");

    // The workspace follows the gate: a push is fetched by itself and
    // shows on the sidebar.
    let (h, hh) = (home.display().to_string(), dir.path().display().to_string());
    let app = crate::support::Pty::open(30, 140).spawn(
        &[],
        &[("BOTTLE_HOME", h.as_str()), ("HOME", hh.as_str())],
        &ws,
    );
    app.wait_for("the bottle in the sidebar", |s| s.contains(&slug));
    // Its gate's log is followed from the list on: give it a moment by
    // waiting for a second list (the status line is drawn).
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (code, out) = sh(
        "git checkout -q bottle/feature && echo more >> work.txt && git commit -qam 'more work' \
         && git push -q origin bottle/feature",
    );
    assert_eq!(code, 0, "{out}");
    app.wait_for("the push fetched and shown", |s| {
        s.contains(&format!("{slug} ↑1")) && s.contains(&format!("bottle/{slug}/bottle/feature"))
    });
    assert_eq!(
        host_git(&ws, &["log", "-1", "--format=%s", &landed]),
        "more work"
    );
}
