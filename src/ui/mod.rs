//! The only module that imports ratatui. `render` is pure: it reads `App`
//! and draws; it never mutates state.

mod help;
mod launch;
mod logs;
mod panes;
mod requests;
mod sidebar;
mod status_bar;
mod term;

pub use term::Term;

use crate::app::{App, Layer};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(frame: &mut Frame, app: &App) {
    let [body, status] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(frame.area());
    let main_area = app.main_area();
    let [side, main] =
        Layout::horizontal([Constraint::Length(main_area.x), Constraint::Min(1)]).areas(body);
    sidebar::render(frame, side, app);
    if app.panes.is_empty() {
        render_main(frame, main, app);
    } else {
        panes::render(frame, app);
    }
    status_bar::render(frame, status, app);
    requests::render(frame, main, app);
    // On top: the same layer that gets the keys (`App::layer`).
    match app.layer() {
        Layer::Picker(p) => launch::picker(frame, p),
        Layer::Engines(p) => launch::engines(frame, p),
        Layer::Launch(Some(f)) => launch::flow(frame, f),
        Layer::Launch(None) => {}
        Layer::Logs(v) => logs::viewer(frame, v),
        Layer::CrashOffer(report) => logs::crash_offer(frame, report),
        Layer::Problems(scroll) => problems(frame, app, scroll),
        Layer::ConfirmStop(id) => confirm_stop(frame, app, id),
        Layer::Workspace { help: true, .. } => help::render(frame, app),
        Layer::Workspace { help: false, .. } => {}
    }
}

/// Every problem, exactly as `bottle check` prints it, scrollable.
fn problems(frame: &mut Frame, app: &App, scroll: u16) {
    use ratatui::layout::Flex;
    use ratatui::widgets::Clear;
    let [column] = Layout::horizontal([Constraint::Percentage(90)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::vertical([Constraint::Length(frame.area().height.saturating_sub(2))])
        .flex(Flex::Center)
        .areas(column);
    frame.render_widget(Clear, area);
    let lines: Vec<Line> = if app.problems.is_empty() {
        vec![Line::from(
            "No problems: every definition and config.yaml are fine.",
        )]
    } else {
        app.problems
            .iter()
            .map(|p| Line::from(crate::sanitize::inline(p)))
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" problems ({}) ", app.problems.len()))
                    .title_bottom(
                        " ↑↓ PgUp PgDn scroll · Esc closes · the same as `bottle check` ",
                    ),
            ),
        area,
    );
}

fn confirm_stop(frame: &mut Frame, app: &App, id: crate::session::layout::PaneId) {
    use ratatui::layout::Flex;
    use ratatui::widgets::Clear;
    let slug = app.pane(id).map(|p| p.slug.clone()).unwrap_or_default();
    let text = format!(
        "Stop {}? Its volumes and state are kept: Enter on it in the sidebar (or `bottle resume`) brings it back. [y/N]",
        crate::sanitize::inline(&slug)
    );
    let [column] = Layout::horizontal([Constraint::Percentage(60)])
        .flex(Flex::Center)
        .areas(frame.area());
    let [area] = Layout::vertical([Constraint::Length(4)])
        .flex(Flex::Center)
        .areas(column);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" stop ")),
        area,
    );
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
        lines.push(Line::from(""));
        lines.push(Line::from("Enter on an agent (or n) launches a new bottle of it: pick, answer its prompts, confirm the preflight. Enter on a running bottle opens it here."));
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
                name: "claude".into(),
                label: "claude".into(),
                bottle: "claude".into(),
                repo: false,
                trusted: true,
                note: None,
            },
            AgentRow {
                name: "reviewer".into(),
                label: "reviewer (repo)".into(),
                bottle: "dev".into(),
                repo: true,
                trusted: false,
                note: None,
            },
            AgentRow {
                name: "shell".into(),
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

    /// An app at `rows`×`cols` with `bottles` running and these actions
    /// applied; each pane's screen gets a line naming it.
    fn with_panes(rows: u16, cols: u16, actions: &[Action]) -> App {
        use crate::app::{AppEvent, BottleRow};
        use crate::session::screen::Screen;
        let mut a = app();
        a.update(AppEvent::Resize { rows, cols });
        a.update(AppEvent::Bottles(Ok(["shell-aaaaaa", "shell-bbbbbb"]
            .iter()
            .map(|s| {
                BottleRow::new(
                    s,
                    "shell",
                    crate::backends::inventory::BottleStatus::Running,
                )
            })
            .collect())));
        for act in actions {
            a.apply(act.clone());
        }
        let ids: Vec<_> = a.panes.iter().map(|p| p.id).collect();
        for id in ids {
            a.update(AppEvent::PaneReady(id));
            let p = a.pane(id).expect("pane");
            let text = format!("\x1b[1mpane {id}\x1b[0m {}\r\n$ ", p.slug);
            p.shared
                .screen
                .lock()
                .expect("screen")
                .process(text.as_bytes());
        }
        a
    }

    fn draw_at(app: &App, cols: u16, rows: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(cols, rows)).expect("terminal");
        t.draw(|f| render(f, app)).expect("draw");
        format!("{}", t.backend())
    }

    #[test]
    fn one_pane() {
        // Select the first bottle (after the three agents) and open it.
        let a = with_panes(
            16,
            90,
            &[
                Action::SelectNext,
                Action::SelectNext,
                Action::SelectNext,
                Action::OpenSelected,
            ],
        );
        insta::assert_snapshot!(draw_at(&a, 90, 16));
    }

    #[test]
    fn two_panes_side_by_side() {
        let a = with_panes(
            16,
            100,
            &[
                Action::SelectNext,
                Action::SelectNext,
                Action::SelectNext,
                Action::OpenSelected,
                Action::ToggleSidebar,
                Action::SelectNext,
                Action::OpenSelected,
            ],
        );
        insta::assert_snapshot!(draw_at(&a, 100, 16));
    }

    #[test]
    fn four_panes_and_zoom() {
        let mut a = with_panes(
            20,
            110,
            &[
                Action::SelectNext,
                Action::SelectNext,
                Action::SelectNext,
                Action::OpenSelected,
                Action::SplitRows,
                Action::ToggleSidebar,
                Action::SelectNext,
                Action::OpenSelected,
                Action::SplitRows,
            ],
        );
        assert_eq!(a.panes.len(), 4);
        insta::assert_snapshot!("four_panes", draw_at(&a, 110, 20));
        a.apply(Action::Zoom);
        insta::assert_snapshot!("zoomed", draw_at(&a, 110, 20));
    }

    #[test]
    fn help_overlay() {
        let mut a = app();
        a.apply(Action::ToggleHelp);
        insta::assert_snapshot!(draw_at(&a, 110, 40));
    }

    #[test]
    fn copy_mode_scrolled_back_with_a_search_being_typed() {
        use crate::app::AppEvent;
        use crate::session::screen::Screen;
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut a = with_panes(
            16,
            90,
            &[
                Action::SelectNext,
                Action::SelectNext,
                Action::SelectNext,
                Action::OpenSelected,
            ],
        );
        let id = a.panes[0].id;
        {
            let p = a.pane(id).expect("pane");
            let mut s = p.shared.screen.lock().expect("screen");
            for i in 0..60 {
                s.process(format!("line {i}\r\n").as_bytes());
            }
        }
        a.apply(Action::CopyMode);
        for code in [KeyCode::PageUp, KeyCode::Char('/')]
            .into_iter()
            .chain("line 1".chars().map(KeyCode::Char))
        {
            a.update(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        }
        insta::assert_snapshot!(draw_at(&a, 90, 16));
    }

    #[test]
    fn sidebar_statuses_and_an_exited_pane() {
        use crate::app::{AppEvent, BottleRow};
        use crate::session::pane::PaneNotice;
        let mut a = with_panes(
            22,
            100,
            &[
                Action::SelectNext,
                Action::SelectNext,
                Action::SelectNext,
                Action::OpenSelected,
            ],
        );
        let mut rows = vec![
            BottleRow::new(
                "shell-aaaaaa",
                "shell",
                crate::backends::inventory::BottleStatus::Running,
            ),
            BottleRow::new(
                "claude-bbbbbb",
                "claude",
                crate::backends::inventory::BottleStatus::Running,
            ),
            BottleRow::new(
                "codex-cccccc",
                "codex",
                crate::backends::inventory::BottleStatus::Starting,
            ),
            BottleRow::new(
                "shell-dddddd",
                "shell",
                crate::backends::inventory::BottleStatus::Exited(Some(3)),
            ),
            BottleRow::new(
                "shell-eeeeee",
                "shell",
                crate::backends::inventory::BottleStatus::Stopped,
            ),
        ];
        rows[0].services = vec!["dns".into()];
        rows[1].services = vec!["dns".into()];
        rows[1].backend = "podman".into();
        rows[1].pending = 2;
        rows[0].isolation = Some("isolated");
        rows[3].isolation = Some("isolated");
        rows[1].isolation = Some("UNVERIFIED");
        a.update(AppEvent::Bottles(Ok(rows)));
        let id = a.panes[0].id;
        a.update(AppEvent::Pane(PaneNotice::Ended(id, Some(3))));
        insta::assert_snapshot!(draw_at(&a, 100, 22));
    }

    fn prepared(prompts: &[&str], trust: bool) -> crate::app::launch::PreparedInfo {
        crate::app::launch::PreparedInfo {
            ticket: 1,
            slug: "reviewer-x1y2z3".into(),
            agent: "reviewer (repo)".into(),
            preflight: "bottle     dev (/h/bottles/dev.md)\nagent      reviewer (repo)  repo agent, NOT trusted yet\nimage      bottle/agent-shell:0123456789ab (present)\negress     api.github.com:443  GET /repos/acme/  token: GITHUB_TOKEN\n           registry.npmjs.org:443  GET,HEAD /\nenv        TOKEN (asked at launch)\n".into(),
            prompts: prompts
                .iter()
                .map(|n| (n.to_string(), "the deploy token".to_string()))
                .collect(),
            trust: trust.then(|| crate::app::launch::TrustPin {
                path: "/w/.bottle/agents/reviewer.md".into(),
                sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            }),
            resume: false,
        }
    }

    #[test]
    fn picker_states() {
        use crate::app::AppEvent;
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut a = app();
        a.update(AppEvent::Bottles(Ok(vec![crate::app::BottleRow::new(
            "claude-aaaaaa",
            "claude",
            crate::backends::inventory::BottleStatus::Running,
        )])));
        a.apply(Action::NewAgent);
        insta::assert_snapshot!("picker_all", draw_at(&a, 90, 16));
        for c in "rev".chars() {
            a.update(AppEvent::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        insta::assert_snapshot!("picker_filtered", draw_at(&a, 90, 16));
        for c in "zz".chars() {
            a.update(AppEvent::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        insta::assert_snapshot!("picker_no_match", draw_at(&a, 90, 16));
        for code in [KeyCode::Esc, KeyCode::Tab] {
            a.update(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        }
        a.update(AppEvent::Paste("fix the flaky test".into()));
        insta::assert_snapshot!("picker_task", draw_at(&a, 90, 16));
    }

    #[test]
    fn backend_picker() {
        use crate::app::AppEvent;
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut a = app();
        a.update(AppEvent::Engines(
            crate::app::engine_picker::tests::engines(),
        ));
        a.apply(Action::NewAgent);
        for code in [KeyCode::Enter, KeyCode::Down] {
            a.update(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        }
        insta::assert_snapshot!("backend_list", draw_at(&a, 90, 14));
    }

    #[test]
    fn masked_prompt_and_preflight_with_trust() {
        use crate::app::AppEvent;
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut a = app();
        a.update(AppEvent::Prepared(Ok(prepared(&["TOKEN"], true))));
        for c in "hunter2".chars() {
            a.update(AppEvent::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        let prompt = draw_at(&a, 90, 16);
        assert!(!prompt.contains("hunter2"));
        insta::assert_snapshot!("masked_prompt", prompt);
        a.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Enter,
            KeyModifiers::NONE,
        )));
        insta::assert_snapshot!("preflight_with_trust", draw_at(&a, 100, 20));
    }

    #[test]
    fn problems_view() {
        let mut a = app();
        a.problems = vec![
            "/h/bottles/dev.md:3:1: error: unknown key `egres` in a bottle definition; did you mean `egress`?".into(),
            "/h/agents/rev.md:2:8: error: bottle `nope` does not exist (bottles: dev)".into(),
            "/h/config.yaml:4:5: error: unknown action `zoomm` (did you mean `zoom`?)".into(),
        ];
        a.error_count = 3;
        a.apply(Action::Problems);
        insta::assert_snapshot!(draw_at(&a, 100, 14));
    }

    #[test]
    fn crash_offer_and_viewer() {
        use crate::app::logview::{LogKind, LogSource};
        use crate::app::AppEvent;
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut a = app();
        let report = std::path::PathBuf::from("/h/logs/crash-20261123T101500Z.log");
        a.update(AppEvent::CrashFound(report.clone()));
        insta::assert_snapshot!("crash_offer", draw_at(&a, 100, 14));
        a.update(AppEvent::LogSources(
            vec![
                LogSource {
                    label: "log 2026-11-23".into(),
                    kind: LogKind::App("/h/logs/bottle.log.2026-11-23".into()),
                },
                LogSource {
                    label: "crash 20261123T101500Z".into(),
                    kind: LogKind::Crash(report.clone()),
                },
                LogSource {
                    label: "sidecar dev-a1b2c3".into(),
                    kind: LogKind::Sidecar("dev-a1b2c3".into()),
                },
            ],
            Some(LogKind::Crash(report.clone())),
        ));
        let text = "bottle 0.1.0 crashed at 2026-11-23 10:15:00.0 +00:00:00\nmessage: BOTTLE_DEBUG_PANIC=1: deliberate crash\nlocation: src/app/run.rs:465:17\nthread: main\n\nbacktrace:\n   0: bottle::crash::install::{{closure}}\n\tat src/crash.rs:10\n\nlast log lines:\n2026-11-23T10:14:59Z INFO bottle: start\x1b]52;c;eA==\x07";
        a.update(AppEvent::LogLoaded(
            LogKind::Crash(report),
            Ok(crate::app::logview::split_lines(text.as_bytes(), false)),
        ));
        for c in "/crash\r".chars() {
            let code = if c == '\r' {
                KeyCode::Enter
            } else {
                KeyCode::Char(c)
            };
            a.update(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        }
        let screen = draw_at(&a, 100, 16);
        assert!(!screen.contains('\x1b'), "log text is sanitized");
        insta::assert_snapshot!("crash_viewer", screen);
    }

    #[test]
    fn confirm_stop_and_resume_preflight() {
        use crate::app::AppEvent;
        let a = with_panes(
            16,
            90,
            &[
                Action::SelectNext,
                Action::SelectNext,
                Action::SelectNext,
                Action::OpenSelected,
                Action::StopPane,
            ],
        );
        insta::assert_snapshot!("confirm_stop", draw_at(&a, 90, 16));
        let mut a = app();
        let mut info = prepared(&[], false);
        info.resume = true;
        info.preflight.push_str("workspace  kept in the work volume\nchanges since the last launch:\n  - egress     api.github.com:443\n  + egress     api.github.com:443  methods GET\n");
        a.update(AppEvent::Prepared(Ok(info)));
        insta::assert_snapshot!("resume_preflight", draw_at(&a, 100, 18));
    }

    #[test]
    fn an_agents_request_as_a_banner_then_as_the_focused_prompt() {
        use crate::app::requests::Pending;
        use crate::app::AppEvent;
        let mut a = with_panes(
            18,
            100,
            &[
                Action::SelectNext,
                Action::SelectNext,
                Action::SelectNext,
                Action::OpenSelected,
            ],
        );
        let id = crate::queue::RequestId::parse("01KAQ3ZRZ5M8W9XJ6T0B2C4D6E").expect("id");
        let bytes = format!(
            r#"{{"id":"{id}","kind":"egress","payload":{{"host":"api.github.com","path_prefix":"/repos/acme/other/","methods":["GET"]}},"reason":"r","created_at":"t"}}"#
        );
        let mut request =
            crate::queue::Request::parse("claude-aaaaaa", id, bytes.as_bytes()).expect("request");
        // A request file with hidden characters is refused; were one to
        // reach the display, it would be escaped.
        request.reason = "I need the issues of the other repo \u{1b}[31mto fix #12\u{202e}.".into();
        a.update(AppEvent::QueueScanned {
            pending: vec![Pending {
                request,
                change: vec![
                    "+ route api.github.com:443  paths /repos/acme/other/  methods GET".into(),
                    "GH_PAT will be injected on api.github.com/repos/acme/other/ (Bearer scheme)"
                        .into(),
                ],
            }],
            invalid: 0,
        });
        insta::assert_snapshot!("request_banner", draw_at(&a, 100, 18));
        a.apply(Action::Requests);
        insta::assert_snapshot!("request_prompt", draw_at(&a, 100, 18));
    }

    #[test]
    fn a_change_taller_than_the_screen_scrolls_and_cannot_be_approved() {
        use crate::app::requests::Pending;
        use crate::app::{AppEvent, Effect};
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let mut a = with_panes(18, 100, &[]);
        let id = crate::queue::RequestId::parse("01KAQ3ZRZ5M8W9XJ6T0B2C4D6E").expect("id");
        let bytes = format!(
            r#"{{"id":"{id}","kind":"capability","payload":{{"summary":"tools","dockerfile":"FROM x\n"}},"reason":"r","created_at":"t"}}"#
        );
        let request =
            crate::queue::Request::parse("claude-aaaaaa", id, bytes.as_bytes()).expect("request");
        let change: Vec<String> = (1..=40).map(|n| format!("+ RUN step-{n}")).collect();
        a.update(AppEvent::QueueScanned {
            pending: vec![Pending { request, change }],
            invalid: 0,
        });
        a.apply(Action::Requests);
        let top = draw_at(&a, 100, 18);
        assert!(top.contains("step-1 "), "{top}");
        assert!(
            top.contains("PgUp PgDn")
                && !top.contains("step-40")
                && top.contains("enlarge the terminal to approve")
                && top.contains("y is off"),
            "{top}"
        );
        let key = |code| AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE));
        a.requests.age();
        let fx = a.update(key(KeyCode::Char('y')));
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Decide { .. })),
            "{fx:?}"
        );
        assert!(a
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("not fully on screen")));
        for _ in 0..6 {
            a.update(key(KeyCode::PageDown));
        }
        let bottom = draw_at(&a, 100, 18);
        assert!(
            bottom.contains("step-40") && !bottom.contains("step-1 "),
            "{bottom}"
        );
        // Tall enough: the whole change is on screen and `y` approves.
        a.update(AppEvent::Resize {
            rows: 60,
            cols: 100,
        });
        let tall = draw_at(&a, 100, 60);
        assert!(
            tall.contains("step-1 ") && tall.contains("step-40") && tall.contains("y approve"),
            "{tall}"
        );
        let fx = a.update(key(KeyCode::Char('y')));
        assert!(
            fx.iter().any(|e| matches!(
                e,
                Effect::Decide {
                    intent: crate::control::Intent::Approve,
                    ..
                }
            )),
            "{fx:?}"
        );
    }

    #[test]
    fn agent_text_never_pushes_the_change_out_of_sight() {
        use crate::app::requests::Pending;
        use crate::app::AppEvent;
        let mut a = with_panes(18, 100, &[]);
        let id = crate::queue::RequestId::parse("01KAQ3ZRZ5M8W9XJ6T0B2C4D6E").expect("id");
        let bytes = format!(
            r#"{{"id":"{id}","kind":"egress","payload":{{"host":"evil.test"}},"reason":"r","created_at":"t"}}"#
        );
        let mut request =
            crate::queue::Request::parse("claude-aaaaaa", id, bytes.as_bytes()).expect("request");
        // A forged change block and a screenful of lines (past the file
        // bounds, as if one reached the display).
        request.reason = format!(
            "what approving changes:\n+ route api.github.com:443{}",
            "\n.".repeat(1700)
        );
        a.update(AppEvent::QueueScanned {
            pending: vec![Pending {
                request,
                change: vec!["+ route evil.test:443,80  paths any  methods any".into()],
            }],
            invalid: 0,
        });
        a.apply(Action::Requests);
        let screen = draw_at(&a, 100, 18);
        let rows: Vec<&str> = screen.lines().collect();
        let real = rows
            .iter()
            .position(|r| r.contains("+ route evil.test"))
            .expect("the real change is on screen");
        let forged = rows
            .iter()
            .position(|r| r.contains("+ route api.github.com"))
            .expect("the agent text shows below");
        assert!(real < forged, "{screen}");
        assert!(screen.contains("agent claude-aaaaaa says"), "{screen}");
        assert!(screen.contains("y approve"), "{screen}");
    }
}
