//! Bottle and agent definitions (SPEC §2–3): Markdown files with YAML
//! frontmatter, parsed strictly with a `file:line:col` on every problem.
//! Pure apart from `source` (reads the definition directories) and the
//! host checks behind the `HostFacts` trait. Imports nothing of the crate.

mod agent;
mod bottle;
mod extends;
mod frontmatter;
mod gitgate;
mod launch;
mod load;
mod route;
mod schema;
mod source;
pub mod yaml;

pub use bottle::parse_memory;
pub use extends::overlay_user as overlay_git_user;
pub use gitgate::{parse_repo_url, parse_ssh_url, WORKSPACE_REPO};
pub use launch::{host_warnings, resolve_path as resolve_definition_path, HostFacts, RealHost};
pub use load::load;
pub use route::{normalize_host, DLP_RULES, METHODS};
pub use schema::did_you_mean;
pub use source::{embedded_file, read_sources, SourceFile, Sources, EMBEDDED_FILES};
pub use yaml::Pos;

use ipnet::IpNet;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one file. Displays as `path:line:col: severity: message`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub path: PathBuf,
    pub pos: Pos,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {sev}: {}",
            self.path.display(),
            self.pos.line,
            self.pos.col,
            self.message
        )
    }
}

/// A value and where it was written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub pos: Pos,
}

/// Where a definition came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Shipped inside the binary (SPEC §3.3); a home file of the same name wins.
    Embedded,
    #[default]
    Home,
    /// `<workspace>/.bottle/agents/`: untrusted input.
    Repo,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EnvValue {
    Literal(String),
    /// `?message`: asked at launch, masked.
    Prompt(String),
    /// `${NAME}`: copied from the host environment at launch.
    Host(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
    pub pos: Pos,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    #[default]
    Claude,
    Codex,
    Shell,
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Template::Claude => "claude",
            Template::Codex => "codex",
            Template::Shell => "shell",
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentProvider {
    pub template: Template,
    pub dockerfile: Option<At<String>>,
    pub image: Option<At<String>>,
    pub auth_token: Option<At<String>>,
    pub forward_host_credentials: bool,
    /// The file that declared it (it may be inherited through `extends`).
    pub path: PathBuf,
    pub pos: Pos,
}

impl AgentProvider {
    /// Hosts whose credentials the provider injects (SPEC §5.3).
    pub fn provider_hosts(&self) -> &'static [&'static str] {
        match self.template {
            Template::Claude if self.auth_token.is_some() => &["api.anthropic.com"],
            Template::Codex if self.forward_host_credentials => &["api.openai.com", "chatgpt.com"],
            _ => &[],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthScheme {
    Bearer,
    Token,
    Basic,
}

impl fmt::Display for AuthScheme {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            AuthScheme::Bearer => "Bearer",
            AuthScheme::Token => "token",
            AuthScheme::Basic => "Basic",
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RouteAuth {
    pub scheme: AuthScheme,
    pub token_ref: At<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Route {
    /// Normalized ASCII (IDNA) host, without the `*.` of a wildcard.
    pub host: String,
    pub wildcard: bool,
    /// The Unicode form when it differs from `host`.
    pub unicode_host: Option<String>,
    pub host_pos: Pos,
    pub ports: Vec<u16>,
    pub path_allowlist: Vec<String>,
    pub methods: Vec<String>,
    pub auth: Option<RouteAuth>,
    pub auth_pos: Option<Pos>,
    pub tls_passthrough: bool,
    pub ssrf_ip_allowlist: Vec<IpNet>,
    pub websocket: bool,
    pub dlp_exempt: Vec<String>,
    pub pos: Pos,
}

impl Route {
    pub fn display_host(&self) -> String {
        if self.wildcard {
            format!("*.{}", self.host)
        } else {
            self.host.clone()
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Egress {
    pub upstream_ca: Option<At<String>>,
    pub upstream_proxy: Option<At<String>>,
    pub routes: Vec<Route>,
    pub path: PathBuf,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitUser {
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshUrl {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// `https://host[:port]/path` (no userinfo, query or fragment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpsUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// A git-gate upstream: `ssh://` with a key and a pinned host key, or
/// `https://` with a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepoUrl {
    Ssh(SshUrl),
    Https(HttpsUrl),
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RepoUrl::Ssh(u) => write!(f, "ssh://{}@{}:{}/{}", u.user, u.host, u.port, u.path),
            RepoUrl::Https(u) if u.port == 443 => write!(f, "https://{}/{}", u.host, u.path),
            RepoUrl::Https(u) => write!(f, "https://{}:{}/{}", u.host, u.port, u.path),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GitRepo {
    pub name: String,
    pub url: RepoUrl,
    /// The URL as written (what the agent's `insteadOf` maps).
    pub url_text: String,
    /// `ssh://` only: the key the gate pushes with.
    pub identity: Option<At<String>>,
    /// `ssh://` only: the one host key accepted.
    pub host_key: Option<String>,
    /// `https://` only: the token the gate sends.
    pub auth: Option<RouteAuth>,
    pub push_branches: Vec<String>,
    /// The definition that declared it (a relative `identity` is read
    /// from its directory).
    pub definition: PathBuf,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GitGate {
    pub user: Option<GitUser>,
    /// `None` entries are explicit `name: {}` removals of inherited repos.
    pub repos: Option<BTreeMap<String, Option<GitRepo>>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    pub memory: Option<At<u64>>,
    pub cpus: Option<At<f64>>,
    pub pids: Option<At<u32>>,
}

/// One bottle file as written (before `extends`). `None` = key absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BottleDef {
    pub name: String,
    pub path: PathBuf,
    pub origin: Origin,
    pub extends: Option<At<String>>,
    pub env: Option<Vec<EnvVar>>,
    pub agent_provider: Option<AgentProvider>,
    pub egress: Option<Egress>,
    pub git_gate: Option<GitGate>,
    pub supervise: Option<bool>,
    pub resources: Option<Resources>,
}

/// A bottle with `extends` applied: what a launch uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bottle {
    pub name: String,
    pub path: PathBuf,
    pub origin: Origin,
    /// This bottle first, then each parent.
    pub chain: Vec<String>,
    pub env: Vec<EnvVar>,
    pub agent_provider: AgentProvider,
    pub egress: Egress,
    pub git_user: GitUser,
    pub git_repos: BTreeMap<String, GitRepo>,
    pub supervise: bool,
    pub resources: Resources,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AgentDef {
    pub name: String,
    pub path: PathBuf,
    pub origin: Origin,
    pub bottle: At<String>,
    pub skills: Vec<At<String>>,
    pub git_user: Option<GitUser>,
    pub copy_workspace: bool,
    /// The Markdown body, trimmed: the system prompt.
    pub prompt: String,
    /// SHA-256 of the file's bytes (what trust pins).
    pub sha256: String,
}

/// A launchable agent as the picker lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    pub def: AgentDef,
    /// Repo agents: whether `trust.json` pins this exact content.
    pub trusted: bool,
    /// A trusted repo agent that replaces the home agent of the same name:
    /// the home agent's bottle.
    pub shadows_home_bottle: Option<String>,
}

impl Agent {
    pub fn name(&self) -> &str {
        &self.def.name
    }
    pub fn is_repo(&self) -> bool {
        self.def.origin == Origin::Repo
    }
    /// `reviewer` or `reviewer (repo)`.
    pub fn display_name(&self) -> String {
        if self.is_repo() {
            format!("{} (repo)", self.def.name)
        } else {
            self.def.name.clone()
        }
    }
}

/// Repo agents the operator trusted: canonical path + content hash.
pub trait TrustStore {
    fn is_trusted(&self, path: &std::path::Path, sha256: &str) -> bool;
}

impl TrustStore for () {
    fn is_trusted(&self, _: &std::path::Path, _: &str) -> bool {
        false
    }
}

/// Everything loaded: usable definitions plus every problem found.
#[derive(Clone, Debug, Default)]
pub struct Definitions {
    pub bottles: BTreeMap<String, Bottle>,
    /// Bottle files as written (for host checks and `info`).
    pub bottle_defs: BTreeMap<String, BottleDef>,
    pub agents: Vec<Agent>,
    pub problems: Vec<Problem>,
}

impl Definitions {
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    /// The agent `bottle start <name>` launches: a home (or embedded) agent,
    /// or the trusted repo agent that shadows it. `name (repo)` selects a
    /// repo agent explicitly.
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        if let Some(base) = name.strip_suffix(" (repo)") {
            return self
                .agents
                .iter()
                .find(|a| a.is_repo() && a.def.name == base);
        }
        let mut matches = self.agents.iter().filter(|a| a.def.name == name);
        let first = matches.next()?;
        Some(matches.find(|a| !a.is_repo()).unwrap_or(first))
    }
}
