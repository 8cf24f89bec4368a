//! Property tests: definition loading is total. Arbitrary bytes and
//! mutated valid files produce problems, never a panic, and every problem
//! points inside the file.

use bottle::manifest::{self, Origin, Pos, SourceFile, Sources};
use proptest::prelude::*;
use std::path::PathBuf;

const VALID_BOTTLE: &str = "---\nextends: base\nenv:\n  A: \"x\"\n  B: \"?ask\"\n  C: \"${HOST_C}\"\nagent_provider: { template: claude, auth_token: TOKEN }\negress:\n  upstream_proxy: http://p.test:3128\n  routes:\n    - host: api.github.com\n      ports: [443]\n      path_allowlist: [\"/repos/acme/\"]\n      methods: [GET, POST]\n      auth: { scheme: Bearer, token_ref: GH_PAT }\n      ssrf_ip_allowlist: [\"10.0.0.0/8\"]\n    - host: \"*.npmjs.org\"\ngit-gate:\n  user: { name: a, email: a@b.c }\n  repos:\n    app: { url: \"ssh://git@h:22/p.git\", identity: \"~/k\", host_key: \"ssh-ed25519 AAAAk\", push_branches: [\"b/*\"] }\nsupervise: true\nresources: { memory: \"4g\", cpus: 2, pids: 1024 }\n---\nbody\n";
const VALID_AGENT: &str = "---\nbottle: dev\nskills: [a, b]\ngit-gate:\n  user: { name: x }\ncopy_workspace: true\nname: x\n---\nprompt\n---\n";
const BASE: &str = "---\nenv: { Z: \"1\" }\n---\n";

fn file(name: &str, text: Result<String, (Pos, String)>, origin: Origin) -> SourceFile {
    SourceFile {
        path: PathBuf::from(format!("/defs/{name}.md")),
        name: name.into(),
        origin,
        text,
    }
}

fn check(
    bottle: Result<String, (Pos, String)>,
    agent: Result<String, (Pos, String)>,
) -> Result<(), TestCaseError> {
    // Lines as YAML counts them: `\r\n`, a bare `\r` and `\n` each end
    // one (a lone `\r` is a line break to YAML, not to `str::lines`).
    let lines = |t: &Result<String, (Pos, String)>| {
        t.as_ref().map_or(1, |t| {
            let breaks = t.replace("\r\n", "\n").matches(['\r', '\n']).count();
            breaks.max(1) as u32 + 1
        })
    };
    let max_line = lines(&bottle).max(lines(&agent)).max(3);
    let sources = Sources {
        bottles: vec![
            file("base", Ok(BASE.into()), Origin::Home),
            file("dev", bottle, Origin::Home),
        ],
        agents: vec![file("dev", agent.clone(), Origin::Home)],
        repo_agents: vec![file("dev", agent, Origin::Repo)],
        notes: Vec::new(),
    };
    let defs = manifest::load(&sources, &());
    for p in &defs.problems {
        prop_assert!(p.pos.line >= 1 && p.pos.col >= 1, "{p}");
        prop_assert!(p.pos.line <= max_line, "{p} is past the end ({max_line})");
        prop_assert!(!p.to_string().is_empty());
    }
    Ok(())
}

/// Edits that keep a file mostly YAML-shaped, so the fuzzing reaches the
/// schema checks rather than dying in the first syntax error.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just("-".to_string()),
        Just(":".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string()),
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("*.".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!str ".to_string()),
        Just("\t".to_string()),
        Just("---\n".to_string()),
        Just("\r\n".to_string()),
        Just("\u{202e}".to_string()),
        "[a-z_]{1,8}",
        "[0-9]{1,6}",
    ];
    prop_oneof![
        (any::<usize>(), 0usize..20).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), token).prop_map(|(a, t)| Edit::Insert(a, t)),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        match e {
            Edit::Delete(at, n) if !chars.is_empty() => {
                let at = at % chars.len();
                let end = (at + n).min(chars.len());
                chars.drain(at..end);
            }
            Edit::Insert(at, t) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, t.chars());
            }
            Edit::DuplicateLine(i) | Edit::SwapLines(i, _) => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.split('\n').collect();
                let a = i % lines.len();
                if let Edit::SwapLines(_, j) = e {
                    let b = j % lines.len();
                    lines.swap(a, b);
                } else {
                    lines.insert(a, lines[a]);
                }
                chars = lines.join("\n").chars().collect();
            }
            Edit::Delete(..) => {}
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8(bytes.clone()).map_err(|e| (Pos { line: 1, col: 1 }, e.to_string()));
        check(text.clone(), text)?;
        let framed = format!("---\n{}\n---\n", String::from_utf8_lossy(&bytes));
        check(Ok(framed.clone()), Ok(framed))?;
    }

    #[test]
    fn mutated_valid_files_never_panic(edits in proptest::collection::vec(edit(), 1..6)) {
        check(Ok(apply(VALID_BOTTLE, &edits)), Ok(apply(VALID_AGENT, &edits)))?;
    }
}

/// A problem on a line that bare `\r`s start is inside the file (the
/// case proptest once found: `\r\r\r\0` framed reported at 5:1).
#[test]
fn bare_carriage_returns_count_as_lines() {
    let framed = "---\n\r\r\r\0\n---\n".to_string();
    check(Ok(framed.clone()), Ok(framed)).expect("inside the file");
}

#[test]
fn the_unmutated_files_are_valid() {
    let sources = Sources {
        bottles: vec![
            file("base", Ok(BASE.into()), Origin::Home),
            file("dev", Ok(VALID_BOTTLE.into()), Origin::Home),
        ],
        agents: vec![file("dev", Ok(VALID_AGENT.into()), Origin::Home)],
        repo_agents: Vec::new(),
        notes: Vec::new(),
    };
    let defs = manifest::load(&sources, &());
    assert!(defs.problems.is_empty(), "{:?}", defs.problems);
    let b = &defs.bottles["dev"];
    assert_eq!(b.chain, vec!["dev", "base"]);
    let env: Vec<&str> = b.env.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        env,
        vec!["A", "B", "C", "Z"],
        "env merges with the parent's"
    );
}
