//! `bottle init [agent] [--force]`: commented starter definitions.

use crate::state::{write_atomic, Home};
use anyhow::{bail, Result};

const BOTTLE_TEMPLATE: &str = include_str!("../../assets/init/bottle.md");
const AGENT_TEMPLATE: &str = include_str!("../../assets/init/agent.md");

fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some('a'..='z')) && c.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

pub fn init(home: &Home, name: &str, force: bool) -> Result<i32> {
    if !valid_name(name) {
        bail!("`{name}` is not a valid name: use [a-z][a-z0-9-]* (it becomes {name}.md)");
    }
    let files = [
        (
            home.bottles_dir().join(format!("{name}.md")),
            BOTTLE_TEMPLATE.replace("{{name}}", name),
        ),
        (
            home.agents_dir().join(format!("{name}.md")),
            AGENT_TEMPLATE.replace("{{name}}", name),
        ),
    ];
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        bail!(
            "{} already exist(s); nothing was written (use --force to overwrite)",
            existing.join(" and ")
        );
    }
    home.ensure_dir("bottles")?;
    home.ensure_dir("agents")?;
    for (path, text) in &files {
        write_atomic(path, text.as_bytes(), 0o644)?;
        println!("wrote {}", path.display());
    }
    println!("next: edit them, then run `bottle check` and `bottle start {name}`");
    Ok(0)
}
