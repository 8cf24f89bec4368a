//! Provisioning by archive upload before the agent starts (SPEC §5.1): the
//! uid 1000 passwd/group entries, the home layout, the CA bundle
//! placeholder, the prompt, git config, skills and the workspace copy.

use crate::backends::plan::Plan;
use crate::backends::workspace_copy::{self, CopyList, EntryKind};
use std::path::Path;

pub const AGENT_UID: u64 = 1000;
pub const AGENT_GID: u64 = 1000;

/// Adds the agent's passwd and group entries unless uid/gid 1000 exist.
pub fn with_agent_user(passwd: &str, group: &str) -> (String, String) {
    let has = |text: &str, id: &str| text.lines().any(|l| l.split(':').nth(2) == Some(id));
    let mut p = passwd.to_string();
    if !has(passwd, "1000") {
        if !p.is_empty() && !p.ends_with('\n') {
            p.push('\n');
        }
        p.push_str("agent:x:1000:1000:bottle agent:/home/agent:/bin/sh\n");
    }
    let mut g = group.to_string();
    if !has(group, "1000") {
        if !g.is_empty() && !g.ends_with('\n') {
            g.push('\n');
        }
        g.push_str("agent:x:1000:\n");
    }
    (p, g)
}

/// Builds tar archives with explicit owners and modes.
pub struct Archive {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Archive {
    fn default() -> Self {
        Archive {
            builder: tar::Builder::new(Vec::new()),
        }
    }
}

impl Archive {
    fn header(kind: tar::EntryType, size: u64, mode: u32, uid: u64, gid: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(0);
        h.set_cksum();
        h
    }
    pub fn dir(&mut self, path: &str, mode: u32, uid: u64, gid: u64) -> std::io::Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, 0, mode, uid, gid);
        self.builder.append_data(&mut h, path, std::io::empty())
    }
    pub fn file(
        &mut self,
        path: &str,
        bytes: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> std::io::Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, bytes.len() as u64, mode, uid, gid);
        self.builder.append_data(&mut h, path, bytes)
    }
    /// Appends a file from disk, read through a handle opened without
    /// following symlinks (a file swapped for a link after the scan is
    /// refused, not followed).
    pub fn host_file(
        &mut self,
        path: &str,
        source: &Path,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(source)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other(format!(
                "{} is no longer a regular file",
                source.display()
            )));
        }
        let mut h = Self::header(tar::EntryType::Regular, meta.len(), mode, uid, gid);
        self.builder
            .append_data(&mut h, path, std::io::Read::take(file, meta.len()))
    }
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        self.builder.into_inner()
    }
}

/// Files under `/` of the agent container: passwd, group.
pub fn system_archive(passwd: &str, group: &str, holder: &[u8]) -> std::io::Result<Vec<u8>> {
    let (p, g) = with_agent_user(passwd, group);
    let mut a = Archive::default();
    a.file("etc/passwd", p.as_bytes(), 0o644, 0, 0)?;
    a.file("etc/group", g.as_bytes(), 0o644, 0, 0)?;
    // The session holder (spec::HOLDER_BIN), root-owned, not writable by
    // the agent.
    a.dir("opt/bottle", 0o755, 0, 0)?;
    a.file("opt/bottle/bottle", holder, 0o755, 0, 0)?;
    a.finish()
}

fn git_config(plan: &Plan) -> String {
    let mut cfg = String::new();
    let u = &plan.git_user;
    if u.name.is_some() || u.email.is_some() {
        cfg.push_str("[user]\n");
        if let Some(n) = &u.name {
            cfg.push_str(&format!("\tname = {}\n", n.replace(['\n', '"', '\\'], "")));
        }
        if let Some(e) = &u.email {
            cfg.push_str(&format!("\temail = {}\n", e.replace(['\n', '"', '\\'], "")));
        }
    }
    cfg.push_str("[safe]\n\tdirectory = /workspace\n");
    // The git gate's `insteadOf` rules and the workspace's `origin`.
    cfg.push_str(&format!(
        "[include]\n\tpath = /{}\n",
        crate::backends::gitgate::AGENT_CONFIG
    ));
    cfg
}

/// The home volume's layout, uploaded to `/` so the entries `home/agent/`
/// and `workspace/` set the owners of the volumes' roots (an upload into the mount point
/// itself leaves it root-owned).
pub fn home_archive(
    plan: &Plan,
    skills: &[(String, CopyList)],
    ca_bundle: &[u8],
    extra: &[(String, Vec<u8>, u32)],
) -> std::io::Result<Vec<u8>> {
    let (u, g) = (AGENT_UID, AGENT_GID);
    let mut a = Archive::default();
    a.dir("home/agent", 0o755, u, g)?;
    a.dir("home/agent/.bottle", 0o700, u, g)?;
    // The work volume's root is the agent's even when nothing is copied
    // into it (`--no-workspace`).
    a.dir("workspace", 0o755, u, g)?;
    // The combined bundle: system roots and the bottle's CA.
    a.file("home/agent/.bottle/ca-bundle.pem", ca_bundle, 0o644, u, g)?;
    a.file(
        "home/agent/.bottle/prompt.txt",
        plan.agent.def.prompt.as_bytes(),
        0o600,
        u,
        g,
    )?;
    a.file(
        "home/agent/.gitconfig",
        git_config(plan).as_bytes(),
        0o644,
        u,
        g,
    )?;
    // The provider's start script and first-run seeds.
    a.dir("home/agent/.bottle/seed", 0o700, u, g)?;
    for (path, bytes, mode) in crate::backends::provider::home_files(plan) {
        a.file(&path, &bytes, mode, u, g)?;
    }
    for (path, bytes, mode) in extra {
        a.file(path, bytes, *mode, u, g)?;
    }
    if !skills.is_empty() {
        a.dir("home/agent/.claude", 0o755, u, g)?;
        a.dir("home/agent/.claude/skills", 0o755, u, g)?;
    }
    for (name, list) in skills {
        let base = format!("home/agent/.claude/skills/{name}");
        a.dir(&base, 0o755, u, g)?;
        append_list(&mut a, &base, list)?;
    }
    a.finish()
}

fn append_list(a: &mut Archive, base: &str, list: &CopyList) -> std::io::Result<()> {
    for e in &list.entries {
        let target = format!("{base}/{}", e.path);
        match e.kind {
            EntryKind::Dir => a.dir(&target, 0o755, AGENT_UID, AGENT_GID)?,
            EntryKind::File { executable, .. } => {
                let source = list.root.join(&e.path);
                let mode = if executable { 0o755 } else { 0o644 };
                if workspace_copy::is_git_config(&e.path) {
                    let text = std::fs::read_to_string(&source)?;
                    a.file(
                        &target,
                        workspace_copy::sanitize_git_config(&text).as_bytes(),
                        mode,
                        AGENT_UID,
                        AGENT_GID,
                    )?;
                } else {
                    a.host_file(&target, &source, mode, AGENT_UID, AGENT_GID)?;
                }
            }
        }
    }
    Ok(())
}

/// The workspace copy, uploaded to `/` as `workspace/…`, owned by the agent.
pub fn workspace_archive(list: &CopyList) -> std::io::Result<Vec<u8>> {
    let mut a = Archive::default();
    a.dir("workspace", 0o755, AGENT_UID, AGENT_GID)?;
    append_list(&mut a, "workspace", list)?;
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_user_is_added_once() {
        let (p, g) = with_agent_user("root:x:0:0::/root:/bin/sh", "root:x:0:\n");
        assert!(
            p.ends_with("agent:x:1000:1000:bottle agent:/home/agent:/bin/sh\n")
                && p.starts_with("root:x:0:0::/root:/bin/sh\n")
        );
        assert!(g.ends_with("agent:x:1000:\n"));
        let (p2, g2) = with_agent_user(&p, &g);
        assert_eq!((p2, g2), (p, g));
        let (node, _) = with_agent_user("node:x:1000:1000::/home/node:/bin/sh\n", "");
        assert_eq!(
            node, "node:x:1000:1000::/home/node:/bin/sh\n",
            "an image's own uid 1000 is kept"
        );
    }
}
