//! Application log: `$BOTTLE_HOME/logs/bottle.log.<date>` (daily, 7 kept)
//! through tracing-appender; level from `BOTTLE_LOG`. Never writes to the
//! terminal (the TUI owns it). The last 200 lines are also kept in memory
//! for crash reports.

use crate::state::Home;
use anyhow::{Context, Result};
use std::collections::VecDeque;
use std::io;
use std::sync::{Mutex, OnceLock};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

pub const RECENT_LINES: usize = 200;

static RECENT: OnceLock<Mutex<VecDeque<String>>> = OnceLock::new();

/// Keeps the background log writer alive; drop it last.
pub struct LogGuard {
    _worker: WorkerGuard,
}

/// The last log lines, oldest first (for crash reports).
pub fn recent_lines() -> Vec<String> {
    RECENT
        .get()
        .and_then(|r| r.lock().ok().map(|q| q.iter().cloned().collect()))
        .unwrap_or_default()
}

#[derive(Clone, Copy)]
struct RingWriter;

impl io::Write for RingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(Ok(mut q)) = RECENT.get().map(|r| r.lock()) {
            for line in String::from_utf8_lossy(buf).lines() {
                if q.len() == RECENT_LINES {
                    q.pop_front();
                }
                q.push_back(line.to_string());
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RingWriter {
    type Writer = RingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Called once from `main`.
pub fn init(home: &Home) -> Result<LogGuard> {
    let dir = home.ensure_dir("logs")?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("bottle.log")
        .max_log_files(7)
        .build(&dir)
        .with_context(|| format!("opening the log in {}", dir.display()))?;
    let (writer, worker) = tracing_appender::non_blocking(appender);
    let _ = RECENT.set(Mutex::new(VecDeque::with_capacity(RECENT_LINES)));
    let filter = EnvFilter::try_from_env("BOTTLE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(RingWriter),
        )
        .try_init()
        .context("installing the log subscriber")?;
    Ok(LogGuard { _worker: worker })
}

/// For processes without a `$BOTTLE_HOME` (the sidecar): plain lines on
/// stderr, level from `BOTTLE_LOG`.
pub fn init_stderr() {
    let filter = EnvFilter::try_from_env("BOTTLE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(io::stderr)
        .try_init();
}
