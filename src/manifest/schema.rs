//! Strict reading of the spanned YAML tree: unknown keys (with a
//! did-you-mean), type errors and every later check report into one
//! `Report`, so a file yields all its problems at once.

use super::yaml::{Key, Node, Pos, Value};
use super::{At, Problem, Severity};
use std::path::Path;

pub(crate) struct Report<'a> {
    pub path: &'a Path,
    pub problems: Vec<Problem>,
}

impl<'a> Report<'a> {
    pub fn new(path: &'a Path) -> Self {
        Report {
            path,
            problems: Vec::new(),
        }
    }
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Error, message.into());
    }
    pub fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Warning, message.into());
    }
    fn push(&mut self, pos: Pos, severity: Severity, message: String) {
        self.problems.push(Problem {
            path: self.path.to_path_buf(),
            pos,
            severity,
            message,
        });
    }
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }
    pub fn count(&self) -> usize {
        self.problems.len()
    }
}

/// The closest candidate to `word`, if it is close enough to be a typo.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    let w = norm(word);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = strsim::damerau_levenshtein(&w, &norm(c));
        let limit = (c.len().max(word.len()) / 3).max(2);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

pub fn suggestion<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// A mapping whose keys were checked against a schema.
pub(crate) struct Fields<'n> {
    entries: &'n [(Key, Node)],
}

impl<'n> Fields<'n> {
    pub fn get(&self, name: &str) -> Option<(&'n Key, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, v)| (k, v))
    }
    pub fn entries(&self) -> &'n [(Key, Node)] {
        self.entries
    }
}

/// Checks that `node` is a mapping with only `allowed` keys. `legacy` keys
/// get their migration message instead of a suggestion.
pub(crate) fn fields<'n>(
    r: &mut Report,
    node: &'n Node,
    section: &str,
    allowed: &[&str],
    legacy: &[(&str, &str)],
) -> Option<Fields<'n>> {
    let Value::Map(entries) = &node.value else {
        if matches!(node.value, Value::Null) {
            return Some(Fields { entries: &[] });
        }
        r.error(
            node.pos,
            format!("{section} must be a mapping, found {}", node.value.kind()),
        );
        return None;
    };
    for (key, _) in entries {
        if allowed.contains(&key.name.as_str()) {
            continue;
        }
        if let Some((_, why)) = legacy.iter().find(|(old, _)| *old == key.name) {
            r.error(key.pos, format!("`{}` {why}", key.name));
            continue;
        }
        r.error(
            key.pos,
            format!(
                "unknown key `{}` in {section}{}",
                key.name,
                match did_you_mean(&key.name, allowed.iter().copied()) {
                    Some(c) => format!("; did you mean `{c}`?"),
                    None => format!(" (expected one of: {})", allowed.join(", ")),
                }
            ),
        );
    }
    Some(Fields { entries })
}

fn quote_hint(node: &Node) -> &'static str {
    match node.value {
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => " (quote it: \"...\")",
        _ => "",
    }
}

pub(crate) fn string(r: &mut Report, key: &Key, node: &Node) -> Option<At<String>> {
    match &node.value {
        Value::Str(s) => Some(At {
            value: s.clone(),
            pos: node.pos,
        }),
        other => {
            r.error(
                node.pos,
                format!(
                    "`{}` must be a string, found {}{}",
                    key.name,
                    other.kind(),
                    quote_hint(node)
                ),
            );
            None
        }
    }
}

pub(crate) fn non_empty(r: &mut Report, key: &Key, node: &Node) -> Option<At<String>> {
    let s = string(r, key, node)?;
    if s.value.trim().is_empty() {
        r.error(node.pos, format!("`{}` must not be empty", key.name));
        return None;
    }
    Some(s)
}

pub(crate) fn boolean(r: &mut Report, key: &Key, node: &Node) -> Option<bool> {
    match &node.value {
        Value::Bool(b) => Some(*b),
        other => {
            r.error(
                node.pos,
                format!(
                    "`{}` must be true or false, found {}",
                    key.name,
                    other.kind()
                ),
            );
            None
        }
    }
}

pub(crate) fn list<'n>(r: &mut Report, key: &Key, node: &'n Node) -> Option<&'n [Node]> {
    match &node.value {
        Value::Seq(items) => Some(items),
        other => {
            r.error(
                node.pos,
                format!("`{}` must be a list, found {}", key.name, other.kind()),
            );
            None
        }
    }
}

/// A list of strings; bad items are reported and skipped.
pub(crate) fn string_list(r: &mut Report, key: &Key, node: &Node) -> Option<Vec<At<String>>> {
    let items = list(r, key, node)?;
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Str(s) => out.push(At {
                value: s.clone(),
                pos: item.pos,
            }),
            other => r.error(
                item.pos,
                format!(
                    "items of `{}` must be strings, found {}{}",
                    key.name,
                    other.kind(),
                    quote_hint(item)
                ),
            ),
        }
    }
    Some(out)
}

pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `[A-Za-z0-9._-]+`, and not `.` or `..`.
pub fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_typos_and_separator_mixups() {
        let keys = ["env", "egress", "git-gate", "supervise"];
        assert_eq!(did_you_mean("egres", keys), Some("egress"));
        assert_eq!(did_you_mean("git_gate", keys), Some("git-gate"));
        assert_eq!(did_you_mean("supervize", keys), Some("supervise"));
        assert_eq!(did_you_mean("completely-else", keys), None);
    }

    #[test]
    fn names() {
        assert!(
            is_env_name("GH_PAT")
                && is_env_name("_x1")
                && !is_env_name("1X")
                && !is_env_name("A-B")
        );
        assert!(is_plain_name("init-prd") && !is_plain_name("..") && !is_plain_name("a/b"));
    }
}
