//! `bottle build [--no-cache]`: builds the built-in agent image(s) and the
//! sidecar image (with this `bottle` executable inside) through the API.

use super::start::{sha256_file, sidecar_binary};
use crate::backends::docker::build::{build_image, template_context, BuildRequest, ContextFile};
use crate::backends::docker::{self, EngineError};
use crate::backends::{images, names};
use anyhow::{Context as _, Result};
use std::collections::HashMap;

fn image_labels(backend: &str) -> HashMap<String, String> {
    // Images are shared by every bottle and home of an engine (content
    // addressed), so they carry the role and backend but no slug or home.
    HashMap::from([
        (
            names::LABEL_ROLE.to_string(),
            names::Role::Image.as_str().to_string(),
        ),
        (names::LABEL_BACKEND.to_string(), backend.to_string()),
    ])
}

pub fn build(no_cache: bool) -> Result<i32> {
    let bin = sidecar_binary()?;
    let bin_bytes = std::fs::read(&bin).with_context(|| format!("reading {}", bin.display()))?;
    let bin_sha = sha256_file(&bin)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let d = docker::connect().await?;
        let facts = docker::engine_facts(&d).await?;
        let mut progress = |line: &str| eprintln!("  {}", crate::sanitize::inline(line));
        let shell_tag = images::agent_tag(&images::SHELL);
        eprintln!("building {shell_tag}");
        let context = template_context(&images::SHELL, &[])
            .map_err(|e| EngineError::Connect(e.to_string()))?;
        build_image(
            &d,
            BuildRequest {
                tag: &shell_tag,
                context,
                labels: image_labels(&facts.engine),
                no_cache,
            },
            &mut progress,
        )
        .await?;
        println!("built {shell_tag}");
        let sidecar_tag = images::sidecar_tag(&bin_sha);
        eprintln!("building {sidecar_tag} with {}", bin.display());
        let extra = [ContextFile {
            path: "bottle",
            bytes: &bin_bytes,
            mode: 0o755,
        }];
        let context = template_context(&images::SIDECAR, &extra)
            .map_err(|e| EngineError::Connect(e.to_string()))?;
        build_image(
            &d,
            BuildRequest {
                tag: &sidecar_tag,
                context,
                labels: image_labels(&facts.engine),
                no_cache,
            },
            &mut progress,
        )
        .await?;
        println!("built {sidecar_tag}");
        Ok::<_, EngineError>(())
    })?;
    Ok(0)
}
