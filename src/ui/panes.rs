//! Panes: each pane's emulator screen drawn cell by cell inside a border
//! that names its bottle and state; the focused pane's border is bright
//! and it owns the cursor. Nothing the agent printed reaches the
//! operator's terminal except as cells (no OSC 52, OSC 8, titles, queries).

use crate::app::{App, Focus, Layer, PaneState};
use crate::session::io::PaneKind;
use crate::session::layout::Area;
use crate::session::screen::{Cell, Color as C, Screen};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Borders};
use ratatui::Frame;

fn rect(a: Area) -> Rect {
    Rect::new(a.x, a.y, a.w, a.h)
}

fn color(c: C) -> Color {
    match c {
        C::Default => Color::Reset,
        C::Idx(i) => Color::Indexed(i),
        C::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

/// A pane cell as the operator's terminal draws it: the program's colours
/// as it asked for them (default stays default, so the operator's theme
/// shows through) and its attributes as attributes — reverse video is
/// SGR 7 for the outer terminal to apply, never colours guessed here.
/// Underline styles (curly, dotted, …) arrive as a plain underline: ratatui
/// has no way to say them (ARCHITECTURE.md, "Panes keep the theme").
pub(crate) fn style(cell: &Cell) -> Style {
    let underline_color = match cell.underline {
        true => color(cell.underline_color),
        false => Color::Reset,
    };
    let mut s = Style::default()
        .fg(color(cell.fg))
        .bg(color(cell.bg))
        .underline_color(underline_color);
    for (on, m) in [
        (cell.bold, Modifier::BOLD),
        (cell.dim, Modifier::DIM),
        (cell.italic, Modifier::ITALIC),
        (cell.underline, Modifier::UNDERLINED),
        (cell.blink, Modifier::SLOW_BLINK),
        (cell.inverse, Modifier::REVERSED),
        (cell.hidden, Modifier::HIDDEN),
        (cell.strikethrough, Modifier::CROSSED_OUT),
    ] {
        if on {
            s = s.add_modifier(m);
        }
    }
    s
}

fn draw_screen(buf: &mut Buffer, inner: Rect, screen: &dyn Screen) {
    screen.visit_cells(inner.height, inner.width, &mut |row, col, text, cell| {
        if cell.wide_continuation {
            return;
        }
        let text = if text.is_empty() { " " } else { text };
        // Control characters never reach the terminal.
        let text = if text.chars().any(char::is_control) {
            "\u{fffd}"
        } else {
            text
        };
        if let Some(c) = buf.cell_mut(Position::new(inner.x + col, inner.y + row)) {
            c.set_symbol(text);
            c.set_style(style(cell));
        }
    });
}

pub fn render(frame: &mut Frame, app: &App) {
    for (id, area) in app.pane_areas() {
        let Some(p) = app.pane(id) else { continue };
        let area = rect(area);
        let focused = app.focus == Focus::Pane(id);
        let state = match &p.state {
            PaneState::Launching => "launching…".to_string(),
            PaneState::Connecting => "attaching…".to_string(),
            PaneState::Live => String::new(),
            PaneState::Exited(code) => format!("exited {code} · r restarts · Enter closes"),
            PaneState::Lost => "disconnected · r re-attaches · Enter closes".into(),
            PaneState::Failed(why) => format!("failed: {why} · r retries · Enter closes"),
        };
        let kind = match p.kind {
            PaneKind::Session => "",
            PaneKind::Shell => " shell",
        };
        let mut title = format!(" {}{kind} ", crate::sanitize::inline(&p.slug));
        // What the bottle's last isolation self-check found.
        if let Some(word) = app
            .bottles
            .iter()
            .find(|b| b.slug == p.slug)
            .and_then(|b| b.isolation)
        {
            title.push_str(&format!("· {word} "));
        }
        let back = p.shared.screen.lock().map(|s| s.scrollback()).unwrap_or(0);
        if p.needs_input && !focused {
            title.push_str("· needs input ");
        }
        if app.copy_mode == Some(id) || back > 0 {
            title.push_str(&format!("· history −{back} "));
        }
        if !state.is_empty() {
            title.push_str(&format!("· {} ", crate::sanitize::inline(&state)));
        }
        let border = if focused {
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(Color::DarkGray)
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border)
            .title(title);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let Ok(screen) = p.shared.screen.lock() else {
            continue;
        };
        draw_screen(frame.buffer_mut(), inner, &*screen);
        if focused
            && p.state == PaneState::Live
            && !screen.hide_cursor()
            && screen.scrollback() == 0
            && matches!(app.layer(), Layer::Workspace { help: false, .. })
        {
            let (row, col) = screen.cursor();
            if row < inner.height && col < inner.width {
                frame.set_cursor_position(Position::new(inner.x + col, inner.y + row));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_is_an_attribute_over_the_default_colours() {
        let cell = Cell {
            inverse: true,
            strikethrough: true,
            ..Cell::default()
        };
        let s = style(&cell);
        assert_eq!((s.fg, s.bg), (Some(Color::Reset), Some(Color::Reset)));
        assert!(s
            .add_modifier
            .contains(Modifier::REVERSED | Modifier::CROSSED_OUT));
        let plain = style(&Cell::default());
        assert!(plain.add_modifier.is_empty());
        assert_eq!(plain.fg, Some(Color::Reset));
    }
}
