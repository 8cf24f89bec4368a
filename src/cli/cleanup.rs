//! `bottle cleanup [-y] [--all] [--all-homes]` (SPEC §6). Removes engine
//! objects whose state directory is gone, and state directories with no
//! engine objects; `--all` also removes stopped bottles. Pinned bottles
//! (`state/<slug>/.preserve`) are always kept. It lists what it will remove
//! first. Other homes' state cannot be seen (only their label hash), so with
//! `--all-homes` their bottles are removed only together with `--all`.

use super::definitions::Context;
use crate::backends::{self, BottleObjects};
use anyhow::{bail, Result};
use std::collections::BTreeSet;
use std::io::IsTerminal;

enum Removal {
    /// The objects, on the engine at this host.
    Engine(BottleObjects, String, &'static str, bool),
    State(String),
}

pub fn cleanup(ctx: &Context, yes: bool, all: bool, all_homes: bool) -> Result<i32> {
    let hash = ctx.home.label_hash();
    // Every engine that answers: a bottle on Podman is not an orphan
    // because the default engine does not know it.
    let engines = backends::discover();
    if engines.is_empty() {
        backends::check_default()?;
    }
    let mut objects: Vec<(BottleObjects, String)> = Vec::new();
    for (e, b) in &engines {
        for o in b.objects(if all_homes { None } else { Some(&hash) })? {
            objects.push((o, e.host.clone()));
        }
    }
    let answering: BTreeSet<String> = engines.iter().map(|(e, _)| e.host.clone()).collect();
    let state_root = ctx.home.root.join("state");
    let states: BTreeSet<String> = std::fs::read_dir(&state_root)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let pinned = |slug: &str| state_root.join(slug).join(".preserve").exists();
    let mut plan = Vec::new();
    for (o, host) in &objects {
        if o.home != hash {
            if all {
                plan.push(Removal::Engine(
                    o.clone(),
                    host.clone(),
                    "another home's bottle (--all --all-homes)",
                    false,
                ));
            }
        } else if !states.contains(&o.slug) {
            plan.push(Removal::Engine(
                o.clone(),
                host.clone(),
                "its state directory is gone",
                false,
            ));
        } else if all && !pinned(&o.slug) {
            plan.push(Removal::Engine(o.clone(), host.clone(), "--all", true));
        }
    }
    let with_objects: BTreeSet<&str> = objects
        .iter()
        .filter(|(o, _)| o.home == hash)
        .map(|(o, _)| o.slug.as_str())
        .collect();
    for slug in &states {
        if with_objects.contains(slug.as_str()) || pinned(slug) {
            continue;
        }
        // Its engine does not answer now: its objects may well exist.
        let host = backends::host_of(&state_root.join(slug));
        if !answering.contains(&host) {
            eprintln!("bottle: keeping {slug}: its engine ({host}) does not answer");
            continue;
        }
        plan.push(Removal::State(slug.clone()));
    }
    if plan.is_empty() {
        eprintln!("bottle: nothing to clean up");
        return Ok(0);
    }
    for r in &plan {
        match r {
            Removal::Engine(o, _, why, state) => println!(
                "remove {}: {} container(s), {} network(s), {} volume(s){} — {why}",
                o.slug,
                o.containers.len(),
                o.networks.len(),
                o.volumes.len(),
                if *state { " and its state" } else { "" }
            ),
            Removal::State(slug) => {
                println!("remove {slug}: state directory with no engine objects")
            }
        }
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!("not a terminal: pass -y to remove the above");
        }
        eprint!("Remove these? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("nothing removed");
        }
    }
    for r in &plan {
        match r {
            Removal::Engine(o, host, why, state) => {
                backends::connect(host).remove_objects(o)?;
                if *state {
                    remove_state(&ctx.home, &o.slug)?;
                }
                tracing::info!(
                    event = "cleanup",
                    slug = %crate::sanitize::inline(&o.slug),
                    engine = %host,
                    containers = o.containers.len(),
                    networks = o.networks.len(),
                    volumes = o.volumes.len(),
                    state = *state,
                    reason = *why);
            }
            Removal::State(slug) => {
                remove_state(&ctx.home, slug)?;
                tracing::info!(
                    event = "cleanup",
                    slug = %crate::sanitize::inline(slug),
                    state = true,
                    reason = "a state directory with no engine objects");
            }
        }
    }
    eprintln!("bottle: removed {} item(s)", plan.len());
    Ok(0)
}

/// A bottle's state directory and its queue (the audit log stays).
fn remove_state(home: &crate::state::Home, slug: &str) -> Result<()> {
    std::fs::remove_dir_all(home.state_dir(slug))?;
    let queue = home.queue_dir().join(slug);
    if queue.exists() {
        std::fs::remove_dir_all(queue)?;
    }
    Ok(())
}
