//! The definition fixture table: tests/fixtures/manifest/cases.txt holds
//! each case's files and the exact problems (`path:line:col`) and resolved
//! names it must produce. `BOTTLE_BLESS=1 cargo test --test manifest_cases`
//! rewrites the expected sections (review the diff before committing).

use bottle::manifest::{self, HostFacts, TrustStore};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const CASES: &str = "tests/fixtures/manifest/cases.txt";

struct Case {
    name: String,
    files: Vec<(String, String)>,
    expected: String,
}

fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut in_expected = false;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("### ") {
            cases.push(Case {
                name: name.trim().to_string(),
                files: Vec::new(),
                expected: String::new(),
            });
            in_expected = false;
        } else if let Some(path) = line.strip_prefix("@@ ") {
            let case = cases.last_mut().expect("file before case");
            case.files.push((path.trim().to_string(), String::new()));
            in_expected = false;
        } else if line.trim_end() == "== expected" {
            in_expected = true;
        } else if let Some(case) = cases.last_mut() {
            if in_expected {
                case.expected.push_str(line);
            } else if let Some((_, body)) = case.files.last_mut() {
                body.push_str(line);
            }
        }
    }
    cases
}

struct FakeHost(PathBuf);

impl HostFacts for FakeHost {
    fn env(&self, name: &str) -> Option<String> {
        (name.starts_with("SET_")).then(|| "value".to_string())
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn home_dir(&self) -> PathBuf {
        self.0.clone()
    }
}

/// Trusts repo agents whose text contains `#trusted` (the real store pins
/// path + hash; that is covered by state tests).
struct MarkerTrust;

impl TrustStore for MarkerTrust {
    fn is_trusted(&self, path: &Path, _: &str) -> bool {
        std::fs::read_to_string(path).is_ok_and(|t| t.contains("#trusted"))
    }
}

fn run_case(case: &Case) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    for sub in ["home", "ws", "hosthome"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    for (path, body) in &case.files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        if let Some(target) = body.strip_prefix("symlink-to: ") {
            std::os::unix::fs::symlink(root.join(target.trim()), &full).expect("symlink");
        } else {
            // `\r`, the BOM and a non-UTF-8 byte are visible escapes in the table.
            let text = body.replace("<CR>", "\r").replace("<BOM>", "\u{feff}");
            let bytes: Vec<u8> = text
                .split("<FF>")
                .collect::<Vec<_>>()
                .join("\u{1}")
                .bytes()
                .map(|b| if b == 1 { 0xff } else { b })
                .collect();
            std::fs::write(&full, bytes).expect("write");
        }
    }
    let sources = manifest::read_sources(&root.join("home"), Some(&root.join("ws")));
    let defs = manifest::load(&sources, &MarkerTrust);
    let mut problems = defs.problems.clone();
    problems.extend(manifest::host_warnings(
        &defs,
        &FakeHost(root.join("hosthome")),
    ));
    problems.sort();
    problems.dedup();
    let prefix = format!("{}/", root.display());
    let mut out = String::new();
    for p in problems {
        let _ = writeln!(out, "{}", p.to_string().replace(&prefix, ""));
    }
    let own = |o: manifest::Origin| o != manifest::Origin::Embedded;
    let bottles: Vec<&str> = defs
        .bottles
        .values()
        .filter(|b| own(b.origin))
        .map(|b| b.name.as_str())
        .collect();
    let agents: Vec<String> = defs
        .agents
        .iter()
        .filter(|a| own(a.def.origin))
        .map(|a| a.display_name())
        .collect();
    let _ = writeln!(out, "bottles: {}", bottles.join(", "));
    let _ = writeln!(out, "agents: {}", agents.join(", "));
    out
}

#[test]
fn fixture_table_matches_expected_output() {
    let text = std::fs::read_to_string(CASES).expect("read cases");
    let cases = parse_cases(&text);
    assert!(
        cases.len() >= 40,
        "the table needs at least 40 cases, has {}",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut blessed = String::new();
    let bless = std::env::var_os("BOTTLE_BLESS").is_some();
    for case in &cases {
        let actual = run_case(case);
        if actual != case.expected {
            failures.push(format!(
                "case `{}`\n--- expected\n{}--- actual\n{}",
                case.name, case.expected, actual
            ));
        }
        let _ = writeln!(blessed, "### {}", case.name);
        for (path, body) in &case.files {
            let _ = write!(blessed, "@@ {path}\n{body}");
        }
        let _ = write!(blessed, "== expected\n{actual}");
    }
    if bless {
        std::fs::write(CASES, blessed).expect("bless");
        return;
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
