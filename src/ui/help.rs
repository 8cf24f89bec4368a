//! The help overlay: the lines `app::help` makes from the keymap table
//! that dispatches (descriptions wrapped under their column), scrolled by
//! the overlay's offset; a bottom line says how to scroll when it does not
//! fit.

use crate::app::help::{help_area, help_lines, help_width};
use crate::app::{App, Overlay};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn render(frame: &mut Frame, app: &App) {
    let screen = frame.area();
    let lines = help_lines(&app.keymap, help_width(screen.width));
    let a = help_area(screen.height, screen.width, lines.len());
    let area = Rect::new(screen.x + a.x, screen.y + a.y, a.w, a.h);
    let shown = usize::from(a.h.saturating_sub(2));
    let max = lines.len().saturating_sub(shown);
    let scroll = match app.overlay {
        Some(Overlay::Help(s)) => usize::from(s).min(max),
        _ => 0,
    };
    let mut block = Block::default().borders(Borders::ALL).title(" help ");
    if max > 0 {
        block = block.title_bottom(format!(
            " ↑↓ PgUp PgDn Home End scroll · {}/{} ",
            scroll + shown,
            lines.len()
        ));
    }
    let text: Vec<Line> = lines
        .into_iter()
        .skip(scroll)
        .take(shown)
        .map(Line::from)
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(text).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::keymap::Keymap;
    use crate::app::{Action, AppEvent};
    use crate::manifest::Definitions;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn draw(app: &App, cols: u16, rows: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(cols, rows)).expect("terminal");
        t.draw(|f| render(f, app)).expect("draw");
        format!("{}", t.backend())
    }

    fn help_at(rows: u16, cols: u16) -> App {
        let mut a = App::new(&Definitions::default(), "/w".into(), Keymap::default());
        a.update(AppEvent::Resize { rows, cols });
        a.apply(Action::ToggleHelp);
        a
    }

    /// Narrow: the long descriptions wrap under their column; the help is
    /// taller than the screen and says how to scroll.
    #[test]
    fn help_narrow_wraps_under_the_description_column() {
        let a = help_at(30, 64);
        insta::assert_snapshot!(draw(&a, 64, 30));
    }

    #[test]
    fn help_narrow_scrolled_to_its_end() {
        let mut a = help_at(30, 64);
        a.update(AppEvent::Key(KeyEvent::new(
            KeyCode::End,
            KeyModifiers::NONE,
        )));
        insta::assert_snapshot!(draw(&a, 64, 30));
    }
}
