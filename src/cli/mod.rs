//! Command-line definitions (clap) and dispatch: every command of SPEC §8.

mod bottles;
mod build;
mod cleanup;
mod definitions;
mod doctor;
mod export;
mod init;
mod queue;
mod routes;
mod start;

use crate::state::names::Slug;
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "bottle",
    version,
    about = "Run AI coding agents in hardened, isolated bottles, side by side in one workspace."
)]
#[command(
    long_about = "Run AI coding agents in hardened, isolated bottles, side by side in one workspace.\n\n\
Without a command, opens the full-screen workspace. Definitions live in $BOTTLE_HOME (default ~/.bottle): \
bottles/<name>.md (the security envelope) and agents/<name>.md (which bottle, skills, prompt); \
a repository may ship agents in <workspace>/.bottle/agents/."
)]
pub struct Cli {
    /// The workspace directory (default: the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Launch an agent in a new bottle (preflight, then attach).
    Start(StartArgs),
    /// Attach this terminal to a running bottle's agent (prefix-d detaches).
    Attach { slug: String },
    /// Open a plain shell in a bottle's agent container.
    Shell { slug: String },
    /// Run a command in a bottle's agent container; its exit code is propagated.
    Exec {
        slug: String,
        /// Run as this user instead of the agent user.
        #[arg(long)]
        user: Option<String>,
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// List agents and bottles.
    List {
        /// Output JSON (schema in ARCHITECTURE.md).
        #[arg(long)]
        json: bool,
    },
    /// Show what an agent would launch: its bottle after `extends`, routes, env names, skills.
    Info { agent: String },
    /// Check every definition; print each problem as path:line:col.
    Check,
    /// Show a bottle's launch and session log.
    Logs {
        slug: String,
        /// Show the sidecar's decision log instead.
        #[arg(long)]
        sidecar: bool,
        /// Keep printing as the log grows.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Stop a bottle, keeping its volumes and state (resumable).
    Stop { slug: String },
    /// Remove a bottle: containers, networks, volumes and state.
    Rm { slug: String },
    /// Resume a stopped bottle with its volumes, state and approved routes.
    Resume {
        slug: String,
        /// Skip the y/N confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print only the slug and leave the agent running.
        #[arg(long)]
        detach: bool,
        /// Run the bottle even if its isolation self-check fails.
        #[arg(long)]
        allow_unverified: bool,
    },
    /// Show what the agent changed in its copy of the workspace.
    Diff { slug: String },
    /// Get work out of a bottle's work volume.
    Export {
        slug: String,
        /// Print a patch instead of copying files.
        #[arg(long, conflicts_with = "to")]
        patch: bool,
        /// Copy the work tree into DIR (new or empty).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Also export agent-written configuration (git hooks and config,
        /// .envrc, editor tasks, …), which is otherwise held back and named.
        #[arg(long)]
        include_flagged: bool,
    },
    /// Show a bottle's live egress routes, or revoke one.
    Routes {
        slug: String,
        #[arg(long, value_name = "HOST")]
        revoke: Option<String>,
    },
    /// Bring what the agent pushed to the git gate into the workspace's
    /// repository as refs/remotes/bottle/<slug>/<branch> (checked, nothing
    /// checked out).
    Fetch { slug: String },
    /// git's upload-pack program for `bottle fetch`: relays git's protocol
    /// to `git upload-pack` on the gate in the bottle's sidecar.
    #[command(hide = true)]
    GitgateUploadPack {
        slug: String,
        /// The repository path git appends (ignored).
        #[arg(allow_hyphen_values = true)]
        path: Option<String>,
    },
    /// Remove leftover engine objects and stale state (always lists first).
    Cleanup {
        /// Do not ask for confirmation.
        #[arg(short = 'y', long)]
        yes: bool,
        /// Also remove stopped, resumable bottles (pinned ones are kept).
        #[arg(long)]
        all: bool,
        /// Act on bottles of every $BOTTLE_HOME on this engine.
        #[arg(long)]
        all_homes: bool,
    },
    /// List pending requests from agents.
    Queue {
        #[arg(long)]
        json: bool,
    },
    /// Approve a request (`<id>` or `<slug>/<id>`).
    Approve(DecideArgs),
    /// Reject a request (`<id>` or `<slug>/<id>`).
    Reject(DecideArgs),
    /// Answer an agent's question.
    Answer { id: String, text: String },
    /// Build the agent and sidecar images.
    Build {
        #[arg(long)]
        no_cache: bool,
    },
    /// Write commented starter definitions into $BOTTLE_HOME.
    Init {
        /// Agent (and bottle) name to create (default: dev).
        agent: Option<String>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Check the engine, isolation support, runtimes, images and $BOTTLE_HOME.
    Doctor,
    /// Run the sidecar daemons (inside the sidecar container).
    #[command(hide = true)]
    Sidecar {
        /// DNS refuser address (UDP and TCP).
        #[arg(long, default_value = "0.0.0.0:53")]
        dns: std::net::SocketAddr,
        /// Health listener address.
        #[arg(long, default_value = "0.0.0.0:9098")]
        health: std::net::SocketAddr,
        /// The sidecar's address on the agent network, answered for
        /// `egress`, `supervise` and `gitgate`.
        #[arg(
            long,
            env = "BOTTLE_SIDECAR_ADDR",
            required_unless_present = "address_in"
        )]
        address: Option<std::net::IpAddr>,
        /// Find that address among this container's interfaces: the one in
        /// this IPv4 subnet (the agent network's).
        #[arg(long, value_name = "CIDR", conflicts_with = "address")]
        address_in: Option<ipnet::Ipv4Net>,
        /// The egress directory (CA, routes.json), read-only.
        #[arg(long, default_value = crate::backends::egress::SIDECAR_EGRESS_DIR)]
        egress_dir: PathBuf,
        /// Where secret values are put after start (a tmpfs).
        #[arg(long, default_value = crate::backends::egress::SIDECAR_SECRETS_DIR)]
        secrets_dir: PathBuf,
        /// The egress proxy's port on the sidecar's address.
        #[arg(long, default_value_t = 9099)]
        egress_port: u16,
        /// This bottle's supervise queue directory (the MCP server runs
        /// when it exists).
        #[arg(long, default_value = crate::sidecar::supervise::QUEUE_DIR)]
        queue_dir: PathBuf,
        /// The supervise MCP server's port on the sidecar's address.
        #[arg(long, default_value_t = 9100)]
        supervise_port: u16,
        /// The git gate's repositories.
        #[arg(long, default_value = crate::policy::gitgate::GATE_ROOT)]
        gitgate_root: PathBuf,
        /// The git gate's port on the sidecar's address.
        #[arg(long, default_value_t = crate::policy::gitgate::PORT)]
        gitgate_port: u16,
    },
    /// Inside the sidecar: the git gate's pre-receive hook (run by git
    /// receive-pack; its environment says which repository).
    #[command(hide = true)]
    SidecarGitgateHook,
    /// Inside the sidecar: store secret values given as a JSON object on
    /// stdin (run by the launch through the engine, never with values in
    /// its arguments).
    #[command(hide = true)]
    SidecarSecrets {
        #[arg(long, default_value = crate::backends::egress::SIDECAR_SECRETS_DIR)]
        dir: PathBuf,
    },
    /// The session holder (the agent container's main process), or with
    /// `attach` a client of it (run by `docker exec -it`).
    #[command(hide = true)]
    SessionHost {
        /// `attach`: relay this terminal to the holder. `exec-as`: drop
        /// to `--agent-user` and exec the command (how a root holder
        /// starts the agent).
        #[arg(value_parser = ["attach", "exec-as"])]
        action: Option<String>,
        /// The agent's UID:GID (never 0): a holder running as root starts
        /// the agent with these ids.
        #[arg(long, value_parser = crate::session_host::privilege::parse_ids)]
        agent_user: Option<crate::session_host::privilege::Ids>,
        /// Read the session's environment as one JSON line on stdin first.
        #[arg(long)]
        env_stdin: bool,
        #[arg(long, default_value = crate::session_host::SOCKET)]
        socket: PathBuf,
        /// `attach`: the client's size (ROWSxCOLS) when it starts; the
        /// exec's TTY may not have it yet.
        #[arg(long, value_parser = crate::session::screen::parse_size)]
        size: Option<(u16, u16)>,
        /// `exec-as`: wait until the holder creates this file (the bottle
        /// proved its isolation) before the agent's command starts.
        #[arg(long)]
        gate: Option<PathBuf>,
        /// The agent's command.
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// Developer tools.
    Debug {
        #[command(subcommand)]
        command: DebugCommand,
    },
}

#[derive(Args, Debug)]
pub struct StartArgs {
    pub agent: String,
    /// docker (also Podman's socket) or smolvm.
    #[arg(long)]
    pub backend: Option<String>,
    /// Do not copy any workspace into the bottle.
    #[arg(long)]
    pub no_workspace: bool,
    /// Show the preflight and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the y/N confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print only the slug and leave the agent running.
    #[arg(long)]
    pub detach: bool,
    /// A first task for the agent.
    #[arg(short = 'p', long = "prompt", value_name = "TASK")]
    pub task: Option<String>,
    /// Container runtime (default: runsc when the engine offers it).
    #[arg(long, env = "BOTTLE_RUNTIME")]
    pub runtime: Option<String>,
    /// Copy the workspace even if it is /, $HOME or holds $BOTTLE_HOME.
    #[arg(long)]
    pub force: bool,
    /// Also copy the workspace files that look like they hold secrets
    /// (named by the preflight; left out otherwise).
    #[arg(long)]
    pub copy_secret_files: bool,
    /// Run the bottle even if its isolation self-check fails (the failure
    /// is shown as UNVERIFIED and recorded). Never the default.
    #[arg(long)]
    pub allow_unverified: bool,
}

#[derive(Args, Debug)]
pub struct DecideArgs {
    pub id: String,
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum DebugCommand {
    /// Print the screen the pane emulator produces for a recorded byte stream.
    Emulate {
        file: PathBuf,
        /// Terminal size as ROWSxCOLS.
        #[arg(long, default_value = "24x80")]
        size: String,
        /// Also print colours and attributes (a full SGR wherever they change).
        #[arg(long)]
        attrs: bool,
    },
    /// Print the default key bindings (a starting point for config.yaml).
    Keymap,
    /// A stand-in HTTPS server for egress tests (mints its own CA, logs
    /// every request as JSON).
    #[command(hide = true)]
    Upstream {
        /// The host name its certificate is for.
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "0.0.0.0:443")]
        listen: std::net::SocketAddr,
    },
    /// A WebSocket client for egress tests: send one message through the
    /// proxy, print the first answer.
    #[command(hide = true)]
    Ws { url: String, message: String },
    /// A TCP round trip on loopback: a step of the runtime probe, run
    /// inside the runtime under test.
    #[command(hide = true)]
    ProbeSocket,
    /// A stand-in for an operator's HTTP CONNECT proxy (egress tests).
    #[command(hide = true)]
    ConnectProxy {
        #[arg(long, default_value = "0.0.0.0:3128")]
        listen: std::net::SocketAddr,
    },
}

/// Runs a subcommand; returns the process exit code.
pub fn dispatch(cli: &Cli, command: &Command) -> Result<i32> {
    if let Command::SidecarSecrets { dir } = command {
        let mut json = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut json)?;
        let n = crate::sidecar::egress::proxy::put_secrets(dir, &json)?;
        eprintln!("bottle: {n} secret value(s) stored");
        return Ok(0);
    }
    if let Command::SidecarGitgateHook = command {
        let mut input = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
        return Ok(crate::sidecar::gitgate::hook::run(
            &input,
            &mut std::io::stderr(),
        ));
    }
    if let Command::Sidecar {
        dns,
        health,
        address,
        address_in,
        egress_dir,
        secrets_dir,
        egress_port,
        queue_dir,
        supervise_port,
        gitgate_root,
        gitgate_port,
    } = command
    {
        let service_addr = match (address, address_in) {
            (Some(a), _) => *a,
            // On Podman the agent network is connected just after start
            // (its macvlan parent exists only then): wait for the address.
            (None, Some(net)) => {
                let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
                loop {
                    match crate::sidecar::address_in(net) {
                        Ok(a) => break a,
                        Err(e) if std::time::Instant::now() >= until => return Err(e),
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
                    }
                }
            }
            (None, None) => anyhow::bail!("give --address or --address-in"),
        };
        if let Some(net) = address_in {
            crate::policy::ssrf::set_agent_network(ipnet::IpNet::V4(*net));
        }
        let config = crate::sidecar::SidecarConfig {
            dns_listen: *dns,
            health_listen: *health,
            service_addr,
            egress_dir: egress_dir.clone(),
            secrets_dir: secrets_dir.clone(),
            egress_port: *egress_port,
            queue_dir: queue_dir.clone(),
            supervise_port: *supervise_port,
            gitgate_root: gitgate_root.clone(),
            gitgate_port: *gitgate_port,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(crate::sidecar::run(config))?;
        return Ok(0);
    }
    if let Command::SessionHost {
        action,
        env_stdin,
        socket,
        size,
        agent_user,
        gate,
        cmd,
    } = command
    {
        match action.as_deref() {
            Some("attach") => return crate::session_host::client::attach(socket, *size),
            Some(_) => {
                let ids =
                    agent_user.ok_or_else(|| anyhow::anyhow!("exec-as needs --agent-user"))?;
                return crate::session_host::privilege::exec_as(ids, cmd, gate.as_deref());
            }
            None => {}
        }
        return crate::session_host::run(crate::session_host::HolderConfig {
            socket: socket.clone(),
            env_stdin: *env_stdin,
            cmd: cmd.clone(),
            agent_ids: *agent_user,
        });
    }
    let ctx = definitions::Context::new(cli.workspace.clone())?;
    match command {
        Command::Check => definitions::check(&ctx),
        Command::List { json } => definitions::list(&ctx, *json),
        Command::Info { agent } => definitions::info(&ctx, agent),
        Command::Init { agent, force } => {
            init::init(&ctx.home, agent.as_deref().unwrap_or("dev"), *force)
        }
        Command::Debug {
            command: DebugCommand::Emulate { file, size, attrs },
        } => definitions::emulate(file, size, *attrs),
        Command::Debug {
            command: DebugCommand::Upstream { name, listen },
        } => {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(crate::sidecar::egress::standin::run(name, *listen))?;
            Ok(0)
        }
        Command::Debug {
            command: DebugCommand::ConnectProxy { listen },
        } => {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(crate::sidecar::egress::standin::connect_proxy(*listen))?;
            Ok(0)
        }
        Command::Debug {
            command: DebugCommand::Ws { url, message },
        } => Ok(tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(crate::sidecar::egress::ws::client(url, message))?),
        Command::Debug {
            command: DebugCommand::ProbeSocket,
        } => {
            crate::backends::socket_round_trip()?;
            println!("socket round trip ok");
            Ok(0)
        }
        Command::Debug {
            command: DebugCommand::Keymap,
        } => {
            print!("{}", crate::app::keymap::DEFAULTS);
            Ok(0)
        }
        Command::Start(args) => start::start(&ctx, args),
        // Handled above, before any $BOTTLE_HOME is needed.
        Command::Sidecar { .. }
        | Command::SidecarSecrets { .. }
        | Command::SidecarGitgateHook
        | Command::SessionHost { .. } => Ok(0),
        Command::Attach { slug } => bottles::attach(&ctx, slug),
        Command::Shell { slug } => bottles::shell(&ctx.home, slug),
        Command::Exec { slug, user, cmd } => bottles::exec(&ctx.home, slug, user.as_deref(), cmd),
        Command::Logs {
            slug,
            sidecar,
            follow,
        } => bottles::logs(&ctx.home, slug, *sidecar, *follow),
        Command::Stop { slug } => bottles::stop(&ctx, slug),
        Command::Rm { slug } => bottles::rm(&ctx, slug),
        Command::Resume {
            slug,
            yes,
            detach,
            allow_unverified,
        } => start::resume(
            &ctx,
            slug,
            start::How {
                yes: *yes,
                detach: *detach,
                allow_unverified: *allow_unverified,
            },
        ),
        Command::Diff { slug } => export::diff(&ctx, slug),
        Command::Export {
            slug,
            patch: _,
            to,
            include_flagged,
        } => export::export(&ctx, slug, to.as_deref(), *include_flagged),
        Command::Fetch { slug } => bottles::fetch(&ctx.home, slug),
        Command::GitgateUploadPack { slug, path: _ } => {
            crate::control::fetch::upload_pack(&ctx.home, &Slug::parse(slug)?)
        }
        Command::Routes { slug, revoke } => routes::routes(&ctx, slug, revoke.as_deref()),
        Command::Cleanup {
            yes,
            all,
            all_homes,
        } => cleanup::cleanup(&ctx, *yes, *all, *all_homes),
        Command::Queue { json } => queue::list(&ctx, *json),
        Command::Approve(a) => queue::decide(
            &ctx,
            &a.id,
            crate::control::Intent::Approve,
            a.note.as_deref(),
        ),
        Command::Reject(a) => queue::decide(
            &ctx,
            &a.id,
            crate::control::Intent::Reject,
            a.note.as_deref(),
        ),
        Command::Answer { id, text } => {
            queue::decide(&ctx, id, crate::control::Intent::Answer(text.clone()), None)
        }
        Command::Build { no_cache } => build::build(*no_cache),
        Command::Doctor => doctor::doctor(&ctx),
    }
}

/// Opens the workspace TUI; returns the exit code.
pub fn workspace(cli: &Cli) -> Result<i32> {
    let ctx = definitions::Context::new(cli.workspace.clone())?;
    let defs = ctx.load()?;
    let config = ctx.home.config_file();
    let mut app = crate::app::App::new(
        &defs,
        ctx.workspace.display().to_string(),
        crate::app::keymap::Keymap::default(),
    );
    // The same value the definitions watcher sends after a change.
    app.set_definitions(crate::app::definitions::Loaded::new(
        &defs,
        &config,
        std::fs::read(&config),
    ));
    let key = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            ctx.workspace.as_os_str().as_encoded_bytes(),
        ))
    };
    let run = crate::workspace::RunContext {
        layout_file: ctx
            .home
            .root
            .join("workspaces")
            .join(format!("{}.json", &key[..16])),
        home_hash: ctx.home.label_hash(),
        home: ctx.home.clone(),
        workspace: ctx.workspace.clone(),
    };
    Ok(crate::workspace::run(app, run)?.exit_code())
}
