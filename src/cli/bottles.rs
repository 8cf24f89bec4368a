//! Commands on running bottles through the Docker backend: the launch part
//! of `start`, `exec`, `stop` and `rm`.

use super::definitions::Context;
use crate::backends::docker::{self, timed, EngineError};
use crate::state::names::{Names, Slug};
use anyhow::{bail, Context as _, Result};
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use std::io::Write;

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

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
    let slug = slug(slug_text)?;
    let names = Names::for_slug(&slug);
    runtime()?.block_on(async {
        let d = docker::engines::connect_bottle(home, slug.as_str()).await?;
        // Input that is not a terminal (a pipe, a file) goes to the
        // command, as with `docker exec -i`.
        let forward = !std::io::IsTerminal::is_terminal(&std::io::stdin());
        // As the agent unless the operator names a user (the container's
        // own user is the session holder's, root).
        let (user, cmd) = match user {
            Some(u) => (u, cmd.to_vec()),
            None => docker::spec::as_agent(cmd.to_vec()),
        };
        let config = ExecConfig {
            cmd: Some(cmd),
            user: Some(user.to_string()),
            attach_stdin: Some(forward),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let id = timed(d.create_exec(&names.agent_container, config))
            .await
            .with_context(|| format!("no running bottle `{slug}`"))?
            .id;
        let started = timed(d.start_exec(
            &id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        ))
        .await?;
        if let StartExecResults::Attached { mut output, input } = started {
            let feeding = forward.then(|| {
                // A plain thread reads (a pipe that never closes must not
                // keep the runtime from ending); a task writes.
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match std::io::Read::read(&mut std::io::stdin(), &mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if tx.blocking_send(buf[..n].to_vec()).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let mut input = input;
                    while let Some(chunk) = rx.recv().await {
                        if input.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                    let _ = input.shutdown().await;
                })
            });
            // Output bound for a terminal passes the pane rules (SPEC
            // §4.9); into a pipe or a file it is data and stays exact.
            use std::io::IsTerminal;
            let mut to_out = std::io::stdout()
                .is_terminal()
                .then(crate::session::filter::OutputFilter::default);
            let mut to_err = std::io::stderr()
                .is_terminal()
                .then(crate::session::filter::OutputFilter::default);
            let pass = |f: &mut Option<crate::session::filter::OutputFilter>, b: &[u8]| match f {
                Some(f) => f.feed(b),
                None => b.to_vec(),
            };
            while let Some(chunk) = output.next().await {
                match chunk? {
                    bollard::container::LogOutput::StdErr { message } => {
                        std::io::stderr().write_all(&pass(&mut to_err, &message))?
                    }
                    other => {
                        std::io::stdout().write_all(&pass(&mut to_out, &other.into_bytes()))?
                    }
                }
            }
            if let Some(f) = feeding {
                f.abort();
            }
        }
        std::io::stdout().flush()?;
        let code = timed(d.inspect_exec(&id)).await?.exit_code.unwrap_or(1);
        Ok(i32::try_from(code).unwrap_or(1))
    })
}

/// `bottle stop`: containers and networks go; volumes and state stay.
pub fn stop(ctx: &Context, slug_text: &str) -> Result<i32> {
    let slug = slug(slug_text)?;
    if !ctx.home.state_dir(slug.as_str()).exists() {
        bail!("no bottle `{slug}` in {}", ctx.home.root.display());
    }
    let names = Names::for_slug(&slug);
    runtime()?.block_on(async {
        let d = docker::engines::connect_bottle(&ctx.home, slug.as_str()).await?;
        for c in [&names.agent_container, &names.sidecar_container] {
            let rm = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                .force(true)
                // An image's anonymous volumes would be orphaned (a resumed
                // bottle gets new ones); the named volumes stay.
                .v(true)
                .build();
            match timed(d.remove_container(c, Some(rm))).await {
                Ok(())
                | Err(EngineError::Api(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                })) => {}
                Err(e) => return Err(e),
            }
        }
        let carrier = crate::backends::docker::carrier_network_name(&names.internal_network);
        let reserve = crate::backends::docker::reserve_network_name(&names.internal_network);
        for n in [
            &names.internal_network,
            &carrier,
            &reserve,
            &names.egress_network,
        ] {
            match timed(d.remove_network(n)).await {
                Ok(())
                | Err(EngineError::Api(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })?;
    eprintln!(
        "bottle: stopped {slug}; its volumes and state are kept (`bottle rm {slug}` removes them)"
    );
    Ok(0)
}

/// `bottle rm`: everything of the bottle, engine objects and state.
pub fn rm(ctx: &Context, slug_text: &str) -> Result<i32> {
    let slug = slug(slug_text)?;
    let hash = ctx.home.label_hash();
    runtime()?.block_on(async {
        let d = docker::engines::connect_bottle(&ctx.home, slug.as_str()).await?;
        docker::launch::remove_bottle(&d, &slug, &hash).await
    })?;
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
    let names = Names::for_slug(slug);
    let end = runtime()?.block_on(async {
        let d = docker::engines::connect_bottle(&ctx.home, slug.as_str()).await?;
        let _raw = crate::tty::RawGuard::enter()
            .map_err(|e| EngineError::Local(format!("raw mode: {e}")))?;
        docker::attach::attach(&d, &names.agent_container, crate::tty::size).await
    })?;
    match end {
        docker::attach::AttachEnd::Detached => {
            eprintln!("\r\nbottle: detached from {slug}; it keeps running (`bottle attach {slug}` re-attaches)");
            Ok(0)
        }
        docker::attach::AttachEnd::Exited(code) => {
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
    let names = Names::for_slug(&slug);
    let cmd = vec![
        "/bin/sh".into(),
        "-c".into(),
        "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi".into(),
    ];
    let code = runtime()?.block_on(async {
        let d = docker::engines::connect_bottle(home, slug.as_str()).await?;
        let _raw = crate::tty::RawGuard::enter()
            .map_err(|e| EngineError::Local(format!("raw mode: {e}")))?;
        let (user, cmd) = docker::spec::as_agent(cmd);
        docker::attach::exec_interactive(&d, &names.agent_container, user, cmd, crate::tty::size)
            .await
    })?;
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
    let names = Names::for_slug(&slug);
    let container = if sidecar {
        names.sidecar_container
    } else {
        names.agent_container
    };
    runtime()?.block_on(async {
        let d = docker::engines::connect_bottle(home, slug.as_str()).await?;
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .build();
        let mut stream = d.logs(&container, Some(options));
        let mut out = std::io::stdout();
        // Agent and sidecar text: sanitized line by line (SPEC §4.9), the
        // two streams separately so one never cuts the other's line.
        let (mut so, mut se) = (
            crate::sanitize::LineStream::default(),
            crate::sanitize::LineStream::default(),
        );
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => bail!("no containers for `{slug}` (stopped bottles keep no logs)"),
                other => other?,
            };
            let text = match chunk {
                bollard::container::LogOutput::StdErr { message } => se.feed(&message),
                other => so.feed(&other.into_bytes()),
            };
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        for rest in [so.finish(), se.finish()] {
            if !rest.is_empty() {
                writeln!(out, "{rest}")?;
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}
