//! Probing a runtime before bottles are put on it (SPEC §4.8, issue 18
//! G14): gVisor (`runsc`) is chosen automatically only after it passed a
//! probe — a throwaway container from the sidecar image (a Debian base and
//! the `bottle` executable) that runs `stat /`, `ls -la /`, writes and reads
//! a file, and makes a TCP round trip on its loopback
//! (`bottle debug probe-socket`), with no network, no capabilities and
//! `no-new-privileges`. Debian's packaged runsc (2022) fails the first
//! step: its `statx` answers EINVAL.
//!
//! Verdicts are cached in `$BOTTLE_HOME/cache/runtime-probes.json`, keyed
//! by the engine (its ID and version), the runtime (name, path and
//! arguments as the engine reports them) and the probe's own version, for
//! a week; `bottle doctor` probes afresh and refreshes the cache.

use super::{timed, EngineError, CALL_TIMEOUT};
use crate::state::names;
use bollard::Docker;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Bumped when the probe's steps change (old verdicts no longer count).
const PROBE_VERSION: u32 = 1;

/// How long a cached verdict is trusted.
const CACHE_FOR: time::Duration = time::Duration::days(7);

/// What the probe concluded: `Ok` when every step passed, or the step
/// that failed and what it printed.
pub type Verdict = Result<(), String>;

const SCRIPT: &str = r#"set -u
fail() { echo "$1: $2"; exit 1; }
out=$(stat / 2>&1) || fail "stat /" "$out"
out=$(ls -la / 2>&1) || fail "ls -la /" "$out"
echo bottle-probe > /tmp/bottle-probe || fail "writing a file" "in /tmp"
[ "$(cat /tmp/bottle-probe)" = bottle-probe ] || fail "reading a file" "in /tmp"
out=$(/usr/local/bin/bottle debug probe-socket 2>&1) || fail "a TCP round trip on loopback" "$out"
echo probe-ok
"#;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    probes: BTreeMap<String, Cached>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Cached {
    ok: bool,
    detail: String,
    /// RFC 3339.
    at: String,
}

fn cache_path(home: &Path) -> PathBuf {
    home.join("cache").join("runtime-probes.json")
}

/// The cache key of `runtime` on this engine.
async fn key(docker: &Docker, runtime: &str) -> Result<String, EngineError> {
    let info = timed(docker.info()).await?;
    let version = timed(docker.version()).await?;
    let rt = info
        .runtimes
        .as_ref()
        .and_then(|r| r.get(runtime))
        .map(|r| {
            format!(
                "{}|{}",
                r.path.clone().unwrap_or_default(),
                r.runtime_args.clone().unwrap_or_default().join(" ")
            )
        })
        .unwrap_or_default();
    Ok(format!(
        "{}|{}|{runtime}|{rt}|v{PROBE_VERSION}",
        info.id.unwrap_or_default(),
        version.version.unwrap_or_default()
    ))
}

fn read_cache(home: &Path) -> CacheFile {
    std::fs::read(cache_path(home))
        .ok()
        .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
        .filter(|c| c.version == 1)
        .unwrap_or(CacheFile {
            version: 1,
            probes: BTreeMap::new(),
        })
}

fn write_cache(home: &Path, key: &str, verdict: &Verdict) {
    let mut cache = read_cache(home);
    cache.probes.insert(
        key.to_string(),
        Cached {
            ok: verdict.is_ok(),
            detail: verdict.clone().err().unwrap_or_default(),
            at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        },
    );
    let path = cache_path(home);
    let written = crate::state::create_private_dir(&home.join("cache")).and_then(|_| {
        crate::state::write_atomic(
            &path,
            serde_json::to_string_pretty(&cache)
                .unwrap_or_default()
                .as_bytes(),
            0o600,
        )
    });
    if let Err(e) = written {
        tracing::warn!("writing {}: {e}", path.display());
    }
}

/// The verdict for `runtime`. With `cached`, a fresh cached verdict is
/// taken when there is one (launch); without, the probe runs now (doctor).
/// A probe run (building the sidecar image first when it is missing)
/// records its verdict.
pub async fn verdict(
    docker: &Docker,
    home: &Path,
    home_hash: &str,
    runtime: &str,
    sidecar: (&str, &Path, &str),
    cached: bool,
) -> Verdict {
    let key = match key(docker, runtime).await {
        Ok(k) => k,
        Err(e) => return Err(format!("could not ask the engine about {runtime}: {e}")),
    };
    if let Some(c) = read_cache(home).probes.get(&key).filter(|_| cached) {
        let fresh =
            time::OffsetDateTime::parse(&c.at, &time::format_description::well_known::Rfc3339)
                .is_ok_and(|at| time::OffsetDateTime::now_utc() - at < CACHE_FOR);
        if fresh {
            return if c.ok { Ok(()) } else { Err(c.detail.clone()) };
        }
    }
    let verdict = probe(docker, home_hash, runtime, sidecar).await;
    write_cache(home, &key, &verdict);
    verdict
}

/// `sidecar`: (image tag, the `bottle` executable's path, backend name) —
/// the image is built from them when it is not present.
async fn probe(
    docker: &Docker,
    home_hash: &str,
    runtime: &str,
    (image, bin_path, backend): (&str, &Path, &str),
) -> Verdict {
    if timed(docker.inspect_image(image)).await.is_err() {
        let bottle_bin = std::fs::read(bin_path)
            .map_err(|e| format!("could not read {}: {e}", bin_path.display()))?;
        let bottle_bin = bottle_bin.as_slice();
        let mut quiet = |_: &str| {};
        super::build::build_sidecar(docker, bottle_bin, image, backend, false, &mut quiet)
            .await
            .map_err(|e| format!("could not build the probe's image: {e}"))?;
    }
    run(docker, home_hash, runtime, image)
        .await
        .map_err(|e| format!("the probe container could not run: {e}"))?
}

async fn run(
    docker: &Docker,
    home_hash: &str,
    runtime: &str,
    image: &str,
) -> Result<Verdict, EngineError> {
    use bollard::models::{ContainerCreateBody, HostConfig};
    use bollard::query_parameters::{
        CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
        WaitContainerOptionsBuilder,
    };
    use futures_util::StreamExt;
    let name = format!(
        "bottle-probe-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let body = ContainerCreateBody {
        image: Some(image.into()),
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into(), SCRIPT.into()]),
        cmd: Some(Vec::new()),
        user: Some("1000:1000".into()),
        network_disabled: Some(true),
        labels: Some(HashMap::from([
            (names::LABEL_ROLE.to_string(), "probe".to_string()),
            (names::LABEL_HOME.to_string(), home_hash.to_string()),
        ])),
        host_config: Some(HostConfig {
            runtime: Some(runtime.into()),
            network_mode: Some("none".into()),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    timed(docker.create_container(Some(options), body)).await?;
    let result = async {
        timed(docker.start_container(&name, None)).await?;
        let wait = WaitContainerOptionsBuilder::default().build();
        let mut waiting = docker.wait_container(&name, Some(wait));
        let next = tokio::time::timeout(CALL_TIMEOUT, waiting.next())
            .await
            .map_err(|_| EngineError::Timeout(CALL_TIMEOUT))?;
        let code = match next {
            Some(Ok(w)) => w.status_code,
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(EngineError::from(e)),
            None => -1,
        };
        let logs = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut out = String::new();
        let mut stream = docker.logs(&name, Some(logs));
        while let Ok(Some(Ok(chunk))) = tokio::time::timeout(CALL_TIMEOUT, stream.next()).await {
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(if code == 0 && out.contains("probe-ok") {
            Ok(())
        } else {
            let said = out.trim();
            Err(if said.is_empty() {
                format!("the probe exited {code}")
            } else {
                crate::sanitize::inline(&said.chars().take(300).collect::<String>())
            })
        })
    }
    .await;
    let rm = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    let _ = timed(docker.remove_container(&name, Some(rm))).await;
    result
}

pub use crate::backends::socket_round_trip;
