//! A bottle's sidecar, as the workspace reads it: its log (the log
//! viewer's source), its git gate's decisions followed from now on, and
//! its pushes to the workspace repository brought into the host repository
//! (`control::fetch`, what `bottle fetch` does). With `effects.rs` and
//! `jobs.rs`, the only workspace file that talks to the engine.

use super::jobs::Jobs;
use crate::app::{AppEvent, GateDecision};
use crate::backends::{self, LogRequest, LogSource};
use crate::state::names::Slug;
use crate::state::Home;

/// The last `lines` lines of `slug`'s sidecar output.
pub fn log_tail(home: &Home, slug: &str, lines: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let request = LogRequest {
        source: LogSource::Sidecar,
        follow: false,
        tail: Some(lines),
    };
    backends::for_bottle(home, slug).logs(&Slug::parse(slug)?, request, &mut |_, chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(out)
}

/// A gate decision in a line of the sidecar's log.
pub fn decision(line: &[u8]) -> Option<GateDecision> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    if v["event"] != "gitgate" {
        return None;
    }
    Some(GateDecision {
        repo: v["repo"].as_str()?.to_string(),
        decision: v["decision"].as_str()?.to_string(),
    })
}

/// Follows `slug`'s gate log until it ends (the sidecar stopped, the
/// workspace quit); a bottle without a gate ends at once.
pub fn follow(jobs: &Jobs, home: Home, slug: String) {
    jobs.spawn("following a git gate", move |job| {
        let parsed = Slug::parse(&slug)?;
        if !backends::gitgate::has_gate(&home.state_dir(&slug)) {
            job.send(AppEvent::GateStream { slug, gate: false });
            return Ok(());
        }
        let mut pending: Vec<u8> = Vec::new();
        let request = LogRequest {
            source: LogSource::Sidecar,
            follow: true,
            tail: Some(0),
        };
        let result = backends::for_bottle(&home, &slug).logs(&parsed, request, &mut |_, chunk| {
            pending.extend_from_slice(chunk);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Some(d) = decision(&line) {
                    let event = AppEvent::GateDecision {
                        slug: slug.clone(),
                        decision: d,
                    };
                    if !job.send(event) {
                        return Err(std::io::Error::other("the workspace is gone"));
                    }
                }
            }
            // A line never ends: keep only a bounded tail.
            if pending.len() > 1 << 20 {
                pending.clear();
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::debug!("following {slug}'s gate: {e}");
        }
        job.send(AppEvent::GateStream { slug, gate: true });
        Ok(())
    });
}

/// Brings `slug`'s pushes into the host repository.
pub fn fetch(jobs: &Jobs, home: Home, slug: String) {
    jobs.spawn("fetching a bottle's pushes", move |job| {
        let result = Slug::parse(&slug)
            .map_err(anyhow::Error::from)
            .and_then(|s| crate::control::fetch::fetch_pushes(&home, &s))
            .map(|landed| landed.iter().map(|l| l.line()).collect())
            .map_err(|e| format!("{e:#}"));
        job.send(AppEvent::PushesFetched { slug, result });
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_gate_decisions_are_read_from_the_log() {
        let d = super::decision(
            br#"{"event":"gitgate","repo":"workspace","decision":"pushed","refs":[]}"#,
        )
        .expect("a decision");
        assert_eq!(
            (d.repo.as_str(), d.decision.as_str()),
            ("workspace", "pushed")
        );
        assert!(super::decision(br#"{"event":"gitgate","listen":"1.2.3.4:9420"}"#).is_none());
        assert!(super::decision(br#"{"event":"allowed","host":"x"}"#).is_none());
        assert!(super::decision(b"not json").is_none());
    }
}
