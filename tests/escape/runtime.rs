//! The runtime a bottle gets (issue 18 G14, SPEC §4.8): gVisor only after
//! it passed the runtime probe; a default bottle on this machine runs
//! `ls -la`; the preflight says which runtime and why; forcing a failing
//! runsc warns. Run from the host against the real engines.

use crate::fixture::{both, cached, ensure, Bottle, Outcome, Registry};
use crate::support::Engine;
use std::sync::Arc;

pub fn register(reg: &mut Registry) {
    reg.host(
        "runtime",
        "a_default_docker_bottle_runs_ls_la_and_stat",
        || default_bottle_runs_ls_la(&Engine::default_docker()),
    );
    reg.host(
        "runtime",
        "a_default_podman_bottle_runs_ls_la_and_stat",
        || match crate::fixture::target("podman") {
            Some(e) => default_bottle_runs_ls_la(&e),
            None => Ok(()),
        },
    );
    reg.host(
        "runtime",
        "the_preflight_names_the_runtime_and_why",
        preflight_says_why,
    );
    reg.host(
        "runtime",
        "forcing_a_runsc_that_fails_its_probe_warns",
        forced_runsc_warns,
    );
    reg.host(
        "runtime",
        "the_probe_verdict_is_cached_per_engine_and_runtime",
        probe_is_cached,
    );
}

/// A bottle started with the engine's and bottle's defaults (no
/// `--runtime`).
fn default_bottle(e: &Engine) -> Arc<Bottle> {
    cached(&format!("runtime/default/{}", e.name), || {
        Bottle::start(e, "shell", |_, _| {})
    })
}

fn default_bottle_runs_ls_la(e: &Engine) -> Outcome {
    let b = default_bottle(e);
    let (code, out) = b.sh("ls -la / >/dev/null && stat / >/dev/null && echo fine");
    ensure(code == 0 && out.contains("fine"), || {
        format!("ls -la / or stat / failed in a default bottle ({code}): {out}")
    })
}

fn dry_run(e: &Engine, runtime: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let mut args = vec!["start", "shell", "--dry-run", "--no-workspace"];
    if let Some(rt) = runtime {
        args.extend(["--runtime", rt]);
    }
    both(&e.bottle(&home, None, &args))
}

fn runsc_offered() -> bool {
    crate::support::engine_runtimes()
        .split_whitespace()
        .any(|r| r == "runsc")
}

fn preflight_says_why() -> Outcome {
    let out = dry_run(&Engine::default_docker(), None);
    let line = out
        .lines()
        .find(|l| l.starts_with("runtime"))
        .ok_or_else(|| format!("no runtime line: {out}"))?
        .to_string();
    let explained = if !runsc_offered() {
        line.contains("offers no gVisor")
    } else {
        line.contains("runsc  (gVisor: offered by the engine, and it passed the runtime probe")
            || (line.contains("runc  (runc: the engine's runsc fails the runtime probe (")
                && line.contains("install a current gVisor"))
    };
    ensure(explained, || {
        format!("the runtime line does not say why: {line}")
    })
}

fn probe_fails() -> Option<bool> {
    if !runsc_offered() {
        return None;
    }
    let out = dry_run(&Engine::default_docker(), None);
    Some(out.contains("runsc fails the runtime probe"))
}

fn forced_runsc_warns() -> Outcome {
    let Some(fails) = probe_fails() else {
        return Ok(());
    };
    let out = dry_run(&Engine::default_docker(), Some("runsc"));
    let line = out
        .lines()
        .find(|l| l.starts_with("runtime"))
        .unwrap_or_default()
        .to_string();
    ensure(line.starts_with("runtime    runsc"), || {
        format!("not runsc: {out}")
    })?;
    ensure(
        line.contains("WARNING: this runsc fails the runtime probe") == fails,
        || format!("the warning does not match the probe (fails: {fails}): {line}"),
    )
}

fn probe_is_cached() -> Outcome {
    if !runsc_offered() {
        return Ok(());
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let e = Engine::default_docker();
    let first = both(&e.bottle(
        &home,
        None,
        &["start", "shell", "--dry-run", "--no-workspace"],
    ));
    let cache = home.join("cache/runtime-probes.json");
    let text = std::fs::read_to_string(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let probes = v["probes"].as_object().ok_or("no probes")?;
    ensure(
        probes.len() == 1 && probes.keys().all(|k| k.contains("|runsc|")),
        || format!("one verdict keyed by engine and runtime: {text}"),
    )?;
    // A second launch reads the cache: a verdict planted in it (a failure
    // naming a marker) is what the second preflight reports.
    let marker = format!("planted-verdict-{}", std::process::id());
    let mut planted = v.clone();
    for (_, c) in planted["probes"].as_object_mut().ok_or("no probes")? {
        c["ok"] = serde_json::Value::Bool(false);
        c["detail"] = serde_json::Value::String(marker.clone());
    }
    std::fs::write(&cache, planted.to_string()).map_err(|e| e.to_string())?;
    let second = both(&e.bottle(
        &home,
        None,
        &["start", "shell", "--dry-run", "--no-workspace"],
    ));
    let runtime_line = second
        .lines()
        .find(|l| l.starts_with("runtime"))
        .unwrap_or_default();
    ensure(runtime_line.contains(&marker), || {
        format!("the second launch did not take the cached verdict ({marker}): {first} / {second}")
    })?;
    // The probe's container is gone (only this home's are looked at: other
    // trials probe in their own homes at the same time).
    let label = format!(
        "label=dev.bottle.home={}",
        bottle::state::Home { root: home.clone() }.label_hash()
    );
    let left = e.cli(&[
        "ps",
        "-a",
        "--filter",
        "label=dev.bottle.role=probe",
        "--filter",
        &label,
        "-q",
    ]);
    ensure(left.trim().is_empty(), || {
        format!("probe containers were left: {left}")
    })
}
