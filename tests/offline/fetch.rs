//! `bottle fetch <slug>` on the fake engine (`fake:///dir`): its sidecar
//! exec runs the gate side on this host with `/gitgate` moved under the
//! engine's directory, so a bare repository there stands in for the git
//! gate's workspace repository. The real binary, the host's real git.
//! What the agent pushed lands as `refs/remotes/bottle/<slug>/<branch>`
//! and moves on a new push; a hostile pack (a malformed commit, a tree
//! entry a checkout would misplace, a hostile .gitmodules) is refused
//! whole and leaves nothing behind; the gate repository's config and
//! hooks never reach or run on the host; a workspace that is not a
//! repository gets a clear error.

use bottle::backends::fake::{FakeBackend, FakeBottle, SCHEME};
use bottle::state::names::Slug;
use bottle::state::record::BottleRecord;
use bottle::state::Home;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const SLUG: &str = "dev-abc234";

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    engine: String,
    ws: PathBuf,
    /// The gate's workspace repository (bare).
    gate: PathBuf,
    /// The agent's clone, pushing to the gate.
    agent: PathBuf,
}

/// git with no configuration of this machine's user or system, and a
/// fixed identity.
fn git_cmd(root: &Path) -> Command {
    let mut c = Command::new("git");
    c.env("HOME", root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Agent")
        .env("GIT_AUTHOR_EMAIL", "agent@bottle.test")
        .env("GIT_COMMITTER_NAME", "Agent")
        .env("GIT_COMMITTER_EMAIL", "agent@bottle.test")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    c
}

fn git_with(root: &Path, dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child = git_cmd(root)
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run git");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    let out = child.wait_with_output().expect("git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().to_path_buf();
        let home = root.join("home");
        let engine = format!("{SCHEME}{}", root.join("engine").display());
        let ws = root.join("my project");
        let slug = Slug::parse(SLUG).expect("slug");
        let fake = FakeBackend::new(&engine);
        fake.set_bottles(&[FakeBottle {
            slug: SLUG.into(),
            agent: "dev".into(),
            home: Home { root: home.clone() }.label_hash(),
            status: "running".into(),
            command: vec!["/bin/true".into()],
        }])
        .expect("fake engine");
        let state = home.join("state").join(SLUG);
        std::fs::create_dir_all(&state).expect("state dir");
        BottleRecord {
            slug: SLUG.into(),
            agent: "dev".into(),
            engine_host: engine.clone(),
            workspace: Some(ws.display().to_string()),
            ..Default::default()
        }
        .save(&state)
        .expect("record");
        let gate = fake.gate_root(&slug).join("workspace.git");
        std::fs::create_dir_all(&gate).expect("gate dir");
        let s = Setup {
            _dir: dir,
            root: root.clone(),
            home,
            engine,
            ws: ws.clone(),
            gate: gate.clone(),
            agent: root.join("agent"),
        };
        std::fs::create_dir_all(&ws).expect("ws");
        s.git(&ws, &["init", "-q", "-b", "main"]);
        std::fs::write(ws.join("README"), "the operator's\n").expect("write");
        s.git(&ws, &["add", "README"]);
        s.git(&ws, &["commit", "-q", "-m", "base"]);
        s.git(&gate, &["init", "-q", "--bare"]);
        s.git(
            &root,
            &["clone", "-q", ws.to_str().expect("utf-8"), "agent"],
        );
        s
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        git_with(&self.root, dir, args, b"")
    }

    /// The agent commits a file and pushes its HEAD to `branch` at the gate.
    fn agent_pushes(&self, file: &str, branch: &str) -> String {
        std::fs::write(self.agent.join(file), format!("{file}\n")).expect("write");
        self.git(&self.agent, &["add", file]);
        self.git(&self.agent, &["commit", "-q", "-m", file]);
        let gate = self.gate.to_str().expect("utf-8");
        self.git(
            &self.agent,
            &["push", "-q", gate, &format!("HEAD:refs/heads/{branch}")],
        );
        self.git(&self.agent, &["rev-parse", "HEAD"])
    }

    fn fetch(&self) -> Output {
        Command::new(crate::support::bottle_bin())
            .current_dir(&self.root)
            .args(["fetch", SLUG])
            .env("BOTTLE_HOME", &self.home)
            .env("HOME", &self.root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("DOCKER_HOST", &self.engine)
            .env_remove("BOTTLE_LOG")
            .output()
            .expect("run bottle")
    }

    /// `refname -> commit` of the workspace's refs under refs/remotes/bottle.
    fn landed(&self) -> Vec<(String, String)> {
        let out = self.git(
            &self.ws,
            &[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/remotes/bottle/",
            ],
        );
        out.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(r, c)| (r.to_string(), c.to_string()))
            .collect()
    }

    fn has_object(&self, id: &str) -> bool {
        git_cmd(&self.root)
            .arg("-C")
            .arg(&self.ws)
            .args(["cat-file", "-e", id])
            .status()
            .expect("git")
            .success()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_push_lands_as_a_remote_ref_and_a_new_push_moves_it() {
    let s = Setup::new();
    let head_before = s.git(&s.ws, &["rev-parse", "HEAD"]);
    let one = s.agent_pushes("one.txt", "bottle/fix");
    let out = s.fetch();
    assert!(out.status.success(), "fetch: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let want = format!("refs/remotes/bottle/{SLUG}/bottle/fix");
    assert!(
        stdout.contains("new") && stdout.contains(&want) && stdout.contains(&one),
        "{stdout}"
    );
    assert_eq!(s.landed(), vec![(want.clone(), one.clone())]);
    // Nothing checked out, nothing else touched.
    assert_eq!(s.git(&s.ws, &["rev-parse", "HEAD"]), head_before);
    assert_eq!(s.git(&s.ws, &["status", "--porcelain"]), "");
    assert!(!s.ws.join("one.txt").exists());
    assert!(!s.ws.join(".git/FETCH_HEAD").exists());

    // A second push moves the ref; the library call the workspace makes
    // says so.
    let two = s.agent_pushes("two.txt", "bottle/fix");
    let home = Home {
        root: s.home.clone(),
    };
    let slug = Slug::parse(SLUG).expect("slug");
    let landed =
        bottle::control::fetch::fetch_pushes_via(&home, &slug, &crate::support::bottle_bin())
            .expect("fetch_pushes");
    assert_eq!(
        landed,
        vec![bottle::control::fetch::Landed {
            branch: "bottle/fix".into(),
            refname: want.clone(),
            old: Some(one.clone()),
            new: two.clone(),
        }]
    );
    assert_eq!(s.landed(), vec![(want.clone(), two.clone())]);

    // Nothing new: nothing printed on stdout.
    let out = s.fetch();
    assert!(out.status.success(), "fetch: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).contains("nothing new"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn two_fetches_at_once_each_ref_lands_once() {
    let s = Setup::new();
    for b in ["bottle/a", "bottle/b", "bottle/c"] {
        s.agent_pushes(&format!("{}.txt", b.replace('/', "-")), b);
    }
    let outs: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2).map(|_| scope.spawn(|| s.fetch())).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut news = Vec::new();
    for out in &outs {
        assert!(out.status.success(), "fetch: {}", text(&out.stderr));
        news.extend(text(&out.stdout).lines().map(str::to_string));
    }
    // Under the bottle's fetch lock, one fetch lands them and the other
    // finds nothing new: each ref is reported once.
    news.sort();
    assert_eq!(news.len(), 3, "{news:?}");
    assert_eq!(s.landed().len(), 3);
}

/// Writes `bytes` as a loose object of `kind` in the gate (no checks).
fn literally(s: &Setup, kind: &str, bytes: &[u8]) -> String {
    git_with(
        &s.root,
        &s.gate,
        &["hash-object", "--literally", "-t", kind, "-w", "--stdin"],
        bytes,
    )
}

/// A raw tree with one entry.
fn tree_entry(mode: &str, name: &str, id: &str) -> Vec<u8> {
    let mut t = format!("{mode} {name}\0").into_bytes();
    t.extend(hex::decode(id).expect("hex"));
    t
}

#[test]
fn a_hostile_pack_is_refused_whole_and_nothing_lands() {
    // (what it is, the fsck message git names, how to make it)
    type Make = fn(&Setup, &str) -> String;
    let cases: Vec<(&str, &str, Make)> = vec![
        (
            "a commit with a bad author line",
            "missingEmail",
            |s, tree| {
                literally(
                s,
                "commit",
                format!("tree {tree}\nauthor Agent 1700000000 +0000\ncommitter Agent <a@b> 1700000000 +0000\n\nbad\n")
                    .as_bytes(),
            )
            },
        ),
        (
            "a NUL hidden in a commit message",
            "nulInCommit",
            |s, tree| {
                literally(
                s,
                "commit",
                format!("tree {tree}\nauthor A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\nshown\0hidden\n")
                    .as_bytes(),
            )
            },
        ),
        ("a tree entry named .git", "hasDotgit", |s, _| {
            hostile_tree(s, "100644", ".git")
        }),
        ("a tree entry named .GIT", "hasDotgit", |s, _| {
            hostile_tree(s, "100644", ".GIT")
        }),
        ("a tree entry named ..", "hasDotdot", |s, _| {
            hostile_tree(s, "100644", "..")
        }),
        ("a tree entry with a slash", "fullPathname", |s, _| {
            hostile_tree(s, "100644", "etc/passwd")
        }),
        ("a tree entry with a bad mode", "badFilemode", |s, _| {
            hostile_tree(s, "100777", "run-me")
        }),
        (
            "a .gitmodules whose url is an option",
            "gitmodulesUrl",
            |s, _| {
                let blob = literally(
                    s,
                    "blob",
                    b"[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch${IFS}/tmp/pwned\n",
                );
                let tree = literally(s, "tree", &tree_entry("100644", ".gitmodules", &blob));
                commit_of(s, &tree)
            },
        ),
    ];
    for (what, message, make) in cases {
        let s = Setup::new();
        let good = s.agent_pushes("fine.txt", "bottle/ok");
        let base_tree = s.git(&s.gate, &["rev-parse", &format!("{good}^{{tree}}")]);
        let bad = make(&s, &base_tree);
        s.git(&s.gate, &["update-ref", "refs/heads/bottle/evil", &bad]);
        let out = s.fetch();
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{what}: the fetch passed: {err}");
        assert!(
            err.contains(message),
            "{what}: git's reason is missing: {err}"
        );
        assert!(
            err.contains("nothing landed"),
            "{what}: the error says what happened: {err}"
        );
        // Refused whole: not the hostile branch, not the good one, and
        // not the hostile object.
        assert_eq!(s.landed(), vec![], "{what}");
        assert!(!s.has_object(&bad), "{what}: {bad} was kept");
    }
}

/// A commit (with a good header) of a tree with one hostile entry.
fn hostile_tree(s: &Setup, mode: &str, name: &str) -> String {
    let blob = literally(s, "blob", b"payload\n");
    let tree = literally(s, "tree", &tree_entry(mode, name, &blob));
    commit_of(s, &tree)
}

fn commit_of(s: &Setup, tree: &str) -> String {
    literally(
        s,
        "commit",
        format!("tree {tree}\nauthor A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\nhostile\n").as_bytes(),
    )
}

#[test]
fn the_gate_repositorys_config_and_hooks_never_run_on_the_host() {
    let s = Setup::new();
    // What the agent pushes asks for the gate's filter and diff driver.
    std::fs::write(s.agent.join(".gitattributes"), "* filter=evil diff=evil\n")
        .expect("attributes");
    let pushed = s.agent_pushes(".gitattributes", "bottle/attrs");
    // Then the gate repository turns hostile (the push itself is the
    // gate's business, not the host's).
    let marker = s.root.join("PWNED");
    let script = s.root.join("evil.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$0 $*\" >> '{}'\nexit 0\n",
            marker.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let evil = script.to_str().expect("utf-8");
    // Every hook, in the gate's hooks/ and in a hooksPath it names.
    let hooks = s.root.join("evil-hooks");
    std::fs::create_dir_all(&hooks).expect("hooks");
    for dir in [s.gate.join("hooks"), hooks.clone()] {
        std::fs::create_dir_all(&dir).expect("hooks dir");
        for hook in [
            "post-checkout",
            "post-merge",
            "post-rewrite",
            "reference-transaction",
            "pre-auto-gc",
            "post-index-change",
            "fsmonitor-watchman",
            "push-to-checkout",
            "pre-push",
        ] {
            std::fs::copy(&script, dir.join(hook)).expect("hook");
        }
    }
    for (key, value) in [
        ("core.fsmonitor", evil),
        ("core.hooksPath", hooks.to_str().expect("utf-8")),
        ("core.sshCommand", evil),
        ("core.pager", evil),
        ("uploadpack.packObjectsHook", evil),
        ("filter.evil.smudge", evil),
        ("filter.evil.process", evil),
        ("diff.evil.textconv", evil),
        ("credential.helper", evil),
    ] {
        s.git(&s.gate, &["config", key, value]);
    }
    let config_before = std::fs::read(s.ws.join(".git/config")).expect("config");
    let hooks_before = listing(&s.ws.join(".git/hooks"));

    let out = s.fetch();
    assert!(out.status.success(), "fetch: {}", text(&out.stderr));
    assert_eq!(
        s.landed(),
        vec![(format!("refs/remotes/bottle/{SLUG}/bottle/attrs"), pushed)]
    );
    // The host repository took objects and one ref, nothing else.
    assert_eq!(
        std::fs::read(s.ws.join(".git/config")).expect("config"),
        config_before
    );
    assert_eq!(listing(&s.ws.join(".git/hooks")), hooks_before);
    // The operator's everyday commands on it run nothing of the gate's.
    s.git(&s.ws, &["status"]);
    s.git(&s.ws, &["log", "--all", "-p"]);
    assert!(
        !marker.exists(),
        "something of the gate's ran on the host: {}",
        std::fs::read_to_string(&marker).unwrap_or_default()
    );
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_workspace_that_is_not_a_repository_gets_a_clear_error() {
    let s = Setup::new();
    s.agent_pushes("one.txt", "bottle/fix");
    // Not a repository at all.
    std::fs::remove_dir_all(s.ws.join(".git")).expect("rm .git");
    let out = s.fetch();
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("is not a git repository") && err.contains(&s.ws.display().to_string()),
        "{err}"
    );
    // A directory inside another repository is not its own either.
    s.git(&s.root, &["init", "-q"]);
    let out = s.fetch();
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is not a git repository"), "{err}");
    assert!(!s.root.join(".git/refs/remotes/bottle").exists());
    // A bottle started without a workspace has nowhere to fetch into.
    let state = s.home.join("state").join(SLUG);
    let mut record = BottleRecord::load(&state).expect("record");
    record.workspace = None;
    record.save(&state).expect("save");
    let out = s.fetch();
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("has no host workspace"), "{err}");
}
