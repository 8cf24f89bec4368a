//! `bottle start`: resolve the plan and show the preflight. `--dry-run`
//! stops there; launching lands with the Docker backend.

use super::definitions::Context;
use super::{NeedsBackend, StartArgs};
use crate::backends::docker;
use crate::backends::names::Slug;
use crate::backends::plan::{prepare, PrepareInput};
use crate::backends::{preflight, workspace_copy};
use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::PathBuf;

/// The executable baked into the sidecar image: `BOTTLE_SIDECAR_BIN`, else
/// this program.
pub fn sidecar_binary() -> Result<PathBuf> {
    match std::env::var_os("BOTTLE_SIDECAR_BIN") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::current_exe().context("locating the bottle executable"),
    }
}

pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

pub fn start(ctx: &Context, args: &StartArgs) -> Result<i32> {
    let defs = ctx.load()?;
    let copy = defs
        .agent(&args.agent)
        .is_some_and(|a| a.def.copy_workspace)
        && !args.no_workspace;
    let workspace = if copy {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        let root = workspace_copy::check_root(&ctx.workspace, &home, &ctx.home.root, args.force)?;
        Some(workspace_copy::scan(&root)?.facts())
    } else {
        None
    };
    let agent_name = defs
        .agent(&args.agent)
        .map_or(args.agent.as_str(), |a| a.name());
    let slug = Slug::generate(agent_name).context("generating a slug")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let engine = runtime.block_on(async {
        let d = docker::connect().await?;
        docker::engine_facts(&d).await
    })?;
    let plan = prepare(PrepareInput {
        defs: &defs,
        agent: &args.agent,
        slug,
        home_hash: ctx.home.label_hash(),
        engine,
        workspace,
        runtime_override: args.runtime.clone(),
        host: &crate::manifest::RealHost,
        bottle_sha256: sha256_file(&sidecar_binary()?)?,
    })?;
    print!("{}", preflight::render(&plan));
    if args.dry_run {
        return Ok(0);
    }
    Err(NeedsBackend("start").into())
}
