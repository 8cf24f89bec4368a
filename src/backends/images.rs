//! Image templates embedded in the binary (`images/<name>/`), tagged by the
//! hash of their content so a changed template is rebuilt and an unchanged
//! one never is.

use sha2::{Digest, Sha256};

pub struct ImageTemplate {
    pub name: &'static str,
    /// (path in the build context, bytes)
    pub files: &'static [(&'static str, &'static [u8])],
}

pub const SHELL: ImageTemplate = ImageTemplate {
    name: "shell",
    files: &[(
        "Dockerfile",
        include_bytes!("../../images/shell/Dockerfile"),
    )],
};

pub const SIDECAR: ImageTemplate = ImageTemplate {
    name: "sidecar",
    files: &[(
        "Dockerfile",
        include_bytes!("../../images/sidecar/Dockerfile"),
    )],
};

pub const CLAUDE: ImageTemplate = ImageTemplate {
    name: "claude",
    files: &[(
        "Dockerfile",
        include_bytes!("../../images/claude/Dockerfile"),
    )],
};

pub const CODEX: ImageTemplate = ImageTemplate {
    name: "codex",
    files: &[(
        "Dockerfile",
        include_bytes!("../../images/codex/Dockerfile"),
    )],
};

/// The agent image template for a provider template.
pub fn agent_template(template: crate::manifest::Template) -> Option<&'static ImageTemplate> {
    Some(match template {
        crate::manifest::Template::Shell => &SHELL,
        crate::manifest::Template::Claude => &CLAUDE,
        crate::manifest::Template::Codex => &CODEX,
    })
}

/// Where the agent CLIs come from when their images are built: unset, the
/// pinned releases from the registry (`CLI_SOURCE=registry`); set, an npm
/// prefix where `@anthropic-ai/claude-code` and `@openai/codex` are
/// installed, whose native executables go into the build context
/// (`CLI_SOURCE=context`; tests, and machines without registry access
/// inside builds).
pub const AGENT_CLIS_VAR: &str = "BOTTLE_AGENT_CLIS";

/// The CLI version a template's Dockerfile pins (`ARG <NAME>_VERSION=`),
/// what a registry build installs.
pub fn pinned_version(t: &ImageTemplate) -> Option<String> {
    let (_, dockerfile) = t.files.iter().find(|(n, _)| *n == "Dockerfile")?;
    String::from_utf8_lossy(dockerfile).lines().find_map(|l| {
        let rest = l.strip_prefix("ARG ")?;
        let (name, value) = rest.split_once('=')?;
        (name.ends_with("_VERSION") && name != "CLI_SOURCE").then(|| value.trim().to_string())
    })
}

/// One file of a CLI for the build context: (path under `cli/`, host path,
/// mode).
pub type CliFile = (String, std::path::PathBuf, u32);

/// How a template's CLI gets into its image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliSource {
    /// No CLI (the shell template).
    None,
    Registry,
    /// From an npm prefix on this machine.
    Context {
        version: String,
        files: Vec<CliFile>,
    },
}

impl CliSource {
    /// What makes an image built from this source different (part of its
    /// tag): the version and the files' sizes.
    pub fn identity(&self) -> String {
        match self {
            CliSource::None => String::new(),
            CliSource::Registry => "registry".into(),
            CliSource::Context { version, files } => {
                let sizes: u64 = files
                    .iter()
                    .filter_map(|(_, p, _)| std::fs::symlink_metadata(p).ok())
                    .map(|m| m.len())
                    .sum();
                format!("context:{version}:{}:{sizes}", files.len())
            }
        }
    }

    /// The `CLI_SOURCE` build argument.
    pub fn build_arg(&self) -> Option<&'static str> {
        match self {
            CliSource::None => None,
            CliSource::Registry => Some("registry"),
            CliSource::Context { .. } => Some("context"),
        }
    }
}

fn package_version(dir: &std::path::Path) -> Result<String, String> {
    let path = dir.join("package.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    v["version"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("{}: no version", path.display()))
}

/// Every regular file under `dir`, recursively, as `cli/<prefix>/…`
/// entries (symlinks are not followed).
fn tree(dir: &std::path::Path, prefix: &str, out: &mut Vec<CliFile>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(e.path()).map_err(|err| err.to_string())?;
        let rel = format!("{prefix}/{name}");
        if meta.is_dir() {
            tree(&e.path(), &rel, out)?;
        } else if meta.is_file() {
            out.push((rel, e.path(), meta.permissions().mode() & 0o777));
        }
    }
    Ok(())
}

/// The CLI source of `template`, given `BOTTLE_AGENT_CLIS` (if set).
pub fn cli_source(
    template: crate::manifest::Template,
    prefix: Option<&str>,
) -> Result<CliSource, String> {
    use crate::manifest::Template;
    let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
        return Ok(match template {
            Template::Shell => CliSource::None,
            _ => CliSource::Registry,
        });
    };
    let modules = std::path::Path::new(prefix).join("node_modules");
    let hint = |e: String| {
        format!("{AGENT_CLIS_VAR}={prefix}: {e} (an npm prefix where the agent CLIs are installed, or unset it to install from the registry)")
    };
    match template {
        Template::Shell => Ok(CliSource::None),
        Template::Claude => {
            let version =
                package_version(&modules.join("@anthropic-ai/claude-code")).map_err(hint)?;
            let native = [
                "@anthropic-ai/claude-code-linux-x64/claude",
                "@anthropic-ai/claude-code/bin/claude.exe",
            ]
            .iter()
            .map(|p| modules.join(p))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                hint("no native claude executable under node_modules/@anthropic-ai".into())
            })?;
            Ok(CliSource::Context {
                version,
                files: vec![("claude".into(), native, 0o755)],
            })
        }
        Template::Codex => {
            let version = package_version(&modules.join("@openai/codex")).map_err(hint)?;
            let vendor = modules.join("@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl");
            if !vendor.join("bin/codex").is_file() {
                return Err(hint(format!("no {}", vendor.join("bin/codex").display())));
            }
            let mut files = Vec::new();
            tree(&vendor, "vendor", &mut files).map_err(hint)?;
            Ok(CliSource::Context { version, files })
        }
    }
}

/// `sha256` over the template's files (names and bytes) and any `extra`
/// inputs (such as the hash of the `bottle` executable baked in).
pub fn content_hash(t: &ImageTemplate, extra: &[&str]) -> String {
    let mut h = Sha256::new();
    for (path, bytes) in t.files {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    for e in extra {
        h.update(e.as_bytes());
    }
    hex::encode(&h.finalize()[..6])
}

/// The tag of an agent image: the template's content and where its CLI
/// comes from.
pub fn agent_tag(t: &ImageTemplate, cli: &CliSource) -> String {
    let id = cli.identity();
    let extra: &[&str] = if id.is_empty() { &[] } else { &[&id] };
    format!("bottle/agent-{}:{}", t.name, content_hash(t, extra))
}

pub fn sidecar_tag(binary_sha256: &str) -> String {
    format!(
        "bottle/sidecar:{}",
        content_hash(&SIDECAR, &[binary_sha256])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_content() {
        let a = agent_tag(&SHELL, &CliSource::None);
        assert!(
            a.starts_with("bottle/agent-shell:") && a.len() == "bottle/agent-shell:".len() + 12,
            "{a}"
        );
        assert_eq!(a, agent_tag(&SHELL, &CliSource::None), "stable");
        assert_ne!(
            agent_tag(&CLAUDE, &CliSource::Registry),
            agent_tag(
                &CLAUDE,
                &CliSource::Context {
                    version: "2.1.330".into(),
                    files: vec![]
                }
            ),
            "where the CLI comes from is part of the tag"
        );
        assert_ne!(
            sidecar_tag("one"),
            sidecar_tag("two"),
            "the baked-in binary is part of the tag"
        );
    }

    #[test]
    fn the_pinned_versions_are_read_from_the_dockerfiles() {
        assert_eq!(pinned_version(&CLAUDE).as_deref(), Some("2.1.330"));
        assert_eq!(pinned_version(&CODEX).as_deref(), Some("0.169.0"));
        assert_eq!(pinned_version(&SHELL), None);
    }
}
