//! Helpers shared by the app's unit tests: an app with three agents, and
//! one with three bottles (two running) at 30×120.

use super::keymap::Keymap;
use super::{requests, AgentRow, App, AppEvent, BottleRow};
use crate::manifest::Definitions;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub(super) fn key(code: KeyCode, mods: KeyModifiers) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, mods))
}

pub(super) fn app() -> App {
    let mut a = App::new(&Definitions::default(), "/w".into(), Keymap::default());
    a.agents = ["a", "b", "c"]
        .iter()
        .map(|n| AgentRow {
            name: n.split(' ').next().unwrap_or_default().to_string(),
            label: n.to_string(),
            bottle: "x".into(),
            repo: false,
            trusted: true,
            note: None,
        })
        .collect();
    a
}

pub(super) fn with_bottles() -> App {
    let mut a = app();
    a.update(AppEvent::Resize {
        rows: 30,
        cols: 120,
    });
    a.update(AppEvent::Bottles(Ok([
        "shell-aaaaaa",
        "shell-bbbbbb",
        "shell-cccccc",
    ]
    .iter()
    .map(|s| {
        BottleRow::new(
            s,
            "shell",
            if *s == "shell-cccccc" {
                crate::backends::inventory::BottleStatus::Stopped
            } else {
                crate::backends::inventory::BottleStatus::Running
            },
        )
    })
    .collect())));
    a
}

pub(super) fn pending(slug: &str, host: &str) -> requests::Pending {
    let id = crate::queue::RequestId::generate();
    let bytes = format!(
        r#"{{"id":"{id}","kind":"egress","payload":{{"host":"{host}"}},"reason":"need it","created_at":"t"}}"#
    );
    requests::Pending {
        request: crate::queue::Request::parse(slug, id, bytes.as_bytes()).expect("request"),
        change: vec![format!("+ route {host}:443,80  paths any  methods any")],
    }
}
