//! The new-agent flow after the picker, as modal layers: a masked prompt
//! per `?` value, then the preflight (scrollable; `y` launches, and trusts a
//! repo agent it names; anything else cancels). Pure state; the loop
//! prepares and launches (`launcher`), `ui/launch.rs` draws.

use super::{Effect, Overlay, PaneState};
use crate::secret::Secret;
use crate::session::io::PaneKind;
use crate::session::layout::PaneId;
use crate::session::screen::Screen;
use crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;

/// A repo agent the operator trusts by launching it: pinned in trust.json.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustPin {
    pub path: PathBuf,
    pub sha256: String,
}

/// A prepared launch, as the loop reports it (the plan stays with the loop
/// under `ticket`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedInfo {
    pub ticket: u64,
    pub slug: String,
    pub agent: String,
    pub preflight: String,
    /// `?` values to ask: (name, message).
    pub prompts: Vec<(String, String)>,
    pub trust: Option<TrustPin>,
    /// Bringing back a stopped bottle (same slug and volumes).
    pub resume: bool,
}

/// Where the operator is in a launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchFlow {
    pub info: PreparedInfo,
    pub answers: Vec<(String, Secret)>,
    /// The value being typed for `info.prompts[answers.len()]`.
    pub typing: Secret,
    /// Preflight scroll (lines).
    pub scroll: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowOutcome {
    Stay,
    Cancel,
    Launch,
}

impl LaunchFlow {
    pub fn new(info: PreparedInfo) -> LaunchFlow {
        LaunchFlow {
            info,
            answers: Vec::new(),
            typing: Secret::new(""),
            scroll: 0,
        }
    }

    /// The prompt being answered, if any are left.
    pub fn asking(&self) -> Option<&(String, String)> {
        self.info.prompts.get(self.answers.len())
    }

    pub fn key(&mut self, key: KeyEvent) -> FlowOutcome {
        if let Some((name, _)) = self.asking().cloned() {
            match key.code {
                KeyCode::Esc => return FlowOutcome::Cancel,
                KeyCode::Enter => {
                    let value = std::mem::replace(&mut self.typing, Secret::new(""));
                    self.answers.push((name, value));
                }
                KeyCode::Backspace => {
                    let mut v = self.typing.expose().to_string();
                    v.pop();
                    self.typing = Secret::new(v);
                }
                KeyCode::Char(c) if !c.is_control() => {
                    self.typing = Secret::new(format!("{}{c}", self.typing.expose()));
                }
                _ => {}
            }
            return FlowOutcome::Stay;
        }
        match key.code {
            KeyCode::Char('y' | 'Y') => FlowOutcome::Launch,
            KeyCode::Up | KeyCode::Char('k') => {
                self.scroll = self.scroll.saturating_sub(1);
                FlowOutcome::Stay
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.scroll = self.scroll.saturating_add(1);
                FlowOutcome::Stay
            }
            KeyCode::PageUp => {
                self.scroll = self.scroll.saturating_sub(10);
                FlowOutcome::Stay
            }
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.scroll = self.scroll.saturating_add(10);
                FlowOutcome::Stay
            }
            // No: anything else cancels (the default is not to launch).
            _ => FlowOutcome::Cancel,
        }
    }
}

impl super::App {
    /// The backend picker when more than one engine answers; else straight
    /// to preparing the launch on the one there is.
    pub(super) fn choose_backend(&mut self, agent: String, task: Option<String>) -> Vec<Effect> {
        let Some(engines) = &self.engines else {
            // Asked before the first look at the engines: decide when it lands.
            self.notice = Some("looking for container engines…".into());
            self.awaiting_engines = Some((agent, task));
            return vec![Effect::Redraw];
        };
        if engines.len() > 1 {
            self.overlay = Some(Overlay::Engines(super::engine_picker::EnginePicker {
                agent,
                task,
                engines: engines.clone(),
                selected: 0,
            }));
            return vec![Effect::Redraw];
        }
        let host = engines.first().map(|e| e.host.clone());
        self.prepare_launch(agent, host, task)
    }

    /// The engines that answer: an agent chosen before they were known
    /// goes on.
    pub(super) fn engines_found(&mut self, engines: Vec<crate::backends::Engine>) -> Vec<Effect> {
        let mut effects: Vec<Effect> = engines
            .iter()
            .filter(|e| !self.engines_followed.contains(&e.host))
            .map(|e| Effect::FollowEngine(e.host.clone()))
            .collect();
        self.engines = Some(engines);
        if let Some((agent, task)) = self.awaiting_engines.take() {
            effects.extend(self.choose_backend(agent, task));
        }
        effects
    }

    pub(super) fn prepare_launch(
        &mut self,
        agent: String,
        engine_host: Option<String>,
        task: Option<String>,
    ) -> Vec<Effect> {
        self.notice = Some(format!("preparing {agent}…"));
        vec![
            Effect::PrepareLaunch {
                agent,
                engine_host,
                task,
            },
            Effect::Redraw,
        ]
    }

    /// A launch (or resume) was prepared: its prompts and preflight take
    /// the screen; a failure is a notice.
    pub(super) fn prepared(&mut self, result: Result<PreparedInfo, String>) -> Vec<Effect> {
        match result {
            Ok(info) => {
                self.notice = None;
                self.launch = Some(LaunchFlow::new(info));
                self.overlay = Some(Overlay::Launch);
            }
            Err(why) => self.notice = Some(format!("cannot launch: {why}")),
        }
        vec![Effect::Redraw]
    }

    /// Keys for the prompts and the preflight of the launch being confirmed.
    pub(super) fn launch_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(flow) = self.launch.as_mut() else {
            self.overlay = None;
            return vec![Effect::Redraw];
        };
        match flow.key(key) {
            FlowOutcome::Stay => vec![Effect::Redraw],
            FlowOutcome::Cancel => {
                self.overlay = None;
                let ticket = self.launch.take().map(|f| f.info.ticket);
                self.notice = Some("not launched".into());
                let mut effects: Vec<Effect> =
                    ticket.map(Effect::DiscardLaunch).into_iter().collect();
                effects.push(Effect::Redraw);
                effects
            }
            FlowOutcome::Launch => {
                self.overlay = None;
                let Some(flow) = self.launch.take() else {
                    return vec![Effect::Redraw];
                };
                self.notice = Some(format!("launching {}", flow.info.slug));
                let mut effects = self.add_pane(flow.info.slug.clone(), PaneKind::Session, None);
                // The pane shows the launch's progress until the session is up.
                effects.retain(|e| !matches!(e, Effect::OpenPane { .. }));
                let id = self.next_id - 1;
                if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
                    p.state = PaneState::Launching;
                }
                effects.insert(
                    0,
                    Effect::Launch {
                        id,
                        ticket: flow.info.ticket,
                        answers: flow.answers,
                        trust: flow.info.trust,
                    },
                );
                effects
            }
        }
    }

    /// A line of the launch's progress, shown in its pane.
    pub(super) fn launch_progress(&mut self, id: PaneId, line: &str) -> Vec<Effect> {
        if let Some(p) = self.pane(id) {
            if let Ok(mut s) = p.shared.screen.lock() {
                s.process(format!("{}\r\n", crate::sanitize::inline(line)).as_bytes());
            }
        }
        vec![Effect::Redraw]
    }

    /// The launched bottle's session is up: its pane attaches.
    /// The status line's "launching <slug>" gives way to "<slug> is up"
    /// (which fades on a later tick).
    pub(super) fn launched(&mut self, id: PaneId) -> Vec<Effect> {
        let mut effects = vec![Effect::RefreshBottles, Effect::Redraw];
        let Some(p) = self.pane(id) else {
            return effects;
        };
        let (slug, launching) = (p.slug.clone(), p.state == PaneState::Launching);
        self.fading_notice(format!("{slug} is up"));
        if launching {
            effects.extend(self.reopen(id));
        }
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn info(prompts: &[&str]) -> PreparedInfo {
        PreparedInfo {
            ticket: 1,
            slug: "dev-abcdef".into(),
            agent: "dev".into(),
            preflight: "plan".into(),
            prompts: prompts
                .iter()
                .map(|n| (n.to_string(), format!("your {n}")))
                .collect(),
            trust: None,
            resume: false,
        }
    }

    fn press(f: &mut LaunchFlow, code: KeyCode) -> FlowOutcome {
        f.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn each_prompt_is_answered_masked_then_y_launches() {
        let mut f = LaunchFlow::new(info(&["TOKEN", "REGION"]));
        for c in "s3cret!".chars() {
            press(&mut f, KeyCode::Char(c));
        }
        press(&mut f, KeyCode::Backspace);
        assert!(!format!("{f:?}").contains("s3cret"), "never in Debug");
        press(&mut f, KeyCode::Enter);
        assert_eq!(f.asking().map(|(n, _)| n.as_str()), Some("REGION"));
        // `y` while a prompt is open is part of the value, not a yes.
        assert_eq!(press(&mut f, KeyCode::Char('y')), FlowOutcome::Stay);
        press(&mut f, KeyCode::Enter);
        assert_eq!(f.asking(), None);
        assert_eq!(
            f.answers
                .iter()
                .map(|(n, v)| (n.as_str(), v.expose()))
                .collect::<Vec<_>>(),
            vec![("TOKEN", "s3cret"), ("REGION", "y")]
        );
        press(&mut f, KeyCode::Down);
        assert_eq!(f.scroll, 1);
        assert_eq!(press(&mut f, KeyCode::Char('y')), FlowOutcome::Launch);
    }

    #[test]
    fn esc_cancels_a_prompt_and_anything_but_y_cancels_the_preflight() {
        let mut f = LaunchFlow::new(info(&["TOKEN"]));
        assert_eq!(press(&mut f, KeyCode::Esc), FlowOutcome::Cancel);
        let mut f = LaunchFlow::new(info(&[]));
        assert_eq!(press(&mut f, KeyCode::Enter), FlowOutcome::Cancel);
        let mut f = LaunchFlow::new(info(&[]));
        assert_eq!(press(&mut f, KeyCode::Char('n')), FlowOutcome::Cancel);
    }
}

#[cfg(test)]
mod app_tests {
    use crate::app::test_support::{key, with_bottles};
    use crate::app::{engine_picker, launch, Action, AppEvent, Effect, Focus, Overlay, PaneState};
    use crate::session::screen::Screen;
    use crossterm::event::{KeyCode, KeyModifiers};

    #[test]
    fn new_agent_picks_prepares_confirms_launches_and_attaches() {
        use launch::{PreparedInfo, TrustPin};
        let mut a = with_bottles();
        a.apply(Action::NewAgent);
        a.update(key(KeyCode::Char('b'), KeyModifiers::NONE));
        // Chosen before the engines are known: it waits for them.
        let fx = a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        assert!(!fx.iter().any(|e| matches!(e, Effect::PrepareLaunch { .. })));
        let fx = a.update(AppEvent::Engines(vec![]));
        assert_eq!(
            fx[0],
            Effect::PrepareLaunch {
                agent: "b".into(),
                engine_host: None,
                task: None
            }
        );
        a.apply(Action::NewAgent);
        assert!(matches!(a.overlay, Some(Overlay::Picker(_))));
        a.update(key(KeyCode::Char('b'), KeyModifiers::NONE));
        let fx = a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(
            fx[0],
            Effect::PrepareLaunch {
                agent: "b".into(),
                engine_host: None,
                task: None
            }
        );
        assert_eq!(a.overlay, None);
        let trust = TrustPin {
            path: "/w/.bottle/agents/b.md".into(),
            sha256: "ab".into(),
        };
        a.update(AppEvent::Prepared(Ok(PreparedInfo {
            ticket: 7,
            slug: "b-123456".into(),
            agent: "b".into(),
            preflight: "plan".into(),
            prompts: vec![("TOKEN".into(), "token?".into())],
            trust: Some(trust.clone()),
            resume: false,
        })));
        assert_eq!(a.overlay, Some(Overlay::Launch));
        a.update(key(KeyCode::Char('t'), KeyModifiers::NONE));
        a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        let fx = a.update(key(KeyCode::Char('y'), KeyModifiers::NONE));
        let id = a.panes.last().map(|p| p.id).expect("a pane");
        assert_eq!(
            fx[0],
            Effect::Launch {
                id,
                ticket: 7,
                answers: vec![("TOKEN".into(), crate::secret::Secret::new("t"))],
                trust: Some(trust),
            }
        );
        assert!(!fx.iter().any(|e| matches!(e, Effect::OpenPane { .. })));
        assert_eq!(
            a.pane(id).map(|p| p.state.clone()),
            Some(PaneState::Launching)
        );
        // Keys typed while it launches are not sent anywhere yet.
        assert!(a
            .update(key(KeyCode::Char('x'), KeyModifiers::NONE))
            .is_empty());
        a.update(AppEvent::LaunchProgress(
            id,
            "building bottle/agent-shell\x1b]52;c;x\x07".into(),
        ));
        let text = a
            .pane(id)
            .expect("pane")
            .shared
            .screen
            .lock()
            .expect("s")
            .text_rows()
            .join("\n");
        assert!(text.contains("building bottle/agent-shell"), "{text}");
        let fx = a.update(AppEvent::Launched(id));
        assert!(fx
            .iter()
            .any(|e| matches!(e, Effect::OpenPane { id: i, .. } if *i == id)));
    }

    /// A launch confirmed at once: its pane, launching.
    fn launching() -> (crate::app::App, crate::session::layout::PaneId) {
        let mut a = with_bottles();
        a.update(AppEvent::Engines(vec![]));
        a.update(AppEvent::Prepared(Ok(launch::PreparedInfo {
            ticket: 1,
            slug: "dev-abcdef".into(),
            agent: "dev".into(),
            preflight: "plan".into(),
            prompts: vec![],
            trust: None,
            resume: false,
        })));
        a.update(key(KeyCode::Char('y'), KeyModifiers::NONE));
        let id = a.panes.last().map(|p| p.id).expect("a pane");
        assert_eq!(a.notice.as_deref(), Some("launching dev-abcdef"));
        (a, id)
    }

    #[test]
    fn the_status_line_says_when_the_launch_is_up_and_then_lets_go() {
        let (mut a, id) = launching();
        a.update(AppEvent::Launched(id));
        assert_eq!(a.notice.as_deref(), Some("dev-abcdef is up"));
        // A tick before it fades keeps it; the first one after clears it.
        a.update(AppEvent::Tick);
        assert_eq!(a.notice.as_deref(), Some("dev-abcdef is up"));
        if let Some((at, _)) = &mut a.notice_fades {
            *at = std::time::Instant::now() - std::time::Duration::from_secs(1);
        }
        a.update(AppEvent::Tick);
        assert_eq!(a.notice, None);
    }

    #[test]
    fn newer_news_is_not_faded_with_the_launch() {
        let (mut a, id) = launching();
        a.update(AppEvent::Launched(id));
        a.notice = Some("something else".into());
        if let Some((at, _)) = &mut a.notice_fades {
            *at = std::time::Instant::now() - std::time::Duration::from_secs(1);
        }
        a.update(AppEvent::Tick);
        assert_eq!(a.notice.as_deref(), Some("something else"));
    }

    #[test]
    fn a_failed_launch_replaces_launching_with_its_error() {
        let (mut a, id) = launching();
        a.update(AppEvent::PaneFailed(
            id,
            "building the image: no space left\ndetails".into(),
        ));
        assert_eq!(
            a.notice.as_deref(),
            Some("launching dev-abcdef failed: building the image: no space left")
        );
    }

    #[test]
    fn saying_no_to_the_preflight_discards_the_plan_and_opens_nothing() {
        let mut a = with_bottles();
        a.update(AppEvent::Engines(vec![]));
        a.update(AppEvent::Prepared(Ok(launch::PreparedInfo {
            ticket: 3,
            slug: "b-123456".into(),
            agent: "b".into(),
            preflight: "plan".into(),
            prompts: vec![],
            trust: None,
            resume: false,
        })));
        let fx = a.update(key(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(fx[0], Effect::DiscardLaunch(3));
        assert!(a.panes.is_empty() && a.overlay.is_none() && a.launch.is_none());
        // A failed preparation is a notice, not a modal.
        a.update(AppEvent::Prepared(Err("no agent `zz`".into())));
        assert!(a.notice.as_deref().is_some_and(|n| n.contains("no agent")));
        assert!(a.overlay.is_none());
        // Enter on an agent in the sidebar prepares a launch of it.
        a.selected = 1;
        a.focus = Focus::Sidebar;
        let fx = a.apply(Action::OpenSelected);
        assert_eq!(
            fx[0],
            Effect::PrepareLaunch {
                agent: "b".into(),
                engine_host: None,
                task: None
            }
        );
    }

    #[test]
    fn with_two_engines_the_backend_picker_comes_between_agent_and_plan() {
        let mut a = with_bottles();
        a.update(AppEvent::Engines(engine_picker::tests::engines()));
        a.apply(Action::NewAgent);
        a.update(key(KeyCode::Char('b'), KeyModifiers::NONE));
        a.update(key(KeyCode::Tab, KeyModifiers::NONE));
        a.update(AppEvent::Paste("make test".into()));
        let fx = a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        assert!(!fx.iter().any(|e| matches!(e, Effect::PrepareLaunch { .. })));
        assert!(matches!(a.overlay, Some(Overlay::Engines(_))));
        a.update(key(KeyCode::Down, KeyModifiers::NONE));
        let fx = a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(
            fx[0],
            Effect::PrepareLaunch {
                agent: "b".into(),
                engine_host: Some("unix:///run/podman/podman.sock".into()),
                task: Some("make test".into())
            }
        );
        assert_eq!(a.overlay, None);
        // Esc in the backend picker launches nothing.
        a.apply(Action::NewAgent);
        a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        let fx = a.update(key(KeyCode::Esc, KeyModifiers::NONE));
        assert!(!fx.iter().any(|e| matches!(e, Effect::PrepareLaunch { .. })));
        assert_eq!(a.overlay, None);
    }
}
