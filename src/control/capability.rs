//! Capability requests (SPEC §5.4): the agent proposes a complete
//! Dockerfile for its image. What an approval shows (the lines that bring
//! something in from outside first, then the unified diff against the
//! Dockerfile of the image the agent runs on now) and what it does (the
//! image built with a context holding only that Dockerfile and no
//! network; the agent container recreated on the same volumes with the
//! hardening of §4.8; the session started again).

use crate::queue::CapabilityAsk;
use crate::sanitize::inline;
use crate::state::record::{BottleRecord, CapabilityRecord, AGENT_DOCKERFILE};
use crate::state::Home;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// The image an approved Dockerfile is built as (content-addressed).
pub fn image_tag(dockerfile: &str) -> String {
    let sha = Sha256::digest(dockerfile.as_bytes());
    format!("bottle/agent-capability:{}", &hex::encode(sha)[..12])
}

/// The Dockerfile of the agent's current image, when the bottle has one.
pub fn current_dockerfile(home: &Home, slug: &str) -> Option<String> {
    std::fs::read_to_string(home.state_dir(slug).join(AGENT_DOCKERFILE)).ok()
}

/// Lines that bring something into the image from outside the Dockerfile.
fn brings_in(line: &str) -> bool {
    let t = line.trim_start().to_ascii_uppercase();
    t.starts_with("FROM ")
        || t.starts_with("ADD ")
        || t.starts_with("COPY ")
        || (t.starts_with("RUN ") && t.contains("--MOUNT"))
}

/// What approving `c` for `slug` changes, line by line (agent text
/// sanitized).
pub fn describe(home: &Home, slug: &str, c: &CapabilityAsk) -> Vec<String> {
    let mut out = vec![
        format!("summary: {}", inline(&c.summary)),
        format!(
            "+ image {}, built without network from this Dockerfile alone; the agent container is recreated on the same volumes (uid 1000, no capabilities; the image's USER, ENTRYPOINT, CMD and HEALTHCHECK are not used) and its session restarted",
            image_tag(&c.dockerfile)
        ),
    ];
    let key: Vec<&str> = c.dockerfile.lines().filter(|l| brings_in(l)).collect();
    if !key.is_empty() {
        out.push("brings in:".into());
        out.extend(key.iter().map(|l| format!("! {}", inline(l))));
    }
    let old = current_dockerfile(home, slug);
    out.push(match &old {
        Some(_) => "diff against the Dockerfile of the current image:".into(),
        None => "the current image has no Dockerfile here; every line is new:".into(),
    });
    let old = old.unwrap_or_default();
    let diff = similar::TextDiff::from_lines(old.as_str(), c.dockerfile.as_str());
    let mut changed = false;
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push(inline(&hunk.header().to_string()));
        for change in hunk.iter_changes() {
            let sign = match change.tag() {
                similar::ChangeTag::Delete => {
                    changed = true;
                    '-'
                }
                similar::ChangeTag::Insert => {
                    changed = true;
                    '+'
                }
                similar::ChangeTag::Equal => ' ',
            };
            out.push(format!(
                "{sign} {}",
                inline(change.value().trim_end_matches('\n'))
            ));
        }
    }
    if !changed {
        out.push("(no change: the same Dockerfile)".into());
    }
    out
}

/// Applies an approved capability to `slug`; progress lines go to
/// `progress`. Fails before anything changes when the session's values
/// cannot be given again here (a `?` value) or the build fails.
pub fn apply(
    home: &Home,
    slug: &str,
    c: &CapabilityAsk,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<String> {
    let state_dir = home.state_dir(slug);
    let Some(meta) = BottleRecord::read(&state_dir) else {
        bail!("no bottle `{slug}` in this home (state/{slug}/metadata.json is missing)");
    };
    let env = crate::backends::inventory::restart_env(&meta)
        .map_err(|e| anyhow::anyhow!("the agent is recreated with its session's values: {e}"))?;
    let backend = meta.backend().to_string();
    let bin = std::fs::read(crate::launcher::sidecar_binary()?)
        .context("reading the bottle executable")?;
    let slug_parsed = crate::state::names::Slug::parse(slug)?;
    let image = image_tag(&c.dockerfile);
    let input = crate::backends::Recreate {
        slug: &slug_parsed,
        engine: &backend,
        state_dir: &state_dir,
        dockerfile: c.dockerfile.as_bytes(),
        image: &image,
        bottle_bin: &bin,
        env: &env,
    };
    let started = crate::backends::for_bottle(home, slug).recreate_agent(&input, progress)?;
    if let Some(isolation) = &started {
        isolation.save_into(&state_dir)?;
    }
    let replaced = started.is_some();
    // A replaced container recorded its body and Dockerfile; a stopped
    // bottle gets its Dockerfile here, for the resume.
    if !replaced {
        crate::state::write_atomic(
            &state_dir.join(AGENT_DOCKERFILE),
            c.dockerfile.as_bytes(),
            0o600,
        )?;
    }
    CapabilityRecord {
        image: image.clone(),
        dockerfile_sha256: hex::encode(Sha256::digest(c.dockerfile.as_bytes())),
        summary: c.summary.clone(),
        approved_at: crate::queue::now(),
    }
    .save(&state_dir)?;
    Ok(if replaced {
        format!("{slug}: image {image} built; the agent was recreated on it (volumes kept)")
    } else {
        format!("{slug}: image {image} built; the stopped bottle resumes on it")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_what_comes_in_then_the_diff() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home {
            root: dir.path().to_path_buf(),
        };
        let slug = "dev-aaaaaa";
        std::fs::create_dir_all(home.state_dir(slug)).expect("state");
        std::fs::write(
            home.state_dir(slug).join(AGENT_DOCKERFILE),
            "FROM debian:bookworm-slim\nWORKDIR /workspace\n",
        )
        .expect("write");
        let ask = CapabilityAsk {
            summary: "ripgrep\u{202e}".into(),
            dockerfile: "FROM debian:bookworm-slim\nCOPY --from=tools /rg /usr/bin/rg\nWORKDIR /workspace\nRUN --mount=type=secret,id=x true\n".into(),
        };
        let lines = describe(&home, slug, &ask);
        let text = lines.join("\n");
        assert!(!text.contains('\u{202e}'), "{text}");
        let brings = lines
            .iter()
            .position(|l| l == "brings in:")
            .expect("brings in");
        let diff = lines
            .iter()
            .position(|l| l.starts_with("diff against"))
            .expect("diff");
        assert!(brings < diff, "{text}");
        assert_eq!(
            lines[brings + 1..diff].to_vec(),
            vec![
                "! FROM debian:bookworm-slim",
                "! COPY --from=tools /rg /usr/bin/rg",
                "! RUN --mount=type=secret,id=x true",
            ]
        );
        assert!(
            lines.contains(&"+ COPY --from=tools /rg /usr/bin/rg".to_string()),
            "{text}"
        );
        assert!(
            lines.contains(&"  WORKDIR /workspace".to_string()),
            "{text}"
        );
        assert!(lines[diff + 1].starts_with("@@"), "{text}");
        // Without a current Dockerfile every line is new.
        let other = describe(&home, "dev-bbbbbb", &ask);
        assert!(other.iter().any(|l| l.contains("every line is new")));
        assert!(other.contains(&"+ FROM debian:bookworm-slim".to_string()));
    }
}
