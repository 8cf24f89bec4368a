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

/// The agent image template for a provider template, if this build has it.
pub fn agent_template(template: crate::manifest::Template) -> Option<&'static ImageTemplate> {
    match template {
        crate::manifest::Template::Shell => Some(&SHELL),
        // The Claude Code and Codex images arrive with the real-agents work.
        crate::manifest::Template::Claude | crate::manifest::Template::Codex => None,
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

pub fn agent_tag(t: &ImageTemplate) -> String {
    format!("bottle/agent-{}:{}", t.name, content_hash(t, &[]))
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
        let a = agent_tag(&SHELL);
        assert!(
            a.starts_with("bottle/agent-shell:") && a.len() == "bottle/agent-shell:".len() + 12,
            "{a}"
        );
        assert_eq!(a, agent_tag(&SHELL), "stable");
        assert_ne!(
            sidecar_tag("one"),
            sidecar_tag("two"),
            "the baked-in binary is part of the tag"
        );
    }
}
