//! Watching `queue/` (notify, recursive). The directory is created first
//! (a watch on a missing directory fails); every event only asks for a
//! full rescan, so a file renamed into a directory created a moment
//! before its watch is still found by the scan that directory's own event
//! triggers. Access events are ignored: the scan itself opens the
//! directories, and answering those would rescan forever.

use notify::{RecursiveMode, Watcher};
use std::path::Path;

pub fn watch(
    root: &Path,
    on_change: impl Fn() + Send + 'static,
) -> anyhow::Result<notify::RecommendedWatcher> {
    crate::state::create_private_dir(root)?;
    let mut w = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(e) = event {
            if !matches!(e.kind, notify::EventKind::Access(_)) {
                on_change();
            }
        }
    })?;
    w.watch(root, RecursiveMode::Recursive)?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Reading the directory (as every scan does) is not a change: before
    /// the fix, each scan's own open event asked for the next scan and the
    /// workspace spun a core forever.
    #[test]
    fn reading_the_queue_is_not_a_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("queue");
        let n = Arc::new(AtomicUsize::new(0));
        let seen = n.clone();
        let _w = super::watch(&root, move || {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .expect("watch");
        std::fs::create_dir(root.join("b-1")).expect("mkdir");
        let settle = |want: usize| {
            for _ in 0..500 {
                if n.load(Ordering::SeqCst) >= want {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            n.load(Ordering::SeqCst)
        };
        let after_mkdir = settle(1);
        assert!(after_mkdir >= 1, "no event for a new directory");
        for _ in 0..50 {
            for e in std::fs::read_dir(&root).expect("read_dir").flatten() {
                let _ = std::fs::read_dir(e.path()).map(|d| d.count());
            }
        }
        std::fs::write(root.join("b-1/x.request.json"), b"{}").expect("write");
        let after = settle(after_mkdir + 1);
        assert!(
            after - after_mkdir < 20,
            "{} events for 100 reads and one write",
            after - after_mkdir
        );
    }
}
