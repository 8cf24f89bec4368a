//! Render cost per frame and memory per pane (SPEC §10), measured on the
//! real `App` and `ui::render` with no engine: panes are filled straight
//! through their emulators.
//!
//! `cargo run --release --example pane_costs` prints two Markdown tables.
//! Render: a 200×60 workspace with 4 panes full of coloured text, drawn
//! through ratatui's crossterm backend into a sink — every frame after a
//! change in every pane (worst case), and frames with nothing changed.
//! Memory: resident set growth per pane after 10 000 lines of 200-column
//! coloured text have gone through it (full scrollback), and the same for
//! the session holder's screen model (with its own history limit, and
//! with the pane's).

use bottle::app::keymap::Keymap;
use bottle::app::{Action, App, AppEvent, BottleRow};
use bottle::manifest::Definitions;
use bottle::session::screen::{Screen, Vt100Screen};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::time::Instant;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn coloured_line(i: usize, cols: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut col = 0;
    let mut k = i;
    while col + 10 < cols {
        k = k.wrapping_mul(1103515245).wrapping_add(12345);
        out.extend_from_slice(format!("\x1b[38;5;{}m", k % 256).as_bytes());
        out.extend_from_slice(format!("w{:07} ", k % 10_000_000).as_bytes());
        col += 9;
    }
    out.extend_from_slice(b"\x1b[0m\r\n");
    out
}

fn app_with_panes(rows: u16, cols: u16, panes: usize) -> App {
    let mut app = App::new(&Definitions::default(), "/bench".into(), Keymap::default());
    app.update(AppEvent::Resize { rows, cols });
    let slugs: Vec<String> = (0..panes).map(|i| format!("shell-bench{i}")).collect();
    app.update(AppEvent::Bottles(Ok(slugs
        .iter()
        .map(|s| {
            BottleRow::new(
                s,
                "shell",
                bottle::backends::inventory::BottleStatus::Running,
            )
        })
        .collect())));
    let agents = app.agents.len();
    for i in 0..panes {
        app.selected = agents + i;
        app.focus = bottle::app::Focus::Sidebar;
        app.apply(Action::OpenSelected);
    }
    let ids: Vec<_> = app.panes.iter().map(|p| p.id).collect();
    for id in ids {
        app.update(AppEvent::PaneReady(id));
    }
    app
}

fn main() -> std::io::Result<()> {
    // Render cost at 200×60.
    let (rows, cols) = (60u16, 200u16);
    let app = app_with_panes(rows, cols, 4);
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::sink()))?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, cols, rows))?;
    for (n, p) in app.panes.iter().enumerate() {
        let mut s = p.shared.screen.lock().expect("screen");
        for i in 0..200 {
            s.process(&coloured_line(i * 7 + n, 200));
        }
    }
    let frames = 500;
    // Every pane changes before every frame.
    let t0 = Instant::now();
    for f in 0..frames {
        for p in &app.panes {
            p.shared
                .screen
                .lock()
                .expect("screen")
                .process(&coloured_line(f, p.cols as usize));
        }
        terminal.draw(|fr| bottle::ui::render(fr, &app))?;
    }
    let changing = t0.elapsed() / frames as u32;
    let t1 = Instant::now();
    for _ in 0..frames {
        terminal.draw(|fr| bottle::ui::render(fr, &app))?;
    }
    let unchanged = t1.elapsed() / frames as u32;
    println!("| render, 200×60, 4 panes | per frame |");
    println!("|---|---|");
    println!(
        "| every pane changed (a new coloured line each) | {:.2} ms |",
        changing.as_secs_f64() * 1000.0
    );
    println!(
        "| nothing changed | {:.2} ms |",
        unchanged.as_secs_f64() * 1000.0
    );
    println!();

    // Memory per pane with full scrollback.
    let panes = 8;
    let lines = 10_000 + 100;
    let before = rss_kib();
    // One pane per workspace, each 200 columns wide inside.
    let apps: Vec<App> = (0..panes).map(|_| app_with_panes(60, 234, 1)).collect();
    for p in apps.iter().flat_map(|a| &a.panes) {
        let mut s = p.shared.screen.lock().expect("screen");
        for i in 0..lines {
            s.process(&coloured_line(i, p.cols as usize));
        }
        s.set_scrollback(usize::MAX);
        assert!(
            s.scrollback() >= 10_000,
            "scrollback kept: {}",
            s.scrollback()
        );
        s.set_scrollback(0);
    }
    let after = rss_kib();
    let cols = apps[0].panes.first().map_or(0, |p| p.cols);
    let per_pane =
        |before: u64, after: u64| (after.saturating_sub(before)) as f64 / 1024.0 / panes as f64;
    println!("| memory | per pane |");
    println!("|---|---|");
    println!(
        "| 10 000 lines of scrollback, {cols} columns, 256-colour text ({panes} panes) | {:.1} MiB |",
        per_pane(before, after)
    );
    // The session holder's model of the same pane (inside the container):
    // a bare screen with the holder's own history limit, and with the
    // pane's, fed the same lines. Every model stays alive until the end,
    // so no measurement reuses memory another freed.
    let mut kept = Vec::new();
    for (label, history) in [
        ("holder", bottle::session_host::SCROLLBACK),
        ("holder at 10 000", 10_000),
    ] {
        let before = rss_kib();
        let models: Vec<_> = (0..panes)
            .map(|_| {
                let mut s = Vt100Screen::new(60, cols, history);
                for i in 0..lines {
                    s.process(&coloured_line(i, cols as usize));
                }
                s.set_scrollback(usize::MAX);
                assert!(s.scrollback() >= history.min(lines - 60));
                s.set_scrollback(0);
                s
            })
            .collect();
        let after = rss_kib();
        println!(
            "| {label}: session holder's screen model, {} lines of scrollback, {cols} columns ({panes} models) | {:.1} MiB |",
            history.min(lines),
            per_pane(before, after)
        );
        kept.push(models);
    }
    drop((kept, apps));
    Ok(())
}
