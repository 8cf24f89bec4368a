//! `prepare`: everything a launch will do, decided purely from the
//! definitions, the host facts and the engine facts gathered beforehand
//! (SPEC §6). The preflight the operator confirms is rendered from this
//! plan, so what is shown is what is launched.

use super::images;
use crate::manifest::{
    self, Agent, Bottle, Definitions, EnvValue, GitUser, HostFacts, Problem, Route, Severity,
};
use crate::state::names::{Names, Slug};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Facts about the engine, gathered before `prepare`.
#[derive(Clone, Debug, Default)]
pub struct EngineFacts {
    /// `docker` or `podman`.
    pub engine: String,
    pub api_version: String,
    pub runtimes: Vec<String>,
    /// The engine's default runtime (`runc` when it does not say).
    pub default_runtime: String,
    /// Image references present in the engine (`repo:tag`).
    pub images: BTreeSet<String>,
    /// The verdict of the runtime probe on `runsc` (`None`: not offered,
    /// or not probed): `Err` says which step failed and how.
    pub gvisor_probe: Option<Result<(), String>>,
}

/// What copying the workspace would carry (from `workspace_copy::scan`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceFacts {
    pub root: PathBuf,
    pub files: u64,
    pub bytes: u64,
    /// Symlinks, special files and ignored paths left out.
    pub skipped: u64,
    /// It is a git repository (`.git` at its top is copied): the bottle's
    /// `origin` is the git gate.
    pub git: bool,
}

pub struct PrepareInput<'a> {
    pub defs: &'a Definitions,
    pub agent: &'a str,
    pub slug: Slug,
    pub home_hash: String,
    pub engine: EngineFacts,
    pub workspace: Option<WorkspaceFacts>,
    /// `--runtime` / `BOTTLE_RUNTIME`.
    pub runtime_override: Option<String>,
    pub host: &'a dyn HostFacts,
    /// SHA-256 of the `bottle` executable that goes into the sidecar image.
    pub bottle_sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// An embedded template (`images/<name>/`).
    Template(&'static str),
    /// The definition's `dockerfile`.
    Dockerfile(PathBuf),
    /// The definition's prebuilt `image`.
    Prebuilt,
    /// An approved capability's Dockerfile (`state/<slug>/agent.Dockerfile`),
    /// built without network.
    Capability(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePlan {
    pub reference: String,
    pub source: ImageSource,
    /// Absent from the engine and buildable: built at launch.
    pub build: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimePlan {
    pub name: String,
    /// Chosen because the engine offers it (not by an override).
    pub automatic: bool,
    /// Why this runtime, for the preflight (a warning when a forced
    /// runtime failed its probe).
    pub note: String,
}

/// Where an environment variable's value comes from. Only literals may go
/// into container configuration; prompts and host values travel only in
/// the session's environment (SPEC §3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvPlan {
    Literal { name: String, value: String },
    Prompt { name: String, message: String },
    Host { name: String, var: String },
}

impl EnvPlan {
    pub fn name(&self) -> &str {
        match self {
            EnvPlan::Literal { name, .. }
            | EnvPlan::Prompt { name, .. }
            | EnvPlan::Host { name, .. } => name,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResourcePlan {
    pub memory_bytes: u64,
    pub cpus: f64,
    pub pids: u32,
}

pub const DEFAULT_MEMORY: u64 = 4 << 30;
pub const DEFAULT_CPUS: f64 = 2.0;
pub const DEFAULT_PIDS: u32 = 1024;

#[derive(Clone, Debug)]
pub struct Plan {
    pub slug: Slug,
    pub names: Names,
    pub home_hash: String,
    pub engine: String,
    pub agent: Agent,
    pub bottle: Bottle,
    pub agent_image: ImagePlan,
    pub sidecar_image: ImagePlan,
    pub runtime: RuntimePlan,
    /// Fixed, non-secret environment of every agent container (SPEC §5.1).
    pub base_env: Vec<(String, String)>,
    pub env: Vec<EnvPlan>,
    pub resources: ResourcePlan,
    pub git_user: GitUser,
    pub workspace: Option<WorkspaceFacts>,
    /// The host repository whose pushes the git gate's `workspace`
    /// repository takes: the copied workspace when it is a git repository
    /// (a resume keeps the first launch's).
    pub gate_workspace: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("no agent `{name}`{hint} (agents: {known})")]
    UnknownAgent {
        name: String,
        hint: String,
        known: String,
    },
    #[error("agent `{agent}` uses bottle `{bottle}`, which has errors; run `bottle check`")]
    BrokenBottle { agent: String, bottle: String },
    #[error("cannot launch `{agent}`:\n{}", .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    LaunchConditions {
        agent: String,
        problems: Vec<Problem>,
    },
    #[error("the `{0}` agent image is not part of this build yet; use `template: shell`, or `image:` / `dockerfile:` in the bottle")]
    TemplateUnavailable(String),
    #[error("the agent CLI: {0}")]
    AgentCli(String),
    #[error("runtime `{wanted}` is not offered by the engine (it offers: {offered})")]
    UnknownRuntime { wanted: String, offered: String },
}

impl Plan {
    /// Whether this bottle has a git gate: declared upstreams, or a
    /// workspace that is a git repository.
    pub fn has_gate(&self) -> bool {
        !self.bottle.git_repos.is_empty() || self.gate_workspace.is_some()
    }
}

pub const AGENT_HOME: &str = "/home/agent";
pub const WORKSPACE_DIR: &str = "/workspace";
pub const CA_BUNDLE: &str = "/home/agent/.bottle/ca-bundle.pem";

fn base_env() -> Vec<(String, String)> {
    let proxy = "http://egress:9099";
    let no_proxy = "gitgate,supervise,localhost,127.0.0.1";
    let mut env: Vec<(&str, &str)> = vec![
        ("HOME", AGENT_HOME),
        ("TERM", "xterm-256color"),
        ("LANG", "C.UTF-8"),
        ("HTTP_PROXY", proxy),
        ("HTTPS_PROXY", proxy),
        ("http_proxy", proxy),
        ("https_proxy", proxy),
        ("NO_PROXY", no_proxy),
        ("no_proxy", no_proxy),
        ("DISABLE_TELEMETRY", "1"),
        ("DO_NOT_TRACK", "1"),
        ("DISABLE_AUTOUPDATER", "1"),
        ("DISABLE_ERROR_REPORTING", "1"),
    ];
    for var in [
        "SSL_CERT_FILE",
        "NODE_EXTRA_CA_CERTS",
        "REQUESTS_CA_BUNDLE",
        "CODEX_CA_CERTIFICATE",
        "GIT_SSL_CAINFO",
    ] {
        env.push((var, CA_BUNDLE));
    }
    env.into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl EngineFacts {
    pub fn is_podman(&self) -> bool {
        self.engine == "podman"
    }

    /// gVisor is used automatically when the engine offers `runsc` and it
    /// passed the runtime probe (`stat`, `ls -la`, a file and a socket
    /// round trip; see `docker::probe`), on Docker and Podman alike.
    pub fn gvisor_automatic(&self) -> bool {
        self.gvisor_offered() && matches!(self.gvisor_probe, Some(Ok(())))
    }

    pub fn gvisor_offered(&self) -> bool {
        self.runtimes.iter().any(|r| r == "runsc")
    }

    fn default_runtime(&self) -> &str {
        if self.default_runtime.is_empty() {
            "runc"
        } else {
            &self.default_runtime
        }
    }
}

fn pick_runtime(engine: &EngineFacts, wanted: Option<&str>) -> Result<RuntimePlan, PrepareError> {
    match wanted {
        Some(w)
            if w == "runc"
                || w == engine.default_runtime()
                || engine.runtimes.iter().any(|r| r == w) =>
        {
            let note = match (w, &engine.gvisor_probe) {
                ("runsc", Some(Err(why))) => format!(
                    "forced by --runtime / BOTTLE_RUNTIME; WARNING: this runsc fails the runtime probe ({why}): `ls -la`, `stat` and what is built on them fail inside"
                ),
                _ => "chosen by --runtime / BOTTLE_RUNTIME".to_string(),
            };
            Ok(RuntimePlan {
                name: w.to_string(),
                automatic: false,
                note,
            })
        }
        Some(w) => Err(PrepareError::UnknownRuntime {
            wanted: w.to_string(),
            offered: engine.runtimes.join(", "),
        }),
        None if engine.gvisor_automatic() => Ok(RuntimePlan {
            name: "runsc".into(),
            automatic: true,
            note: "gVisor: offered by the engine, and it passed the runtime probe".into(),
        }),
        None => {
            let default = engine.default_runtime().to_string();
            let note = match &engine.gvisor_probe {
                Some(Err(why)) if engine.gvisor_offered() => format!(
                    "{default}: the engine's runsc fails the runtime probe ({why}) — install a current gVisor (gvisor.dev); --runtime runsc forces it"
                ),
                _ if engine.gvisor_offered() => {
                    format!("{default}: the engine's runsc was not probed")
                }
                _ => format!("{default}: the engine offers no gVisor (runsc)"),
            };
            Ok(RuntimePlan {
                name: default,
                automatic: true,
                note,
            })
        }
    }
}

fn agent_image(
    b: &Bottle,
    engine: &EngineFacts,
    host: &dyn HostFacts,
) -> Result<ImagePlan, PrepareError> {
    let p = &b.agent_provider;
    if let Some(image) = &p.image {
        let present = engine.images.contains(&image.value);
        return Ok(ImagePlan {
            reference: image.value.clone(),
            source: ImageSource::Prebuilt,
            build: !present,
        });
    }
    if let Some(d) = &p.dockerfile {
        let path = manifest::resolve_definition_path(&d.value, &p.path, &host.home_dir());
        let reference = format!("bottle/agent-{}:custom", b.name);
        return Ok(ImagePlan {
            reference,
            source: ImageSource::Dockerfile(path),
            build: true,
        });
    }
    let t = images::agent_template(p.template)
        .ok_or_else(|| PrepareError::TemplateUnavailable(p.template.to_string()))?;
    let cli = images::cli_source(p.template, host.env(images::AGENT_CLIS_VAR).as_deref())
        .map_err(PrepareError::AgentCli)?;
    let reference = images::agent_tag(t, &cli);
    let build = !engine.images.contains(&reference);
    Ok(ImagePlan {
        reference,
        source: ImageSource::Template(t.name),
        build,
    })
}

fn find_agent<'d>(defs: &'d Definitions, name: &str) -> Result<&'d Agent, PrepareError> {
    defs.agent(name).ok_or_else(|| {
        let names: Vec<&str> = defs.agents.iter().map(|a| a.name()).collect();
        let hint = manifest::did_you_mean(name, names.iter().copied())
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        PrepareError::UnknownAgent {
            name: name.to_string(),
            hint,
            known: names.join(", "),
        }
    })
}

pub fn prepare(input: PrepareInput) -> Result<Plan, PrepareError> {
    let agent = find_agent(input.defs, input.agent)?;
    let bottle = input
        .defs
        .bottles
        .get(&agent.def.bottle.value)
        .ok_or_else(|| PrepareError::BrokenBottle {
            agent: agent.display_name(),
            bottle: agent.def.bottle.value.clone(),
        })?;
    // Launch-time conditions are errors now, for the files this launch uses.
    let used: BTreeSet<PathBuf> = bottle
        .chain
        .iter()
        .filter_map(|n| input.defs.bottle_defs.get(n).map(|d| d.path.clone()))
        .chain([agent.def.path.clone()])
        .collect();
    let problems: Vec<Problem> = manifest::host_warnings(input.defs, input.host)
        .into_iter()
        .filter(|p| used.contains(&p.path))
        .map(|p| Problem {
            severity: Severity::Error,
            ..p
        })
        .collect();
    if !problems.is_empty() {
        return Err(PrepareError::LaunchConditions {
            agent: agent.display_name(),
            problems,
        });
    }
    let agent_image = agent_image(bottle, &input.engine, input.host)?;
    let sidecar_ref = images::sidecar_tag(&input.bottle_sha256);
    let sidecar_image = ImagePlan {
        build: !input.engine.images.contains(&sidecar_ref),
        reference: sidecar_ref,
        source: ImageSource::Template("sidecar"),
    };
    let runtime = pick_runtime(&input.engine, input.runtime_override.as_deref())?;
    let env = bottle
        .env
        .iter()
        .map(|v| match &v.value {
            EnvValue::Literal(value) => EnvPlan::Literal {
                name: v.name.clone(),
                value: value.clone(),
            },
            EnvValue::Prompt(message) => EnvPlan::Prompt {
                name: v.name.clone(),
                message: message.clone(),
            },
            EnvValue::Host(var) => EnvPlan::Host {
                name: v.name.clone(),
                var: var.clone(),
            },
        })
        .collect();
    let r = &bottle.resources;
    let resources = ResourcePlan {
        memory_bytes: r.memory.as_ref().map_or(DEFAULT_MEMORY, |m| m.value),
        cpus: r.cpus.as_ref().map_or(DEFAULT_CPUS, |c| c.value),
        pids: r.pids.as_ref().map_or(DEFAULT_PIDS, |p| p.value),
    };
    let mut git_user = bottle.git_user.clone();
    if let Some(u) = &agent.def.git_user {
        manifest::overlay_git_user(&mut git_user, u);
    }
    Ok(Plan {
        names: Names::for_slug(&input.slug),
        slug: input.slug,
        home_hash: input.home_hash,
        engine: input.engine.engine.clone(),
        agent: agent.clone(),
        bottle: bottle.clone(),
        agent_image,
        sidecar_image,
        runtime,
        base_env: {
            let mut env = base_env();
            env.extend(super::provider::env(&bottle.agent_provider));
            env
        },
        env,
        resources,
        git_user,
        gate_workspace: input
            .workspace
            .as_ref()
            .filter(|w| w.git && agent.def.copy_workspace)
            .map(|w| w.root.clone()),
        workspace: if agent.def.copy_workspace {
            input.workspace
        } else {
            None
        },
    })
}

/// Effective routes, provider routes first (SPEC §5.3).
pub fn effective_routes(b: &Bottle) -> Vec<(String, Option<&Route>)> {
    let mut out: Vec<(String, Option<&Route>)> = b
        .agent_provider
        .provider_hosts()
        .iter()
        .map(|h| {
            (
                h.to_string(),
                b.egress.routes.iter().find(|r| r.host == *h && !r.wildcard),
            )
        })
        .collect();
    for r in &b.egress.routes {
        if !out.iter().any(|(h, _)| *h == r.host && !r.wildcard) {
            out.push((r.display_host(), Some(r)));
        }
    }
    out
}
