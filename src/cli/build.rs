//! `bottle build [--no-cache]`: builds the built-in agent image(s) and the
//! sidecar image (with this `bottle` executable inside) through the API.

use super::start::{sha256_file, sidecar_binary};
use crate::backends::{self, ImageBuild};
use anyhow::{Context as _, Result};

pub fn build(no_cache: bool) -> Result<i32> {
    let bin = sidecar_binary()?;
    let bin_bytes = std::fs::read(&bin).with_context(|| format!("reading {}", bin.display()))?;
    let bin_sha = sha256_file(&bin)?;
    let backend = backends::connect(&backends::default_host());
    backends::check_default()?;
    let mut progress = |line: &str| eprintln!("  {}", crate::sanitize::inline(line));
    let shell_tag = backend.build_image(ImageBuild::Shell, no_cache, &mut progress)?;
    println!("built {shell_tag}");
    let sidecar_tag = backend.build_image(
        ImageBuild::Sidecar {
            bin: &bin_bytes,
            sha256: &bin_sha,
        },
        no_cache,
        &mut progress,
    )?;
    println!("built {sidecar_tag}");
    Ok(0)
}
