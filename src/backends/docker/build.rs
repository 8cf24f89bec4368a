//! Building images through the Engine API from in-memory tar contexts
//! (SPEC §9): the embedded templates, plus the `bottle` executable for the
//! sidecar. Build output is handed to a progress callback line by line.

use super::EngineError;
use crate::backends::images::ImageTemplate;
use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// A build may take long, but never silently: this much without a single
/// message from the engine ends it.
pub const BUILD_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// One file of a build context.
pub struct ContextFile<'a> {
    pub path: &'a str,
    pub bytes: &'a [u8],
    pub mode: u32,
}

pub fn context_tar(files: &[ContextFile]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.bytes.len() as u64);
        header.set_mode(f.mode);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, f.path, f.bytes)?;
    }
    builder.into_inner()
}

/// The context of an embedded template, plus extra files.
pub fn template_context(t: &ImageTemplate, extra: &[ContextFile]) -> std::io::Result<Vec<u8>> {
    let mut files: Vec<ContextFile> = t
        .files
        .iter()
        .map(|(path, bytes)| ContextFile {
            path,
            bytes,
            mode: 0o644,
        })
        .collect();
    files.extend(extra.iter().map(|f| ContextFile {
        path: f.path,
        bytes: f.bytes,
        mode: f.mode,
    }));
    context_tar(&files)
}

pub struct BuildRequest<'a> {
    pub tag: &'a str,
    pub context: Vec<u8>,
    pub labels: HashMap<String, String>,
    pub no_cache: bool,
    /// The build's network (`none` for capability builds); the engine's
    /// default when absent.
    pub network: Option<&'a str>,
    /// `ARG` values.
    pub args: HashMap<String, String>,
}

/// Builds and tags an image; every line of build output goes to
/// `progress`. Never pulls: base images must be present (Podman needs
/// `pull=false` spelled out).
pub async fn build_image(
    docker: &Docker,
    req: BuildRequest<'_>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), EngineError> {
    let mut options = BuildImageOptionsBuilder::default();
    if let Some(network) = req.network {
        options = options.networkmode(network);
    }
    if !req.args.is_empty() {
        options = options.buildargs(&req.args);
    }
    let options = options
        .dockerfile("Dockerfile")
        .t(req.tag)
        .rm(true)
        .forcerm(true)
        .nocache(req.no_cache)
        .pull("false")
        .labels(&req.labels)
        .build();
    let mut stream = docker.build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(req.context))),
    );
    loop {
        let next = tokio::time::timeout(BUILD_IDLE_TIMEOUT, stream.next())
            .await
            .map_err(|_| EngineError::Timeout(BUILD_IDLE_TIMEOUT))?;
        let Some(item) = next else { return Ok(()) };
        let info = item?;
        if let Some(detail) = info.error_detail {
            let message = detail
                .message
                .unwrap_or_else(|| "unknown build error".into());
            return Err(EngineError::Build {
                tag: req.tag.to_string(),
                message,
            });
        }
        for text in [info.stream, info.status].into_iter().flatten() {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                progress(line);
            }
        }
    }
}

/// Images are shared by every bottle and home of an engine (content
/// addressed), so they carry the role and backend but no slug or home.
pub fn image_labels(backend: &str) -> HashMap<String, String> {
    use crate::state::names::{Role, LABEL_BACKEND, LABEL_ROLE};
    HashMap::from([
        (LABEL_ROLE.to_string(), Role::Image.as_str().to_string()),
        (LABEL_BACKEND.to_string(), backend.to_string()),
    ])
}

/// Builds an embedded template (plus `extra` context files) as `tag`.
pub async fn build_template(
    docker: &Docker,
    template: &ImageTemplate,
    extra: &[ContextFile<'_>],
    tag: &str,
    backend: &str,
    no_cache: bool,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), EngineError> {
    build_template_with(
        docker,
        template,
        extra,
        HashMap::new(),
        tag,
        backend,
        no_cache,
        progress,
    )
    .await
}

/// `build_template` with `ARG` values.
#[allow(clippy::too_many_arguments)]
pub async fn build_template_with(
    docker: &Docker,
    template: &ImageTemplate,
    extra: &[ContextFile<'_>],
    args: HashMap<String, String>,
    tag: &str,
    backend: &str,
    no_cache: bool,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), EngineError> {
    let context = template_context(template, extra).map_err(|e| EngineError::Build {
        tag: tag.to_string(),
        message: e.to_string(),
    })?;
    build_context(
        docker, context, tag, backend, no_cache, None, args, progress,
    )
    .await
}

/// Builds a ready context as `tag`, with the image labels of `backend`.
#[allow(clippy::too_many_arguments)]
async fn build_context(
    docker: &Docker,
    context: Vec<u8>,
    tag: &str,
    backend: &str,
    no_cache: bool,
    network: Option<&str>,
    args: HashMap<String, String>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), EngineError> {
    progress(&format!("building {tag}"));
    let req = BuildRequest {
        tag,
        context,
        labels: image_labels(backend),
        no_cache,
        network,
        args,
    };
    build_image(docker, req, progress).await
}

/// The sidecar image: its template plus the `bottle` executable.
pub async fn build_sidecar(
    docker: &Docker,
    bottle_bin: &[u8],
    tag: &str,
    backend: &str,
    no_cache: bool,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), EngineError> {
    let extra = [ContextFile {
        path: "bottle",
        bytes: bottle_bin,
        mode: 0o755,
    }];
    build_template(
        docker,
        &crate::backends::images::SIDECAR,
        &extra,
        tag,
        backend,
        no_cache,
        progress,
    )
    .await
}

/// Builds `dockerfile` with a context holding only it: nothing else of the
/// host is sent to the engine. `network: Some("none")` builds without any
/// network (capability builds, SPEC §5.4).
pub async fn build_dockerfile(
    docker: &Docker,
    dockerfile: &[u8],
    tag: &str,
    backend: &str,
    network: Option<&str>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), EngineError> {
    let file = [ContextFile {
        path: "Dockerfile",
        bytes: dockerfile,
        mode: 0o644,
    }];
    let context = context_tar(&file).map_err(|e| EngineError::Build {
        tag: tag.to_string(),
        message: e.to_string(),
    })?;
    build_context(
        docker,
        context,
        tag,
        backend,
        false,
        network,
        HashMap::new(),
        progress,
    )
    .await
}

/// Builds the agent image of `template` as `tag`, its CLI from `cli`: the
/// CLI's files under `cli/` in the context (or only a note there, for the
/// registry), and `CLI_SOURCE` set accordingly.
pub async fn build_agent(
    docker: &Docker,
    template: &ImageTemplate,
    cli: &crate::backends::images::CliSource,
    tag: &str,
    backend: &str,
    no_cache: bool,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), EngineError> {
    use crate::backends::images::CliSource;
    let local = |e: String| EngineError::Build {
        tag: tag.to_string(),
        message: e,
    };
    let mut owned: Vec<(String, Vec<u8>, u32)> = Vec::new();
    match cli {
        CliSource::Context { files, .. } => {
            for (rel, path, mode) in files {
                let bytes =
                    std::fs::read(path).map_err(|e| local(format!("{}: {e}", path.display())))?;
                owned.push((format!("cli/{rel}"), bytes, *mode));
            }
            progress(&format!(
                "the CLI comes from this machine ({} files)",
                files.len()
            ));
        }
        CliSource::Registry | CliSource::None => owned.push((
            "cli/README".into(),
            b"The CLI is installed from its registry (CLI_SOURCE=registry).\n".to_vec(),
            0o644,
        )),
    }
    let extra: Vec<ContextFile> = owned
        .iter()
        .map(|(path, bytes, mode)| ContextFile {
            path,
            bytes,
            mode: *mode,
        })
        .collect();
    let args = cli
        .build_arg()
        .map(|a| HashMap::from([("CLI_SOURCE".to_string(), a.to_string())]))
        .unwrap_or_default();
    build_template_with(
        docker, template, &extra, args, tag, backend, no_cache, progress,
    )
    .await
}
