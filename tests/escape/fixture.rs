//! The suite's registry of trials and its shared fixtures: one bottle per
//! target engine (started on first use, removed at the end), a cache for
//! other fixtures, and teardown.

use crate::support::{self, Engine};
use libtest_mimic::{Failed, Trial};
use std::any::Any;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex, OnceLock};

/// What an attack concludes: `Ok` when it was refused the way the
/// invariant says, `Err(why)` when it got through (or was refused the
/// wrong way).
pub type Outcome = Result<(), String>;

/// The in-bottle targets, in the order trials are listed.
pub const ENGINES: [&str; 3] = ["runc", "runsc", "podman"];

#[derive(Default)]
pub struct Registry {
    trials: Vec<Trial>,
}

impl Registry {
    /// A host-side attack (agent-made data fed to a host command):
    /// `host::<area>::<name>`.
    pub fn host(&mut self, area: &str, name: &str, f: fn() -> Outcome) {
        self.trials
            .push(Trial::test(format!("host::{area}::{name}"), move || {
                f().map_err(Failed::from)
            }));
    }

    /// An attack from inside a bottle, on every target engine:
    /// `<engine>::<area>::<name>`.
    pub fn inside(&mut self, area: &str, name: &str, f: fn(&Engine) -> Outcome) {
        self.inside_on(&ENGINES, area, name, f);
    }

    /// An attack from inside, on some target engines only.
    pub fn inside_on(
        &mut self,
        engines: &[&'static str],
        area: &str,
        name: &str,
        f: fn(&Engine) -> Outcome,
    ) {
        for &which in engines {
            self.trials.push(Trial::test(
                format!("{which}::{area}::{name}"),
                move || match target(which) {
                    Some(e) => f(&e).map_err(Failed::from),
                    None => Ok(()),
                },
            ));
        }
    }

    pub fn into_trials(self) -> Vec<Trial> {
        self.trials
    }
}

/// The engine for a target, or `None` after a loud NOT RUN (a failure
/// under `BOTTLE_REQUIRE_ALL=1`). runsc is asked for explicitly
/// (`--runtime runsc`) whenever the engine offers it, even when bottle
/// would not choose it by itself: the attacks avoid `statx`.
pub fn target(which: &'static str) -> Option<Engine> {
    static FOUND: OnceLock<Mutex<HashMap<&'static str, Option<Engine>>>> = OnceLock::new();
    let mut found = FOUND.get_or_init(Default::default).lock().expect("lock");
    found
        .entry(which)
        .or_insert_with(|| support::engine(which))
        .clone()
}

type Slot = Arc<Mutex<Option<Arc<dyn Any + Send + Sync>>>>;

/// A fixture made once per `key` (by the first trial that asks; the others
/// wait for it) and shared. A `make` that panics leaves the slot empty, so
/// the next trial tries again.
pub fn cached<T: Send + Sync + 'static>(key: &str, make: impl FnOnce() -> T) -> Arc<T> {
    static SLOTS: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    let slot = SLOTS
        .get_or_init(Default::default)
        .lock()
        .expect("lock")
        .entry(key.to_string())
        .or_default()
        .clone();
    let mut held = slot.lock().unwrap_or_else(|p| p.into_inner());
    if held.is_none() {
        *held = Some(Arc::new(make()));
    }
    held.clone()
        .expect("made")
        .downcast::<T>()
        .expect("one type per fixture key")
}

static TEARDOWN: Mutex<Vec<Box<dyn FnOnce() + Send>>> = Mutex::new(Vec::new());

/// Runs at the end of the suite (last registered first).
pub fn on_teardown(f: impl FnOnce() + Send + 'static) {
    TEARDOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Box::new(f));
}

pub fn teardown() {
    let mut all = std::mem::take(&mut *TEARDOWN.lock().unwrap_or_else(|p| p.into_inner()));
    while let Some(f) = all.pop() {
        f();
    }
}

/// A running bottle the trials of one target share, with its own home and
/// workspace. Removed (`bottle rm`) at teardown unless `BOTTLE_TEST_KEEP`.
pub struct Bottle {
    pub e: Engine,
    pub dir: PathBuf,
    pub home: PathBuf,
    pub ws: PathBuf,
    pub slug: String,
    tool: OnceLock<()>,
}

impl Bottle {
    /// Starts `agent` (defined in `home` by `setup`, which also fills the
    /// workspace) and registers its removal.
    pub fn start(e: &Engine, agent: &str, setup: impl FnOnce(&Path, &Path)) -> Bottle {
        Bottle::start_with(e, agent, &[], setup)
    }

    /// `start`, with these variables in `bottle start`'s environment
    /// (`token_ref` values, `BOTTLE_ANSWER_<NAME>`).
    pub fn start_with(
        e: &Engine,
        agent: &str,
        env: &[(&str, &str)],
        setup: impl FnOnce(&Path, &Path),
    ) -> Bottle {
        let dir = tempfile::Builder::new()
            .prefix("bottle-escape-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let home = dir.join("home");
        let ws = dir.join("ws");
        std::fs::create_dir_all(&ws).expect("mkdir");
        setup(&home, &ws);
        let out = e
            .bottle_cmd(&home, Some(&ws), &["start", agent, "--detach", "-y"])
            .envs(env.iter().copied())
            .output()
            .expect("start");
        assert!(
            out.status.success(),
            "start {agent} on {}: {}",
            e.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let slug = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (e2, home2, slug2, dir2) = (e.clone(), home.clone(), slug.clone(), dir.clone());
        on_teardown(move || {
            if std::env::var_os("BOTTLE_TEST_KEEP").is_some() {
                eprintln!("BOTTLE_TEST_KEEP: kept {slug2} in {}", home2.display());
                return;
            }
            let _ = e2.bottle(&home2, None, &["rm", &slug2]);
            let _ = std::fs::remove_dir_all(&dir2);
        });
        Bottle {
            e: e.clone(),
            dir,
            home,
            ws,
            slug,
            tool: OnceLock::new(),
        }
    }

    /// `bottle ARGS` against this bottle's home and workspace.
    pub fn bottle(&self, args: &[&str]) -> Output {
        self.e.bottle(&self.home, Some(&self.ws), args)
    }

    /// `bash -c script` as the agent: (status, stdout + stderr).
    pub fn sh(&self, script: &str) -> (i32, String) {
        let out = self.bottle(&["exec", &self.slug, "--", "bash", "-c", script]);
        (out.status.code().unwrap_or(-1), both(&out))
    }

    /// The agent container's name.
    pub fn agent_container(&self) -> String {
        names(&self.slug).agent_container
    }

    pub fn sidecar_container(&self) -> String {
        names(&self.slug).sidecar_container
    }

    /// Runs this suite's executable inside the bottle as the agent:
    /// `escape tool ARGS` (copied in on first use, through `bottle exec`'s
    /// stdin, so it works on every runtime). (status, stdout + stderr).
    pub fn tool(&self, args: &[&str]) -> (i32, String) {
        self.tool.get_or_init(|| {
            let exe = std::fs::File::open(std::env::current_exe().expect("exe")).expect("open exe");
            let out = self
                .e
                .bottle_cmd(
                    &self.home,
                    Some(&self.ws),
                    &[
                        "exec",
                        &self.slug,
                        "--",
                        "sh",
                        "-c",
                        "cat > /tmp/escape-tool && chmod 755 /tmp/escape-tool",
                    ],
                )
                .stdin(exe)
                .output()
                .expect("copy the tool in");
            assert!(out.status.success(), "copying the tool in: {}", both(&out));
        });
        let mut argv = vec!["exec", &self.slug, "--", "/tmp/escape-tool", "tool"];
        argv.extend_from_slice(args);
        let out = self.bottle(&argv);
        (out.status.code().unwrap_or(-1), both(&out))
    }
}

pub fn names(slug: &str) -> bottle::state::names::Names {
    bottle::state::names::Names::for_slug(&bottle::state::names::Slug::parse(slug).expect("slug"))
}

pub fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The plain shared bottle of a target: the embedded `shell` agent on a
/// workspace holding one file.
pub fn shell(e: &Engine) -> Arc<Bottle> {
    cached(&format!("shell/{}", e.name_and_runtime()), || {
        Bottle::start(e, "shell", |_, ws| {
            std::fs::write(ws.join("README.md"), "escape suite\n").expect("write");
        })
    })
}

/// `Err` with the evidence unless `cond`.
pub fn ensure(cond: bool, why: impl FnOnce() -> String) -> Outcome {
    if cond {
        Ok(())
    } else {
        Err(why())
    }
}

trait EngineKey {
    fn name_and_runtime(&self) -> String;
}

impl EngineKey for Engine {
    fn name_and_runtime(&self) -> String {
        format!("{}-{}", self.name, self.runtime.unwrap_or("default"))
    }
}
