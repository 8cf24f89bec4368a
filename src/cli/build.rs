//! `bottle build [--no-cache]`: builds the built-in agent image(s) and the
//! sidecar image (with this `bottle` executable inside) through the API.

use super::start::{sha256_file, sidecar_binary};
use crate::backends::docker::build::{build_sidecar, build_template};
use crate::backends::docker::{self, EngineError};
use crate::backends::images;
use anyhow::{Context as _, Result};

pub fn build(no_cache: bool) -> Result<i32> {
    let bin = sidecar_binary()?;
    let bin_bytes = std::fs::read(&bin).with_context(|| format!("reading {}", bin.display()))?;
    let bin_sha = sha256_file(&bin)?;
    super::bottles::runtime()?.block_on(async {
        let d = docker::connect().await?;
        let engine = docker::engine_facts(&d).await?.engine;
        let mut progress = |line: &str| eprintln!("  {}", crate::sanitize::inline(line));
        let shell_tag = images::agent_tag(&images::SHELL, &images::CliSource::None);
        build_template(
            &d,
            &images::SHELL,
            &[],
            &shell_tag,
            &engine,
            no_cache,
            &mut progress,
        )
        .await?;
        println!("built {shell_tag}");
        let sidecar_tag = images::sidecar_tag(&bin_sha);
        build_sidecar(
            &d,
            &bin_bytes,
            &sidecar_tag,
            &engine,
            no_cache,
            &mut progress,
        )
        .await?;
        println!("built {sidecar_tag}");
        Ok::<_, EngineError>(())
    })?;
    Ok(0)
}
