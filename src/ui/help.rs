//! The help overlay, generated from the keymap table that dispatches.

use crate::app::App;
use ratatui::layout::{Constraint, Flex, Layout};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, app: &App) {
    let prefix = app.keymap.prefix.label();
    let mut lines = vec![Line::from(format!(
        "Workspace commands start with the prefix {prefix}; press it twice to send it to the pane."
    ))];
    lines.push(Line::from(""));
    for b in &app.keymap.after_prefix {
        lines.push(Line::from(format!(
            "  {prefix} {:<8} {}",
            b.key.label(),
            b.help
        )));
    }
    let mut seen = Vec::new();
    for b in &app.keymap.direct {
        if seen.contains(&b.help) {
            continue;
        }
        seen.push(b.help);
        let keys: Vec<String> = app
            .keymap
            .direct
            .iter()
            .filter(|o| o.help == b.help)
            .map(|o| o.key.label())
            .collect();
        lines.push(Line::from(format!("  {:<15} {}", keys.join("/"), b.help)));
    }
    let [column] = Layout::horizontal([Constraint::Percentage(80)])
        .flex(Flex::Center)
        .areas(frame.area());
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let height =
        (paragraph.line_count(column.width.saturating_sub(2)) as u16 + 2).min(frame.area().height);
    let [area] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(column);
    frame.render_widget(Clear, area);
    frame.render_widget(
        paragraph.block(Block::default().borders(Borders::ALL).title(" help ")),
        area,
    );
}
