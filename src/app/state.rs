//! The workspace's state: `App` and the sub-states it owns, with the
//! read-only questions the update and the renderer both ask (which pane
//! is focused, where the panes go). Mutation lives in the handler files.

use super::keymap::Keymap;
use super::{engine_picker, launch, logview, picker, requests};
use crate::manifest::{Definitions, Severity};
use crate::session::io::PaneKind;
use crate::session::layout::{Area, Node, PaneId};
use crate::session::pane::PaneShared;
use std::sync::Arc;
use std::time::Instant;

/// How long a pane's output must be quiet, with its cursor after a prompt,
/// before an unwatched pane counts as waiting for the operator.
pub const QUIET_AFTER_PROMPT: std::time::Duration = std::time::Duration::from_secs(3);

/// How long a passing notice ("<slug> is up") stays on the status line.
pub const NOTICE_FADES: std::time::Duration = std::time::Duration::from_secs(4);

/// Columns the sidebar takes.
pub const SIDEBAR_WIDTH: u16 = 32;
/// How long after its agent container started again a pane still on the
/// old container re-attaches when that connection ends.
pub const REATTACH_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

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
    /// The help, scrolled by this many lines.
    Help(u16),
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
    pub(super) seen_attention: u64,
    pub(super) seen_bells: u64,
    /// Output arrived since the operator last looked at the pane.
    pub(super) unseen_output: bool,
    /// Its agent container started again (a capability approval recreated
    /// it) while the pane was still on the old one: re-attach when the old
    /// connection ends, until then.
    pub(super) reattach_by: Option<Instant>,
    /// The screen before the pane re-opened, kept until the new connection
    /// shows something: if it ends or fails first (the agent is gone), the
    /// pane goes back to it, so the agent's last words stay on screen.
    pub(super) before_reopen: Option<Earlier>,
}

/// A pane's screen and state before it re-opened.
pub struct Earlier {
    pub(super) shared: Arc<PaneShared>,
    pub(super) state: PaneState,
    pub(super) seen_attention: u64,
    pub(super) seen_bells: u64,
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
    /// News that fades ("<slug> is up"): the first tick after this clears
    /// the notice if it still says this.
    pub(super) notice_fades: Option<(Instant, String)>,
    pub(super) next_id: PaneId,
    pub(super) refreshing: bool,
    /// A change arrived during a refresh: read the list once more after it.
    pub(super) refresh_again: bool,
    /// Ticks since the last refresh began.
    pub(super) ticks_since_refresh: u32,
    /// The engines whose event stream is open.
    pub(super) engines_followed: std::collections::BTreeSet<String>,
    /// A saved layout waiting for the first bottle list.
    pub(super) pending_restore: Option<SavedLayout>,
    /// The launch being confirmed (prompts, preflight).
    pub launch: Option<launch::LaunchFlow>,
    /// The engines that answer (refreshed with the bottles); `None` until
    /// the first look.
    pub engines: Option<Vec<crate::backends::Engine>>,
    /// An agent chosen before the engines were known: (agent, task).
    pub(super) awaiting_engines: Option<(String, Option<String>)>,
    /// Desktop notifications when a pane starts to need input.
    pub notify: crate::config::Notify,
    /// The agents' pending requests and the prompt.
    pub requests: requests::Requests,
    /// `definitions::Loaded::fingerprint` of the definitions shown.
    pub(super) definitions_fingerprint: u64,
    /// Each bottle's git gate: pushes decided, branches landed.
    pub gates: std::collections::BTreeMap<String, super::pushes::GateView>,
    /// Bottles whose gate log is followed (or that have none).
    pub(super) gates_followed: std::collections::BTreeMap<String, super::pushes::Follow>,
}

impl App {
    pub fn new(defs: &Definitions, workspace: String, keymap: Keymap) -> App {
        let agents = super::definitions::agent_rows(defs);
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
            notice_fades: None,
            next_id: 1,
            refreshing: false,
            refresh_again: false,
            ticks_since_refresh: 0,
            engines_followed: Default::default(),
            pending_restore: None,
            launch: None,
            engines: None,
            awaiting_engines: None,
            notify: crate::config::Notify::Off,
            requests: requests::Requests::default(),
            definitions_fingerprint: 0,
            gates: Default::default(),
            gates_followed: Default::default(),
        }
    }

    /// A notice that the first tick after `NOTICE_FADES` clears.
    pub(super) fn fading_notice(&mut self, text: String) {
        self.notice = Some(text.clone());
        self.notice_fades = Some((Instant::now() + NOTICE_FADES, text));
    }

    pub(super) fn sidebar_len(&self) -> usize {
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

    pub(super) fn focused_pane(&self) -> Option<PaneId> {
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
    pub(super) fn inner(area: Area) -> (u16, u16) {
        (
            area.h.saturating_sub(2).max(1),
            area.w.saturating_sub(2).max(1),
        )
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

    /// Whether a bottle has a pane that asked for attention.
    pub fn bottle_needs_input(&self, slug: &str) -> bool {
        self.panes.iter().any(|p| p.slug == slug && p.needs_input)
    }

    /// Lines of a log in view (the viewer fills the screen but its frame
    /// and the status line).
    pub fn log_page(&self) -> usize {
        usize::from(self.size.0.saturating_sub(4)).max(1)
    }
}
