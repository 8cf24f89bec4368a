//! The git gate as the workspace sees it: each bottle whose sidecar runs
//! has its decision log followed (`Effect::FollowGate`; the job ends at
//! once for a bottle without a gate); each push the gate decides counts on
//! the sidebar, and a push to the workspace's own repository is brought
//! into the host repository at once (`Effect::FetchPushes`, the same as
//! `bottle fetch`), with what landed in the status bar.

use super::{App, Effect};

/// What the sidebar shows of one bottle's gate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateView {
    /// Pushes the gate let through (upstream or into the workspace
    /// repository) since the workspace started.
    pub pushed: u32,
    /// Pushes it refused.
    pub refused: u32,
    /// Branches that landed in the host repository.
    pub landed: u32,
    /// The last fetch's failure.
    pub error: Option<String>,
}

/// Whether a bottle's gate log is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Follow {
    Following,
    /// The bottle has no gate: nothing to follow.
    NoGate,
}

/// A decision of the gate, from its log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateDecision {
    pub repo: String,
    /// `pushed`, `refused`, `fetch_failed`, …
    pub decision: String,
}

impl App {
    /// After a bottle list: follow the gate of every bottle whose sidecar
    /// runs and is not followed yet; forget bottles that are gone.
    pub(super) fn follow_gates(&mut self) -> Vec<Effect> {
        let running: std::collections::BTreeSet<&str> = self
            .bottles
            .iter()
            .filter(|b| b.sidecar_running)
            .map(|b| b.slug.as_str())
            .collect();
        self.gates_followed
            .retain(|slug, _| running.contains(slug.as_str()));
        self.gates
            .retain(|slug, _| self.bottles.iter().any(|b| &b.slug == slug));
        let mut effects = Vec::new();
        for slug in running {
            if !self.gates_followed.contains_key(slug) {
                self.gates_followed
                    .insert(slug.to_string(), Follow::Following);
                effects.push(Effect::FollowGate(slug.to_string()));
            }
        }
        effects
    }

    /// The gate log of `slug` ended (`gate`: the bottle has a gate): a
    /// later bottle list follows it again while its sidecar runs.
    pub(super) fn gate_stream_ended(&mut self, slug: String, gate: bool) -> Vec<Effect> {
        if gate {
            self.gates_followed.remove(&slug);
        } else {
            self.gates_followed.insert(slug, Follow::NoGate);
        }
        Vec::new()
    }

    pub(super) fn gate_decided(&mut self, slug: String, d: GateDecision) -> Vec<Effect> {
        let view = self.gates.entry(slug.clone()).or_default();
        match d.decision.as_str() {
            "pushed" => view.pushed += 1,
            "refused" => view.refused += 1,
            _ => return Vec::new(),
        }
        let mut effects = vec![Effect::Redraw];
        if d.decision == "refused" {
            self.notice = Some(format!(
                "{slug}: the git gate refused a push to {} (l: its log)",
                crate::sanitize::inline(&d.repo)
            ));
        } else if d.repo == crate::manifest::WORKSPACE_REPO {
            effects.push(Effect::FetchPushes(slug));
        }
        effects
    }

    /// `bottle fetch`'s result for `slug`: the lines of what landed, or
    /// why not.
    pub(super) fn pushes_fetched(
        &mut self,
        slug: String,
        result: Result<Vec<String>, String>,
    ) -> Vec<Effect> {
        let view = self.gates.entry(slug.clone()).or_default();
        match result {
            Ok(lines) => {
                view.landed += lines.len() as u32;
                view.error = None;
                if let Some(first) = lines.first() {
                    let more = match lines.len() {
                        1 => String::new(),
                        n => format!(" (+{} more)", n - 1),
                    };
                    self.notice = Some(format!("{slug}: {first}{more}"));
                }
            }
            Err(e) => {
                self.notice = Some(format!(
                    "{slug}: bringing its push in failed: {}",
                    crate::sanitize::inline(&e)
                ));
                view.error = Some(e);
            }
        }
        vec![Effect::Redraw]
    }
}

#[cfg(test)]
mod tests {
    use crate::app::test_support::with_bottles;

    fn app_with_bottles() -> crate::app::App {
        let mut a = with_bottles();
        for b in a.bottles.iter_mut().take(2) {
            b.sidecar_running = true;
        }
        a
    }
    use crate::app::{AppEvent, Effect};

    fn decision(slug: &str, repo: &str, decision: &str) -> AppEvent {
        AppEvent::GateDecision {
            slug: slug.into(),
            decision: super::GateDecision {
                repo: repo.into(),
                decision: decision.into(),
            },
        }
    }

    #[test]
    fn running_sidecars_are_followed_once_and_a_bottle_without_a_gate_never_again() {
        let mut a = app_with_bottles();
        let fx = a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        let follows: Vec<&Effect> = fx
            .iter()
            .filter(|e| matches!(e, Effect::FollowGate(_)))
            .collect();
        assert!(!follows.is_empty(), "{fx:?}");
        let Effect::FollowGate(slug) = follows[0].clone() else {
            unreachable!()
        };
        let fx = a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        assert!(
            !fx.contains(&Effect::FollowGate(slug.clone())),
            "followed once"
        );
        a.update(AppEvent::GateStream {
            slug: slug.clone(),
            gate: false,
        });
        let fx = a.update(AppEvent::Bottles(Ok(a.bottles.clone())));
        assert!(
            !fx.contains(&Effect::FollowGate(slug.clone())),
            "no gate: not again"
        );
    }

    #[test]
    fn a_push_to_the_workspace_repository_is_fetched_and_counted() {
        let mut a = app_with_bottles();
        let slug = a.bottles[0].slug.clone();
        let fx = a.update(decision(&slug, "workspace", "pushed"));
        assert!(fx.contains(&Effect::FetchPushes(slug.clone())), "{fx:?}");
        let fx = a.update(decision(&slug, "app", "pushed"));
        assert!(
            !fx.contains(&Effect::FetchPushes(slug.clone())),
            "an upstream push is not fetched"
        );
        a.update(decision(&slug, "workspace", "refused"));
        assert!(a.notice.as_deref().unwrap_or("").contains("refused"));
        a.update(AppEvent::PushesFetched {
            slug: slug.clone(),
            result: Ok(vec!["new refs/remotes/bottle/x/bottle/f 0123".into()]),
        });
        let g = &a.gates[&slug];
        assert_eq!((g.pushed, g.refused, g.landed), (2, 1, 1));
        assert!(a
            .notice
            .as_deref()
            .unwrap_or("")
            .contains("refs/remotes/bottle/x/bottle/f"));
    }
}
