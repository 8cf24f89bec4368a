//! Launching a planned bottle on the engine: images, networks, volumes,
//! the sidecar, the provisioned agent container; and removing every
//! object of a bottle by its slug label. A launch that fails part way
//! removes what it created.

use super::build::{build_agent, build_dockerfile, build_sidecar};
use super::{provision, spec, timed, EngineError};
use crate::backends::images;
use crate::backends::plan::{ImageSource, Plan};
use crate::state::names::{labels, Role, Slug};
use bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, VolumeCreateRequest,
};
use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, LogsOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// How long the sidecar may take to say it is ready.
pub const SIDECAR_READY_TIMEOUT: Duration = Duration::from_secs(60);

pub use crate::backends::LaunchInput;

fn to_map(m: std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    m.into_iter().collect()
}

async fn ensure_images(
    docker: &Docker,
    input: &LaunchInput<'_>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), EngineError> {
    let plan = input.plan;
    let image = &plan.agent_image;
    if image.build {
        match &image.source {
            ImageSource::Template(_) => {
                let t = plan.bottle.agent_provider.template;
                let template = images::agent_template(t).ok_or_else(|| EngineError::Build {
                    tag: image.reference.clone(),
                    message: "no built-in template for this provider".into(),
                })?;
                let cli =
                    images::cli_source(t, std::env::var(images::AGENT_CLIS_VAR).ok().as_deref())
                        .map_err(|message| EngineError::Build {
                            tag: image.reference.clone(),
                            message,
                        })?;
                build_agent(
                    docker,
                    template,
                    &cli,
                    &image.reference,
                    &plan.engine,
                    false,
                    progress,
                )
                .await?;
            }
            ImageSource::Dockerfile(path) => {
                let bytes = std::fs::read(path).map_err(|e| EngineError::Build {
                    tag: image.reference.clone(),
                    message: format!("{}: {e}", path.display()),
                })?;
                build_dockerfile(
                    docker,
                    &bytes,
                    &image.reference,
                    &plan.engine,
                    None,
                    progress,
                )
                .await?;
            }
            ImageSource::Capability(path) => {
                let bytes = std::fs::read(path).map_err(|e| EngineError::Build {
                    tag: image.reference.clone(),
                    message: format!("{}: {e}", path.display()),
                })?;
                build_dockerfile(
                    docker,
                    &bytes,
                    &image.reference,
                    &plan.engine,
                    Some("none"),
                    progress,
                )
                .await?;
            }
            ImageSource::Prebuilt => {
                return Err(EngineError::Build {
                    tag: image.reference.clone(),
                    message: "image is not present and cannot be built here; pull or load it first"
                        .into(),
                })
            }
        }
    }
    if plan.sidecar_image.build {
        build_sidecar(
            docker,
            input.bottle_bin,
            &plan.sidecar_image.reference,
            &plan.engine,
            false,
            progress,
        )
        .await?;
    }
    Ok(())
}

async fn upload(
    docker: &Docker,
    container: &str,
    path: &str,
    tar: Vec<u8>,
) -> Result<(), EngineError> {
    let options = UploadToContainerOptionsBuilder::default()
        .path(path)
        .build();
    timed(docker.upload_to_container(
        container,
        Some(options),
        bollard::body_full(bytes::Bytes::from(tar)),
    ))
    .await
}

/// Hands secret values to the running sidecar: a JSON object on the stdin
/// of `bottle sidecar-secrets` run in it (never in arguments or
/// configuration); they land in its tmpfs.
pub async fn put_secrets(
    docker: &Docker,
    sidecar: &str,
    secrets: &[(String, crate::secret::Secret)],
) -> Result<(), EngineError> {
    use bollard::exec::{StartExecOptions, StartExecResults};
    use tokio::io::AsyncWriteExt;
    if secrets.is_empty() {
        return Ok(());
    }
    let map: std::collections::BTreeMap<&str, &str> = secrets
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    let json = serde_json::to_vec(&map).map_err(|e| EngineError::Local(e.to_string()))?;
    let config = bollard::models::ExecConfig {
        cmd: Some(vec![
            "/usr/local/bin/bottle".into(),
            "sidecar-secrets".into(),
        ]),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let id = timed(docker.create_exec(sidecar, config)).await?.id;
    let started = timed(docker.start_exec(
        &id,
        Some(StartExecOptions {
            detach: false,
            tty: false,
            output_capacity: None,
        }),
    ))
    .await?;
    let mut said = Vec::new();
    if let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    {
        let write = async {
            input.write_all(&json).await?;
            input.flush().await?;
            input.shutdown().await
        };
        tokio::time::timeout(super::CALL_TIMEOUT, write)
            .await
            .map_err(|_| EngineError::Timeout(super::CALL_TIMEOUT))?
            .map_err(|e| EngineError::Local(format!("handing secrets to the sidecar: {e}")))?;
        drop(input);
        while let Ok(Some(chunk)) = tokio::time::timeout(super::CALL_TIMEOUT, output.next()).await {
            match chunk {
                Ok(c) => said.extend_from_slice(&c.into_bytes()),
                Err(_) => break,
            }
        }
    }
    let code = timed(docker.inspect_exec(&id)).await?.exit_code;
    if code != Some(0) {
        return Err(EngineError::Launch(format!(
            "the sidecar did not take the secret values: {}",
            String::from_utf8_lossy(&said).trim()
        )));
    }
    Ok(())
}

/// Reads one small file out of a (created) container.
async fn read_file(docker: &Docker, container: &str, path: &str) -> Result<String, EngineError> {
    let options = DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let mut stream = docker.download_from_container(container, Some(options));
    let mut bytes = Vec::new();
    while let Some(chunk) = tokio::time::timeout(super::CALL_TIMEOUT, stream.next())
        .await
        .map_err(|_| EngineError::Timeout(super::CALL_TIMEOUT))?
    {
        match chunk {
            Ok(c) => bytes.extend_from_slice(&c),
            // A missing file is an empty one (the image has no passwd).
            Err(_) => return Ok(String::new()),
        }
    }
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut text = String::new();
    if let Some(Ok(mut entry)) = archive.entries().ok().and_then(|mut e| e.next()) {
        let _ = std::io::Read::read_to_string(&mut entry, &mut text);
    }
    Ok(text)
}

/// Waits for the sidecar's `ready` line; returns its address.
async fn sidecar_ready(docker: &Docker, name: &str) -> Result<String, EngineError> {
    let v = ready_line(docker, name, "the sidecar").await?;
    Ok(v["address"].as_str().unwrap_or_default().to_string())
}

/// Waits for a `{"event":"ready",…}` line in a container's log.
async fn ready_line(
    docker: &Docker,
    name: &str,
    what: &str,
) -> Result<serde_json::Value, EngineError> {
    log_line(docker, name, what, SIDECAR_READY_TIMEOUT, |v| {
        v["event"] == "ready"
    })
    .await
}

/// Follows a container's log (stdout and stderr: if it dies, its error is
/// the message) until a JSON line `want` accepts, for at most `limit`.
pub(super) async fn log_line(
    docker: &Docker,
    name: &str,
    what: &str,
    limit: Duration,
    want: impl Fn(&serde_json::Value) -> bool,
) -> Result<serde_json::Value, EngineError> {
    let options = LogsOptionsBuilder::default()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut logs = docker.logs(name, Some(options));
    let mut seen = String::new();
    let wait = async {
        while let Some(item) = logs.next().await {
            seen.push_str(&item?.to_string());
            for line in seen.lines() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                    if want(&v) {
                        return Ok(v);
                    }
                }
            }
        }
        Err(EngineError::Launch(format!(
            "{what} exited: {}",
            seen.trim()
        )))
    };
    tokio::time::timeout(limit, wait)
        .await
        .map_err(|_| EngineError::Timeout(limit))?
}

async fn create_networks_and_volumes(
    docker: &Docker,
    plan: &Plan,
    engine_host: &str,
) -> Result<String, EngineError> {
    let n = &plan.names;
    let net_labels = to_map(labels(
        &plan.slug,
        Role::Network,
        &plan.engine,
        &plan.home_hash,
    ));
    let subnet = super::create_isolated_network(
        docker,
        (plan.engine == "podman").then_some(engine_host),
        &n.internal_network,
        net_labels.clone(),
    )
    .await?;
    // The egress network on a subnet of bottle's range too (`subnets`):
    // the engine's default pools would stop it at about 31 bottles.
    let podman = (plan.engine == "podman").then_some(engine_host);
    super::subnets::create_on_own_subnet(docker, podman, &n.egress_network, |s| {
        NetworkCreateRequest {
            name: n.egress_network.clone(),
            enable_ipv6: Some(false),
            labels: Some(net_labels.clone()),
            ipam: Some(super::subnets::ipam(s)),
            ..Default::default()
        }
    })
    .await?;
    let vol_labels = to_map(labels(
        &plan.slug,
        Role::Volume,
        &plan.engine,
        &plan.home_hash,
    ));
    let gate = plan.has_gate().then_some(&n.gate_volume);
    for v in [Some(&n.work_volume), Some(&n.home_volume), gate]
        .into_iter()
        .flatten()
    {
        timed(docker.create_volume(VolumeCreateRequest {
            name: Some(v.clone()),
            labels: Some(vol_labels.clone()),
            ..Default::default()
        }))
        .await?;
    }
    Ok(subnet)
}

async fn launch_inner(
    docker: &Docker,
    input: &LaunchInput<'_>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<crate::state::record::IsolationRecord, EngineError> {
    let plan = input.plan;
    let n = &plan.names;
    ensure_images(docker, input, progress).await?;
    progress("creating networks and volumes");
    let subnet = create_networks_and_volumes(docker, plan, &input.engine_host).await?;
    progress("starting the sidecar");
    let create = bollard::query_parameters::CreateContainerOptionsBuilder::default()
        .name(&n.sidecar_container)
        .build();
    let mut sidecar = spec::sidecar(
        plan,
        &input.operator,
        &subnet,
        &input.egress.dir,
        input.queue_dir.as_deref(),
    );
    // ssh (the git gate's upstreams) needs a passwd entry for the
    // operator's uid, which the image cannot know: a file bound over it.
    let passwd = input.state_dir.join("sidecar-passwd");
    crate::state::write_atomic(
        &passwd,
        spec::sidecar_passwd(&input.operator).as_bytes(),
        0o644,
    )
    .map_err(|e| EngineError::Local(format!("writing {}: {e:#}", passwd.display())))?;
    spec::bind_passwd(&mut sidecar, &passwd);
    let podman = plan.engine == "podman";
    let carrier = super::carrier_network_name(&n.internal_network);
    // Podman: the agent network (macvlan) can be made only once the
    // carrier's bridge exists, i.e. once the sidecar runs on it; the
    // sidecar starts on the carrier and joins the agent network after.
    let mut agent_endpoint = None;
    if podman {
        if let Some(h) = sidecar.host_config.as_mut() {
            h.network_mode = Some(carrier.clone());
        }
        if let Some(endpoints) = sidecar
            .networking_config
            .as_mut()
            .and_then(|c| c.endpoints_config.as_mut())
        {
            agent_endpoint = endpoints.remove(&n.internal_network);
            endpoints.insert(carrier.clone(), EndpointSettings::default());
        }
    }
    timed(docker.create_container(Some(create), sidecar)).await?;
    let connect = NetworkConnectRequest {
        container: n.sidecar_container.clone(),
        endpoint_config: Some(EndpointSettings::default()),
    };
    timed(docker.connect_network(&n.egress_network, connect)).await?;
    if !podman {
        // The carrier under the agent's macvlan network: the sidecar's port
        // is what brings the bridge (and so the agent's link) up.
        let connect = NetworkConnectRequest {
            container: n.sidecar_container.clone(),
            endpoint_config: Some(EndpointSettings::default()),
        };
        timed(docker.connect_network(&carrier, connect)).await?;
    }
    timed(docker.start_container(&n.sidecar_container, None)).await?;
    if podman {
        let net_labels = to_map(labels(
            &plan.slug,
            Role::Network,
            &plan.engine,
            &plan.home_hash,
        ));
        super::finish_podman_agent_network(
            docker,
            &input.engine_host,
            &n.internal_network,
            &subnet,
            &net_labels,
        )
        .await?;
        let connect = NetworkConnectRequest {
            container: n.sidecar_container.clone(),
            endpoint_config: Some(agent_endpoint.unwrap_or_default()),
        };
        timed(docker.connect_network(&n.internal_network, connect)).await?;
    }
    let dns = sidecar_ready(docker, &n.sidecar_container).await?;
    put_secrets(docker, &n.sidecar_container, &input.egress.secrets).await?;
    let resolv_conf = input.state_dir.join("resolv.conf");
    crate::state::write_atomic(
        &resolv_conf,
        format!("nameserver {dns}\noptions ndots:0 attempts:2 timeout:2\n").as_bytes(),
        0o644,
    )
    .map_err(|e| EngineError::Local(format!("writing {}: {e:#}", resolv_conf.display())))?;
    progress("provisioning the agent container");
    let create = bollard::query_parameters::CreateContainerOptionsBuilder::default()
        .name(&n.agent_container)
        .build();
    let mut body = spec::agent(plan, &dns, &resolv_conf, input.cmd.clone());
    if input.allow_unverified {
        body.labels.get_or_insert_with(HashMap::new).insert(
            super::selfcheck::LABEL_ALLOW_UNVERIFIED.into(),
            "true".into(),
        );
    }
    timed(docker.create_container(Some(create), body.clone())).await?;
    remember_agent(&input.state_dir, &body, agent_dockerfile(plan).as_deref())?;
    provision_system(docker, &n.agent_container, input.bottle_bin).await?;
    let io =
        |e: std::io::Error| EngineError::Local(format!("building the provisioning archive: {e}"));
    upload(
        docker,
        &n.agent_container,
        "/",
        provision::home_archive(
            plan,
            input.skills,
            &crate::backends::egress::ca_bundle(&input.egress.ca_pem),
            &input.egress.agent_files,
        )
        .map_err(io)?,
    )
    .await?;
    if let Some(list) = input.workspace {
        upload(
            docker,
            &n.agent_container,
            "/",
            provision::workspace_archive(list).map_err(io)?,
        )
        .await?;
    }
    progress("starting the agent");
    start_holder(docker, &plan.slug, &input.session_env).await
}

/// Where the agent container's creation body is kept (no secrets: only
/// literal values are in it), so a capability approval can recreate the
/// container exactly, on another image.
pub const AGENT_BODY_FILE: &str = "agent.json";
/// The Dockerfile of the agent's current image, the base of a capability
/// request's diff (absent for a prebuilt image).
pub use crate::state::record::AGENT_DOCKERFILE;

/// The Dockerfile the plan's agent image comes from, when there is one.
pub(super) fn agent_dockerfile(plan: &Plan) -> Option<Vec<u8>> {
    match &plan.agent_image.source {
        ImageSource::Template(_) => images::agent_template(plan.bottle.agent_provider.template)
            .and_then(|t| t.files.iter().find(|(p, _)| *p == "Dockerfile"))
            .map(|(_, b)| b.to_vec()),
        ImageSource::Dockerfile(p) | ImageSource::Capability(p) => std::fs::read(p).ok(),
        ImageSource::Prebuilt => None,
    }
}

/// Writes `agent.json` and `agent.Dockerfile` into `state/<slug>/`.
pub(super) fn remember_agent(
    state_dir: &std::path::Path,
    body: &bollard::models::ContainerCreateBody,
    dockerfile: Option<&[u8]>,
) -> Result<(), EngineError> {
    let local = |what: &str, e: &dyn std::fmt::Display| {
        EngineError::Local(format!("writing {}/{what}: {e}", state_dir.display()))
    };
    let json = serde_json::to_vec_pretty(body).map_err(|e| local(AGENT_BODY_FILE, &e))?;
    crate::state::write_atomic(&state_dir.join(AGENT_BODY_FILE), &json, 0o600)
        .map_err(|e| local(AGENT_BODY_FILE, &format!("{e:#}")))?;
    let path = state_dir.join(AGENT_DOCKERFILE);
    match dockerfile {
        // Already in place when it is the file itself (a capability).
        Some(bytes) if std::fs::read(&path).ok().as_deref() != Some(bytes) => {
            crate::state::write_atomic(&path, bytes, 0o600)
                .map_err(|e| local(AGENT_DOCKERFILE, &format!("{e:#}")))?;
        }
        Some(_) => {}
        None => {
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(())
}

/// Adds the agent user and the session holder to a created agent
/// container's root filesystem.
pub(super) async fn provision_system(
    docker: &Docker,
    container: &str,
    bottle_bin: &[u8],
) -> Result<(), EngineError> {
    let passwd = read_file(docker, container, "/etc/passwd").await?;
    let group = read_file(docker, container, "/etc/group").await?;
    let archive = provision::system_archive(&passwd, &group, bottle_bin)
        .map_err(|e| EngineError::Local(format!("building the provisioning archive: {e}")))?;
    upload(docker, container, "/", archive).await
}

/// Starts the agent container and hands its session holder the session's
/// environment through the attach stream (never the configuration), with
/// the isolation self-check to run; waits for the holder to say the agent
/// runs, then for the check's report (`selfcheck::wait`: a failure the
/// operator did not allow stops the bottle and is the error).
pub(super) async fn start_holder(
    docker: &Docker,
    slug: &Slug,
    env: &[(String, crate::secret::Secret)],
) -> Result<crate::state::record::IsolationRecord, EngineError> {
    use tokio::io::AsyncWriteExt;
    let container = &crate::state::names::Names::for_slug(slug).agent_container;
    let (check, peers) = super::selfcheck::spec(docker, slug).await?;
    let options = bollard::query_parameters::AttachContainerOptions {
        stdin: true,
        stdout: false,
        stderr: false,
        stream: true,
        logs: false,
        detach_keys: None,
    };
    let attached = timed(docker.attach_container(container, Some(options))).await?;
    timed(docker.start_container(container, None)).await?;
    let map: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.expose())))
        .collect();
    let mut line = serde_json::json!({ "env": map, "check": check }).to_string();
    line.push('\n');
    let mut input = attached.input;
    let sent = async {
        input.write_all(line.as_bytes()).await?;
        input.flush().await?;
        input.shutdown().await
    };
    tokio::time::timeout(super::CALL_TIMEOUT, sent)
        .await
        .map_err(|_| EngineError::Timeout(super::CALL_TIMEOUT))?
        .map_err(|e| EngineError::Launch(format!("handing the session its environment: {e}")))?;
    drop(line);
    drop(attached.output);
    ready_line(docker, container, "the session holder").await?;
    super::selfcheck::wait(docker, slug, &check, peers).await
}

/// Launches; on failure removes everything the launch created.
pub async fn launch(
    docker: &Docker,
    input: &LaunchInput<'_>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<crate::state::record::IsolationRecord, EngineError> {
    let result = launch_inner(docker, input, progress).await;
    if result.is_err() {
        let plan = input.plan;
        for o in super::bottle_objects(docker, &input.engine_host, Some(&plan.home_hash))
            .await
            .unwrap_or_default()
            .iter_mut()
            .filter(|o| o.slug == plan.slug.as_str())
        {
            if input.resume {
                o.volumes.clear();
            }
            let _ = super::remove_objects(docker, o).await;
        }
    }
    result
}

/// Removes the containers, networks and volumes of one bottle of this home.
pub async fn remove_bottle(
    docker: &Docker,
    host: &str,
    slug: &Slug,
    home_hash: &str,
) -> Result<(), EngineError> {
    for o in super::bottle_objects(docker, host, Some(home_hash))
        .await?
        .iter()
        .filter(|o| o.slug == slug.as_str())
    {
        super::remove_objects(docker, o).await?;
    }
    Ok(())
}
