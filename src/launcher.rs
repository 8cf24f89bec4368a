//! Launching a bottle from a definition, for the CLI (`start`, `resume`)
//! and the workspace alike: `prepare` resolves the plan and the preflight
//! text the operator confirms (scanning the workspace copy, asking the
//! engine what it offers); `launch` carries a confirmed plan out and
//! records metadata.json. Blocking: callers run it off their UI thread.
//! Asking for `?` values and confirming are the caller's (terminal or
//! modal), never this module's.

use crate::backends::plan::{prepare as plan, Plan, PrepareInput};
use crate::backends::preflight;
use crate::backends::workspace_copy::{self, CopyList};
use crate::backends::{self, Backend, LaunchInput};
use crate::manifest::Definitions;
use crate::secret::Secret;
use crate::state::names::Slug;
use crate::state::record::{BottleRecord, CapabilityRecord, IsolationRecord, RecordError};
use crate::state::Home;
use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The executable baked into the sidecar image: `BOTTLE_SIDECAR_BIN`, else
/// this program.
pub fn sidecar_binary() -> Result<PathBuf> {
    match std::env::var_os("BOTTLE_SIDECAR_BIN") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::current_exe().context("locating the bottle executable"),
    }
}

pub fn sha256_file(path: &std::path::Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// What to launch.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub agent: String,
    /// `--runtime` / `BOTTLE_RUNTIME`.
    pub runtime: Option<String>,
    pub no_workspace: bool,
    /// Copy a workspace that would otherwise be refused.
    pub force: bool,
    /// The engine to launch on (`unix://…`); the default engine when unset.
    pub engine_host: Option<String>,
    /// A first task for the agent (`-p`, the picker's task field).
    pub task: Option<String>,
    /// Copy the workspace files that look like they hold secrets (`bottle
    /// start --copy-secret-files`); they are left out and named otherwise.
    pub copy_secret_files: bool,
}

/// A resolved launch, waiting for the operator's yes.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub plan: Plan,
    /// The preflight (SPEC §6) exactly as the operator confirms it.
    pub preflight: String,
    pub copy_list: Option<CopyList>,
    pub host_home: PathBuf,
    /// The engine the plan was made against, and will be launched on.
    pub engine_host: String,
    pub task: Option<String>,
    /// A stopped bottle coming back: its volumes and state exist and must
    /// survive a failed launch.
    pub resume: bool,
    /// The agent CLI's session id (Claude Code's `--session-id`): new for
    /// a new bottle, the recorded one on resume.
    pub session_id: String,
    /// Run the bottle even if its isolation self-check fails
    /// (`--allow-unverified`; never the default).
    pub allow_unverified: bool,
}

/// Resolves the plan for a new bottle of `opts.agent`.
/// The preflight's lines naming the workspace files that look like they
/// hold secrets: left out of the copy unless `--copy-secret-files`.
pub fn secrets_text(list: &CopyList) -> String {
    if list.secrets.is_empty() {
        return String::new();
    }
    let mut out = if list.secrets_kept {
        format!(
            "secrets    {} file(s) that look like they hold secrets WILL be copied (--copy-secret-files):\n",
            list.secrets.len()
        )
    } else {
        format!(
            "secrets    {} file(s) that look like they hold secrets are left out (--copy-secret-files copies them):\n",
            list.secrets.len()
        )
    };
    for (path, why) in &list.secrets {
        out.push_str(&format!(
            "             {}  ({})\n",
            crate::sanitize::inline(path),
            crate::sanitize::inline(why)
        ));
    }
    out
}

pub fn prepare(
    home: &Home,
    defs: &Definitions,
    workspace: &Path,
    opts: &Options,
) -> Result<Prepared> {
    let copy = defs
        .agent(&opts.agent)
        .is_some_and(|a| a.def.copy_workspace)
        && !opts.no_workspace;
    let host_home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let copy_list = if copy {
        let root = workspace_copy::check_root(workspace, &host_home, &home.root, opts.force)?;
        let mut list = workspace_copy::scan(&root)?;
        list.hold_back_secrets(opts.copy_secret_files);
        Some(list)
    } else {
        None
    };
    let agent_name = defs
        .agent(&opts.agent)
        .map_or(opts.agent.as_str(), |a| a.name());
    let slug = Slug::generate(agent_name).context("generating a slug")?;
    let engine_host = opts
        .engine_host
        .clone()
        .unwrap_or_else(backends::default_host);
    let backend = backends::connect(&engine_host);
    let mut engine = backend.facts()?;
    probe_gvisor(&*backend, home, &mut engine, opts.runtime.as_deref());
    let plan = plan(PrepareInput {
        defs,
        agent: &opts.agent,
        slug,
        home_hash: home.label_hash(),
        engine,
        workspace: copy_list.as_ref().map(|l| {
            // A `.git` git itself can read (the git gate's workspace repo).
            let mut facts = l.facts();
            facts.git = facts.git && backends::gitgate::host_repository(&facts.root).is_some();
            facts
        }),
        runtime_override: opts.runtime.clone(),
        host: &crate::manifest::RealHost,
        bottle_sha256: sha256_file(&sidecar_binary()?)?,
    })?;
    let task = opts.task.clone().filter(|t| !t.trim().is_empty());
    let mut preflight = preflight::render(&plan);
    if let Some(list) = &copy_list {
        preflight.push_str(&secrets_text(list));
    }
    if let Some(t) = &task {
        preflight.push_str(&format!("task       {}\n", crate::sanitize::inline(t)));
    }
    Ok(Prepared {
        plan,
        preflight,
        copy_list,
        host_home,
        engine_host,
        task,
        resume: false,
        session_id: crate::backends::provider::new_session_id(),
        allow_unverified: false,
    })
}

/// Resolves the plan for bringing back the stopped bottle `slug`: the same
/// slug, engine and volumes, the definitions resolved again, the runtime of
/// the last launch kept. The preflight ends with what changed since then.
pub fn prepare_resume(home: &Home, defs: &Definitions, slug: &Slug) -> Result<Prepared> {
    let state_dir = home.state_dir(slug.as_str());
    let meta = match BottleRecord::load(&state_dir) {
        Ok(meta) => meta,
        Err(e @ RecordError::Missing(_)) => bail!("no stopped bottle `{slug}` ({e})"),
        Err(e) => bail!("invalid metadata: {e}"),
    };
    if meta.agent.is_empty() {
        bail!("{}: metadata.json has no agent", state_dir.display());
    }
    let agent = meta.agent.clone();
    let hash = home.label_hash();
    let engine_host = backends::host_of(&state_dir);
    let backend = backends::connect(&engine_host);
    let present = backend
        .objects(Some(&hash))?
        .into_iter()
        .find(|o| o.slug == slug.as_str());
    let mut engine = backend.facts()?;
    probe_gvisor(&*backend, home, &mut engine, None);
    if present.as_ref().is_some_and(|o| !o.containers.is_empty()) {
        bail!("`{slug}` is not stopped: `bottle attach {slug}`, or `bottle stop {slug}` first");
    }
    if present.as_ref().is_none_or(|o| o.volumes.is_empty()) {
        bail!("`{slug}` has no volumes left to resume (it was removed); start a new bottle");
    }
    // The runtime of the last launch, unless it is what the engine would
    // pick anyway (then the preflight says so, as it did then).
    let last_runtime = meta.runtime.clone();
    let sha = sha256_file(&sidecar_binary()?)?;
    let plan_with = |runtime_override: Option<String>| {
        plan(PrepareInput {
            defs,
            agent: &agent,
            slug: slug.clone(),
            home_hash: hash.clone(),
            engine: engine.clone(),
            workspace: None,
            runtime_override,
            host: &crate::manifest::RealHost,
            bottle_sha256: sha.clone(),
        })
    };
    let mut resumed = plan_with(None)?;
    if last_runtime
        .as_ref()
        .is_some_and(|r| *r != resumed.runtime.name)
    {
        resumed = plan_with(last_runtime)?;
    }
    // The gate keeps taking the workspace repository's pushes if it did.
    if crate::backends::gitgate::has_workspace_repo(&state_dir) {
        resumed.gate_workspace = meta.workspace.as_ref().map(PathBuf::from);
    }
    // An approved capability stays with the bottle: it resumes on that
    // image (built again, without network, if the engine lost it).
    if let Some((reference, dockerfile)) = CapabilityRecord::approved(&state_dir) {
        resumed.agent_image = crate::backends::plan::ImagePlan {
            build: !engine.images.contains(&reference),
            reference,
            source: crate::backends::plan::ImageSource::Capability(dockerfile),
        };
    }
    const KEPT: &str = "workspace  kept in the work volume";
    let mut text = preflight::render(&resumed).replace("workspace  not copied", KEPT);
    let old = meta.preflight.replace("workspace  not copied", KEPT);
    let diff = preflight_diff(&old, &text);
    if diff.is_empty() {
        text.push_str("(no changes since the last launch)\n");
    } else {
        text.push_str(&format!("changes since the last launch:\n{diff}"));
    }
    Ok(Prepared {
        plan: resumed,
        preflight: text,
        copy_list: None,
        host_home: std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/")),
        engine_host,
        task: None,
        resume: true,
        session_id: meta
            .session_id
            .clone()
            .unwrap_or_else(crate::backends::provider::new_session_id),
        allow_unverified: false,
    })
}

/// The runtime probe's verdict on runsc for this home (`cached`: a fresh
/// cached verdict will do), with the probe's image made from this `bottle`
/// executable.
pub fn runsc_verdict(
    backend: &dyn Backend,
    home: &Path,
    home_hash: &str,
    cached: bool,
) -> Result<(), String> {
    match sidecar_binary().and_then(|bin| Ok((sha256_file(&bin)?, bin))) {
        Ok((sha, bin)) => backend.runtime_verdict(
            home,
            home_hash,
            "runsc",
            &backends::ProbeBinary {
                path: &bin,
                sha256: &sha,
            },
            cached,
        ),
        Err(e) => Err(format!("could not read the bottle executable: {e}")),
    }
}

/// The runtime probe's verdict on `runsc` (cached per engine and runtime),
/// when the engine offers it and no other runtime was asked for.
fn probe_gvisor(
    backend: &dyn Backend,
    home: &Home,
    facts: &mut crate::backends::plan::EngineFacts,
    wanted: Option<&str>,
) {
    if !facts.gvisor_offered() || wanted.is_some_and(|w| w != "runsc") {
        return;
    }
    let verdict = runsc_verdict(backend, &home.root, &home.label_hash(), true);
    if let Err(why) = &verdict {
        tracing::warn!("runsc fails the runtime probe: {why}");
    }
    facts.gvisor_probe = Some(verdict);
}

/// Lines only in the old preflight (`-`) and only in the new one (`+`),
/// ignoring the workspace line (a resume never copies again).
pub fn preflight_diff(old: &str, new: &str) -> String {
    // Whether an image was built or present, or why a runtime was chosen,
    // is not a change of the bottle.
    let norm = |l: &str| -> String {
        if l.starts_with("image") || l.starts_with("sidecar") || l.starts_with("runtime") {
            l.split("  (").next().unwrap_or(l).to_string()
        } else {
            l.to_string()
        }
    };
    let keep = |l: &&str| !l.starts_with("workspace");
    let old_lines: Vec<String> = old.lines().filter(keep).map(norm).collect();
    let new_lines: Vec<String> = new.lines().filter(keep).map(norm).collect();
    let mut out = String::new();
    for l in old_lines.iter().filter(|l| !new_lines.contains(l)) {
        out.push_str(&format!("  - {l}\n"));
    }
    for l in new_lines.iter().filter(|l| !old_lines.contains(l)) {
        out.push_str(&format!("  + {l}\n"));
    }
    out
}

/// Bottles need a local engine: the agent's resolver file is bound from
/// `$BOTTLE_HOME`, which a remote engine cannot see.
pub fn check_local_engine(host: &str) -> Result<()> {
    if !host.starts_with("unix://") {
        bail!("{host}: bottles need a local engine (the agent's resolver file is bound from $BOTTLE_HOME); use a unix:// socket");
    }
    Ok(())
}

/// Launches a confirmed plan with the session's `?`/`${}` values; `resume`:
/// the volumes and state exist and must survive a failed launch. Progress
/// lines (image builds, steps) go to `progress`.
pub fn launch(
    home: &Home,
    p: &Prepared,
    session_env: Vec<(String, Secret)>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<()> {
    let resume = p.resume;
    check_local_engine(&p.engine_host)?;
    let plan = &p.plan;
    let skills = skill_lists(plan, &p.host_home)?;
    let bin = std::fs::read(sidecar_binary()?).context("reading the bottle executable")?;
    // SAFETY: getuid/getgid cannot fail.
    let operator = unsafe { format!("{}:{}", libc::getuid(), libc::getgid()) };
    let cmd = crate::backends::provider::command(&p.session_id, p.task.as_deref());
    let state_dir = home.state_dir(plan.slug.as_str());
    crate::state::create_private_dir(&state_dir)?;
    let egress = crate::backends::egress::prepare(&state_dir, plan, &session_env, &p.host_home)?;
    // Supervise: the sidecar gets this bottle's queue directory and only it.
    let queue_dir = if plan.bottle.supervise {
        let dir = home.queue_dir().join(plan.slug.as_str());
        crate::state::create_private_dir(&dir)?;
        Some(dir)
    } else {
        None
    };
    let input = LaunchInput {
        plan,
        bottle_bin: &bin,
        workspace: p.copy_list.as_ref(),
        skills: &skills,
        operator,
        cmd,
        session_env,
        state_dir,
        resume,
        engine_host: p.engine_host.clone(),
        egress: &egress,
        queue_dir,
        allow_unverified: p.allow_unverified,
    };
    let isolation = backends::connect(&p.engine_host).launch(&input, progress)?;
    write_metadata(home, p, isolation)
}

/// Each skill directory, listed without following symlinks, only from
/// inside ~/.claude/skills/.
fn skill_lists(plan: &Plan, host_home: &Path) -> Result<Vec<(String, CopyList)>> {
    let base = host_home.join(".claude").join("skills");
    let mut out = Vec::new();
    for s in &plan.agent.def.skills {
        let dir = base.join(&s.value);
        let meta = std::fs::symlink_metadata(&dir)
            .with_context(|| format!("skill `{}`: {}", s.value, dir.display()))?;
        if !meta.is_dir() {
            bail!(
                "skill `{}`: {} is not a directory (symlinks are not followed)",
                s.value,
                dir.display()
            );
        }
        out.push((s.value.clone(), workspace_copy::scan(&dir)?));
    }
    Ok(out)
}

/// metadata.json: what was launched (SPEC §2; 0644, no secrets).
fn write_metadata(home: &Home, p: &Prepared, isolation: IsolationRecord) -> Result<()> {
    use crate::backends::plan::EnvPlan;
    use crate::state::record::{Images, SessionEnv};
    let (plan, preflight) = (&p.plan, &p.preflight);
    let dir = home.state_dir(plan.slug.as_str());
    crate::state::create_private_dir(&dir)?;
    // A resume keeps what only the first launch knew.
    let old = BottleRecord::read(&dir).unwrap_or_default();
    let workspace = plan
        .workspace
        .as_ref()
        .map(|w| w.root.display().to_string())
        .or(old.workspace);
    BottleRecord {
        version: 1,
        slug: plan.slug.as_str().to_string(),
        agent: plan.agent.name().to_string(),
        bottle: plan.bottle.name.clone(),
        backend: plan.engine.clone(),
        engine_host: p.engine_host.clone(),
        workspace,
        started_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        images: Images {
            agent: plan.agent_image.reference.clone(),
            sidecar: plan.sidecar_image.reference.clone(),
        },
        runtime: Some(plan.runtime.name.clone()),
        preflight: preflight.clone(),
        session_id: Some(p.session_id.clone()),
        session_env: plan
            .env
            .iter()
            .filter_map(|e| match e {
                EnvPlan::Literal { .. } => None,
                EnvPlan::Prompt { name, message } => Some(SessionEnv {
                    name: name.clone(),
                    ask: Some(message.clone()),
                    host: None,
                }),
                EnvPlan::Host { name, var } => Some(SessionEnv {
                    name: name.clone(),
                    ask: None,
                    host: Some(var.clone()),
                }),
            })
            .collect(),
        isolation: Some(isolation),
        ..BottleRecord::default()
    }
    .save(&dir)
}

/// The definitions as `bottle check` sees them from `workspace`.
pub fn definitions(home: &Home, workspace: &Path) -> Result<Definitions> {
    let trust = crate::state::TrustFile::load(&home.trust_file())?;
    let sources = crate::manifest::read_sources(&home.root, Some(workspace));
    Ok(crate::manifest::load(&sources, &trust))
}

/// The `?` values the operator is asked for: (name, message).
pub fn prompts(plan: &Plan) -> Vec<(String, String)> {
    plan.env
        .iter()
        .filter_map(|e| match e {
            crate::backends::plan::EnvPlan::Prompt { name, message } => {
                Some((name.clone(), message.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The session's `?`/`${}` values: `${VAR}` from this environment, `?`
/// from `answers`; anything missing is an error naming it.
pub fn session_env(plan: &Plan, answers: &[(String, Secret)]) -> Result<Vec<(String, Secret)>> {
    use crate::backends::plan::EnvPlan;
    let mut out = Vec::new();
    for e in &plan.env {
        match e {
            EnvPlan::Literal { .. } => {}
            EnvPlan::Host { name, var } => match std::env::var(var) {
                Ok(v) => out.push((name.clone(), Secret::new(v))),
                Err(_) => bail!("{name}: ${{{var}}} is not set in this environment"),
            },
            EnvPlan::Prompt { name, .. } => match answers.iter().find(|(n, _)| n == name) {
                Some((_, v)) => out.push((name.clone(), v.clone())),
                None => bail!("{name} was not answered"),
            },
        }
    }
    Ok(out)
}
