//! Watching `queue/` (notify, recursive). The directory is created first
//! (a watch on a missing directory fails); every event only asks for a
//! full rescan, so a file renamed into a directory created a moment
//! before its watch is still found by the scan that directory's own event
//! triggers.

use notify::{RecursiveMode, Watcher};
use std::path::Path;

pub fn watch(
    root: &Path,
    on_change: impl Fn() + Send + 'static,
) -> anyhow::Result<notify::RecommendedWatcher> {
    crate::state::create_private_dir(root)?;
    let mut w = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            on_change();
        }
    })?;
    w.watch(root, RecursiveMode::Recursive)?;
    Ok(w)
}
