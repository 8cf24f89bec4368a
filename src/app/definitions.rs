//! The definitions the workspace shows (agents, problems) and the settings
//! of `config.yaml` it applies (keys, notify), as one value: built once at
//! start and again whenever the workspace's watcher (`workspace/
//! definitions.rs`) sees `bottles/`, `agents/`, `config.yaml`, `trust.json`
//! or the repository's `.bottle/agents` change. `App::definitions_loaded`
//! swaps it in: the sidebar, the picker and the problems view follow, the
//! selection stays on the same agent. Pure: the caller reads the files.
//!
//! Everything in `config.yaml` the workspace uses applies live (`keys:`,
//! `notify:`); a changed definition applies to the next launch (a running
//! bottle keeps what it started with), which the status line says.

use super::keymap::Keymap;
use super::{AgentRow, App, Effect, Overlay};
use crate::manifest::{Definitions, Severity};
use std::hash::{Hash, Hasher};
use std::path::Path;

/// What the workspace shows of the definitions and applies of the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub agents: Vec<AgentRow>,
    /// `path:line:col: severity: message` lines (definitions, then config).
    pub problems: Vec<String>,
    pub error_count: usize,
    pub keymap: Keymap,
    pub notify: crate::config::Notify,
    /// Changes when anything a launch reads changes (every agent's and
    /// bottle's definition as loaded).
    pub fingerprint: u64,
}

/// The sidebar's rows for `defs`' agents.
pub(super) fn agent_rows(defs: &Definitions) -> Vec<AgentRow> {
    defs.agents
        .iter()
        .map(|a| AgentRow {
            name: a.name().to_string(),
            label: a.display_name(),
            bottle: a.def.bottle.value.clone(),
            repo: a.is_repo(),
            trusted: a.trusted,
            note: a
                .shadows_home_bottle
                .as_ref()
                .map(|b| format!("overrides home agent; bottle {b} → {}", a.def.bottle.value)),
        })
        .collect()
}

impl Loaded {
    /// From loaded definitions and what reading `config` gave.
    pub fn new(defs: &Definitions, config: &Path, read: std::io::Result<Vec<u8>>) -> Loaded {
        let notify = match &read {
            Ok(bytes) => std::str::from_utf8(bytes)
                .map(|t| crate::config::parse(t, config).1)
                .unwrap_or_default(),
            Err(_) => crate::config::Notify::Off,
        };
        let (keymap, config_problems) = Keymap::from_config(config, read);
        let mut problems: Vec<String> = defs.problems.iter().map(|p| p.to_string()).collect();
        problems.extend(config_problems.iter().map(|p| p.to_string()));
        let error_count = defs
            .problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
            + config_problems.len();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for a in &defs.agents {
            (&a.def.path, &a.def.sha256, a.trusted).hash(&mut h);
        }
        format!("{:?}", defs.bottle_defs).hash(&mut h);
        Loaded {
            agents: agent_rows(defs),
            problems,
            error_count,
            keymap,
            notify,
            fingerprint: h.finish(),
        }
    }
}

/// What changed between two loads, in the operator's words.
fn describe(old: &Loaded, new: &Loaded, running: usize) -> Option<String> {
    let labels = |l: &Loaded| l.agents.iter().map(|a| a.label.clone()).collect::<Vec<_>>();
    let (before, after) = (labels(old), labels(new));
    let added: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    let removed: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        let list: Vec<&str> = added.iter().map(|s| s.as_str()).collect();
        parts.push(format!("new agent {}", list.join(", ")));
    }
    if !removed.is_empty() {
        let list: Vec<&str> = removed.iter().map(|s| s.as_str()).collect();
        parts.push(format!("agent {} gone", list.join(", ")));
    }
    if new.problems != old.problems {
        parts.push(match new.problems.len() {
            0 => "definitions fine again".to_string(),
            n => format!("{n} problem(s) in the definitions"),
        });
    }
    if new.keymap != old.keymap || new.notify != old.notify {
        parts.push("config.yaml applied".into());
    }
    if parts.is_empty() && new.fingerprint != old.fingerprint {
        parts.push("definitions reloaded".into());
    }
    if parts.is_empty() {
        return None;
    }
    if new.fingerprint != old.fingerprint && running > 0 {
        parts.push("running bottles keep theirs until relaunched".into());
    }
    Some(parts.join("; "))
}

impl App {
    /// The definitions as loaded now (what `definitions_loaded` compares).
    fn current_definitions(&self) -> Loaded {
        Loaded {
            agents: self.agents.clone(),
            problems: self.problems.clone(),
            error_count: self.error_count,
            keymap: self.keymap.clone(),
            notify: self.notify,
            fingerprint: self.definitions_fingerprint,
        }
    }

    /// Takes `loaded` as the workspace's definitions and settings (at start,
    /// without a word in the status line).
    pub fn set_definitions(&mut self, loaded: Loaded) {
        // The selection stays on the same agent (or the same bottle, which
        // moves with the number of agents above it).
        let on_agent = self.agents.get(self.selected).map(|a| a.label.clone());
        let bottle_offset = self.selected.checked_sub(self.agents.len());
        let old_len = self.agents.len();
        self.agents = loaded.agents;
        self.selected = match (on_agent, bottle_offset) {
            (Some(label), _) => self
                .agents
                .iter()
                .position(|a| a.label == label)
                .unwrap_or_else(|| self.selected.min(self.agents.len().saturating_sub(1))),
            (None, Some(off)) => self.agents.len() + off,
            (None, None) => self.selected.saturating_sub(old_len),
        };
        self.selected = self.selected.min(self.sidebar_len().saturating_sub(1));
        self.problems = loaded.problems;
        self.error_count = loaded.error_count;
        self.keymap = loaded.keymap;
        self.notify = loaded.notify;
        self.definitions_fingerprint = loaded.fingerprint;
        if let Some(Overlay::Picker(_)) = &self.overlay {
            let items = self.picker_items();
            if let Some(Overlay::Picker(p)) = &mut self.overlay {
                p.set_items(items);
            }
        }
    }

    /// The watcher's rescan: the new definitions, or why they could not be
    /// read (the old ones stay).
    pub(super) fn definitions_loaded(&mut self, result: Result<Loaded, String>) -> Vec<Effect> {
        match result {
            Ok(loaded) => {
                let running = self
                    .bottles
                    .iter()
                    .filter(|b| b.status.is_running())
                    .count();
                let said = describe(&self.current_definitions(), &loaded, running);
                self.set_definitions(loaded);
                match said {
                    Some(text) => self.notice = Some(text),
                    None => return Vec::new(),
                }
            }
            Err(e) => self.notice = Some(format!("reloading definitions: {e}")),
        }
        vec![Effect::Redraw]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::test_support::{app, with_bottles};
    use crate::app::AppEvent;

    fn row(label: &str, repo: bool, trusted: bool) -> AgentRow {
        AgentRow {
            name: label.split(' ').next().unwrap_or_default().to_string(),
            label: label.to_string(),
            bottle: "x".into(),
            repo,
            trusted,
            note: None,
        }
    }

    fn loaded(a: &App, agents: Vec<AgentRow>, problems: &[&str]) -> Loaded {
        Loaded {
            agents,
            problems: problems.iter().map(|s| s.to_string()).collect(),
            error_count: problems.len(),
            keymap: a.keymap.clone(),
            notify: a.notify,
            fingerprint: 7,
        }
    }

    #[test]
    fn a_new_agent_appears_and_the_selection_stays_on_its_agent() {
        let mut a = app();
        a.selected = 1; // "b"
        let rows = vec![
            row("a", false, true),
            row("aa (repo)", true, false),
            row("b", false, true),
            row("c", false, true),
        ];
        let fx = a.update(AppEvent::Definitions(Ok(loaded(&a, rows.clone(), &[]))));
        assert_eq!(fx, vec![Effect::Redraw]);
        assert_eq!(a.agents, rows);
        assert_eq!(a.agents[a.selected].label, "b");
        assert!(a
            .notice
            .as_deref()
            .unwrap_or_default()
            .contains("new agent aa (repo)"));
    }

    #[test]
    fn a_selected_bottle_stays_selected_when_agents_come_and_go() {
        let mut a = with_bottles();
        a.selected = 4; // the second bottle
        let slug = a.selected_bottle().expect("a bottle selected").slug.clone();
        let rows = vec![row("a", false, true)];
        a.update(AppEvent::Definitions(Ok(loaded(&a, rows, &[]))));
        assert_eq!(a.selected_bottle().map(|b| b.slug.clone()), Some(slug));
        assert!(a
            .notice
            .as_deref()
            .unwrap_or_default()
            .contains("agent b, c gone"));
    }

    #[test]
    fn problems_come_and_go_with_the_files() {
        let mut a = app();
        let rows = a.agents.clone();
        let bad = "/h/agents/x.md:2:1: error: unknown key `botle`";
        a.update(AppEvent::Definitions(Ok(loaded(&a, rows.clone(), &[bad]))));
        assert_eq!(a.problems, vec![bad.to_string()]);
        assert_eq!(a.error_count, 1);
        a.update(AppEvent::Definitions(Ok(loaded(&a, rows, &[]))));
        assert!(a.problems.is_empty());
        assert_eq!(a.error_count, 0);
        assert_eq!(a.notice.as_deref(), Some("definitions fine again"));
    }

    #[test]
    fn nothing_changed_is_not_news() {
        let mut a = app();
        let same = a.current_definitions();
        assert!(a.update(AppEvent::Definitions(Ok(same))).is_empty());
        assert_eq!(a.notice, None);
    }

    #[test]
    fn an_unreadable_rescan_keeps_the_old_definitions() {
        let mut a = app();
        let before = a.agents.clone();
        a.update(AppEvent::Definitions(Err("trust.json: bad".into())));
        assert_eq!(a.agents, before);
        assert!(a
            .notice
            .as_deref()
            .unwrap_or_default()
            .contains("trust.json: bad"));
    }

    #[test]
    fn the_open_picker_follows_and_keeps_its_filter() {
        let mut a = app();
        a.open_picker();
        if let Some(Overlay::Picker(p)) = &mut a.overlay {
            p.filter = "re".into();
        }
        let mut rows = a.agents.clone();
        rows.push(row("reviewer (repo)", true, false));
        a.update(AppEvent::Definitions(Ok(loaded(&a, rows, &[]))));
        let Some(Overlay::Picker(p)) = &a.overlay else {
            panic!("the picker closed");
        };
        assert_eq!(p.filter, "re");
        let shown: Vec<&str> = p
            .matches
            .iter()
            .map(|i| p.items[*i].label.as_str())
            .collect();
        assert_eq!(shown.first(), Some(&"reviewer (repo)"));
        assert!(
            !p.items
                .iter()
                .find(|i| i.repo)
                .expect("the repo agent")
                .trusted
        );
    }

    #[test]
    fn config_keys_apply_live() {
        let mut a = app();
        let cfg = Path::new("/h/config.yaml");
        let defs = Definitions::default();
        let mut l = Loaded::new(&defs, cfg, Ok(b"keys:\n  prefix: C-a\n".to_vec()));
        l.agents = a.agents.clone();
        a.update(AppEvent::Definitions(Ok(l)));
        assert_eq!(a.keymap.prefix.label(), "Ctrl-a");
        assert!(a
            .notice
            .as_deref()
            .unwrap_or_default()
            .contains("config.yaml applied"));
    }
}
