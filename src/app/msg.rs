//! The workspace's messages: `AppEvent` (what happened), `Action` (what
//! the operator wants) and `Effect` (I/O for the workspace loop to carry
//! out). Data only; `Effect` stays `PartialEq` so `update` is tested by
//! comparing effects.

use super::{launch, logview, requests, BottleRow, SavedLayout};
use crate::session::io::PaneKind;
use crate::session::layout::{Direction, PaneId};
use crate::session::pane::PaneNotice;
use crossterm::event::KeyEvent;

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
    /// The definitions and config as re-read after a change (the
    /// definitions watcher), or why they could not be read.
    Definitions(Result<super::definitions::Loaded, String>),
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
    /// A container of this home changed on an engine (engine events): the
    /// bottle list is read again.
    BottlesChanged,
    /// The event stream of the engine at `host` is open (`live`) or ended;
    /// while every engine's is open, the list is polled only rarely.
    EngineEvents {
        host: String,
        live: bool,
    },
    /// The editor returned for a request (`<slug>/<id>`): the edited
    /// payload, `None` when unchanged, or why not.
    Edited(String, Result<Option<crate::queue::Payload>, String>),
    /// A pane's input queue is full (its program stopped reading): the
    /// keys were dropped.
    InputDropped(PaneId),
    /// The git gate of bottle `slug` decided a push (its sidecar's log).
    GateDecision {
        slug: String,
        decision: super::pushes::GateDecision,
    },
    /// Following `slug`'s gate log ended (`gate`: it has a gate).
    GateStream {
        slug: String,
        gate: bool,
    },
    /// `bottle fetch` for `slug`: a line per ref that landed, or why not.
    PushesFetched {
        slug: String,
        result: Result<Vec<String>, String>,
    },
    /// A background job failed before it could report its own result.
    JobFailed {
        job: &'static str,
        error: String,
    },
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
    /// Follow the event stream of the engine at this host (once per run).
    FollowEngine(String),
    /// Follow this bottle's git gate decisions (its sidecar's log) until
    /// the stream ends, then `GateStream`.
    FollowGate(String),
    /// Bring this bottle's pushes to the workspace repository into the
    /// host repository (`bottle fetch`), then `PushesFetched`.
    FetchPushes(String),
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

/// How the workspace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Quit,
    Signal(i32),
}

impl RunOutcome {
    /// The conventional exit status: 0, or 128 + signal.
    pub fn exit_code(self) -> i32 {
        match self {
            RunOutcome::Quit => 0,
            RunOutcome::Signal(s) => 128 + s,
        }
    }
}
