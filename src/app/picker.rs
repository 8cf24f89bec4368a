//! The new-agent picker (a modal layer): nucleo fuzzy matching over the
//! workspace's agents. Type to filter; ↑/↓ or Ctrl-p/Ctrl-n move; Enter
//! chooses; Esc clears the filter, then closes. Tab moves to the optional
//! first-task field and back (Esc there returns to the filter). Pure state:
//! no I/O, no rendering (ui/launch.rs draws it).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nucleo::pattern::{CaseMatching, Normalization, Pattern};
use nucleo::Matcher;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickerItem {
    /// What `launcher::prepare` is given (`name` or `name (repo)`).
    pub agent: String,
    /// What the operator sees.
    pub label: String,
    pub repo: bool,
    pub trusted: bool,
    /// Bottles of this agent running now.
    pub running: usize,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picker {
    pub items: Vec<PickerItem>,
    pub filter: String,
    /// Indices into `items`, best match first.
    pub matches: Vec<usize>,
    /// Index into `matches`.
    pub selected: usize,
    /// The optional first task for the agent.
    pub task: String,
    /// Typing goes to the task field (else to the filter).
    pub editing_task: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PickerOutcome {
    Stay,
    Close,
    /// The operator chose this agent (`PickerItem::agent`), with a first
    /// task when one was typed.
    Chosen {
        agent: String,
        task: Option<String>,
    },
}

impl Picker {
    pub fn new(items: Vec<PickerItem>) -> Picker {
        let mut p = Picker {
            items,
            filter: String::new(),
            matches: Vec::new(),
            selected: 0,
            task: String::new(),
            editing_task: false,
        };
        p.refilter();
        p
    }

    /// The agents changed (the definitions were reloaded): the filter and
    /// the task stay, the selection stays on the same agent when it is
    /// still there.
    pub fn set_items(&mut self, items: Vec<PickerItem>) {
        let chosen = self
            .matches
            .get(self.selected)
            .and_then(|i| self.items.get(*i))
            .map(|it| it.agent.clone());
        self.items = items;
        self.refilter();
        self.selected = chosen
            .and_then(|c| self.matches.iter().position(|i| self.items[*i].agent == c))
            .unwrap_or(0);
    }

    fn refilter(&mut self) {
        let pattern = Pattern::parse(&self.filter, CaseMatching::Smart, Normalization::Smart);
        let mut matcher = Matcher::new(nucleo::Config::DEFAULT);
        let labels: Vec<(usize, &str)> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (i, it.label.as_str()))
            .collect();
        let scored = pattern.match_list(labels.iter().map(|(_, l)| *l), &mut matcher);
        // match_list keeps each label's text; map back by position (labels
        // may repeat, so take each index once).
        let mut used = vec![false; self.items.len()];
        self.matches = scored
            .iter()
            .filter_map(|(label, _)| {
                let i = labels
                    .iter()
                    .find(|(i, l)| l == label && !used[*i])
                    .map(|(i, _)| *i)?;
                used[i] = true;
                Some(i)
            })
            .collect();
        self.selected = 0;
    }

    pub fn chosen(&self) -> Option<&PickerItem> {
        self.matches
            .get(self.selected)
            .and_then(|i| self.items.get(*i))
    }

    pub fn key(&mut self, key: KeyEvent) -> PickerOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.editing_task {
            match key.code {
                KeyCode::Esc | KeyCode::Tab | KeyCode::BackTab => self.editing_task = false,
                KeyCode::Enter => return self.choose(),
                KeyCode::Up => self.step(-1),
                KeyCode::Down => self.step(1),
                KeyCode::Backspace => {
                    self.task.pop();
                }
                KeyCode::Char('u') if ctrl => self.task.clear(),
                KeyCode::Char(c) if !ctrl && !c.is_control() => self.task.push(c),
                _ => {}
            }
            return PickerOutcome::Stay;
        }
        match key.code {
            KeyCode::Tab | KeyCode::BackTab => self.editing_task = true,
            KeyCode::Esc if self.filter.is_empty() => return PickerOutcome::Close,
            KeyCode::Esc => {
                self.filter.clear();
                self.refilter();
            }
            KeyCode::Enter => return self.choose(),
            KeyCode::Up => self.step(-1),
            KeyCode::Down => self.step(1),
            KeyCode::Char('p') if ctrl => self.step(-1),
            KeyCode::Char('n') if ctrl => self.step(1),
            KeyCode::Backspace => {
                self.filter.pop();
                self.refilter();
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() => {
                self.filter.push(c);
                self.refilter();
            }
            _ => {}
        }
        PickerOutcome::Stay
    }

    /// Pastes into the field being typed in (newlines become spaces).
    pub fn paste(&mut self, text: &str) {
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if self.editing_task {
            self.task.push_str(&clean);
        } else {
            self.filter.push_str(&clean);
            self.refilter();
        }
    }

    fn choose(&self) -> PickerOutcome {
        match self.chosen() {
            Some(it) => PickerOutcome::Chosen {
                agent: it.agent.clone(),
                task: Some(self.task.trim().to_string()).filter(|t| !t.is_empty()),
            },
            None => PickerOutcome::Stay,
        }
    }

    fn step(&mut self, by: isize) {
        self.selected = wrap(self.selected, by, self.matches.len());
    }
}

/// `selected` moved by `by` in a list of `n`, wrapping around (0 when
/// the list is empty). Shared by the workspace's list modals.
pub fn wrap(selected: usize, by: isize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (selected as isize + by).rem_euclid(n as isize) as usize
}

impl super::App {
    /// The new-agent picker over the workspace's agents.
    pub(super) fn open_picker(&mut self) {
        let items = self.picker_items();
        self.overlay = Some(super::Overlay::Picker(Picker::new(items)));
    }

    /// The picker's rows: the agents, with their running bottles counted.
    pub(super) fn picker_items(&self) -> Vec<PickerItem> {
        self.agents
            .iter()
            .map(|a| PickerItem {
                agent: a.label.clone(),
                label: a.label.clone(),
                repo: a.repo,
                trusted: a.trusted,
                running: self
                    .bottles
                    .iter()
                    .filter(|b| b.status.is_running() && b.agent == a.name)
                    .count(),
                note: a.note.clone(),
            })
            .collect()
    }

    /// A key while the picker is on top.
    pub(super) fn picker_key(&mut self, key: KeyEvent) -> Vec<super::Effect> {
        let Some(super::Overlay::Picker(p)) = &mut self.overlay else {
            return Vec::new();
        };
        match p.key(key) {
            PickerOutcome::Stay => vec![super::Effect::Redraw],
            PickerOutcome::Close => {
                self.overlay = None;
                vec![super::Effect::Redraw]
            }
            PickerOutcome::Chosen { agent, task } => {
                self.overlay = None;
                self.choose_backend(agent, task)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(label: &str) -> PickerItem {
        PickerItem {
            agent: label.to_string(),
            label: label.to_string(),
            repo: false,
            trusted: true,
            running: 0,
            note: None,
        }
    }

    fn press(p: &mut Picker, code: KeyCode) -> PickerOutcome {
        p.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn typing_filters_fuzzily_and_enter_chooses_the_best() {
        let mut p = Picker::new(
            ["claude", "codex", "shell", "reviewer (repo)"]
                .map(item)
                .to_vec(),
        );
        assert_eq!(p.matches.len(), 4);
        for c in "cdx".chars() {
            press(&mut p, KeyCode::Char(c));
        }
        assert_eq!(p.chosen().map(|i| i.label.as_str()), Some("codex"));
        assert_eq!(
            press(&mut p, KeyCode::Enter),
            PickerOutcome::Chosen {
                agent: "codex".into(),
                task: None
            }
        );
        for _ in 0..3 {
            press(&mut p, KeyCode::Backspace);
        }
        for c in "zzz".chars() {
            press(&mut p, KeyCode::Char(c));
        }
        assert!(p.matches.is_empty());
        assert_eq!(press(&mut p, KeyCode::Enter), PickerOutcome::Stay);
    }

    #[test]
    fn arrows_and_ctrl_n_p_wrap_and_esc_clears_then_closes() {
        let mut p = Picker::new(["a1", "a2", "a3"].map(item).to_vec());
        press(&mut p, KeyCode::Up);
        assert_eq!(p.selected, 2);
        p.key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL));
        assert_eq!(p.selected, 0);
        p.key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::CONTROL));
        assert_eq!(p.selected, 2);
        assert!(p.filter.is_empty(), "Ctrl chords are not typed");
        press(&mut p, KeyCode::Char('2'));
        assert_eq!(press(&mut p, KeyCode::Esc), PickerOutcome::Stay);
        assert_eq!((p.filter.as_str(), p.matches.len()), ("", 3));
        assert_eq!(press(&mut p, KeyCode::Esc), PickerOutcome::Close);
    }

    #[test]
    fn tab_types_a_first_task_that_goes_with_the_choice() {
        let mut p = Picker::new(["claude", "shell"].map(item).to_vec());
        press(&mut p, KeyCode::Char('s'));
        press(&mut p, KeyCode::Tab);
        for c in "make test".chars() {
            press(&mut p, KeyCode::Char(c));
        }
        assert_eq!((p.filter.as_str(), p.task.as_str()), ("s", "make test"));
        // Esc leaves the task field; the filter and the task stay.
        assert_eq!(press(&mut p, KeyCode::Esc), PickerOutcome::Stay);
        assert!(!p.editing_task);
        press(&mut p, KeyCode::Tab);
        p.paste("\n and lint");
        assert_eq!(
            press(&mut p, KeyCode::Enter),
            PickerOutcome::Chosen {
                agent: "shell".into(),
                task: Some("make test  and lint".into())
            }
        );
        // A blank task is no task.
        let mut q = Picker::new(["shell"].map(item).to_vec());
        press(&mut q, KeyCode::Tab);
        press(&mut q, KeyCode::Char(' '));
        assert_eq!(
            press(&mut q, KeyCode::Enter),
            PickerOutcome::Chosen {
                agent: "shell".into(),
                task: None
            }
        );
    }
}
