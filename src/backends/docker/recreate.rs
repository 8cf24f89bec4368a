//! What changes a running (or stopped) bottle's agent after its launch:
//! a capability approval's image and recreated container, and a session
//! run again in the same container.

use super::build::build_dockerfile;
use super::launch::{provision_system, remember_agent, start_holder, AGENT_BODY_FILE};
use super::{spec, timed, EngineError};
use crate::state::names::Slug;
use bollard::Docker;

pub use crate::backends::Recreate;

/// A capability approval (SPEC §5.4): builds the Dockerfile with a context
/// holding only it and no network, then, when the bottle runs, replaces
/// its agent container by one on the new image with the same body (same
/// volumes, network, resolver, limits; the hardening set again), and starts
/// the session. The new container is created and provisioned under a
/// temporary name before the old one is removed, so a failure before that
/// leaves the bottle as it was. Returns whether a container was replaced
/// (a stopped bottle gets the image at its next resume).
pub async fn recreate_agent(
    docker: &Docker,
    r: &Recreate<'_>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Option<crate::state::record::IsolationRecord>, EngineError> {
    build_dockerfile(
        docker,
        r.dockerfile,
        r.image,
        r.engine,
        Some("none"),
        progress,
    )
    .await?;
    let names = crate::state::names::Names::for_slug(r.slug);
    let agent = &names.agent_container;
    match timed(docker.inspect_container(agent, None)).await {
        Ok(_) => {}
        Err(EngineError::Api(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })) => return Ok(None),
        Err(e) => return Err(e),
    }
    let path = r.state_dir.join(AGENT_BODY_FILE);
    let launched: bollard::models::ContainerCreateBody = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| {
            EngineError::Local(format!(
                "{}: {e} (a bottle launched by an older bottle: stop and resume it first)",
                path.display()
            ))
        })?;
    let body = spec::agent_on_image(&launched, r.image);
    let next = format!("{agent}-next");
    let _ = timed(
        docker.remove_container(
            &next,
            Some(
                bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        ),
    )
    .await;
    progress("creating the new agent container");
    let create = bollard::query_parameters::CreateContainerOptionsBuilder::default()
        .name(&next)
        .build();
    timed(docker.create_container(Some(create), body.clone())).await?;
    let provisioned = provision_system(docker, &next, r.bottle_bin).await;
    if let Err(e) = provisioned {
        let rm = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
            .v(true)
            .build();
        let _ = timed(docker.remove_container(&next, Some(rm))).await;
        return Err(e);
    }
    progress("replacing the agent container (the volumes stay)");
    let stop = bollard::query_parameters::StopContainerOptionsBuilder::default()
        .t(5)
        .build();
    let _ = timed(docker.stop_container(agent, Some(stop))).await;
    timed(
        docker.remove_container(
            agent,
            Some(
                bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                    .force(true)
                    // The named volumes stay (they carry our label); the old
                    // image's anonymous ones would be orphaned (issue 18, E12).
                    .v(true)
                    .build(),
            ),
        ),
    )
    .await?;
    timed(
        docker.rename_container(
            &next,
            bollard::query_parameters::RenameContainerOptionsBuilder::default()
                .name(agent)
                .build(),
        ),
    )
    .await?;
    remember_agent(r.state_dir, &body, Some(r.dockerfile))?;
    progress("starting the agent");
    start_holder(docker, r.slug, r.env).await.map(Some)
}

/// Runs an ended session again in the same agent container (same volumes,
/// network and sidecar): the session holder starts the agent's command
/// anew, with `env` as the session's `?`/`${}` values. A session that still
/// runs is left alone.
pub async fn restart_session(
    docker: &Docker,
    slug: &Slug,
    env: &[(String, crate::secret::Secret)],
) -> Result<Option<crate::state::record::IsolationRecord>, EngineError> {
    let names = crate::state::names::Names::for_slug(slug);
    let running = |c: bollard::models::ContainerInspectResponse| {
        c.state.and_then(|s| s.running).unwrap_or(false)
    };
    let sidecar = timed(docker.inspect_container(&names.sidecar_container, None)).await?;
    if !running(sidecar) {
        timed(docker.start_container(&names.sidecar_container, None)).await?;
    }
    let agent = timed(docker.inspect_container(&names.agent_container, None)).await?;
    if running(agent) {
        // Nothing to restart: the caller re-attaches.
        return Ok(None);
    }
    start_holder(docker, slug, env).await.map(Some)
}
