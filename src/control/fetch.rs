//! `bottle fetch <slug>` (SPEC §5.5): what the agent pushed to the git
//! gate's workspace repository lands in the operator's repository as
//! `refs/remotes/bottle/<slug>/<branch>`. The workspace calls
//! [`fetch_pushes`] on each push; the CLI prints what it returns.
//!
//! The host's own git does the fetch, from a transport whose far end is
//! `git upload-pack` run in the bottle's sidecar through the engine
//! (`Backend::sidecar_exec`): git's `--upload-pack` names this executable's
//! hidden `gitgate-upload-pack <slug>` ([`upload_pack`]), which relays
//! git's protocol over the exec. Git checks every object before it lands
//! (`fetch.fsckObjects`, path-safety warnings raised to errors), updates
//! the refs all or none (`--atomic`), checks nothing out, fetches no tags
//! and no submodules, and copies nothing of the gate repository but
//! objects and the branch tips: not its config, not its hooks.

use crate::policy::gitgate::{repo_path, WORKSPACE_REPO};
use crate::state::names::Slug;
use crate::state::record::BottleRecord;
use crate::state::Home;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where a bottle's branches land: `refs/remotes/bottle/<slug>/<branch>`.
pub const REMOTE_PREFIX: &str = "refs/remotes/bottle";

/// The hidden subcommand git runs as its upload-pack program.
pub const UPLOAD_PACK_COMMAND: &str = "gitgate-upload-pack";

/// The repository path git hands the upload-pack program (which ignores
/// it). Under `/dev/null`, a character device, it can never exist: git
/// cannot take it for a bundle file or a repository of this host, and it
/// has a `/`, so it is never a configured remote's name.
pub const NO_REPOSITORY: &str = "/dev/null/bottle-gitgate";

/// fsck messages that are warnings by default and refused here: tree
/// entries a checkout would write outside the tree or into `.git`, and
/// a NUL in a commit (text `git log` does not show).
const FSCK_ERRORS: &[&str] = &[
    "hasDot",
    "hasDotdot",
    "hasDotgit",
    "fullPathname",
    "emptyName",
    "nulInCommit",
    "badFilemode",
];

/// Environment a parent process may have set that would point git
/// elsewhere than the workspace's repository (`git rev-parse
/// --local-env-vars`).
const LOCAL_ENV: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
];

/// One ref a fetch created or moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Landed {
    /// The branch as the agent named it (its words: sanitize to show).
    pub branch: String,
    /// `refs/remotes/bottle/<slug>/<branch>`.
    pub refname: String,
    /// The commit it pointed at before; `None` for a new ref.
    pub old: Option<String>,
    pub new: String,
}

impl Landed {
    /// One display line, sanitized: `new refs/remotes/bottle/… <id>` or
    /// `updated refs/remotes/bottle/… <old>..<new>`.
    pub fn line(&self) -> String {
        let name = crate::sanitize::inline(&self.refname);
        match &self.old {
            None => format!("new      {name} {}", self.new),
            Some(old) => format!("updated  {name} {old}..{}", self.new),
        }
    }
}

/// Brings the bottle's pushes into its host workspace's repository,
/// using this process's executable as the upload-pack relay.
pub fn fetch_pushes(home: &Home, slug: &Slug) -> Result<Vec<Landed>> {
    let exe = std::env::current_exe().context("finding the bottle executable")?;
    fetch_pushes_via(home, slug, &exe)
}

/// [`fetch_pushes`] with `bottle` as the executable git runs as its
/// upload-pack program (`bottle gitgate-upload-pack <slug>`).
pub fn fetch_pushes_via(home: &Home, slug: &Slug, bottle: &Path) -> Result<Vec<Landed>> {
    let result = fetch(home, slug, bottle);
    // Counts only: branch names and git's words may be the agent's.
    match &result {
        Ok(landed) => tracing::info!(event = "fetch", slug = %slug, landed = landed.len()),
        Err(_) => tracing::warn!(event = "fetch", slug = %slug, error = "refused or failed"),
    }
    result
}

fn fetch(home: &Home, slug: &Slug, bottle: &Path) -> Result<Vec<Landed>> {
    let state = home.state_dir(slug.as_str());
    if !state.is_dir() {
        bail!("no bottle `{slug}` in {}", home.root.display());
    }
    let record = BottleRecord::load(&state)?;
    let ws = record
        .workspace
        .filter(|w| !w.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            anyhow!("bottle `{slug}` has no host workspace (started with --no-workspace): nowhere to fetch into")
        })?;
    check_repository(&ws)?;
    // One fetch of a bottle at a time: the before/after of the refs is
    // this fetch's alone.
    let _lock = crate::state::lock_file(&state.join("fetch.lock"))?;
    let prefix = format!("{REMOTE_PREFIX}/{slug}/");
    let before = tips(&ws, &prefix)?;
    let out = git(&ws)
        .env("BOTTLE_HOME", &home.root)
        .args(fetch_args(slug, bottle))
        .stdin(Stdio::null())
        .output()
        .context("running git")?;
    if !out.status.success() {
        let said = crate::sanitize::lines(String::from_utf8_lossy(&out.stderr).trim_end());
        bail!(
            "fetching from `{slug}`'s git gate failed ({}); nothing landed:\n{said}",
            out.status
        );
    }
    let after = tips(&ws, &prefix)?;
    Ok(after
        .into_iter()
        .filter(|(name, id)| before.get(name) != Some(id))
        .map(|(refname, new)| Landed {
            branch: refname[prefix.len()..].to_string(),
            old: before.get(&refname).cloned(),
            refname,
            new,
        })
        .collect())
}

/// The arguments after `git -C <ws>`: the fetch, with its checks.
fn fetch_args(slug: &Slug, bottle: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut config = |kv: String| {
        args.push("-c".into());
        args.push(kv.into());
    };
    for kv in [
        "transfer.fsckObjects=true",
        "fetch.fsckObjects=true",
        "fetch.recurseSubmodules=false",
        "fetch.writeCommitGraph=false",
        "gc.auto=0",
        "maintenance.auto=false",
        // The operator may have turned local paths off; this one is ours.
        "protocol.file.allow=always",
    ] {
        config(kv.to_string());
    }
    for id in FSCK_ERRORS {
        config(format!("fetch.fsck.{id}=error"));
    }
    let refspec = format!("+refs/heads/*:{REMOTE_PREFIX}/{slug}/*");
    args.extend(
        [
            "fetch",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--atomic",
            "--quiet",
            "--upload-pack",
        ]
        .map(OsString::from),
    );
    args.push(upload_pack_program(bottle, slug));
    args.push(NO_REPOSITORY.into());
    args.push(refspec.into());
    args
}

/// What git runs (through `sh -c '… "$@"'`, the repository path
/// appended): the executable single-quoted for the shell, whatever its
/// name holds, then the subcommand and the slug (`[a-z0-9-]` only).
pub fn upload_pack_program(bottle: &Path, slug: &Slug) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut out = shell_quote(bottle.as_os_str().as_bytes());
    out.extend_from_slice(format!(" {UPLOAD_PACK_COMMAND} {slug}").as_bytes());
    OsString::from_vec(out)
}

/// `'…'` with each `'` written as `'\''`: one word to a POSIX shell.
fn shell_quote(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in raw {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// git on `ws` with nothing of the caller's environment pointing it at
/// another repository, and no prompt.
fn git(ws: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(ws);
    for var in LOCAL_ENV {
        cmd.env_remove(var);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

/// The workspace must be the top of a git work tree (not a directory
/// inside another repository).
fn check_repository(ws: &Path) -> Result<()> {
    let not_repo = || {
        anyhow!(
            "the workspace {} is not a git repository: `bottle fetch` lands the agent's pushes in one (run `git init` there first)",
            ws.display()
        )
    };
    if !ws.is_dir() {
        bail!("the workspace {} is not a directory", ws.display());
    }
    let out = git(ws)
        .args(["rev-parse", "--show-toplevel"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        return Err(not_repo());
    }
    let top = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end());
    let same = match (std::fs::canonicalize(&top), std::fs::canonicalize(ws)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same {
        return Err(not_repo());
    }
    Ok(())
}

/// `refname -> commit` of the refs under `prefix`.
fn tips(ws: &Path, prefix: &str) -> Result<BTreeMap<String, String>> {
    let out = git(ws)
        .args(["for-each-ref", "--format=%(objectname) %(refname)", prefix])
        .stdin(Stdio::null())
        .output()
        .context("running git for-each-ref")?;
    if !out.status.success() {
        bail!(
            "git for-each-ref in {}: {}",
            ws.display(),
            crate::sanitize::lines(String::from_utf8_lossy(&out.stderr).trim_end())
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, name)| (name.to_string(), id.to_string()))
        .collect())
}

/// `bottle gitgate-upload-pack <slug>`, git's upload-pack program for a
/// fetch: `git upload-pack` on the gate's workspace repository in the
/// bottle's sidecar, this process's stdin and stdout its own (git's
/// protocol both ways at once), its stderr sanitized onto ours,
/// `GIT_PROTOCOL` passed on when git set it; its exit status.
pub fn upload_pack(home: &Home, slug: &Slug) -> Result<i32> {
    use std::io::Write;
    // The path is the shell's `$1`, never part of its script.
    let cmd = vec![
        "/bin/sh".to_string(),
        "-c".into(),
        "if [ ! -d \"$1\" ]; then echo \"the git gate has no repository $1: nothing was pushed to it yet\" >&2; exit 3; fi; exec git upload-pack --strict \"$1\"".into(),
        "sh".into(),
        repo_path(WORKSPACE_REPO),
    ];
    let env: Vec<(String, String)> = std::env::var("GIT_PROTOCOL")
        .ok()
        .map(|v| ("GIT_PROTOCOL".to_string(), v))
        .into_iter()
        .collect();
    let mut err_lines = crate::sanitize::LineStream::default();
    let code = crate::backends::for_bottle(home, slug.as_str()).sidecar_exec(
        slug,
        &cmd,
        &env,
        Box::new(std::io::stdin()),
        &mut |stream, chunk| match stream {
            crate::backends::Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(chunk)?;
                out.flush()
            }
            crate::backends::Stream::Stderr => {
                std::io::stderr().write_all(err_lines.feed(chunk).as_bytes())
            }
        },
    )?;
    let rest = err_lines.finish();
    if !rest.is_empty() {
        eprintln!("{rest}");
    }
    Ok(i32::try_from(code).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_one_shell_word_whatever_the_path() {
        let slug = Slug::parse("dev-abc234").expect("slug");
        let p = upload_pack_program(Path::new("/opt/it's a $(dir)/bottle"), &slug);
        assert_eq!(
            p.to_string_lossy(),
            "'/opt/it'\\''s a $(dir)/bottle' gitgate-upload-pack dev-abc234"
        );
        // The shell reads it back as the same words.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\n' {}", p.to_string_lossy()))
            .output()
            .expect("sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/opt/it's a $(dir)/bottle\ngitgate-upload-pack\ndev-abc234\n"
        );
    }

    #[test]
    fn a_landed_line_is_sanitized() {
        let l = Landed {
            branch: "bottle/x\u{202e}y".into(),
            refname: "refs/remotes/bottle/dev-abc234/bottle/x\u{202e}y".into(),
            old: None,
            new: "a".repeat(40),
        };
        assert!(l.line().contains("\\u{202e}"), "{}", l.line());
    }
}
