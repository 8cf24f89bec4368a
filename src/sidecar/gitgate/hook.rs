//! The gate's `pre-receive` hook (`bottle sidecar-gitgate-hook`, run by
//! `git receive-pack` with the pushed objects still in quarantine):
//! refuses ref deletion, non-fast-forward updates and refs outside
//! `push_branches`; scans what the push adds (`scan.rs`) with the DLP rules
//! and the bottle's own values; then pushes the accepted refs to the
//! upstream with the bottle's key, and refuses if the upstream does. Its
//! stderr is what the agent's `git push` prints (`remote: …`); its
//! decision goes to the report file the server prints on its log.

use super::scan::{self, Finding};
use super::upstream::{self, Paths};
use crate::policy::gitgate::{ref_allowed, GateFile, GateRepo, FILE_NAME};
use std::ffi::OsString;
use std::io::Write;

/// Environment variables the server sets for the hook.
pub const ENV_REPO: &str = "BOTTLE_GATE_REPO";
pub const ENV_ROOT: &str = "BOTTLE_GATE_ROOT";
pub const ENV_CONFIG: &str = "BOTTLE_GATE_CONFIG";
pub const ENV_SECRETS: &str = "BOTTLE_GATE_SECRETS";
pub const ENV_SCRATCH: &str = "BOTTLE_GATE_SCRATCH";
pub const ENV_REPORT: &str = "BOTTLE_GATE_REPORT";

/// Findings listed to the agent at most.
const MAX_FINDINGS: usize = 20;

/// Tags of tags followed at most (deeper is refused, not skipped).
const MAX_TAG_DEPTH: usize = 64;

/// One ref update as receive-pack hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub old: String,
    pub new: String,
    pub name: String,
}

fn is_zero(id: &str) -> bool {
    id.bytes().all(|b| b == b'0')
}

/// `<old> <new> <ref>` lines.
pub fn parse_updates(input: &str) -> Result<Vec<Update>, String> {
    input
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut f = l.split(' ');
            let (Some(old), Some(new), Some(name), None) = (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(format!(
                    "unexpected update line `{}`",
                    crate::sanitize::inline(l)
                ));
            };
            let hex = |s: &str| {
                (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
            };
            if !hex(old) || !hex(new) {
                return Err(format!(
                    "unexpected object ids in `{}`",
                    crate::sanitize::inline(l)
                ));
            }
            Ok(Update {
                old: old.into(),
                new: new.into(),
                name: name.into(),
            })
        })
        .collect()
}

/// Refusals that need no object: deletion and refs outside the patterns.
pub fn ref_refusals(repo: &GateRepo, updates: &[Update]) -> Vec<String> {
    let mut out = Vec::new();
    for u in updates {
        let name = crate::sanitize::inline(&u.name);
        if is_zero(&u.new) {
            out.push(format!(
                "{name}: deleting a ref is not allowed through the git gate"
            ));
        } else if !ref_allowed(&repo.push_branches, &u.name) {
            out.push(format!(
                "{name}: outside this repository's push_branches ({}); push to a branch such as {}",
                repo.push_branches.join(", "),
                example(&repo.push_branches)
            ));
        }
    }
    out
}

fn example(patterns: &[String]) -> String {
    patterns
        .first()
        .map(|p| p.replace("**", "work").replace('*', "work"))
        .unwrap_or_else(|| "bottle/work".into())
}

/// What the hook decided, for the report.
#[derive(serde::Serialize)]
struct Report<'a> {
    event: &'static str,
    repo: &'a str,
    decision: &'a str,
    refs: Vec<serde_json::Value>,
    reasons: &'a [String],
    /// Milliseconds: the whole hook, its scan, its push upstream.
    duration_ms: u128,
    scan_ms: u128,
    upstream_ms: u128,
}

/// Where the hook's time went, for the report.
#[derive(Default)]
struct Timing {
    scan_ms: u128,
    upstream_ms: u128,
}

/// Runs the hook: `stdin` as receive-pack gives it; messages to `err`;
/// the exit status.
pub fn run(stdin: &str, err: &mut dyn Write) -> i32 {
    let started = std::time::Instant::now();
    let mut timing = Timing::default();
    let var = |k: &str| std::env::var_os(k).unwrap_or_default();
    let paths = Paths {
        root: var(ENV_ROOT).into(),
        config_dir: var(ENV_CONFIG).into(),
        secrets_dir: var(ENV_SECRETS).into(),
        scratch: var(ENV_SCRATCH).into(),
    };
    let name = var(ENV_REPO).to_string_lossy().into_owned();
    let report_path = std::path::PathBuf::from(var(ENV_REPORT));
    let repo = std::fs::read_to_string(paths.config_dir.join(FILE_NAME))
        .ok()
        .and_then(|t| serde_json::from_str::<GateFile>(&t).ok())
        .and_then(|f| f.repos.into_iter().find(|r| r.name == name));
    let Some(repo) = repo else {
        let _ = writeln!(
            err,
            "bottle git gate: `{}` is not a repository of this bottle",
            crate::sanitize::inline(&name)
        );
        return 1;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "bottle git gate: {e}");
            return 1;
        }
    };
    let (updates, outcome) = match parse_updates(stdin) {
        Ok(u) => {
            let outcome = runtime.block_on(decide(&repo, &paths, &u, &mut timing));
            (u, outcome)
        }
        Err(e) => (vec![], Err(vec![e])),
    };
    let (decision, reasons) = match &outcome {
        Ok(()) => ("pushed", vec![]),
        Err(r) => ("refused", r.clone()),
    };
    if let Err(reasons) = &outcome {
        let _ = writeln!(err, "bottle git gate: push refused");
        for r in reasons {
            for line in r.lines() {
                let _ = writeln!(err, "  {line}");
            }
        }
    } else if repo.upstream.is_some() {
        let _ = writeln!(err, "bottle git gate: scanned and pushed upstream");
    } else {
        let _ = writeln!(
            err,
            "bottle git gate: scanned; the operator brings it in with `bottle fetch`"
        );
    }
    // The log names rules, never values: a ref name or a reason (a file
    // name) the scanner finds a value in is withheld from it.
    let secrets = crate::sidecar::egress::secrets::read_secrets(&paths.secrets_dir);
    let scanner = crate::policy::dlp::Scanner::new(&secrets, &[]);
    let withhold = |text: &str| match scanner.scan(text.as_bytes()) {
        Some(h) => format!("(withheld: holds a value the {} rule finds)", h.rule),
        None => text.to_string(),
    };
    let logged: Vec<String> = reasons
        .iter()
        .map(|r| r.lines().map(withhold).collect::<Vec<_>>().join("\n"))
        .collect();
    let report = Report {
        event: "gitgate",
        repo: &repo.name,
        decision,
        refs: updates
            .iter()
            .map(|u| serde_json::json!({"ref": withhold(&crate::sanitize::inline(&u.name)), "old": u.old, "new": u.new}))
            .collect(),
        reasons: &logged,
        duration_ms: started.elapsed().as_millis(),
        scan_ms: timing.scan_ms,
        upstream_ms: timing.upstream_ms,
    };
    if let Ok(line) = serde_json::to_string(&report) {
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&report_path)
            .and_then(|mut f| writeln!(f, "{line}"));
    }
    i32::from(outcome.is_err())
}

/// The quarantine environment receive-pack gave the hook, for the hook's
/// own git processes.
fn quarantine_env() -> Vec<(OsString, OsString)> {
    [
        "GIT_DIR",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_QUARANTINE_PATH",
    ]
    .iter()
    .filter_map(|k| std::env::var_os(k).map(|v| (OsString::from(k), v)))
    .collect()
}

async fn decide(
    repo: &GateRepo,
    paths: &Paths,
    updates: &[Update],
    timing: &mut Timing,
) -> Result<(), Vec<String>> {
    let refusals = ref_refusals(repo, updates);
    if !refusals.is_empty() {
        return Err(refusals);
    }
    // A ref's name goes upstream too.
    let secrets = crate::sidecar::egress::secrets::read_secrets(&paths.secrets_dir);
    let scanner = crate::policy::dlp::Scanner::new(&secrets, &[]);
    let named: Vec<String> = updates
        .iter()
        .filter_map(|u| scanner.scan(u.name.as_bytes()))
        .map(|h| format!("a pushed ref's name: {} (rename the branch)", h.rule))
        .collect();
    if !named.is_empty() {
        return Err(named);
    }
    let env = quarantine_env();
    let git = |args: Vec<String>| {
        let env = env.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            upstream::git(paths, &env, &args, upstream::UPSTREAM_TIMEOUT).await
        }
    };
    // Types and fast-forwards. Whatever a ref names must come down to a
    // commit: a tag of a tree or a blob would carry content `git log`
    // never shows (it skips them) past the scan.
    let mut refusals = Vec::new();
    for u in updates {
        let name = crate::sanitize::inline(&u.name);
        let kind_of = |rev: String| async {
            git(vec!["cat-file".into(), "-t".into(), rev])
                .await
                .map(|o| String::from_utf8_lossy(&o).trim().to_string())
                .unwrap_or_default()
        };
        let kind = kind_of(u.new.clone()).await;
        let branch = u.name.starts_with("refs/heads/");
        if kind != "commit" && (branch || kind != "tag") {
            refusals.push(format!("{name}: points at a {kind}, not a commit"));
            continue;
        }
        if kind == "tag" {
            let peeled = kind_of(format!("{}^{{}}", u.new)).await;
            if peeled != "commit" {
                refusals.push(format!(
                    "{name}: a tag of a {peeled}, not a commit: only tags of commits pass the git gate"
                ));
                continue;
            }
        }
        if !is_zero(&u.old)
            && git(vec![
                "merge-base".into(),
                "--is-ancestor".into(),
                u.old.clone(),
                u.new.clone(),
            ])
            .await
            .is_err()
        {
            refusals.push(format!(
                "{name}: not a fast-forward; force-pushes are refused by the git gate (fetch, rebase or merge, and push again)"
            ));
        }
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }
    let t = std::time::Instant::now();
    let findings = scan_push(repo, paths, updates, &env).await;
    timing.scan_ms = t.elapsed().as_millis();
    let findings = findings?;
    if !findings.is_empty() {
        let mut out: Vec<String> = vec![format!(
            "{} possible secret(s) in what this push adds (file:line: rule):",
            findings.len()
        )];
        out.extend(findings.iter().map(|f| format!("  {f}")));
        out.push("remove them from the commits (rewrite the branch), then push again".into());
        return Err(vec![out.join("\n")]);
    }
    if let Some(up) = &repo.upstream {
        let t = std::time::Instant::now();
        let pushed = push_upstream(repo, up, paths, updates, &env).await;
        timing.upstream_ms = t.elapsed().as_millis();
        pushed?;
    }
    Ok(())
}

/// The scan of what the push adds: the new commits (not reachable from
/// any ref the gate has, nor from the commits the operator already has),
/// each against its first parent, then each one's raw object, and the
/// raw tag objects of the pushed refs.
async fn scan_push(
    repo: &GateRepo,
    paths: &Paths,
    updates: &[Update],
    env: &[(OsString, OsString)],
) -> Result<Vec<Finding>, Vec<String>> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let secrets = crate::sidecar::egress::secrets::read_secrets(&paths.secrets_dir);
    let scanner = crate::policy::dlp::Scanner::new(&secrets, &[]);
    let mut found = Vec::new();
    // Annotated tags, raw (headers and message), down the whole chain.
    for u in updates {
        let mut id = u.new.clone();
        let mut depth = 0;
        loop {
            // Not a tag (any more): the chain ends; refs must peel to a
            // commit, which is checked before the scan.
            let Ok(body) = upstream::git(
                paths,
                env,
                &["cat-file", "tag", &id],
                upstream::UPSTREAM_TIMEOUT,
            )
            .await
            else {
                break;
            };
            depth += 1;
            if depth > MAX_TAG_DEPTH {
                return Err(vec![format!(
                    "{}: tags nested more than {MAX_TAG_DEPTH} deep",
                    crate::sanitize::inline(&u.name)
                )]);
            }
            scan::scan_object(&id, "tag", &body, &scanner, &mut found);
            match body
                .split(|&b| b == b'\n')
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(b"object "))
            {
                Some(next) => id = String::from_utf8_lossy(next).into_owned(),
                None => break,
            }
        }
    }
    let nonce = format!("{:016x}", rand_u64());
    let mut cmd = tokio::process::Command::new("git");
    cmd.args([
        "-c",
        "core.quotePath=true",
        "-c",
        "log.showRoot=true",
        "-c",
        "diff.noprefix=false",
        "-c",
        "diff.mnemonicPrefix=false",
        "log",
        "-p",
        "-a",
        "-U0",
        "--no-color",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        "--diff-merges=first-parent",
        "--no-abbrev",
        &scan::format_arg(&nonce),
        "--stdin",
        "--not",
        "--all",
    ])
    .env_clear()
    .envs(upstream::base_env(paths))
    .envs(env.iter().map(|(k, v)| (k, v)))
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| vec![format!("scanning the push: {e}")])?;
    // The revisions: the pushed tips, then the operator's known commits
    // that exist here, negated.
    let mut revs = String::new();
    for u in updates {
        revs.push_str(&u.new);
        revs.push('\n');
    }
    for k in existing(paths, env, &repo.known_commits).await {
        revs.push('^');
        revs.push_str(&k);
        revs.push('\n');
    }
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| vec!["scanning the push: no stdin".to_string()])?;
    let feed = async move {
        let _ = stdin.write_all(revs.as_bytes()).await;
        drop(stdin);
    };
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| vec!["scanning the push: no stdout".to_string()])?;
    let mut stderr = child
        .stderr
        .take()
        .ok_or_else(|| vec!["scanning the push: no stderr".to_string()])?;
    let read = async {
        let mut s = scan::LogScan::new(&scanner, &nonce, MAX_FINDINGS);
        let mut reader = tokio::io::BufReader::with_capacity(1 << 16, stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            // Bounded lines: a long one arrives in pieces.
            let n = (&mut reader)
                .take(1 << 20)
                .read_until(b'\n', &mut line)
                .await
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            s.piece(&line);
            if s.full() {
                break;
            }
        }
        let commits = s.take_commits();
        (s.finish(), commits)
    };
    let mut err_text = Vec::new();
    let errs = async {
        let _ = (&mut stderr)
            .take(64 << 10)
            .read_to_end(&mut err_text)
            .await;
    };
    let (_, (logged, commits), _) = tokio::time::timeout(upstream::UPSTREAM_TIMEOUT, async {
        tokio::join!(feed, read, errs)
    })
    .await
    .map_err(|_| vec!["scanning the push took too long".to_string()])?;
    found.extend(logged);
    if found.len() < MAX_FINDINGS {
        found.extend(scan_commits(paths, env, &commits, &scanner).await?);
    }
    if found.len() >= MAX_FINDINGS {
        let _ = child.kill().await;
        found.truncate(MAX_FINDINGS);
        return Ok(found);
    }
    let status = child
        .wait()
        .await
        .map_err(|e| vec![format!("scanning the push: {e}")])?;
    if !status.success() {
        return Err(vec![format!(
            "scanning the push failed: {}",
            upstream::tail(&err_text)
        )]);
    }
    Ok(found)
}

/// The raw objects of these new commits (every header, the message as
/// stored): `git cat-file --batch`, each object whole, or as a stream
/// when it is large.
async fn scan_commits(
    paths: &Paths,
    env: &[(OsString, OsString)],
    ids: &[String],
    scanner: &crate::policy::dlp::Scanner,
) -> Result<Vec<Finding>, Vec<String>> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    /// Objects up to this size are read whole (their lines named).
    const WHOLE: u64 = 16 << 20;
    let mut found = Vec::new();
    if ids.is_empty() {
        return Ok(found);
    }
    let fail = |e: &dyn std::fmt::Display| vec![format!("scanning the pushed commits: {e}")];
    let mut child = tokio::process::Command::new("git")
        .args(["cat-file", "--batch"])
        .env_clear()
        .envs(upstream::base_env(paths))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(&e))?;
    let mut stdin = child.stdin.take().ok_or_else(|| fail(&"no stdin"))?;
    let input: Vec<u8> = ids
        .iter()
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let stdout = child.stdout.take().ok_or_else(|| fail(&"no stdout"))?;
    let mut reader = tokio::io::BufReader::with_capacity(1 << 16, stdout);
    let read = async {
        for _ in ids {
            let mut header = Vec::new();
            (&mut reader)
                .take(1024)
                .read_until(b'\n', &mut header)
                .await
                .map_err(|e| fail(&e))?;
            let text = String::from_utf8_lossy(&header).trim().to_string();
            let mut f = text.split(' ');
            let (Some(id), Some("commit"), Some(size)) = (f.next(), f.next(), f.next()) else {
                return Err(fail(&format!(
                    "unexpected `{}`",
                    crate::sanitize::inline(&text)
                )));
            };
            let size: u64 = size.parse().map_err(|_| fail(&"a bad object size"))?;
            if size <= WHOLE {
                let mut raw = vec![0u8; size as usize];
                reader.read_exact(&mut raw).await.map_err(|e| fail(&e))?;
                scan::scan_object(id, "commit", &raw, scanner, &mut found);
            } else {
                let mut stream = scanner.stream();
                let mut left = size;
                let mut buf = vec![0u8; 1 << 20];
                let mut hit = None;
                while left > 0 {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    reader
                        .read_exact(&mut buf[..want])
                        .await
                        .map_err(|e| fail(&e))?;
                    left -= want as u64;
                    if hit.is_none() {
                        hit = stream.push(&buf[..want]).err();
                    }
                }
                if let Some(h) = hit.or_else(|| stream.finish().err()) {
                    found.push(Finding {
                        commit: id.to_string(),
                        place: "commit object (a very large one)".into(),
                        rule: h.rule,
                    });
                }
            }
            let mut nl = [0u8; 1];
            reader.read_exact(&mut nl).await.map_err(|e| fail(&e))?;
            if found.len() >= MAX_FINDINGS {
                break;
            }
        }
        Ok::<_, Vec<String>>(())
    };
    tokio::time::timeout(upstream::UPSTREAM_TIMEOUT, read)
        .await
        .map_err(|_| vec!["scanning the push took too long".to_string()])??;
    feed.abort();
    let _ = child.kill().await;
    Ok(found)
}

/// The commits of `ids` this repository has.
async fn existing(paths: &Paths, env: &[(OsString, OsString)], ids: &[String]) -> Vec<String> {
    use tokio::io::AsyncWriteExt;
    if ids.is_empty() {
        return vec![];
    }
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(["cat-file", "--batch-check=%(objectname) %(objecttype)"])
        .env_clear()
        .envs(upstream::base_env(paths))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let Ok(mut child) = cmd.spawn() else {
        return vec![];
    };
    let input: String = ids.iter().map(|i| format!("{i}\n")).collect();
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            let _ = stdin.write_all(input.as_bytes()).await;
        });
    }
    let Ok(Ok(out)) =
        tokio::time::timeout(upstream::UPSTREAM_TIMEOUT, child.wait_with_output()).await
    else {
        return vec![];
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(" commit").map(str::to_string))
        .collect()
}

/// Pushes the accepted refs on, atomically, with the bottle's
/// credentials; the upstream's refusal is the agent's.
async fn push_upstream(
    repo: &GateRepo,
    up: &crate::policy::gitgate::Upstream,
    paths: &Paths,
    updates: &[Update],
    quarantine: &[(OsString, OsString)],
) -> Result<(), Vec<String>> {
    let mut env = quarantine.to_vec();
    env.extend(
        upstream::auth_env(repo, up, paths)
            .map_err(|e| vec![format!("the gate's credentials: {e}")])?,
    );
    let mut args: Vec<String> = vec![
        "push".into(),
        "--atomic".into(),
        "--porcelain".into(),
        "--no-verify".into(),
        "--quiet".into(),
        up.url().into(),
    ];
    args.extend(updates.iter().map(|u| format!("{}:{}", u.new, u.name)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    upstream::git(paths, &env, &args, upstream::UPSTREAM_TIMEOUT)
        .await
        .map(|_| ())
        .map_err(|e| vec![format!("the upstream {} refused the push:\n{e}", up.url())])
}

/// A random number for the log marker (the agent cannot predict it).
fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    if getrandom(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return t ^ u64::from(std::process::id()).rotate_left(32);
    }
    u64::from_le_bytes(b)
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(patterns: &[&str]) -> GateRepo {
        GateRepo {
            name: "app".into(),
            upstream: None,
            push_branches: patterns.iter().map(|s| s.to_string()).collect(),
            known_commits: vec![],
        }
    }

    #[test]
    fn updates_parse_and_bad_lines_are_refused() {
        let a = "a".repeat(40);
        let z = "0".repeat(40);
        let u = parse_updates(&format!("{z} {a} refs/heads/bottle/x\n")).expect("valid");
        assert_eq!(u[0].name, "refs/heads/bottle/x");
        assert!(parse_updates("x y z\n").is_err());
        assert!(parse_updates(&format!("{z} {a} refs/heads/a b\n")).is_err());
    }

    #[test]
    fn deletion_and_refs_outside_the_patterns_are_refused() {
        let a = "a".repeat(40);
        let z = "0".repeat(40);
        let updates = parse_updates(&format!(
            "{a} {z} refs/heads/bottle/old\n{z} {a} refs/heads/main\n{z} {a} refs/tags/v1\n{z} {a} refs/heads/bottle/ok\n"
        ))
        .expect("valid");
        let r = ref_refusals(&repo(&["bottle/*"]), &updates);
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r[0].contains("refs/heads/bottle/old: deleting"));
        assert!(r[1].contains("refs/heads/main: outside"));
        assert!(r[2].contains("refs/tags/v1: outside"));
    }
}
