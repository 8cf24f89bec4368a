//! Tests that need no engine, no terminal and no network: the layering
//! of the sources, definitions (fixtures and properties), the pure plan and
//! its snapshots, the CLI on fixture homes, the supervise protocol over
//! loopback and the sidecar's DNS refuser as a local process.

#[path = "../support/mod.rs"]
mod support;

mod app_log;
mod architecture;
mod cli;
mod fetch;
mod manifest_cases;
mod manifest_props;
mod plan;
mod sidecar_dns;
mod supervise_protocol;
