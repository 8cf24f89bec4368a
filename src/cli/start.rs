//! `bottle start`: resolve the plan and show the preflight. `--dry-run`
//! stops there; launching lands with the Docker backend.

use super::definitions::Context;
use super::StartArgs;
use crate::backends::docker;
use crate::backends::names::Slug;
use crate::backends::plan::{prepare, Plan, PrepareInput};
use crate::backends::preflight;
use crate::secret::Secret;
use anyhow::{bail, Context as _, Result};
use std::io::Read;
use std::path::PathBuf;

pub use crate::launcher::{sha256_file, sidecar_binary};

pub fn start(ctx: &Context, args: &StartArgs) -> Result<i32> {
    let defs = ctx.load()?;
    let prepared = crate::launcher::prepare(
        &ctx.home,
        &defs,
        &ctx.workspace,
        &crate::launcher::Options {
            agent: args.agent.clone(),
            runtime: args.runtime.clone(),
            no_workspace: args.no_workspace,
            force: args.force,
            engine_host: Some(
                runtime()?.block_on(docker::engines::choose(args.backend.as_deref()))?,
            ),
            task: args.task.clone(),
        },
    )?;
    if args.dry_run {
        print!("{}", prepared.preflight);
        return Ok(0);
    }
    eprint!("{}", prepared.preflight);
    let how = How {
        yes: args.yes,
        detach: args.detach,
        resume: false,
    };
    run_launch(ctx, &prepared, how)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    super::bottles::runtime()
}

/// How a confirmed plan is launched.
pub struct How {
    pub yes: bool,
    pub detach: bool,
    /// Volumes and state exist already and must survive a failed launch.
    pub resume: bool,
}

/// Confirms, launches, records metadata, then attaches or prints the slug.
pub fn run_launch(ctx: &Context, prepared: &crate::launcher::Prepared, how: How) -> Result<i32> {
    if !how.detach && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("not a terminal: use --detach to leave the agent running in the background");
    }
    crate::launcher::check_local_engine(&prepared.engine_host)?;
    confirm(how.yes)?;
    let plan = &prepared.plan;
    let session_env = session_env(plan)?;
    let mut progress = |line: &str| eprintln!("  {}", crate::sanitize::inline(line));
    crate::launcher::launch(&ctx.home, prepared, session_env, how.resume, &mut progress)?;
    if how.detach {
        println!("{}", plan.slug);
        return Ok(0);
    }
    eprintln!("bottle: {} is running; Ctrl-b d detaches", plan.slug);
    super::bottles::attach_terminal(ctx, &plan.slug)
}

/// The `?` and `${}` values of the definition's env (SPEC §3.1), for the
/// session's environment only. A `?` value is asked on the terminal
/// (not echoed); without one it comes from `BOTTLE_ANSWER_<NAME>` or a
/// `NAME=value` line on stdin. A `${VAR}` value is copied from this
/// environment. Anything missing fails the launch, naming the variable.
pub fn session_env(plan: &Plan) -> Result<Vec<(String, Secret)>> {
    use std::io::IsTerminal;
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mut stdin_answers: Option<std::collections::BTreeMap<String, String>> = None;
    let mut answers = Vec::new();
    for (name, message) in crate::launcher::prompts(plan) {
        let value = if terminal {
            ask_hidden(&format!("{message} ({name}): "))?
        } else if let Ok(v) = std::env::var(format!("BOTTLE_ANSWER_{name}")) {
            v
        } else {
            let given = stdin_answers.get_or_insert_with(read_stdin_answers);
            match given.get(&name) {
                Some(v) => v.clone(),
                None => bail!(
                    "{name} is asked at launch (\"{message}\") and there is no terminal: set BOTTLE_ANSWER_{name} or give `{name}=value` on stdin"
                ),
            }
        };
        answers.push((name, Secret::new(value)));
    }
    crate::launcher::session_env(plan, &answers)
}

/// `NAME=value` lines on stdin (read once, to the end).
fn read_stdin_answers() -> std::collections::BTreeMap<String, String> {
    let mut text = String::new();
    let _ = std::io::stdin().read_to_string(&mut text);
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

/// Reads one line from the terminal with echo off.
fn ask_hidden(prompt: &str) -> Result<String> {
    use std::io::{BufRead, Write};
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    // SAFETY: tcgetattr/tcsetattr on fd 0 (a terminal, checked by the
    // caller) with valid pointers; the settings are restored below.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            bail!("reading the terminal's settings failed");
        }
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        t.c_lflag |= libc::ECHONL;
        libc::tcsetattr(0, libc::TCSANOW, &t);
        saved
    };
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restoring what was read above.
    unsafe {
        libc::tcsetattr(0, libc::TCSANOW, &saved);
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn confirm(yes: bool) -> Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("not a terminal: pass -y to launch without the y/N confirmation");
    }
    eprint!("Launch? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("not launched")
    }
}

/// `bottle resume <slug>`: same slug, volumes and state; definitions
/// re-resolved; the preflight shows what changed since the last launch.
pub fn resume(ctx: &Context, slug_text: &str, yes: bool, detach: bool) -> Result<i32> {
    let slug = Slug::parse(slug_text)?;
    let meta_path = ctx.home.state_dir(slug.as_str()).join("metadata.json");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).with_context(|| {
            format!(
                "no stopped bottle `{slug}` (reading {})",
                meta_path.display()
            )
        })?)
        .with_context(|| format!("{}: invalid metadata", meta_path.display()))?;
    let agent = meta["agent"]
        .as_str()
        .context("metadata.json has no agent")?
        .to_string();
    let hash = ctx.home.label_hash();
    let runtime = super::bottles::runtime()?;
    let engine_host = docker::engines::host_of(&ctx.home.state_dir(slug.as_str()));
    let (engine, present) = runtime.block_on(async {
        let d = docker::engines::connect_host(&engine_host).await?;
        let present = docker::bottle_objects(&d, Some(&hash))
            .await?
            .into_iter()
            .find(|o| o.slug == slug.as_str());
        Ok::<_, docker::EngineError>((docker::engine_facts(&d).await?, present))
    })?;
    if present.as_ref().is_some_and(|o| !o.containers.is_empty()) {
        bail!("`{slug}` is not stopped: `bottle attach {slug}`, or `bottle stop {slug}` first");
    }
    if present.as_ref().is_none_or(|o| o.volumes.is_empty()) {
        bail!("`{slug}` has no volumes left to resume (it was removed); start a new bottle");
    }
    let defs = ctx.load()?;
    // The runtime of the last launch, unless it is what the engine would
    // pick anyway (then the preflight says so, as it did then).
    let last_runtime = meta["runtime"].as_str().map(String::from);
    let sha = sha256_file(&sidecar_binary()?)?;
    let plan_with = |runtime_override: Option<String>| {
        prepare(PrepareInput {
            defs: &defs,
            agent: &agent,
            slug: slug.clone(),
            home_hash: hash.clone(),
            engine: engine.clone(),
            workspace: None,
            runtime_override,
            host: &crate::manifest::RealHost,
            bottle_sha256: sha.clone(),
        })
    };
    let mut plan = plan_with(None)?;
    if last_runtime
        .as_ref()
        .is_some_and(|r| *r != plan.runtime.name)
    {
        plan = plan_with(last_runtime)?;
    }
    let text = preflight::render(&plan).replace(
        "workspace  not copied",
        "workspace  kept in the work volume",
    );
    eprint!("{text}");
    let old = meta["preflight"].as_str().unwrap_or_default().replace(
        "workspace  not copied",
        "workspace  kept in the work volume",
    );
    let diff = preflight_diff(&old, &text);
    if diff.is_empty() {
        eprintln!("(no changes since the last launch)");
    } else {
        eprintln!("changes since the last launch:\n{diff}");
    }
    let host_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let prepared = crate::launcher::Prepared {
        plan,
        preflight: text,
        copy_list: None,
        host_home,
        engine_host,
        task: None,
    };
    run_launch(
        ctx,
        &prepared,
        How {
            yes,
            detach,
            resume: true,
        },
    )
}

/// Lines only in the old preflight (`-`) and only in the new one (`+`),
/// ignoring the workspace line (a resume never copies again).
pub fn preflight_diff(old: &str, new: &str) -> String {
    // Whether an image was built or present, or why a runtime was chosen,
    // is not a change of the bottle.
    let norm = |l: &str| -> String {
        if l.starts_with("image") || l.starts_with("sidecar") || l.starts_with("runtime") {
            l.split("  (").next().unwrap_or(l).to_string()
        } else {
            l.to_string()
        }
    };
    let keep = |l: &&str| !l.starts_with("workspace");
    let old_lines: Vec<String> = old.lines().filter(keep).map(norm).collect();
    let new_lines: Vec<String> = new.lines().filter(keep).map(norm).collect();
    let mut out = String::new();
    for l in old_lines.iter().filter(|l| !new_lines.contains(l)) {
        out.push_str(&format!("  - {l}\n"));
    }
    for l in new_lines.iter().filter(|l| !old_lines.contains(l)) {
        out.push_str(&format!("  + {l}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::preflight_diff;

    #[test]
    fn the_resume_diff_shows_real_changes_only() {
        let old = "agent      a\nimage      x:1  (will be built)\negress     api.github.com\nworkspace  /w → /workspace: 3 files\n";
        let new = "agent      a\nimage      x:1  (present)\negress     api.github.com  methods GET\nworkspace  kept in the work volume\n";
        assert_eq!(
            preflight_diff(old, new),
            "  - egress     api.github.com\n  + egress     api.github.com  methods GET\n"
        );
        assert_eq!(preflight_diff(old, old), "");
    }
}
