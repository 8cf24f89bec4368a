//! `App::update`: each event goes to its handler, one line per event; the
//! handlers live with the state they change (panes.rs, launch.rs,
//! requests.rs, logview.rs, layer.rs for keys). No I/O here: what needs
//! the outside world comes back as an `Effect`.

use super::{App, AppEvent, Effect, Focus, Overlay, RunOutcome};
use crate::session::pane::PaneNotice;
use crossterm::event::KeyEventKind;
use std::time::Instant;

impl App {
    pub fn update(&mut self, event: AppEvent) -> Vec<Effect> {
        let effects = self.dispatch(event);
        // The focused pane is being looked at.
        if let Focus::Pane(id) = self.focus {
            if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
                p.needs_input = false;
                p.unseen_output = false;
            }
        }
        effects
    }

    fn dispatch(&mut self, event: AppEvent) -> Vec<Effect> {
        match event {
            AppEvent::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            AppEvent::Key(_) => Vec::new(),
            AppEvent::Paste(text) => self.on_paste(&text),
            AppEvent::Mouse(m) => self.on_mouse(m),
            AppEvent::Resize { rows, cols } => self.resized(rows, cols),
            AppEvent::Signal(sig) => vec![Effect::Exit(RunOutcome::Signal(sig))],
            AppEvent::Pane(PaneNotice::Output(id)) => self.pane_output(id),
            AppEvent::Pane(PaneNotice::Ended(id, status)) => self.pane_ended(id, status),
            AppEvent::PaneReady(id) => self.pane_ready(id),
            AppEvent::PaneFailed(id, why) => self.pane_failed(id, why),
            AppEvent::PaneRestarted(id) => self.reopen(id),
            AppEvent::InputDropped(id) => self.input_dropped(id),
            AppEvent::AgentStarted(slug) => self.agent_started(&slug),
            AppEvent::Bottles(result) => self.bottles_listed(result),
            AppEvent::Restore(saved) => self.restore_later(saved),
            AppEvent::Engines(engines) => self.engines_found(engines),
            AppEvent::Prepared(result) => self.prepared(result),
            AppEvent::LaunchProgress(id, line) => self.launch_progress(id, &line),
            AppEvent::Launched(id) => self.launched(id),
            AppEvent::LogSources(sources, select) => self.log_sources(sources, select),
            AppEvent::LogLoaded(kind, result) => self.log_loaded(kind, result),
            AppEvent::CrashFound(path) => self.crash_found(path),
            AppEvent::Definitions(result) => self.definitions_loaded(result),
            AppEvent::QueueChanged => self.queue_changed(),
            AppEvent::QueueScanned { pending, invalid } => self.queue_scanned(pending, invalid),
            AppEvent::Decided(result) => self.decided(result),
            AppEvent::DecideProgress(line) => self.decide_progress(&line),
            AppEvent::Edited(key, result) => self.edited(&key, result),
            AppEvent::JobFailed { job, error } => self.job_failed(job, &error),
            AppEvent::Tick => self.tick(),
        }
    }

    /// Periodic: follow a log, scan the queue, notice quiet prompts,
    /// refresh the bottle list (one refresh at a time).
    fn tick(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some((at, text)) = self.notice_fades.take() {
            if Instant::now() < at {
                self.notice_fades = Some((at, text));
            } else if self.notice.as_ref() == Some(&text) {
                self.notice = None;
                effects.push(Effect::Redraw);
            }
        }
        if let Some(Overlay::Logs(v)) = &self.overlay {
            if let (true, Some(k)) = (v.follow, v.current()) {
                effects.push(Effect::LoadLog(k.clone()));
            }
        }
        effects.extend(self.queue_changed());
        let waiting = self.quiet_prompts();
        if !waiting.is_empty() {
            effects.push(Effect::Redraw);
        }
        for slug in waiting {
            let text = format!("{slug} needs input");
            effects.extend(self.notify.sequence(&text).map(Effect::Notify));
        }
        if !self.refreshing {
            self.refreshing = true;
            effects.push(Effect::RefreshBottles);
        }
        effects
    }

    fn job_failed(&mut self, job: &str, error: &str) -> Vec<Effect> {
        self.notice = Some(format!("{job} failed: {error}"));
        vec![Effect::Redraw]
    }
}
