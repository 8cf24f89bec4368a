//! `prepare` and the preflight: pure, from definitions + host facts +
//! engine facts. The preflight of a rich definition is snapshotted.

use bottle::backends::plan::{
    prepare, EngineFacts, EnvPlan, ImageSource, PrepareError, PrepareInput, WorkspaceFacts,
};
use bottle::backends::{images, preflight};
use bottle::manifest::{self, Definitions, HostFacts, Origin, SourceFile, Sources};
use bottle::state::names::Slug;
use std::path::{Path, PathBuf};

struct Host;

impl HostFacts for Host {
    fn env(&self, name: &str) -> Option<String> {
        name.starts_with("SET_").then(|| "secret-value".into())
    }
    fn exists(&self, _: &Path) -> bool {
        true
    }
    fn home_dir(&self) -> PathBuf {
        PathBuf::from("/home/op")
    }
}

fn defs(bottles: &[(&str, &str)], agents: &[(&str, &str)]) -> Definitions {
    let file = |kind: &str, (name, text): &(&str, &str)| SourceFile {
        path: PathBuf::from(format!("/h/{kind}/{name}.md")),
        name: name.to_string(),
        origin: Origin::Home,
        text: Ok(text.to_string()),
    };
    let mut sources = manifest::read_sources(Path::new("/nonexistent-home"), None);
    sources
        .bottles
        .extend(bottles.iter().map(|b| file("bottles", b)));
    sources
        .agents
        .extend(agents.iter().map(|a| file("agents", a)));
    let defs = manifest::load(&Sources { ..sources }, &());
    assert_eq!(defs.errors(), 0, "{:?}", defs.problems);
    defs
}

fn input<'a>(
    defs: &'a Definitions,
    agent: &'a str,
    runtimes: &[&str],
    wanted: Option<&str>,
) -> PrepareInput<'a> {
    PrepareInput {
        defs,
        agent,
        slug: Slug::parse(&format!("{agent}-abc123")).expect("slug"),
        home_hash: "0123456789abcdef".into(),
        engine: EngineFacts {
            engine: "docker".into(),
            api_version: "1.41".into(),
            runtimes: runtimes.iter().map(|s| s.to_string()).collect(),
            default_runtime: "runc".into(),
            images: Default::default(),
            // runsc, when offered, passed its probe (see below for one
            // that fails).
            gvisor_probe: runtimes.contains(&"runsc").then_some(Ok(())),
        },
        workspace: Some(WorkspaceFacts {
            root: PathBuf::from("/src/app"),
            files: 42,
            bytes: 123_456,
            skipped: 3,
            git: false,
        }),
        runtime_override: wanted.map(String::from),
        host: &Host,
        bottle_sha256: "feedface".into(),
    }
}

#[test]
fn shell_plan_builds_the_template_and_picks_the_runtime() {
    let d = defs(&[], &[]);
    let plan = prepare(input(&d, "shell", &["runc"], None)).expect("plan");
    assert_eq!(plan.agent_image.source, ImageSource::Template("shell"));
    assert!(plan.agent_image.build);
    assert_eq!(
        plan.agent_image.reference,
        images::agent_tag(&images::SHELL, &images::CliSource::None)
    );
    assert_eq!(
        (plan.runtime.name.as_str(), plan.runtime.automatic),
        ("runc", true)
    );
    assert_eq!(plan.names.agent_container, "bottle-shell-abc123-agent");
    assert_eq!(
        prepare(input(&d, "shell", &["runc", "runsc"], None))
            .expect("plan")
            .runtime
            .name,
        "runsc"
    );
    let forced = prepare(input(&d, "shell", &["runc", "runsc"], Some("runc"))).expect("plan");
    assert_eq!(
        (forced.runtime.name.as_str(), forced.runtime.automatic),
        ("runc", false)
    );
    assert!(matches!(
        prepare(input(&d, "shell", &["runc"], Some("kata"))),
        Err(PrepareError::UnknownRuntime { .. })
    ));
    // A runsc that fails the runtime probe is not chosen: the engine's
    // default is, and the preflight says why; forcing it warns.
    let mut failing = input(&d, "shell", &["runc", "runsc"], None);
    failing.engine.gvisor_probe = Some(Err("stat /: Invalid argument".into()));
    let plan = prepare(failing).expect("plan");
    assert_eq!(
        (plan.runtime.name.as_str(), plan.runtime.automatic),
        ("runc", true)
    );
    let text = preflight::render(&plan);
    assert!(
        text.contains("runc: the engine's runsc fails the runtime probe (stat /: Invalid argument) — install a current gVisor"),
        "{text}"
    );
    let mut forced = input(&d, "shell", &["runc", "runsc"], Some("runsc"));
    forced.engine.gvisor_probe = Some(Err("stat /: Invalid argument".into()));
    let plan = prepare(forced).expect("plan");
    assert_eq!(
        (plan.runtime.name.as_str(), plan.runtime.automatic),
        ("runsc", false)
    );
    assert!(
        preflight::render(&plan).contains("WARNING: this runsc fails the runtime probe"),
        "{}",
        preflight::render(&plan)
    );
    // Podman: the same rule (its default, crun here, unless runsc passed).
    let mut podman = input(&d, "shell", &["crun", "runc", "runsc"], None);
    podman.engine.engine = "podman".into();
    podman.engine.default_runtime = "crun".into();
    podman.engine.gvisor_probe = Some(Err("stat /: Invalid argument".into()));
    let plan = prepare(podman).expect("plan");
    assert_eq!(
        (plan.runtime.name.as_str(), plan.runtime.automatic),
        ("crun", true)
    );
}

#[test]
fn prompt_and_host_values_stay_out_of_the_container_environment() {
    let d = defs(&[("dev", "---\nagent_provider: { template: shell }\nenv:\n  LIT: \"plain\"\n  ASK: \"?Password\"\n  HOSTV: \"${SET_HOSTV}\"\n---\n")], &[("dev", "---\nbottle: dev\n---\n")]);
    let plan = prepare(input(&d, "dev", &["runc"], None)).expect("plan");
    assert!(plan.env.contains(&EnvPlan::Literal {
        name: "LIT".into(),
        value: "plain".into()
    }));
    assert!(plan.env.contains(&EnvPlan::Prompt {
        name: "ASK".into(),
        message: "Password".into()
    }));
    assert!(plan.env.contains(&EnvPlan::Host {
        name: "HOSTV".into(),
        var: "SET_HOSTV".into()
    }));
    assert!(!plan
        .base_env
        .iter()
        .any(|(k, v)| k == "HOSTV" || v.contains("secret-value")));
    let text = preflight::render(&plan);
    assert!(
        text.contains("ASK  (asked at launch, masked)")
            && !text.contains("secret-value")
            && !text.contains("plain"),
        "{text}"
    );
}

#[test]
fn launch_conditions_and_unavailable_pieces_are_errors() {
    let d = defs(
        &[(
            "dev",
            "---\nagent_provider: { template: shell }\nenv: { R: \"${UNSET_R}\" }\n---\n",
        )],
        &[("dev", "---\nbottle: dev\n---\n")],
    );
    let err = prepare(input(&d, "dev", &["runc"], None)).expect_err("unset variable");
    assert!(
        err.to_string()
            .contains("/h/bottles/dev.md:3:8: error: env `R` copies ${UNSET_R}"),
        "{err}"
    );
    // A git-gate repo: the preflight names its upstream, key, pinned host
    // key and push branches.
    let d = defs(&[("git", "---\nagent_provider: { template: shell }\ngit-gate:\n  repos:\n    app: { url: \"ssh://git@h/p\", identity: \"~/k\", host_key: \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDtest\" }\n---\n")], &[("git", "---\nbottle: git\n---\n")]);
    let plan = prepare(input(&d, "git", &["runc"], None)).expect("a gate");
    let text = bottle::backends::preflight::render(&plan);
    assert!(
        text.contains(
            "app → ssh://git@h:22/p (identity ~/k, host key ssh-ed25519 pinned; push bottle/*)"
        ),
        "{text}"
    );
    // The built-in Claude Code template: built from its registry unless
    // BOTTLE_AGENT_CLIS names an npm prefix (the fake host sets none).
    let d = defs(&[], &[]);
    let claude = prepare(input(&d, "claude", &["runc"], None)).expect("claude");
    assert!(
        claude
            .agent_image
            .reference
            .starts_with("bottle/agent-claude:")
            && claude.agent_image.build,
        "{:?}",
        claude.agent_image
    );
    let err = prepare(input(&d, "shel", &["runc"], None)).expect_err("unknown");
    assert!(err.to_string().contains("did you mean `shell`?"), "{err}");
}

const RICH_BOTTLE: &str = "---\nagent_provider: { template: shell }\nenv:\n  LOG_LEVEL: \"debug\"\n  STAGING_PASSWORD: \"?Staging password\"\n  REGION: \"${SET_REGION}\"\negress:\n  routes:\n    - host: api.github.com\n      path_allowlist: [\"/repos/acme/\"]\n      methods: [GET, POST]\n      auth: { scheme: Bearer, token_ref: SET_GH_PAT }\n    - host: \"*.npmjs.org\"\n    - host: bücher.example\n      websocket: true\n      ssrf_ip_allowlist: [\"100.64.0.7/32\"]\n    - host: blind.example.com\n      tls_passthrough: true\n      ports: [8443]\ngit-gate:\n  user: { name: \"Agent\", email: \"agent@example.com\" }\nsupervise: true\nresources: { memory: \"8g\", cpus: 4, pids: 512 }\n---\n";
const RICH_AGENT: &str = "---\nbottle: dev\nskills: [init-prd]\ngit-gate:\n  user: { name: \"reviewer\" }\n---\nReview.\n";

fn rich_preflight() -> (Definitions, String, Vec<(String, String)>) {
    let d = defs(&[("dev", RICH_BOTTLE)], &[("reviewer", RICH_AGENT)]);
    let plan = prepare(input(&d, "reviewer", &["runc", "runsc"], None)).expect("plan");
    let text = preflight::render(&plan)
        .replace(
            &images::agent_tag(&images::SHELL, &images::CliSource::None),
            "<shell-tag>",
        )
        .replace(&plan.sidecar_image.reference, "<sidecar-tag>");
    let prompts = bottle::launcher::prompts(&plan);
    (d, text, prompts)
}

#[test]
fn preflight_of_a_rich_definition() {
    insta::assert_snapshot!(rich_preflight().1);
}

/// The workspace's launch modals for the rich definition: its `?` value
/// asked masked, then the preflight with every route and gate and the
/// repo-agent trust question, as the operator sees them.
#[test]
fn launch_modals_of_a_rich_definition() {
    use bottle::app::{launch::PreparedInfo, launch::TrustPin, App, AppEvent};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let (d, text, prompts) = rich_preflight();
    assert_eq!(prompts.len(), 1, "{prompts:?}");
    let mut app = App::new(&d, "/src/app".into(), Default::default());
    app.update(AppEvent::Resize {
        rows: 30,
        cols: 120,
    });
    app.update(AppEvent::Prepared(Ok(PreparedInfo {
        ticket: 1,
        slug: "reviewer-abc123".into(),
        agent: "reviewer (repo)".into(),
        preflight: text,
        prompts,
        trust: Some(TrustPin {
            path: "/src/app/.bottle/agents/reviewer.md".into(),
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        }),
        resume: false,
    })));
    let draw = |app: &App| {
        let mut t =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).expect("terminal");
        t.draw(|f| bottle::ui::render(f, app)).expect("draw");
        format!("{}", t.backend())
    };
    for c in "s3cret-staging".chars() {
        app.update(AppEvent::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
    let asked = draw(&app);
    assert!(!asked.contains("s3cret"), "the value is never drawn");
    insta::assert_snapshot!("rich_masked_prompt", asked);
    app.update(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    insta::assert_snapshot!("rich_preflight_with_trust", draw(&app));
}

#[test]
fn workspace_scan_skips_symlinks_special_files_and_ignored_paths() {
    use bottle::backends::workspace_copy::{check_root, scan, CopyError};
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src/deep")).expect("mkdir");
    std::fs::write(ws.join("src/main.rs"), "fn main() {}").expect("write");
    std::fs::write(ws.join("src/deep/secret.env"), "TOKEN=x").expect("write");
    std::fs::write(ws.join(".bottleignore"), "*.env\n/build/\n").expect("write");
    std::fs::create_dir_all(ws.join("build")).expect("mkdir");
    std::fs::write(ws.join("build/out.bin"), "x").expect("write");
    std::fs::write(dir.path().join("host-secret"), "s3cret").expect("write");
    std::os::unix::fs::symlink(dir.path().join("host-secret"), ws.join("link")).expect("symlink");
    std::os::unix::fs::symlink(dir.path(), ws.join("dirlink")).expect("symlink");
    let fifo = std::ffi::CString::new(ws.join("pipe").to_str().expect("utf8")).expect("cstring");
    // SAFETY: creating a FIFO at a path we own.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let root = check_root(
        &ws,
        Path::new("/nonexistent-home"),
        &dir.path().join("bh"),
        false,
    )
    .expect("allowed");
    let list = scan(&root).expect("scan");
    let paths: Vec<&str> = list.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![".bottleignore", "src", "src/deep", "src/main.rs"]
    );
    let skipped: Vec<&str> = list.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(skipped, vec!["dirlink", "link", "pipe"]);
    let facts = list.facts();
    assert_eq!((facts.files, facts.skipped), (2, 3));

    std::fs::create_dir_all(ws.join(".bottle-home")).expect("mkdir");
    assert!(matches!(
        check_root(
            &ws,
            Path::new("/nonexistent"),
            &ws.join(".bottle-home"),
            false
        ),
        Err(CopyError::Refused { .. })
    ));
    assert!(matches!(
        check_root(&ws, &ws, Path::new("/nonexistent"), false),
        Err(CopyError::Refused { .. })
    ));
    assert!(matches!(
        check_root(
            Path::new("/"),
            Path::new("/nonexistent"),
            Path::new("/nonexistent"),
            false
        ),
        Err(CopyError::Refused { .. })
    ));
    assert!(
        check_root(&ws, &ws, Path::new("/nonexistent"), true).is_ok(),
        "--force overrides"
    );
}

#[test]
fn container_specs_are_hardened_and_carry_no_session_values() {
    use bottle::backends::docker::spec;
    let d = defs(&[("dev", "---\nagent_provider: { template: shell }\nenv:\n  LIT: \"plain\"\n  ASK: \"?Password\"\n  HOSTV: \"${SET_HOSTV}\"\nresources: { memory: \"2g\", cpus: 1.5, pids: 300 }\n---\n")], &[("dev", "---\nbottle: dev\n---\n")]);
    let plan = prepare(input(&d, "dev", &["runc", "runsc"], None)).expect("plan");
    let agent = spec::agent(
        &plan,
        "172.30.0.2",
        Path::new("/state/resolv.conf"),
        vec!["/bin/bash".into(), "-l".into()],
    );
    let sidecar = spec::sidecar(
        &plan,
        "1001:1001",
        "172.30.0.0/16",
        Path::new("/h/state/x/egress"),
        Some(Path::new("/h/queue/x")),
    );
    for (name, c) in [("agent", &agent), ("sidecar", &sidecar)] {
        let h = c.host_config.as_ref().expect("host config");
        assert_eq!(
            h.cap_drop.as_deref(),
            Some(&["ALL".to_string()][..]),
            "{name}"
        );
        if name == "agent" {
            // The session holder's three: to start the agent as 1000:1000,
            // and to pass a stop on to it.
            assert_eq!(
                h.cap_add.as_deref(),
                Some(
                    &[
                        "SETUID".to_string(),
                        "SETGID".to_string(),
                        "KILL".to_string()
                    ][..]
                ),
                "{name} gets back only the holder's capabilities"
            );
        } else {
            assert!(h.cap_add.is_none(), "{name} gets no capability back");
        }
        assert_eq!(
            h.security_opt.as_deref(),
            Some(&["no-new-privileges:true".to_string()][..]),
            "{name}"
        );
        assert_eq!(h.privileged, Some(false), "{name}");
        assert!(
            h.pids_limit.is_some() && h.memory.is_some() && h.nano_cpus.is_some(),
            "{name} limits"
        );
        assert_eq!(h.memory, h.memory_swap, "{name}: no swap beyond the limit");
        assert!(
            h.log_config
                .as_ref()
                .and_then(|l| l.config.as_ref())
                .is_some_and(|c| c.contains_key("max-size")),
            "{name} log limits"
        );
        assert!(
            h.ulimits.as_ref().is_some_and(|u| !u.is_empty()),
            "{name} explicit ulimits"
        );
        let runtime = if name == "agent" { Some("runsc") } else { None };
        assert_eq!(h.runtime.as_deref(), runtime, "{name} runtime");
        assert!(
            h.binds.is_none(),
            "{name}: no bind mounts, so no engine socket"
        );
        assert!(
            h.pid_mode.is_none() && h.userns_mode.is_none() && h.uts_mode.is_none(),
            "{name}: no host namespaces"
        );
        assert_eq!(
            h.network_mode.as_deref(),
            Some(plan.names.internal_network.as_str()),
            "{name}"
        );
        let labels = c.labels.as_ref().expect("labels");
        for key in [
            "dev.bottle.slug",
            "dev.bottle.agent",
            "dev.bottle.role",
            "dev.bottle.backend",
            "dev.bottle.home",
        ] {
            assert!(labels.contains_key(key), "{name} lacks {key}");
        }
    }
    // The holder's user, which starts the agent as 1000:1000.
    assert_eq!(agent.user.as_deref(), Some("0:0"));
    assert!(agent
        .cmd
        .as_ref()
        .is_some_and(|c| c.contains(&"--agent-user=1000:1000".to_string())));
    let ah = agent.host_config.as_ref().expect("host");
    assert_eq!(
        ah.cap_add.as_deref(),
        Some(
            &[
                "SETUID".to_string(),
                "SETGID".to_string(),
                "KILL".to_string()
            ][..]
        )
    );
    assert_eq!(
        (ah.memory, ah.nano_cpus, ah.pids_limit),
        (Some(2 << 30), Some(1_500_000_000), Some(300))
    );
    assert_eq!(ah.dns.as_deref(), Some(&["172.30.0.2".to_string()][..]));
    let env = agent.env.clone().expect("env");
    assert!(
        env.contains(&"LIT=plain".to_string())
            && env.contains(&"HTTPS_PROXY=http://egress:9099".to_string())
    );
    assert!(
        !env.iter().any(|e| e.starts_with("ASK=")
            || e.starts_with("HOSTV=")
            || e.contains("secret-value")),
        "{env:?}"
    );
    assert_eq!(sidecar.user.as_deref(), Some("1001:1001"));
    let sh = sidecar.host_config.as_ref().expect("host");
    assert_eq!(sh.readonly_rootfs, Some(true));
    assert!(sh.tmpfs.as_ref().is_some_and(|t| t.contains_key("/tmp")));
    let aliases = sidecar
        .networking_config
        .and_then(|n| n.endpoints_config)
        .and_then(|e| e.get(&plan.names.internal_network).cloned())
        .and_then(|e| e.aliases)
        .expect("aliases");
    assert_eq!(aliases, vec!["egress", "supervise", "gitgate"]);
}
