//! The agent definition schema (SPEC §3.2). The body is the system prompt.

use super::gitgate::parse_git_gate;
use super::schema::{self, fields, Report};
use super::yaml::Node;
use super::{AgentDef, At, Origin};
use std::path::Path;

const AGENT_KEYS: &[&str] = &[
    "bottle",
    "skills",
    "git-gate",
    "copy_workspace",
    // Accepted and ignored, so one file can also be a Claude Code subagent.
    "name",
    "description",
    "model",
    "color",
    "memory",
    "tools",
];
const AGENT_LEGACY: &[(&str, &str)] = &[(
    "prompt",
    "is not a frontmatter key: the Markdown body after the `---` line is the prompt",
)];

pub(crate) struct AgentInput<'a> {
    pub name: &'a str,
    pub path: &'a Path,
    pub origin: Origin,
    pub body: &'a str,
    pub sha256: String,
}

pub(crate) fn parse_agent(r: &mut Report, input: AgentInput, root: &Node) -> Option<AgentDef> {
    let f = fields(r, root, "an agent definition", AGENT_KEYS, AGENT_LEGACY)?;
    let bottle = match f.get("bottle") {
        Some((k, v)) => schema::non_empty(r, k, v).map(|s| At {
            value: s.value.trim().to_string(),
            pos: k.pos,
        }),
        None => {
            r.error(
                root.pos,
                "missing `bottle:` (the name of a bottle in $BOTTLE_HOME/bottles/)",
            );
            None
        }
    };
    let mut skills = Vec::new();
    if let Some((k, v)) = f.get("skills") {
        for s in schema::string_list(r, k, v).unwrap_or_default() {
            if schema::is_plain_name(&s.value) {
                skills.push(s);
            } else {
                r.error(s.pos, format!("skill `{}` must be a directory name under ~/.claude/skills/ ([A-Za-z0-9._-]+, not . or ..)", s.value));
            }
        }
    }
    let git_user = f
        .get("git-gate")
        .and_then(|(_, v)| parse_git_gate(r, v, false))
        .and_then(|g| g.user);
    let copy_workspace = f
        .get("copy_workspace")
        .map_or(Some(true), |(k, v)| schema::boolean(r, k, v));
    Some(AgentDef {
        name: input.name.to_string(),
        path: input.path.to_path_buf(),
        origin: input.origin,
        bottle: bottle?,
        skills,
        git_user,
        copy_workspace: copy_workspace.unwrap_or(true),
        prompt: input.body.trim().to_string(),
        sha256: input.sha256,
    })
}
