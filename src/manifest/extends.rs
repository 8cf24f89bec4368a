//! `extends`: resolving a bottle's parent chain among home bottles and
//! merging it (SPEC §3.1). Every bottle whose chain fails gets one error at
//! its own `extends` key, showing the chain.

use super::schema::{suggestion, Report};
use super::{Bottle, BottleDef, GitUser};
use std::collections::{BTreeMap, BTreeSet};

enum Walk {
    Ok(Vec<String>),
    Failed(String),
}

fn walk(name: &str, defs: &BTreeMap<String, BottleDef>, broken: &BTreeSet<String>) -> Walk {
    let mut chain = vec![name.to_string()];
    let mut cur = name.to_string();
    loop {
        let Some(ext) = defs.get(&cur).and_then(|d| d.extends.as_ref()) else {
            return Walk::Ok(chain);
        };
        let parent = ext.value.clone();
        let direct = cur == name;
        if parent == cur {
            let shown = format!("{} -> {parent}", chain.join(" -> "));
            return Walk::Failed(if direct {
                format!("bottle `{name}` extends itself ({shown})")
            } else {
                format!("cannot resolve `extends`: `{cur}` extends itself ({shown})")
            });
        }
        if chain.contains(&parent) {
            chain.push(parent.clone());
            let shown = chain.join(" -> ");
            return Walk::Failed(if chain[0] == parent {
                format!("bottle `{name}` is in an extends cycle: {shown}")
            } else {
                format!("cannot resolve `extends`: the chain {shown} has a cycle")
            });
        }
        chain.push(parent.clone());
        let shown = chain.join(" -> ");
        if broken.contains(&parent) {
            return Walk::Failed(format!(
                "cannot resolve `extends` ({shown}): bottle `{parent}` has errors"
            ));
        }
        if !defs.contains_key(&parent) {
            let known = defs.keys().map(String::as_str);
            let hint = suggestion(&parent, known);
            let list = defs.keys().cloned().collect::<Vec<_>>().join(", ");
            return Walk::Failed(if direct {
                format!("extends `{parent}`, which is not a home bottle{hint} ({shown}; defined: {list})")
            } else {
                format!("cannot resolve `extends` ({shown}): `{parent}` is not a home bottle")
            });
        }
        cur = parent;
    }
}

/// Resolves every valid bottle definition. Bottles whose chain fails are
/// left out and reported.
pub(crate) fn resolve_all(
    defs: &BTreeMap<String, BottleDef>,
    broken: &BTreeSet<String>,
    report: &mut dyn FnMut(&BottleDef, String),
) -> BTreeMap<String, Bottle> {
    let mut out = BTreeMap::new();
    for (name, def) in defs {
        match walk(name, defs, broken) {
            Walk::Ok(chain) => {
                let mut merged = Bottle::default();
                for link in chain.iter().rev() {
                    if let Some(d) = defs.get(link) {
                        overlay(&mut merged, d);
                    }
                }
                merged.chain = chain;
                out.insert(name.clone(), merged);
            }
            Walk::Failed(message) => report(def, message),
        }
    }
    out
}

fn overlay(base: &mut Bottle, child: &BottleDef) {
    base.name = child.name.clone();
    base.path = child.path.clone();
    base.origin = child.origin;
    if let Some(env) = &child.env {
        for var in env {
            base.env.retain(|v| v.name != var.name);
            base.env.push(var.clone());
        }
        base.env.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if let Some(p) = &child.agent_provider {
        base.agent_provider = p.clone();
    }
    if let Some(e) = &child.egress {
        base.egress = e.clone();
    }
    if let Some(s) = child.supervise {
        base.supervise = s;
    }
    if let Some(r) = &child.resources {
        base.resources = r.clone();
    }
    if let Some(gate) = &child.git_gate {
        if let Some(user) = &gate.user {
            overlay_user(&mut base.git_user, user);
        }
        match &gate.repos {
            None => {}
            Some(repos) if repos.is_empty() => base.git_repos.clear(),
            Some(repos) => {
                for (name, repo) in repos {
                    match repo {
                        Some(r) => base.git_repos.insert(name.clone(), r.clone()),
                        None => base.git_repos.remove(name),
                    };
                }
            }
        }
    }
}

/// Per-field overlay: each field the child sets wins.
pub fn overlay_user(base: &mut GitUser, child: &GitUser) {
    if child.name.is_some() {
        base.name.clone_from(&child.name);
    }
    if child.email.is_some() {
        base.email.clone_from(&child.email);
    }
}

/// Checks that only make sense after merging (a provider from one file,
/// routes from another).
pub(crate) fn check_merged(bottle: &Bottle, problems: &mut Vec<super::Problem>) {
    let hosts = bottle.agent_provider.provider_hosts();
    for route in &bottle.egress.routes {
        if let (Some(pos), true) = (
            route.auth_pos,
            !route.wildcard && hosts.contains(&route.host.as_str()),
        ) {
            let mut r = Report::new(&bottle.egress.path);
            r.error(
                pos,
                format!(
                    "`{}` is a provider host of bottle `{}`: its credentials come from `agent_provider`; a route may add paths, methods or an SSRF allowlist but not `auth`",
                    route.host, bottle.name
                ),
            );
            problems.append(&mut r.problems);
        }
    }
}
