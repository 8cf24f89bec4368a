//! `bottle start --dry-run` against the real engine: the preflight is
//! printed from real engine facts, nothing is created, and the workspace
//! refusals hold.

use std::path::Path;
use std::process::{Command, Output};

fn bottle(home: &Path, ws: &Path, args: &[&str]) -> Output {
    crate::support::run_bottle(home, Some(ws), args)
}

#[test]
fn dry_run_prints_the_preflight_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("bottle-home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    std::fs::write(ws.join("README"), "hello\n").expect("write");
    let out = bottle(&home, &ws, &["start", "shell", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "agent      shell",
        "slug shell-",
        "bottle/agent-shell:",
        "runtime    run",
        "egress     none",
        "→ /workspace: 1 files",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let slug = text
        .split("slug ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("slug in preflight");
    let listed = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter"])
        .arg(format!("label=dev.bottle.slug={slug}"))
        .output()
        .expect("docker ps");
    assert!(listed.stdout.is_empty(), "a dry run created containers");

    let no_ws = bottle(
        &home,
        &ws,
        &["start", "shell", "--dry-run", "--no-workspace"],
    );
    assert!(String::from_utf8_lossy(&no_ws.stdout).contains("workspace  not copied"));
}

#[test]
fn the_home_directory_and_bottle_home_are_refused_as_workspaces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("bottle-home");
    std::fs::create_dir_all(&home).expect("mkdir");
    // HOME is the tempdir itself, which also contains $BOTTLE_HOME.
    let out = bottle(&home, dir.path(), &["start", "shell", "--dry-run"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to copy") && err.contains("--force"),
        "{err}"
    );
    let inside = bottle(&home, &home, &["start", "shell", "--dry-run"]);
    assert!(String::from_utf8_lossy(&inside.stderr).contains("inside $BOTTLE_HOME"));
}

#[test]
fn doctor_reports_a_ready_engine_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("bottle-home");
    let out = bottle(&home, dir.path(), &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "ok   engine",
        "ok   isolation",
        "runtime",
        "image      debian:bookworm-slim",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let left = Command::new("docker")
        .args([
            "network",
            "ls",
            "-q",
            "--filter",
            "label=dev.bottle.role=doctor",
        ])
        .output()
        .expect("docker network ls");
    assert!(
        left.stdout.is_empty(),
        "doctor left its probe network behind"
    );
}

#[test]
fn build_makes_the_agent_and_sidecar_images_with_this_executable_inside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("bottle-home");
    let out = bottle(&home, dir.path(), &["build"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tag = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("built ").filter(|t| t.starts_with(prefix)))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
    };
    let (agent, sidecar) = (tag("bottle/agent-shell:"), tag("bottle/sidecar:"));
    for image in [&agent, &sidecar] {
        let label = Command::new("docker")
            .args([
                "image",
                "inspect",
                "--format",
                "{{index .Config.Labels \"dev.bottle.role\"}}",
                image,
            ])
            .output()
            .expect("inspect");
        assert_eq!(
            String::from_utf8_lossy(&label.stdout).trim(),
            "image",
            "{image} is labelled"
        );
    }
    let run = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/usr/local/bin/bottle",
            &sidecar,
            "--version",
        ])
        .output()
        .expect("docker run");
    assert!(
        String::from_utf8_lossy(&run.stdout).starts_with("bottle "),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
