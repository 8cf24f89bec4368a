//! The log viewer (sources on the left, the selected log on the right,
//! search matches highlighted) and the offer to open the last crash report.
//! Every log line is untrusted (a sidecar logs what agents asked for) and
//! sanitized.

use crate::app::logview::LogViewer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

pub fn viewer(frame: &mut Frame, v: &LogViewer) {
    let full = frame.area();
    let area = Rect {
        height: full.height.saturating_sub(1),
        ..full
    };
    frame.render_widget(Clear, area);
    let [left, right] =
        Layout::horizontal([Constraint::Length(30), Constraint::Min(10)]).areas(area);
    let items: Vec<ListItem> = v
        .sources
        .iter()
        .map(|s| ListItem::new(crate::sanitize::inline(&s.label)))
        .collect();
    let mut state = ListState::default().with_selected(Some(v.selected));
    frame.render_stateful_widget(
        List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" logs ")
                    .title_bottom(" Tab next "),
            )
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED)),
        left,
        &mut state,
    );
    let label = v
        .sources
        .get(v.selected)
        .map(|s| crate::sanitize::inline(&s.label))
        .unwrap_or_else(|| "no logs".into());
    let mut title = format!(" {label} · {} lines ", v.lines.len());
    if let Some(slug) = v.filtering() {
        title.push_str(&format!("· bottle {} ", crate::sanitize::inline(slug)));
    }
    if v.follow {
        title.push_str("· following ");
    }
    let hints = match &v.search_input {
        Some(s) => format!(" /{}▏ Enter finds · Esc ", crate::sanitize::inline(s)),
        None => " ↑↓ PgUp PgDn g G · / n N search · b bottle · f follow · Esc closes ".to_string(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .title_bottom(hints);
    let inner = block.inner(right);
    frame.render_widget(block, right);
    let text: Vec<Line> = if let Some(e) = &v.error {
        vec![Line::from(Span::styled(
            crate::sanitize::inline(e),
            Style::default().fg(Color::Red),
        ))]
    } else if v.loaded.is_none() {
        vec![Line::from(Span::styled(
            if v.sources.is_empty() {
                "nothing logged yet"
            } else {
                "loading…"
            },
            Style::default().fg(Color::DarkGray),
        ))]
    } else if v.lines.is_empty() && v.filtering().is_some() {
        vec![Line::from(Span::styled(
            "no lines of this bottle here (b: the next bottle, or all)",
            Style::default().fg(Color::DarkGray),
        ))]
    } else {
        v.lines
            .iter()
            .enumerate()
            .skip(v.top)
            .take(usize::from(inner.height))
            .map(|(i, l)| {
                highlight(
                    &crate::sanitize::inline(l),
                    v.search.as_deref(),
                    v.hit == Some(i),
                )
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(text), inner);
}

/// A line with every case-insensitive match of `needle` marked; the line
/// the last search landed on is bold.
fn highlight(line: &str, needle: Option<&str>, hit: bool) -> Line<'static> {
    let base = if hit {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    let mark = Style::default().fg(Color::Black).bg(Color::Yellow);
    let Some(needle) = needle.filter(|n| !n.is_empty()) else {
        return Line::from(Span::styled(line.to_string(), base));
    };
    let lower = line.to_lowercase();
    let needle = needle.to_lowercase();
    // Lowercasing can change byte lengths; mark only where it did not.
    if lower.len() != line.len() {
        return Line::from(Span::styled(line.to_string(), base));
    }
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(found) = lower[at..].find(&needle) {
        let start = at + found;
        let end = start + needle.len();
        if !line.is_char_boundary(start) || !line.is_char_boundary(end) {
            break;
        }
        spans.push(Span::styled(line[at..start].to_string(), base));
        spans.push(Span::styled(line[start..end].to_string(), mark));
        at = end;
    }
    spans.push(Span::styled(line[at..].to_string(), base));
    Line::from(spans)
}

pub fn crash_offer(frame: &mut Frame, report: &std::path::Path) {
    let [column] = Layout::horizontal([Constraint::Percentage(70)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::vertical([Constraint::Length(6)])
        .flex(Flex::Center)
        .areas(column);
    frame.render_widget(Clear, area);
    let text = vec![
        Line::from("The last run of bottle crashed. Its report:"),
        Line::from(Span::styled(
            crate::sanitize::inline(&report.display().to_string()),
            Style::default().fg(Color::Yellow),
        )),
        Line::from(Span::styled(
            "(the terminal was restored; running bottles were not touched)",
            Style::default().fg(Color::DarkGray),
        )),
    ];
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" crash report ")
                .title_bottom(" Enter opens it in the log viewer · any other key dismisses "),
        ),
        area,
    );
}
