//! Commands on running bottles through their backend: the launch part
//! of `start`, `exec`, `stop` and `rm`.

use super::definitions::Context;
use crate::backends::{self, AttachEnd, BackendError, LogRequest, LogSource, Stream};
use crate::state::names::Slug;
use anyhow::{bail, Context as _, Result};
use std::io::Write;

fn slug(text: &str) -> Result<Slug> {
    Ok(Slug::parse(text)?)
}

/// `bottle exec <slug> [--user U] -- cmd…`: output relayed, exit code returned.
pub fn exec(
    home: &crate::state::Home,
    slug_text: &str,
    user: Option<&str>,
    cmd: &[String],
) -> Result<i32> {
    use crate::session::filter::OutputFilter;
    use std::io::IsTerminal;
    let slug = slug(slug_text)?;
    // Input that is not a terminal (a pipe, a file) goes to the command,
    // as with `docker exec -i`.
    let stdin: Option<Box<dyn std::io::Read + Send>> =
        (!std::io::stdin().is_terminal()).then(|| Box::new(std::io::stdin()) as _);
    // Output bound for a terminal passes the pane rules (SPEC §4.9); into
    // a pipe or a file it is data and stays exact.
    let mut to_out = std::io::stdout().is_terminal().then(OutputFilter::default);
    let mut to_err = std::io::stderr().is_terminal().then(OutputFilter::default);
    let pass = |f: &mut Option<OutputFilter>, b: &[u8]| match f {
        Some(f) => f.feed(b),
        None => b.to_vec(),
    };
    let code = backends::for_bottle(home, slug.as_str()).exec(
        &slug,
        user,
        cmd,
        stdin,
        &mut |stream, chunk| match stream {
            Stream::Stderr => std::io::stderr().write_all(&pass(&mut to_err, chunk)),
            Stream::Stdout => std::io::stdout().write_all(&pass(&mut to_out, chunk)),
        },
    )?;
    std::io::stdout().flush()?;
    Ok(i32::try_from(code).unwrap_or(1))
}

/// `bottle fetch <slug>`: the agent's pushes into the workspace's
/// repository; one line per ref that landed or moved (stdout), a note
/// when none did (stderr).
pub fn fetch(home: &crate::state::Home, slug_text: &str) -> Result<i32> {
    let slug = slug(slug_text)?;
    let landed = crate::control::fetch::fetch_pushes(home, &slug)?;
    let mut out = std::io::stdout().lock();
    for l in &landed {
        writeln!(out, "{}", l.line())?;
    }
    if landed.is_empty() {
        eprintln!("bottle: nothing new from {slug}");
    }
    Ok(0)
}

/// `bottle stop`: containers and networks go; volumes and state stay.
pub fn stop(ctx: &Context, slug_text: &str) -> Result<i32> {
    let slug = slug(slug_text)?;
    if !ctx.home.state_dir(slug.as_str()).exists() {
        bail!("no bottle `{slug}` in {}", ctx.home.root.display());
    }
    backends::for_bottle(&ctx.home, slug.as_str()).stop(&slug)?;
    eprintln!(
        "bottle: stopped {slug}; its volumes and state are kept (`bottle rm {slug}` removes them)"
    );
    Ok(0)
}

/// `bottle rm`: everything of the bottle, engine objects and state.
pub fn rm(ctx: &Context, slug_text: &str) -> Result<i32> {
    let slug = slug(slug_text)?;
    let hash = ctx.home.label_hash();
    backends::for_bottle(&ctx.home, slug.as_str()).remove(&slug, &hash)?;
    // Its state and its queue (undecided requests die with it); the audit
    // log stays.
    for dir in [
        ctx.home.state_dir(slug.as_str()),
        ctx.home.queue_dir().join(slug.as_str()),
    ] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    eprintln!("bottle: removed {slug}");
    Ok(0)
}

/// Attaches this terminal to a bottle's agent until it exits or the
/// operator detaches (Ctrl-b d).
pub fn attach_terminal(ctx: &Context, slug: &Slug) -> Result<i32> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!("not a terminal: `bottle attach {slug}` needs one (the bottle keeps running)");
    }
    let backend = backends::for_bottle(&ctx.home, slug.as_str());
    let end = {
        let _raw = crate::tty::RawGuard::enter().map_err(|e| anyhow::anyhow!("raw mode: {e}"))?;
        backend.attach_terminal(slug, crate::tty::size)?
    };
    match end {
        AttachEnd::Detached => {
            eprintln!("\r\nbottle: detached from {slug}; it keeps running (`bottle attach {slug}` re-attaches)");
            Ok(0)
        }
        AttachEnd::Exited(code) => {
            record_exit(ctx, slug, code)?;
            eprintln!("\r\nbottle: the agent in {slug} exited with status {code}");
            Ok(i32::try_from(code).unwrap_or(1))
        }
    }
}

pub fn attach(ctx: &Context, slug_text: &str) -> Result<i32> {
    attach_terminal(ctx, &slug(slug_text)?)
}

/// Adds the agent's exit status to metadata.json.
pub fn record_exit(ctx: &Context, slug: &Slug, code: i64) -> Result<()> {
    let dir = ctx.home.state_dir(slug.as_str());
    let Some(mut meta) = crate::state::record::BottleRecord::read(&dir) else {
        return Ok(());
    };
    meta.exit_status = Some(code);
    meta.exited_at = Some(
        time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    );
    meta.save(&dir)
}

/// `bottle shell <slug>`: a plain login shell in the agent container.
pub fn shell(home: &crate::state::Home, slug_text: &str) -> Result<i32> {
    use std::io::IsTerminal;
    let slug = slug(slug_text)?;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!("not a terminal: use `bottle exec {slug} -- CMD` without one");
    }
    let cmd = vec![
        "/bin/sh".into(),
        "-c".into(),
        "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi".into(),
    ];
    let backend = backends::for_bottle(home, slug.as_str());
    let code = {
        let _raw = crate::tty::RawGuard::enter().map_err(|e| anyhow::anyhow!("raw mode: {e}"))?;
        backend.exec_terminal(&slug, cmd, crate::tty::size)?
    };
    Ok(i32::try_from(code).unwrap_or(1))
}

/// `bottle logs <slug> [--sidecar] [--follow]`: the agent container's
/// output (launch and session), or the sidecar's decision log, sanitized
/// line by line (newlines kept, every other control escaped).
pub fn logs(
    home: &crate::state::Home,
    slug_text: &str,
    sidecar: bool,
    follow: bool,
) -> Result<i32> {
    let slug = slug(slug_text)?;
    let request = LogRequest {
        source: if sidecar {
            LogSource::Sidecar
        } else {
            LogSource::Agent
        },
        follow,
        tail: None,
    };
    let mut out = std::io::stdout();
    // Agent and sidecar text: sanitized line by line (SPEC §4.9), the two
    // streams separately so one never cuts the other's line.
    let (mut so, mut se) = (
        crate::sanitize::LineStream::default(),
        crate::sanitize::LineStream::default(),
    );
    let read =
        backends::for_bottle(home, slug.as_str()).logs(&slug, request, &mut |stream, chunk| {
            let text = match stream {
                Stream::Stderr => se.feed(chunk),
                Stream::Stdout => so.feed(chunk),
            };
            out.write_all(text.as_bytes())?;
            out.flush()
        });
    match read {
        Err(BackendError::NotFound(_)) => {
            bail!("no containers for `{slug}` (stopped bottles keep no logs)")
        }
        other => other?,
    }
    for rest in [so.finish(), se.finish()] {
        if !rest.is_empty() {
            writeln!(out, "{rest}")?;
        }
    }
    Ok(0)
}
