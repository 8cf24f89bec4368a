//! The agent list: the workspace's agents, repo agents marked.

use crate::app::App;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState};
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
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
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state =
        ListState::default().with_selected((!app.agents.is_empty()).then_some(app.selected));
    frame.render_stateful_widget(list, area, &mut state);
}
