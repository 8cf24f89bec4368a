//! `$BOTTLE_HOME` layout (SPEC §2): where everything lives, creating it with
//! the right modes, atomic writes, and the repo-agent trust store.

pub mod names;
pub mod record;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Home {
    pub root: PathBuf,
}

impl Home {
    /// `$BOTTLE_HOME`, else `~/.bottle`.
    pub fn from_env() -> Result<Home> {
        if let Some(dir) = std::env::var_os("BOTTLE_HOME").filter(|d| !d.is_empty()) {
            return Ok(Home {
                root: PathBuf::from(dir),
            });
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .context("neither BOTTLE_HOME nor HOME is set")?;
        Ok(Home {
            root: PathBuf::from(home).join(".bottle"),
        })
    }

    pub fn bottles_dir(&self) -> PathBuf {
        self.root.join("bottles")
    }
    pub fn agents_dir(&self) -> PathBuf {
        self.root.join("agents")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn config_file(&self) -> PathBuf {
        self.root.join("config.yaml")
    }
    pub fn trust_file(&self) -> PathBuf {
        self.root.join("trust.json")
    }
    /// `queue/`: one directory per supervised bottle.
    pub fn queue_dir(&self) -> PathBuf {
        self.root.join("queue")
    }

    /// `audit/`: the authoritative decision log (host only).
    pub fn audit_dir(&self) -> PathBuf {
        self.root.join("audit")
    }

    pub fn state_dir(&self, slug: &str) -> PathBuf {
        self.root.join("state").join(slug)
    }

    /// Creates the root (0700) and a subdirectory of it.
    pub fn ensure_dir(&self, sub: &str) -> Result<PathBuf> {
        create_private_dir(&self.root)?;
        let dir = self.root.join(sub);
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// A short, stable hash of the canonical home path: the
    /// `dev.bottle.home` label that keeps homes apart on one engine.
    pub fn label_hash(&self) -> String {
        let canonical = fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
        hex::encode(&digest[..8])
    }
}

pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes through a temp file in the same directory, fsync, rename: a
/// reader sees the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// An exclusive `flock` on a file, held while the guard lives (released
/// by the kernel if the process dies).
pub struct FileLock(fs::File);

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking the descriptor this guard owns.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// Takes the exclusive lock on `path` (created if missing), waiting for
/// another holder to let go.
pub fn lock_file(path: &Path) -> Result<FileLock> {
    use std::os::fd::AsRawFd;
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("locking {}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        anyhow::bail!(
            "locking {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(FileLock(f))
}

/// `trust.json`: repo agents the operator trusted, pinned by canonical path
/// and content hash. Written by the picker's trust prompt.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TrustFile {
    pub version: u32,
    pub trusted: Vec<TrustEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrustEntry {
    pub path: PathBuf,
    pub sha256: String,
}

impl TrustFile {
    /// A missing file is an empty store; a corrupt one is an error (so a
    /// damaged store never silently trusts or forgets).
    pub fn load(path: &Path) -> Result<TrustFile> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: invalid trust store", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TrustFile {
                version: 1,
                trusted: Vec::new(),
            }),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Pins `agent_file` at `sha256` (replacing an older pin of the same
    /// file) and writes the store atomically, 0600.
    pub fn trust(store: &Path, agent_file: &Path, sha256: &str) -> Result<()> {
        let mut t = TrustFile::load(store)?;
        t.version = 1;
        let path = fs::canonicalize(agent_file).unwrap_or_else(|_| agent_file.to_path_buf());
        t.trusted.retain(|e| e.path != path);
        t.trusted.push(TrustEntry {
            path,
            sha256: sha256.to_string(),
        });
        if let Some(dir) = store.parent() {
            create_private_dir(dir)?;
        }
        write_atomic(store, &serde_json::to_vec_pretty(&t)?, 0o600)
    }
}

impl crate::manifest::TrustStore for TrustFile {
    fn is_trusted(&self, path: &Path, sha256: &str) -> bool {
        let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.trusted
            .iter()
            .any(|e| e.path == canonical && e.sha256 == sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusting_pins_the_content_and_replaces_an_older_pin() {
        use crate::manifest::TrustStore;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("home/trust.json");
        let agent = dir.path().join("a.md");
        fs::write(&agent, "x").expect("write");
        TrustFile::trust(&store, &agent, "old").expect("trust");
        TrustFile::trust(&store, &agent, "new").expect("trust");
        let t = TrustFile::load(&store).expect("load");
        assert_eq!(t.trusted.len(), 1);
        assert!(t.is_trusted(&agent, "new") && !t.is_trusted(&agent, "old"));
        let mode = fs::metadata(&store).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.json");
        write_atomic(&p, b"one", 0o600).expect("first");
        write_atomic(&p, b"two", 0o600).expect("second");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        assert_eq!(
            fs::metadata(&p).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn missing_trust_store_is_empty_and_corrupt_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(TrustFile::load(&dir.path().join("trust.json"))
            .expect("missing ok")
            .trusted
            .is_empty());
        fs::write(dir.path().join("bad.json"), "{").expect("write");
        assert!(TrustFile::load(&dir.path().join("bad.json")).is_err());
    }
}
