//! The bottle definition schema (SPEC §3.1): one file → `BottleDef`, with
//! every problem of the file reported.

use super::gitgate::parse_git_gate;
use super::route::parse_egress;
use super::schema::{self, fields, Report};
use super::yaml::{Key, Node, Value};
use super::{AgentProvider, At, BottleDef, EnvValue, EnvVar, Origin, Resources, Template};
use std::path::Path;

const BOTTLE_KEYS: &[&str] = &[
    "extends",
    "env",
    "agent_provider",
    "egress",
    "git-gate",
    "supervise",
    "resources",
];
const BOTTLE_LEGACY: &[(&str, &str)] = &[
    ("runtime", "is no longer supported: gVisor (runsc) is used automatically when the engine offers it; remove the key (override with --runtime or BOTTLE_RUNTIME)"),
    ("ssh", "is no longer supported: declare upstreams under `git-gate.repos` with `url`, `identity` and `host_key`"),
    ("git", "was replaced by `git-gate`: move `git.user` to `git-gate.user` and `git.remotes` to `git-gate.repos` (fields url, identity, host_key)"),
    ("git_user", "is no longer supported: move it under `git-gate.user`"),
    ("pipelock", "is no longer supported: its settings moved onto each route: `tls_passthrough` and `ssrf_ip_allowlist` under `egress.routes`"),
    ("cred_proxy", "is no longer supported: replaced by `egress.routes` with `auth: { scheme, token_ref }`"),
    ("role", "is no longer supported: provider routes now come from `agent_provider` (`auth_token`, `forward_host_credentials`)"),
];
const PROVIDER_KEYS: &[&str] = &[
    "template",
    "dockerfile",
    "image",
    "auth_token",
    "forward_host_credentials",
];

pub(crate) fn parse_bottle(
    r: &mut Report,
    name: &str,
    path: &Path,
    origin: Origin,
    root: &Node,
) -> Option<BottleDef> {
    let f = fields(r, root, "a bottle definition", BOTTLE_KEYS, BOTTLE_LEGACY)?;
    let mut def = BottleDef {
        name: name.to_string(),
        path: path.to_path_buf(),
        origin,
        ..BottleDef::default()
    };
    for (key, node) in f.entries() {
        match key.name.as_str() {
            "extends" => {
                def.extends = schema::non_empty(r, key, node).map(|s| At {
                    value: s.value.trim().to_string(),
                    pos: key.pos,
                })
            }
            "env" => def.env = Some(parse_env(r, node)),
            "agent_provider" => def.agent_provider = parse_provider(r, path, key, node),
            "egress" => def.egress = parse_egress(r, path, node),
            "git-gate" => def.git_gate = parse_git_gate(r, node, true),
            "supervise" => def.supervise = schema::boolean(r, key, node),
            "resources" => def.resources = parse_resources(r, node),
            _ => {}
        }
    }
    Some(def)
}

pub(crate) fn parse_env(r: &mut Report, node: &Node) -> Vec<EnvVar> {
    let mut out = Vec::new();
    let Value::Map(entries) = &node.value else {
        if !matches!(node.value, Value::Null) {
            r.error(
                node.pos,
                format!(
                    "`env` must be a mapping of NAME: \"value\", found {}",
                    node.value.kind()
                ),
            );
        }
        return out;
    };
    for (key, value) in entries {
        if !schema::is_env_name(&key.name) {
            r.error(key.pos, format!("`{}` is not a valid environment variable name (letters, digits, `_`; not starting with a digit)", key.name));
            continue;
        }
        let Value::Str(text) = &value.value else {
            r.error(value.pos, format!("env `{}` must be a string, found {} (quote it, or use \"?message\" to ask at launch)", key.name, value.value.kind()));
            continue;
        };
        let parsed = if let Some(message) = text.strip_prefix('?') {
            EnvValue::Prompt(message.trim().to_string())
        } else if let Some(var) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}')) {
            if !schema::is_env_name(var) {
                r.error(
                    value.pos,
                    format!("`${{{var}}}` does not name a valid host environment variable"),
                );
                continue;
            }
            EnvValue::Host(var.to_string())
        } else if text.contains("${") {
            r.error(value.pos, format!("env `{}`: only a whole-value `${{NAME}}` is copied from the host; partial interpolation is not supported", key.name));
            continue;
        } else {
            EnvValue::Literal(text.clone())
        };
        out.push(EnvVar {
            name: key.name.clone(),
            value: parsed,
            pos: key.pos,
        });
    }
    out
}

fn parse_provider(r: &mut Report, path: &Path, key: &Key, node: &Node) -> Option<AgentProvider> {
    let f = fields(r, node, "`agent_provider`", PROVIDER_KEYS, &[])?;
    let mut p = AgentProvider {
        pos: key.pos,
        path: path.to_path_buf(),
        ..AgentProvider::default()
    };
    if let Some((k, v)) = f.get("template") {
        if let Some(t) = schema::string(r, k, v) {
            match t.value.as_str() {
                "claude" => p.template = Template::Claude,
                "codex" => p.template = Template::Codex,
                "shell" => p.template = Template::Shell,
                other => r.error(
                    t.pos,
                    format!(
                        "unknown template `{other}` (expected claude, codex or shell){}",
                        schema::suggestion(other, ["claude", "codex", "shell"])
                    ),
                ),
            }
        }
    }
    if let Some((k, v)) = f.get("dockerfile") {
        p.dockerfile = schema::non_empty(r, k, v);
    }
    if let Some((k, v)) = f.get("image") {
        p.image = schema::non_empty(r, k, v);
    }
    if let (Some(_), Some((k, _))) = (&p.dockerfile, f.get("image")) {
        r.error(
            k.pos,
            "`image` and `dockerfile` cannot both be set: choose a prebuilt image or a Dockerfile",
        );
    }
    if let Some((k, v)) = f.get("auth_token") {
        if let Some(t) = schema::non_empty(r, k, v) {
            if !schema::is_env_name(&t.value) {
                r.error(t.pos, format!("`auth_token` names a host environment variable, and `{}` is not a valid variable name", t.value));
            } else if p.template != Template::Claude {
                r.error(k.pos, "`auth_token` is only for `template: claude`");
            } else {
                p.auth_token = Some(t);
            }
        }
    }
    if let Some((k, v)) = f.get("forward_host_credentials") {
        p.forward_host_credentials = schema::boolean(r, k, v).unwrap_or(false);
        if p.forward_host_credentials && p.template != Template::Codex {
            r.error(
                k.pos,
                "`forward_host_credentials` is only for `template: codex`",
            );
            p.forward_host_credentials = false;
        }
    }
    Some(p)
}

fn parse_resources(r: &mut Report, node: &Node) -> Option<Resources> {
    let f = fields(r, node, "`resources`", &["memory", "cpus", "pids"], &[])?;
    let mut res = Resources::default();
    if let Some((_, v)) = f.get("memory") {
        let text = match &v.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        };
        match text.as_deref().map(parse_memory) {
            Some(Ok(bytes)) => {
                res.memory = Some(At {
                    value: bytes,
                    pos: v.pos,
                })
            }
            Some(Err(e)) => r.error(v.pos, e),
            None => r.error(
                v.pos,
                format!(
                    "`memory` must be a size like \"4g\" or \"512m\", found {}",
                    v.value.kind()
                ),
            ),
        }
    }
    if let Some((_, v)) = f.get("cpus") {
        let n = match v.value {
            Value::Int(i) => Some(i as f64),
            Value::Float(x) => Some(x),
            _ => None,
        };
        match n {
            Some(x) if x > 0.0 && x <= 1024.0 => {
                res.cpus = Some(At {
                    value: x,
                    pos: v.pos,
                })
            }
            _ => r.error(
                v.pos,
                "`cpus` must be a number greater than 0 (like 2 or 0.5)",
            ),
        }
    }
    if let Some((_, v)) = f.get("pids") {
        match v.value {
            Value::Int(i) if (16..=4_194_304).contains(&i) => {
                res.pids = Some(At {
                    value: i as u32,
                    pos: v.pos,
                })
            }
            _ => r.error(v.pos, "`pids` must be a whole number from 16 to 4194304"),
        }
    }
    Some(res)
}

/// `4g`, `512m`, `1024k`, `2gb`, `1GiB` or plain bytes; at least 6 MiB
/// (the engine's minimum).
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`memory` must be a size like \"4g\" or \"512m\", found `{text}`"))?;
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => {
            return Err(format!(
                "`memory` has an unknown unit in `{text}` (use k, m, g or t)"
            ))
        }
    };
    let bytes = n
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`memory` `{text}` is too large"))?;
    if bytes < 6 << 20 {
        return Err(format!("`memory` `{text}` is below the 6m minimum"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::parse_memory;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("4g"), Ok(4 << 30));
        assert_eq!(parse_memory("512m"), Ok(512 << 20));
        assert_eq!(parse_memory("2GiB"), Ok(2 << 30));
        assert_eq!(parse_memory("8388608"), Ok(8 << 20));
        assert!(parse_memory("4x").is_err());
        assert!(parse_memory("1k").is_err());
        assert!(parse_memory("99999999999999t").is_err());
    }
}
