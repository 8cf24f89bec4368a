//! The CLI as a user runs it: `check` on the fixture homes (exact
//! `path:line:col` output), `init` then `check`, `list --json`, `info`,
//! `debug emulate`, and commands that need a backend failing plainly.

use std::path::Path;
use std::process::{Command, Output};

fn bottle(home: &Path, args: &[&str]) -> Output {
    bottle_in(Path::new("."), home, args)
}

fn bottle_in(cwd: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new(crate::support::bottle_bin())
        .current_dir(cwd)
        .args(args)
        .env("BOTTLE_HOME", home)
        .env("HOME", home)
        .env_remove("BOTTLE_LOG")
        .output()
        .expect("run bottle")
}

/// A copy of tests/fixtures at the same relative path, so the printed
/// paths match the expected output and the logs the binary writes under
/// `$BOTTLE_HOME` never land in the source tree.
fn fixtures_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read fixtures") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("type").is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("copy");
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy(
        Path::new("tests/fixtures/homes"),
        &dir.path().join("tests/fixtures/homes"),
    );
    dir
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_on_the_bad_fixture_prints_exactly_the_expected_lines() {
    let root = fixtures_copy();
    let out = bottle_in(
        root.path(),
        Path::new("tests/fixtures/homes/bad"),
        &["--workspace", "tests/fixtures/homes/bad-workspace", "check"],
    );
    let expected =
        std::fs::read_to_string("tests/fixtures/homes/bad.expected").expect("expected output");
    assert_eq!(stdout(&out), expected);
    assert_eq!(out.status.code(), Some(1), "errors give a non-zero exit");
}

#[test]
fn check_on_the_good_fixture_passes() {
    let root = fixtures_copy();
    let out = bottle_in(
        root.path(),
        Path::new("tests/fixtures/homes/good"),
        &["--workspace", "tests/fixtures/homes/good", "check"],
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn init_then_check_passes_and_init_never_overwrites_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let out = bottle(&home, &["init", "demo"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = bottle(
        &home,
        &["--workspace", dir.path().to_str().expect("utf8"), "check"],
    );
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}{}",
        stdout(&check),
        String::from_utf8_lossy(&check.stderr)
    );
    let agent = home.join("agents/demo.md");
    std::fs::write(&agent, "---\nbottle: demo\n---\nmine\n").expect("edit");
    let again = bottle(&home, &["init", "demo"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("use --force"));
    assert_eq!(
        std::fs::read_to_string(&agent).expect("read"),
        "---\nbottle: demo\n---\nmine\n",
        "nothing overwritten"
    );
    assert!(bottle(&home, &["init", "demo", "--force"]).status.success());
    assert_ne!(
        std::fs::read_to_string(&agent).expect("read"),
        "---\nbottle: demo\n---\nmine\n"
    );
    assert_eq!(bottle(&home, &["init", "Bad_Name"]).status.code(), Some(1));
}

#[test]
fn list_json_marks_repo_agents() {
    let root = fixtures_copy();
    let out = bottle_in(
        root.path(),
        Path::new("tests/fixtures/homes/bad"),
        &[
            "--workspace",
            "tests/fixtures/homes/bad-workspace",
            "list",
            "--json",
        ],
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["version"], 1);
    let agents = v["agents"].as_array().expect("agents");
    let helper = agents
        .iter()
        .find(|a| a["name"] == "helper")
        .expect("helper listed");
    assert_eq!(helper["origin"], "repo");
    assert_eq!(helper["display_name"], "helper (repo)");
    assert_eq!(helper["trusted"], false);
    assert!(
        agents.iter().any(|a| a["name"] == "fine"),
        "a bad agent does not hide a good one"
    );
    assert!(!agents.iter().any(|a| a["name"] == "typo"));
}

#[test]
fn info_shows_the_resolved_bottle() {
    let root = fixtures_copy();
    let out = bottle_in(
        root.path(),
        Path::new("tests/fixtures/homes/good"),
        &[
            "--workspace",
            "tests/fixtures/homes/good",
            "info",
            "reviewer",
        ],
    );
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "review extends dev",
        "STAGING_PASSWORD  (asked at launch)",
        "api.github.com  paths /repos/acme/  methods GET",
        "reviewer <reviewer@example.com>",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let missing = bottle_in(
        root.path(),
        Path::new("tests/fixtures/homes/good"),
        &["info", "reviewr"],
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("did you mean `reviewer`?"));
}

#[test]
fn debug_emulate_prints_one_line_per_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("stream.bin");
    std::fs::write(
        &file,
        b"hello\r\n\x1b[31mred\x1b[0m\x1b[3;4Hxy\x1b[2;1H\x1b[2K",
    )
    .expect("write");
    let out = bottle(
        dir.path(),
        &[
            "debug",
            "emulate",
            file.to_str().expect("utf8"),
            "--size",
            "4x10",
        ],
    );
    assert!(out.status.success());
    assert_eq!(stdout(&out), "hello\n\n   xy\n\n");
    let bad = bottle(
        dir.path(),
        &[
            "debug",
            "emulate",
            file.to_str().expect("utf8"),
            "--size",
            "big",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn backend_commands_say_so_plainly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bottle(dir.path(), &["approve", "01ARZ3NDEK"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bottle: error: no pending request `01ARZ3NDEK`"),
        "{err}"
    );
    assert!(!err.contains("backtrace"));
    let diff = bottle(dir.path(), &["diff", "dev-abc123"]);
    assert_eq!(diff.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&diff.stderr).contains("no bottle `dev-abc123`"));
    let unknown = bottle(dir.path(), &["stop", "dev-abc123"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no bottle `dev-abc123`"));
    let gone = bottle(dir.path(), &["resume", "dev-abc123"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no stopped bottle `dev-abc123`"));
    let bad = bottle(dir.path(), &["rm", "not a slug"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a bottle slug"));
}

#[test]
fn check_reports_config_yaml_problems_and_debug_keymap_prints_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    // The printed defaults are themselves a valid `keys:` section.
    let defaults = bottle(&home, &["debug", "keymap"]);
    assert!(defaults.status.success());
    let indented: String = stdout(&defaults)
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect();
    std::fs::write(home.join("config.yaml"), format!("keys:\n{indented}")).expect("write");
    let ws = dir.path().to_str().expect("utf8");
    let ok = bottle(&home, &["--workspace", ws, "check"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));

    std::fs::write(
        home.join("config.yaml"),
        "keys:\n  prefix_keys:\n    zoomm: Z\ntheme: dark\nnotify: osc99\n",
    )
    .expect("write");
    let bad = bottle(&home, &["--workspace", ws, "check"]);
    assert_eq!(bad.status.code(), Some(1));
    let config = home.join("config.yaml").display().to_string();
    assert_eq!(
        stdout(&bad),
        format!(
            "{config}:3:5: error: unknown action `zoomm` (did you mean `zoom`?)\n\
             {config}:4:1: error: unknown setting `theme`: config.yaml knows `keys`, `notify`, `export_max_file_mib` and `network_range`\n\
             {config}:5:9: error: notify: expected off, osc9 or osc777, found `osc99` (did you mean `osc9`?)\n"
        )
    );
}
