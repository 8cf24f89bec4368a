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
    /// Files that look like they hold secrets (path, why): left out of the
    /// copy unless `secrets_kept` (`bottle start --copy-secret-files`).
    pub secrets: Vec<(String, String)>,
    pub secrets_kept: bool,
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
            git: self.entries.iter().any(|e| e.path == ".git"),
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

/// Whether `path` (relative, `/`-separated) is a git config file: any
/// `config` or `config.worktree` inside a `.git` directory at any depth
/// (nested clones, `.git/modules/<m>/`, `.git/worktrees/<w>/`).
pub fn is_git_config(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let Some((name, dirs)) = parts.split_last() else {
        return false;
    };
    matches!(*name, "config" | "config.worktree")
        && dirs.iter().any(|d| d.eq_ignore_ascii_case(".git"))
}

/// Names whose files hold credentials by their nature, whatever is in them.
const SECRET_NAMES: [&str; 10] = [
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pgpass",
    ".pypirc",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".htpasswd",
];

/// Key names that mark a credential line in a package manager or cloud
/// configuration (`_authToken=` in `.npmrc`, `aws_secret_access_key =`).
const SECRET_KEYS: [&str; 6] = [
    "_authtoken",
    "_auth",
    "_password",
    "aws_secret_access_key",
    "npmauthtoken",
    "password",
];

/// The most of one file the secret scan reads.
const SCAN_BYTES: u64 = 1024 * 1024;

/// Why `entry`'s file looks like it holds a secret, if it does: a name
/// that holds credentials by nature, a credential key in a config file, or
/// a hit of the DLP rules (SPEC §4.5) in its first MiB.
fn secret_reason(root: &Path, path: &str, scanner: &crate::policy::dlp::Scanner) -> Option<String> {
    use std::io::Read;
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    if SECRET_NAMES.contains(&name.as_str()) {
        return Some("credential file by name".into());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(root.join(path))
        .ok()?
        .take(SCAN_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    if let Some(hit) = scanner.scan(&bytes) {
        return Some(format!("looks like a secret: {}", hit.rule));
    }
    let config_like = name.starts_with(".env")
        || name == ".yarnrc.yml"
        || name.ends_with("rc")
        || name == "credentials"
        || name.ends_with(".ini")
        || name.ends_with(".cfg");
    if config_like {
        let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
        for line in text.lines() {
            let split = line.split_once('=').or_else(|| line.split_once(':'));
            let Some((left, value)) = split else {
                continue;
            };
            let key = left.trim().rsplit(':').next().unwrap_or("").trim();
            let value = value.trim().trim_matches(['"', '\'']);
            let has_value = !value.is_empty() && !value.starts_with("${");
            if has_value && SECRET_KEYS.iter().any(|k| key.ends_with(k)) {
                return Some(format!("looks like a secret: `{key}` set"));
            }
        }
    }
    None
}

impl CopyList {
    /// Takes the files that look like they hold secrets out of the copy
    /// (unless `keep`), recording them in `secrets` (path, why) so the
    /// preflight names them. Git configs are not among them: they are
    /// sanitised on the way in.
    pub fn hold_back_secrets(&mut self, keep: bool) {
        let scanner = crate::policy::dlp::Scanner::new(&[], &[]);
        let mut found = Vec::new();
        for e in &self.entries {
            if !matches!(e.kind, EntryKind::File { .. }) || is_git_config(&e.path) {
                continue;
            }
            if let Some(why) = secret_reason(&self.root, &e.path, &scanner) {
                found.push((e.path.clone(), why));
            }
        }
        if !keep {
            self.entries
                .retain(|e| !found.iter().any(|(p, _)| *p == e.path));
        }
        self.secrets = found;
        self.secrets_kept = keep;
    }
}

/// Rewrites a git config (every one in the tree: `is_git_config`) for the
/// bottle: userinfo stripped from every URL (section names too, as in
/// `[url "https://u:tok/"] insteadOf`), `credential.*` sections and
/// keys, `http.*.extraheader`, `http.cookieFile`, `core.sshCommand` and
/// `core.askPass` dropped.
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
                out.push_str(&strip_userinfo(line));
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
        let dropped = matches!(
            key.as_str(),
            "extraheader" | "sshcommand" | "cookiefile" | "askpass"
        );
        if dropped || key.starts_with("credential") {
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
pub fn strip_userinfo(line: &str) -> String {
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

    #[test]
    fn nested_git_configs_lose_credentials_and_secret_files_are_named() {
        assert!(is_git_config("sub/.git/config") && is_git_config(".git/modules/m/config"));
        assert!(is_git_config("a/.GIT/worktrees/w/config.worktree"));
        assert!(!is_git_config("config") && !is_git_config("sub/config"));
        let cfg = "[url \"https://me:tok123@host.test/\"]\n\tinsteadOf = https://host.test/\n[core]\n\tsshCommand = ssh -i /home/op/.ssh/key\n[http]\n\tcookieFile = /home/op/cookies\n";
        let out = sanitize_git_config(cfg);
        assert!(
            !out.contains("tok123") && !out.contains("sshCommand") && !out.contains("cookie"),
            "{out}"
        );
        assert!(out.contains("[url \"https://host.test/\"]"), "{out}");

        let dir = tempfile::tempdir().expect("tmp");
        let w = |p: &str, t: &str| {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, t).expect("write");
        };
        w("src/main.rs", "fn main() {}\n");
        w(".env", "AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP\n");
        w(
            "web/.npmrc",
            "//registry.npmjs.org/:_authToken=abcdef123456\n",
        );
        w(
            "web/.npmrc.example",
            "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
        );
        w(".netrc", "machine h login u password p\n");
        w("keys/server.pem", "-----BEGIN RSA PRIVATE KEY-----\nMII\n");
        w(".git/config", "[remote \"o\"]\n\turl = https://u:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/x\n");
        let mut list = scan(dir.path()).expect("scan");
        list.hold_back_secrets(false);
        let named: Vec<&str> = list.secrets.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            named,
            vec![".env", ".netrc", "keys/server.pem", "web/.npmrc"]
        );
        assert!(list
            .entries
            .iter()
            .all(|e| !named.contains(&e.path.as_str())));
        assert!(list.entries.iter().any(|e| e.path == "src/main.rs"));
        assert!(list.entries.iter().any(|e| e.path == ".git/config"));
        let mut kept = scan(dir.path()).expect("scan");
        kept.hold_back_secrets(true);
        assert!(kept.entries.iter().any(|e| e.path == ".env") && kept.secrets.len() == 4);
    }
}
