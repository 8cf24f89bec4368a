//! Attacks on the workspace copy and export (issue 18 A, SPEC §4.11): the
//! agent leaves a tree that runs code on the operator's machine when it is
//! exported and merely opened (nested repositories, `.git` files and
//! `.GIT` directories, tool configuration), names that break the patch or
//! reach the terminal, huge sparse files, links and special files; and the
//! copy into the bottle must carry no credential from nested git configs
//! nor secret-looking files unless the operator asks.
//!
//! One bottle of its own (runc), one agent script writing every attack,
//! and the four host commands run once (`diff`, `export --patch`, `export
//! --to`, `export --to --include-flagged`); each trial checks one attack's
//! specific refusal in their results. See main.rs for the naming rule.

use crate::fixture::{self, both, ensure, Bottle, Outcome, Registry};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

pub fn register(reg: &mut Registry) {
    // Item 1: code run on the host by what an export writes.
    reg.host(
        "export",
        "nested_git_fsmonitor_runs_nothing_on_host",
        nested_fsmonitor,
    );
    reg.host("export", "git_file_pointing_elsewhere_held_back", git_file);
    reg.host("export", "uppercase_git_dir_held_back", uppercase_git);
    reg.host(
        "export",
        "top_level_git_config_hooks_and_modules_held_back",
        top_git,
    );
    reg.host(
        "export",
        "tool_configs_that_run_code_held_back_and_named",
        tool_configs,
    );
    reg.host("export", "diff_names_nested_repos_and_configs", diff_names);
    reg.host(
        "export",
        "patch_leaves_flagged_out_and_applies",
        patch_applies,
    );
    // Item 3: names and sizes.
    reg.host("export", "osc52_filename_reaches_no_terminal", osc52_name);
    reg.host(
        "export",
        "newline_filename_keeps_the_patch_applicable",
        newline_name,
    );
    reg.host(
        "export",
        "sparse_huge_file_held_back_not_inflated",
        sparse_file,
    );
    // Blocked in the pass: kept blocked.
    reg.host("export", "symlink_and_fifo_never_exported", links_and_fifos);
    reg.host("export", "hardlink_never_exported_as_link", hardlinks);
    reg.host("export", "setuid_bit_dropped_on_export", setuid);
    reg.host(
        "export",
        "unreadable_directory_does_not_break_export",
        unreadable,
    );
    // Item 2: the copy into the bottle.
    reg.host(
        "export",
        "nested_git_config_credentials_never_reach_bottle",
        nested_config_copy,
    );
    reg.host(
        "export",
        "secret_looking_files_left_out_of_copy",
        secret_files_copy,
    );
    reg.host(
        "export",
        "preflight_names_secret_looking_files",
        preflight_names,
    );
}

const CANARIES: [&str; 7] = [
    "CANARYTOPUSERINFO",
    "CANARYNESTEDUSERINFO",
    "CANARYNESTEDHEADER",
    "CANARYNESTEDHELPER",
    "CANARYNESTEDSSH",
    "CANARYINSTEADOF",
    "CANARYMODULE",
];

/// Everything the trials look at, made once.
struct Work {
    b: Bottle,
    /// `export --to` (flagged held back) and `--include-flagged`.
    out: PathBuf,
    out_all: PathBuf,
    /// The marker a nested repository's fsmonitor would create on the host.
    marker: PathBuf,
    diff: Output,
    patch: Output,
    export: Output,
    export_all: Output,
    dry_run: Output,
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// The host workspace: a repository whose top-level, module and nested
/// configs carry credential canaries, and files that look like secrets.
fn host_workspace(ws: &Path) {
    write(&ws.join("README.md"), "escape suite: export\n");
    write(&ws.join("src/main.rs"), "fn main() {}\n");
    write(
        &ws.join(".git/config"),
        "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://op:CANARYTOPUSERINFO@host.test/r.git\n",
    );
    write(&ws.join(".git/HEAD"), "ref: refs/heads/main\n");
    write(
        &ws.join(".git/modules/m/config"),
        "[remote \"origin\"]\n\turl = https://op:CANARYMODULE@host.test/m.git\n",
    );
    write(
        &ws.join("vendor/lib/.git/config"),
        "[remote \"origin\"]\n\turl = https://op:CANARYNESTEDUSERINFO@host.test/lib.git\n\
         [http]\n\textraheader = Authorization: Bearer CANARYNESTEDHEADER\n\
         [credential]\n\thelper = !echo password=CANARYNESTEDHELPER\n\
         [core]\n\tsshCommand = ssh -i /home/op/CANARYNESTEDSSH\n\
         [url \"https://op:CANARYINSTEADOF@host.test/\"]\n\tinsteadOf = https://host.test/\n",
    );
    write(&ws.join("vendor/lib/.git/HEAD"), "ref: refs/heads/main\n");
    write(&ws.join(".env"), "AWS_ACCESS_KEY_ID=AKIAQWERTYUIOPASDFGH\n");
    write(
        &ws.join("web/.npmrc"),
        "//registry.npmjs.org/:_authToken=npm_0123456789abcdef\n",
    );
    write(
        &ws.join(".netrc"),
        "machine host.test login op password pw\n",
    );
    write(
        &ws.join("deploy/key.pem"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    );
}

/// What the agent writes (bash, in /workspace).
fn agent_script(marker: &Path) -> String {
    let m = marker.display();
    format!(
        r#"set -e
cd /workspace
echo 'fn main() {{ println!("hi"); }}' > src/main.rs
# a nested clone whose config runs commands on the host
mkdir -p sub && git -C sub init -q .
git -C sub config core.fsmonitor "touch {m}"
git -C sub config core.hooksPath .githooks
git -C sub config core.pager "touch {m}"
echo 'nested' > sub/file.txt
# a .git file pointing at a gitdir on the host, and an upper-case .GIT
mkdir -p wt up/.GIT
printf 'gitdir: /home/op/repo/.git/worktrees/x\n' > wt/.git
printf '[core]\n\tfsmonitor = touch {m}\n' > up/.GIT/config
# the top-level repository's config, hooks and modules
printf '[core]\n\tfsmonitor = touch {m}\n' >> .git/config
mkdir -p .git/hooks
printf '#!/bin/sh\ntouch {m}\n' > .git/hooks/post-checkout
chmod +x .git/hooks/post-checkout
printf '[core]\n\tfsmonitor = touch {m}\n' >> .git/modules/m/config
# tool configuration that runs code when the tree is opened or built
echo 'touch {m}' > .envrc
mkdir -p app .cargo .vscode .devcontainer lib
printf 'yarnPath: ./evil.cjs\n' > app/.yarnrc.yml
printf 'node-options=--require ./evil.js\n' > app/.npmrc
printf '[target.x86_64-unknown-linux-gnu]\nrunner = "touch {m}"\n' > .cargo/config.toml
printf '[hooks]\nenter = "touch {m}"\n' > .mise.toml
printf 'nodejs 20.0.0\n' > .tool-versions
printf '* filter=evil\n' > lib/.gitattributes
printf '{{"tasks":[{{"label":"x","command":"touch {m}","runOptions":{{"runOn":"folderOpen"}}}}]}}\n' > .vscode/tasks.json
printf '{{"postCreateCommand":"touch {m}"}}\n' > .devcontainer/devcontainer.json
# names that reach a terminal or break a patch
echo osc > $'osc\e]52;c;cHduZWQ=\a.txt'
echo newline > $'new\nline.txt'
# a huge sparse file
truncate -s 1G big.bin
# links, special files, setuid, an unreadable directory
ln -s /etc/passwd link
mkfifo fifo
echo linked > hl-a && ln hl-a hl-b
cp /bin/true suid && chmod 4755 suid
mkdir locked && echo inside > locked/f && chmod 000 locked
echo done
"#
    )
}

/// The bottle, retried while the engine is short of network address pools
/// (other suites' bottles come and go on the same engine).
fn start_bottle(e: &crate::support::Engine) -> Result<Bottle, String> {
    let mut last = String::new();
    for _ in 0..8 {
        let started =
            std::panic::catch_unwind(|| Bottle::start(e, "shell", |_, ws| host_workspace(ws)));
        match started {
            Ok(b) => return Ok(b),
            Err(p) => {
                last = p
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "start panicked".into());
                if !last.contains("address pool") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_secs(15));
            }
        }
    }
    Err(last)
}

fn work() -> Option<Result<Arc<Work>, String>> {
    let e = fixture::target("runc")?;
    let made = fixture::cached("export/work", move || -> Result<Arc<Work>, String> {
        let b = start_bottle(&e)?;
        let marker = b.dir.join("fsmonitor-ran");
        let (code, text) = b.sh(&agent_script(&marker));
        if code != 0 || !text.contains("done") {
            return Err(format!("the agent's script: {text}"));
        }
        let out = b.dir.join("out");
        let out_all = b.dir.join("out-all");
        let diff = b.bottle(&["diff", &b.slug]);
        let patch = b.bottle(&["export", &b.slug, "--patch"]);
        let export = b.bottle(&["export", &b.slug, "--to", &out.display().to_string()]);
        let export_all = b.bottle(&[
            "export",
            &b.slug,
            "--to",
            &out_all.display().to_string(),
            "--include-flagged",
        ]);
        let dry_run = b.bottle(&["start", "shell", "--dry-run"]);
        Ok(Arc::new(Work {
            b,
            out,
            out_all,
            marker,
            diff,
            patch,
            export,
            export_all,
            dry_run,
        }))
    });
    Some((*made).clone())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

fn exported(w: &Work) -> Outcome {
    ensure(w.export.status.success(), || {
        format!("export --to failed: {}", both(&w.export))
    })
}

/// Held back: absent from DIR, named on stderr with `why`, present with
/// `--include-flagged`.
fn held(w: &Work, path: &str, named: &str, why: &str) -> Outcome {
    exported(w)?;
    let err = stderr(&w.export);
    ensure(!exists(&w.out.join(path)), || {
        format!("{path} was exported: {err}")
    })?;
    ensure(
        err.lines().any(|l| l.contains(named) && l.contains(why)),
        || format!("{named} is not named as `{why}`: {err}"),
    )?;
    ensure(exists(&w.out_all.join(path)), || {
        format!(
            "--include-flagged did not bring {path}: {}",
            both(&w.export_all)
        )
    })
}

fn nested_fsmonitor() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    held(&w, "sub/.git", "sub/.git/", "nested git repository")?;
    ensure(exists(&w.out.join("sub/file.txt")), || {
        "the nested repository's work files are missing".into()
    })?;
    let cfg = std::fs::read_to_string(w.out_all.join("sub/.git/config")).unwrap_or_default();
    ensure(cfg.contains("fsmonitor"), || {
        format!("the attack's payload is not in the flagged export: {cfg}")
    })?;
    let status = Command::new("git")
        .args(["status", "--short"])
        .current_dir(w.out.join("sub"))
        .env("GIT_CEILING_DIRECTORIES", &w.out)
        .output()
        .expect("git");
    ensure(!exists(&w.marker), || {
        format!(
            "git status in the exported nested repo ran the agent's command: {}",
            both(&status)
        )
    })
}

fn git_file() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    held(&w, "wt/.git", "wt/.git", "nested git repository")
}

fn uppercase_git() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    held(&w, "up/.GIT", "up/.GIT/", "nested git repository")
}

fn top_git() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    held(&w, ".git/config", ".git/config", "git configuration")?;
    held(
        &w,
        ".git/hooks/post-checkout",
        ".git/hooks/post-checkout",
        "git hook",
    )?;
    ensure(!exists(&w.out_all.join(".git/modules")), || {
        "a module's config was exported even with --include-flagged".into()
    })
}

fn tool_configs() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    for (path, why) in [
        (".envrc", "direnv"),
        ("app/.yarnrc.yml", "package manager"),
        ("app/.npmrc", "package manager"),
        (".cargo/config.toml", "cargo configuration"),
        (".mise.toml", "tool version manager"),
        (".tool-versions", "tool version manager"),
        ("lib/.gitattributes", "git attributes"),
        (".vscode/tasks.json", "editor configuration"),
        (".devcontainer/devcontainer.json", "devcontainer"),
    ] {
        held(&w, path, path, why)?;
    }
    Ok(())
}

fn diff_names() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    ensure(w.diff.status.success(), || both(&w.diff))?;
    let (out, err) = (stdout(&w.diff), stderr(&w.diff));
    for named in [
        "sub/.git/",
        "wt/.git",
        "up/.GIT/",
        ".envrc",
        "app/.yarnrc.yml",
    ] {
        ensure(err.contains(named), || {
            format!("diff does not name {named}: {err}")
        })?;
    }
    ensure(
        !out.contains("sub/.git/config") && !out.contains("up/.GIT"),
        || format!("a nested repository's internals are in the diff's patch: {out}"),
    )
}

/// A copy of the host workspace with the exported patch applied by git.
fn apply(w: &Work) -> Result<PathBuf, String> {
    let dst = w.b.dir.join(format!("apply-{}", ulid_ish()));
    let cp = Command::new("cp")
        .arg("-a")
        .arg(&w.b.ws)
        .arg(&dst)
        .status()
        .map_err(|e| e.to_string())?;
    ensure(cp.success(), || "cp failed".into())?;
    let patch_file = dst.with_extension("patch");
    std::fs::write(&patch_file, &w.patch.stdout).map_err(|e| e.to_string())?;
    for check in [true, false] {
        let mut cmd = Command::new("git");
        cmd.arg("apply");
        if check {
            cmd.arg("--check");
        }
        let out = cmd
            .arg(&patch_file)
            .current_dir(&dst)
            .env("GIT_CEILING_DIRECTORIES", &w.b.dir)
            .output()
            .map_err(|e| e.to_string())?;
        ensure(out.status.success(), || {
            format!(
                "git apply (check: {check}) refused the patch: {}",
                both(&out)
            )
        })?;
    }
    Ok(dst)
}

fn ulid_ish() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn patch_applies() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    ensure(w.patch.status.success(), || both(&w.patch))?;
    let text = stdout(&w.patch);
    for p in [
        ".envrc",
        "sub/.git",
        ".cargo/config.toml",
        ".vscode/tasks.json",
    ] {
        ensure(!text.contains(&format!("+++ b/{p}")), || {
            format!("{p} is in the patch without --include-flagged")
        })?;
    }
    let err = stderr(&w.patch);
    ensure(
        err.contains("left out of this patch") && err.contains(".envrc"),
        || format!("the patch does not name what it left out: {err}"),
    )?;
    ensure(
        err.contains("binary files are not in the patch") && err.contains("  suid"),
        || format!("the binary file left out is not named: {err}"),
    )?;
    let dst = apply(&w)?;
    let main = std::fs::read_to_string(dst.join("src/main.rs")).unwrap_or_default();
    ensure(main.contains("println!(\"hi\")"), || {
        format!("the applied patch lost the agent's edit: {main}")
    })?;
    ensure(
        !exists(&dst.join(".envrc")) && !exists(&dst.join("sub/.git")),
        || "applying the patch wrote flagged files".into(),
    )
}

fn osc52_name() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    for (what, o) in [
        ("diff", &w.diff),
        ("export --to", &w.export),
        ("export --patch", &w.patch),
    ] {
        ensure(
            !o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b),
            || format!("{what} wrote a raw ESC (the OSC 52 filename) to the terminal"),
        )?;
    }
    let out = stdout(&w.diff);
    ensure(
        out.contains("\"b/osc\\033]52;c;cHduZWQ=\\007.txt\""),
        || format!("the OSC 52 name is not quoted as git quotes it: {out}"),
    )
}

fn newline_name() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    let out = stdout(&w.patch);
    ensure(out.contains("\"b/new\\nline.txt\""), || {
        format!("the newline name is not quoted: {out}")
    })?;
    let dst = apply(&w)?;
    let got = std::fs::read_to_string(dst.join("new\nline.txt")).unwrap_or_default();
    ensure(got == "newline\n", || {
        format!("the newline-named file did not come through the patch: {got:?}")
    })
}

fn sparse_file() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    exported(&w)?;
    let err = stderr(&w.export);
    ensure(
        !exists(&w.out.join("big.bin")) && !exists(&w.out_all.join("big.bin")),
        || "the 1 GiB sparse file was written on the host".into(),
    )?;
    ensure(
        err.lines()
            .any(|l| l.contains("big.bin") && l.contains("over the export size limit")),
        || format!("the huge file is not named: {err}"),
    )
}

fn links_and_fifos() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    exported(&w)?;
    let err = stderr(&w.export);
    for p in ["link", "fifo"] {
        ensure(
            !exists(&w.out.join(p)) && !exists(&w.out_all.join(p)),
            || format!("{p} was exported"),
        )?;
    }
    ensure(
        err.contains("link: symlink (not exported)")
            && err.contains("fifo: special file (not exported)"),
        || format!("the symlink and FIFO are not named: {err}"),
    )
}

fn hardlinks() -> Outcome {
    use std::os::unix::fs::MetadataExt;
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    exported(&w)?;
    let err = stderr(&w.export);
    ensure(err.contains("hard link (not exported)"), || {
        format!("the hard link is not named: {err}")
    })?;
    for p in ["hl-a", "hl-b"] {
        if let Ok(m) = std::fs::symlink_metadata(w.out.join(p)) {
            ensure(m.nlink() == 1, || format!("{p} is hard-linked on the host"))?;
        }
    }
    Ok(())
}

fn setuid() -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    exported(&w)?;
    let m = std::fs::metadata(w.out.join("suid")).map_err(|e| format!("suid: {e}"))?;
    ensure(m.permissions().mode() & 0o7000 == 0, || {
        format!("exported with mode {:o}", m.permissions().mode())
    })
}

fn unreadable() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    exported(&w)?;
    let got = std::fs::read_to_string(w.out.join("locked/f")).unwrap_or_default();
    ensure(got == "inside\n", || {
        format!(
            "the file in the mode-000 directory: {got:?}; {}",
            stderr(&w.export)
        )
    })
}

fn nested_config_copy() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    let (_, found) = w.b.sh(&format!(
        "grep -rhoE '{}' /workspace 2>/dev/null | sort -u; echo end",
        CANARIES.join("|")
    ));
    ensure(!found.contains("CANARY") && found.contains("end"), || {
        format!("credential canaries reached the bottle: {found}")
    })?;
    let (_, cfg) = w.b.sh("cat /workspace/vendor/lib/.git/config");
    ensure(cfg.contains("url = https://host.test/lib.git"), || {
        format!("the nested config did not arrive sanitised: {cfg}")
    })
}

fn secret_files_copy() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    let (_, found) = w.b.sh(
        "cd /workspace; for f in .env web/.npmrc .netrc deploy/key.pem; do [ -e \"$f\" ] && echo \"present $f\"; done; grep -rl AKIAQWERTYUIOPASDFGH . 2>/dev/null; echo end",
    );
    ensure(
        !found.contains("present") && !found.contains("AKIA") && found.contains("end"),
        || format!("secret-looking files reached the bottle: {found}"),
    )
}

fn preflight_names() -> Outcome {
    let Some(w) = work() else { return Ok(()) };
    let w = w?;
    ensure(w.dry_run.status.success(), || both(&w.dry_run))?;
    let out = stdout(&w.dry_run);
    ensure(
        out.contains("are left out (--copy-secret-files copies them)"),
        || format!("the preflight does not say secret files are left out: {out}"),
    )?;
    for (p, why) in [
        (".env", "aws-access-key"),
        ("web/.npmrc", "_authtoken"),
        (".netrc", "credential file by name"),
        ("deploy/key.pem", "private-key"),
    ] {
        ensure(
            out.lines()
                .any(|l| l.trim_start().starts_with(p) && l.contains(why)),
            || format!("the preflight does not name {p} ({why}): {out}"),
        )?;
    }
    Ok(())
}
