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
    use crate::app::keymap::{Binding, Keymap};
    // One line per action, its keys together, in table order.
    let lines_of = |table: &[Binding], with_prefix: bool| {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for b in table {
            if seen.contains(&b.action) {
                continue;
            }
            seen.push(b.action.clone());
            let keys: Vec<String> = Keymap::keys_for(table, &b.action)
                .iter()
                .map(|k| k.label())
                .collect();
            let keys = keys.join("/");
            out.push(Line::from(if with_prefix {
                format!("  {prefix} {keys:<8} {}", b.action.help())
            } else {
                format!("  {keys:<15} {}", b.action.help())
            }));
        }
        out
    };
    lines.extend(lines_of(&app.keymap.after_prefix, true));
    lines.push(Line::from(""));
    lines.push(Line::from("In the sidebar:"));
    lines.extend(lines_of(&app.keymap.direct, false));
    lines.push(Line::from(""));
    lines.push(Line::from(
        "Keys: $BOTTLE_HOME/config.yaml `keys:` (defaults: bottle debug keymap).",
    ));
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
