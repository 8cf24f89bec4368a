//! Turns the definition files into `Definitions`: parse each file, resolve
//! `extends`, bind agents to bottles, apply repo-agent trust. Pure.

use super::agent::{parse_agent, AgentInput};
use super::bottle::parse_bottle;
use super::extends::{check_merged, resolve_all};
use super::schema::{suggestion, Report};
use super::source::{SourceFile, Sources};
use super::yaml::{self, Node};
use super::{frontmatter, Agent, AgentDef, Definitions, Origin, Pos, Problem, TrustStore};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

struct Parsed<'a> {
    root: Node,
    body: String,
    report: Report<'a>,
}

/// Reads the frontmatter of one file; syntax errors end the file's check
/// (the first syntax error of each file is reported).
fn parse_file(file: &SourceFile) -> Result<Parsed<'_>, Vec<Problem>> {
    let mut report = Report::new(&file.path);
    let text = match &file.text {
        Ok(t) => t,
        Err((pos, e)) => {
            report.error(*pos, e.clone());
            return Err(report.problems);
        }
    };
    let split = match frontmatter::split(text) {
        Ok(s) => s,
        Err(e) => {
            report.error(e.pos, e.message);
            return Err(report.problems);
        }
    };
    match yaml::parse(&split.yaml, split.line_offset) {
        Ok(root) => Ok(Parsed {
            root,
            body: split.body,
            report,
        }),
        Err(e) => {
            report.error(e.pos, e.message);
            Err(report.problems)
        }
    }
}

pub fn load(sources: &Sources, trust: &dyn TrustStore) -> Definitions {
    let mut problems: Vec<Problem> = sources.notes.clone();
    let mut defs = BTreeMap::new();
    let mut broken = BTreeSet::new();
    for file in &sources.bottles {
        match parse_file(file) {
            Ok(mut p) => {
                let def = parse_bottle(&mut p.report, &file.name, &file.path, file.origin, &p.root);
                match def {
                    Some(def) if !p.report.has_errors() => {
                        defs.insert(file.name.clone(), def);
                    }
                    _ => {
                        broken.insert(file.name.clone());
                    }
                }
                problems.append(&mut p.report.problems);
            }
            Err(mut errs) => {
                broken.insert(file.name.clone());
                problems.append(&mut errs);
            }
        }
    }
    let mut bottles = resolve_all(&defs, &broken, &mut |def, message| {
        let pos = def
            .extends
            .as_ref()
            .map_or(Pos { line: 1, col: 1 }, |e| e.pos);
        let mut r = Report::new(&def.path);
        r.error(pos, message);
        problems.append(&mut r.problems);
    });
    let mut merged_errors = Vec::new();
    bottles.retain(|_, b| {
        let before = merged_errors.len();
        check_merged(b, &mut merged_errors);
        merged_errors.len() == before
    });
    problems.append(&mut merged_errors);
    let unusable: BTreeSet<String> = defs
        .keys()
        .chain(broken.iter())
        .filter(|n| !bottles.contains_key(*n))
        .cloned()
        .collect();

    let mut agents: Vec<Agent> = Vec::new();
    for (file, origin) in sources
        .agents
        .iter()
        .map(|f| (f, f.origin))
        .chain(sources.repo_agents.iter().map(|f| (f, Origin::Repo)))
    {
        let Some(def) = parse_agent_file(file, origin, &bottles, &unusable, &mut problems) else {
            continue;
        };
        let trusted = origin != Origin::Repo || trust.is_trusted(&file.path, &def.sha256);
        agents.push(Agent {
            def,
            trusted,
            shadows_home_bottle: None,
        });
    }
    apply_shadowing(&mut agents);

    problems.sort();
    problems.dedup();
    Definitions {
        bottles,
        bottle_defs: defs,
        agents,
        problems,
    }
}

fn parse_agent_file(
    file: &SourceFile,
    origin: Origin,
    bottles: &BTreeMap<String, super::Bottle>,
    unusable: &BTreeSet<String>,
    problems: &mut Vec<Problem>,
) -> Option<AgentDef> {
    let mut p = match parse_file(file) {
        Ok(p) => p,
        Err(mut errs) => {
            problems.append(&mut errs);
            return None;
        }
    };
    let sha256 = hex::encode(Sha256::digest(
        file.text.as_deref().unwrap_or("").as_bytes(),
    ));
    let input = AgentInput {
        name: &file.name,
        path: &file.path,
        origin,
        body: &p.body,
        sha256,
    };
    let def = parse_agent(&mut p.report, input, &p.root);
    if let Some(def) = &def {
        let b = &def.bottle;
        if unusable.contains(&b.value) {
            p.report.error(
                b.pos,
                format!("uses bottle `{}`, which has errors", b.value),
            );
        } else if !bottles.contains_key(&b.value) {
            let mut names: Vec<&str> = bottles
                .keys()
                .chain(unusable.iter())
                .map(String::as_str)
                .collect();
            names.sort_unstable();
            p.report.error(
                b.pos,
                format!(
                    "references bottle `{}`, which is not defined{} (defined: {})",
                    b.value,
                    suggestion(&b.value, names.iter().copied()),
                    names.join(", ")
                ),
            );
        }
    }
    let ok = !p.report.has_errors();
    problems.append(&mut p.report.problems);
    def.filter(|_| ok)
}

/// Home agents override embedded ones (done in `source`). A trusted repo
/// agent replaces the home agent of the same name; an untrusted one is
/// listed beside it as `name (repo)`.
fn apply_shadowing(agents: &mut Vec<Agent>) {
    let shadowing: Vec<(String, bool)> = agents
        .iter()
        .filter(|a| a.is_repo())
        .map(|a| (a.def.name.clone(), a.trusted))
        .collect();
    for (name, trusted) in shadowing {
        let home = agents
            .iter()
            .position(|a| !a.is_repo() && a.def.name == name);
        let (Some(i), true) = (home, trusted) else {
            continue;
        };
        let home_bottle = agents[i].def.bottle.value.clone();
        agents.remove(i);
        if let Some(repo) = agents
            .iter_mut()
            .find(|a| a.is_repo() && a.def.name == name)
        {
            repo.shadows_home_bottle = Some(home_bottle);
        }
    }
    agents.sort_by(|a, b| {
        a.def
            .name
            .cmp(&b.def.name)
            .then(a.is_repo().cmp(&b.is_repo()))
    });
}
