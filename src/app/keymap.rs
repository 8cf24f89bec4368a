//! Keybindings as data: one table drives dispatch, the help overlay and the
//! status hints. The defaults are `assets/keymap.yaml`; the `keys:` part of
//! `$BOTTLE_HOME/config.yaml` overrides them action by action. Workspace
//! commands follow the prefix key (default Ctrl-b; pressing it twice sends
//! it to the focused pane).

use super::Action;
use crate::manifest::yaml::{Node, Value};
use crate::manifest::{did_you_mean, Pos, Problem, Severity};
use crate::session::layout::Direction;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::Path;

/// The default bindings, in help order.
pub const DEFAULTS: &str = include_str!("../../assets/keymap.yaml");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const NAMED: &[(&str, KeyCode)] = &[
    ("Up", KeyCode::Up),
    ("Down", KeyCode::Down),
    ("Left", KeyCode::Left),
    ("Right", KeyCode::Right),
    ("Tab", KeyCode::Tab),
    ("BackTab", KeyCode::BackTab),
    ("Enter", KeyCode::Enter),
    ("Esc", KeyCode::Esc),
    ("Space", KeyCode::Char(' ')),
    ("Backspace", KeyCode::Backspace),
    ("Delete", KeyCode::Delete),
    ("Insert", KeyCode::Insert),
    ("Home", KeyCode::Home),
    ("End", KeyCode::End),
    ("PageUp", KeyCode::PageUp),
    ("PageDown", KeyCode::PageDown),
];

impl KeySpec {
    pub const fn plain(c: char) -> Self {
        KeySpec {
            code: KeyCode::Char(c),
            mods: KeyModifiers::NONE,
        }
    }
    pub const fn ctrl(c: char) -> Self {
        KeySpec {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }

    /// Parses `q`, `C-b`, `M-x`, `C-M-Left`, `F5`, `Space`….
    pub fn parse(text: &str) -> Result<KeySpec, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            if rest.chars().count() > 2 {
                if let Some(r) = rest.strip_prefix("C-") {
                    mods |= KeyModifiers::CONTROL;
                    rest = r;
                    continue;
                }
                if let Some(r) = rest.strip_prefix("M-") {
                    mods |= KeyModifiers::ALT;
                    rest = r;
                    continue;
                }
            }
            break;
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => {
                // Ctrl chords are reported in lower case.
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(c.to_ascii_lowercase())
                } else {
                    KeyCode::Char(c)
                }
            }
            _ => {
                if let Some((_, code)) = NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(rest)) {
                    *code
                } else if let Some(n) = rest
                    .strip_prefix(['F', 'f'])
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|n| (1..=12).contains(n))
                {
                    KeyCode::F(n)
                } else {
                    let names: Vec<&str> = NAMED.iter().map(|(n, _)| *n).collect();
                    let hint = did_you_mean(rest, names.iter().copied())
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    return Err(format!(
                        "`{text}` is not a key: use one character or a key name \
                         (Up, Enter, Esc, F1…), optionally after C- or M-{hint}"
                    ));
                }
            }
        };
        Ok(KeySpec { code, mods })
    }

    pub fn matches(&self, key: &KeyEvent) -> bool {
        // Terminals report shifted characters with or without SHIFT.
        let mods = key.modifiers - KeyModifiers::SHIFT;
        let code = match (key.code, mods.contains(KeyModifiers::CONTROL)) {
            (KeyCode::Char(c), true) => KeyCode::Char(c.to_ascii_lowercase()),
            (code, _) => code,
        };
        code == self.code && mods == self.mods - KeyModifiers::SHIFT
    }

    pub fn label(&self) -> String {
        let key = match self.code {
            KeyCode::Char(' ') => "Space".into(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => NAMED
                .iter()
                .find(|(_, c)| *c == other)
                .map_or_else(|| format!("{other:?}"), |(n, _)| n.to_string()),
        };
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("Ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("Alt-");
        }
        out + &key
    }
}

/// Every action a key can be bound to, by its name in the keymap files.
pub const ACTIONS: &[(&str, Action)] = &[
    ("help", Action::ToggleHelp),
    ("new-agent", Action::NewAgent),
    ("problems", Action::Problems),
    ("logs", Action::Logs),
    ("requests", Action::Requests),
    ("quit", Action::Quit),
    ("open", Action::OpenSelected),
    ("new-shell", Action::NewShell),
    ("split-right", Action::SplitColumns),
    ("split-below", Action::SplitRows),
    ("focus-left", Action::Focus(Direction::Left)),
    ("focus-right", Action::Focus(Direction::Right)),
    ("focus-up", Action::Focus(Direction::Up)),
    ("focus-down", Action::Focus(Direction::Down)),
    ("focus-next", Action::FocusNext),
    ("toggle-sidebar", Action::ToggleSidebar),
    ("zoom", Action::Zoom),
    ("copy-mode", Action::CopyMode),
    ("swap-next", Action::SwapNext),
    ("close-pane", Action::ClosePane),
    ("stop-bottle", Action::StopPane),
    ("select-prev", Action::SelectPrev),
    ("select-next", Action::SelectNext),
    ("close-overlay", Action::CloseOverlay),
];

impl Action {
    pub fn name(&self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(_, a)| a == self)
            .map_or("?", |(n, _)| n)
    }

    pub fn help(&self) -> &'static str {
        match self {
            Action::ToggleHelp => "show or hide this help",
            Action::NewAgent => "new agent: pick one, answer its prompts, confirm the preflight",
            Action::Problems => "definition and config problems (as `bottle check` prints them)",
            Action::Logs => "logs: app log, crash reports, sidecar decisions (search, follow)",
            Action::Requests => "agents' requests: y approve · e edit in $EDITOR, then approve · n reject · N reject with a note · a answer · PgUp PgDn scroll · Tab next · Esc back",
            Action::Quit => "quit the workspace (bottles keep running)",
            Action::OpenSelected => "open the selected bottle in a pane (an agent: launch one)",
            Action::NewShell => "a shell into the bottle selected in the sidebar",
            Action::SplitColumns => "split: a shell in the focused pane's bottle, to the right",
            Action::SplitRows => "split: a shell in the focused pane's bottle, below",
            Action::Focus(Direction::Left) => "focus the pane to the left (or the sidebar)",
            Action::Focus(Direction::Right) => "focus the pane to the right",
            Action::Focus(Direction::Up) => "focus the pane above",
            Action::Focus(Direction::Down) => "focus the pane below",
            Action::FocusNext => "focus the next pane",
            Action::ToggleSidebar => "switch between the sidebar and the panes",
            Action::Zoom => "zoom the focused pane (again: unzoom)",
            Action::CopyMode => "copy mode: scroll history (↑↓ PgUp PgDn g G, / search, n N, q)",
            Action::SwapNext => "swap the focused pane with the next",
            Action::ClosePane => "close the pane (detach; the bottle keeps running)",
            Action::StopPane => "stop the focused pane's bottle (asks first)",
            Action::SelectPrev => "select the previous agent or bottle",
            Action::SelectNext => "select the next agent or bottle",
            Action::CloseOverlay => "close the help",
        }
    }

    /// Short label for the status line, for the few actions shown there.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Action::ToggleHelp => Some("help"),
            Action::NewAgent => Some("new agent"),
            Action::Quit => Some("quit"),
            Action::SplitColumns => Some("split"),
            Action::ClosePane => Some("close"),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub key: KeySpec,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keymap {
    pub prefix: KeySpec,
    /// Keys after the prefix, in help order.
    pub after_prefix: Vec<Binding>,
    /// Keys that work without the prefix when no pane has focus.
    pub direct: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut map = Keymap {
            prefix: KeySpec::ctrl('b'),
            after_prefix: Vec::new(),
            direct: Vec::new(),
        };
        let problems = map.apply_text(DEFAULTS, Path::new("assets/keymap.yaml"), false);
        debug_assert!(problems.is_empty(), "{problems:?}");
        map
    }
}

impl Keymap {
    pub fn after_prefix(&self, key: &KeyEvent) -> Option<Action> {
        self.after_prefix
            .iter()
            .find(|b| b.key.matches(key))
            .map(|b| b.action.clone())
    }
    pub fn direct(&self, key: &KeyEvent) -> Option<Action> {
        self.direct
            .iter()
            .find(|b| b.key.matches(key))
            .map(|b| b.action.clone())
    }

    /// The keys bound to `action` in a table, for help and hints.
    pub fn keys_for(table: &[Binding], action: &Action) -> Vec<KeySpec> {
        table
            .iter()
            .filter(|b| &b.action == action)
            .map(|b| b.key)
            .collect()
    }

    /// The defaults with `config.yaml`'s `keys:` applied, from what reading
    /// `config` gave (the caller reads it: no I/O here). A missing file is
    /// no problem; a bad one is reported (`path:line:col`) and the rest of
    /// it still applies.
    pub fn from_config(config: &Path, read: std::io::Result<Vec<u8>>) -> (Keymap, Vec<Problem>) {
        let mut map = Keymap::default();
        let problems = match read {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    let (keys, mut problems) = crate::config::keys_section(&text, config);
                    if let Some(node) = keys {
                        problems.extend(map.apply_node(&node, config, true));
                    }
                    problems
                }
                Err(e) => vec![problem(
                    config,
                    Pos { line: 1, col: 1 },
                    format!("not UTF-8: {e}"),
                )],
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => vec![problem(
                config,
                Pos { line: 1, col: 1 },
                format!("cannot read: {e}"),
            )],
        };
        (map, problems)
    }

    fn apply_text(&mut self, text: &str, path: &Path, overriding: bool) -> Vec<Problem> {
        match crate::manifest::yaml::parse(text, 0) {
            Ok(node) => self.apply_node(&node, path, overriding),
            Err(e) => vec![problem(path, e.pos, e.message)],
        }
    }

    /// Applies a keymap mapping (`prefix`, `prefix_keys`, `sidebar_keys`).
    fn apply_node(&mut self, node: &Node, path: &Path, overriding: bool) -> Vec<Problem> {
        let mut problems = Vec::new();
        let Value::Map(entries) = &node.value else {
            if node.value != Value::Null {
                problems.push(problem(
                    path,
                    node.pos,
                    format!(
                        "expected a mapping (prefix, prefix_keys, sidebar_keys), found {}",
                        node.value.kind()
                    ),
                ));
            }
            return problems;
        };
        const SECTIONS: [&str; 3] = ["prefix", "prefix_keys", "sidebar_keys"];
        for (key, value) in entries {
            match key.name.as_str() {
                "prefix" => match keys_of(value) {
                    Ok(keys) if keys.len() == 1 => match KeySpec::parse(&keys[0].0) {
                        Ok(k) => self.prefix = k,
                        Err(e) => problems.push(problem(path, keys[0].1, e)),
                    },
                    Ok(_) => {
                        problems.push(problem(path, value.pos, "the prefix is one key".into()))
                    }
                    Err(e) => problems.push(problem(path, value.pos, e)),
                },
                "prefix_keys" => {
                    let mut table = std::mem::take(&mut self.after_prefix);
                    apply_table(&mut table, value, path, overriding, &mut problems);
                    self.after_prefix = table;
                }
                "sidebar_keys" => {
                    let mut table = std::mem::take(&mut self.direct);
                    apply_table(&mut table, value, path, overriding, &mut problems);
                    self.direct = table;
                }
                other => {
                    let hint = did_you_mean(other, SECTIONS)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    problems.push(problem(
                        path,
                        key.pos,
                        format!("unknown key `{other}` in keys: expected prefix, prefix_keys or sidebar_keys{hint}"),
                    ));
                }
            }
        }
        problems
    }
}

fn problem(path: &Path, pos: Pos, message: String) -> Problem {
    Problem {
        path: path.to_path_buf(),
        pos,
        severity: Severity::Error,
        message,
    }
}

/// One key or a list of keys, with their positions.
fn keys_of(node: &Node) -> Result<Vec<(String, Pos)>, String> {
    let one = |n: &Node| match &n.value {
        Value::Str(s) => Ok((s.clone(), n.pos)),
        Value::Int(i) => Ok((i.to_string(), n.pos)),
        other => Err(format!("expected a key name, found {}", other.kind())),
    };
    match &node.value {
        Value::Seq(items) => items.iter().map(one).collect(),
        _ => one(node).map(|k| vec![k]),
    }
}

/// Applies `action: keys` entries to one table. Later entries take their
/// keys away from earlier bindings; while overriding, an action's listed
/// keys replace all of its old ones.
fn apply_table(
    table: &mut Vec<Binding>,
    node: &Node,
    path: &Path,
    overriding: bool,
    problems: &mut Vec<Problem>,
) {
    let Value::Map(entries) = &node.value else {
        if node.value != Value::Null {
            problems.push(problem(
                path,
                node.pos,
                format!(
                    "expected a mapping of action: key(s), found {}",
                    node.value.kind()
                ),
            ));
        }
        return;
    };
    // Keys given in this file, to catch one key bound twice here.
    let mut given: Vec<(KeySpec, &str)> = Vec::new();
    for (name, value) in entries {
        let Some((_, action)) = ACTIONS.iter().find(|(n, _)| *n == name.name) else {
            let hint = did_you_mean(&name.name, ACTIONS.iter().map(|(n, _)| *n))
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            problems.push(problem(
                path,
                name.pos,
                format!("unknown action `{}`{hint}", name.name),
            ));
            continue;
        };
        let keys = match keys_of(value) {
            Ok(k) => k,
            Err(e) => {
                problems.push(problem(path, value.pos, e));
                continue;
            }
        };
        let mut specs = Vec::new();
        for (text, pos) in keys {
            match KeySpec::parse(&text) {
                Ok(k) => {
                    if let Some((_, other)) = given.iter().find(|(g, _)| *g == k) {
                        problems.push(problem(
                            path,
                            pos,
                            format!("`{text}` is already bound to `{other}` here"),
                        ));
                        continue;
                    }
                    given.push((k, &name.name));
                    specs.push(k);
                }
                Err(e) => problems.push(problem(path, pos, e)),
            }
        }
        // Where the action sat, so an override keeps its help position.
        let at = table
            .iter()
            .position(|b| &b.action == action)
            .unwrap_or(table.len());
        if overriding {
            table.retain(|b| &b.action != action);
        }
        table.retain(|b| !specs.contains(&b.key));
        let at = at.min(table.len());
        for (i, key) in specs.into_iter().enumerate() {
            table.insert(
                at + i,
                Binding {
                    key,
                    action: action.clone(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn the_defaults_parse_and_bind_every_action() {
        let mut map = Keymap {
            prefix: KeySpec::plain('x'),
            after_prefix: Vec::new(),
            direct: Vec::new(),
        };
        let problems = map.apply_text(DEFAULTS, Path::new("keymap.yaml"), false);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(map.prefix, KeySpec::ctrl('b'));
        for (name, action) in ACTIONS {
            let bound = map
                .after_prefix
                .iter()
                .chain(&map.direct)
                .any(|b| &b.action == action);
            assert!(bound, "{name} has no default key");
            assert_eq!(action.name(), *name);
        }
        assert_eq!(
            map.after_prefix(&ev(KeyCode::Char('%'), KeyModifiers::SHIFT)),
            Some(Action::SplitColumns)
        );
        assert_eq!(
            map.direct(&ev(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Action::SelectNext)
        );
    }

    #[test]
    fn key_names_parse_and_label() {
        let cases = [
            ("q", "q"),
            ("C-b", "Ctrl-b"),
            ("C-B", "Ctrl-b"),
            ("M-x", "Alt-x"),
            ("C-M-Left", "Ctrl-Alt-←"),
            ("F5", "F5"),
            ("Space", "Space"),
            ("pageup", "PageUp"),
            ("-", "-"),
            ("C--", "Ctrl--"),
        ];
        for (text, label) in cases {
            let k = KeySpec::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(k.label(), label, "{text}");
        }
        let err = KeySpec::parse("Entr").expect_err("an error");
        assert!(err.contains("did you mean `Enter`"), "{err}");
        assert!(KeySpec::parse("F13").is_err());
        assert!(KeySpec::parse("").is_err());
    }

    #[test]
    fn ctrl_chords_match_whatever_case_the_terminal_reports() {
        let k = KeySpec::parse("C-a").expect("test");
        assert!(k.matches(&ev(KeyCode::Char('a'), KeyModifiers::CONTROL)));
        assert!(k.matches(&ev(
            KeyCode::Char('A'),
            KeyModifiers::CONTROL | KeyModifiers::SHIFT
        )));
        assert!(!k.matches(&ev(KeyCode::Char('a'), KeyModifiers::NONE)));
    }

    fn load(text: &str) -> (Keymap, Vec<String>) {
        let dir = tempfile::tempdir().expect("test");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).expect("test");
        let (map, problems) = Keymap::from_config(&path, std::fs::read(&path));
        let lines = problems
            .iter()
            .map(|p| {
                p.to_string()
                    .replace(&dir.path().display().to_string(), "H")
            })
            .collect();
        (map, lines)
    }

    #[test]
    fn overrides_replace_an_actions_keys_and_steal_them_from_others() {
        let (map, problems) = load(
            "keys:\n  prefix: C-a\n  prefix_keys:\n    split-right: ['|', '%']\n    zoom: x\n    copy-mode: []\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(map.prefix, KeySpec::ctrl('a'));
        let get = |c| map.after_prefix(&ev(KeyCode::Char(c), KeyModifiers::NONE));
        assert_eq!(get('|'), Some(Action::SplitColumns));
        assert_eq!(get('%'), Some(Action::SplitColumns));
        assert_eq!(get('x'), Some(Action::Zoom), "x moved from close-pane");
        assert_eq!(get('z'), None, "zoom's old key is gone");
        assert_eq!(get('['), None, "[] unbinds");
        // Help order is kept: split-right stays where it was.
        let names: Vec<&str> = map.after_prefix.iter().map(|b| b.action.name()).collect();
        let split = names
            .iter()
            .position(|n| *n == "split-right")
            .expect("test");
        assert!(split < names.iter().position(|n| *n == "focus-left").expect("test"));
    }

    #[test]
    fn bad_overrides_are_reported_where_they_are_and_the_rest_applies() {
        let (map, problems) = load(
            "keys:\n  prefix_keys:\n    zoomm: Z\n    zoom: Entr\n    help: [h, h]\n  sidebar: {}\n  prefix: [C-a, C-b]\n",
        );
        assert_eq!(
            problems,
            vec![
                "H/config.yaml:3:5: error: unknown action `zoomm` (did you mean `zoom`?)",
                "H/config.yaml:4:11: error: `Entr` is not a key: use one character or a key name (Up, Enter, Esc, F1…), optionally after C- or M- (did you mean `Enter`?)",
                "H/config.yaml:5:15: error: `h` is already bound to `help` here",
                "H/config.yaml:6:3: error: unknown key `sidebar` in keys: expected prefix, prefix_keys or sidebar_keys",
                "H/config.yaml:7:11: error: the prefix is one key",
            ]
        );
        assert_eq!(
            map.after_prefix(&ev(KeyCode::Char('h'), KeyModifiers::NONE)),
            Some(Action::ToggleHelp)
        );
        assert_eq!(map.prefix, KeySpec::ctrl('b'));
    }

    #[test]
    fn a_missing_config_is_the_defaults_and_bad_yaml_is_one_problem() {
        let (_, problems) = Keymap::from_config(
            Path::new("/nonexistent/config.yaml"),
            std::fs::read("/nonexistent/config.yaml"),
        );
        assert!(problems.is_empty());
        let (map, problems) = load("keys: [\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("H/config.yaml:"), "{problems:?}");
        assert_eq!(map.prefix, KeySpec::ctrl('b'));
    }
}
