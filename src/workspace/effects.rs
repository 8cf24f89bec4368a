//! Carrying out the app's effects: owns the pane handles (and what waits
//! for a pane still connecting), the prepared launches, and every call
//! into the engine — gathered in [`engine`] at the bottom, the one place a
//! `Backend` trait will replace. Slow work goes through [`Jobs`]; its
//! results come back as `AppEvent`s. The loop's own effects (redraw, exit,
//! the editor) are handled in mod.rs.

use super::jobs::Jobs;
use super::RunContext;
use crate::app::logview::{split_lines, LogKind, LogSource};
use crate::app::{launch, requests, App, AppEvent, Effect, SavedLayout};
use crate::backends::EngineEvent;
use crate::session::io::PaneKind;
use crate::session::layout::PaneId;
use crate::session::pane::{PaneHandle, PaneNotice};
use crate::state::names::Slug;
use anyhow::Result;
use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The operator's terminal rings at most this often.
const BELL_INTERVAL: Duration = Duration::from_secs(1);

pub struct Effects {
    jobs: Jobs,
    pub ctx: RunContext,
    handles: HashMap<PaneId, PaneHandle>,
    /// What arrived for a pane still connecting: its latest size and the
    /// input typed meanwhile, applied once it is up.
    pending_size: HashMap<PaneId, (u16, u16)>,
    pending_input: HashMap<PaneId, Vec<Vec<u8>>>,
    ready: mpsc::Receiver<(PaneId, PaneHandle)>,
    ready_tx: mpsc::Sender<(PaneId, PaneHandle)>,
    /// Plans waiting for the operator's yes, by ticket (shared with the
    /// jobs that prepare them).
    prepared: Arc<Mutex<HashMap<u64, crate::launcher::Prepared>>>,
    next_ticket: u64,
    /// Engines whose events are followed (agent containers starting).
    followed_engines: HashSet<String>,
    last_bell: Option<Instant>,
}

impl Effects {
    pub fn new(tx: mpsc::SyncSender<AppEvent>, ctx: RunContext) -> std::io::Result<Effects> {
        let (ready_tx, ready) = mpsc::channel();
        Ok(Effects {
            jobs: Jobs::new(tx)?,
            ctx,
            handles: HashMap::new(),
            pending_size: HashMap::new(),
            pending_input: HashMap::new(),
            ready,
            ready_tx,
            prepared: Arc::new(Mutex::new(HashMap::new())),
            next_ticket: 0,
            followed_engines: HashSet::new(),
            last_bell: None,
        })
    }

    /// What the handles must know before `update` sees `event`: a pane
    /// that is up is taken in; a pane that ended is let go.
    pub fn observe(&mut self, event: &AppEvent) {
        match event {
            AppEvent::PaneReady(_) => self.collect_ready(),
            AppEvent::Pane(PaneNotice::Ended(id, _)) => {
                self.forget(*id);
            }
            _ => {}
        }
    }

    /// Carries out `effect`; an event it yields at once (not through a
    /// job) is returned for the loop to handle next.
    pub fn perform(&mut self, app: &App, effect: Effect) -> Option<AppEvent> {
        match effect {
            Effect::OpenPane {
                id,
                slug,
                kind,
                rows,
                cols,
            } => {
                self.follow_engine(engine::host_of(&self.ctx.home, &slug));
                self.open(app, id, slug, kind, rows, cols);
            }
            Effect::PaneInput(id, bytes) => return self.input(id, bytes),
            Effect::ResizePane { id, rows, cols } => {
                self.collect_ready();
                match self.handles.get(&id) {
                    Some(h) => h.resize(rows, cols),
                    None => {
                        self.pending_size.insert(id, (rows, cols));
                    }
                }
            }
            Effect::ClosePane(id) => {
                self.collect_ready();
                if let Some(h) = self.forget(id) {
                    h.close();
                }
            }
            Effect::StopBottle(slug) => self.stop(slug),
            Effect::RefreshBottles => self.refresh_bottles(),
            Effect::FollowEngine(host) => self.follow_engine(host),
            Effect::FollowGate(slug) => {
                super::sidecar::follow(&self.jobs, self.ctx.home.clone(), slug)
            }
            Effect::FetchPushes(slug) => {
                super::sidecar::fetch(&self.jobs, self.ctx.home.clone(), slug)
            }
            Effect::ListLogs { sidecars, select } => return Some(self.list_logs(sidecars, select)),
            Effect::LoadLog(kind) => self.load_log(kind),
            Effect::PrepareLaunch {
                agent,
                engine_host,
                task,
            } => self.prepare(agent, engine_host, task),
            Effect::PrepareResume(slug) => self.prepare_resume(slug),
            Effect::Launch {
                id,
                ticket,
                answers,
                trust,
            } => return self.launch(id, ticket, answers, trust),
            Effect::DiscardLaunch(ticket) => {
                if let Ok(mut m) = self.prepared.lock() {
                    m.remove(&ticket);
                }
            }
            Effect::Bell => self.bell(),
            Effect::Notify(sequence) => {
                let _ = crate::tty::write_raw(sequence.as_bytes());
            }
            Effect::RestartSession { id, slug } => {
                self.forget(id);
                self.restart(id, slug);
            }
            Effect::SaveLayout(layout) => self.save(&layout),
            Effect::ScanQueue => self.scan_queue(),
            Effect::Decide {
                request,
                intent,
                note,
            } => self.decide(*request, intent, note),
            // The loop's own (mod.rs).
            Effect::Redraw | Effect::Exit(_) | Effect::EditRequest(_) => {}
        }
        None
    }

    /// Quitting never stops bottles: panes just detach.
    pub fn detach_all(&mut self) {
        self.collect_ready();
        for (_, h) in self.handles.drain() {
            h.close();
        }
    }

    fn input(&mut self, id: PaneId, bytes: Vec<u8>) -> Option<AppEvent> {
        self.collect_ready();
        match self.handles.get(&id) {
            Some(h) => (!h.send(bytes)).then_some(AppEvent::InputDropped(id)),
            None => {
                self.pending_input.entry(id).or_default().push(bytes);
                None
            }
        }
    }

    /// At most one bell a second, whatever the panes ring.
    fn bell(&mut self) {
        if self
            .last_bell
            .is_none_or(|t: Instant| t.elapsed() >= BELL_INTERVAL)
        {
            self.last_bell = Some(Instant::now());
            let _ = crate::tty::write_raw(b"\x07");
        }
    }

    /// The log viewer's sources: the application logs and crash reports
    /// (newest first), then each bottle's sidecar.
    fn list_logs(&self, sidecars: Vec<String>, select: Option<LogKind>) -> AppEvent {
        let dir = self.ctx.home.root.join("logs");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort_by(|a, b| b.cmp(a));
        let mut sources: Vec<LogSource> = names
            .iter()
            .filter(|n| n.starts_with("bottle.log"))
            .map(|n| LogSource {
                label: format!(
                    "log {}",
                    n.trim_start_matches("bottle.log").trim_start_matches('.')
                ),
                kind: LogKind::App(dir.join(n)),
            })
            .collect();
        sources.extend(
            names
                .iter()
                .filter(|n| n.starts_with("crash-") && n.ends_with(".log"))
                .map(|n| LogSource {
                    label: format!(
                        "crash {}",
                        n.trim_start_matches("crash-").trim_end_matches(".log")
                    ),
                    kind: LogKind::Crash(dir.join(n)),
                }),
        );
        sources.extend(sidecars.into_iter().map(|slug| LogSource {
            label: format!("sidecar {slug}"),
            kind: LogKind::Sidecar(slug),
        }));
        AppEvent::LogSources(sources, select)
    }

    /// Reads a log source off the loop: the last 4 MiB of a file, or the
    /// last 5000 lines of a sidecar's output from its engine.
    fn load_log(&self, kind: LogKind) {
        let home = self.ctx.home.clone();
        self.jobs.spawn("reading a log", move |job| {
            let result = match &kind {
                LogKind::App(p) | LogKind::Crash(p) => {
                    read_tail(p, 4 << 20).map_err(|e| format!("{}: {e}", p.display()))
                }
                LogKind::Sidecar(slug) => super::sidecar::log_tail(&home, slug, 5000)
                    .map(|bytes| split_lines(&bytes, false))
                    .map_err(|e| format!("{e:#}")),
            };
            job.send(AppEvent::LogLoaded(kind, result));
            Ok(())
        });
    }

    /// The bottle list (one refresh at a time); the engines that answer go
    /// first, even when none does (the launch flow waits on them).
    fn refresh_bottles(&self) {
        let (hash, home) = (self.ctx.home_hash.clone(), self.ctx.home.clone());
        self.jobs.spawn_single("listing bottles", move |job| {
            let (engines, rows) = engine::inventory(&home, &hash);
            job.send(AppEvent::Engines(engines));
            job.send(AppEvent::Bottles(rows.map_err(|e| format!("{e:#}"))));
            Ok(())
        });
    }

    fn open(&self, app: &App, id: PaneId, slug: String, kind: PaneKind, rows: u16, cols: u16) {
        let Some(shared) = app.pane(id).map(|p| p.shared.clone()) else {
            return;
        };
        let ready = self.ready_tx.clone();
        let home = self.ctx.home.clone();
        self.jobs.spawn("opening a pane", move |job| {
            let io = match engine::open_pane(&home, &slug, kind, rows, cols) {
                Ok(io) => io,
                Err(e) => {
                    // An agent that exited before the pane could attach (a
                    // rejected login, a bad flag) left its last screen.
                    let left = (kind == PaneKind::Session)
                        .then(|| engine::replay_last_screen(&home, &slug, &shared))
                        .flatten();
                    job.send(match left {
                        Some(status) => AppEvent::Pane(PaneNotice::Ended(id, status)),
                        None => AppEvent::PaneFailed(id, e),
                    });
                    return Ok(());
                }
            };
            let notify = Mutex::new(job.clone());
            let screen = shared.clone();
            let started = PaneHandle::start(id, io, shared, move |n: PaneNotice| {
                // A session that ended before it drew anything here (the
                // agent exited as the pane attached): the screen it left.
                let n = match n {
                    PaneNotice::Ended(id, status)
                        if kind == PaneKind::Session && screen.is_blank() =>
                    {
                        let left = engine::replay_last_screen(&home, &slug, &screen);
                        PaneNotice::Ended(id, status.or(left.flatten()))
                    }
                    other => other,
                };
                if let Ok(j) = notify.lock() {
                    j.send(AppEvent::Pane(n));
                }
            });
            match started {
                Ok(handle) => {
                    let _ = ready.send((id, handle));
                    job.send(AppEvent::PaneReady(id));
                }
                Err(e) => {
                    job.send(AppEvent::PaneFailed(id, e.to_string()));
                }
            }
            Ok(())
        });
    }

    fn stop(&self, slug: String) {
        let home = self.ctx.home.clone();
        self.jobs
            .spawn("stopping a bottle", move |_| engine::stop(&home, &slug));
    }

    /// Resolves a launch off the loop; the plan waits here under a ticket.
    fn prepare(&mut self, agent: String, engine_host: Option<String>, task: Option<String>) {
        self.prepare_with(move |home, workspace| {
            let defs = crate::launcher::definitions(home, workspace)?;
            let opts = crate::launcher::Options {
                agent,
                runtime: std::env::var("BOTTLE_RUNTIME")
                    .ok()
                    .filter(|r| !r.is_empty()),
                engine_host,
                task,
                ..Default::default()
            };
            crate::launcher::prepare(home, &defs, workspace, &opts)
        });
    }

    /// Resolves bringing back the stopped bottle `slug`, like `prepare`.
    fn prepare_resume(&mut self, slug: String) {
        self.prepare_with(move |home, workspace| {
            let defs = crate::launcher::definitions(home, workspace)?;
            let slug = Slug::parse(&slug)?;
            crate::launcher::prepare_resume(home, &defs, &slug)
        });
    }

    fn prepare_with(
        &mut self,
        resolve: impl FnOnce(&crate::state::Home, &std::path::Path) -> Result<crate::launcher::Prepared>
            + Send
            + 'static,
    ) {
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        let prepared = self.prepared.clone();
        let (home, workspace) = (self.ctx.home.clone(), self.ctx.workspace.clone());
        self.jobs.spawn("preparing a launch", move |job| {
            let result = (|| -> Result<launch::PreparedInfo> {
                let p = resolve(&home, &workspace)?;
                let a = &p.plan.agent;
                let info = launch::PreparedInfo {
                    ticket,
                    slug: p.plan.slug.to_string(),
                    agent: a.display_name(),
                    preflight: p.preflight.clone(),
                    prompts: crate::launcher::prompts(&p.plan),
                    trust: (a.is_repo() && !a.trusted).then(|| launch::TrustPin {
                        path: a.def.path.clone(),
                        sha256: a.def.sha256.clone(),
                    }),
                    resume: p.resume,
                };
                if let Ok(mut m) = prepared.lock() {
                    m.insert(ticket, p);
                }
                Ok(info)
            })();
            job.send(AppEvent::Prepared(result.map_err(|e| format!("{e:#}"))));
            Ok(())
        });
    }

    /// Launches a confirmed plan; its progress goes to pane `id`, which is
    /// attached once the session is up.
    fn launch(
        &mut self,
        id: PaneId,
        ticket: u64,
        answers: Vec<(String, crate::secret::Secret)>,
        trust: Option<launch::TrustPin>,
    ) -> Option<AppEvent> {
        let Some(p) = self
            .prepared
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&ticket))
        else {
            return Some(AppEvent::PaneFailed(
                id,
                "the prepared launch is gone".into(),
            ));
        };
        let home = self.ctx.home.clone();
        self.jobs.spawn("launching", move |job| {
            let result = (|| -> Result<()> {
                if let Some(t) = &trust {
                    crate::state::TrustFile::trust(&home.trust_file(), &t.path, &t.sha256)?;
                }
                let env = crate::launcher::session_env(&p.plan, &answers)?;
                let progress_job = Mutex::new(job.clone());
                let mut progress = move |line: &str| {
                    if let Ok(j) = progress_job.lock() {
                        j.send(AppEvent::LaunchProgress(id, line.to_string()));
                    }
                };
                crate::launcher::launch(&home, &p, env, &mut progress)
            })();
            job.send(match result {
                Ok(()) => AppEvent::Launched(id),
                Err(e) => AppEvent::PaneFailed(id, format!("{e:#}")),
            });
            Ok(())
        });
        None
    }

    /// Runs an exited session again (off the loop), then re-opens its pane.
    fn restart(&self, id: PaneId, slug: String) {
        let home = self.ctx.home.clone();
        self.jobs.spawn("restarting a session", move |job| {
            let result = (|| -> Result<()> {
                let state_dir = home.state_dir(&slug);
                let slug = Slug::parse(&slug)?;
                let meta = crate::state::record::BottleRecord::read(&state_dir).unwrap_or_default();
                let env = crate::backends::inventory::restart_env(&meta)
                    .map_err(|e| anyhow::anyhow!(e))?;
                engine::restart_session(&home, &slug, &env)
            })();
            job.send(match result {
                Ok(()) => AppEvent::PaneRestarted(id),
                Err(e) => AppEvent::PaneFailed(id, format!("{e:#}")),
            });
            Ok(())
        });
    }

    /// Follows the events of the engine at `host` (once per engine, for
    /// the whole run): the bottle list is read again when a container of
    /// this home changes (instead of polling), and panes re-attach to a
    /// recreated agent. Re-subscribes after the stream ends.
    fn follow_engine(&mut self, host: String) {
        if !self.followed_engines.insert(host.clone()) {
            return;
        }
        let hash = self.ctx.home.label_hash();
        self.jobs.spawn("following engine events", move |job| {
            loop {
                let mut open = true;
                let mut was_live = false;
                let result = {
                    let mut seen = |e: EngineEvent| {
                        open = match e {
                            EngineEvent::Open => {
                                was_live = true;
                                job.send(AppEvent::EngineEvents {
                                    host: host.clone(),
                                    live: true,
                                })
                            }
                            EngineEvent::Changed {
                                slug,
                                agent_started,
                            } => {
                                (!agent_started || job.send(AppEvent::AgentStarted(slug)))
                                    && job.send(AppEvent::BottlesChanged)
                            }
                        };
                        open
                    };
                    engine::follow_changes(&host, &hash, &mut seen)
                };
                if !open {
                    break;
                }
                if let Err(e) = result {
                    tracing::debug!("following {host}'s events: {e}");
                }
                if was_live
                    && !job.send(AppEvent::EngineEvents {
                        host: host.clone(),
                        live: false,
                    })
                {
                    break;
                }
                std::thread::sleep(Duration::from_secs(2));
            }
            Ok(())
        });
    }

    /// Reads the queue and what approving each request would change.
    fn scan_queue(&self) {
        let home = self.ctx.home.clone();
        self.jobs.spawn("reading the queue", move |job| {
            let scan = crate::queue::scan(&home.queue_dir());
            let pending = scan
                .pending
                .into_iter()
                .map(|request| requests::Pending {
                    change: crate::control::describe(&home, &request),
                    request,
                })
                .collect();
            job.send(AppEvent::QueueScanned {
                pending,
                invalid: scan.invalid.len(),
            });
            Ok(())
        });
    }

    fn decide(&self, request: crate::queue::Request, intent: crate::control::Intent, note: String) {
        let home = self.ctx.home.clone();
        self.jobs.spawn("deciding a request", move |job| {
            let progress_job = Mutex::new(job.clone());
            let mut progress = move |line: &str| {
                if let Ok(j) = progress_job.lock() {
                    j.send(AppEvent::DecideProgress(line.to_string()));
                }
            };
            let result = crate::control::decide_with(
                &home,
                &request,
                intent,
                &note,
                "workspace",
                &mut progress,
            )
            .map(|d| d.summary)
            .map_err(|e| format!("{e:#}"));
            job.send(AppEvent::Decided(result));
            Ok(())
        });
    }

    fn save(&self, layout: &SavedLayout) {
        let Ok(text) = serde_json::to_vec_pretty(layout) else {
            return;
        };
        if let Some(dir) = self.ctx.layout_file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = crate::state::write_atomic(&self.ctx.layout_file, &text, 0o600) {
            tracing::warn!("saving the layout: {e:#}");
        }
    }

    fn collect_ready(&mut self) {
        while let Ok((id, handle)) = self.ready.try_recv() {
            if let Some((rows, cols)) = self.pending_size.remove(&id) {
                handle.resize(rows, cols);
            }
            for bytes in self.pending_input.remove(&id).unwrap_or_default() {
                handle.send(bytes);
            }
            self.handles.insert(id, handle);
        }
    }

    fn forget(&mut self, id: PaneId) -> Option<PaneHandle> {
        self.pending_size.remove(&id);
        self.pending_input.remove(&id);
        self.handles.remove(&id)
    }
}

/// Reads at most the last `max_bytes` of a log file as display lines
/// (tabs expanded; a line cut at the start is dropped).
pub fn read_tail(path: &std::path::Path, max_bytes: u64) -> std::io::Result<Vec<String>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let from = len.saturating_sub(max_bytes);
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    f.take(max_bytes).read_to_end(&mut bytes)?;
    Ok(split_lines(&bytes, from > 0))
}

/// The definitions and config as they are on disk now (the definitions
/// watcher's rescan; `launcher` reads them as a launch will).
pub fn load_definitions(
    home: &crate::state::Home,
    workspace: &std::path::Path,
) -> Result<crate::app::definitions::Loaded, String> {
    let defs = crate::launcher::definitions(home, workspace).map_err(|e| format!("{e:#}"))?;
    let config = home.config_file();
    Ok(crate::app::definitions::Loaded::new(
        &defs,
        &config,
        std::fs::read(&config),
    ))
}

/// Every call the workspace makes into the engine (today Docker-API
/// engines through `backends::docker`): the seam a `Backend` trait will
/// take over. Each runs inside a job.
/// What the workspace asks of engines, through each bottle's `Backend`
/// (blocking calls: jobs run them on the runtime's blocking pool).
mod engine {
    use crate::backends::{self, BackendError, Engine, EngineEvent};
    use crate::session::io::{PaneIo, PaneKind};
    use crate::state::names::Slug;
    use crate::state::Home;
    use anyhow::Result;

    /// The engine `slug` was launched on (its state says; else the default).
    pub fn host_of(home: &Home, slug: &str) -> String {
        backends::host_of(&home.state_dir(slug))
    }

    /// The engines that answer, and this home's bottles on them (with the
    /// ones stopped in its state).
    pub fn inventory(home: &Home, hash: &str) -> (Vec<Engine>, Result<Vec<crate::app::BottleRow>>) {
        let found = backends::inventory::all_bottles(hash);
        let engines = found.as_ref().map(|(e, _)| e.clone()).unwrap_or_default();
        let rows = found
            .map(|(_, rows)| backends::inventory::home_bottles(home, rows))
            .map_err(anyhow::Error::from);
        (engines, rows)
    }

    /// A pane's transport: the session (through its holder) or a shell.
    pub fn open_pane(
        home: &Home,
        slug: &str,
        kind: PaneKind,
        rows: u16,
        cols: u16,
    ) -> Result<PaneIo, String> {
        let parsed = Slug::parse(slug).map_err(|e| e.to_string())?;
        backends::for_bottle(home, slug)
            .open_pane(&parsed, kind, rows, cols)
            .map_err(|e| e.to_string())
    }

    /// Stops `slug`'s agent container (its sidecar goes with it).
    pub fn stop(home: &Home, slug: &str) -> Result<()> {
        Ok(backends::for_bottle(home, slug).stop_agent(&Slug::parse(slug)?)?)
    }

    /// Draws the screen `slug`'s exited session left on `pane`; the
    /// agent's status when there was one (`None`: nothing was left).
    pub fn replay_last_screen(
        home: &Home,
        slug: &str,
        pane: &crate::session::pane::PaneShared,
    ) -> Option<Option<i32>> {
        let parsed = Slug::parse(slug).ok()?;
        let last = backends::for_bottle(home, slug)
            .last_screen(&parsed)
            .unwrap_or_else(|e| {
                tracing::debug!(slug, "no last screen: {e}");
                None
            })?;
        pane.replay(&last.screen);
        Some(last.status)
    }

    /// Runs `slug`'s session again in its agent container.
    pub fn restart_session(
        home: &Home,
        slug: &Slug,
        env: &[(String, crate::secret::Secret)],
    ) -> Result<()> {
        let started = backends::for_bottle(home, slug.as_str()).restart_session(slug, env)?;
        if let Some(isolation) = started {
            isolation.save_into(&home.state_dir(slug.as_str()))?;
        }
        Ok(())
    }

    /// Calls `seen` with the events of this home's containers on `host`,
    /// until it returns false or the stream ends.
    pub fn follow_changes(
        host: &str,
        hash: &str,
        seen: &mut (dyn FnMut(EngineEvent) -> bool + Send),
    ) -> Result<(), BackendError> {
        backends::connect(host).follow_changes(hash, seen)
    }
}

#[cfg(test)]
mod tests {
    use super::read_tail;

    #[test]
    fn a_tail_drops_the_cut_line_and_expands_tabs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.log");
        std::fs::write(&p, "first line\nsecond\tline\nthird\n").expect("write");
        assert_eq!(
            read_tail(&p, 1 << 20).expect("read"),
            vec!["first line", "second    line", "third"]
        );
        assert_eq!(
            read_tail(&p, 12).expect("read"),
            vec!["third"],
            "the partial line is dropped"
        );
    }
}
