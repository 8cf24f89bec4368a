//! Attacks on ... (issue 18). See main.rs for the naming rule.

use crate::fixture::Registry;

pub fn register(_reg: &mut Registry) {}
