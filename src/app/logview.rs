//! The log viewer (a modal layer): the application log, crash reports and
//! each bottle's sidecar decision log, one source at a time, with search
//! and follow. Pure state: the loop lists the sources and loads their
//! lines (`Effect::ListLogs`, `Effect::LoadLog`); ui/logs.rs draws it.
//!
//! Keys: Tab / Shift-Tab (or `]` / `[`) next / previous source; ↑↓ j k,
//! PgUp PgDn, g (top), G (end, following); `f` follows the end as it grows;
//! `/` types a search, Enter finds it, `n` / `N` next / previous match;
//! `b` cycles the bottle filter: all lines, then only the lines of one
//! bottle (those with its `slug=<slug>` field, exactly), the focused
//! bottle first; Esc cancels a search being typed, else closes; `q` closes.

use super::{Effect, Overlay};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// `logs/bottle.log.<date>`.
    App(PathBuf),
    /// `logs/crash-<utc>.log`.
    Crash(PathBuf),
    /// The sidecar container's output (its decision log) of this bottle.
    Sidecar(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSource {
    pub label: String,
    pub kind: LogKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogViewer {
    pub sources: Vec<LogSource>,
    pub selected: usize,
    /// The selected source's lines, once loaded, as shown (the bottle
    /// filter applied).
    pub lines: Vec<String>,
    /// Every line of the selected source.
    all_lines: Vec<String>,
    /// The bottles `b` offers, in order (the focused one first); slugs
    /// found in the log follow them.
    pub bottles: Vec<String>,
    /// Only this bottle's lines (application log and crash reports).
    pub filter: Option<String>,
    /// Which source `lines` (or `error`) belongs to.
    pub loaded: Option<LogKind>,
    pub error: Option<String>,
    /// The first line shown.
    pub top: usize,
    /// Keep the end in view, reloading as the source grows.
    pub follow: bool,
    /// A search being typed (after `/`).
    pub search_input: Option<String>,
    /// The last search, for `n` / `N` and highlighting.
    pub search: Option<String>,
    /// The line the last search landed on.
    pub hit: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogOutcome {
    Stay,
    Close,
    /// Load this source (the selection changed, or follow was turned on).
    Load(LogKind),
}

impl LogViewer {
    pub fn new(sources: Vec<LogSource>, select: Option<&LogKind>) -> LogViewer {
        let selected = select
            .and_then(|k| sources.iter().position(|s| &s.kind == k))
            .unwrap_or(0);
        LogViewer {
            sources,
            selected,
            lines: Vec::new(),
            all_lines: Vec::new(),
            bottles: Vec::new(),
            filter: None,
            loaded: None,
            error: None,
            top: 0,
            follow: false,
            search_input: None,
            search: None,
            hit: None,
        }
    }

    pub fn current(&self) -> Option<&LogKind> {
        self.sources.get(self.selected).map(|s| &s.kind)
    }

    /// Lines arrived for `kind`; anything for a source no longer selected
    /// is dropped. `page` is the number of lines in view.
    pub fn loaded(&mut self, kind: LogKind, result: Result<Vec<String>, String>, page: usize) {
        if self.current() != Some(&kind) {
            return;
        }
        let fresh = self.loaded.as_ref() != Some(&kind);
        self.loaded = Some(kind);
        match result {
            Ok(lines) => {
                self.all_lines = lines;
                self.error = None;
            }
            Err(e) => {
                self.all_lines.clear();
                self.error = Some(e);
            }
        }
        self.apply_filter();
        if self.follow {
            self.top = self.end(page);
        } else if fresh {
            // A crash report reads from the top; a log from its end.
            self.top = match self.current() {
                Some(LogKind::Crash(_)) => 0,
                _ => self.end(page),
            };
        } else {
            self.top = self.top.min(self.end(page));
        }
    }

    fn end(&self, page: usize) -> usize {
        self.lines.len().saturating_sub(page.max(1))
    }

    pub fn key(&mut self, key: KeyEvent, page: usize) -> LogOutcome {
        if let Some(input) = &mut self.search_input {
            match key.code {
                KeyCode::Esc => self.search_input = None,
                KeyCode::Enter => {
                    let s = std::mem::take(input);
                    self.search_input = None;
                    if !s.is_empty() {
                        self.search = Some(s);
                        self.find(true, true, page);
                    }
                }
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => input.push(c),
                _ => {}
            }
            return LogOutcome::Stay;
        }
        let page = page.max(1);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => return LogOutcome::Close,
            KeyCode::Tab | KeyCode::Char(']') => return self.switch(1),
            KeyCode::BackTab | KeyCode::Char('[') => return self.switch(-1),
            KeyCode::Up | KeyCode::Char('k') => self.scroll(-1, page),
            KeyCode::Down | KeyCode::Char('j') => self.scroll(1, page),
            KeyCode::PageUp => self.scroll(-(page as isize), page),
            KeyCode::PageDown | KeyCode::Char(' ') => self.scroll(page as isize, page),
            KeyCode::Home | KeyCode::Char('g') => {
                self.follow = false;
                self.top = 0;
            }
            KeyCode::End | KeyCode::Char('G') => {
                self.top = self.end(page);
                self.follow = true;
            }
            KeyCode::Char('f') => {
                self.follow = !self.follow;
                if self.follow {
                    self.top = self.end(page);
                    if let Some(k) = self.current().cloned() {
                        return LogOutcome::Load(k);
                    }
                }
            }
            KeyCode::Char('/') => self.search_input = Some(String::new()),
            KeyCode::Char('b') => self.cycle_filter(page),
            KeyCode::Char('n') => self.find(true, false, page),
            KeyCode::Char('N') => self.find(false, false, page),
            _ => {}
        }
        LogOutcome::Stay
    }

    fn switch(&mut self, by: isize) -> LogOutcome {
        if self.sources.is_empty() {
            return LogOutcome::Stay;
        }
        self.selected = super::picker::wrap(self.selected, by, self.sources.len());
        self.lines.clear();
        self.all_lines.clear();
        self.loaded = None;
        self.error = None;
        self.top = 0;
        self.hit = None;
        match self.current().cloned() {
            Some(k) => LogOutcome::Load(k),
            None => LogOutcome::Stay,
        }
    }

    /// Whether the bottle filter applies to the selected source: the
    /// application log and crash reports carry `slug=` fields; a sidecar's
    /// log is one bottle's already.
    pub fn filtering(&self) -> Option<&str> {
        match self.current() {
            Some(LogKind::App(_) | LogKind::Crash(_)) => self.filter.as_deref(),
            _ => None,
        }
    }

    fn apply_filter(&mut self) {
        self.lines = match self.filtering() {
            Some(slug) => self
                .all_lines
                .iter()
                .filter(|l| has_slug(l, slug))
                .cloned()
                .collect(),
            None => self.all_lines.clone(),
        };
    }

    /// All lines → the first offered bottle → the next … → all lines.
    fn cycle_filter(&mut self, page: usize) {
        let mut offered = self.bottles.clone();
        for l in self.all_lines.iter().rev() {
            if let Some(slug) = slug_of(l) {
                if !offered.iter().any(|o| o == slug) {
                    offered.push(slug.to_string());
                }
            }
        }
        self.filter = match &self.filter {
            None => offered.first().cloned(),
            Some(f) => offered
                .iter()
                .position(|o| o == f)
                .and_then(|i| offered.get(i + 1))
                .cloned(),
        };
        self.apply_filter();
        self.hit = None;
        self.top = self.end(page);
    }

    fn scroll(&mut self, by: isize, page: usize) {
        let end = self.end(page) as isize;
        self.top = (self.top as isize + by).clamp(0, end.max(0)) as usize;
        // Scrolling up leaves follow; reaching the end does not turn it on.
        if by < 0 {
            self.follow = false;
        }
    }

    /// Moves to the next (or previous) line holding the search, case
    /// insensitively; `first` starts from the top of the view.
    fn find(&mut self, forward: bool, first: bool, page: usize) {
        let Some(needle) = self.search.as_ref().map(|s| s.to_lowercase()) else {
            return;
        };
        let n = self.lines.len();
        if n == 0 {
            return;
        }
        let start = match (self.hit, first) {
            (Some(h), false) => h,
            _ if forward => self.top.wrapping_sub(1),
            _ => self.top,
        };
        for step in 1..=n {
            let i = if forward {
                start.wrapping_add(step) % n
            } else {
                (start + n * 2 - step) % n
            };
            if self.lines[i].to_lowercase().contains(&needle) {
                self.hit = Some(i);
                self.follow = false;
                if i < self.top || i >= self.top + page.max(1) {
                    self.top = i.saturating_sub(page / 3).min(self.end(page));
                }
                return;
            }
        }
        self.hit = None;
    }
}

/// Whether `line` has the field `slug=<slug>` (bare or quoted), exactly:
/// `slug=dev-a` is not a line of `dev`.
pub fn has_slug(line: &str, slug: &str) -> bool {
    line.split_whitespace().any(|w| {
        w.strip_prefix("slug=")
            .map(|v| v.trim_matches('"'))
            .is_some_and(|v| v == slug)
    })
}

/// The slug a log line's `slug=` field names.
fn slug_of(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("slug="))
        .map(|v| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Bytes → display lines; `cut`: the first line may be partial, drop it.
pub fn split_lines(bytes: &[u8], cut: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<String> = text.lines().map(|l| l.replace('\t', "    ")).collect();
    if cut && !lines.is_empty() {
        lines.remove(0);
    }
    lines
}

impl super::App {
    /// The log viewer's sources are listed off the loop (with these
    /// bottles' sidecars), then `LogSources` opens it.
    pub(super) fn list_logs(&self, select: Option<LogKind>) -> Effect {
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

    pub(super) fn log_sources(
        &mut self,
        sources: Vec<LogSource>,
        select: Option<LogKind>,
    ) -> Vec<Effect> {
        let mut v = LogViewer::new(sources, select.as_ref());
        v.bottles = self.log_bottles();
        let load = v.current().cloned();
        v.follow = false;
        self.overlay = Some(Overlay::Logs(v));
        let mut effects = vec![Effect::Redraw];
        if let Some(k) = load {
            effects.insert(0, Effect::LoadLog(k));
        }
        effects
    }

    /// The bottles the viewer's filter offers: the focused pane's (else
    /// the one selected in the sidebar) first, then the others listed.
    fn log_bottles(&self) -> Vec<String> {
        let focused = self
            .focused_pane()
            .and_then(|id| self.pane(id))
            .map(|p| p.slug.clone())
            .or_else(|| self.selected_bottle().map(|b| b.slug.clone()));
        let mut out: Vec<String> = focused.into_iter().collect();
        for b in &self.bottles {
            if !out.contains(&b.slug) {
                out.push(b.slug.clone());
            }
        }
        out
    }

    pub(super) fn log_loaded(
        &mut self,
        kind: LogKind,
        result: Result<Vec<String>, String>,
    ) -> Vec<Effect> {
        let page = self.log_page();
        if let Some(Overlay::Logs(v)) = &mut self.overlay {
            v.loaded(kind, result, page);
        }
        vec![Effect::Redraw]
    }

    /// A key while the viewer is on top.
    pub(super) fn logs_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let page = self.log_page();
        let Some(Overlay::Logs(v)) = &mut self.overlay else {
            return Vec::new();
        };
        match v.key(key, page) {
            LogOutcome::Stay => vec![Effect::Redraw],
            LogOutcome::Close => {
                self.overlay = None;
                vec![Effect::Redraw]
            }
            LogOutcome::Load(k) => vec![Effect::LoadLog(k), Effect::Redraw],
        }
    }

    /// The last run crashed: offer its report, unless a modal is open
    /// (then a notice says where it is).
    pub(super) fn crash_found(&mut self, path: PathBuf) -> Vec<Effect> {
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

    /// The crash offer: Enter opens the report in the viewer, anything
    /// else dismisses it.
    pub(super) fn crash_offer_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(Overlay::CrashOffer(path)) = self.overlay.take() else {
            return Vec::new();
        };
        if key.code == KeyCode::Enter {
            return vec![self.list_logs(Some(LogKind::Crash(path)))];
        }
        vec![Effect::Redraw]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer() -> LogViewer {
        let mut v = LogViewer::new(
            vec![
                LogSource {
                    label: "bottle.log".into(),
                    kind: LogKind::App("/l/bottle.log".into()),
                },
                LogSource {
                    label: "crash".into(),
                    kind: LogKind::Crash("/l/crash-1.log".into()),
                },
            ],
            Some(&LogKind::Crash("/l/crash-1.log".into())),
        );
        v.loaded(
            LogKind::Crash("/l/crash-1.log".into()),
            Ok((0..100).map(|i| format!("line {i}")).collect()),
            10,
        );
        v
    }

    fn press(v: &mut LogViewer, code: KeyCode) -> LogOutcome {
        v.key(KeyEvent::new(code, KeyModifiers::NONE), 10)
    }

    #[test]
    fn a_crash_opens_at_its_top_and_search_moves_between_matches() {
        let mut v = viewer();
        assert_eq!((v.selected, v.top), (1, 0));
        press(&mut v, KeyCode::Char('/'));
        for c in "LINE 5".chars() {
            press(&mut v, KeyCode::Char(c));
        }
        press(&mut v, KeyCode::Enter);
        assert_eq!(v.hit, Some(5), "case-insensitive, from the top of the view");
        press(&mut v, KeyCode::Char('n'));
        assert_eq!(v.hit, Some(50));
        assert!(v.top <= 50 && 50 < v.top + 10, "the match is in view");
        press(&mut v, KeyCode::Char('N'));
        assert_eq!(v.hit, Some(5));
        press(&mut v, KeyCode::Char('N'));
        assert_eq!(v.hit, Some(59), "wraps backwards");
        // Esc while typing cancels the search only.
        press(&mut v, KeyCode::Char('/'));
        assert_eq!(press(&mut v, KeyCode::Esc), LogOutcome::Stay);
        assert_eq!(press(&mut v, KeyCode::Esc), LogOutcome::Close);
    }

    #[test]
    fn follow_keeps_the_end_in_view_and_sources_switch_and_load() {
        let mut v = viewer();
        assert_eq!(
            press(&mut v, KeyCode::Char('f')),
            LogOutcome::Load(LogKind::Crash("/l/crash-1.log".into()))
        );
        assert_eq!(v.top, 90);
        v.loaded(
            LogKind::Crash("/l/crash-1.log".into()),
            Ok((0..120).map(|i| format!("line {i}")).collect()),
            10,
        );
        assert_eq!(v.top, 110, "grew: still at the end");
        press(&mut v, KeyCode::Up);
        assert!(!v.follow, "scrolling up leaves follow");
        assert_eq!(
            press(&mut v, KeyCode::Tab),
            LogOutcome::Load(LogKind::App("/l/bottle.log".into()))
        );
        assert!(v.lines.is_empty());
        // A late answer for the source left behind is dropped.
        v.loaded(
            LogKind::Crash("/l/crash-1.log".into()),
            Ok(vec!["old".into()]),
            10,
        );
        assert!(v.lines.is_empty());
        v.loaded(
            LogKind::App("/l/bottle.log".into()),
            Ok((0..30).map(|i| format!("log {i}")).collect()),
            10,
        );
        assert_eq!(v.top, 20, "a log opens at its end");
    }
}

#[cfg(test)]
mod app_tests {
    use crate::app::test_support::{key, with_bottles};
    use crate::app::{logview, Action, AppEvent, Effect, Overlay};
    use crossterm::event::{KeyCode, KeyModifiers};

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
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    fn press(v: &mut LogViewer, c: char) {
        v.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE), 10);
    }

    #[test]
    fn b_cycles_the_bottle_filter_on_exact_slug_fields() {
        let app = LogKind::App("/l/bottle.log".into());
        let mut v = LogViewer::new(
            vec![
                LogSource {
                    label: "log".into(),
                    kind: app.clone(),
                },
                LogSource {
                    label: "sidecar dev-a".into(),
                    kind: LogKind::Sidecar("dev-a".into()),
                },
            ],
            None,
        );
        v.bottles = vec!["dev-a".into()];
        let lines = vec![
            "INFO start command=\"workspace\"".to_string(),
            "INFO bottle stop event=\"stop\" slug=dev-a duration_ms=1".into(),
            "INFO bottle rm event=\"rm\" slug=dev-ab duration_ms=1".into(),
            "INFO request decided event=\"decision\" slug=\"dev-a\" id=01J".into(),
            "INFO bottle stop event=\"stop\" slug=dev-b".into(),
        ];
        v.loaded(app.clone(), Ok(lines.clone()), 10);
        assert_eq!(v.lines.len(), 5);
        press(&mut v, 'b');
        assert_eq!(v.filtering(), Some("dev-a"), "the offered bottle first");
        assert_eq!(v.lines, vec![lines[1].clone(), lines[3].clone()]);
        // Reloading (follow) keeps the filter.
        v.loaded(app.clone(), Ok(lines.clone()), 10);
        assert_eq!(v.lines.len(), 2);
        // Then the slugs found in the log, newest first.
        press(&mut v, 'b');
        assert_eq!(v.filtering(), Some("dev-b"));
        assert_eq!(v.lines, vec![lines[4].clone()]);
        press(&mut v, 'b');
        assert_eq!(v.filtering(), Some("dev-ab"));
        press(&mut v, 'b');
        assert_eq!(v.filtering(), None, "back to every line");
        assert_eq!(v.lines.len(), 5);
        // A sidecar's log is one bottle's already: not filtered.
        press(&mut v, 'b');
        v.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE), 10);
        assert_eq!(v.filtering(), None);
        v.loaded(
            LogKind::Sidecar("dev-a".into()),
            Ok(vec!["allowed api.example.com".into()]),
            10,
        );
        assert_eq!(v.lines.len(), 1);
    }
}
