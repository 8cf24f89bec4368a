//! Provider templates (SPEC §5.3): how the agent's CLI is started in its
//! bottle. Claude Code and Codex run with their permission prompts off
//! (the bottle is the boundary), with first-run state seeded so neither
//! stops on an onboarding, trust or bypass-consent dialog, with the
//! supervise MCP server registered once per home volume, and resumed
//! exactly: Claude Code by the session id recorded at the first launch,
//! Codex by the id of the session file it wrote. Everything here is pure:
//! the files go into the home archive, the command into the container.

use crate::backends::plan::{Plan, AGENT_HOME, WORKSPACE_DIR};
use crate::manifest::Template;

/// Where the start script lives in the agent's home.
pub const START_SCRIPT: &str = ".bottle/start.sh";
/// Claude Code's OAuth placeholder: shaped like a real token so the CLI
/// accepts it; the proxy replaces the header on the wire.
pub const CLAUDE_TOKEN_PLACEHOLDER: &str =
    "sk-ant-oat01-bottle-placeholder-the-egress-proxy-injects-the-real-token-AAAAAAAA";
/// Codex's placeholder login (backends::codex_auth), written at every
/// launch; the start script installs it as `~/.codex/auth.json`.
pub const CODEX_AUTH_SEED: &str = "home/agent/.bottle/seed/codex-auth.json";
pub const SUPERVISE_URL: &str = "http://supervise:9100/mcp";

/// A fresh random UUID (v4), for Claude Code's `--session-id`.
pub fn new_session_id() -> String {
    let mut n = ulid::Ulid::new().0;
    n = (n & !(0xf << 76)) | (0x4 << 76);
    n = (n & !(0x3 << 62)) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The agent container's environment that the provider adds (no secret:
/// placeholders only).
pub fn env(p: &crate::manifest::AgentProvider) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    if p.template == Template::Claude {
        env.push((
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
            "1".into(),
        ));
        if p.auth_token.is_some() {
            env.push((
                "CLAUDE_CODE_OAUTH_TOKEN".into(),
                CLAUDE_TOKEN_PLACEHOLDER.into(),
            ));
        }
    }
    env
}

/// `~/.claude.json` as seeded for a new home volume: onboarding done, the
/// bypass mode accepted, the workspace trusted, no auto-update.
pub fn claude_json() -> String {
    let v = serde_json::json!({
        "hasCompletedOnboarding": true,
        "theme": "dark",
        "bypassPermissionsModeAccepted": true,
        "autoUpdates": false,
        "projects": {
            WORKSPACE_DIR: { "hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true },
            AGENT_HOME: { "hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true },
        },
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// `~/.codex/config.toml` as seeded: no update check or usage analytics,
/// the workspace trusted, and the
/// supervise server when the bottle is supervised.
pub fn codex_config(supervise: bool) -> String {
    let mut t = format!(
        "# Written by bottle for a new home volume.\ncheck_for_update_on_startup = false\n\n[analytics]\nenabled = false\n\n[projects.\"{WORKSPACE_DIR}\"]\ntrust_level = \"trusted\"\n"
    );
    if supervise {
        t.push_str(&codex_supervise());
    }
    t
}

fn codex_supervise() -> String {
    format!("\n[mcp_servers.supervise]\nurl = \"{SUPERVISE_URL}\"\n")
}

/// Files the provider puts in the agent's home at every launch: (path
/// under `/`, bytes, mode). Seeds go under `~/.bottle/seed/` and the start
/// script copies them only into a home volume that lacks them, so the
/// CLIs' own later state is never overwritten.
pub fn home_files(plan: &Plan) -> Vec<(String, Vec<u8>, u32)> {
    let home = AGENT_HOME.trim_start_matches('/');
    let mut out = vec![(
        format!("{home}/{START_SCRIPT}"),
        start_script(plan).into_bytes(),
        0o755,
    )];
    match plan.bottle.agent_provider.template {
        Template::Claude => out.push((
            format!("{home}/.bottle/seed/claude.json"),
            claude_json().into_bytes(),
            0o600,
        )),
        Template::Codex => out.push((
            format!("{home}/.bottle/seed/codex-config.toml"),
            codex_config(plan.bottle.supervise).into_bytes(),
            0o600,
        )),
        Template::Shell => {}
    }
    out
}

/// Whether a glob matched: `ls` is no test under gVisor (its `statx`
/// fails there), the shell's own globbing and `[ -e ]` are.
const ANY: &str = r#"any() { for f in "$@"; do [ -e "$f" ] && return 0; done; return 1; }
"#;

const SHELL_START: &str = r#"
if [ -n "${2:-}" ]; then
  if [ -x /bin/bash ]; then /bin/bash -lc "$2"; else /bin/sh -lc "$2"; fi
fi
if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi
"#;

const CLAUDE_START: &str = r#"
sid="$1"; task="${2:-}"
if [ ! -s "$HOME/.claude.json" ]; then
  cp "$HOME/.bottle/seed/claude.json" "$HOME/.claude.json"
fi
@REGISTER@
set --
if [ -s "$HOME/.bottle/prompt.txt" ]; then
  set -- --append-system-prompt-file "$HOME/.bottle/prompt.txt"
fi
if any "$HOME"/.claude/projects/*/"$sid".jsonl; then
  exec claude --dangerously-skip-permissions --resume "$sid" "$@"
fi
if [ -e "$HOME/.bottle/session-started" ]; then
  printf 'bottle: the earlier session %s was not found; starting a fresh one\n' "$sid"
fi
: > "$HOME/.bottle/session-started"
if [ -n "$task" ]; then set -- "$@" "$task"; fi
exec claude --dangerously-skip-permissions --session-id "$sid" "$@"
"#;

const CLAUDE_REGISTER: &str = r#"if [ ! -e "$HOME/.bottle/supervise-registered" ]; then
  if out=$(claude mcp add --scope user --transport http supervise @URL@ 2>&1); then
    : > "$HOME/.bottle/supervise-registered"
  else
    printf 'bottle: warning: the supervise MCP server could not be registered: %s\n' "$out"
  fi
fi"#;

const CODEX_START: &str = r#"
task="${2:-}"
mkdir -p "$HOME/.codex"
if [ ! -s "$HOME/.codex/config.toml" ]; then
  cp "$HOME/.bottle/seed/codex-config.toml" "$HOME/.codex/config.toml"
fi
@REGISTER@
@LOGIN@
if [ -s "$HOME/.bottle/prompt.txt" ] && [ ! -s "$HOME/.codex/AGENTS.md" ]; then
  cp "$HOME/.bottle/prompt.txt" "$HOME/.codex/AGENTS.md"
fi
idfile="$HOME/.bottle/codex-session"
if [ -s "$idfile" ]; then
  id=$(cat "$idfile")
  if any "$HOME"/.codex/sessions/*/*/*/rollout-*"$id".jsonl; then
    exec codex --dangerously-bypass-approvals-and-sandbox resume "$id"
  fi
  printf 'bottle: the earlier session %s was not found; starting a fresh one\n' "$id"
fi
# Record the id of the session this start creates, from its file.
marker="$HOME/.bottle/codex-start"
: > "$marker"
(
  while kill -0 $$ 2>/dev/null; do
    f=$(find "$HOME/.codex/sessions" -name 'rollout-*.jsonl' -newer "$marker" 2>/dev/null | head -n 1)
    if [ -n "$f" ]; then
      n=$(basename "$f" .jsonl)
      printf '%s\n' "$n" | sed -n 's/.*\([0-9a-f]\{8\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{12\}\)$/\1/p' > "$idfile.tmp"
      if [ -s "$idfile.tmp" ]; then mv "$idfile.tmp" "$idfile"; fi
      break
    fi
    sleep 1
  done
) >/dev/null 2>&1 &
if [ -n "$task" ]; then
  exec codex --dangerously-bypass-approvals-and-sandbox "$task"
fi
exec codex --dangerously-bypass-approvals-and-sandbox
"#;

/// The operator's login, as placeholders, replaces the agent's; Codex's
/// runtime databases are reset so no cached state contradicts it.
const CODEX_LOGIN: &str = r#"if [ -s "$HOME/.bottle/seed/codex-auth.json" ]; then
  (umask 077 && cp "$HOME/.bottle/seed/codex-auth.json" "$HOME/.codex/auth.json")
  rm -f "$HOME"/.codex/*.sqlite "$HOME"/.codex/*.sqlite-* "$HOME"/.codex/*.codex-repair-*.bak
fi"#;

const CODEX_REGISTER: &str = r#"if ! grep -q '^\[mcp_servers\.supervise\]' "$HOME/.codex/config.toml" 2>/dev/null; then
  printf '@SECTION@' >> "$HOME/.codex/config.toml" || printf 'bottle: warning: the supervise MCP server could not be registered in ~/.codex/config.toml\n'
fi"#;

/// The start script for this plan's template: `start.sh <session-id>
/// [task]`.
pub fn start_script(plan: &Plan) -> String {
    let supervise = plan.bottle.supervise;
    let body = match plan.bottle.agent_provider.template {
        Template::Shell => SHELL_START.to_string(),
        Template::Claude => CLAUDE_START.replace(
            "@REGISTER@",
            &if supervise {
                CLAUDE_REGISTER.replace("@URL@", SUPERVISE_URL)
            } else {
                String::new()
            },
        ),
        Template::Codex => CODEX_START
            .replace(
                "@REGISTER@",
                &if supervise {
                    CODEX_REGISTER.replace("@SECTION@", &codex_supervise().replace('\n', "\\n"))
                } else {
                    String::new()
                },
            )
            .replace(
                "@LOGIN@",
                if plan.bottle.agent_provider.forward_host_credentials {
                    CODEX_LOGIN
                } else {
                    ""
                },
            ),
    };
    format!(
        "#!/bin/sh\n# Written by bottle at each launch: starts the agent's CLI.\nset -u\n{ANY}{body}"
    )
}

/// The agent's command, run by the session holder: the start script with
/// the session id and an optional first task.
pub fn command(session_id: &str, task: Option<&str>) -> Vec<String> {
    let mut cmd = vec![
        "/bin/sh".to_string(),
        format!("{AGENT_HOME}/{START_SCRIPT}"),
        session_id.to_string(),
    ];
    if let Some(t) = task {
        cmd.push(t.to_string());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_v4_uuids() {
        let a = new_session_id();
        assert_eq!(a.len(), 36, "{a}");
        assert_eq!(&a[14..15], "4", "{a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
        assert_ne!(a, new_session_id());
    }

    #[test]
    fn seeds_accept_the_dialogs_and_trust_the_workspace() {
        let c: serde_json::Value = serde_json::from_str(&claude_json()).expect("json");
        assert_eq!(c["hasCompletedOnboarding"], true);
        assert_eq!(c["bypassPermissionsModeAccepted"], true);
        assert_eq!(c["projects"]["/workspace"]["hasTrustDialogAccepted"], true);
        let t = codex_config(true);
        assert!(t.contains("[projects.\"/workspace\"]\ntrust_level = \"trusted\""));
        assert!(t.contains("[mcp_servers.supervise]\nurl = \"http://supervise:9100/mcp\""));
        assert!(!codex_config(false).contains("mcp_servers"));
    }
}
