//! The agents' requests: a one-line banner over the bottom of the panes
//! while the prompt does not have the keyboard, and the prompt itself
//! once it does. Agent text is framed as "agent <slug> says:" and
//! sanitized; the change shown is the one an approval applies.

use crate::app::requests::Typing;
use crate::app::App;
use crate::queue::Payload;
use crate::sanitize::inline;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
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
    let mut lines: Vec<Line> = cur
        .request
        .reason
        .lines()
        .map(|l| Line::from(inline(l)))
        .collect();
    lines.push(Line::from(""));
    let question = matches!(cur.request.payload, Payload::Question(_));
    lines.push(Line::styled(
        if question {
            "the question:"
        } else {
            "what approving changes:"
        },
        dim,
    ));
    for c in &cur.change {
        lines.push(Line::from(Span::styled(
            c.clone(),
            Style::default().add_modifier(Modifier::BOLD),
        )));
    }
    match &r.typing {
        Some(Typing::Answer(t)) => lines.push(Line::from(format!("answer: {}▏", inline(t)))),
        Some(Typing::Note(t)) => lines.push(Line::from(format!("rejection note: {}▏", inline(t)))),
        None => {}
    }
    if let Some(d) = &r.deciding {
        lines.push(Line::styled(format!("deciding {d}…"), dim));
    }
    let tab = if others > 0 {
        format!(" · Tab next{more}")
    } else {
        String::new()
    };
    let hints = match (&r.typing, question) {
        (Some(_), _) => " Enter sends · Esc cancels ".to_string(),
        (None, true) => {
            format!(" a answer · n reject · N reject+note{tab} · Esc back ")
        }
        (None, false) => {
            format!(" y approve · e edit · n reject · N reject+note{tab} · Esc back ")
        }
    };
    let inner = usize::from(main.width.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let height = u16::try_from(rows + 2)
        .unwrap_or(u16::MAX)
        .min(main.height)
        .max(3);
    let area = Rect::new(
        main.x,
        main.y + main.height.saturating_sub(height),
        main.width,
        height.min(main.height),
    );
    // Taller than the screen (a long Dockerfile diff): PgUp/PgDn scroll.
    let visible = usize::from(area.height.saturating_sub(2));
    let max_scroll = u16::try_from(rows.saturating_sub(visible)).unwrap_or(u16::MAX);
    let scroll = r.scroll.min(max_scroll);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Yellow))
        .title(format!(" agent {slug} says: "))
        .title_bottom(hints);
    if max_scroll > 0 {
        block = block.title_top(
            Line::from(format!(
                " rows {}-{} of {rows} · PgUp PgDn ",
                scroll + 1,
                usize::from(scroll) + visible
            ))
            .right_aligned(),
        );
    }
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(block),
        area,
    );
}
