//! The bottom line: prefix state, problem count and key hints from the
//! keymap table.

use crate::app::App;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let prefix = app.keymap.prefix.label();
    let mut spans = Vec::new();
    if app.prefix_armed {
        spans.push(Span::styled(
            format!(" {prefix} … "),
            Style::default().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    if app.error_count > 0 {
        spans.push(Span::styled(
            match crate::app::keymap::Keymap::keys_for(
                &app.keymap.after_prefix,
                &crate::app::Action::Problems,
            )
            .first()
            {
                Some(k) => format!(" {} problem(s): {prefix} {} ", app.error_count, k.label()),
                None => format!(" {} problem(s): bottle check ", app.error_count),
            },
            Style::default().fg(Color::Black).bg(Color::Red),
        ));
    }
    let hints: Vec<String> = app
        .keymap
        .after_prefix
        .iter()
        .filter_map(|b| Some(format!("{prefix} {} {}", b.key.label(), b.action.hint()?)))
        .collect();
    if let Some(text) = &app.search_input {
        spans.push(Span::styled(
            format!(" search: {}▏", crate::sanitize::inline(text)),
            Style::default().fg(Color::Black).bg(Color::Yellow),
        ));
    } else if app.copy_mode.is_some() {
        spans.push(Span::styled(
            " history: ↑↓ PgUp PgDn g G · / search · n N · q leaves ",
            Style::default().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    if let Some(n) = &app.notice {
        spans.push(Span::styled(
            format!(" {} ", crate::sanitize::inline(n)),
            Style::default().fg(Color::Black).bg(Color::Cyan),
        ));
    }
    spans.push(Span::raw(format!(" {}", hints.join(" · "))));
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::default().bg(Color::DarkGray)),
        area,
    );
}
