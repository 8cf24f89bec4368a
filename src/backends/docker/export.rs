//! Reading a bottle's work volume out, running or stopped: a labelled
//! helper container that is created but never started (no network, the
//! volume mounted read-only) serves the archive, then is removed.

use super::{timed, EngineError, CALL_TIMEOUT};
use crate::backends::plan::WORKSPACE_DIR;
use crate::state::names::{labels, Names, Role, Slug};
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

/// The work volume of `slug` as a tar archive (paths relative to the work
/// tree), streamed chunk by chunk into `sink` (never held whole in memory;
/// `sink` answers false to stop reading). `image` is any image present
/// (the bottle's agent image).
pub async fn work_tree(
    docker: &Docker,
    slug: &Slug,
    home_hash: &str,
    backend: &str,
    image: &str,
    sink: impl FnMut(&[u8]) -> bool,
) -> Result<(), EngineError> {
    let names = Names::for_slug(slug);
    let helper = format!(
        "bottle-{slug}-export-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec!["true".into()]),
        entrypoint: Some(Vec::new()),
        network_disabled: Some(true),
        labels: Some(
            labels(slug, Role::Export, backend, home_hash)
                .into_iter()
                .collect(),
        ),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            cap_drop: Some(vec!["ALL".into()]),
            mounts: Some(vec![Mount {
                typ: Some(MountType::VOLUME),
                source: Some(names.work_volume.clone()),
                target: Some(WORKSPACE_DIR.into()),
                read_only: Some(true),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    timed(
        docker.create_container(
            Some(
                CreateContainerOptionsBuilder::default()
                    .name(&helper)
                    .build(),
            ),
            body,
        ),
    )
    .await?;
    let result = download(docker, &helper, sink).await;
    let rm = RemoveContainerOptionsBuilder::default().force(true).build();
    let removed = timed(docker.remove_container(&helper, Some(rm))).await;
    result?;
    removed?;
    Ok(())
}

async fn download(
    docker: &Docker,
    container: &str,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> Result<(), EngineError> {
    let options = DownloadFromContainerOptionsBuilder::default()
        .path(&format!("{WORKSPACE_DIR}/."))
        .build();
    let mut stream = docker.download_from_container(container, Some(options));
    while let Some(chunk) = tokio::time::timeout(CALL_TIMEOUT, stream.next())
        .await
        .map_err(|_| EngineError::Timeout(CALL_TIMEOUT))?
    {
        if !sink(&chunk?) {
            break;
        }
    }
    Ok(())
}
