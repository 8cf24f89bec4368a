//! The new-agent flow after the picker, as modal layers: a masked prompt
//! per `?` value, then the preflight (scrollable; `y` launches, and trusts a
//! repo agent it names; anything else cancels). Pure state; the loop
//! prepares and launches (`launcher`), `ui/launch.rs` draws.

use crate::secret::Secret;
use crossterm::event::{KeyCode, KeyEvent};
use std::path::PathBuf;

/// A repo agent the operator trusts by launching it: pinned in trust.json.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustPin {
    pub path: PathBuf,
    pub sha256: String,
}

/// A prepared launch, as the loop reports it (the plan stays with the loop
/// under `ticket`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedInfo {
    pub ticket: u64,
    pub slug: String,
    pub agent: String,
    pub preflight: String,
    /// `?` values to ask: (name, message).
    pub prompts: Vec<(String, String)>,
    pub trust: Option<TrustPin>,
    /// Bringing back a stopped bottle (same slug and volumes).
    pub resume: bool,
}

/// Where the operator is in a launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchFlow {
    pub info: PreparedInfo,
    pub answers: Vec<(String, Secret)>,
    /// The value being typed for `info.prompts[answers.len()]`.
    pub typing: Secret,
    /// Preflight scroll (lines).
    pub scroll: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowOutcome {
    Stay,
    Cancel,
    Launch,
}

impl LaunchFlow {
    pub fn new(info: PreparedInfo) -> LaunchFlow {
        LaunchFlow {
            info,
            answers: Vec::new(),
            typing: Secret::new(""),
            scroll: 0,
        }
    }

    /// The prompt being answered, if any are left.
    pub fn asking(&self) -> Option<&(String, String)> {
        self.info.prompts.get(self.answers.len())
    }

    pub fn key(&mut self, key: KeyEvent) -> FlowOutcome {
        if let Some((name, _)) = self.asking().cloned() {
            match key.code {
                KeyCode::Esc => return FlowOutcome::Cancel,
                KeyCode::Enter => {
                    let value = std::mem::replace(&mut self.typing, Secret::new(""));
                    self.answers.push((name, value));
                }
                KeyCode::Backspace => {
                    let mut v = self.typing.expose().to_string();
                    v.pop();
                    self.typing = Secret::new(v);
                }
                KeyCode::Char(c) if !c.is_control() => {
                    self.typing = Secret::new(format!("{}{c}", self.typing.expose()));
                }
                _ => {}
            }
            return FlowOutcome::Stay;
        }
        match key.code {
            KeyCode::Char('y' | 'Y') => FlowOutcome::Launch,
            KeyCode::Up | KeyCode::Char('k') => {
                self.scroll = self.scroll.saturating_sub(1);
                FlowOutcome::Stay
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.scroll = self.scroll.saturating_add(1);
                FlowOutcome::Stay
            }
            KeyCode::PageUp => {
                self.scroll = self.scroll.saturating_sub(10);
                FlowOutcome::Stay
            }
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.scroll = self.scroll.saturating_add(10);
                FlowOutcome::Stay
            }
            // No: anything else cancels (the default is not to launch).
            _ => FlowOutcome::Cancel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn info(prompts: &[&str]) -> PreparedInfo {
        PreparedInfo {
            ticket: 1,
            slug: "dev-abcdef".into(),
            agent: "dev".into(),
            preflight: "plan".into(),
            prompts: prompts
                .iter()
                .map(|n| (n.to_string(), format!("your {n}")))
                .collect(),
            trust: None,
            resume: false,
        }
    }

    fn press(f: &mut LaunchFlow, code: KeyCode) -> FlowOutcome {
        f.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn each_prompt_is_answered_masked_then_y_launches() {
        let mut f = LaunchFlow::new(info(&["TOKEN", "REGION"]));
        for c in "s3cret!".chars() {
            press(&mut f, KeyCode::Char(c));
        }
        press(&mut f, KeyCode::Backspace);
        assert!(!format!("{f:?}").contains("s3cret"), "never in Debug");
        press(&mut f, KeyCode::Enter);
        assert_eq!(f.asking().map(|(n, _)| n.as_str()), Some("REGION"));
        // `y` while a prompt is open is part of the value, not a yes.
        assert_eq!(press(&mut f, KeyCode::Char('y')), FlowOutcome::Stay);
        press(&mut f, KeyCode::Enter);
        assert_eq!(f.asking(), None);
        assert_eq!(
            f.answers
                .iter()
                .map(|(n, v)| (n.as_str(), v.expose()))
                .collect::<Vec<_>>(),
            vec![("TOKEN", "s3cret"), ("REGION", "y")]
        );
        press(&mut f, KeyCode::Down);
        assert_eq!(f.scroll, 1);
        assert_eq!(press(&mut f, KeyCode::Char('y')), FlowOutcome::Launch);
    }

    #[test]
    fn esc_cancels_a_prompt_and_anything_but_y_cancels_the_preflight() {
        let mut f = LaunchFlow::new(info(&["TOKEN"]));
        assert_eq!(press(&mut f, KeyCode::Esc), FlowOutcome::Cancel);
        let mut f = LaunchFlow::new(info(&[]));
        assert_eq!(press(&mut f, KeyCode::Enter), FlowOutcome::Cancel);
        let mut f = LaunchFlow::new(info(&[]));
        assert_eq!(press(&mut f, KeyCode::Char('n')), FlowOutcome::Cancel);
    }
}
