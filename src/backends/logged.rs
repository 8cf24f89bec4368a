//! The application log's account of what happens to bottles: every
//! [`Backend`] that `connect` hands out is wrapped in [`Logged`], so each
//! lifecycle operation is one line whatever the caller (the CLI, the
//! workspace, a decision's effect): `event=launch|resume|stop|rm|restart|
//! recreate|pane_attach_failed|pane_detached`, always with `slug=<slug>`
//! (the log viewer filters on it), INFO when it worked, WARN when it
//! failed (with the engine's reason). Never a value: a launch names its
//! runtime, engine and isolation, not its environment.

use super::backend::{
    AttachEnd, Backend, BackendError, BottleObjects, EngineBottle, EngineEvent, ImageBuild,
    LaunchInput, LogRequest, OutputSink, ProbeBinary, Progress, Recreate,
};
use super::plan::EngineFacts;
use crate::secret::Secret;
use crate::session::io::{PaneCtl, PaneError, PaneIo, PaneKind};
use crate::state::names::Slug;
use crate::state::record::IsolationRecord;
use std::path::Path;
use std::time::Instant;

/// A backend whose lifecycle operations are logged.
pub struct Logged(pub Box<dyn Backend>);

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// How agent networks are isolated, in a word (`macvlan`, `none`): the
/// backend's sentence up to its explanation.
fn isolation_word(mode: &str) -> &str {
    mode.split([' ', ':', ',']).next().unwrap_or(mode)
}

fn kind_word(kind: PaneKind) -> &'static str {
    match kind {
        PaneKind::Session => "session",
        PaneKind::Shell => "shell",
    }
}

/// One line for an operation on `slug` that took since `started`.
fn done<T>(event: &'static str, slug: &str, started: Instant, result: &Result<T, BackendError>) {
    match result {
        Ok(_) => tracing::info!(event, slug = %slug, duration_ms = ms(started)),
        Err(e) => tracing::warn!(
            event,
            slug = %slug,
            duration_ms = ms(started),
            error = ?crate::sanitize::inline(&e.to_string())),
    }
}

impl Backend for Logged {
    fn host(&self) -> &str {
        self.0.host()
    }

    fn facts(&self) -> Result<EngineFacts, BackendError> {
        self.0.facts()
    }

    fn warnings(&self) -> Vec<String> {
        self.0.warnings()
    }

    fn runtime_verdict(
        &self,
        home: &Path,
        home_hash: &str,
        runtime: &str,
        bin: &ProbeBinary<'_>,
        cached: bool,
    ) -> Result<(), String> {
        self.0
            .runtime_verdict(home, home_hash, runtime, bin, cached)
    }

    fn check_isolation(&self, home_hash: &str) -> Result<(), BackendError> {
        self.0.check_isolation(home_hash)
    }

    fn isolation_mode(&self) -> String {
        self.0.isolation_mode()
    }

    fn build_image(
        &self,
        image: ImageBuild<'_>,
        no_cache: bool,
        progress: Progress<'_>,
    ) -> Result<String, BackendError> {
        self.0.build_image(image, no_cache, progress)
    }

    fn list(&self, home_hash: Option<&str>) -> Result<Vec<EngineBottle>, BackendError> {
        self.0.list(home_hash)
    }

    fn objects(&self, home_hash: Option<&str>) -> Result<Vec<BottleObjects>, BackendError> {
        self.0.objects(home_hash)
    }

    /// `event=launch` (or `resume`): the agent, the engine, the runtime the
    /// agent runs under, the backend kind and the network isolation.
    fn launch(
        &self,
        input: &LaunchInput<'_>,
        progress: Progress<'_>,
    ) -> Result<IsolationRecord, BackendError> {
        let started = Instant::now();
        let result = self.0.launch(input, progress);
        let plan = input.plan;
        let event = if input.resume { "resume" } else { "launch" };
        let mode = self.0.isolation_mode();
        let (slug, agent, runtime) = (&plan.slug, plan.agent.name(), &plan.runtime.name);
        match &result {
            Ok(checked) => tracing::info!(
                event,
                slug = %slug,
                agent = %agent,
                engine = %input.engine_host,
                backend = %plan.engine,
                runtime = %runtime,
                isolation = isolation_word(&mode),
                selfcheck = checked.word(),
                duration_ms = ms(started)),
            Err(e) => tracing::warn!(
                event,
                slug = %slug,
                agent = %agent,
                engine = %input.engine_host,
                backend = %plan.engine,
                runtime = %runtime,
                isolation = isolation_word(&mode),
                duration_ms = ms(started),
                error = ?crate::sanitize::inline(&e.to_string())),
        }
        result
    }

    /// `event=recreate`: a capability approval's new agent container.
    fn recreate_agent(
        &self,
        input: &Recreate<'_>,
        progress: Progress<'_>,
    ) -> Result<Option<IsolationRecord>, BackendError> {
        let started = Instant::now();
        let result = self.0.recreate_agent(input, progress);
        done("recreate", input.slug.as_str(), started, &result);
        result
    }

    fn restart_session(
        &self,
        slug: &Slug,
        env: &[(String, Secret)],
    ) -> Result<Option<IsolationRecord>, BackendError> {
        let started = Instant::now();
        let result = self.0.restart_session(slug, env);
        done("restart", slug.as_str(), started, &result);
        result
    }

    /// `event=stop scope=agent`: the workspace's stop (the sidecar goes
    /// with the agent; the containers stay).
    fn stop_agent(&self, slug: &Slug) -> Result<(), BackendError> {
        let started = Instant::now();
        let result = self.0.stop_agent(slug);
        match &result {
            Ok(()) => {
                tracing::info!(event = "stop", slug = %slug, scope = "agent", duration_ms = ms(started))
            }
            Err(e) => tracing::warn!(
                event = "stop",
                slug = %slug,
                scope = "agent",
                duration_ms = ms(started),
                error = ?crate::sanitize::inline(&e.to_string())),
        }
        result
    }

    fn stop(&self, slug: &Slug) -> Result<(), BackendError> {
        let started = Instant::now();
        let result = self.0.stop(slug);
        done("stop", slug.as_str(), started, &result);
        result
    }

    fn remove(&self, slug: &Slug, home_hash: &str) -> Result<(), BackendError> {
        let started = Instant::now();
        let result = self.0.remove(slug, home_hash);
        done("rm", slug.as_str(), started, &result);
        result
    }

    /// Logged by its caller (`bottle cleanup`), which knows why.
    fn remove_objects(&self, objects: &BottleObjects) -> Result<(), BackendError> {
        self.0.remove_objects(objects)
    }

    fn follow_changes(
        &self,
        home_hash: &str,
        seen: &mut (dyn FnMut(EngineEvent) -> bool + Send),
    ) -> Result<(), BackendError> {
        self.0.follow_changes(home_hash, seen)
    }

    /// `event=pane_attach_failed` when it cannot attach; once attached,
    /// `event=pane_detached` when its stream ends (the agent exited, the
    /// pane was closed, or the connection was lost).
    fn open_pane(
        &self,
        slug: &Slug,
        kind: PaneKind,
        rows: u16,
        cols: u16,
    ) -> Result<PaneIo, PaneError> {
        match self.0.open_pane(slug, kind, rows, cols) {
            Ok(io) => Ok(PaneIo {
                ctl: Box::new(LoggedCtl {
                    inner: io.ctl,
                    slug: slug.to_string(),
                    kind,
                }),
                ..io
            }),
            Err(e) => {
                tracing::warn!(
                    event = "pane_attach_failed",
                    slug = %slug,
                    pane = kind_word(kind),
                    reason = ?crate::sanitize::inline(&e.to_string()));
                Err(e)
            }
        }
    }

    fn attach_terminal(
        &self,
        slug: &Slug,
        size: fn() -> Option<(u16, u16)>,
    ) -> Result<AttachEnd, BackendError> {
        self.0.attach_terminal(slug, size)
    }

    fn exec_terminal(
        &self,
        slug: &Slug,
        cmd: Vec<String>,
        size: fn() -> Option<(u16, u16)>,
    ) -> Result<i64, BackendError> {
        self.0.exec_terminal(slug, cmd, size)
    }

    fn exec(
        &self,
        slug: &Slug,
        user: Option<&str>,
        cmd: &[String],
        stdin: Option<Box<dyn std::io::Read + Send>>,
        output: OutputSink<'_>,
    ) -> Result<i64, BackendError> {
        self.0.exec(slug, user, cmd, stdin, output)
    }

    fn sidecar_exec(
        &self,
        slug: &Slug,
        cmd: &[String],
        env: &[(String, String)],
        stdin: Box<dyn std::io::Read + Send>,
        output: OutputSink<'_>,
    ) -> Result<i64, BackendError> {
        self.0.sidecar_exec(slug, cmd, env, stdin, output)
    }

    fn logs(
        &self,
        slug: &Slug,
        request: LogRequest,
        output: OutputSink<'_>,
    ) -> Result<(), BackendError> {
        self.0.logs(slug, request, output)
    }

    fn export_work_tree(
        &self,
        slug: &Slug,
        home_hash: &str,
        backend: &str,
        image: &str,
        sink: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> Result<(), BackendError> {
        self.0
            .export_work_tree(slug, home_hash, backend, image, sink)
    }

    fn last_screen(&self, slug: &Slug) -> Result<Option<super::backend::LastScreen>, BackendError> {
        self.0.last_screen(slug)
    }
}

/// A pane's control that logs how its stream ended (its one `wait`).
struct LoggedCtl {
    inner: Box<dyn PaneCtl>,
    slug: String,
    kind: PaneKind,
}

impl PaneCtl for LoggedCtl {
    fn resize(&self, rows: u16, cols: u16) -> Result<(), PaneError> {
        self.inner.resize(rows, cols)
    }

    fn wait(&self) -> Result<Option<i32>, PaneError> {
        let result = self.inner.wait();
        let reason = match &result {
            Ok(Some(code)) => format!("exited {code}"),
            Ok(None) => "detached".to_string(),
            Err(e) => crate::sanitize::inline(&e.to_string()),
        };
        tracing::info!(
            event = "pane_detached",
            slug = %self.slug,
            pane = kind_word(self.kind),
            reason = ?reason);
        result
    }

    fn close(&self) {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::fake::{FakeBackend, FakeBottle, SCHEME};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn isolation_is_named_in_a_word() {
        assert_eq!(
            isolation_word(crate::backends::docker::isolation_mode()),
            "macvlan"
        );
        assert_eq!(isolation_word("none (fake backend)"), "none");
    }

    /// Panes and restarts through the wrapper, logged as the file would
    /// have them.
    #[test]
    fn panes_and_restarts_are_logged_with_their_slug_and_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = format!("{SCHEME}{}", dir.path().display());
        let bottle = |slug: &str, status: &str| FakeBottle {
            slug: slug.into(),
            agent: "shell".into(),
            home: "h".into(),
            status: status.into(),
            command: vec!["/bin/sh".into(), "-c".into(), "exit 3".into()],
        };
        FakeBackend::new(&host)
            .set_bottles(&[
                bottle("shell-aaaaaa", "running"),
                bottle("shell-bbbbbb", "stopped"),
            ])
            .expect("set");
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let b = crate::backends::connect(&host);
            let a = Slug::parse("shell-aaaaaa").expect("slug");
            let io = b.open_pane(&a, PaneKind::Session, 24, 80).expect("pane");
            assert_eq!(io.ctl.wait().expect("wait"), Some(3));
            let stopped = Slug::parse("shell-bbbbbb").expect("slug");
            assert!(b.open_pane(&stopped, PaneKind::Shell, 24, 80).is_err());
            b.restart_session(&a, &[]).expect("restart");
        });
        let text = String::from_utf8(buf.0.lock().expect("lock").clone()).expect("utf8");
        let line = |event: &str| {
            text.lines()
                .find(|l| l.contains(&format!("event=\"{event}\"")))
                .unwrap_or_else(|| panic!("no {event} line in:\n{text}"))
                .to_string()
        };
        let detached = line("pane_detached");
        assert!(
            detached.contains("slug=shell-aaaaaa") && detached.contains("reason=\"exited 3\""),
            "{detached}"
        );
        let failed = line("pane_attach_failed");
        assert!(
            failed.contains(" WARN ")
                && failed.contains("slug=shell-bbbbbb")
                && failed.contains("pane=\"shell\"")
                && failed.contains("is stopped"),
            "{failed}"
        );
        assert!(line("restart").contains("slug=shell-aaaaaa"));
    }
}
