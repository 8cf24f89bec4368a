//! SPEC §4.2 and §3.1 attacked from a real bottle.
//!
//! A `token_ref` secret (a canary value in the operator's environment) is
//! in no container's configuration (`inspect`), no process environment or
//! file inside the agent, no log, no file under `$BOTTLE_HOME`, and on no
//! host command line while the bottle launches.
//!
//! `?` and `${}` values (canaries from `BOTTLE_ANSWER_<NAME>`, a
//! `NAME=value` line on stdin and the host environment) are in the agent
//! session's environment, and nowhere else: not in `inspect`, metadata,
//! logs, `$BOTTLE_HOME` or host command lines; `resume` asks again.

use crate::support::Engine;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn token_ref_canary_never_reaches_the_agent() {
    canary_stays_out(&Engine::default_docker());
}

#[test]
fn under_podman_token_ref_canary_never_reaches_the_agent() {
    if let Some(e) = crate::support::engine("podman") {
        canary_stays_out(&e);
    }
}

/// Every host process's command line, joined.
fn host_argv() -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            all.push_str(&String::from_utf8_lossy(&bytes).replace('\0', " "));
            all.push('\n');
        }
    }
    all
}

/// Files under `dir` whose contents mention `needle`.
fn files_mentioning(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            found.extend(files_mentioning(&path, needle));
        } else if meta.is_file()
            && std::fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
        {
            found.push(path.display().to_string());
        }
    }
    found
}

fn canary_stays_out(e: &Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    for d in [home.join("bottles"), home.join("agents"), ws.clone()] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(
        home.join("bottles/gh.md"),
        "---\nagent_provider: { template: shell }\negress:\n  routes:\n    - host: api.github.test\n      auth: { scheme: Bearer, token_ref: BOTTLE_CANARY_PAT }\n---\n",
    )
    .expect("write");
    std::fs::write(
        home.join("agents/gh.md"),
        "---\nbottle: gh\ncopy_workspace: true\n---\n",
    )
    .expect("write");
    std::fs::write(ws.join("main.rs"), "fn main() {}\n").expect("write");
    let canary = format!("canarypat{}", ulid::Ulid::new().to_string().to_lowercase());

    // Watch every host command line while the bottle launches.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, canary) = (done.clone(), canary.clone());
        std::thread::spawn(move || {
            let mut seen = None;
            while !done.load(Ordering::Relaxed) {
                let argv = host_argv();
                if let Some(line) = argv.lines().find(|l| l.contains(&canary)) {
                    seen = Some(line.to_string());
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            seen
        })
    };
    let out = e
        .bottle_cmd(&home, Some(&ws), &["start", "gh", "--detach", "-y"])
        .env("BOTTLE_CANARY_PAT", &canary)
        .output()
        .expect("start");
    let slug = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && slug.starts_with("gh-"),
        "start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The running bottle's host processes too, for a moment; then the
    // watch ends (the scan below puts the canary on its own command line).
    std::thread::sleep(std::time::Duration::from_millis(500));
    done.store(true, Ordering::Relaxed);
    let argv_hit = watcher.join().expect("watcher");
    let checks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(argv_hit, None, "a host command line carried the secret");
        let (_, inside) = run_inside(e, &home, &ws, &slug, &canary);
        assert!(
            inside.contains("SCAN-DONE")
                && inside.contains("env-count 0")
                && !inside.contains("HIT"),
            "inside the agent: {inside}"
        );
        for role in ["agent", "sidecar"] {
            let inspect = e.cli(&["inspect", &format!("bottle-{slug}-{role}")]);
            assert!(inspect.contains(&slug), "inspect works: {inspect}");
            assert!(
                !inspect.contains(&canary),
                "{role} configuration has the secret"
            );
        }
        for args in [&["logs", &slug][..], &["logs", &slug, "--sidecar"]] {
            let logs = e.bottle(&home, Some(&ws), args);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
            assert!(!text.contains(&canary), "bottle {args:?}: {text}");
        }
        let leaked = files_mentioning(&home, &canary);
        assert!(leaked.is_empty(), "files under $BOTTLE_HOME: {leaked:?}");
    }));
    let rm = e.bottle(&home, Some(&ws), &["rm", &slug]);
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    if let Err(p) = checks {
        std::panic::resume_unwind(p);
    }
}

/// Scans the agent's process environments and files for the canary.
fn run_inside(e: &Engine, home: &Path, ws: &Path, slug: &str, canary: &str) -> (i32, String) {
    let script = format!(
        "for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f 2>/dev/null | grep -q -- '{canary}' && echo HIT $f; done; \
         grep -rsl -- '{canary}' /workspace /home /etc /tmp /var /run /usr/local /opt 2>/dev/null | sed 's/^/HIT /'; \
         env | grep -c -- '{canary}' | sed 's/^/env-count /'; echo SCAN-DONE"
    );
    let out = e.bottle(home, Some(ws), &["exec", slug, "--", "bash", "-c", &script]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The script's own command line holds the canary (as a search term):
    // report hits only, never echo it.
    (
        out.status.code().unwrap_or(-1),
        text.replace(canary, "<canary>"),
    )
}

#[test]
fn prompted_and_host_values_live_only_in_the_session() {
    session_values(&Engine::default_docker());
}

#[test]
fn under_podman_prompted_and_host_values_live_only_in_the_session() {
    if let Some(e) = crate::support::engine("podman") {
        session_values(&e);
    }
}

struct ArgvWatch {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Option<String>>,
}

impl ArgvWatch {
    fn start(needles: Vec<String>) -> ArgvWatch {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = None;
            while !flag.load(Ordering::Relaxed) {
                let argv = host_argv();
                if let Some(line) = argv
                    .lines()
                    .find(|l| needles.iter().any(|n| l.contains(n.as_str())))
                {
                    seen = Some(line.to_string());
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            seen
        });
        ArgvWatch { done, thread }
    }

    fn stop(self) -> Option<String> {
        self.done.store(true, Ordering::Relaxed);
        self.thread.join().expect("watcher")
    }
}

fn start_with(
    e: &Engine,
    home: &Path,
    ws: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut cmd = e.bottle_cmd(home, Some(ws), args);
    cmd.envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn bottle");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("stdin");
    drop(input);
    child.wait_with_output().expect("bottle")
}

/// How many of the agent's processes hold `needle` in their environment.
fn session_count(e: &Engine, home: &Path, ws: &Path, slug: &str, needle: &str) -> String {
    let script = format!(
        "n=0; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f 2>/dev/null | grep -q -- '{needle}' && n=$((n+1)); done; echo count=$n"
    );
    let out = e.bottle(home, Some(ws), &["exec", slug, "--", "bash", "-c", &script]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn session_values(e: &Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    for d in [home.join("bottles"), home.join("agents"), ws.clone()] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(
        home.join("bottles/vals.md"),
        "---\nagent_provider: { template: shell }\nenv:\n  PLAIN: \"literal\"\n  ASKED: \"?Staging password\"\n  FROMSTDIN: \"?Second answer\"\n  HOSTV: \"${BOTTLE_CANARY_HOSTV}\"\n---\n",
    )
    .expect("write");
    std::fs::write(home.join("agents/vals.md"), "---\nbottle: vals\n---\n").expect("write");
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let (asked, stdin_v, hostv) = (
        format!("canaryask{id}"),
        format!("canarystdin{id}"),
        format!("canaryhost{id}"),
    );
    let canaries = [asked.clone(), stdin_v.clone(), hostv.clone()];

    // Without an answer the launch fails, naming the variable.
    let refused = start_with(
        e,
        &home,
        &ws,
        &["start", "vals", "--detach", "-y", "--no-workspace"],
        &[("BOTTLE_CANARY_HOSTV", &hostv)],
        "",
    );
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("ASKED") && err.contains("BOTTLE_ANSWER_ASKED"),
        "{err}"
    );

    let watch = ArgvWatch::start(canaries.to_vec());
    let out = start_with(
        e,
        &home,
        &ws,
        &["start", "vals", "--detach", "-y", "--no-workspace"],
        &[
            ("BOTTLE_CANARY_HOSTV", &hostv),
            ("BOTTLE_ANSWER_ASKED", &asked),
        ],
        &format!("FROMSTDIN={stdin_v}\n"),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let argv_hit = watch.stop();
    let slug = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && slug.starts_with("vals-"),
        "start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_eq!(
            argv_hit, None,
            "a host command line carried a session value"
        );
        for c in &canaries {
            let count = session_count(e, &home, &ws, &slug, c);
            assert!(
                count != "count=0" && count.starts_with("count="),
                "the session's environment lacks a value: {count}"
            );
        }
        for role in ["agent", "sidecar"] {
            let inspect = e.cli(&["inspect", &format!("bottle-{slug}-{role}")]);
            assert!(inspect.contains(&slug), "inspect works");
            assert!(inspect.contains("PLAIN=literal") || role == "sidecar");
            for c in &canaries {
                assert!(
                    !inspect.contains(c.as_str()),
                    "{role} configuration has {c}"
                );
            }
        }
        for args in [&["logs", &slug][..], &["logs", &slug, "--sidecar"]] {
            let logs = e.bottle(&home, Some(&ws), args);
            let text = String::from_utf8_lossy(&logs.stdout).into_owned()
                + &String::from_utf8_lossy(&logs.stderr);
            for c in &canaries {
                assert!(!text.contains(c.as_str()), "bottle {args:?} shows {c}");
            }
        }
        for c in &canaries {
            let leaked = files_mentioning(&home, c);
            assert!(leaked.is_empty(), "files under $BOTTLE_HOME: {leaked:?}");
        }

        // resume asks again: nothing was kept.
        assert!(e
            .bottle(&home, Some(&ws), &["stop", &slug])
            .status
            .success());
        let again = start_with(
            e,
            &home,
            &ws,
            &["resume", &slug, "--detach", "-y"],
            &[("BOTTLE_CANARY_HOSTV", &hostv)],
            "",
        );
        let err = String::from_utf8_lossy(&again.stderr);
        assert!(!again.status.success() && err.contains("ASKED"), "{err}");
        let fresh = format!("canaryfresh{id}");
        let again = start_with(
            e,
            &home,
            &ws,
            &["resume", &slug, "--detach", "-y"],
            &[
                ("BOTTLE_CANARY_HOSTV", &hostv),
                ("BOTTLE_ANSWER_ASKED", &fresh),
                ("BOTTLE_ANSWER_FROMSTDIN", &stdin_v),
            ],
            "",
        );
        assert!(
            again.status.success(),
            "{}",
            String::from_utf8_lossy(&again.stderr)
        );
        assert_ne!(session_count(e, &home, &ws, &slug, &fresh), "count=0");
        assert_eq!(session_count(e, &home, &ws, &slug, &asked), "count=0");
        assert!(files_mentioning(&home, &fresh).is_empty());
    }));
    let rm = e.bottle(&home, Some(&ws), &["rm", &slug]);
    assert!(
        rm.status.success(),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    if let Err(p) = checks {
        std::panic::resume_unwind(p);
    }
}
