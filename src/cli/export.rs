//! `bottle diff <slug>` and `bottle export <slug> [--patch|--to DIR]`:
//! the agent's work, read out of the work volume (running or stopped) and
//! compared with the workspace it was copied from (backends::workdiff).
//! Agent-written configuration is shown by `diff` and named, but left out
//! of an export unless `--include-flagged`.

use super::definitions::Context;
use crate::backends::workdiff::{self, Change, ChangeKind};
use crate::state::names::Slug;
use anyhow::{Context as _, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The unpacked work tree and what the comparison is against.
struct Work {
    _dir: tempfile::TempDir,
    tree: PathBuf,
    base: Option<PathBuf>,
    changes: Vec<Change>,
}

fn fetch(ctx: &Context, slug_text: &str) -> Result<Work> {
    let slug = Slug::parse(slug_text)?;
    let state = ctx.home.state_dir(slug.as_str());
    let meta = crate::state::record::BottleRecord::read(&state)
        .with_context(|| format!("no bottle `{slug}` in {}", ctx.home.root.display()))?;
    let image = meta.images.agent.clone();
    let backend = meta.backend().to_string();
    let base = meta.workspace.as_ref().map(PathBuf::from);
    let base = match base {
        Some(b) if b.is_dir() => Some(b),
        Some(b) => {
            eprintln!(
                "bottle: the workspace {} is gone; every file shows as added",
                b.display()
            );
            None
        }
        None => None,
    };
    let max_file =
        crate::config::export_max_file(&ctx.home.config_file(), workdiff::DEFAULT_MAX_FILE)
            .map_err(anyhow::Error::msg)?;
    let dir = tempfile::Builder::new()
        .prefix("bottle-export-")
        .tempdir()?;
    let tree = dir.path().join("work");
    std::fs::create_dir(&tree)?;
    // The archive streams from the engine into the unpacker: a huge (or
    // sparse) file passes through without being held or written.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    let into = tree.clone();
    let unpack = std::thread::spawn(move || {
        workdiff::extract(
            ChannelReader {
                rx,
                buf: Vec::new(),
                pos: 0,
            },
            &into,
            max_file,
        )
    });
    let fetched = crate::backends::for_bottle(&ctx.home, slug.as_str()).export_work_tree(
        &slug,
        &ctx.home.label_hash(),
        &backend,
        &image,
        &mut |chunk| tx.send(chunk.to_vec()).is_ok(),
    );
    drop(tx);
    let unpacked = unpack
        .join()
        .map_err(|_| anyhow::anyhow!("unpacking the work tree failed"))?;
    fetched?;
    let skipped = unpacked?;
    for (path, why) in &skipped {
        eprintln!("bottle: left out {}: {why}", crate::sanitize::inline(path));
    }
    let mut changes = workdiff::changes(base.as_deref(), &tree)?;
    // A file left out is not a file the agent deleted.
    changes.retain(|c| c.kind != ChangeKind::Deleted || !skipped.iter().any(|(p, _)| *p == c.path));
    Ok(Work {
        _dir: dir,
        tree,
        base,
        changes,
    })
}

fn summary(changes: &[Change]) -> String {
    let count = |k| changes.iter().filter(|c| c.kind == k).count();
    format!(
        "{} changed: {} added, {} modified, {} deleted",
        changes.len(),
        count(ChangeKind::Added),
        count(ChangeKind::Modified),
        count(ChangeKind::Deleted)
    )
}

fn report_flagged(changes: &[Change], verb: &str) {
    let flagged: Vec<&Change> = changes.iter().filter(|c| c.flag.is_some()).collect();
    if flagged.is_empty() {
        return;
    }
    eprintln!("bottle: agent-written configuration {verb} (review before use; `--include-flagged` exports it):");
    let held: Vec<(String, String)> = flagged
        .iter()
        .map(|c| (c.path.clone(), c.flag.unwrap_or_default().to_string()))
        .collect();
    for line in workdiff::held_lines(&held) {
        eprintln!("{line}");
    }
}

/// `bottle diff <slug>`: every change as a patch (flagged ones included,
/// git hooks listed), a summary on stderr.
pub fn diff(ctx: &Context, slug: &str) -> Result<i32> {
    let work = fetch(ctx, slug)?;
    if work.changes.is_empty() {
        eprintln!("bottle: no changes in {slug}");
        return Ok(0);
    }
    let (text, binary) = workdiff::patch(work.base.as_deref(), &work.tree, &work.changes, true)?;
    std::io::stdout().write_all(text.as_bytes())?;
    report_binary(&binary);
    eprintln!("bottle: {}", summary(&work.changes));
    report_flagged(&work.changes, "in this diff");
    Ok(0)
}

/// `bottle export <slug> [--patch | --to DIR] [--include-flagged]`.
pub fn export(ctx: &Context, slug: &str, to: Option<&Path>, include_flagged: bool) -> Result<i32> {
    let work = fetch(ctx, slug)?;
    match to {
        Some(dir) => {
            let held = workdiff::write_tree(&work.tree, dir, include_flagged)?;
            eprintln!("bottle: exported {slug}'s work tree to {}", dir.display());
            if !held.is_empty() {
                eprintln!("bottle: held back (agent-written configuration; `--include-flagged` exports it):");
                for line in workdiff::held_lines(&held) {
                    eprintln!("{line}");
                }
            }
        }
        None => {
            if work.changes.is_empty() {
                eprintln!("bottle: no changes in {slug}");
                return Ok(0);
            }
            let (text, binary) = workdiff::patch(
                work.base.as_deref(),
                &work.tree,
                &work.changes,
                include_flagged,
            )?;
            std::io::stdout().write_all(text.as_bytes())?;
            report_binary(&binary);
            eprintln!("bottle: {}", summary(&work.changes));
            if !include_flagged {
                report_flagged(&work.changes, "left out of this patch");
            } else if work.changes.iter().any(|c| workdiff::in_git(&c.path)) {
                eprintln!("bottle: git hooks and config are never part of a patch; `--to DIR --include-flagged` copies them");
            }
        }
    }
    Ok(0)
}

/// Binary files are not in a patch (`git apply` would refuse it whole).
fn report_binary(binary: &[String]) {
    if binary.is_empty() {
        return;
    }
    eprintln!("bottle: binary files are not in the patch (`export --to DIR` copies them):");
    for p in binary {
        eprintln!("  {}", crate::sanitize::inline(p));
    }
}

/// The engine's archive chunks as a `Read` for the unpacker thread.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
