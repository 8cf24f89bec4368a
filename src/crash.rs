//! Panic handling: restore the terminal first, then write
//! `logs/crash-<utc>.log` (message, location, backtrace, recent log lines)
//! and print its path. Installed explicitly from `main`.

use crate::state::Home;
use std::fmt::Write as _;
use std::path::PathBuf;

pub fn install(home: Home) {
    std::panic::set_hook(Box::new(move |info| {
        crate::tty::restore();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_string());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        tracing::error!(%message, %location, "panic");
        match write_report(&home, &message, &location) {
            Ok(path) => eprintln!(
                "bottle: crashed: {message} ({location})\nbottle: crash report: {}",
                path.display()
            ),
            Err(e) => eprintln!(
                "bottle: crashed: {message} ({location}); could not write a crash report: {e}"
            ),
        }
        // A panic on any thread ends the process: the workspace must not
        // keep running on a terminal that was just handed back.
        std::process::exit(101);
    }));
}

pub fn crash_file_name(now: time::OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    format!(
        "crash-{}.log",
        now.format(&fmt).unwrap_or_else(|_| "unknown".into())
    )
}

fn write_report(home: &Home, message: &str, location: &str) -> anyhow::Result<PathBuf> {
    let dir = home.ensure_dir("logs")?;
    let now = time::OffsetDateTime::now_utc();
    let mut path = dir.join(crash_file_name(now));
    for n in 1.. {
        if !path.exists() {
            break;
        }
        path = dir.join(crash_file_name(now).replace(".log", &format!("-{n}.log")));
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "bottle {} crashed at {now}",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(text, "message: {message}");
    let _ = writeln!(text, "location: {location}");
    let _ = writeln!(
        text,
        "thread: {}",
        std::thread::current().name().unwrap_or("(unnamed)")
    );
    let _ = writeln!(
        text,
        "\nbacktrace:\n{}",
        std::backtrace::Backtrace::force_capture()
    );
    let _ = writeln!(text, "\nlast log lines:");
    for line in crate::logging::recent_lines() {
        let _ = writeln!(text, "{line}");
    }
    crate::state::write_atomic(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

/// Where the name of the last crash report offered is kept.
const SEEN: &str = "crash-seen";

/// The newest crash report not offered yet (names sort by time).
pub fn unseen(home: &Home) -> Option<PathBuf> {
    let dir = home.root.join("logs");
    let seen = std::fs::read_to_string(dir.join(SEEN)).unwrap_or_default();
    let newest = std::fs::read_dir(&dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("crash-") && n.ends_with(".log"))
        .max()?;
    (newest.as_str() > seen.trim()).then(|| dir.join(newest))
}

/// Records that `report` was offered, so the next start does not ask again.
pub fn mark_seen(home: &Home, report: &std::path::Path) -> anyhow::Result<()> {
    let name = report
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::state::write_atomic(&home.root.join("logs").join(SEEN), name.as_bytes(), 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_report_is_offered_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home {
            root: dir.path().to_path_buf(),
        };
        assert_eq!(unseen(&home), None);
        std::fs::create_dir_all(dir.path().join("logs")).expect("mkdir");
        for n in [
            "crash-20261101T000000Z.log",
            "crash-20261122T101010Z.log",
            "bottle.log.2026-11-22",
        ] {
            std::fs::write(dir.path().join("logs").join(n), "x").expect("write");
        }
        let newest = dir.path().join("logs/crash-20261122T101010Z.log");
        assert_eq!(unseen(&home), Some(newest.clone()));
        mark_seen(&home, &newest).expect("mark");
        assert_eq!(unseen(&home), None);
        std::fs::write(dir.path().join("logs/crash-20261123T000000Z.log"), "y").expect("write");
        assert!(unseen(&home).is_some(), "a newer crash is offered");
    }
}
