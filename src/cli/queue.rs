//! `bottle queue [--json]`, `approve`, `reject`, `answer`: the supervise
//! queue from the command line, deciding through `control` exactly as the
//! workspace does.

use super::definitions::Context;
use crate::control::{self, Intent};
use crate::queue::{self, Payload};
use crate::sanitize::inline;
use anyhow::Result;

pub fn list(ctx: &Context, json: bool) -> Result<i32> {
    let scan = queue::scan(&ctx.home.queue_dir());
    if json {
        let pending: Vec<serde_json::Value> = scan
            .pending
            .iter()
            .map(|r| {
                serde_json::json!({
                    "slug": r.slug,
                    "id": r.id.to_string(),
                    "kind": r.payload.kind().as_str(),
                    "payload": r.payload.to_json(),
                    "reason": r.reason,
                    "created_at": r.created_at,
                    "request_sha256": r.sha256,
                    "claimed": r.claimed,
                    "change": control::describe(&ctx.home, r),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"pending": pending, "invalid": scan.invalid})
        );
        return Ok(0);
    }
    if scan.pending.is_empty() {
        println!("no pending requests");
    }
    for r in &scan.pending {
        let what = match &r.payload {
            Payload::Egress(e) => format!(
                "egress {}{}",
                control::describe::host(&e.host),
                inline(e.path_prefix.as_deref().unwrap_or(""))
            ),
            Payload::Capability(c) => format!("capability: {}", inline(&c.summary)),
            Payload::Question(_) => "question".to_string(),
        };
        // The change first; the agent's words after it, one line each
        // (bounded, sanitized: SPEC §4.7, §4.9).
        println!("{}  {what}", r.key());
        println!("  what approving changes:");
        for line in control::describe(&ctx.home, r) {
            println!("    {}", inline(&line));
        }
        println!("  agent {} says:", inline(&r.slug));
        for line in r.reason.lines() {
            println!("    | {}", inline(line));
        }
    }
    for bad in &scan.invalid {
        println!("{}/{}  INVALID: {}", bad.slug, bad.file, inline(&bad.error));
    }
    Ok(0)
}

pub fn decide(ctx: &Context, id: &str, intent: Intent, note: Option<&str>) -> Result<i32> {
    let scan = queue::scan(&ctx.home.queue_dir());
    let req = control::find(&scan, id)?;
    let done = control::decide_with(
        &ctx.home,
        req,
        intent,
        note.unwrap_or(""),
        "cli",
        &mut |line| eprintln!("bottle: {}", inline(line)),
    )?;
    eprintln!("bottle: {}", done.summary);
    Ok(0)
}
