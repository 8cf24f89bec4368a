//! The workspace's state machine. `update` turns an `AppEvent` into state
//! changes and `Effect`s; it does no I/O, so it is unit-tested directly.
//! Only the app loop (run.rs) mutates `App`; `ui::render` reads it.
//!
//! Panes: each shows a bottle's session (through its holder) or a plain
//! shell in it. The layout is a tree of splits (`session::layout`); every
//! change of layout or terminal size resizes the panes' emulators here and
//! their sessions through `Effect::ResizePane`. The layout is saved per
//! workspace directory and restored on the next start for the bottles that
//! still run.

pub mod engine_picker;
pub mod keymap;
pub mod launch;
pub mod logview;
pub mod picker;
pub mod requests;
mod run;

pub use run::{run, RunContext, RunOutcome};

use crate::manifest::{Definitions, Severity};
use crate::session::io::PaneKind;
use crate::session::layout::{self, Area, Direction, Node, PaneId, Split};
use crate::session::pane::{PaneNotice, PaneShared};
use crate::session::screen::Screen;
use crossterm::event::{KeyEvent, KeyEventKind};
use keymap::Keymap;
use std::sync::Arc;
use std::time::Instant;

/// How long a pane's output must be quiet, with its cursor after a prompt,
/// before an unwatched pane counts as waiting for the operator.
pub const QUIET_AFTER_PROMPT: std::time::Duration = std::time::Duration::from_secs(3);

/// Columns the sidebar takes.
pub const SIDEBAR_WIDTH: u16 = 32;
/// How long after its agent container started again a pane still on the
/// old container re-attaches when that connection ends.
pub const REATTACH_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// What happened.
#[derive(Debug, Clone)]
pub enum AppEvent {
    Key(KeyEvent),
    Paste(String),
    Mouse(crossterm::event::MouseEvent),
    Resize {
        rows: u16,
        cols: u16,
    },
    /// SIGTERM / SIGHUP: restore the terminal and leave.
    Signal(i32),
    Pane(PaneNotice),
    /// A pane's transport is up (its handle is with the loop).
    PaneReady(PaneId),
    PaneFailed(PaneId, String),
    /// An ended session runs again: re-open its pane.
    PaneRestarted(PaneId),
    /// This home's bottles, from the engines (or why not).
    Bottles(Result<Vec<BottleRow>, String>),
    /// The engines that answer, the default first.
    Engines(Vec<crate::backends::Engine>),
    /// The log viewer's sources, listed; select this one first.
    LogSources(Vec<logview::LogSource>, Option<logview::LogKind>),
    /// A log source's lines (or why not).
    LogLoaded(logview::LogKind, Result<Vec<String>, String>),
    /// The last run crashed and its report was not offered yet.
    CrashFound(std::path::PathBuf),
    /// Periodic: refresh what goes stale (the bottle list).
    Tick,
    /// The layout saved by the last workspace in this directory.
    Restore(SavedLayout),
    /// A launch was prepared (plan and preflight), or why not.
    Prepared(Result<launch::PreparedInfo, String>),
    /// A line of a launch's progress, for its pane.
    LaunchProgress(PaneId, String),
    /// The launched bottle's session is up: attach the pane.
    Launched(PaneId),
    /// Something changed under `queue/` (the watcher).
    QueueChanged,
    /// The queue's pending requests (with what approving each changes)
    /// and how many files there are not valid requests.
    QueueScanned {
        pending: Vec<requests::Pending>,
        invalid: usize,
    },
    /// A decision was made (its summary), or why not.
    Decided(Result<String, String>),
    /// A line of a decision's effect in progress (a capability's build).
    DecideProgress(String),
    /// A bottle's agent container started (engine events).
    AgentStarted(String),
    /// The editor returned for a request (`<slug>/<id>`): the edited
    /// payload, `None` when unchanged, or why not.
    Edited(String, Result<Option<crate::queue::Payload>, String>),
}

/// What the operator wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Quit,
    ToggleHelp,
    CloseOverlay,
    SelectNext,
    SelectPrev,
    /// Open the selected bottle's session in a new pane.
    OpenSelected,
    /// A plain shell into the bottle selected in the sidebar.
    NewShell,
    /// Move focus between the sidebar and the panes.
    ToggleSidebar,
    Focus(Direction),
    FocusNext,
    /// A plain shell into the focused pane's bottle, beside it.
    SplitColumns,
    SplitRows,
    Zoom,
    /// Close the focused pane (detach; the bottle keeps running).
    ClosePane,
    /// Stop the focused pane's bottle, after confirmation.
    StopPane,
    SwapNext,
    /// Scroll the focused pane's history with the keyboard.
    CopyMode,
    /// Pick an agent and launch a new bottle of it.
    NewAgent,
    /// Show every definition problem.
    Problems,
    /// The log viewer.
    Logs,
    /// Give the keyboard to the agents' requests prompt.
    Requests,
}

/// I/O for the loop to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Exit(RunOutcome),
    /// Read the queue (off the loop), then `QueueScanned`.
    ScanQueue,
    /// Decide a request through `control` (off the loop), then `Decided`.
    Decide {
        request: Box<crate::queue::Request>,
        intent: crate::control::Intent,
        note: String,
    },
    /// Give the terminal to the operator's editor for this request's
    /// payload, then `Edited`.
    EditRequest(Box<crate::queue::Request>),
    Redraw,
    OpenPane {
        id: PaneId,
        slug: String,
        kind: PaneKind,
        rows: u16,
        cols: u16,
    },
    PaneInput(PaneId, Vec<u8>),
    /// A pane rang the bell: ring the operator's terminal (rate-limited).
    Bell,
    /// A desktop notification through the outer terminal (this escape
    /// sequence, written between frames).
    Notify(String),
    ResizePane {
        id: PaneId,
        rows: u16,
        cols: u16,
    },
    ClosePane(PaneId),
    /// Run an ended session again in its bottle, then `PaneRestarted`.
    RestartSession {
        id: PaneId,
        slug: String,
    },
    StopBottle(String),
    /// Resolve a launch of this agent (plan, preflight) off the loop.
    PrepareLaunch {
        agent: String,
        /// The chosen engine; the default when `None`.
        engine_host: Option<String>,
        task: Option<String>,
    },
    /// Resolve bringing back this stopped bottle (plan, preflight with
    /// what changed) off the loop; then the same flow as a launch.
    PrepareResume(String),
    /// Launch the prepared plan `ticket` into pane `id`.
    Launch {
        id: PaneId,
        ticket: u64,
        answers: Vec<(String, crate::secret::Secret)>,
        trust: Option<launch::TrustPin>,
    },
    /// The operator said no: forget the prepared plan.
    DiscardLaunch(u64),
    RefreshBottles,
    SaveLayout(SavedLayout),
    /// List the log viewer's sources (with these bottles' sidecars), then
    /// `LogSources`.
    ListLogs {
        sidecars: Vec<String>,
        select: Option<logview::LogKind>,
    },
    /// Read a log source, then `LogLoaded`.
    LoadLog(logview::LogKind),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    /// The agent's name (what its bottles are labelled with).
    pub name: String,
    /// `name`, or `name (repo)`: what the operator sees and launches.
    pub label: String,
    pub bottle: String,
    pub repo: bool,
    pub trusted: bool,
    pub note: Option<String>,
}

/// A bottle of this home, as the engine and the home's state show it.
pub type BottleRow = crate::backends::inventory::BottleInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help,
    /// The new-agent picker.
    Picker(picker::Picker),
    /// The backend picker (more than one engine answers).
    Engines(engine_picker::EnginePicker),
    /// The `?` prompts and the preflight of `App::launch`.
    Launch,
    /// Every definition and config problem (what `bottle check` prints),
    /// scrolled by this many lines.
    Problems(u16),
    /// y/N before stopping this pane's bottle.
    ConfirmStop(PaneId),
    /// The log viewer.
    Logs(logview::LogViewer),
    /// The last run crashed: open its report? (Enter opens, anything else
    /// dismisses.)
    CrashOffer(std::path::PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Sidebar,
    Pane(PaneId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaneState {
    /// Its bottle is being launched (progress shows in the pane).
    Launching,
    Connecting,
    Live,
    /// The agent (or shell) exited with this status.
    Exited(i32),
    /// The connection ended without an exit (the bottle went away).
    Lost,
    Failed(String),
}

pub struct PaneView {
    pub id: PaneId,
    pub slug: String,
    pub kind: PaneKind,
    pub shared: Arc<PaneShared>,
    pub state: PaneState,
    /// The emulator's size (the pane's inside).
    pub rows: u16,
    pub cols: u16,
    /// The program asked for attention (bell, OSC 9/777) while the pane
    /// was not focused.
    pub needs_input: bool,
    seen_attention: u64,
    seen_bells: u64,
    /// Output arrived since the operator last looked at the pane.
    unseen_output: bool,
    /// Its agent container started again (a capability approval recreated
    /// it) while the pane was still on the old one: re-attach when the old
    /// connection ends, until then.
    reattach_by: Option<Instant>,
}

/// What is saved per workspace directory to restore its panes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedLayout {
    pub version: u32,
    pub panes: Vec<SavedPane>,
    pub layout: Option<Node>,
    pub focus: Option<PaneId>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedPane {
    pub id: PaneId,
    pub slug: String,
    pub kind: PaneKind,
}

pub struct App {
    pub keymap: Keymap,
    pub agents: Vec<AgentRow>,
    /// `path:line:col: severity: message` lines.
    pub problems: Vec<String>,
    pub error_count: usize,
    pub workspace: String,
    /// Index into the sidebar: agents, then bottles.
    pub selected: usize,
    pub prefix_armed: bool,
    pub overlay: Option<Overlay>,
    pub bottles: Vec<BottleRow>,
    pub bottles_error: Option<String>,
    pub panes: Vec<PaneView>,
    pub layout: Option<Node>,
    pub focus: Focus,
    pub zoom: Option<PaneId>,
    /// The pane whose history the keyboard scrolls (copy mode).
    pub copy_mode: Option<PaneId>,
    /// In copy mode: the search being typed (after `/`).
    pub search_input: Option<String>,
    /// The last search, for `n` / `N`.
    pub last_search: Option<String>,
    /// The terminal's (rows, cols).
    pub size: (u16, u16),
    /// One line for the status bar (what just happened).
    pub notice: Option<String>,
    next_id: PaneId,
    refreshing: bool,
    /// A saved layout waiting for the first bottle list.
    pending_restore: Option<SavedLayout>,
    /// The launch being confirmed (prompts, preflight).
    pub launch: Option<launch::LaunchFlow>,
    /// The engines that answer (refreshed with the bottles); `None` until
    /// the first look.
    pub engines: Option<Vec<crate::backends::Engine>>,
    /// An agent chosen before the engines were known: (agent, task).
    awaiting_engines: Option<(String, Option<String>)>,
    /// Desktop notifications when a pane starts to need input.
    pub notify: crate::config::Notify,
    /// The agents' pending requests and the prompt.
    pub requests: requests::Requests,
}

impl App {
    pub fn new(defs: &Definitions, workspace: String, keymap: Keymap) -> App {
        let agents =
            defs.agents
                .iter()
                .map(|a| AgentRow {
                    name: a.name().to_string(),
                    label: a.display_name(),
                    bottle: a.def.bottle.value.clone(),
                    repo: a.is_repo(),
                    trusted: a.trusted,
                    note: a.shadows_home_bottle.as_ref().map(|b| {
                        format!("overrides home agent; bottle {b} → {}", a.def.bottle.value)
                    }),
                })
                .collect();
        App {
            keymap,
            agents,
            problems: defs.problems.iter().map(|p| p.to_string()).collect(),
            error_count: defs
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
                .count(),
            workspace,
            selected: 0,
            prefix_armed: false,
            overlay: None,
            bottles: Vec::new(),
            bottles_error: None,
            panes: Vec::new(),
            layout: None,
            focus: Focus::Sidebar,
            zoom: None,
            copy_mode: None,
            search_input: None,
            last_search: None,
            size: (24, 80),
            notice: None,
            next_id: 1,
            refreshing: false,
            pending_restore: None,
            launch: None,
            engines: None,
            awaiting_engines: None,
            notify: crate::config::Notify::Off,
            requests: requests::Requests::default(),
        }
    }

    fn sidebar_len(&self) -> usize {
        self.agents.len() + self.bottles.len()
    }

    /// The bottle selected in the sidebar, if the selection is on one.
    pub fn selected_bottle(&self) -> Option<&BottleRow> {
        self.selected
            .checked_sub(self.agents.len())
            .and_then(|i| self.bottles.get(i))
    }

    pub fn pane(&self, id: PaneId) -> Option<&PaneView> {
        self.panes.iter().find(|p| p.id == id)
    }

    fn focused_pane(&self) -> Option<PaneId> {
        match self.focus {
            Focus::Pane(id) if self.pane(id).is_some() => Some(id),
            _ => None,
        }
    }

    /// The area panes tile: right of the sidebar, above the status line.
    pub fn main_area(&self) -> Area {
        let (rows, cols) = self.size;
        let side = SIDEBAR_WIDTH.min(cols.saturating_sub(10));
        Area {
            x: side,
            y: 0,
            w: cols.saturating_sub(side),
            h: rows.saturating_sub(1),
        }
    }

    /// Each visible pane's outer area (borders included).
    pub fn pane_areas(&self) -> Vec<(PaneId, Area)> {
        let main = self.main_area();
        match (self.zoom, &self.layout) {
            (Some(z), _) if self.pane(z).is_some() => vec![(z, main)],
            (_, Some(tree)) => tree.areas(main),
            (_, None) => Vec::new(),
        }
    }

    /// The emulator size for an outer pane area.
    fn inner(area: Area) -> (u16, u16) {
        (
            area.h.saturating_sub(2).max(1),
            area.w.saturating_sub(2).max(1),
        )
    }

    /// Resizes every pane whose inside changed; saves the layout.
    fn relayout(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        let areas = self.pane_areas();
        for (id, area) in areas {
            let (rows, cols) = Self::inner(area);
            if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
                if (p.rows, p.cols) != (rows, cols) {
                    p.rows = rows;
                    p.cols = cols;
                    if let Ok(mut s) = p.shared.screen.lock() {
                        s.resize(rows, cols);
                    }
                    if p.state == PaneState::Live || p.state == PaneState::Connecting {
                        effects.push(Effect::ResizePane { id, rows, cols });
                    }
                }
            }
        }
        effects.push(Effect::SaveLayout(self.saved()));
        effects.push(Effect::Redraw);
        effects
    }

    pub fn saved(&self) -> SavedLayout {
        SavedLayout {
            version: 1,
            panes: self
                .panes
                .iter()
                .map(|p| SavedPane {
                    id: p.id,
                    slug: p.slug.clone(),
                    kind: p.kind,
                })
                .collect(),
            layout: self.layout.clone(),
            focus: self.focused_pane(),
        }
    }

    /// Adds a pane for `slug`: with a direction, beside the focused pane;
    /// without one (opened from the sidebar), in the largest pane, split
    /// along its longer side (a cell is about twice as tall as wide), so
    /// many panes tile evenly instead of halving one corner.
    fn add_pane(&mut self, slug: String, kind: PaneKind, split: Option<Split>) -> Vec<Effect> {
        let id = self.next_id;
        self.next_id += 1;
        let areas = self.layout.as_ref().map(|t| t.areas(self.main_area()));
        let largest = areas.as_ref().and_then(|a| {
            a.iter()
                .max_by_key(|(_, r)| u32::from(r.w) * u32::from(r.h))
                .copied()
        });
        let (target, split) = match split {
            Some(s) => (self.focused_pane().or(self.panes.last().map(|p| p.id)), s),
            None => match largest {
                Some((pid, r)) => (
                    Some(pid),
                    if r.w >= r.h.saturating_mul(2) {
                        Split::Columns
                    } else {
                        Split::Rows
                    },
                ),
                None => (None, Split::Columns),
            },
        };
        match (target, &mut self.layout) {
            (Some(target), Some(tree)) => {
                if !tree.split(target, split, id) {
                    tree.split(tree.panes()[0], split, id);
                }
            }
            _ => self.layout = Some(Node::Leaf(id)),
        }
        self.zoom = None;
        let shared = PaneShared::new(1, 1);
        self.panes.push(PaneView {
            id,
            slug: slug.clone(),
            kind,
            shared,
            state: PaneState::Connecting,
            rows: 0,
            cols: 0,
            needs_input: false,
            seen_attention: 0,
            seen_bells: 0,
            unseen_output: false,
            reattach_by: None,
        });
        self.focus = Focus::Pane(id);
        // Size it first, then open it at that size.
        let mut effects: Vec<Effect> = self
            .relayout()
            .into_iter()
            .filter(|e| !matches!(e, Effect::ResizePane { id: i, .. } if *i == id))
            .collect();
        let (rows, cols) = self.pane(id).map_or((24, 80), |p| (p.rows, p.cols));
        effects.insert(
            0,
            Effect::OpenPane {
                id,
                slug,
                kind,
                rows,
                cols,
            },
        );
        effects
    }

    fn remove_pane(&mut self, id: PaneId) -> Vec<Effect> {
        self.panes.retain(|p| p.id != id);
        self.layout = self.layout.take().and_then(|t| t.remove(id));
        if self.zoom == Some(id) {
            self.zoom = None;
        }
        if self.copy_mode == Some(id) {
            self.copy_mode = None;
        }
        if self.focus == Focus::Pane(id) {
            self.focus = self
                .layout
                .as_ref()
                .and_then(|t| t.panes().last().copied())
                .map_or(Focus::Sidebar, Focus::Pane);
        }
        self.relayout()
    }

    pub fn update(&mut self, event: AppEvent) -> Vec<Effect> {
        let effects = self.update_inner(event);
        // The focused pane is being looked at.
        if let Focus::Pane(id) = self.focus {
            if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
                p.needs_input = false;
                p.unseen_output = false;
            }
        }
        effects
    }

    /// Whether a bottle has a pane that asked for attention.
    pub fn bottle_needs_input(&self, slug: &str) -> bool {
        self.panes.iter().any(|p| p.slug == slug && p.needs_input)
    }

    fn update_inner(&mut self, event: AppEvent) -> Vec<Effect> {
        match event {
            AppEvent::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            AppEvent::Key(_) => Vec::new(),
            AppEvent::Paste(text) if matches!(self.overlay, Some(Overlay::Picker(_))) => {
                if let Some(Overlay::Picker(p)) = &mut self.overlay {
                    p.paste(&text);
                }
                vec![Effect::Redraw]
            }
            AppEvent::LogSources(sources, select) => {
                let mut v = logview::LogViewer::new(sources, select.as_ref());
                let load = v.current().cloned();
                v.follow = false;
                self.overlay = Some(Overlay::Logs(v));
                let mut effects = vec![Effect::Redraw];
                if let Some(k) = load {
                    effects.insert(0, Effect::LoadLog(k));
                }
                effects
            }
            AppEvent::LogLoaded(kind, result) => {
                let page = self.log_page();
                if let Some(Overlay::Logs(v)) = &mut self.overlay {
                    v.loaded(kind, result, page);
                }
                vec![Effect::Redraw]
            }
            AppEvent::CrashFound(path) => {
                if self.overlay.is_none() {
                    self.overlay = Some(Overlay::CrashOffer(path));
                } else {
                    self.notice = Some(format!(
                        "the last run crashed: {} (l opens the logs)",
                        path.display()
                    ));
                }
                vec![Effect::Redraw]
            }
            AppEvent::QueueChanged => self.queue_changed(),
            AppEvent::QueueScanned { pending, invalid } => self.queue_scanned(pending, invalid),
            AppEvent::Decided(result) => self.decided(result),
            AppEvent::DecideProgress(line) => {
                if let Some(key) = &self.requests.deciding {
                    self.notice = Some(format!(
                        "approving {key}: {}",
                        crate::sanitize::inline(&line)
                    ));
                }
                vec![Effect::Redraw]
            }
            AppEvent::Engines(engines) => {
                self.engines = Some(engines);
                match self.awaiting_engines.take() {
                    Some((agent, task)) => self.choose_backend(agent, task),
                    None => Vec::new(),
                }
            }
            AppEvent::Paste(_) if self.requests.focused => {
                self.requests_paste();
                Vec::new()
            }
            AppEvent::Paste(text) => match self.focused_pane() {
                Some(id) if self.overlay.is_none() => {
                    let modes = self
                        .pane(id)
                        .and_then(|p| p.shared.screen.lock().ok().map(|s| s.key_modes()))
                        .unwrap_or_default();
                    vec![Effect::PaneInput(
                        id,
                        crate::session::keys::paste(&text, modes),
                    )]
                }
                _ => Vec::new(),
            },
            AppEvent::Mouse(m) => self.on_mouse(m),
            AppEvent::Resize { rows, cols } => {
                self.size = (rows, cols);
                self.relayout()
            }
            AppEvent::Signal(sig) => vec![Effect::Exit(RunOutcome::Signal(sig))],
            AppEvent::Pane(PaneNotice::Output(id)) => {
                let focused = self.focus == Focus::Pane(id);
                let mut effects = vec![Effect::Redraw];
                if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
                    let (now, bells) = p
                        .shared
                        .screen
                        .lock()
                        .map(|s| (s.attention(), s.bells()))
                        .unwrap_or_default();
                    if now > p.seen_attention && !focused {
                        if !p.needs_input {
                            let text = format!("{} needs input", p.slug);
                            effects.extend(self.notify.sequence(&text).map(Effect::Notify));
                        }
                        p.needs_input = true;
                    }
                    if bells > p.seen_bells {
                        effects.push(Effect::Bell);
                    }
                    p.seen_attention = now;
                    p.seen_bells = bells;
                    p.unseen_output |= !focused;
                }
                effects
            }
            AppEvent::Pane(PaneNotice::Ended(id, status)) => {
                let mut effects = vec![Effect::RefreshBottles, Effect::Redraw];
                if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
                    p.state = match status {
                        Some(code) => PaneState::Exited(code),
                        None => PaneState::Lost,
                    };
                    if p.reattach_by.take().is_some_and(|t| Instant::now() < t) {
                        effects.extend(self.reopen(id));
                    }
                }
                effects
            }
            AppEvent::AgentStarted(slug) => self.agent_started(&slug),
            AppEvent::Edited(key, result) => self.edited(&key, result),
            AppEvent::PaneReady(id) => {
                if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
                    if p.state == PaneState::Connecting {
                        p.state = PaneState::Live;
                    }
                }
                vec![Effect::Redraw]
            }
            AppEvent::PaneFailed(id, why) => {
                if let Some(p) = self.panes.iter_mut().find(|p| p.id == id) {
                    p.state = PaneState::Failed(why);
                }
                vec![Effect::Redraw]
            }
            AppEvent::PaneRestarted(id) => self.reopen(id),
            AppEvent::Prepared(Ok(info)) => {
                self.notice = None;
                self.launch = Some(launch::LaunchFlow::new(info));
                self.overlay = Some(Overlay::Launch);
                vec![Effect::Redraw]
            }
            AppEvent::Prepared(Err(why)) => {
                self.notice = Some(format!("cannot launch: {why}"));
                vec![Effect::Redraw]
            }
            AppEvent::LaunchProgress(id, line) => {
                if let Some(p) = self.pane(id) {
                    if let Ok(mut s) = p.shared.screen.lock() {
                        s.process(format!("{}\r\n", crate::sanitize::inline(&line)).as_bytes());
                    }
                }
                vec![Effect::Redraw]
            }
            AppEvent::Launched(id) => {
                let mut effects = vec![Effect::RefreshBottles];
                if self
                    .pane(id)
                    .is_some_and(|p| p.state == PaneState::Launching)
                {
                    effects.extend(self.reopen(id));
                }
                effects
            }
            AppEvent::Bottles(result) => {
                self.refreshing = false;
                match result {
                    Ok(rows) => {
                        self.bottles = rows;
                        self.bottles_error = None;
                    }
                    Err(e) => self.bottles_error = Some(e),
                }
                if self.selected >= self.sidebar_len() {
                    self.selected = self.sidebar_len().saturating_sub(1);
                }
                let mut effects = Vec::new();
                if let Some(saved) = self.pending_restore.take() {
                    effects.extend(self.restore(saved));
                }
                effects.push(Effect::Redraw);
                effects
            }
            AppEvent::Tick => {
                let mut effects = Vec::new();
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
            AppEvent::Restore(saved) => {
                self.pending_restore = Some(saved);
                if self.refreshing {
                    Vec::new()
                } else {
                    self.refreshing = true;
                    vec![Effect::RefreshBottles]
                }
            }
        }
    }

    /// Unwatched panes whose output went quiet after a prompt now wait for
    /// the operator; the bottles of those that just started to.
    fn quiet_prompts(&mut self) -> Vec<String> {
        let focused = self.focused_pane();
        let mut changed = Vec::new();
        for p in &mut self.panes {
            if Some(p.id) == focused || !p.unseen_output || p.state != PaneState::Live {
                continue;
            }
            if p.shared.quiet_for() < QUIET_AFTER_PROMPT {
                continue;
            }
            p.unseen_output = false;
            if p.shared.screen.lock().is_ok_and(|s| s.at_prompt()) {
                if !p.needs_input {
                    changed.push(p.slug.clone());
                }
                p.needs_input = true;
            }
        }
        changed
    }

    /// Re-opens the saved panes whose bottles still run, in their places.
    fn restore(&mut self, saved: SavedLayout) -> Vec<Effect> {
        if saved.version != 1 || !self.panes.is_empty() {
            return Vec::new();
        }
        let running = |slug: &str| {
            self.bottles
                .iter()
                .any(|b| b.slug == slug && b.status.is_running())
        };
        let keep: Vec<SavedPane> = saved
            .panes
            .into_iter()
            .filter(|p| running(&p.slug))
            .collect();
        let mut tree = saved.layout;
        if let Some(t) = &tree {
            for id in t.panes() {
                if !keep.iter().any(|p| p.id == id) {
                    tree = tree.and_then(|t| t.remove(id));
                }
            }
        }
        let Some(tree) = tree else {
            return Vec::new();
        };
        let keep: Vec<SavedPane> = keep
            .into_iter()
            .filter(|p| tree.panes().contains(&p.id))
            .collect();
        self.next_id = keep.iter().map(|p| p.id).max().unwrap_or(0) + 1;
        for p in &keep {
            self.panes.push(PaneView {
                id: p.id,
                slug: p.slug.clone(),
                kind: p.kind,
                shared: PaneShared::new(1, 1),
                state: PaneState::Connecting,
                rows: 0,
                cols: 0,
                needs_input: false,
                seen_attention: 0,
                seen_bells: 0,
                unseen_output: false,
                reattach_by: None,
            });
        }
        self.layout = Some(tree);
        self.focus = saved
            .focus
            .filter(|f| keep.iter().any(|p| p.id == *f))
            .or(keep.last().map(|p| p.id))
            .map_or(Focus::Sidebar, Focus::Pane);
        let mut effects: Vec<Effect> = self
            .relayout()
            .into_iter()
            .filter(|e| !matches!(e, Effect::ResizePane { .. }))
            .collect();
        for p in &self.panes {
            effects.insert(
                0,
                Effect::OpenPane {
                    id: p.id,
                    slug: p.slug.clone(),
                    kind: p.kind,
                    rows: p.rows,
                    cols: p.cols,
                },
            );
        }
        effects
    }

    /// Scrolls a pane's history by `delta` rows (positive: back).
    fn scroll(&mut self, id: PaneId, delta: isize) {
        if let Some(p) = self.pane(id) {
            if let Ok(mut s) = p.shared.screen.lock() {
                let now = s.scrollback() as isize;
                s.set_scrollback((now + delta).max(0) as usize);
            }
        }
    }

    fn scrolled(&self, id: PaneId) -> usize {
        self.pane(id)
            .and_then(|p| p.shared.screen.lock().ok().map(|s| s.scrollback()))
            .unwrap_or(0)
    }

    /// Wheel over a pane scrolls its history, unless its program asked for
    /// mouse reports (then it gets them); a click focuses the pane.
    fn on_mouse(&mut self, m: crossterm::event::MouseEvent) -> Vec<Effect> {
        use crate::session::keys::{self, MouseButton};
        use crossterm::event::{MouseButton as B, MouseEventKind as K};
        let hit = self.pane_areas().into_iter().find(|(_, a)| {
            m.column >= a.x && m.column < a.x + a.w && m.row >= a.y && m.row < a.y + a.h
        });
        let Some((id, area)) = hit else {
            if matches!(m.kind, K::Down(_)) && m.column < self.main_area().x {
                self.focus = Focus::Sidebar;
                return vec![Effect::Redraw];
            }
            return Vec::new();
        };
        let (button, press) = match m.kind {
            K::ScrollUp => (MouseButton::WheelUp, true),
            K::ScrollDown => (MouseButton::WheelDown, true),
            K::Down(b) | K::Up(b) => (
                match b {
                    B::Left => MouseButton::Left,
                    B::Middle => MouseButton::Middle,
                    B::Right => MouseButton::Right,
                },
                matches!(m.kind, K::Down(_)),
            ),
            _ => return Vec::new(),
        };
        let mut effects = Vec::new();
        if press && !matches!(button, MouseButton::WheelUp | MouseButton::WheelDown) {
            self.focus = Focus::Pane(id);
            effects.push(Effect::Redraw);
        }
        let modes = self
            .pane(id)
            .and_then(|p| p.shared.screen.lock().ok().map(|s| s.key_modes()))
            .unwrap_or_default();
        let inside = (
            m.column.saturating_sub(area.x + 1),
            m.row.saturating_sub(area.y + 1),
        );
        let live = self.pane(id).is_some_and(|p| p.state == PaneState::Live);
        match keys::mouse(button, press, inside.0, inside.1, m.modifiers, modes) {
            Some(bytes) if live && self.scrolled(id) == 0 => {
                effects.push(Effect::PaneInput(id, bytes));
            }
            _ => match button {
                MouseButton::WheelUp => {
                    self.scroll(id, 3);
                    effects.push(Effect::Redraw);
                }
                MouseButton::WheelDown => {
                    self.scroll(id, -3);
                    effects.push(Effect::Redraw);
                }
                _ => {}
            },
        }
        effects
    }

    /// Scrolls `id`'s history to the next line (older when `back`) that
    /// contains `needle`, bringing it to the top row; false if none.
    fn find(&mut self, id: PaneId, needle: &str, back: bool) -> bool {
        let Some(p) = self.pane(id) else {
            return false;
        };
        let Ok(mut s) = p.shared.screen.lock() else {
            return false;
        };
        let start = s.scrollback();
        s.set_scrollback(usize::MAX);
        let max = s.scrollback();
        let offsets: Box<dyn Iterator<Item = usize>> = if back {
            Box::new(start + 1..=max)
        } else {
            Box::new((0..start).rev())
        };
        for o in offsets {
            s.set_scrollback(o);
            if s.text_rows().first().is_some_and(|r| r.contains(needle)) {
                return true;
            }
        }
        s.set_scrollback(start);
        false
    }

    /// Keys in copy mode: they scroll the pane's history, never reach it.
    /// `/` searches (older lines first), `n`/`N` repeat it.
    fn copy_mode_key(&mut self, id: PaneId, key: KeyEvent) -> Vec<Effect> {
        use crossterm::event::KeyCode as C;
        if let Some(text) = self.search_input.as_mut() {
            match key.code {
                C::Char(c) => text.push(c),
                C::Backspace => {
                    text.pop();
                }
                C::Esc => self.search_input = None,
                C::Enter => {
                    let needle = self.search_input.take().unwrap_or_default();
                    if !needle.is_empty() {
                        self.notice =
                            (!self.find(id, &needle, true)).then(|| format!("not found: {needle}"));
                        self.last_search = Some(needle);
                    }
                }
                _ => {}
            }
            return vec![Effect::Redraw];
        }
        let page = self.pane(id).map_or(10, |p| p.rows as isize);
        match key.code {
            C::Up | C::Char('k') => self.scroll(id, 1),
            C::Down | C::Char('j') => self.scroll(id, -1),
            C::PageUp | C::Char('b') => self.scroll(id, page),
            C::PageDown | C::Char(' ') | C::Char('f') => self.scroll(id, -page),
            C::Char('g') | C::Home => self.scroll(id, isize::MAX / 2),
            C::Char('G') | C::End => self.scroll(id, -(isize::MAX / 2)),
            C::Char('/') => self.search_input = Some(String::new()),
            C::Char(c @ ('n' | 'N')) => {
                if let Some(needle) = self.last_search.clone() {
                    self.notice =
                        (!self.find(id, &needle, c == 'n')).then(|| format!("no more: {needle}"));
                }
            }
            C::Esc | C::Char('q') => {
                self.scroll(id, -(isize::MAX / 2));
                self.copy_mode = None;
                self.search_input = None;
            }
            _ => {}
        }
        vec![Effect::Redraw]
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if let Some(Overlay::Picker(p)) = &mut self.overlay {
            return match p.key(key) {
                picker::PickerOutcome::Stay => vec![Effect::Redraw],
                picker::PickerOutcome::Close => {
                    self.overlay = None;
                    vec![Effect::Redraw]
                }
                picker::PickerOutcome::Chosen { agent, task } => {
                    self.overlay = None;
                    self.choose_backend(agent, task)
                }
            };
        }
        if let Some(Overlay::Engines(p)) = &mut self.overlay {
            return match p.key(key) {
                engine_picker::EngineOutcome::Stay => vec![Effect::Redraw],
                engine_picker::EngineOutcome::Close => {
                    self.overlay = None;
                    vec![Effect::Redraw]
                }
                engine_picker::EngineOutcome::Chosen(host) => {
                    let (agent, task) = (p.agent.clone(), p.task.clone());
                    self.overlay = None;
                    self.prepare_launch(agent, Some(host), task)
                }
            };
        }
        if self.overlay == Some(Overlay::Launch) {
            return self.launch_key(key);
        }
        let page = self.log_page();
        if let Some(Overlay::Logs(v)) = &mut self.overlay {
            return match v.key(key, page) {
                logview::LogOutcome::Stay => vec![Effect::Redraw],
                logview::LogOutcome::Close => {
                    self.overlay = None;
                    vec![Effect::Redraw]
                }
                logview::LogOutcome::Load(k) => vec![Effect::LoadLog(k), Effect::Redraw],
            };
        }
        if let Some(Overlay::CrashOffer(path)) = &self.overlay {
            let path = path.clone();
            self.overlay = None;
            if key.code == crossterm::event::KeyCode::Enter {
                return vec![self.list_logs(Some(logview::LogKind::Crash(path)))];
            }
            return vec![Effect::Redraw];
        }
        if let Some(Overlay::Problems(scroll)) = &mut self.overlay {
            use crossterm::event::KeyCode as C;
            match key.code {
                C::Up | C::Char('k') => *scroll = scroll.saturating_sub(1),
                C::Down | C::Char('j') => *scroll = scroll.saturating_add(1),
                C::PageUp => *scroll = scroll.saturating_sub(10),
                C::PageDown | C::Char(' ') => *scroll = scroll.saturating_add(10),
                C::Esc | C::Char('q') | C::Enter => self.overlay = None,
                _ => {}
            }
            return vec![Effect::Redraw];
        }
        if let Some(Overlay::ConfirmStop(id)) = self.overlay {
            self.overlay = None;
            if matches!(key.code, crossterm::event::KeyCode::Char('y' | 'Y')) {
                let Some(slug) = self.pane(id).map(|p| p.slug.clone()) else {
                    return vec![Effect::Redraw];
                };
                self.notice = Some(format!("stopping {slug}"));
                let mut effects = vec![Effect::ClosePane(id), Effect::StopBottle(slug)];
                effects.extend(self.remove_pane(id));
                return effects;
            }
            return vec![Effect::Redraw];
        }
        // The requests prompt has the keyboard only once the operator gave
        // it (prefix `a`); the prefix still works from there.
        if self.requests.focused && !self.prefix_armed && !self.keymap.prefix.matches(&key) {
            return self.requests_key(key);
        }
        if let Some(id) = self.copy_mode {
            if self.pane(id).is_some() && !self.prefix_armed && !self.keymap.prefix.matches(&key) {
                return self.copy_mode_key(id, key);
            }
        }
        if self.prefix_armed {
            self.prefix_armed = false;
            // Prefix twice: the literal key goes to the focused pane.
            if self.keymap.prefix.matches(&key) {
                return self.key_to_pane(key);
            }
            return match self.keymap.after_prefix(&key) {
                Some(a) => self.apply(a),
                None => vec![Effect::Redraw],
            };
        }
        if self.keymap.prefix.matches(&key) {
            self.prefix_armed = true;
            return vec![Effect::Redraw];
        }
        if self.overlay.is_none() && self.focused_pane().is_some() {
            return self.key_to_pane(key);
        }
        match self.keymap.direct(&key) {
            Some(a) => self.apply(a),
            None => vec![Effect::Redraw],
        }
    }

    /// Lines of a log in view (the viewer fills the screen but its frame
    /// and the status line).
    pub fn log_page(&self) -> usize {
        usize::from(self.size.0.saturating_sub(4)).max(1)
    }

    fn list_logs(&self, select: Option<logview::LogKind>) -> Effect {
        Effect::ListLogs {
            sidecars: self
                .bottles
                .iter()
                .filter(|b| !b.status.is_stopped())
                .map(|b| b.slug.clone())
                .collect(),
            select,
        }
    }

    /// The backend picker when more than one engine answers; else straight
    /// to preparing the launch on the one there is.
    fn choose_backend(&mut self, agent: String, task: Option<String>) -> Vec<Effect> {
        let Some(engines) = &self.engines else {
            // Asked before the first look at the engines: decide when it lands.
            self.notice = Some("looking for container engines…".into());
            self.awaiting_engines = Some((agent, task));
            return vec![Effect::Redraw];
        };
        if engines.len() > 1 {
            self.overlay = Some(Overlay::Engines(engine_picker::EnginePicker {
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

    fn prepare_launch(
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

    /// Keys for the prompts and the preflight of the launch being confirmed.
    fn launch_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(flow) = self.launch.as_mut() else {
            self.overlay = None;
            return vec![Effect::Redraw];
        };
        match flow.key(key) {
            launch::FlowOutcome::Stay => vec![Effect::Redraw],
            launch::FlowOutcome::Cancel => {
                self.overlay = None;
                let ticket = self.launch.take().map(|f| f.info.ticket);
                self.notice = Some("not launched".into());
                let mut effects: Vec<Effect> =
                    ticket.map(Effect::DiscardLaunch).into_iter().collect();
                effects.push(Effect::Redraw);
                effects
            }
            launch::FlowOutcome::Launch => {
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

    /// Opens an ended pane again on a fresh screen (same place, same size).
    fn reopen(&mut self, id: PaneId) -> Vec<Effect> {
        let Some(p) = self.panes.iter_mut().find(|p| p.id == id) else {
            return Vec::new();
        };
        p.shared = PaneShared::new(p.rows.max(1), p.cols.max(1));
        p.state = PaneState::Connecting;
        p.seen_attention = 0;
        vec![
            Effect::OpenPane {
                id,
                slug: p.slug.clone(),
                kind: p.kind,
                rows: p.rows.max(1),
                cols: p.cols.max(1),
            },
            Effect::Redraw,
        ]
    }

    /// `slug`'s agent container started (engine events): its ended panes
    /// re-attach; panes still on the old container re-attach when that
    /// connection ends. Panes launching or connecting are on their way.
    fn agent_started(&mut self, slug: &str) -> Vec<Effect> {
        let mut reopen = Vec::new();
        for p in self.panes.iter_mut().filter(|p| p.slug == slug) {
            match p.state {
                PaneState::Exited(_) | PaneState::Lost | PaneState::Failed(_) => reopen.push(p.id),
                PaneState::Live => p.reattach_by = Some(Instant::now() + REATTACH_WINDOW),
                PaneState::Launching | PaneState::Connecting => {}
            }
        }
        let mut effects = Vec::new();
        for id in reopen {
            effects.extend(self.reopen(id));
        }
        effects
    }

    /// `r` on an ended pane: a session runs again in its bottle (or is just
    /// re-attached if it still runs); a shell pane gets a new shell.
    fn restart(&mut self, id: PaneId) -> Vec<Effect> {
        let Some(p) = self.panes.iter_mut().find(|p| p.id == id) else {
            return Vec::new();
        };
        if matches!(p.state, PaneState::Live | PaneState::Connecting) {
            return Vec::new();
        }
        if p.kind == PaneKind::Shell {
            return self.reopen(id);
        }
        p.state = PaneState::Connecting;
        let slug = p.slug.clone();
        self.notice = Some(format!("restarting {slug}"));
        vec![Effect::RestartSession { id, slug }, Effect::Redraw]
    }

    /// A key for the focused pane; on an ended pane, `r` restarts it and
    /// Enter closes it.
    fn key_to_pane(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(id) = self.focused_pane() else {
            return vec![Effect::Redraw];
        };
        let Some(p) = self.pane(id) else {
            return Vec::new();
        };
        match &p.state {
            PaneState::Live | PaneState::Connecting => {
                let modes = p
                    .shared
                    .screen
                    .lock()
                    .ok()
                    .map(|s| s.key_modes())
                    .unwrap_or_default();
                let bytes = crate::session::keys::encode(&key, modes);
                if bytes.is_empty() {
                    return Vec::new();
                }
                // Typing returns to the live screen.
                let mut effects = vec![Effect::PaneInput(id, bytes)];
                if self.scrolled(id) > 0 {
                    self.scroll(id, -(isize::MAX / 2));
                    effects.push(Effect::Redraw);
                }
                effects
            }
            // Its bottle is still being launched.
            PaneState::Launching => Vec::new(),
            _ if key.code == crossterm::event::KeyCode::Enter => self.remove_pane(id),
            _ if key.code == crossterm::event::KeyCode::Char('r') => self.restart(id),
            _ => Vec::new(),
        }
    }

    pub fn apply(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit => return vec![Effect::Exit(RunOutcome::Quit)],
            Action::ToggleHelp => {
                self.overlay = match self.overlay {
                    Some(Overlay::Help) => None,
                    _ => Some(Overlay::Help),
                }
            }
            Action::CloseOverlay => self.overlay = None,
            Action::SelectNext => {
                let n = self.sidebar_len();
                if n > 0 {
                    self.selected = (self.selected + 1) % n;
                }
            }
            Action::SelectPrev => {
                let n = self.sidebar_len();
                if n > 0 {
                    self.selected = (self.selected + n - 1) % n;
                }
            }
            Action::OpenSelected => {
                if let Some(a) = self.agents.get(self.selected) {
                    // An agent: launch one.
                    let agent = a.label.clone();
                    return self.choose_backend(agent, None);
                }
                let Some(b) = self.selected_bottle().cloned() else {
                    return vec![Effect::Redraw];
                };
                if b.status.is_stopped() {
                    // Bring it back: the preflight (with what changed since
                    // its last launch), then the session in a pane.
                    self.notice = Some(format!("preparing to resume {}…", b.slug));
                    return vec![Effect::PrepareResume(b.slug), Effect::Redraw];
                }
                if !b.status.is_running() {
                    self.notice = Some(format!("{} is {}", b.slug, b.status));
                    return vec![Effect::Redraw];
                }
                if let Some(p) = self
                    .panes
                    .iter()
                    .find(|p| p.slug == b.slug && p.kind == PaneKind::Session)
                {
                    self.focus = Focus::Pane(p.id);
                    return vec![Effect::Redraw];
                }
                return self.add_pane(b.slug, PaneKind::Session, None);
            }
            Action::Problems => self.overlay = Some(Overlay::Problems(0)),
            Action::Logs => return vec![self.list_logs(None)],
            Action::Requests => return self.focus_requests(),
            Action::NewAgent => {
                let items = self
                    .agents
                    .iter()
                    .map(|a| picker::PickerItem {
                        agent: a.label.clone(),
                        label: a.label.clone(),
                        repo: a.repo,
                        trusted: a.trusted,
                        running: self
                            .bottles
                            .iter()
                            .filter(|b| b.status.is_running() && b.agent == a.name)
                            .count(),
                        note: a.note.clone(),
                    })
                    .collect();
                self.overlay = Some(Overlay::Picker(picker::Picker::new(items)));
            }
            Action::NewShell => match self.selected_bottle().cloned() {
                Some(b) if b.status.is_running() => {
                    return self.add_pane(b.slug, PaneKind::Shell, None)
                }
                Some(b) => self.notice = Some(format!("{} is {}", b.slug, b.status)),
                None => self.notice = Some("select a running bottle in the sidebar first".into()),
            },
            Action::ToggleSidebar => {
                self.focus = match self.focus {
                    Focus::Sidebar => self
                        .layout
                        .as_ref()
                        .and_then(|t| t.panes().first().copied())
                        .map_or(Focus::Sidebar, Focus::Pane),
                    Focus::Pane(_) => Focus::Sidebar,
                };
            }
            Action::Focus(dir) => {
                if let Some(id) = self.focused_pane() {
                    if let Some(next) = layout::neighbor(&self.pane_areas(), id, dir) {
                        self.focus = Focus::Pane(next);
                    } else if dir == Direction::Left {
                        self.focus = Focus::Sidebar;
                    }
                } else if dir == Direction::Right {
                    return self.apply(Action::ToggleSidebar);
                }
            }
            Action::FocusNext => {
                let order = self.layout.as_ref().map(|t| t.panes()).unwrap_or_default();
                if !order.is_empty() {
                    let next = match self.focused_pane() {
                        Some(id) => {
                            let i = order.iter().position(|p| *p == id).unwrap_or(0);
                            order[(i + 1) % order.len()]
                        }
                        None => order[0],
                    };
                    self.focus = Focus::Pane(next);
                    if self.zoom.is_some() {
                        self.zoom = Some(next);
                        return self.relayout();
                    }
                }
            }
            Action::SplitColumns | Action::SplitRows => {
                let Some(slug) = self
                    .focused_pane()
                    .and_then(|id| self.pane(id))
                    .map(|p| p.slug.clone())
                else {
                    self.notice =
                        Some("focus a pane first: the split opens a shell in its bottle".into());
                    return vec![Effect::Redraw];
                };
                let split = if action == Action::SplitColumns {
                    Split::Columns
                } else {
                    Split::Rows
                };
                return self.add_pane(slug, PaneKind::Shell, Some(split));
            }
            Action::Zoom => {
                self.zoom = match (self.zoom, self.focused_pane()) {
                    (Some(_), _) => None,
                    (None, Some(id)) => Some(id),
                    (None, None) => None,
                };
                return self.relayout();
            }
            Action::ClosePane => {
                if let Some(id) = self.focused_pane() {
                    let mut effects = vec![Effect::ClosePane(id)];
                    effects.extend(self.remove_pane(id));
                    return effects;
                }
            }
            Action::StopPane => {
                if let Some(id) = self.focused_pane() {
                    self.overlay = Some(Overlay::ConfirmStop(id));
                }
            }
            Action::CopyMode => {
                if let Some(id) = self.focused_pane() {
                    self.copy_mode = Some(id);
                }
            }
            Action::SwapNext => {
                if let (Some(id), Some(tree)) = (self.focused_pane(), &mut self.layout) {
                    let order = tree.panes();
                    if order.len() > 1 {
                        let i = order.iter().position(|p| *p == id).unwrap_or(0);
                        tree.swap(id, order[(i + 1) % order.len()]);
                        return self.relayout();
                    }
                }
            }
        }
        vec![Effect::Redraw]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::layout::{Node, Split};
    use crossterm::event::{KeyCode, KeyModifiers};

    fn key(code: KeyCode, mods: KeyModifiers) -> AppEvent {
        AppEvent::Key(KeyEvent::new(code, mods))
    }

    fn app() -> App {
        let mut a = App::new(&Definitions::default(), "/w".into(), Keymap::default());
        a.agents = ["a", "b", "c"]
            .iter()
            .map(|n| AgentRow {
                name: n.split(' ').next().unwrap_or_default().to_string(),
                label: n.to_string(),
                bottle: "x".into(),
                repo: false,
                trusted: true,
                note: None,
            })
            .collect();
        a
    }

    #[test]
    fn prefix_then_q_quits_and_q_alone_does_not() {
        let mut a = app();
        assert!(!a
            .update(key(KeyCode::Char('q'), KeyModifiers::NONE))
            .contains(&Effect::Exit(RunOutcome::Quit)));
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        assert!(a.prefix_armed);
        assert_eq!(
            a.update(key(KeyCode::Char('q'), KeyModifiers::NONE)),
            vec![Effect::Exit(RunOutcome::Quit)]
        );
    }

    #[test]
    fn prefix_twice_disarms_and_help_toggles() {
        let mut a = app();
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        assert!(!a.prefix_armed);
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        a.update(key(KeyCode::Char('?'), KeyModifiers::SHIFT));
        assert_eq!(a.overlay, Some(Overlay::Help));
        a.update(key(KeyCode::Esc, KeyModifiers::NONE));
        assert_eq!(a.overlay, None);
    }

    #[test]
    fn selection_wraps_and_signals_exit() {
        let mut a = app();
        a.update(key(KeyCode::Up, KeyModifiers::NONE));
        assert_eq!(a.selected, 2);
        a.update(key(KeyCode::Char('j'), KeyModifiers::NONE));
        assert_eq!(a.selected, 0);
        assert_eq!(
            a.update(AppEvent::Signal(15)),
            vec![Effect::Exit(RunOutcome::Signal(15))]
        );
    }

    fn with_bottles() -> App {
        let mut a = app();
        a.update(AppEvent::Resize {
            rows: 30,
            cols: 120,
        });
        a.update(AppEvent::Bottles(Ok([
            "shell-aaaaaa",
            "shell-bbbbbb",
            "shell-cccccc",
        ]
        .iter()
        .map(|s| {
            BottleRow::new(
                s,
                "shell",
                if *s == "shell-cccccc" {
                    crate::backends::inventory::BottleStatus::Stopped
                } else {
                    crate::backends::inventory::BottleStatus::Running
                },
            )
        })
        .collect())));
        a
    }

    #[test]
    fn opening_a_bottle_sizes_and_opens_a_pane_and_keys_go_to_it() {
        let mut a = with_bottles();
        a.selected = 3; // shell-aaaaaa, after the three agents
        let fx = a.apply(Action::OpenSelected);
        let Some(Effect::OpenPane {
            id,
            slug,
            kind,
            rows,
            cols,
        }) = fx.first().cloned()
        else {
            panic!("{fx:?}");
        };
        assert_eq!((slug.as_str(), kind), ("shell-aaaaaa", PaneKind::Session));
        // 120 - 32 sidebar - 2 borders; 30 - 1 status - 2 borders.
        assert_eq!((rows, cols), (27, 86));
        assert!(fx.iter().any(|e| matches!(e, Effect::SaveLayout(_))));
        assert_eq!(a.focus, Focus::Pane(id));
        a.update(AppEvent::PaneReady(id));
        assert_eq!(
            a.update(key(KeyCode::Char('x'), KeyModifiers::NONE)),
            vec![Effect::PaneInput(id, b"x".to_vec())]
        );
        // Prefix twice sends the prefix itself.
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        assert_eq!(
            a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL)),
            vec![Effect::PaneInput(id, vec![0x02])]
        );
        // A stopped bottle is not opened: it is prepared for resuming.
        a.focus = Focus::Sidebar;
        a.selected = 5;
        assert_eq!(
            a.apply(Action::OpenSelected),
            vec![Effect::PrepareResume("shell-cccccc".into()), Effect::Redraw]
        );
        assert!(a.notice.as_deref().is_some_and(|n| n.contains("resume")));
        assert_eq!(a.panes.len(), 1, "no pane until the preflight says y");
    }

    #[test]
    fn splitting_resizing_closing_and_stopping() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let first = a.panes[0].id;
        let fx = a.apply(Action::SplitColumns);
        assert!(matches!(
            fx.first(),
            Some(Effect::OpenPane {
                kind: PaneKind::Shell,
                cols: 42,
                ..
            })
        ));
        // The first pane shrank: its session is resized.
        assert!(
            fx.contains(&Effect::ResizePane {
                id: first,
                rows: 27,
                cols: 42
            }),
            "{fx:?}"
        );
        let second = a.panes[1].id;
        a.update(AppEvent::PaneReady(first));
        a.update(AppEvent::PaneReady(second));
        let fx = a.update(AppEvent::Resize {
            rows: 40,
            cols: 140,
        });
        assert!(
            fx.contains(&Effect::ResizePane {
                id: first,
                rows: 37,
                cols: 52
            }),
            "{fx:?}"
        );
        assert!(
            fx.contains(&Effect::ResizePane {
                id: second,
                rows: 37,
                cols: 52
            }),
            "{fx:?}"
        );
        // Focus moves by geometry.
        a.apply(Action::Focus(Direction::Left));
        assert_eq!(a.focus, Focus::Pane(first));
        // Close = detach.
        let fx = a.apply(Action::ClosePane);
        assert_eq!(fx.first(), Some(&Effect::ClosePane(first)));
        assert_eq!(a.panes.len(), 1);
        // Stop asks first; only y stops.
        a.apply(Action::StopPane);
        assert_eq!(a.overlay, Some(Overlay::ConfirmStop(second)));
        a.update(key(KeyCode::Char('n'), KeyModifiers::NONE));
        assert_eq!(a.panes.len(), 1);
        a.apply(Action::StopPane);
        let fx = a.update(key(KeyCode::Char('y'), KeyModifiers::NONE));
        assert!(
            fx.contains(&Effect::StopBottle("shell-aaaaaa".into())),
            "{fx:?}"
        );
        assert!(a.panes.is_empty() && a.focus == Focus::Sidebar);
    }

    #[test]
    fn an_exited_pane_shows_its_status_and_enter_closes_it() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        a.update(AppEvent::PaneReady(id));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(3))));
        assert_eq!(
            a.pane(id).map(|p| p.state.clone()),
            Some(PaneState::Exited(3))
        );
        assert!(a
            .update(key(KeyCode::Char('x'), KeyModifiers::NONE))
            .is_empty());
        a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        assert!(a.panes.is_empty());
    }

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
    fn a_crash_offer_opens_the_viewer_on_enter_and_anything_else_dismisses_it() {
        let report = std::path::PathBuf::from("/h/logs/crash-1.log");
        let mut a = with_bottles();
        a.update(AppEvent::CrashFound(report.clone()));
        assert_eq!(a.overlay, Some(Overlay::CrashOffer(report.clone())));
        let fx = a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        assert!(
            matches!(
                &fx[0],
                Effect::ListLogs { select: Some(logview::LogKind::Crash(p)), sidecars }
                    if *p == report && sidecars.len() == 2
            ),
            "{fx:?}"
        );
        a.update(AppEvent::LogSources(
            vec![logview::LogSource {
                label: "crash 1".into(),
                kind: logview::LogKind::Crash(report.clone()),
            }],
            Some(logview::LogKind::Crash(report.clone())),
        ));
        assert!(matches!(a.overlay, Some(Overlay::Logs(_))));
        a.update(key(KeyCode::Char('q'), KeyModifiers::NONE));
        assert_eq!(a.overlay, None);
        // Any other key dismisses; with another modal open it is a notice.
        a.update(AppEvent::CrashFound(report.clone()));
        a.update(key(KeyCode::Char('x'), KeyModifiers::NONE));
        assert_eq!(a.overlay, None);
        a.apply(Action::Problems);
        a.update(AppEvent::CrashFound(report));
        assert!(matches!(a.overlay, Some(Overlay::Problems(_))));
        assert!(a.notice.as_deref().is_some_and(|n| n.contains("crashed")));
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

    #[test]
    fn panes_opened_from_the_sidebar_tile_evenly() {
        let mut a = with_bottles();
        a.update(AppEvent::Resize {
            rows: 40,
            cols: 140,
        });
        for _ in 0..8 {
            a.selected = 3;
            a.focus = Focus::Sidebar;
            a.apply(Action::NewShell);
        }
        assert_eq!(a.panes.len(), 8);
        // 108×39 shared by 8: no pane is a sliver.
        for (id, area) in a.pane_areas() {
            assert!(area.w >= 25 && area.h >= 9, "pane {id}: {area:?}");
        }
    }

    #[test]
    fn r_on_an_ended_pane_runs_the_session_again_on_a_fresh_screen() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        let size = a.pane(id).map(|p| (p.rows, p.cols)).expect("pane");
        a.update(AppEvent::PaneReady(id));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(0))));
        let old = a.pane(id).map(|p| p.shared.clone()).expect("pane");
        let fx = a.update(key(KeyCode::Char('r'), KeyModifiers::NONE));
        assert_eq!(
            fx,
            vec![
                Effect::RestartSession {
                    id,
                    slug: "shell-aaaaaa".into()
                },
                Effect::Redraw
            ]
        );
        assert_eq!(
            a.pane(id).map(|p| p.state.clone()),
            Some(PaneState::Connecting)
        );
        // Typing while it restarts goes to the pane once it is up.
        assert!(matches!(
            a.update(key(KeyCode::Char('r'), KeyModifiers::NONE))[..],
            [Effect::PaneInput(_, _)]
        ));
        let fx = a.update(AppEvent::PaneRestarted(id));
        assert_eq!(
            fx[0],
            Effect::OpenPane {
                id,
                slug: "shell-aaaaaa".into(),
                kind: PaneKind::Session,
                rows: size.0,
                cols: size.1,
            }
        );
        let fresh = a.pane(id).map(|p| p.shared.clone()).expect("pane");
        assert!(!Arc::ptr_eq(&old, &fresh), "a fresh screen");

        // A failed restart says why and can be tried again.
        a.update(AppEvent::PaneFailed(id, "no such container".into()));
        let fx = a.update(key(KeyCode::Char('r'), KeyModifiers::NONE));
        assert!(matches!(fx[0], Effect::RestartSession { .. }));
    }

    #[test]
    fn r_on_an_ended_shell_pane_opens_a_new_shell() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::NewShell);
        let id = a.panes[0].id;
        a.update(AppEvent::PaneReady(id));
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(130))));
        let fx = a.update(key(KeyCode::Char('r'), KeyModifiers::NONE));
        assert!(
            matches!(&fx[0], Effect::OpenPane { id: i, kind: PaneKind::Shell, .. } if *i == id),
            "{fx:?}"
        );
    }

    #[test]
    fn restore_reopens_only_running_bottles_in_their_places() {
        let mut a = with_bottles();
        let mut tree = Node::Leaf(4);
        tree.split(4, Split::Columns, 7);
        tree.split(7, Split::Rows, 9);
        let saved = SavedLayout {
            version: 1,
            panes: vec![
                SavedPane {
                    id: 4,
                    slug: "shell-aaaaaa".into(),
                    kind: PaneKind::Session,
                },
                SavedPane {
                    id: 7,
                    slug: "shell-cccccc".into(),
                    kind: PaneKind::Session,
                },
                SavedPane {
                    id: 9,
                    slug: "shell-bbbbbb".into(),
                    kind: PaneKind::Shell,
                },
            ],
            layout: Some(tree),
            focus: Some(7),
        };
        assert_eq!(
            a.update(AppEvent::Restore(saved)),
            vec![Effect::RefreshBottles]
        );
        // The list refresh that follows carries the restore out.
        let rows = a.bottles.clone();
        let fx = a.update(AppEvent::Bottles(Ok(rows)));
        let opened: Vec<(PaneId, String)> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::OpenPane { id, slug, .. } => Some((*id, slug.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(opened.len(), 2);
        assert!(
            opened.contains(&(4, "shell-aaaaaa".into()))
                && opened.contains(&(9, "shell-bbbbbb".into()))
        );
        assert_eq!(a.layout.as_ref().map(|t| t.panes()), Some(vec![4, 9]));
        assert_eq!(
            a.focus,
            Focus::Pane(9),
            "focus falls back from the stopped pane"
        );
        // New panes get fresh ids.
        a.focus = Focus::Sidebar;
        a.selected = 4;
        let fx = a.apply(Action::OpenSelected);
        assert!(matches!(fx.first(), Some(Effect::OpenPane { .. })) || a.focus == Focus::Pane(9));
    }

    #[test]
    fn wheel_and_copy_mode_scroll_history_and_typing_returns() {
        use crossterm::event::{MouseEvent, MouseEventKind};
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        a.update(AppEvent::PaneReady(id));
        {
            let p = a.pane(id).expect("pane");
            let mut s = p.shared.screen.lock().expect("screen");
            for i in 0..200 {
                s.process(format!("line {i}\r\n").as_bytes());
            }
        }
        let wheel = |kind| {
            AppEvent::Mouse(MouseEvent {
                kind,
                column: 50,
                row: 10,
                modifiers: KeyModifiers::NONE,
            })
        };
        a.update(wheel(MouseEventKind::ScrollUp));
        a.update(wheel(MouseEventKind::ScrollUp));
        assert_eq!(a.scrolled(id), 6);
        a.update(wheel(MouseEventKind::ScrollDown));
        assert_eq!(a.scrolled(id), 3);
        // Copy mode: keys scroll, never reach the pane.
        a.apply(Action::CopyMode);
        assert!(a.update(key(KeyCode::Char('g'), KeyModifiers::NONE)) == vec![Effect::Redraw]);
        assert!(a.scrolled(id) > 100);
        a.update(key(KeyCode::Char('q'), KeyModifiers::NONE));
        assert_eq!((a.scrolled(id), a.copy_mode), (0, None));
        // Typing while scrolled back returns to the live screen.
        a.update(wheel(MouseEventKind::ScrollUp));
        let fx = a.update(key(KeyCode::Char('x'), KeyModifiers::NONE));
        assert_eq!(fx.first(), Some(&Effect::PaneInput(id, b"x".to_vec())));
        assert_eq!(a.scrolled(id), 0);
        // A program that asked for the mouse gets the wheel instead.
        a.pane(id)
            .expect("pane")
            .shared
            .screen
            .lock()
            .expect("screen")
            .process(b"\x1b[?1000h\x1b[?1006h");
        let fx = a.update(wheel(MouseEventKind::ScrollUp));
        assert!(
            matches!(fx.as_slice(), [Effect::PaneInput(_, b)] if b.starts_with(b"\x1b[<64;")),
            "{fx:?}"
        );
    }

    #[test]
    fn a_bell_in_an_unfocused_pane_marks_it_until_focused() {
        let mut a = with_bottles();
        a.notify = crate::config::Notify::Osc777;
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let first = a.panes[0].id;
        a.apply(Action::SplitColumns);
        let second = a.panes[1].id;
        assert_eq!(a.focus, Focus::Pane(second));
        a.pane(first)
            .expect("pane")
            .shared
            .screen
            .lock()
            .expect("screen")
            .process(b"waiting for you\x07");
        let fx = a.update(AppEvent::Pane(PaneNotice::Output(first)));
        assert!(fx.contains(&Effect::Bell), "the operator's terminal rings");
        assert!(
            fx.contains(&Effect::Notify(
                "\x1b]777;notify;bottle;shell-aaaaaa needs input\x07".into()
            )),
            "a desktop notification when asked for: {fx:?}"
        );
        assert!(a.pane(first).is_some_and(|p| p.needs_input));
        assert!(a.bottle_needs_input("shell-aaaaaa"));
        // An OSC 9 notification marks the pane too, but rings nothing.
        let p = a.pane(first).expect("pane");
        p.shared
            .screen
            .lock()
            .expect("screen")
            .process(b"\x1b]9;done\x07");
        let fx = a.update(AppEvent::Pane(PaneNotice::Output(first)));
        assert!(!fx.contains(&Effect::Bell));
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Notify(_))),
            "one notification while it waits"
        );
        a.apply(Action::Focus(Direction::Left));
        a.update(AppEvent::Tick);
        assert!(!a.bottle_needs_input("shell-aaaaaa"));
    }

    #[test]
    fn output_going_quiet_at_a_prompt_in_an_unwatched_pane_needs_input() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let first = a.panes[0].id;
        a.update(AppEvent::PaneReady(first));
        a.apply(Action::SplitColumns);
        let long_ago = std::time::Instant::now() - QUIET_AFTER_PROMPT * 2;
        let out = |a: &mut App, bytes: &[u8], at: std::time::Instant| {
            let p = a.pane(first).expect("pane");
            p.shared.screen.lock().expect("screen").process(bytes);
            p.shared.output_at(at);
            a.update(AppEvent::Pane(PaneNotice::Output(first)));
        };
        // Still busy (recent output): nothing yet.
        out(
            &mut a,
            b"thinking...\r\nDo it? (y/n) ",
            std::time::Instant::now(),
        );
        a.update(AppEvent::Tick);
        assert!(!a.pane(first).is_some_and(|p| p.needs_input));
        // Quiet, but not at a prompt: nothing.
        out(&mut a, b"\r\ncompiling", long_ago);
        a.update(AppEvent::Tick);
        assert!(!a.pane(first).is_some_and(|p| p.needs_input));
        // Quiet after a prompt: it waits for the operator.
        a.notify = crate::config::Notify::Osc9;
        out(&mut a, b"\r\nagent@x:/workspace$ ", long_ago);
        let fx = a.update(AppEvent::Tick);
        assert_eq!(fx[0], Effect::Redraw);
        assert!(fx.contains(&Effect::Notify(
            "\x1b]9;shell-aaaaaa needs input\x07".into()
        )));
        assert!(a.bottle_needs_input("shell-aaaaaa"));
        // Looking at it clears it; the same quiet screen does not mark it again.
        a.apply(Action::FocusNext);
        a.update(AppEvent::Tick);
        a.apply(Action::FocusNext);
        a.update(AppEvent::Tick);
        assert!(!a.bottle_needs_input("shell-aaaaaa"));
    }

    #[test]
    fn copy_mode_search_finds_older_lines_and_repeats() {
        let mut a = with_bottles();
        a.selected = 3;
        a.apply(Action::OpenSelected);
        let id = a.panes[0].id;
        {
            let p = a.pane(id).expect("pane");
            let mut s = p.shared.screen.lock().expect("screen");
            for i in 0..300 {
                let tag = if i % 100 == 7 { " NEEDLE" } else { "" };
                s.process(format!("line {i}{tag}\r\n").as_bytes());
            }
        }
        a.apply(Action::CopyMode);
        for k in "/NEEDLE".chars() {
            a.update(key(KeyCode::Char(k), KeyModifiers::NONE));
        }
        a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        let top = |a: &App| {
            a.pane(id)
                .expect("pane")
                .shared
                .screen
                .lock()
                .expect("screen")
                .text_rows()[0]
                .clone()
        };
        assert_eq!(top(&a), "line 207 NEEDLE");
        a.update(key(KeyCode::Char('n'), KeyModifiers::NONE));
        assert_eq!(top(&a), "line 107 NEEDLE");
        a.update(key(KeyCode::Char('n'), KeyModifiers::NONE));
        assert_eq!(top(&a), "line 7 NEEDLE");
        a.update(key(KeyCode::Char('n'), KeyModifiers::NONE));
        assert!(a.notice.as_deref().is_some_and(|n| n.contains("no more")));
        a.update(key(KeyCode::Char('N'), KeyModifiers::NONE));
        assert_eq!(top(&a), "line 107 NEEDLE");
    }

    fn pending(slug: &str, host: &str) -> requests::Pending {
        let id = crate::queue::RequestId::generate();
        let bytes = format!(
            r#"{{"id":"{id}","kind":"egress","payload":{{"host":"{host}"}},"reason":"need it","created_at":"t"}}"#
        );
        requests::Pending {
            request: crate::queue::Request::parse(slug, id, bytes.as_bytes()).expect("request"),
            change: vec![format!("+ route {host}:443,80  paths any  methods any")],
        }
    }

    #[test]
    fn a_request_waits_for_the_operator_without_taking_the_panes_keys() {
        let mut a = with_bottles();
        a.selected = 3;
        let fx = a.apply(Action::OpenSelected);
        let Some(Effect::OpenPane { id, .. }) = fx.first().cloned() else {
            panic!("{fx:?}");
        };
        a.update(AppEvent::PaneReady(id));
        let first = pending("shell-aaaaaa", "a.test");
        let fx = a.update(AppEvent::QueueScanned {
            pending: vec![first.clone()],
            invalid: 0,
        });
        assert!(fx.contains(&Effect::Bell), "{fx:?}");
        assert_eq!(a.requests.shown, Some(first.request.key()));
        assert!(!a.requests.focused);
        // Typing goes on into the pane, decision keys included.
        assert_eq!(
            a.update(key(KeyCode::Char('y'), KeyModifiers::NONE)),
            vec![Effect::PaneInput(id, b"y".to_vec())]
        );
        // Prefix a: the prompt has the keyboard, but not for 500 ms.
        a.update(key(KeyCode::Char('b'), KeyModifiers::CONTROL));
        a.update(key(KeyCode::Char('a'), KeyModifiers::NONE));
        assert!(a.requests.focused);
        assert_eq!(
            a.update(key(KeyCode::Char('y'), KeyModifiers::NONE)),
            vec![Effect::Redraw]
        );
        // A newer request does not replace the one on display; no bell for
        // the one already seen.
        let second = pending("shell-bbbbbb", "b.test");
        let fx = a.update(AppEvent::QueueScanned {
            pending: vec![first.clone(), second.clone()],
            invalid: 0,
        });
        assert_eq!(fx.iter().filter(|e| **e == Effect::Bell).count(), 1);
        assert_eq!(a.requests.shown, Some(first.request.key()));
        // Keys during a paste's guard do nothing either.
        a.requests.age();
        a.update(AppEvent::Paste("yyy".into()));
        assert_eq!(
            a.update(key(KeyCode::Char('y'), KeyModifiers::NONE)),
            vec![Effect::Redraw]
        );
        a.requests.age();
        let fx = a.update(key(KeyCode::Char('y'), KeyModifiers::NONE));
        assert_eq!(
            fx.first(),
            Some(&Effect::Decide {
                request: Box::new(first.request.clone()),
                intent: crate::control::Intent::Approve,
                note: String::new(),
            })
        );
        // Decided: the next request takes its place, guarded again.
        a.update(AppEvent::Decided(Ok("route added".into())));
        a.update(AppEvent::QueueScanned {
            pending: vec![second.clone()],
            invalid: 0,
        });
        assert_eq!(a.requests.shown, Some(second.request.key()));
        assert!(a.requests.focused);
        assert_eq!(
            a.update(key(KeyCode::Char('n'), KeyModifiers::NONE)),
            vec![Effect::Redraw]
        );
        // N: a note, then Enter rejects with it; Esc gives the keys back.
        a.requests.age();
        a.update(key(KeyCode::Char('N'), KeyModifiers::NONE));
        for c in "no".chars() {
            a.update(key(KeyCode::Char(c), KeyModifiers::NONE));
        }
        let fx = a.update(key(KeyCode::Enter, KeyModifiers::NONE));
        assert!(matches!(
            fx.first(),
            Some(Effect::Decide { intent: crate::control::Intent::Reject, note, .. }) if note == "no"
        ));
        a.update(key(KeyCode::Esc, KeyModifiers::NONE));
        assert!(!a.requests.focused);
        assert_eq!(
            a.update(key(KeyCode::Char('z'), KeyModifiers::NONE)),
            vec![Effect::PaneInput(id, b"z".to_vec())]
        );
    }
}
