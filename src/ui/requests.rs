//! The agents' requests: a one-line banner over the bottom of the panes
//! while the prompt does not have the keyboard, and the prompt itself
//! once it does. The change an approval applies comes first, pinned and
//! whole; agent text follows, framed as "agent <slug> says", sanitized,
//! in the room left (see `app::requests::prompt_layout`).

use crate::app::requests::prompt_layout;
use crate::app::App;
use crate::queue::Payload;
use crate::sanitize::inline;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

fn summary(p: &Payload) -> String {
    match p {
        Payload::Egress(e) => format!(
            "network access to {}{}",
            crate::control::describe::host(&e.host),
            inline(e.path_prefix.as_deref().unwrap_or(""))
        ),
        Payload::Capability(c) => format!("a new agent image: {}", inline(&c.summary)),
        Payload::Question(_) => "a question".into(),
    }
}

pub fn render(frame: &mut Frame, main: Rect, app: &App) {
    let r = &app.requests;
    let Some(cur) = r.current() else {
        return;
    };
    let prefix = app.keymap.prefix.label();
    let key = crate::app::keymap::Keymap::keys_for(
        &app.keymap.after_prefix,
        &crate::app::Action::Requests,
    )
    .first()
    .map_or_else(|| "?".to_string(), |k| k.label());
    let others = r.pending.len().saturating_sub(1);
    let more = if others > 0 {
        format!(" (+{others} more)")
    } else {
        String::new()
    };
    let slug = inline(&cur.request.slug);
    if !r.focused {
        if main.height == 0 {
            return;
        }
        let area = Rect::new(main.x, main.y + main.height - 1, main.width, 1);
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(format!(
                " ⚑ {prefix} {key} decides: agent {slug} asks for {}{more} ",
                summary(&cur.request.payload)
            ))
            .style(
                Style::default()
                    .fg(Color::Black)
                    .bg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ),
            area,
        );
        return;
    }
    let dim = Style::default().fg(Color::DarkGray);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let question = matches!(cur.request.payload, Payload::Question(_));
    let l = prompt_layout(main.width, main.height, cur, r);
    let mut lines: Vec<Line> = Vec::new();
    let mut position = None;
    if l.fits {
        // The change first, pinned and whole.
        for (i, row) in l.change.iter().enumerate() {
            lines.push(Line::styled(row.clone(), if i == 0 { dim } else { bold }));
        }
        // The agent's words in what room is left, scrolling on their own.
        if l.agent_rows > 0 {
            lines.push(Line::styled(l.agent[0].clone(), dim));
            let body = &l.agent[1..];
            let room = l.agent_rows - 1;
            let max = body.len().saturating_sub(room);
            let from = usize::from(r.scroll).min(max);
            for row in body.iter().skip(from).take(room) {
                lines.push(Line::from(row.clone()));
            }
            if max > 0 {
                position = Some(format!(
                    " agent text rows {}-{} of {} · PgUp PgDn ",
                    from + 1,
                    from + room,
                    body.len()
                ));
            }
        }
    } else {
        let total = l.change.len();
        lines.push(Line::styled(
            truncate(
                &format!(
                    "⚠ the change is {total} rows; {} fit: enlarge the terminal to approve",
                    l.change_rows
                ),
                l.width,
            ),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
        let max = total.saturating_sub(l.change_rows);
        let from = usize::from(r.scroll).min(max);
        for (i, row) in l.change.iter().enumerate().skip(from).take(l.change_rows) {
            lines.push(Line::styled(row.clone(), if i == 0 { dim } else { bold }));
        }
        position = Some(format!(
            " change rows {}-{} of {total} · PgUp PgDn ",
            from + 1,
            from + l.change_rows
        ));
    }
    for row in &l.operator {
        lines.push(Line::styled(row.clone(), dim));
    }
    let tab = if others > 0 {
        format!(" · Tab next{more}")
    } else {
        String::new()
    };
    let approve = if l.fits {
        "y approve"
    } else {
        "y is off (change not fully shown)"
    };
    let hints = match (&r.typing, question) {
        (Some(_), _) => " Enter sends · Esc cancels ".to_string(),
        (None, true) => {
            format!(" a answer · n reject · N reject+note{tab} · Esc back ")
        }
        (None, false) => {
            format!(" {approve} · e edit · n reject · N reject+note{tab} · Esc back ")
        }
    };
    let area = Rect::new(
        main.x,
        main.y + main.height.saturating_sub(l.height),
        main.width,
        l.height.min(main.height),
    );
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Yellow))
        .title(format!(" request {}/{} ", slug, cur.request.id))
        .title_bottom(hints);
    if let Some(p) = position {
        block = block.title_top(Line::from(p).right_aligned());
    }
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// At most `width` columns of `text`.
fn truncate(text: &str, width: usize) -> String {
    crate::app::requests::wrap(text, width)
        .into_iter()
        .next()
        .unwrap_or_default()
}
