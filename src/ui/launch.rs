//! The new-agent modals: the picker (filter line, first-task field, matches
//! with repo marks, notes and running counts), the backend picker, a
//! masked `?` prompt, and the preflight
//! (scrollable; `y` launches). Agent-controlled text is sanitized.

use crate::app::engine_picker::EnginePicker;
use crate::app::launch::LaunchFlow;
use crate::app::picker::Picker;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

fn centered(frame: &Frame, width_pct: u16, height: u16) -> Rect {
    let [column] = Layout::horizontal([Constraint::Percentage(width_pct)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::vertical([Constraint::Length(height.min(frame.area().height))])
        .flex(Flex::Center)
        .areas(column);
    area
}

pub fn picker(frame: &mut Frame, p: &Picker) {
    let area = centered(frame, 60, (p.items.len() as u16 + 6).clamp(8, 20));
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" new agent ")
        .title_bottom(if p.editing_task {
            " first task · Tab/Esc: filter · Enter launches "
        } else {
            " type to filter · Tab first task · ↑↓ · Enter launches · Esc "
        });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [filter, task, list] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(1),
    ])
    .areas(inner);
    let cursor = |on: bool| if on { "▏" } else { "" };
    frame.render_widget(
        Paragraph::new(format!(
            "> {}{}",
            crate::sanitize::inline(&p.filter),
            cursor(!p.editing_task)
        )),
        filter,
    );
    let dim = Style::default().fg(Color::DarkGray);
    let task_line = if p.task.is_empty() && !p.editing_task {
        Line::from(Span::styled("task: (none; Tab to give one)", dim))
    } else {
        Line::from(vec![
            Span::styled("task: ", dim),
            Span::raw(format!(
                "{}{}",
                crate::sanitize::inline(&p.task),
                cursor(p.editing_task)
            )),
        ])
    };
    frame.render_widget(Paragraph::new(task_line), task);
    if p.matches.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "  no agent matches",
                Style::default().fg(Color::DarkGray),
            )),
            list,
        );
        return;
    }
    let items: Vec<ListItem> = p
        .matches
        .iter()
        .filter_map(|i| p.items.get(*i))
        .map(|it| {
            let mut spans = vec![Span::raw(crate::sanitize::inline(&it.label))];
            if it.repo && !it.trusted {
                spans.push(Span::styled(
                    " untrusted",
                    Style::default().fg(Color::Yellow),
                ));
            }
            if it.running > 0 {
                spans.push(Span::styled(
                    format!(" · {} running", it.running),
                    Style::default().fg(Color::Green),
                ));
            }
            if let Some(n) = &it.note {
                spans.push(Span::styled(
                    format!(" · {}", crate::sanitize::inline(n)),
                    Style::default().fg(Color::DarkGray),
                ));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(p.selected));
    frame.render_stateful_widget(
        List::new(items).highlight_style(Style::default().add_modifier(Modifier::REVERSED)),
        list,
        &mut state,
    );
}

pub fn engines(frame: &mut Frame, p: &EnginePicker) {
    let area = centered(frame, 80, (p.engines.len() as u16 + 2).clamp(4, 14));
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" run {} on ", crate::sanitize::inline(&p.agent)))
        .title_bottom(" ↑↓ or 1–9 · Enter chooses · Esc ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let dim = Style::default().fg(Color::DarkGray);
    let items: Vec<ListItem> = p
        .engines
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut spans = vec![
                Span::raw(format!("{}  {:<7}", i + 1, e.kind)),
                Span::styled(format!(" {}", crate::sanitize::inline(&e.version)), dim),
                Span::styled(format!("  {}", crate::sanitize::inline(&e.host)), dim),
            ];
            if e.default {
                spans.push(Span::styled("  default", Style::default().fg(Color::Green)));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(p.selected));
    frame.render_stateful_widget(
        List::new(items).highlight_style(Style::default().add_modifier(Modifier::REVERSED)),
        inner,
        &mut state,
    );
}

pub fn flow(frame: &mut Frame, f: &LaunchFlow) {
    if let Some((name, message)) = f.asking() {
        let area = centered(frame, 60, 6);
        frame.render_widget(Clear, area);
        let masked = "•".repeat(f.typing.expose().chars().count());
        let text = vec![
            Line::from(format!(
                "{} asks for {}:",
                crate::sanitize::inline(&f.info.agent),
                crate::sanitize::inline(name)
            )),
            Line::from(Span::styled(
                crate::sanitize::inline(message),
                Style::default().fg(Color::DarkGray),
            )),
            Line::from(format!("> {masked}▏")),
        ];
        frame.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" value (not shown, not stored) ")
                    .title_bottom(" Enter · Esc cancels the launch "),
            ),
            area,
        );
        return;
    }
    let area = centered(frame, 80, frame.area().height.saturating_sub(2));
    frame.render_widget(Clear, area);
    let mut lines: Vec<Line> = f
        .info
        .preflight
        .lines()
        .map(|l| Line::from(crate::sanitize::inline(l)))
        .collect();
    if let Some(t) = &f.info.trust {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            format!(
                "y also trusts this repo agent: {} (sha256 {}…); a changed file asks again",
                crate::sanitize::inline(&t.path.display().to_string()),
                &t.sha256.get(..12).unwrap_or(&t.sha256)
            ),
            Style::default().fg(Color::Yellow),
        )));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((f.scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(if f.info.resume {
                        format!(" resume {}? ", f.info.slug)
                    } else {
                        format!(" launch {}? ", f.info.slug)
                    })
                    .title_bottom(if f.info.resume {
                        " y resumes · ↑↓ PgUp PgDn scroll · any other key cancels "
                    } else {
                        " y launches · ↑↓ PgUp PgDn scroll · any other key cancels "
                    }),
            ),
        area,
    );
}
