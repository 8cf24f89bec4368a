//! The operator's settings, `$BOTTLE_HOME/config.yaml` (SPEC §2). Today it
//! holds one section, `keys:` (the workspace keymap, applied by
//! `app::keymap`); any other top-level key is reported, not ignored.

use crate::manifest::yaml::{self, Node, Value};
use crate::manifest::{did_you_mean, Pos, Problem, Severity};
use std::path::Path;

const SECTIONS: [&str; 1] = ["keys"];

/// The `keys:` node of a config file, and the file's problems outside it.
pub fn keys_section(text: &str, path: &Path) -> (Option<Node>, Vec<Problem>) {
    let err = |pos: Pos, message: String| Problem {
        path: path.to_path_buf(),
        pos,
        severity: Severity::Error,
        message,
    };
    let node = match yaml::parse(text, 0) {
        Ok(n) => n,
        Err(e) => return (None, vec![err(e.pos, e.message)]),
    };
    let entries = match node.value {
        Value::Map(entries) => entries,
        Value::Null => return (None, Vec::new()),
        other => {
            return (
                None,
                vec![err(
                    node.pos,
                    format!("expected a mapping (keys: …), found {}", other.kind()),
                )],
            )
        }
    };
    let mut keys = None;
    let mut problems = Vec::new();
    for (key, value) in entries {
        if key.name == "keys" {
            keys = Some(value);
        } else {
            let hint = did_you_mean(&key.name, SECTIONS)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            problems.push(err(
                key.pos,
                format!(
                    "unknown setting `{}`: config.yaml knows `keys`{hint}",
                    key.name
                ),
            ));
        }
    }
    (keys, problems)
}
