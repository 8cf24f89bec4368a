//! A [`Backend`] with no engine, for tests of the workspace and the CLI on
//! machines without one: the "engine" `fake:///<dir>` is a directory whose
//! `bottles.json` lists bottles (slug, agent, status, and the local command
//! a pane runs); panes are local PTYs running that command. Stop and
//! remove rewrite the file, so a second process (the `bottle` binary under
//! a PTY test) sees the same bottles. It is a stand-in: nothing in it is
//! isolated, and operations an engine alone can do (launch, images,
//! probes, exports) say so.

use super::plan::EngineFacts;
use super::{
    AttachEnd, Backend, BackendError, BottleObjects, EngineBottle, EngineEvent, ImageBuild,
    LaunchInput, LogRequest, OutputSink, PaneError, PaneIo, PaneKind, ProbeBinary, Progress,
    Recreate,
};
use crate::backends::inventory::BottleStatus;
use crate::secret::Secret;
use crate::session::io::PaneCtl;
use crate::state::names::Slug;
use crate::state::record::IsolationRecord;
use portable_pty::{native_pty_system, CommandBuilder, MasterPty, PtySize};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

pub const SCHEME: &str = "fake://";

/// One bottle of the fake engine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FakeBottle {
    pub slug: String,
    pub agent: String,
    /// The label hash of the home it belongs to.
    pub home: String,
    /// `running`, `stopped`, `exited N`…
    pub status: String,
    /// What a pane on it runs (a local command).
    pub command: Vec<String>,
}

pub struct FakeBackend {
    host: String,
    dir: PathBuf,
    lock: Mutex<()>,
}

impl FakeBackend {
    /// `fake:///<dir>`.
    pub fn new(host: &str) -> FakeBackend {
        FakeBackend {
            host: host.to_string(),
            dir: PathBuf::from(host.strip_prefix(SCHEME).unwrap_or(host)),
            lock: Mutex::new(()),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("bottles.json")
    }

    pub fn bottles(&self) -> Result<Vec<FakeBottle>, BackendError> {
        let text = std::fs::read(self.file()).map_err(|e| {
            BackendError::Unreachable(format!("fake engine {}: {e}", self.file().display()))
        })?;
        serde_json::from_slice(&text)
            .map_err(|e| BackendError::Failed(format!("{}: {e}", self.file().display())))
    }

    /// Replaces the engine's bottles (a test's setup).
    pub fn set_bottles(&self, bottles: &[FakeBottle]) -> Result<(), BackendError> {
        std::fs::create_dir_all(&self.dir)
            .and_then(|()| {
                std::fs::write(
                    self.file(),
                    serde_json::to_vec_pretty(bottles).unwrap_or_default(),
                )
            })
            .map_err(|e| BackendError::Failed(format!("{}: {e}", self.file().display())))
    }

    fn update(&self, f: impl FnOnce(&mut Vec<FakeBottle>)) -> Result<(), BackendError> {
        let _held = self
            .lock
            .lock()
            .map_err(|_| BackendError::Failed("poisoned".into()))?;
        let mut all = self.bottles()?;
        f(&mut all);
        self.set_bottles(&all)
    }

    fn find(&self, slug: &Slug) -> Result<FakeBottle, BackendError> {
        self.bottles()?
            .into_iter()
            .find(|b| b.slug == slug.as_str())
            .ok_or_else(|| BackendError::NotFound(format!("no bottle `{slug}` on {}", self.host)))
    }

    /// Where `slug`'s fake sidecar keeps the git gate's repositories:
    /// `<dir>/sidecars/<slug>/gitgate`, standing in for
    /// [`crate::policy::gitgate::GATE_ROOT`].
    pub fn gate_root(&self, slug: &Slug) -> PathBuf {
        self.dir
            .join("sidecars")
            .join(slug.as_str())
            .join("gitgate")
    }

    fn unsupported<T>(&self, what: &str) -> Result<T, BackendError> {
        Err(BackendError::Failed(format!(
            "{what}: the fake backend ({}) has no engine",
            self.host
        )))
    }
}

fn status_of(word: &str) -> BottleStatus {
    match word.split_once(' ') {
        Some(("exited", code)) => BottleStatus::Exited(code.parse().ok()),
        _ if word == "stopped" => BottleStatus::Stopped,
        _ if word == "sidecar only" => BottleStatus::SidecarOnly,
        _ => BottleStatus::from_engine(word, None),
    }
}

impl Backend for FakeBackend {
    fn host(&self) -> &str {
        &self.host
    }

    fn facts(&self) -> Result<EngineFacts, BackendError> {
        self.bottles()?;
        Ok(EngineFacts {
            engine: "fake".into(),
            api_version: "0".into(),
            runtimes: vec!["local".into()],
            default_runtime: "local".into(),
            images: Default::default(),
            gvisor_probe: None,
        })
    }

    fn warnings(&self) -> Vec<String> {
        vec!["the fake backend isolates nothing (tests only)".into()]
    }

    fn runtime_verdict(
        &self,
        _: &Path,
        _: &str,
        runtime: &str,
        _: &ProbeBinary<'_>,
        _: bool,
    ) -> Result<(), String> {
        Err(format!("the fake backend has no runtime {runtime}"))
    }

    fn check_isolation(&self, _: &str) -> Result<(), BackendError> {
        self.unsupported("isolation")
    }

    fn isolation_mode(&self) -> String {
        "none (fake backend)".into()
    }

    fn build_image(
        &self,
        _: ImageBuild<'_>,
        _: bool,
        _: Progress<'_>,
    ) -> Result<String, BackendError> {
        self.unsupported("building images")
    }

    fn list(&self, home_hash: Option<&str>) -> Result<Vec<EngineBottle>, BackendError> {
        Ok(self
            .bottles()?
            .into_iter()
            .filter(|b| home_hash.is_none_or(|h| h == b.home) && b.status != "stopped")
            .map(|b| EngineBottle {
                status: status_of(&b.status),
                sidecar_running: b.status == "running",
                slug: b.slug,
                agent: b.agent,
                home: b.home,
            })
            .collect())
    }

    fn objects(&self, home_hash: Option<&str>) -> Result<Vec<BottleObjects>, BackendError> {
        Ok(self
            .bottles()?
            .into_iter()
            .filter(|b| home_hash.is_none_or(|h| h == b.home))
            .map(|b| BottleObjects {
                containers: if b.status == "stopped" {
                    Vec::new()
                } else {
                    vec![format!("{}-agent", b.slug)]
                },
                volumes: vec![format!("{}-work", b.slug)],
                networks: Vec::new(),
                home: b.home,
                slug: b.slug,
            })
            .collect())
    }

    fn launch(
        &self,
        _: &LaunchInput<'_>,
        _: Progress<'_>,
    ) -> Result<IsolationRecord, BackendError> {
        self.unsupported("launching")
    }

    fn recreate_agent(
        &self,
        _: &Recreate<'_>,
        _: Progress<'_>,
    ) -> Result<Option<IsolationRecord>, BackendError> {
        self.unsupported("recreating an agent")
    }

    /// A fake bottle has no network to check: no isolation record.
    fn restart_session(
        &self,
        slug: &Slug,
        _: &[(String, Secret)],
    ) -> Result<Option<IsolationRecord>, BackendError> {
        self.find(slug)?;
        self.update(|all| {
            for b in all.iter_mut().filter(|b| b.slug == slug.as_str()) {
                b.status = "running".into();
            }
        })?;
        Ok(None)
    }

    fn stop_agent(&self, slug: &Slug) -> Result<(), BackendError> {
        self.find(slug)?;
        self.update(|all| {
            for b in all.iter_mut().filter(|b| b.slug == slug.as_str()) {
                b.status = "exited 0".into();
            }
        })
    }

    fn stop(&self, slug: &Slug) -> Result<(), BackendError> {
        self.find(slug)?;
        self.update(|all| {
            for b in all.iter_mut().filter(|b| b.slug == slug.as_str()) {
                b.status = "stopped".into();
            }
        })
    }

    fn remove(&self, slug: &Slug, _: &str) -> Result<(), BackendError> {
        self.update(|all| all.retain(|b| b.slug != slug.as_str()))
    }

    fn remove_objects(&self, objects: &BottleObjects) -> Result<(), BackendError> {
        self.update(|all| all.retain(|b| b.slug != objects.slug))
    }

    fn follow_changes(
        &self,
        _: &str,
        _: &mut (dyn FnMut(EngineEvent) -> bool + Send),
    ) -> Result<(), BackendError> {
        // No events: the stream ends at once, as when an engine goes away.
        Ok(())
    }

    fn open_pane(
        &self,
        slug: &Slug,
        kind: PaneKind,
        rows: u16,
        cols: u16,
    ) -> Result<PaneIo, PaneError> {
        let b = self.find(slug).map_err(|e| PaneError(e.to_string()))?;
        if b.status != "running" {
            return Err(PaneError(format!("{slug} is {}", b.status)));
        }
        let command = match kind {
            PaneKind::Session => b.command,
            PaneKind::Shell => vec!["/bin/sh".into()],
        };
        local_pane(&command, rows, cols)
    }

    fn attach_terminal(
        &self,
        _: &Slug,
        _: fn() -> Option<(u16, u16)>,
    ) -> Result<AttachEnd, BackendError> {
        self.unsupported("attaching a terminal")
    }

    fn exec_terminal(
        &self,
        _: &Slug,
        _: Vec<String>,
        _: fn() -> Option<(u16, u16)>,
    ) -> Result<i64, BackendError> {
        self.unsupported("an interactive exec")
    }

    fn exec(
        &self,
        _: &Slug,
        _: Option<&str>,
        _: &[String],
        _: Option<Box<dyn std::io::Read + Send>>,
        _: OutputSink<'_>,
    ) -> Result<i64, BackendError> {
        self.unsupported("exec")
    }

    /// The command runs on this host (nothing isolated), with every
    /// argument under `/gitgate` moved to [`FakeBackend::gate_root`].
    fn sidecar_exec(
        &self,
        slug: &Slug,
        cmd: &[String],
        env: &[(String, String)],
        stdin: Box<dyn std::io::Read + Send>,
        output: OutputSink<'_>,
    ) -> Result<i64, BackendError> {
        let b = self.find(slug)?;
        if b.status == "stopped" {
            return Err(BackendError::NotFound(format!(
                "{slug} is stopped: its sidecar does not run"
            )));
        }
        let root = self.gate_root(slug);
        let gate = crate::policy::gitgate::GATE_ROOT;
        let cmd: Vec<String> = cmd
            .iter()
            .map(|a| match a.strip_prefix(gate) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    format!("{}{rest}", root.display())
                }
                _ => a.clone(),
            })
            .collect();
        local_command(&cmd, env, stdin, output)
    }

    fn logs(&self, slug: &Slug, _: LogRequest, output: OutputSink<'_>) -> Result<(), BackendError> {
        let b = self.find(slug)?;
        output(
            super::Stream::Stdout,
            format!("fake bottle {} ({})\n", b.slug, b.status).as_bytes(),
        )
        .map_err(|e| BackendError::Failed(e.to_string()))
    }

    fn export_work_tree(
        &self,
        _: &Slug,
        _: &str,
        _: &str,
        _: &str,
        _: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> Result<(), BackendError> {
        self.unsupported("export")
    }

    /// A fake pane keeps its own screen: nothing is left behind.
    fn last_screen(&self, _: &Slug) -> Result<Option<super::backend::LastScreen>, BackendError> {
        Ok(None)
    }
}

/// Runs `command` here with `env` added: `stdin` copied in, stdout and
/// stderr read at once and handed to `output` in arrival order; the exit
/// status (128 + the signal when one ended it).
fn local_command(
    command: &[String],
    env: &[(String, String)],
    mut stdin: Box<dyn std::io::Read + Send>,
    output: OutputSink<'_>,
) -> Result<i64, BackendError> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let err = |e: &dyn std::fmt::Display| BackendError::Failed(format!("fake sidecar: {e}"));
    let (program, args) = command.split_first().ok_or_else(|| err(&"no command"))?;
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(&format!("{program}: {e}")))?;
    if let Some(mut into) = child.stdin.take() {
        // Detached: a reader that never ends must not hold the command up.
        std::thread::spawn(move || std::io::copy(&mut stdin, &mut into));
    }
    let (tx, rx) = std::sync::mpsc::channel::<(super::Stream, Vec<u8>)>();
    let pipes: [(super::Stream, Option<Box<dyn std::io::Read + Send>>); 2] = [
        (
            super::Stream::Stdout,
            child.stdout.take().map(|p| Box::new(p) as _),
        ),
        (
            super::Stream::Stderr,
            child.stderr.take().map(|p| Box::new(p) as _),
        ),
    ];
    for (stream, pipe) in pipes {
        let (tx, Some(mut pipe)) = (tx.clone(), pipe) else {
            continue;
        };
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                if tx.send((stream, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    for (stream, chunk) in rx {
        if let Err(e) = output(stream, &chunk) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(err(&e));
        }
    }
    let status = child.wait().map_err(|e| err(&e))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => i64::from(code),
        (None, Some(sig)) => 128 + i64::from(sig),
        (None, None) => 1,
    })
}

type Exit = Arc<(Mutex<Option<Option<i32>>>, Condvar)>;

struct LocalCtl {
    master: Mutex<Box<dyn MasterPty + Send>>,
    killer: Mutex<Box<dyn portable_pty::ChildKiller + Send + Sync>>,
    exit: Exit,
}

impl PaneCtl for LocalCtl {
    fn resize(&self, rows: u16, cols: u16) -> Result<(), PaneError> {
        self.master
            .lock()
            .map_err(|_| PaneError("poisoned".into()))?
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| PaneError(e.to_string()))
    }

    fn wait(&self) -> Result<Option<i32>, PaneError> {
        let (lock, cvar) = &*self.exit;
        let mut done = lock.lock().map_err(|_| PaneError("poisoned".into()))?;
        while done.is_none() {
            done = cvar.wait(done).map_err(|_| PaneError("poisoned".into()))?;
        }
        Ok(done.unwrap_or(None))
    }

    fn close(&self) {
        if let Ok(mut k) = self.killer.lock() {
            let _ = k.kill();
        }
    }
}

/// `command` in a local PTY of `rows`×`cols`.
pub fn local_pane(command: &[String], rows: u16, cols: u16) -> Result<PaneIo, PaneError> {
    let err = |e: &dyn std::fmt::Display| PaneError(format!("local pane: {e}"));
    let (program, args) = command
        .split_first()
        .ok_or_else(|| PaneError("local pane: no command".into()))?;
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: rows.max(1),
            cols: cols.max(1),
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| err(&e))?;
    let mut cmd = CommandBuilder::new(program);
    cmd.args(args);
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).map_err(|e| err(&e))?;
    drop(pair.slave);
    let output = pair.master.try_clone_reader().map_err(|e| err(&e))?;
    let input = pair.master.take_writer().map_err(|e| err(&e))?;
    let killer = child.clone_killer();
    let exit: Exit = Arc::new((Mutex::new(None), Condvar::new()));
    let waiting = exit.clone();
    std::thread::Builder::new()
        .name("fake-pane".into())
        .spawn(move || {
            let code = child.wait().ok().map(|s| s.exit_code() as i32);
            let (lock, cvar) = &*waiting;
            if let Ok(mut done) = lock.lock() {
                *done = Some(code);
                cvar.notify_all();
            }
        })
        .map_err(|e| err(&e))?;
    Ok(PaneIo {
        output,
        input,
        ctl: Box::new(LocalCtl {
            master: Mutex::new(pair.master),
            killer: Mutex::new(killer),
            exit,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(dir: &Path) -> FakeBackend {
        let b = FakeBackend::new(&format!("{SCHEME}{}", dir.display()));
        b.set_bottles(&[
            FakeBottle {
                slug: "shell-aaaaaa".into(),
                agent: "shell".into(),
                home: "h".into(),
                status: "running".into(),
                command: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "read line; echo got:$line".into(),
                ],
            },
            FakeBottle {
                slug: "shell-bbbbbb".into(),
                agent: "shell".into(),
                home: "other".into(),
                status: "exited 2".into(),
                command: vec!["true".into()],
            },
        ])
        .expect("set");
        b
    }

    #[test]
    fn lists_by_home_stops_and_removes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = fake(dir.path());
        let mine = b.list(Some("h")).expect("list");
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].status, BottleStatus::Running);
        let all = b.list(None).expect("list");
        assert_eq!(all[1].status, BottleStatus::Exited(Some(2)));
        let slug = Slug::parse("shell-aaaaaa").expect("slug");
        b.stop(&slug).expect("stop");
        assert!(b.list(Some("h")).expect("list").is_empty());
        assert_eq!(
            b.objects(Some("h")).expect("objects")[0].containers.len(),
            0
        );
        b.remove(&slug, "h").expect("rm");
        assert!(b.objects(Some("h")).expect("objects").is_empty());
        let missing = b.stop(&slug).expect_err("gone");
        assert!(matches!(missing, BackendError::NotFound(_)), "{missing}");
    }

    #[test]
    fn a_pane_is_a_local_pty_running_the_bottles_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = fake(dir.path());
        let slug = Slug::parse("shell-aaaaaa").expect("slug");
        let mut io = b.open_pane(&slug, PaneKind::Session, 24, 80).expect("pane");
        io.input.write_all(b"hello\r").expect("write");
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains("got:hello") {
            let n = io.output.read(&mut buf).expect("read");
            assert!(n > 0, "ended early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        assert_eq!(io.ctl.wait().expect("wait"), Some(0));
        let stopped = Slug::parse("shell-bbbbbb").expect("slug");
        assert!(b.open_pane(&stopped, PaneKind::Session, 24, 80).is_err());
    }

    use std::io::{Read, Write};
}
