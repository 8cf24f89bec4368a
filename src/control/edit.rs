//! Modify: the operator edits a request's payload in `$VISUAL`/`$EDITOR`
//! (else `vi`) before approving it (SPEC §7). The file lives in a private
//! directory under `$BOTTLE_HOME/tmp` (0700, removed afterwards); editors
//! that read modelines or file-local variables are told not to, since the
//! text came from the agent. An egress request is edited as JSON, a
//! capability as its Dockerfile. The result is checked exactly like the
//! agent's own request; JSON errors carry `file:line:col`.

use crate::queue::{CapabilityAsk, EgressAsk, Payload};
use crate::state::Home;
use anyhow::{bail, Context, Result};

/// The editor command line: `$VISUAL`, else `$EDITOR`, else `vi`, split on
/// whitespace (`code --wait` works).
pub fn editor() -> Vec<String> {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| vec!["vi".into()])
}

/// Arguments placed before the file that keep the editor from running
/// anything the file's text asks for.
pub fn safety_args(program: &str) -> Vec<String> {
    let name = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = name.split('.').next().unwrap_or_default();
    match base {
        "vi" | "vim" | "nvim" | "view" | "gvim" | "rvim" => {
            vec!["--cmd".into(), "set nomodeline".into()]
        }
        "emacs" => vec![
            "--eval".into(),
            "(setq enable-local-variables nil enable-dir-local-variables nil)".into(),
        ],
        _ => Vec::new(),
    }
}

/// The payload as the operator edits it, and the file name it gets.
fn as_text(p: &Payload) -> Result<(&'static str, String)> {
    Ok(match p {
        Payload::Egress(e) => ("request.json", serde_json::to_string_pretty(e)? + "\n"),
        Payload::Capability(c) => ("Dockerfile", c.dockerfile.clone()),
        Payload::Question(_) => bail!("a question is answered, not edited"),
    })
}

/// The edited text back as a payload of the same kind, checked like the
/// agent's; `None` when nothing changed (or a Dockerfile was emptied).
pub fn parse_edited(original: &Payload, file: &str, text: &str) -> Result<Option<Payload>> {
    let (_, before) = as_text(original)?;
    if text == before {
        return Ok(None);
    }
    let edited = match original {
        Payload::Egress(_) => {
            let ask: EgressAsk = serde_json::from_str(text)
                .map_err(|e| anyhow::anyhow!("{file}:{}:{}: {e}", e.line(), e.column()))?;
            Payload::Egress(ask)
        }
        Payload::Capability(c) => {
            if text.trim().is_empty() {
                return Ok(None);
            }
            Payload::Capability(CapabilityAsk {
                summary: c.summary.clone(),
                dockerfile: text.to_string(),
            })
        }
        Payload::Question(_) => bail!("a question is answered, not edited"),
    };
    edited
        .check()
        .with_context(|| format!("{file}: the edited request"))?;
    Ok(Some(edited))
}

/// Opens `p` in the editor on this terminal (the caller has given the
/// terminal up) and returns the edited payload, or `None` when the
/// operator left it unchanged.
pub fn edit(home: &Home, p: &Payload) -> Result<Option<Payload>> {
    let (name, text) = as_text(p)?;
    let parent = home.root.join("tmp");
    crate::state::create_private_dir(&parent)?;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("edit-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&parent)
        .with_context(|| format!("creating a private directory in {}", parent.display()))?;
    let path = dir.path().join(name);
    crate::state::write_atomic(&path, text.as_bytes(), 0o600)?;
    let cmd = editor();
    let (program, args) = cmd.split_first().context("no editor")?;
    let status = std::process::Command::new(program)
        .args(args)
        .args(safety_args(program))
        .arg(&path)
        .status()
        .with_context(|| format!("running the editor `{program}` ($VISUAL / $EDITOR)"))?;
    if !status.success() {
        bail!("the editor `{program}` exited with {status}; nothing was decided");
    }
    let edited = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} back", path.display()))?;
    parse_edited(p, &path.display().to_string(), &edited)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress() -> Payload {
        Payload::Egress(EgressAsk {
            host: "docs.example.test".into(),
            path_prefix: Some("/guide/".into()),
            methods: None,
        })
    }

    #[test]
    fn edited_text_is_checked_like_the_agents() {
        let p = egress();
        let (_, text) = as_text(&p).expect("text");
        assert_eq!(parse_edited(&p, "f", &text).expect("same"), None);
        let narrower = text.replace("/guide/", "/guide/v2/");
        assert_eq!(
            parse_edited(&p, "f", &narrower).expect("edited"),
            Some(Payload::Egress(EgressAsk {
                host: "docs.example.test".into(),
                path_prefix: Some("/guide/v2/".into()),
                methods: None,
            }))
        );
        let broken = text.replace("\"host\"", "host");
        let e = parse_edited(&p, "req.json", &broken).expect_err("bad json");
        assert!(e.to_string().starts_with("req.json:2:"), "{e}");
        let unknown = text.replace("\"host\"", "\"slug\": \"x\", \"host\"");
        assert!(parse_edited(&p, "f", &unknown).is_err());
        let bad_path = text.replace("/guide/", "/../etc");
        assert!(parse_edited(&p, "f", &bad_path).is_err());
    }

    #[test]
    fn editors_are_told_to_ignore_modelines() {
        assert_eq!(
            safety_args("/usr/bin/vim.basic"),
            ["--cmd", "set nomodeline"]
        );
        assert_eq!(safety_args("nvim"), ["--cmd", "set nomodeline"]);
        assert_eq!(safety_args("emacs")[0], "--eval");
        assert!(safety_args("nano").is_empty());
    }
}
