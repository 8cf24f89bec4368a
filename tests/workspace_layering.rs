//! The workspace's rooms keep their doors: `app` is a pure model (no
//! `ui`, `workspace`, `tty`, threads, runtime or engine), `ui` only draws
//! (no `workspace`, no engine), `crash` and `tty` stay leaves the panic
//! hook can use, and the engine is called only from `workspace/effects.rs`
//! and `workspace/jobs.rs`. Read from the sources (comments skipped), like
//! rust-analyzer's tidy test.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The code lines of a file, before its unit tests.
fn code(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).expect("read");
    text.lines()
        .enumerate()
        .take_while(|(_, l)| !l.starts_with("#[cfg(test)]"))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

fn violations(paths: &[PathBuf], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in paths {
        for (n, line) in code(path) {
            for f in forbidden {
                if line.contains(f) {
                    found.push(format!(
                        "{}:{n}: uses `{f}`: {}",
                        path.display(),
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn app_is_a_pure_model() {
    let found = violations(
        &sources(&root().join("app")),
        &[
            "crate::ui",
            "crate::workspace",
            "crate::tty",
            "crate::launcher",
            "backends::docker",
            "bollard",
            "tokio",
            "std::thread",
            "std::fs",
            "ratatui",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn ui_only_draws() {
    let found = violations(
        &sources(&root().join("ui")),
        &[
            "crate::workspace",
            "crate::tty",
            "crate::launcher",
            "backends::docker",
            "bollard",
            "tokio",
            "std::thread",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn crash_and_tty_are_leaves() {
    let found = violations(
        &[root().join("crash.rs"), root().join("tty.rs")],
        &["crate::ui", "crate::app", "crate::workspace", "ratatui"],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
    let found = violations(&[root().join("tty.rs")], &["crate::"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_workspace_calls_the_engine_only_from_effects_and_jobs() {
    let others: Vec<PathBuf> = sources(&root().join("workspace"))
        .into_iter()
        .filter(|p| !p.ends_with("workspace/effects.rs") && !p.ends_with("workspace/jobs.rs"))
        .collect();
    let found = violations(&others, &["crate::backends", "bollard", "crate::launcher"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
