//! The sidebar: the workspace's agents (repo agents marked) and this
//! home's bottles with their status. One selection runs over both; Enter on
//! a running bottle opens it in a pane.

use crate::app::{App, Focus};
use crate::backends::inventory::BottleStatus;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState};
use ratatui::Frame;

fn status_style(status: &BottleStatus) -> Style {
    match status {
        BottleStatus::Running => Style::default().fg(Color::Green),
        BottleStatus::Exited(_) => Style::default().fg(Color::Red),
        _ => Style::default().fg(Color::DarkGray),
    }
}

/// `running · isolated · docker · dns`: the bottle's status (or `needs
/// input` while a pane or a request waits for the operator), what its last
/// isolation self-check found, its backend and its sidecar's services. Pending requests are counted on the name's line.
fn status_line<'a>(app: &App, b: &crate::app::BottleRow) -> Line<'a> {
    let attention = Style::default()
        .fg(Color::Yellow)
        .add_modifier(Modifier::BOLD);
    let dim = Style::default().fg(Color::DarkGray);
    let mut spans = vec![
        if app.bottle_needs_input(&b.slug) || app.pending_for(b) > 0 {
            Span::styled("  needs input", attention)
        } else {
            Span::styled(
                format!("  {}", crate::sanitize::inline(&b.status.to_string())),
                status_style(&b.status),
            )
        },
    ];
    if let Some(word) = b.isolation {
        spans.push(Span::styled(format!(" · {word}"), isolation_style(word)));
    }
    spans.push(Span::styled(
        format!(" · {}", crate::sanitize::inline(&b.backend)),
        dim,
    ));
    if !b.services.is_empty() {
        spans.push(Span::styled(format!(" · {}", b.services.join(",")), dim));
    }
    Line::from(spans)
}

/// The git gate on the name's line: `↑N` pushes it let through, `✗N`
/// pushes it refused, `!` when bringing a push into the host repository
/// failed (the status bar says why).
fn gate_marks<'a>(app: &App, slug: &str) -> Span<'a> {
    let Some(g) = app.gates.get(slug) else {
        return Span::raw("");
    };
    let mut text = String::new();
    if g.pushed > 0 {
        text.push_str(&format!(" ↑{}", g.pushed));
    }
    if g.refused > 0 {
        text.push_str(&format!(" ✗{}", g.refused));
    }
    if g.error.is_some() {
        text.push_str(" !");
    }
    let color = if g.refused > 0 || g.error.is_some() {
        Color::Yellow
    } else {
        Color::Cyan
    };
    Span::styled(text, Style::default().fg(color))
}

/// `isolated` quietly green; anything else (`UNVERIFIED`) loud.
pub fn isolation_style(word: &str) -> Style {
    if word == "isolated" {
        Style::default().fg(Color::Green)
    } else {
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let agent_rows = (app.agents.len() as u16 * 2 + 2)
        .min(area.height / 2)
        .max(3);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(agent_rows), Constraint::Min(3)]).areas(area);
    let focused = app.focus == Focus::Sidebar;
    let highlight = if focused {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default().add_modifier(Modifier::UNDERLINED)
    };
    let items: Vec<ListItem> = app
        .agents
        .iter()
        .map(|a| {
            let mut spans = vec![Span::raw(crate::sanitize::inline(&a.label))];
            if a.repo && !a.trusted {
                spans.push(Span::styled(
                    " untrusted",
                    Style::default().fg(Color::Yellow),
                ));
            }
            let mut lines = vec![Line::from(spans)];
            let detail = a
                .note
                .clone()
                .unwrap_or_else(|| format!("bottle {}", a.bottle));
            lines.push(Line::from(Span::styled(
                format!("  {}", crate::sanitize::inline(&detail)),
                Style::default().fg(Color::DarkGray),
            )));
            ListItem::new(lines)
        })
        .collect();
    let title = format!(" agents ({}) ", app.agents.len());
    let list = List::new(items)
        .block(Block::default().borders(Borders::ALL).title(title))
        .highlight_style(highlight);
    let mut state = ListState::default()
        .with_selected((app.selected < app.agents.len()).then_some(app.selected));
    frame.render_stateful_widget(list, top, &mut state);

    let items: Vec<ListItem> = app
        .bottles
        .iter()
        .map(|b| {
            let open = app.panes.iter().any(|p| p.slug == b.slug);
            ListItem::new(vec![
                Line::from(vec![
                    Span::raw(crate::sanitize::inline(&b.slug)),
                    Span::styled(
                        if open { " ◆" } else { "" },
                        Style::default().fg(Color::Cyan),
                    ),
                    gate_marks(app, &b.slug),
                    Span::styled(
                        match app.pending_for(b) {
                            0 => String::new(),
                            1 => " 1 request".into(),
                            n => format!(" {n} requests"),
                        },
                        Style::default()
                            .fg(Color::Yellow)
                            .add_modifier(Modifier::BOLD),
                    ),
                ]),
                status_line(app, b),
            ])
        })
        .collect();
    let title = match &app.bottles_error {
        Some(_) => " bottles (engine unreachable) ".to_string(),
        None => format!(" bottles ({}) ", app.bottles.len()),
    };
    let list = List::new(items)
        .block(Block::default().borders(Borders::ALL).title(title))
        .highlight_style(highlight);
    let mut state = ListState::default().with_selected(
        app.selected
            .checked_sub(app.agents.len())
            .filter(|i| *i < app.bottles.len()),
    );
    frame.render_stateful_widget(list, bottom, &mut state);
}
