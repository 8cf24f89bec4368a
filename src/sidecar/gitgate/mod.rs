//! The git gate (SPEC §5.5): git's smart HTTP at
//! `http://gitgate:9420/<name>.git`, served by `git http-backend` over the
//! bare repositories under `/gitgate` (a per-bottle volume); fetches sync
//! from the upstream first and fail closed, pushes pass the `pre-receive`
//! hook (`hook.rs`: refs, scan, then the upstream) before they land.
//! Only the three smart-protocol paths of a configured repository are
//! served; the repositories' configuration and hooks are the gate's own
//! (a push cannot carry either).

pub mod hook;
mod http;
pub mod scan;
pub mod upstream;

use crate::policy::gitgate::{GateFile, GateRepo, FILE_NAME};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use upstream::Paths;

/// At most this many git processes serve the agent at once.
const MAX_CONCURRENT: usize = 4;

/// The largest push the gate takes (`receive.maxInputSize`).
const MAX_PUSH: &str = "2g";

pub struct Gate {
    pub paths: Paths,
    /// Each repository with the lock its requests take in turn (a sync,
    /// an advertisement and a push never interleave).
    repos: HashMap<String, (GateRepo, Arc<tokio::sync::Mutex<()>>)>,
    slots: Arc<tokio::sync::Semaphore>,
}

/// Reads `gitgate.json`; `None` when this bottle has no gate.
pub fn load(config_dir: &Path) -> anyhow::Result<Option<GateFile>> {
    let path = config_dir.join(FILE_NAME);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let file: GateFile =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((!file.repos.is_empty()).then_some(file))
}

/// A file written whole (temp file + rename) with this mode.
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Gate {
    /// Prepares the repositories (created once, their configuration and
    /// hook set on every start).
    pub async fn new(file: GateFile, paths: Paths) -> anyhow::Result<Gate> {
        use std::os::unix::fs::DirBuilderExt;
        for d in [
            &paths.scratch,
            &paths.scratch.join("home"),
            &paths.root.join(".hooks"),
        ] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)?;
        }
        let exe = std::env::current_exe()?;
        write_file(
            &paths.root.join(".hooks").join("pre-receive"),
            format!("#!/bin/sh\nexec '{}' sidecar-gitgate-hook\n", exe.display()).as_bytes(),
            0o700,
        )?;
        let hooks = paths.root.join(".hooks").display().to_string();
        let mut repos = HashMap::new();
        for repo in file.repos {
            let dir = paths.repo(&repo.name);
            let dir_s = dir.display().to_string();
            if !dir.join("HEAD").exists() {
                upstream::git(
                    &paths,
                    &[],
                    &["init", "--bare", "--quiet", &dir_s],
                    upstream::UPSTREAM_TIMEOUT,
                )
                .await
                .map_err(|e| {
                    anyhow::anyhow!("creating the gate's repository `{}`: {e}", repo.name)
                })?;
            }
            let settings: &[(&str, &str)] = &[
                ("http.receivepack", "true"),
                ("http.uploadpack", "true"),
                ("http.getanyfile", "false"),
                ("receive.fsckObjects", "true"),
                ("receive.fsck.nulInCommit", "error"),
                ("receive.denyDeletes", "true"),
                ("receive.denyNonFastForwards", "true"),
                ("receive.shallowUpdate", "false"),
                ("receive.advertisePushOptions", "false"),
                ("receive.maxInputSize", MAX_PUSH),
                ("receive.autogc", "false"),
                ("gc.auto", "0"),
                ("core.hooksPath", &hooks),
                ("core.logAllRefUpdates", "false"),
                ("uploadpack.allowAnySHA1InWant", "false"),
                // The sidecar's memory is small (256 MiB): git's caches
                // and pack windows stay well inside it.
                ("core.deltaBaseCacheLimit", "32m"),
                ("core.bigFileThreshold", "64m"),
                ("pack.threads", "1"),
                ("pack.windowMemory", "64m"),
                ("pack.deltaCacheSize", "32m"),
            ];
            for (k, v) in settings {
                upstream::git(
                    &paths,
                    &[],
                    &["--git-dir", &dir_s, "config", k, v],
                    upstream::UPSTREAM_TIMEOUT,
                )
                .await
                .map_err(|e| {
                    anyhow::anyhow!("configuring the gate's repository `{}`: {e}", repo.name)
                })?;
            }
            repos.insert(
                repo.name.clone(),
                (repo, Arc::new(tokio::sync::Mutex::new(()))),
            );
        }
        Ok(Gate {
            paths,
            repos,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT)),
        })
    }

    pub fn names(&self) -> Vec<&str> {
        let mut n: Vec<&str> = self.repos.keys().map(String::as_str).collect();
        n.sort();
        n
    }
}

/// Serves the gate on `listener` until it fails.
pub async fn serve(listener: tokio::net::TcpListener, gate: Arc<Gate>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let gate = gate.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| http::handle(req, gate.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
