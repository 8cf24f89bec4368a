//! The only module that imports ratatui. `render` is pure: it reads `App`
//! and draws; it never mutates state.

mod help;
mod sidebar;
mod status_bar;
pub mod terminal;

use crate::app::{App, Overlay};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, app: &App) {
    let [body, status] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(frame.area());
    let [side, main] =
        Layout::horizontal([Constraint::Length(32), Constraint::Min(10)]).areas(body);
    sidebar::render(frame, side, app);
    render_main(frame, main, app);
    status_bar::render(frame, status, app);
    if app.overlay == Some(Overlay::Help) {
        help::render(frame, app);
    }
}

fn render_main(frame: &mut Frame, area: ratatui::layout::Rect, app: &App) {
    let mut lines = vec![
        Line::from(Span::styled(
            "bottle",
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::from(format!(
            "workspace: {}",
            crate::sanitize::inline(&app.workspace)
        )),
        Line::from(""),
    ];
    if app.problems.is_empty() {
        lines.push(Line::from("Definitions are fine. Agents run in bottles: hardened containers whose only way out is their sidecar."));
    } else {
        let title = format!(
            "Definition problems ({} error{}):",
            app.error_count,
            if app.error_count == 1 { "" } else { "s" }
        );
        lines.push(Line::from(Span::styled(
            title,
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )));
        lines.extend(
            app.problems
                .iter()
                .map(|p| Line::from(crate::sanitize::inline(p))),
        );
    }
    let block = Block::default().borders(Borders::ALL).title(" workspace ");
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::keymap::Keymap;
    use crate::app::{Action, AgentRow};
    use crate::manifest::Definitions;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn app() -> App {
        let mut a = App::new(
            &Definitions::default(),
            "/home/op/src/app".into(),
            Keymap::default(),
        );
        a.agents = vec![
            AgentRow {
                label: "claude".into(),
                bottle: "claude".into(),
                repo: false,
                trusted: true,
                note: None,
            },
            AgentRow {
                label: "reviewer (repo)".into(),
                bottle: "dev".into(),
                repo: true,
                trusted: false,
                note: None,
            },
            AgentRow {
                label: "shell".into(),
                bottle: "shell".into(),
                repo: false,
                trusted: true,
                note: None,
            },
        ];
        a
    }

    fn draw(app: &App) -> String {
        let mut t = Terminal::new(TestBackend::new(90, 14)).expect("terminal");
        t.draw(|f| render(f, app)).expect("draw");
        format!("{}", t.backend())
    }

    #[test]
    fn workspace_with_agents_and_problems() {
        let mut a = app();
        a.problems = vec!["/h/bottles/dev.md:3:1: error: unknown key `egres` in a bottle definition; did you mean `egress`?".into()];
        a.error_count = 1;
        insta::assert_snapshot!(draw(&a));
    }

    #[test]
    fn help_overlay() {
        let mut a = app();
        a.apply(Action::ToggleHelp);
        insta::assert_snapshot!(draw(&a));
    }
}
