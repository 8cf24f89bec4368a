//! `bottle start` and `bottle resume`: the preflight on the terminal,
//! `?` values asked there, y/N, then the launch (`launcher`) and an attach.

use super::definitions::Context;
use super::StartArgs;
use crate::backends::plan::Plan;
use crate::secret::Secret;
use crate::state::names::Slug;
use anyhow::{bail, Result};
use std::io::Read;

pub use crate::launcher::{sha256_file, sidecar_binary};

pub fn start(ctx: &Context, args: &StartArgs) -> Result<i32> {
    let defs = ctx.load()?;
    let mut prepared = crate::launcher::prepare(
        &ctx.home,
        &defs,
        &ctx.workspace,
        &crate::launcher::Options {
            agent: args.agent.clone(),
            runtime: args.runtime.clone(),
            no_workspace: args.no_workspace,
            force: args.force,
            engine_host: Some(crate::backends::choose(args.backend.as_deref())?),
            task: args.task.clone(),
            copy_secret_files: args.copy_secret_files,
        },
    )?;
    allow_unverified(&mut prepared, args.allow_unverified);
    if args.dry_run {
        print!("{}", prepared.preflight);
        return Ok(0);
    }
    eprint!("{}", prepared.preflight);
    let how = How {
        yes: args.yes,
        detach: args.detach,
        allow_unverified: args.allow_unverified,
    };
    run_launch(ctx, &prepared, how)
}

/// How a confirmed plan is launched.
pub struct How {
    pub yes: bool,
    pub detach: bool,
    pub allow_unverified: bool,
}

/// `--allow-unverified`: recorded in the plan and said in the preflight
/// the operator confirms.
fn allow_unverified(p: &mut crate::launcher::Prepared, allow: bool) {
    if allow {
        p.allow_unverified = true;
        p.preflight.push_str(
            "isolation  NOT ENFORCED: the bottle runs even if its isolation self-check fails (--allow-unverified)\n",
        );
    }
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
    crate::launcher::launch(&ctx.home, prepared, session_env, &mut progress)?;
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
pub fn resume(ctx: &Context, slug_text: &str, how: How) -> Result<i32> {
    let slug = Slug::parse(slug_text)?;
    let defs = ctx.load()?;
    let mut prepared = crate::launcher::prepare_resume(&ctx.home, &defs, &slug)?;
    allow_unverified(&mut prepared, how.allow_unverified);
    eprint!("{}", prepared.preflight);
    run_launch(ctx, &prepared, how)
}

#[cfg(test)]
mod tests {
    use crate::launcher::preflight_diff;

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
