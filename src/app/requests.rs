//! Supervise requests in the workspace (SPEC §7): the queue's pending
//! requests (scanned off the loop whenever the watcher or the tick says
//! so), a banner that never takes the keyboard from the pane being typed
//! in, and, once the operator focuses it (prefix `a`), a prompt where one
//! key decides. A new request never replaces the request on display;
//! decision keys are ignored for 500 ms after a request is put on display
//! and after a paste. Deciding goes through `control` off the loop.
//!
//! The prompt's layout ([`prompt_layout`], shared by the drawing and the
//! keys) pins the change an approval makes at its top, above the agent's
//! own words, which get what room is left and scroll on their own: agent
//! text can never push the change out of sight. When the change itself
//! does not fit, the prompt says so and `y` approves nothing until the
//! terminal is large enough to show all of it at once.

use super::{App, Effect};
use crate::control::Intent;
use crate::queue::{Kind, Request};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::{Duration, Instant};

/// Decision keys do nothing this long after a request appears in the
/// prompt or after a paste.
pub const GUARD: Duration = Duration::from_millis(500);

/// A pending request and the exact change an approval makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub request: Request,
    pub change: Vec<String>,
}

/// Text being typed in the prompt: an answer, or a rejection's note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Typing {
    Answer(String),
    Note(String),
}

#[derive(Debug, Default)]
pub struct Requests {
    pub pending: Vec<Pending>,
    /// Queue files that are not valid requests (never decided).
    pub invalid: usize,
    /// The request on display (`<slug>/<id>`).
    pub shown: Option<String>,
    shown_since: Option<Instant>,
    /// The prompt has the keyboard.
    pub focused: bool,
    pub typing: Option<Typing>,
    /// Rows scrolled down in a prompt taller than the screen (PgUp/PgDn).
    pub scroll: u16,
    /// A decision on its way (its key).
    pub deciding: Option<String>,
    /// Keys seen in earlier scans (a new one rings the bell).
    seen: std::collections::HashSet<String>,
    scanning: bool,
    rescan: bool,
    /// A scan has come back (until then the bottle list's counts stand).
    pub scanned: bool,
    last_paste: Option<Instant>,
}

impl Requests {
    pub fn current(&self) -> Option<&Pending> {
        let key = self.shown.as_ref()?;
        self.pending.iter().find(|p| &p.request.key() == key)
    }

    fn show(&mut self, key: Option<String>) {
        self.shown = key;
        self.shown_since = Some(Instant::now());
        self.typing = None;
        self.scroll = 0;
    }

    fn guarded(&self) -> bool {
        let recent = |t: Option<Instant>| t.is_some_and(|t| t.elapsed() < GUARD);
        recent(self.shown_since) || recent(self.last_paste)
    }

    /// Tests: as if the request on display and the last paste were older
    /// than the guard.
    #[cfg(test)]
    pub fn age(&mut self) {
        let past = Instant::now().checked_sub(GUARD * 2);
        self.shown_since = past;
        self.last_paste = self.last_paste.and(past);
    }

    /// Pending requests of one bottle (the sidebar's badge).
    pub fn count_for(&self, slug: &str) -> usize {
        self.pending
            .iter()
            .filter(|p| p.request.slug == slug)
            .count()
    }
}

/// The prompt as drawn: every row pre-wrapped to the inner width, so what
/// fits is known exactly (and the same for the drawing and for `y`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptLayout {
    /// Inner width (inside the border).
    pub width: usize,
    /// Outer height of the prompt (borders included).
    pub height: u16,
    /// The header and every row of the change, in full.
    pub change: Vec<String>,
    /// The change is on screen in full: `y` may approve.
    pub fits: bool,
    /// The agent's words (sanitized, wrapped), all rows; the drawing shows
    /// `agent_rows` of them from the scroll offset.
    pub agent: Vec<String>,
    pub agent_rows: usize,
    /// The operator's typing and progress rows, pinned at the bottom.
    pub operator: Vec<String>,
    /// Rows of the change shown when it does not fit (from the scroll
    /// offset), below a warning row.
    pub change_rows: usize,
}

/// Cuts sanitized `text` into rows of at most `width` columns (by display
/// width; a wide character never straddles a row end), breaking after the
/// last space of a row when there is one.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let width = width.max(2);
    let mut rows = vec![String::new()];
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        let Some(row) = rows.last_mut() else { break };
        if row.width() + w > width {
            let carry = match row.rfind(' ') {
                Some(at) if at + 1 < row.len() && c != ' ' => row.split_off(at + 1),
                _ => String::new(),
            };
            let full = carry.width() + w > width;
            rows.push(carry);
            if full {
                rows.push(String::new());
            }
        }
        if let Some(row) = rows.last_mut() {
            row.push(c);
        }
    }
    rows
}

/// The layout of the prompt for `cur` in a main area of `cols`×`rows`.
pub fn prompt_layout(cols: u16, rows: u16, cur: &Pending, r: &Requests) -> PromptLayout {
    use crate::sanitize::inline;
    let width = usize::from(cols.saturating_sub(2)).max(1);
    let inner = usize::from(rows.saturating_sub(2));
    let question = cur.request.payload.kind() == Kind::Question;
    let mut change = vec![if question {
        "the question:".to_string()
    } else {
        "what approving changes:".to_string()
    }];
    for line in &cur.change {
        // `describe` sanitizes; escaping again only guards a change line
        // built elsewhere.
        change.extend(wrap(&inline(line), width));
    }
    let mut operator = Vec::new();
    match &r.typing {
        Some(Typing::Answer(t)) => operator.extend(wrap(&format!("answer: {}▏", inline(t)), width)),
        Some(Typing::Note(t)) => {
            operator.extend(wrap(&format!("rejection note: {}▏", inline(t)), width))
        }
        None => {}
    }
    if let Some(d) = &r.deciding {
        operator.extend(wrap(&format!("deciding {}…", inline(d)), width));
    }
    let mut agent = vec![format!(
        "── agent {} says (its own words): ──",
        inline(&cur.request.slug)
    )];
    for line in cur.request.reason.lines() {
        agent.extend(wrap(&inline(line), width));
    }
    let fits = change.len() + operator.len() <= inner;
    let (agent_rows, change_rows, body) = if fits {
        let room = inner - change.len() - operator.len();
        let shown = agent.len().min(room);
        (shown, change.len(), change.len() + operator.len() + shown)
    } else {
        // A warning row, then as much of the change as fits.
        let room = inner.saturating_sub(1 + operator.len());
        (0, room, inner)
    };
    PromptLayout {
        width,
        height: u16::try_from(body + 2).unwrap_or(u16::MAX).min(rows),
        change,
        fits,
        agent,
        agent_rows,
        operator,
        change_rows,
    }
}

impl App {
    /// The prompt's layout for the request on display, at this
    /// terminal's size.
    pub fn prompt_layout(&self) -> Option<PromptLayout> {
        let cur = self.requests.current()?;
        let main = self.main_area();
        Some(prompt_layout(main.w, main.h, cur, &self.requests))
    }

    /// Requests waiting for this bottle: from the queue scan, or the
    /// bottle list's count before the first scan.
    pub fn pending_for(&self, b: &super::BottleRow) -> usize {
        if self.requests.scanned {
            self.requests.count_for(&b.slug)
        } else {
            b.pending
        }
    }

    /// The watcher or the tick: scan again (one scan at a time).
    pub(super) fn queue_changed(&mut self) -> Vec<Effect> {
        if self.requests.scanning {
            self.requests.rescan = true;
            return Vec::new();
        }
        self.requests.scanning = true;
        vec![Effect::ScanQueue]
    }

    pub(super) fn queue_scanned(&mut self, pending: Vec<Pending>, invalid: usize) -> Vec<Effect> {
        let r = &mut self.requests;
        r.scanning = false;
        r.scanned = true;
        let mut effects = vec![Effect::Redraw];
        if std::mem::take(&mut r.rescan) {
            r.scanning = true;
            effects.push(Effect::ScanQueue);
        }
        let fresh: Vec<String> = pending
            .iter()
            .map(|p| p.request.key())
            .filter(|k| !r.seen.contains(k))
            .collect();
        r.seen.extend(fresh.iter().cloned());
        r.pending = pending;
        r.invalid = invalid;
        if !fresh.is_empty() {
            effects.push(Effect::Bell);
            let first = &fresh[0];
            let slug = first.split('/').next().unwrap_or_default();
            effects.extend(
                self.notify
                    .sequence(&format!("{slug} asks the operator"))
                    .map(Effect::Notify),
            );
        }
        // The request on display stays until it is decided (here or
        // elsewhere); only then does the next one take its place.
        if r.current().is_none() {
            let next = r.pending.first().map(|p| p.request.key());
            if next.is_none() {
                r.focused = false;
            }
            if next != r.shown {
                r.show(next);
            }
        }
        effects
    }

    /// Prefix `a` / sidebar `a`: the prompt takes the keyboard.
    pub(super) fn focus_requests(&mut self) -> Vec<Effect> {
        if self.requests.current().is_none() {
            self.notice = Some("no requests are waiting".into());
        } else {
            self.requests.focused = true;
        }
        vec![Effect::Redraw]
    }

    pub(super) fn requests_paste(&mut self) {
        self.requests.last_paste = Some(Instant::now());
    }

    /// A key while the prompt has the keyboard.
    pub(super) fn requests_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(cur) = self.requests.current().cloned() else {
            self.requests.focused = false;
            return vec![Effect::Redraw];
        };
        if let Some(t) = &mut self.requests.typing {
            let text = match t {
                Typing::Answer(s) | Typing::Note(s) => s,
            };
            match key.code {
                KeyCode::Esc => self.requests.typing = None,
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
                KeyCode::Enter if !self.requests.guarded() => {
                    let intent = match self.requests.typing.take() {
                        Some(Typing::Answer(a)) => (Intent::Answer(a), String::new()),
                        Some(Typing::Note(n)) => (Intent::Reject, n),
                        None => return vec![Effect::Redraw],
                    };
                    return self.decide(cur, intent.0, intent.1);
                }
                _ => {}
            }
            return vec![Effect::Redraw];
        }
        let question = cur.request.payload.kind() == Kind::Question;
        match key.code {
            KeyCode::Esc => self.requests.focused = false,
            KeyCode::Tab | KeyCode::Char('j') | KeyCode::Down => {
                let r = &mut self.requests;
                let keys: Vec<String> = r.pending.iter().map(|p| p.request.key()).collect();
                let at = keys
                    .iter()
                    .position(|k| Some(k) == r.shown.as_ref())
                    .unwrap_or(0);
                let next = keys.get((at + 1) % keys.len().max(1)).cloned();
                r.show(next);
            }
            KeyCode::PageDown => self.requests.scroll = self.requests.scroll.saturating_add(10),
            KeyCode::PageUp => self.requests.scroll = self.requests.scroll.saturating_sub(10),
            _ if self.requests.guarded() || self.requests.deciding.is_some() => {}
            KeyCode::Char('y') if !question => {
                // Only what the operator can see in full is approved.
                if self.prompt_layout().is_some_and(|l| l.fits) {
                    return self.decide(cur, Intent::Approve, String::new());
                }
                self.notice = Some(
                    "not approved: the change is not fully on screen; enlarge the terminal (or use `bottle queue` and `bottle approve`)"
                        .into(),
                );
            }
            KeyCode::Char('n') => return self.decide(cur, Intent::Reject, String::new()),
            KeyCode::Char('e') if !question => {
                self.requests.deciding = Some(cur.request.key());
                return vec![Effect::EditRequest(Box::new(cur.request))];
            }
            KeyCode::Char('N') => self.requests.typing = Some(Typing::Note(String::new())),
            KeyCode::Char('a') | KeyCode::Enter if question => {
                self.requests.typing = Some(Typing::Answer(String::new()))
            }
            _ => {}
        }
        vec![Effect::Redraw]
    }

    fn decide(&mut self, cur: Pending, intent: Intent, note: String) -> Vec<Effect> {
        self.requests.deciding = Some(cur.request.key());
        vec![
            Effect::Decide {
                request: Box::new(cur.request),
                intent,
                note,
            },
            Effect::Redraw,
        ]
    }

    /// A line of a decision's effect in progress (a capability's build).
    pub(super) fn decide_progress(&mut self, line: &str) -> Vec<Effect> {
        if let Some(key) = &self.requests.deciding {
            self.notice = Some(format!(
                "approving {key}: {}",
                crate::sanitize::inline(line)
            ));
        }
        vec![Effect::Redraw]
    }

    /// The editor returned: an edited payload is approved as modified;
    /// unchanged, nothing is decided.
    pub(super) fn edited(
        &mut self,
        key: &str,
        result: Result<Option<crate::queue::Payload>, String>,
    ) -> Vec<Effect> {
        self.requests.deciding = None;
        let cur = self
            .requests
            .pending
            .iter()
            .find(|p| p.request.key() == key)
            .cloned();
        match (result, cur) {
            (Ok(Some(payload)), Some(cur)) => {
                return self.decide(cur, Intent::Modify(payload), String::new())
            }
            (Ok(Some(_)), None) => {
                self.notice = Some(format!("{key} was decided meanwhile; the edit is dropped"))
            }
            (Ok(None), _) => {
                self.notice = Some(format!("{key} unchanged in the editor: nothing decided"))
            }
            (Err(e), _) => self.notice = Some(format!("not decided: {e}")),
        }
        // The editor had the terminal: the guard starts again.
        self.requests.show(self.requests.shown.clone());
        vec![Effect::Redraw]
    }

    /// A decision came back (its summary, or why it failed).
    pub(super) fn decided(&mut self, result: Result<String, String>) -> Vec<Effect> {
        self.requests.deciding = None;
        self.notice = Some(match result {
            Ok(summary) => summary,
            Err(e) => format!("not decided: {e}"),
        });
        let mut effects = self.queue_changed();
        effects.push(Effect::Redraw);
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::wrap;
    use unicode_width::UnicodeWidthStr;

    #[test]
    fn wrapped_rows_never_exceed_the_width() {
        for text in [
            "a b 中文字符 cd efghijk 😀😀😀 lmnop",
            "nospacesatallinthisverylongword",
            "x 中中中中中中中中",
        ] {
            for width in 2..12 {
                let rows = wrap(text, width);
                assert!(
                    rows.iter().all(|r| r.width() <= width),
                    "{text} {width} {rows:?}"
                );
                assert_eq!(rows.concat(), text);
            }
        }
    }
}

#[cfg(test)]
mod app_tests {
    use crate::app::test_support::{key, pending, with_bottles};
    use crate::app::{Action, AppEvent, Effect};
    use crossterm::event::{KeyCode, KeyModifiers};

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
