//! What goes into a bottle from the workspace (SPEC §4.11): never follows
//! symlinks, skips special files, honours `.bottleignore` (gitignore
//! syntax, at any depth), and refuses `/`, `$HOME` and trees that contain
//! or sit inside `$BOTTLE_HOME` unless forced. The copied `.git/config` is
//! rewritten by `sanitize_git_config` so no credential travels.

use super::plan::WorkspaceFacts;
use std::path::{Path, PathBuf};

pub const IGNORE_FILE: &str = ".bottleignore";

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("refusing to copy {path} into a bottle: {why} (use --force to copy it anyway, or --no-workspace)")]
    Refused { path: PathBuf, why: &'static str },
    #[error("reading the workspace {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File { size: u64, executable: bool },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the workspace root, `/`-separated.
    pub path: String,
    pub kind: EntryKind,
}

#[derive(Clone, Debug, Default)]
pub struct CopyList {
    pub root: PathBuf,
    pub entries: Vec<Entry>,
    /// (relative path, why)
    pub skipped: Vec<(String, &'static str)>,
}

impl CopyList {
    pub fn facts(&self) -> WorkspaceFacts {
        let (files, bytes) = self.entries.iter().fold((0, 0), |(n, b), e| match e.kind {
            EntryKind::File { size, .. } => (n + 1, b + size),
            EntryKind::Dir => (n, b),
        });
        WorkspaceFacts {
            root: self.root.clone(),
            files,
            bytes,
            skipped: self.skipped.len() as u64,
        }
    }
}

fn canonical(p: &Path) -> Result<PathBuf, CopyError> {
    std::fs::canonicalize(p).map_err(|source| CopyError::Io {
        path: p.to_path_buf(),
        source,
    })
}

/// Checks the refusal rules; `home` is `$HOME`, `bottle_home` `$BOTTLE_HOME`.
pub fn check_root(
    root: &Path,
    home: &Path,
    bottle_home: &Path,
    force: bool,
) -> Result<PathBuf, CopyError> {
    let root = canonical(root)?;
    if force {
        return Ok(root);
    }
    let refuse = |why| {
        Err(CopyError::Refused {
            path: root.clone(),
            why,
        })
    };
    if root == Path::new("/") {
        return refuse("it is the root directory");
    }
    if std::fs::canonicalize(home).is_ok_and(|h| h == root) {
        return refuse("it is your home directory");
    }
    if let Ok(bh) = std::fs::canonicalize(bottle_home) {
        if root.starts_with(&bh) {
            return refuse("it is inside $BOTTLE_HOME (bottle keys and state)");
        }
        if bh.starts_with(&root) {
            return refuse("it contains $BOTTLE_HOME (bottle keys and state)");
        }
    }
    Ok(root)
}

/// Lists what would be copied from `root` (already checked).
pub fn scan(root: &Path) -> Result<CopyList, CopyError> {
    use std::os::unix::fs::PermissionsExt;
    let mut list = CopyList {
        root: root.to_path_buf(),
        ..CopyList::default()
    };
    let walker = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .follow_links(false)
        .sort_by_file_path(|a, b| a.cmp(b))
        .build();
    for item in walker {
        let entry = item.map_err(|e| CopyError::Io {
            path: root.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let rel = match entry.path().strip_prefix(root) {
            Ok(r) if !r.as_os_str().is_empty() => r.to_string_lossy().into_owned(),
            _ => continue,
        };
        let meta = std::fs::symlink_metadata(entry.path()).map_err(|source| CopyError::Io {
            path: entry.path().to_path_buf(),
            source,
        })?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            list.skipped.push((rel, "symlink (never followed)"));
        } else if ft.is_dir() {
            list.entries.push(Entry {
                path: rel,
                kind: EntryKind::Dir,
            });
        } else if ft.is_file() {
            let executable = meta.permissions().mode() & 0o111 != 0;
            list.entries.push(Entry {
                path: rel,
                kind: EntryKind::File {
                    size: meta.len(),
                    executable,
                },
            });
        } else {
            list.skipped.push((rel, "special file"));
        }
    }
    Ok(list)
}

/// Rewrites a `.git/config` for the bottle: userinfo stripped from every
/// URL, `credential.*` sections and keys and `http.*.extraheader` dropped.
pub fn sanitize_git_config(text: &str) -> String {
    let mut out = String::new();
    let mut drop_section = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let header = trimmed
                .trim_start_matches('[')
                .split([']', ' ', '"'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            drop_section = header == "credential";
            if !drop_section {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        if drop_section {
            continue;
        }
        let key = trimmed
            .split(['=', ' ', '\t'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if key == "extraheader" || key.starts_with("credential") {
            continue;
        }
        out.push_str(&strip_userinfo(line));
        out.push('\n');
    }
    out
}

/// `https://user:tok@host/x` → `https://host/x`. A bare user on an SSH
/// URL (`ssh://git@host/…`) is kept: it is no secret, and the git gate's
/// `insteadOf` rewriting matches the URL as written.
fn strip_userinfo(line: &str) -> String {
    let Some(scheme_end) = line.find("://") else {
        return line.to_string();
    };
    let scheme = line[..scheme_end]
        .rsplit([' ', '=', '\t', '"'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let rest = &line[scheme_end + 3..];
    let authority_end = rest.find(['/', '"', ' ']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return line.to_string();
    };
    let userinfo = &rest[..at];
    if scheme.contains("ssh") && !userinfo.contains(':') {
        return line.to_string();
    }
    format!("{}{}", &line[..scheme_end + 3], &rest[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_config_loses_credentials() {
        let cfg = "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://user:ghp_tok@github.com/acme/app.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[credential]\n\thelper = store\n[credential \"https://github.com\"]\n\tusername = me\n[http \"https://github.com/\"]\n\textraheader = AUTHORIZATION: basic abc\n\tsslVerify = true\n[remote \"ssh\"]\n\turl = ssh://git@host/p\n";
        let out = sanitize_git_config(cfg);
        assert!(
            !out.contains("ghp_tok")
                && !out.contains("user:")
                && !out.contains("helper")
                && !out.contains("username"),
            "{out}"
        );
        assert!(!out.to_ascii_lowercase().contains("extraheader"), "{out}");
        assert!(out.contains("url = https://github.com/acme/app.git"));
        assert!(
            out.contains("url = ssh://git@host/p"),
            "a bare SSH user is kept: {out}"
        );
        assert_eq!(
            strip_userinfo("\turl = https://ghp_tok@github.com/a"),
            "\turl = https://github.com/a"
        );
        assert_eq!(
            strip_userinfo("\turl = ssh://git:pw@h/a"),
            "\turl = ssh://h/a"
        );
        assert!(out.contains("sslVerify = true") && out.contains("[core]"));
    }
}
