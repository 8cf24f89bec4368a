//! `check`, `list`, `info` and `debug emulate`: commands that need only the
//! definitions (and no engine).

use crate::manifest::{self, Definitions, EnvValue, Origin, Severity};
use crate::session::screen::{parse_size, Screen, Vt100Screen};
use crate::state::Home;
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};

pub struct Context {
    pub home: Home,
    pub workspace: PathBuf,
}

impl Context {
    pub fn new(workspace: Option<PathBuf>) -> Result<Context> {
        let workspace = match workspace {
            Some(w) => w,
            None => std::env::current_dir().context("reading the current directory")?,
        };
        if !workspace.is_dir() {
            bail!("workspace {} is not a directory", workspace.display());
        }
        Ok(Context {
            home: Home::from_env()?,
            workspace,
        })
    }

    pub fn load(&self) -> Result<Definitions> {
        crate::launcher::definitions(&self.home, &self.workspace)
    }
}

pub fn check(ctx: &Context) -> Result<i32> {
    let defs = ctx.load()?;
    let mut problems = defs.problems.clone();
    problems.extend(manifest::host_warnings(&defs, &manifest::RealHost));
    let config = ctx.home.config_file();
    problems.extend(crate::app::keymap::Keymap::from_config(&config, std::fs::read(&config)).1);
    problems.sort();
    problems.dedup();
    for p in &problems {
        println!("{p}");
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .count();
    let warnings = problems.len() - errors;
    eprintln!(
        "bottle: {errors} error(s), {warnings} warning(s); usable: {} bottle(s), {} agent(s)",
        defs.bottles.len(),
        defs.agents.len()
    );
    Ok(if errors > 0 { 1 } else { 0 })
}

#[derive(serde::Serialize)]
struct AgentJson<'a> {
    name: &'a str,
    display_name: String,
    bottle: &'a str,
    origin: Origin,
    trusted: bool,
    shadows_home_bottle: Option<&'a str>,
    path: &'a Path,
}

#[derive(serde::Serialize)]
struct ListJson<'a> {
    version: u32,
    agents: Vec<AgentJson<'a>>,
    bottles: Vec<serde_json::Value>,
    errors: usize,
}

pub fn list(ctx: &Context, json: bool) -> Result<i32> {
    let defs = ctx.load()?;
    if json {
        let agents = defs
            .agents
            .iter()
            .map(|a| AgentJson {
                name: a.name(),
                display_name: a.display_name(),
                bottle: &a.def.bottle.value,
                origin: a.def.origin,
                trusted: a.trusted,
                shadows_home_bottle: a.shadows_home_bottle.as_deref(),
                path: &a.def.path,
            })
            .collect();
        let out = ListJson {
            version: 1,
            agents,
            bottles: bottles(ctx)
                .iter()
                .map(|b| serde_json::to_value(b).unwrap_or_default())
                .collect(),
            errors: defs.errors(),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        // Names and states can come from a repository or an engine:
        // sanitized (SPEC §4.9).
        use crate::sanitize::inline;
        println!("{:<24} {:<16} {:<9} NOTE", "AGENT", "BOTTLE", "SOURCE");
        for a in &defs.agents {
            let origin = match a.def.origin {
                Origin::Embedded => "built-in",
                Origin::Home => "home",
                Origin::Repo => "repo",
            };
            let note = match (&a.shadows_home_bottle, a.is_repo() && !a.trusted) {
                (Some(b), _) => {
                    format!(
                        "overrides home agent; bottle {} → {}",
                        inline(b),
                        inline(&a.def.bottle.value)
                    )
                }
                (None, true) => "untrusted: asks for trust at first launch".into(),
                _ => String::new(),
            };
            println!(
                "{:<24} {:<16} {:<9} {note}",
                inline(&a.display_name()),
                inline(&a.def.bottle.value),
                origin
            );
        }
        let list = bottles(ctx);
        println!(
            "\n{:<24} {:<12} {:<10} {:<8} {:<8} {:<8} REQUESTS",
            "BOTTLE", "AGENT", "STATUS", "BACKEND", "SIDECAR", "SERVICES"
        );
        for b in &list {
            println!(
                "{:<24} {:<12} {:<10} {:<8} {:<8} {:<8} {}",
                inline(&b.slug),
                inline(&b.agent),
                inline(&b.status.to_string()),
                inline(&b.backend),
                if b.sidecar_running { "running" } else { "-" },
                if b.services.is_empty() {
                    "-".to_string()
                } else {
                    inline(&b.services.join(","))
                },
                b.pending
            );
        }
        if list.is_empty() {
            println!("(none)");
        }
    }
    if defs.errors() > 0 {
        eprintln!(
            "bottle: {} definition error(s); run `bottle check`",
            defs.errors()
        );
    }
    Ok(0)
}

pub fn info(ctx: &Context, name: &str) -> Result<i32> {
    let defs = ctx.load()?;
    let Some(agent) = defs.agent(name) else {
        let names: Vec<&str> = defs.agents.iter().map(|a| a.name()).collect();
        let hint = manifest::did_you_mean(name, names.iter().copied())
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        bail!("no agent `{name}`{hint} (agents: {})", names.join(", "));
    };
    let Some(b) = defs.bottles.get(&agent.def.bottle.value) else {
        bail!(
            "agent `{name}` uses bottle `{}`, which has errors; run `bottle check`",
            agent.def.bottle.value
        );
    };
    println!(
        "agent      {}  ({})",
        agent.display_name(),
        agent.def.path.display()
    );
    if let Some(home_bottle) = &agent.shadows_home_bottle {
        println!(
            "           overrides home agent; bottle {home_bottle} → {}",
            b.name
        );
    }
    println!(
        "bottle     {}  ({})",
        b.chain.join(" extends "),
        b.path.display()
    );
    let p = &b.agent_provider;
    let image = p
        .image
        .as_ref()
        .map(|i| format!("image {}", i.value))
        .or_else(|| {
            p.dockerfile
                .as_ref()
                .map(|d| format!("dockerfile {}", d.value))
        })
        .unwrap_or_else(|| format!("built-in {} image", p.template));
    println!("provider   {}  ({image})", p.template);
    if let Some(t) = &p.auth_token {
        println!(
            "           {} will be injected on api.anthropic.com",
            t.value
        );
    }
    if p.forward_host_credentials {
        println!(
            "           the host's Codex login will be injected on api.openai.com, chatgpt.com"
        );
    }
    for v in &b.env {
        let how = match &v.value {
            EnvValue::Literal(_) => "literal".to_string(),
            EnvValue::Prompt(_) => "asked at launch".to_string(),
            EnvValue::Host(h) => format!("from host ${h}"),
        };
        println!("env        {}  ({how})", v.name);
    }
    if b.egress.routes.is_empty() && p.provider_hosts().is_empty() {
        println!("egress     none: no network beyond the sidecar");
    }
    for r in &b.egress.routes {
        let mut parts = vec![r.display_host()];
        if let Some(u) = &r.unicode_host {
            parts.push(format!("({u})"));
        }
        if !r.ports.is_empty() {
            parts.push(format!("ports {:?}", r.ports));
        }
        if !r.path_allowlist.is_empty() {
            parts.push(format!("paths {}", r.path_allowlist.join(" ")));
        }
        if !r.methods.is_empty() {
            parts.push(format!("methods {}", r.methods.join(",")));
        }
        if let Some(a) = &r.auth {
            parts.push(format!(
                "{} {} will be injected",
                a.scheme, a.token_ref.value
            ));
        }
        if r.tls_passthrough {
            parts.push("tls passthrough (not inspected)".into());
        }
        if r.websocket {
            parts.push("websocket".into());
        }
        println!("egress     {}", parts.join("  "));
    }
    let mut user = b.git_user.clone();
    if let Some(u) = &agent.def.git_user {
        crate::manifest::overlay_git_user(&mut user, u);
    }
    if user.name.is_some() || user.email.is_some() {
        println!(
            "git user   {} <{}>",
            user.name.as_deref().unwrap_or("-"),
            user.email.as_deref().unwrap_or("-")
        );
    }
    for repo in b.git_repos.values() {
        println!("git gate   {}", crate::backends::gitgate::describe(repo));
    }
    println!("supervise  {}", if b.supervise { "on" } else { "off" });
    let skills: Vec<&str> = agent.def.skills.iter().map(|s| s.value.as_str()).collect();
    if !skills.is_empty() {
        println!("skills     {}", skills.join(", "));
    }
    println!(
        "workspace  {}",
        if agent.def.copy_workspace {
            "copied into the bottle"
        } else {
            "not copied"
        }
    );
    let prompt_lines = agent.def.prompt.lines().count();
    println!("prompt     {prompt_lines} line(s)");
    Ok(0)
}

pub fn emulate(file: &Path, size: &str, attrs: bool) -> Result<i32> {
    let (rows, cols) = parse_size(size).map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut screen = Vt100Screen::new(rows, cols, 0);
    screen.process(&bytes);
    let mut out = String::new();
    if attrs {
        for r in 0..rows {
            out.push_str(&attr_row(&screen, r, cols));
            out.push('\n');
        }
    } else {
        for row in screen.text_rows() {
            out.push_str(&row);
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(0)
}

/// One row with a full SGR (`0;…m`) wherever the attributes change, in the
/// spirit of `tmux capture-pane -e`.
fn attr_row(screen: &Vt100Screen, row: u16, cols: u16) -> String {
    use crate::session::screen::{Cell, Color};
    let sgr = |c: &Cell| {
        let mut p = vec!["0".to_string()];
        for (on, code) in [
            (c.bold, "1"),
            (c.dim, "2"),
            (c.italic, "3"),
            (c.underline, "4"),
            (c.blink, "5"),
            (c.inverse, "7"),
            (c.hidden, "8"),
            (c.strikethrough, "9"),
        ] {
            if on {
                p.push(code.into());
            }
        }
        for (color, base) in [(c.fg, 38), (c.bg, 48), (c.underline_color, 58)] {
            match color {
                Color::Default => {}
                Color::Idx(i) => p.push(format!("{base};5;{i}")),
                Color::Rgb(r, g, b) => p.push(format!("{base};2;{r};{g};{b}")),
            }
        }
        format!("\x1b[{}m", p.join(";"))
    };
    let mut out = String::new();
    let mut last: Option<String> = None;
    for col in 0..cols {
        let Some(cell) = screen.cell(row, col) else {
            continue;
        };
        if cell.wide_continuation {
            continue;
        }
        let code = sgr(&cell);
        if last.as_ref() != Some(&code) {
            out.push_str(&code);
            last = Some(code);
        }
        out.push_str(if cell.text.is_empty() {
            " "
        } else {
            &cell.text
        });
    }
    out
}

/// This home's bottles: the engine's, plus stopped ones (state kept, no
/// containers). Engine trouble is reported, not fatal: the agents and
/// stopped bottles still list.
pub fn bottles(ctx: &Context) -> Vec<crate::backends::inventory::BottleInfo> {
    let hash = ctx.home.label_hash();
    let engine = crate::backends::inventory::all_bottles(&hash)
        .map(|(_, rows)| rows)
        .unwrap_or_else(|e| {
            eprintln!("bottle: warning: {e:#}");
            Vec::new()
        });
    crate::backends::inventory::home_bottles(&ctx.home, engine)
}
