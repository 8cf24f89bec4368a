//! Attacks on ... (issue 18). See main.rs for the naming rule.

use crate::fixture::Registry;

pub fn register(_reg: &mut Registry) {}

/// This area's commands of the in-bottle tool (see tool.rs).
pub fn tool(_cmd: &str, _args: &[String]) -> Option<Result<String, String>> {
    None
}
