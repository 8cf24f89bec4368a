//! [`Backend`] for the Docker Engine API (Docker, and Podman through its
//! compatible API): each call connects to the engine at `host` (version
//! negotiated, every call under a timeout) on a runtime of its own, as the
//! CLI always did, so a caller needs no runtime.

use super::{engines, timed, EngineError};
use crate::backends::plan::EngineFacts;
use crate::backends::{
    AttachEnd, Backend, BackendError, BottleObjects, EngineBottle, EngineEvent, ImageBuild,
    LaunchInput, LogRequest, LogSource, OutputSink, PaneError, PaneIo, PaneKind, ProbeBinary,
    Progress, Recreate, Stream,
};
use crate::secret::Secret;
use crate::state::names::{Names, Slug};
use crate::state::record::IsolationRecord;
use bollard::Docker;
use futures_util::StreamExt;
use std::path::Path;

/// The engine at `host` (`unix:///…`).
pub struct DockerBackend {
    host: String,
}

impl DockerBackend {
    pub fn new(host: &str) -> DockerBackend {
        DockerBackend {
            host: host.to_string(),
        }
    }

    async fn connect(&self) -> Result<Docker, EngineError> {
        engines::connect_host(&self.host).await
    }
}

impl From<EngineError> for BackendError {
    fn from(e: EngineError) -> BackendError {
        match e {
            EngineError::Connect(_) => BackendError::Unreachable(e.to_string()),
            EngineError::Api(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                ..
            }) => BackendError::NotFound(e.to_string()),
            other => BackendError::Failed(other.to_string()),
        }
    }
}

/// Runs one operation on a runtime of its own.
fn block<T>(
    fut: impl std::future::Future<Output = Result<T, EngineError>>,
) -> Result<T, BackendError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BackendError::Failed(format!("starting the engine client: {e}")))?;
    Ok(rt.block_on(fut)?)
}

fn is_404(e: &EngineError) -> bool {
    matches!(
        e,
        EngineError::Api(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })
    )
}

impl Backend for DockerBackend {
    fn host(&self) -> &str {
        &self.host
    }

    fn facts(&self) -> Result<EngineFacts, BackendError> {
        block(async { super::engine_facts(&self.connect().await?).await })
    }

    fn warnings(&self) -> Vec<String> {
        block(async {
            let d = self.connect().await?;
            Ok(timed(d.info()).await?.warnings.unwrap_or_default())
        })
        .unwrap_or_default()
    }

    fn runtime_verdict(
        &self,
        home: &Path,
        home_hash: &str,
        runtime: &str,
        bin: &ProbeBinary<'_>,
        cached: bool,
    ) -> Result<(), String> {
        let tag = crate::backends::images::sidecar_tag(bin.sha256);
        let verdict = block(async {
            let d = self.connect().await?;
            let (kind, _) = engines::kind_of(&d).await?;
            Ok(super::probe::verdict(
                &d,
                home,
                home_hash,
                runtime,
                (&tag, bin.path, &kind),
                cached,
            )
            .await)
        });
        match verdict {
            Ok(v) => v,
            Err(e) => Err(format!("could not ask the engine about {runtime}: {e}")),
        }
    }

    fn check_isolation(&self, home_hash: &str) -> Result<(), BackendError> {
        use crate::state::names::{LABEL_BACKEND, LABEL_HOME, LABEL_ROLE};
        block(async {
            let d = self.connect().await?;
            let (kind, _) = engines::kind_of(&d).await?;
            let name = format!(
                "bottle-doctor-{}",
                ulid::Ulid::new().to_string().to_lowercase()
            );
            let labels = std::collections::HashMap::from([
                (LABEL_ROLE.to_string(), "doctor".to_string()),
                (LABEL_HOME.to_string(), home_hash.to_string()),
                (LABEL_BACKEND.to_string(), "docker".to_string()),
            ]);
            let podman = (kind == "podman").then_some(self.host.as_str());
            let created = super::create_isolated_network(&d, podman, &name, labels).await;
            let removed = super::remove_isolated_network(&d, &name).await;
            created?;
            removed?;
            Ok(())
        })
    }

    fn isolation_mode(&self) -> String {
        super::isolation_mode().to_string()
    }

    fn build_image(
        &self,
        image: ImageBuild<'_>,
        no_cache: bool,
        progress: Progress<'_>,
    ) -> Result<String, BackendError> {
        use crate::backends::images;
        block(async {
            let d = self.connect().await?;
            let engine = super::engine_facts(&d).await?.engine;
            match image {
                ImageBuild::Shell => {
                    let tag = images::agent_tag(&images::SHELL, &images::CliSource::None);
                    super::build::build_template(
                        &d,
                        &images::SHELL,
                        &[],
                        &tag,
                        &engine,
                        no_cache,
                        progress,
                    )
                    .await?;
                    Ok(tag)
                }
                ImageBuild::Sidecar { bin, sha256 } => {
                    let tag = images::sidecar_tag(sha256);
                    super::build::build_sidecar(&d, bin, &tag, &engine, no_cache, progress).await?;
                    Ok(tag)
                }
            }
        })
    }

    fn list(&self, home_hash: Option<&str>) -> Result<Vec<EngineBottle>, BackendError> {
        block(async { super::list_bottles(&self.connect().await?, home_hash).await })
    }

    fn objects(&self, home_hash: Option<&str>) -> Result<Vec<BottleObjects>, BackendError> {
        block(async { super::bottle_objects(&self.connect().await?, &self.host, home_hash).await })
    }

    fn launch(
        &self,
        input: &LaunchInput<'_>,
        progress: Progress<'_>,
    ) -> Result<IsolationRecord, BackendError> {
        block(async { super::launch::launch(&self.connect().await?, input, progress).await })
    }

    fn recreate_agent(
        &self,
        input: &Recreate<'_>,
        progress: Progress<'_>,
    ) -> Result<Option<IsolationRecord>, BackendError> {
        block(async {
            super::recreate::recreate_agent(&self.connect().await?, input, progress).await
        })
    }

    fn restart_session(
        &self,
        slug: &Slug,
        env: &[(String, Secret)],
    ) -> Result<Option<IsolationRecord>, BackendError> {
        block(async { super::recreate::restart_session(&self.connect().await?, slug, env).await })
    }

    fn stop_agent(&self, slug: &Slug) -> Result<(), BackendError> {
        let names = Names::for_slug(slug);
        block(async {
            let d = self.connect().await?;
            match timed(d.stop_container(&names.agent_container, None)).await {
                // 304: it was not running; nothing to report.
                Err(EngineError::Api(bollard::errors::Error::DockerResponseServerError {
                    status_code: 304,
                    ..
                })) => Ok(()),
                other => other,
            }
        })
    }

    fn stop(&self, slug: &Slug) -> Result<(), BackendError> {
        let names = Names::for_slug(slug);
        block(async {
            let d = self.connect().await?;
            for c in [&names.agent_container, &names.sidecar_container] {
                let rm = bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                    .force(true)
                    // An image's anonymous volumes would be orphaned (a resumed
                    // bottle gets new ones); the named volumes stay.
                    .v(true)
                    .build();
                match timed(d.remove_container(c, Some(rm))).await {
                    Err(e) if !is_404(&e) => return Err(e),
                    _ => {}
                }
            }
            let carrier = super::carrier_network_name(&names.internal_network);
            let reserve = super::reserve_network_name(&names.internal_network);
            for n in [
                &names.internal_network,
                &carrier,
                &reserve,
                &names.egress_network,
            ] {
                match timed(d.remove_network(n)).await {
                    Err(e) if !is_404(&e) => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        })
    }

    fn remove(&self, slug: &Slug, home_hash: &str) -> Result<(), BackendError> {
        block(async {
            super::launch::remove_bottle(&self.connect().await?, &self.host, slug, home_hash).await
        })
    }

    fn remove_objects(&self, objects: &BottleObjects) -> Result<(), BackendError> {
        block(async { super::remove_objects(&self.connect().await?, objects).await })
    }

    fn follow_changes(
        &self,
        home_hash: &str,
        seen: &mut (dyn FnMut(EngineEvent) -> bool + Send),
    ) -> Result<(), BackendError> {
        block(async {
            let d = self.connect().await?;
            super::follow_changes(&d, home_hash, seen).await
        })
    }

    fn open_pane(
        &self,
        slug: &Slug,
        kind: PaneKind,
        rows: u16,
        cols: u16,
    ) -> Result<PaneIo, PaneError> {
        super::pane::open_pane(&self.host, slug, kind, rows, cols)
    }

    fn attach_terminal(
        &self,
        slug: &Slug,
        size: fn() -> Option<(u16, u16)>,
    ) -> Result<AttachEnd, BackendError> {
        let names = Names::for_slug(slug);
        block(async {
            let d = self.connect().await?;
            super::attach::attach(&d, &names.agent_container, size).await
        })
    }

    fn exec_terminal(
        &self,
        slug: &Slug,
        cmd: Vec<String>,
        size: fn() -> Option<(u16, u16)>,
    ) -> Result<i64, BackendError> {
        let names = Names::for_slug(slug);
        block(async {
            let d = self.connect().await?;
            let (user, cmd) = super::spec::as_agent(cmd);
            super::attach::exec_interactive(&d, &names.agent_container, user, cmd, size).await
        })
    }

    fn exec(
        &self,
        slug: &Slug,
        user: Option<&str>,
        cmd: &[String],
        stdin: Option<Box<dyn std::io::Read + Send>>,
        output: OutputSink<'_>,
    ) -> Result<i64, BackendError> {
        let names = Names::for_slug(slug);
        // As the agent unless the operator names a user (the container's
        // own user is the session holder's, root).
        let (user, cmd) = match user {
            Some(u) => (u, cmd.to_vec()),
            None => super::spec::as_agent(cmd.to_vec()),
        };
        let req = super::exec::ExecRequest {
            slug,
            container: &names.agent_container,
            user: Some(user),
            cmd,
            env: Vec::new(),
            idle: None,
        };
        block(async { super::exec::run(&self.connect().await?, req, stdin, output).await })
    }

    fn sidecar_exec(
        &self,
        slug: &Slug,
        cmd: &[String],
        env: &[(String, String)],
        stdin: Box<dyn std::io::Read + Send>,
        output: OutputSink<'_>,
    ) -> Result<i64, BackendError> {
        block(async {
            super::exec::sidecar(&self.connect().await?, slug, cmd, env, stdin, output).await
        })
    }

    fn logs(
        &self,
        slug: &Slug,
        request: LogRequest,
        output: OutputSink<'_>,
    ) -> Result<(), BackendError> {
        let names = Names::for_slug(slug);
        let container = match request.source {
            LogSource::Agent => names.agent_container,
            LogSource::Sidecar => names.sidecar_container,
        };
        block(async {
            let d = self.connect().await?;
            let mut options = bollard::query_parameters::LogsOptionsBuilder::default()
                .follow(request.follow)
                .stdout(true)
                .stderr(true);
            if let Some(n) = request.tail {
                options = options.tail(&n.to_string());
            }
            let mut stream = d.logs(&container, Some(options.build()));
            let read = async {
                while let Some(chunk) = stream.next().await {
                    let sent = match chunk? {
                        bollard::container::LogOutput::StdErr { message } => {
                            output(Stream::Stderr, &message)
                        }
                        other => output(Stream::Stdout, &other.into_bytes()),
                    };
                    sent.map_err(|e| EngineError::Local(e.to_string()))?;
                }
                Ok::<_, EngineError>(())
            };
            if request.tail.is_some() {
                // One bounded read.
                match tokio::time::timeout(super::CALL_TIMEOUT, read).await {
                    Ok(r) => r,
                    Err(_) => Err(EngineError::Timeout(super::CALL_TIMEOUT)),
                }
            } else {
                read.await
            }
        })
    }

    fn export_work_tree(
        &self,
        slug: &Slug,
        home_hash: &str,
        backend: &str,
        image: &str,
        sink: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> Result<(), BackendError> {
        block(async {
            let d = self.connect().await?;
            super::export::work_tree(&d, slug, home_hash, backend, image, sink).await
        })
    }

    fn last_screen(
        &self,
        slug: &Slug,
    ) -> Result<Option<crate::backends::backend::LastScreen>, BackendError> {
        block(async { super::pane::last_screen(&self.connect().await?, slug).await })
    }
}

impl From<bollard::errors::Error> for BackendError {
    fn from(e: bollard::errors::Error) -> BackendError {
        EngineError::from(e).into()
    }
}
