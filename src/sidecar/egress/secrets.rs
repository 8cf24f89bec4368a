//! The sidecar's secrets tmpfs: written by `bottle sidecar-secrets` from
//! a JSON object on stdin, read by the proxy (credentials to inject, DLP
//! canaries, the operator's upstream proxy).

/// The secrets entry naming the operator's upstream proxy (`http://[user:
/// pass@]host:port`), when there is one.
pub const UPSTREAM_PROXY: &str = "upstream-proxy";

/// (name, value) of every file in the secrets directory.
pub(crate) fn read_secrets(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    // Hidden temp files; of the proxy URL only its password.
                    if name.starts_with('.') {
                        return None;
                    }
                    let value = std::fs::read_to_string(e.path()).ok()?;
                    if name == UPSTREAM_PROXY {
                        return proxy_password(value.trim()).map(|p| (name, p));
                    }
                    Some((name, value.trim().to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The password in an `http://user:password@host:port` proxy URL.
fn proxy_password(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (userinfo, _) = rest.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(crate::policy::dlp::percent_decode_str(password))
}

/// Writes secret values handed over on stdin (a JSON object of name →
/// value) into the secrets directory: 0600 files in a 0700 directory, each
/// by temp file + rename. Run inside the sidecar by `docker exec`.
pub fn put_secrets(dir: &std::path::Path, json: &str) -> anyhow::Result<usize> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let values: std::collections::BTreeMap<String, String> =
        serde_json::from_str(json).map_err(|e| anyhow::anyhow!("secrets on stdin: {e}"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    for (name, value) in &values {
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !plain {
            anyhow::bail!("secret name `{name}` is not a plain file name");
        }
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(value.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
    }
    Ok(values.len())
}
