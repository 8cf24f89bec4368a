//! Definitions appear live: a watcher (notify) on `$BOTTLE_HOME/bottles`,
//! `$BOTTLE_HOME/agents` (created first: a watch on a missing directory
//! fails), `config.yaml` and `trust.json` (through the home directory, so
//! an editor's rename-over is seen), and the repository's `.bottle` (through
//! the workspace directory until it exists, then recursively). As for the
//! queue, an event is only a reason to re-read everything: after a quiet
//! `SETTLE` (an editor's burst of writes is one rescan) the thread loads the
//! definitions and the config off the loop and sends one
//! `AppEvent::Definitions`. A half-written file is just a problem until the
//! write that completes it.

use crate::app::AppEvent;
use crate::state::Home;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the files must be quiet before a rescan.
const SETTLE: Duration = Duration::from_millis(150);
/// A rescan happens at least this often while events keep coming.
const SETTLE_AT_MOST: Duration = Duration::from_secs(1);

/// The paths whose changes matter.
#[derive(Clone)]
struct Watched {
    bottles: PathBuf,
    agents: PathBuf,
    config: PathBuf,
    trust: PathBuf,
    repo: PathBuf,
}

impl Watched {
    fn matters(&self, path: &Path) -> bool {
        path.starts_with(&self.bottles)
            || path.starts_with(&self.agents)
            || path.starts_with(&self.repo)
            || path == self.config
            || path == self.trust
    }
}

/// Starts watching; the thread lives as long as the process (it owns the
/// watcher) and ends when the workspace's inbox is gone.
pub fn spawn(home: Home, workspace: PathBuf, tx: mpsc::SyncSender<AppEvent>) -> anyhow::Result<()> {
    let watched = Watched {
        bottles: home.bottles_dir(),
        agents: home.agents_dir(),
        config: home.config_file(),
        trust: home.trust_file(),
        repo: workspace.join(".bottle"),
    };
    crate::state::create_private_dir(&watched.bottles)?;
    crate::state::create_private_dir(&watched.agents)?;
    let (seen_tx, seen) = mpsc::channel::<()>();
    let filter = watched.clone();
    let mut w = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(e) = event else { return };
        // Reading the directories (as every rescan does) is no change.
        if matches!(e.kind, notify::EventKind::Access(_)) {
            return;
        }
        if e.paths.is_empty() || e.paths.iter().any(|p| filter.matters(p)) {
            let _ = seen_tx.send(());
        }
    })?;
    w.watch(&watched.bottles, RecursiveMode::Recursive)?;
    w.watch(&watched.agents, RecursiveMode::Recursive)?;
    w.watch(&home.root, RecursiveMode::NonRecursive)?;
    // The repository's `.bottle` may not exist yet: its creation shows in
    // the workspace directory, and the rescan it causes watches it.
    w.watch(&workspace, RecursiveMode::NonRecursive)?;
    let mut repo_watched = w.watch(&watched.repo, RecursiveMode::Recursive).is_ok();
    std::thread::Builder::new()
        .name("definitions".into())
        .spawn(move || {
            while seen.recv().is_ok() {
                let first = Instant::now();
                while seen.recv_timeout(SETTLE).is_ok() && first.elapsed() < SETTLE_AT_MOST {}
                // Watched afresh each time: it may have been removed and
                // made again since (the scan below reads what is there).
                if repo_watched {
                    let _ = w.unwatch(&watched.repo);
                }
                repo_watched = w.watch(&watched.repo, RecursiveMode::Recursive).is_ok();
                if tx
                    .send(AppEvent::Definitions(super::effects::load_definitions(
                        &home, &workspace,
                    )))
                    .is_err()
                {
                    return;
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_definition_paths_matter() {
        let home = Home {
            root: PathBuf::from("/h"),
        };
        let w = Watched {
            bottles: home.bottles_dir(),
            agents: home.agents_dir(),
            config: home.config_file(),
            trust: home.trust_file(),
            repo: PathBuf::from("/ws/.bottle"),
        };
        for p in [
            "/h/agents/x.md",
            "/h/bottles/y.md",
            "/h/config.yaml",
            "/h/trust.json",
            "/ws/.bottle",
            "/ws/.bottle/agents/r.md",
        ] {
            assert!(w.matters(Path::new(p)), "{p}");
        }
        for p in [
            "/h/logs/bottle.log",
            "/h/workspaces/a.json",
            "/ws/src/main.rs",
        ] {
            assert!(!w.matters(Path::new(p)), "{p}");
        }
    }
}
