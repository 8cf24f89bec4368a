//! The house's rules, read from the source (rust-analyzer's `tidy` tests
//! are the model): no import cycle between top-level modules of `src/`;
//! every edge allowed by the layer table in ARCHITECTURE.md (the table is
//! what this test checks); no engine client named outside its backend
//! folder; the workspace's rooms keep their doors (`app` a pure model,
//! ratatui only in `ui`, `tty` a leaf, the engine reached only from the
//! workspace's effects and jobs); no source file's non-test part over 700
//! lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const MAX_LINES: usize = 700;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without its unit tests (`#[cfg(test)]` followed by a
/// `mod`, to the end of the file) and without comments.
fn code_of(text: &str) -> (Vec<String>, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (i, w) in lines.windows(2).enumerate() {
        if w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod ") {
            end = i;
            break;
        }
    }
    let code = lines[..end]
        .iter()
        .map(|l| match l.find("//") {
            // Good enough for this code base: no `//` inside strings on
            // import lines.
            Some(i) => l[..i].to_string(),
            None => l.to_string(),
        })
        .collect();
    (code, end)
}

/// Every `src/` file: (path relative to src, top-level module, code lines,
/// non-test line count).
fn sources() -> Vec<(String, String, Vec<String>, usize)> {
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            let top = rel
                .split('/')
                .next()
                .unwrap_or_default()
                .trim_end_matches(".rs")
                .to_string();
            let text = std::fs::read_to_string(&p).expect("read");
            let (code, lines) = code_of(&text);
            (rel, top, code, lines)
        })
        .collect()
}

/// The top-level modules a line names through `crate::`.
fn crate_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        // `bottle::crate::` cannot occur; skip `$crate::` in macros.
        let before = &rest[..i];
        rest = &rest[i + "crate::".len()..];
        if before.ends_with('$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// The layer table of ARCHITECTURE.md: module → the modules it may import.
fn table() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).expect("read");
    let begin = text
        .find("<!-- layers:begin -->")
        .expect("ARCHITECTURE.md has <!-- layers:begin -->");
    let end = text
        .find("<!-- layers:end -->")
        .expect("ARCHITECTURE.md has <!-- layers:end -->");
    let mut out = BTreeMap::new();
    for line in text[begin..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `module` | what it is | `a`, `b` |
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let module = cells[1].trim_matches('`').to_string();
        let allowed = cells[3]
            .split(',')
            .map(|m| m.trim().trim_matches('`').to_string())
            .filter(|m| !m.is_empty() && m != "—" && m != "-")
            .collect();
        out.insert(module, allowed);
    }
    assert!(!out.is_empty(), "the layer table is empty");
    out
}

fn edges() -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let tops: BTreeSet<String> = sources().iter().map(|s| s.1.clone()).collect();
    for (rel, top, code, _) in sources() {
        out.entry(top.clone()).or_default();
        for (n, line) in code.iter().enumerate() {
            for target in crate_refs(line) {
                if target != top && tops.contains(&target) {
                    out.entry(top.clone())
                        .or_default()
                        .entry(target)
                        .or_insert_with(|| format!("src/{rel}:{}", n + 1));
                }
            }
        }
    }
    out
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let edges = edges();
    // Depth-first search for a back edge; reports the cycle with where
    // each of its edges is.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeMap<String, String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for next in edges.get(m).into_iter().flat_map(|e| e.keys()) {
            if let Some(c) = visit(next, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(cycle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            let at: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} → {} ({})", w[0], w[1], edges[&w[0]][&w[1]]))
                .collect();
            panic!(
                "import cycle between top-level modules:\n  {}",
                at.join("\n  ")
            );
        }
    }
}

#[test]
fn every_edge_is_allowed_by_the_layer_table() {
    let table = table();
    let mut problems = Vec::new();
    for (from, targets) in edges() {
        // The crate roots declare the modules; they are no layer.
        if from == "lib" || from == "main" {
            continue;
        }
        let Some(allowed) = table.get(&from) else {
            problems.push(format!("`{from}` is not in ARCHITECTURE.md's layer table"));
            continue;
        };
        for (to, at) in targets {
            if !allowed.contains(&to) && !allowed.contains("*") {
                problems.push(format!(
                    "{at}: `{from}` imports `{to}`, which the layer table forbids"
                ));
            }
        }
    }
    for m in table.keys() {
        if !Path::new(ROOT).join("src").join(m).is_dir()
            && !Path::new(ROOT)
                .join("src")
                .join(format!("{m}.rs"))
                .is_file()
        {
            problems.push(format!(
                "the layer table names `{m}`, which is not a module of src/"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn engine_clients_are_named_only_in_their_backend_folder() {
    // `backends/mod.rs` is the registry: the one place that picks an
    // implementation (one line per backend).
    let engines = ["docker"];
    let mut problems = Vec::new();
    for (rel, _, code, _) in sources() {
        let inside = |e: &str| rel.starts_with(&format!("backends/{e}/"));
        if rel == "backends/mod.rs" {
            continue;
        }
        for (n, line) in code.iter().enumerate() {
            if line.contains("bollard") && !inside("docker") {
                problems.push(format!("src/{rel}:{}: names bollard", n + 1));
            }
            for e in engines {
                if !inside(e)
                    && (line.contains(&format!("backends::{e}"))
                        || line.contains(&format!("super::{e}::"))
                        || line.contains(&format!("use super::{e}")))
                {
                    problems.push(format!("src/{rel}:{}: names the `{e}` backend", n + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Lines of the files under `prefix` (a folder or one file of `src/`)
/// that contain any of `forbidden`.
fn uses(prefix: &str, except: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (rel, _, code, _) in sources() {
        if !rel.starts_with(prefix) || except.contains(&rel.as_str()) {
            continue;
        }
        for (n, line) in code.iter().enumerate() {
            for f in forbidden {
                if line.contains(f) {
                    found.push(format!("src/{rel}:{}: uses `{f}`: {}", n + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn the_workspace_rooms_keep_their_doors() {
    let mut found = uses(
        "app/",
        &[],
        &["tokio", "std::thread", "std::fs", "ratatui", "std::process"],
    );
    for (rel, _, code, _) in sources() {
        if !rel.starts_with("ui/") && code.iter().any(|l| l.contains("ratatui")) {
            found.push(format!("src/{rel}: uses ratatui (only `ui` draws)"));
        }
    }
    found.extend(uses("tty.rs", &[], &["crate::"]));
    found.extend(uses(
        "workspace/",
        &[
            "workspace/effects.rs",
            "workspace/jobs.rs",
            "workspace/sidecar.rs",
        ],
        &["crate::backends", "crate::launcher"],
    ));
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn no_source_file_is_over_700_lines_outside_its_tests() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|s| s.3 > MAX_LINES)
        .map(|s| format!("src/{}: {} lines", s.0, s.3))
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_reference_scanner_finds_imports() {
    assert_eq!(
        crate_refs("use crate::{app::App, ui, state::names::Slug};"),
        ["app", "ui", "state"]
    );
    assert_eq!(
        crate_refs("let x = crate::policy::routes::normalize_host(h);"),
        ["policy"]
    );
    assert_eq!(crate_refs("$crate::x::y"), Vec::<String>::new());
    let (code, n) =
        code_of("use a;\n// crate::ui\nfn f() {}\n#[cfg(test)]\nmod tests {\n use crate::ui;\n}\n");
    assert_eq!(n, 3);
    assert!(code.iter().all(|l| !l.contains("crate::ui")));
}
