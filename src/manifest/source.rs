//! Finding definition files: the embedded defaults (SPEC §3.3), then
//! `$BOTTLE_HOME/{bottles,agents}`, then `<workspace>/.bottle/agents`.
//! The only module of `manifest` that reads the filesystem.

use super::{Origin, Pos, Problem, Severity};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Files larger than this are refused (a definition is a page of YAML).
const MAX_DEFINITION_BYTES: u64 = 256 * 1024;

#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The file name without `.md`.
    pub name: String,
    pub origin: Origin,
    /// The text, or where and why it could not be read.
    pub text: Result<String, (Pos, String)>,
}

#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub bottles: Vec<SourceFile>,
    pub agents: Vec<SourceFile>,
    pub repo_agents: Vec<SourceFile>,
    /// Warnings about skipped or ignored files.
    pub notes: Vec<Problem>,
}

/// (kind, name, text) of every embedded definition.
pub const EMBEDDED_FILES: &[(&str, &str, &str)] = &[
    (
        "bottles",
        "shell",
        include_str!("../../assets/bottles/shell.md"),
    ),
    (
        "bottles",
        "claude",
        include_str!("../../assets/bottles/claude.md"),
    ),
    (
        "bottles",
        "codex",
        include_str!("../../assets/bottles/codex.md"),
    ),
    (
        "agents",
        "shell",
        include_str!("../../assets/agents/shell.md"),
    ),
    (
        "agents",
        "claude",
        include_str!("../../assets/agents/claude.md"),
    ),
    (
        "agents",
        "codex",
        include_str!("../../assets/agents/codex.md"),
    ),
];

pub fn embedded_file(kind: &str, name: &str) -> Option<&'static str> {
    EMBEDDED_FILES
        .iter()
        .find(|(k, n, _)| *k == kind && *n == name)
        .map(|(_, _, t)| *t)
}

fn embedded(kind: &str) -> Vec<SourceFile> {
    EMBEDDED_FILES
        .iter()
        .filter(|(k, _, _)| *k == kind)
        .map(|(k, n, t)| SourceFile {
            path: PathBuf::from(format!("<embedded>/{k}/{n}.md")),
            name: n.to_string(),
            origin: Origin::Embedded,
            text: Ok(t.to_string()),
        })
        .collect()
}

fn warn(notes: &mut Vec<Problem>, path: &Path, message: String) {
    notes.push(Problem {
        path: path.to_path_buf(),
        pos: Pos { line: 1, col: 1 },
        severity: Severity::Warning,
        message,
    });
}

fn valid_name(stem: &str) -> bool {
    let mut c = stem.chars();
    matches!(c.next(), Some('a'..='z')) && c.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

/// Reads `dir/*.md` in sorted order. Missing directories are empty.
/// `untrusted` files must be regular files (a repo cannot point a
/// definition at `~/.ssh/id_rsa` through a symlink).
fn read_dir(
    dir: &Path,
    origin: Origin,
    untrusted: bool,
    notes: &mut Vec<Problem>,
) -> Vec<SourceFile> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name.starts_with('.') || path.is_dir() {
            continue;
        }
        let stem = file_name.strip_suffix(".md");
        let Some(stem) = stem.filter(|s| valid_name(s)) else {
            warn(
                notes,
                &path,
                "skipped: definition file names must match [a-z][a-z0-9-]*.md".into(),
            );
            continue;
        };
        let meta = fs::symlink_metadata(&path);
        if untrusted && !meta.as_ref().is_ok_and(|m| m.file_type().is_file()) {
            warn(
                notes,
                &path,
                "skipped: a repository agent must be a regular file, not a symlink".into(),
            );
            continue;
        }
        out.push(SourceFile {
            name: stem.to_string(),
            origin,
            text: read_text(&path),
            path,
        });
    }
    out
}

fn read_text(path: &Path) -> Result<String, (Pos, String)> {
    let start = Pos { line: 1, col: 1 };
    let file = fs::File::open(path).map_err(|e| (start, format!("cannot read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_DEFINITION_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| (start, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_DEFINITION_BYTES {
        return Err((
            start,
            format!("file is larger than {} KiB", MAX_DEFINITION_BYTES / 1024),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() as u32 + 1;
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&good[line_start..]).chars().count() as u32 + 1;
        (
            Pos { line, col },
            "file is not valid UTF-8 here".to_string(),
        )
    })
}

/// Home files replace embedded ones of the same name.
fn layer(mut base: Vec<SourceFile>, top: Vec<SourceFile>) -> Vec<SourceFile> {
    base.retain(|b| !top.iter().any(|t| t.name == b.name));
    base.extend(top);
    base.sort_by(|a, b| a.name.cmp(&b.name));
    base
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn read_sources(home: &Path, workspace: Option<&Path>) -> Sources {
    let mut notes = Vec::new();
    let bottles = layer(
        embedded("bottles"),
        read_dir(&home.join("bottles"), Origin::Home, false, &mut notes),
    );
    let agents = layer(
        embedded("agents"),
        read_dir(&home.join("agents"), Origin::Home, false, &mut notes),
    );
    let mut repo_agents = Vec::new();
    if let Some(ws) = workspace {
        let repo = ws.join(".bottle");
        // Opening the workspace at the directory holding $BOTTLE_HOME: its
        // files are home files, already read.
        if !same_dir(&repo, home) {
            repo_agents = read_dir(&repo.join("agents"), Origin::Repo, true, &mut notes);
            let mut ignored = Vec::new();
            let ignored_dir = repo.join("bottles");
            if let Ok(entries) = fs::read_dir(&ignored_dir) {
                ignored = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "md"))
                    .collect();
            }
            ignored.sort();
            for path in ignored {
                warn(
                    &mut notes,
                    &path,
                    "ignored: bottles are defined only in $BOTTLE_HOME/bottles/; a repository can ship agents but never a bottle".into(),
                );
            }
        }
    }
    Sources {
        bottles,
        agents,
        repo_agents,
        notes,
    }
}
