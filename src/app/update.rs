//! `App::update`: each event goes to its handler, one line per event; the
//! handlers live with the state they change (panes.rs, launch.rs,
//! requests.rs, logview.rs, layer.rs for keys). No I/O here: what needs
//! the outside world comes back as an `Effect`.

use super::{App, AppEvent, Effect, Focus, Overlay, RunOutcome};
use crate::session::pane::PaneNotice;
use crossterm::event::KeyEventKind;
use std::time::Instant;

/// With every engine's events followed, the list is still read every
/// this many ticks (2 s each): what no event tells (a stopped bottle
/// removed by another process) shows within a minute.
pub const SLOW_POLL_TICKS: u32 = 15;

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
            AppEvent::BottlesChanged => self.bottles_changed(),
            AppEvent::EngineEvents { host, live } => self.engine_events(host, live),
            AppEvent::Bottles(result) => self.bottles_listed(result),
            AppEvent::GateDecision { slug, decision } => self.gate_decided(slug, decision),
            AppEvent::GateStream { slug, gate } => self.gate_stream_ended(slug, gate),
            AppEvent::PushesFetched { slug, result } => self.pushes_fetched(slug, result),
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
        self.ticks_since_refresh = self.ticks_since_refresh.saturating_add(1);
        let due = !self.events_cover_engines() || self.ticks_since_refresh >= SLOW_POLL_TICKS;
        if due {
            effects.extend(self.refresh());
        }
        effects
    }

    /// Reads the bottle list (one refresh at a time; a request during one
    /// runs once after it).
    pub(super) fn refresh(&mut self) -> Vec<Effect> {
        if self.refreshing {
            self.refresh_again = true;
            return Vec::new();
        }
        self.refreshing = true;
        self.ticks_since_refresh = 0;
        vec![Effect::RefreshBottles]
    }

    fn bottles_changed(&mut self) -> Vec<Effect> {
        self.refresh()
    }

    /// Whether every engine that answers tells its changes as events, so
    /// the list need not be polled.
    fn events_cover_engines(&self) -> bool {
        self.engines.as_ref().is_some_and(|e| {
            !e.is_empty() && e.iter().all(|e| self.engines_followed.contains(&e.host))
        })
    }

    fn engine_events(&mut self, host: String, live: bool) -> Vec<Effect> {
        if live {
            self.engines_followed.insert(host);
            Vec::new()
        } else {
            // Changes may have been missed while it was down.
            self.engines_followed.remove(&host);
            self.refresh()
        }
    }

    fn job_failed(&mut self, job: &str, error: &str) -> Vec<Effect> {
        self.notice = Some(format!("{job} failed: {error}"));
        vec![Effect::Redraw]
    }
}

#[cfg(test)]
mod tests {
    use super::SLOW_POLL_TICKS;
    use crate::app::test_support::with_bottles;
    use crate::app::{AppEvent, Effect};
    use crate::backends::Engine;

    fn engine(host: &str) -> Engine {
        Engine {
            kind: "docker".into(),
            host: host.into(),
            version: "1.41".into(),
            default: true,
        }
    }

    fn refreshes(fx: &[Effect]) -> usize {
        fx.iter()
            .filter(|e| matches!(e, Effect::RefreshBottles))
            .count()
    }

    #[test]
    fn engines_that_tell_their_changes_are_not_polled_but_read_on_each_change() {
        let mut a = with_bottles();
        let fx = a.update(AppEvent::Engines(vec![
            engine("unix:///a"),
            engine("unix:///b"),
        ]));
        assert!(fx.contains(&Effect::FollowEngine("unix:///a".into())));
        assert!(fx.contains(&Effect::FollowEngine("unix:///b".into())));
        // No events yet: every tick reads the list (when none is running).
        assert_eq!(refreshes(&a.update(AppEvent::Tick)), 1);
        a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        // One engine's stream is open, the other's is not: still polled.
        a.update(AppEvent::EngineEvents {
            host: "unix:///a".into(),
            live: true,
        });
        assert_eq!(refreshes(&a.update(AppEvent::Tick)), 1);
        a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        // Both open: ticks stop reading it until the slow poll is due.
        a.update(AppEvent::EngineEvents {
            host: "unix:///b".into(),
            live: true,
        });
        for _ in 1..SLOW_POLL_TICKS {
            assert_eq!(refreshes(&a.update(AppEvent::Tick)), 0);
        }
        assert_eq!(refreshes(&a.update(AppEvent::Tick)), 1, "the slow poll");
        a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        // A change reads it at once; changes during a refresh make one more.
        assert_eq!(refreshes(&a.update(AppEvent::BottlesChanged)), 1);
        assert_eq!(refreshes(&a.update(AppEvent::BottlesChanged)), 0);
        assert_eq!(refreshes(&a.update(AppEvent::BottlesChanged)), 0);
        let fx = a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        assert_eq!(refreshes(&fx), 1, "once more after the refresh");
        let fx = a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        assert_eq!(refreshes(&fx), 0);
        // A stream that ends: read now (changes may be lost), then polled.
        assert_eq!(
            refreshes(&a.update(AppEvent::EngineEvents {
                host: "unix:///a".into(),
                live: false,
            })),
            1
        );
        a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        assert_eq!(refreshes(&a.update(AppEvent::Tick)), 1);
        // An engine already followed is not followed twice.
        a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        let fx = a.update(AppEvent::Engines(vec![engine("unix:///b")]));
        assert!(!fx.contains(&Effect::FollowEngine("unix:///b".into())));
    }
}
